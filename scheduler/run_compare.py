"""The compare page: two runs of a round side by side, and why students moved.

`compare_page` picks the runs (by default the chosen run against the latest other succeeded
run, or the run before it when the chosen run is the latest; without a chosen run the two
latest), asks `queries.compare_runs` for the metric deltas
and a page of the students whose placement differs, and adds the solver's reason for each
change where run b re-solved from run a (`SolveRun.result["changes"]`: "pinned elsewhere",
"the slot's capacity went down", ...). Only the `changes` list is read from the stored result
(inside the JSON, by the database), never the rest of it. Staff only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Round, RunStatus, SolveRun
from scheduler.access import Actor, require_staff
from scheduler.queries import Change, RunComparison, compare_runs, find_run

__all__ = ["ComparePage", "RunChoice", "compare_page"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunChoice:
    """A succeeded run the page can compare."""

    id: int
    chosen: bool
    placed: int | None
    previous_run: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ComparePage:
    """`comparison` None when the round has fewer than two runs to compare. `why` maps a
    changed student's id to the solver's reason; `resolved` says whether run b re-solved from
    run a (else the solver gave no reasons for this pair)."""

    runs: tuple[RunChoice, ...]
    comparison: RunComparison | None
    why: dict[str, str]
    resolved: bool

    def reason(self, change: Change) -> str | None:
        return self.why.get(change.student)


def compare_page(
    session: Session,
    rnd: Round,
    actor: Actor,
    *,
    run_a: int | None = None,
    run_b: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> ComparePage:
    """Run `run_a` against `run_b` (defaults above; a run of another round is `UnknownId`),
    a page of changes (`cursor`: a page's `next_cursor`). Staff only; a constant number of
    statements."""
    require_staff(session, rnd, actor)
    runs = tuple(
        RunChoice(
            id=r.id,
            chosen=r.id == rnd.chosen_run_id,
            placed=None if r.metrics is None else r.metrics.get("placed"),
            previous_run=_previous(r.options),
        )
        for r in session.execute(
            select(SolveRun.id, SolveRun.metrics, SolveRun.options)
            .where(SolveRun.round_id == rnd.id, SolveRun.status == RunStatus.succeeded)
            .order_by(SolveRun.id.desc())
        )
    )
    ids = [r.id for r in runs]
    if run_a is None and run_b is None and len(ids) > 1 and rnd.chosen_run_id == ids[0]:
        # The chosen run is the latest: what it changed from the run before it.
        run_a, run_b = ids[1], ids[0]
    if run_a is None:
        run_a = (
            rnd.chosen_run_id if rnd.chosen_run_id in ids else (ids[1] if len(ids) > 1 else None)
        )
    if run_b is None:
        run_b = next((i for i in ids if i != run_a), None)
    if run_a is None or run_b is None:
        return ComparePage(runs=runs, comparison=None, why={}, resolved=False)
    a = find_run(session, rnd, run_a, actor)
    b = find_run(session, rnd, run_b, actor)
    comparison = compare_runs(session, rnd, a, b, actor, cursor=cursor, limit=limit)
    resolved = _previous(b.options) == a.id
    why: dict[str, str] = {}
    if resolved and comparison.changes:
        stored = session.scalar(select(SolveRun.result["changes"]).where(SolveRun.id == b.id))
        wanted = {c.student for c in comparison.changes}
        for item in stored if isinstance(stored, list) else ():
            if isinstance(item, dict) and item.get("student") in wanted:
                why[str(item["student"])] = str(item.get("reason") or "")
    return ComparePage(runs=runs, comparison=comparison, why=why, resolved=resolved)


def _previous(options: Any) -> int | None:
    value = (options or {}).get("previous_run") if isinstance(options, dict) else None
    return value if isinstance(value, int) else None
