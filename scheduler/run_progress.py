"""The round dashboard's runs: a run's progress while it solves, the dashboard page as one
answer, keeping a run, cancelling one.

- `run_progress`: one run's state as the dashboard's progress bar shows it (stage, fraction,
  elapsed seconds, the solver's objective and bound, by level once it has them). One query
  for the run (its result's level maps are read inside the stored JSON, never the whole
  result). Staff only.
- `dashboard_page`: `queries.round_dashboard`, the unplaced students' reasons
  (`queries.unplaced_reasons`), the runs still queued or solving with their progress, and
  whether the actor may act (a viewer reads only). Staff only.
- `keep_run`: the run of the page's form, then `actions.choose_run` (refusals as it raises
  them: `ChangesRefused` names every student whose published placement would move).
- `cancel_run`: `jobs.cancel` for a coordinator of the round, audited (`run.cancel`).

Nothing here solves: `actions.solve_round` queues a run and `jobs.enqueue` hands it to a
worker (`wbl worker`), whose heartbeat writes the progress read here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AssignmentStatus, Role, Round, RoundStatus, RunStatus, SolveRun, User
from scheduler.access import EDITORS, Actor, LinkHolder, program_role, require_edit, same_round
from scheduler.actions import Outcome, choose_run
from scheduler.actions.audit import record
from scheduler.errors import ActionRefused, NotAllowed
from scheduler.jobs import cancel, now
from scheduler.queries import (
    Dashboard,
    ReasonCount,
    find_run,
    round_dashboard,
    unplaced_reasons,
)
from solver.solution import LEVELS

__all__ = [
    "ACTIVE",
    "DashboardPage",
    "Level",
    "RunProgress",
    "cancel_run",
    "dashboard_page",
    "keep_run",
    "may_edit",
    "run_progress",
]

# Runs that are not over: the dashboard shows their progress bar and a "Cancel" button.
ACTIVE: Final = (RunStatus.queued, RunStatus.running)
# The solver's levels in words, most important first (`solver.solution.LEVELS`).
LEVEL_LABELS: Final = {
    "placed_weighted": "Students placed (weighted)",
    "mentored": "Students mentored",
    "preference_score": "Preference score",
    "travel_minutes": "Travel minutes",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Level:
    """One level of the solver's objective: what it reached and the best it could."""

    name: str
    label: str
    objective: int | None
    bound: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunProgress:
    """A run as its progress bar shows it. `percent` is 0..100; `elapsed` seconds since it
    started (since it was queued while queued; its wall time once over)."""

    run_id: int
    status: str
    active: bool
    stage: str
    percent: int
    elapsed: float
    solution_status: str | None
    objective: float | None
    bound: float | None
    gap: float | None
    levels: tuple[Level, ...]
    placed: int | None
    error: str | None

    @property
    def text(self) -> str:
        """The bar in words (its text equivalent for screen readers and without script)."""
        head = f"Run {self.run_id}: {self.status}"
        if self.status == RunStatus.queued:
            return f"{head}, waiting for a worker ({self.elapsed:.0f} s)"
        parts = [head, f"{self.percent}%"]
        if self.stage:
            parts.append(self.stage)
        parts.append(f"{self.elapsed:.0f} s")
        if self.error:
            parts.append(self.error)
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """What the progress endpoint answers (the page's script reads it)."""
        return {
            "run": self.run_id,
            "status": self.status,
            "active": self.active,
            "stage": self.stage,
            "percent": self.percent,
            "elapsed": round(self.elapsed, 1),
            "solution_status": self.solution_status,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "levels": [
                {"name": lv.name, "label": lv.label, "objective": lv.objective, "bound": lv.bound}
                for lv in self.levels
            ],
            "placed": self.placed,
            "error": self.error,
            "text": self.text,
        }


_PROGRESS_COLUMNS: Final = (
    SolveRun.id,
    SolveRun.round_id,
    SolveRun.status,
    SolveRun.stage,
    SolveRun.progress,
    SolveRun.created_at,
    SolveRun.started_at,
    SolveRun.finished_at,
    SolveRun.wall_seconds,
    SolveRun.solution_status,
    SolveRun.objective,
    SolveRun.bound,
    SolveRun.gap,
    SolveRun.metrics,
    SolveRun.error,
    SolveRun.result["objective_levels"],
    SolveRun.result["bound_levels"],
)


def _aware(at: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands datetimes back naive; they were written in UTC.
    if at is not None and at.tzinfo is None:
        return at.replace(tzinfo=dt.UTC)
    return at


def _level_value(levels: Any, name: str) -> int | None:
    value = levels.get(name) if isinstance(levels, dict) else None
    return int(value) if isinstance(value, int | float) else None


def _progress(row: Any) -> RunProgress:
    status = RunStatus(row.status)
    created, started, finished = (
        _aware(t) for t in (row.created_at, row.started_at, row.finished_at)
    )
    if row.wall_seconds is not None and status not in ACTIVE:
        elapsed = float(row.wall_seconds)
    else:
        since = started if started is not None else created
        until = finished if finished is not None else now()
        elapsed = max(0.0, (until - since).total_seconds()) if since is not None else 0.0
    objective_levels, bound_levels = row[-2], row[-1]
    levels = tuple(
        Level(
            name=name,
            label=LEVEL_LABELS.get(name, name),
            objective=_level_value(objective_levels, name),
            bound=_level_value(bound_levels, name),
        )
        for name in LEVELS
        if isinstance(objective_levels, dict) and name in objective_levels
    )
    fraction = 1.0 if status == RunStatus.succeeded else float(row.progress or 0.0)
    return RunProgress(
        run_id=row.id,
        status=str(status),
        active=status in ACTIVE,
        stage=row.stage or ("waiting for a worker" if status == RunStatus.queued else ""),
        percent=round(100 * min(1.0, max(0.0, fraction))),
        elapsed=elapsed,
        solution_status=None if row.solution_status is None else str(row.solution_status),
        objective=row.objective,
        bound=row.bound,
        gap=row.gap,
        levels=levels,
        placed=None if row.metrics is None else row.metrics.get("placed"),
        error=row.error,
    )


def run_progress(session: Session, rnd: Round, run_id: int, actor: Actor) -> RunProgress:
    """The run's progress (a run of this round; `UnknownId` else). Staff only; two queries
    (access, the run)."""
    find_run(session, rnd, run_id, actor)
    row = session.execute(select(*_PROGRESS_COLUMNS).where(SolveRun.id == run_id)).one()
    return _progress(row)


def may_edit(session: Session, rnd: Round, actor: Actor) -> bool:
    """Whether `actor` may act on the round (solve, keep a run, publish): a coordinator or an
    admin of its program, and the round not closed. The pages show buttons only then; the
    actions check again when posted."""
    if actor is None:
        return rnd.status != RoundStatus.closed
    if isinstance(actor, LinkHolder):
        return False
    try:
        role: Role = program_role(session, rnd.program_id, actor)
    except NotAllowed:
        return False
    return role in EDITORS and rnd.status != RoundStatus.closed


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardPage:
    """The dashboard: the round's counts and runs, the chosen run's unplaced students by
    reason, the progress of runs not over, and whether the actor may act."""

    board: Dashboard
    reasons: tuple[ReasonCount, ...]
    active: tuple[RunProgress, ...]
    latest: RunProgress | None  # the latest run, whatever its state (its result once over)
    can_edit: bool
    confirmed: int
    published: int


def dashboard_page(session: Session, rnd: Round, actor: Actor) -> DashboardPage:
    """Everything the dashboard shows. Staff only; a constant number of statements (the runs
    not over and the latest run are read in one), whatever the round's size. The reasons'
    counts may be kept on the chosen run (`queries.unplaced_reasons`): the caller commits."""
    board = round_dashboard(session, rnd, actor)
    reasons = unplaced_reasons(session, rnd, actor)
    latest_id = board.runs[0].id if board.runs else None
    shown = tuple(
        _progress(row)
        for row in session.execute(
            select(*_PROGRESS_COLUMNS)
            .where(
                SolveRun.round_id == rnd.id,
                SolveRun.status.in_(ACTIVE) | (SolveRun.id == latest_id),
            )
            .order_by(SolveRun.id.desc())
        )
    )
    by_status = dict(board.by_status)
    return DashboardPage(
        board=board,
        reasons=reasons,
        active=tuple(p for p in shown if p.active),
        latest=next((p for p in shown if p.run_id == latest_id), None),
        can_edit=may_edit(session, rnd, actor),
        confirmed=by_status.get(str(AssignmentStatus.confirmed), 0),
        published=by_status.get(str(AssignmentStatus.published), 0),
    )


def keep_run(
    session: Session,
    rnd: Round,
    run_id: int,
    *,
    user: User | None,
    expected_version: int | None = None,
    accept_changes: bool = False,
) -> Outcome:
    """Keep run `run_id` of the round ("Keep this run"): `actions.choose_run`, whose refusals
    pass through (a run of another round is `UnknownId`; a run moving published placements
    is `ChangesRefused` unless `accept_changes`). The caller commits."""
    require_edit(session, rnd, user)
    run = find_run(session, rnd, run_id, user)
    return choose_run(
        session,
        rnd,
        run,
        user=user,
        expected_version=expected_version,
        accept_changes=accept_changes,
    )


def cancel_run(session: Session, rnd: Round, run_id: int, *, user: User | None) -> bool:
    """Cancel a queued or running run of the round (the worker notices within a heartbeat and
    stops; the round's data is not changed); False when it had already ended. A coordinator
    of the round only; audited as `run.cancel`. The caller commits."""
    require_edit(session, rnd, user)
    run = find_run(session, rnd, run_id, user)
    same_round(rnd, run)
    before = str(run.status)
    if rnd.status == RoundStatus.closed:
        raise ActionRefused("state", f"state: round {rnd.external_id!r} is closed")
    if not cancel(session, run):
        return False
    record(
        session,
        rnd,
        user,
        "run.cancel",
        ("solve_runs", run.id),
        before={"status": before},
        after={"status": str(run.status)},
    )
    return True
