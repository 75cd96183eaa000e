"""The round's lifecycle: solve or re-solve, choose the run to keep, publish, close.

Published and confirmed placements are protected (`scheduler.actions.protect`): once a round
has some, `solve_round` re-solves from the chosen run with minimal disruption unless told
`fresh`, and `choose_run` and `publish` refuse a run that moves or drops one unless told
`accept_changes`, naming every student affected.

A round never reads `published` beside placements the solver proposed: choosing a run that
proposes new ones (a re-solve that placed a new student, changes accepted) puts a published
round back in `review`, its published and confirmed placements staying published (their people
keep seeing them); `publish` then sends the rest and the round is `published` again. (Pinned
placements are the coordinator's own edits: as after a manual move, a published round stays
published while they wait for the next publish.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import CursorResult, Result, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from models import (
    Assignment,
    AssignmentStatus,
    Forbidden,
    Mentorship,
    Pin,
    Round,
    RoundStatus,
    SolveRun,
    Student,
    User,
)
from scheduler.access import require_edit, same_round
from scheduler.actions.audit import Outcome, record
from scheduler.actions.locks import chosen_run, lock_round, usable_run
from scheduler.actions.protect import (
    PROTECTED,
    change_notes,
    last_published_run,
    protected_changes,
    refuse_changes,
)
from scheduler.errors import ActionRefused, NotAllowed
from scheduler.jobs import UNREVIEWED, create_run
from scheduler.links import ensure_links

# Statuses a re-chosen run takes over from the run it replaces (same student, same slot).
_CARRIED: Final = PROTECTED
# Statuses of placements that were published: a solve after them re-solves by default.
_ANSWERED: Final = (*PROTECTED, AssignmentStatus.declined)


def choose_run(
    session: Session,
    rnd: Round,
    run: SolveRun,
    *,
    user: User | None,
    expected_version: int | None = None,
    accept_changes: bool = False,
) -> Outcome:
    """Keep `run` (a succeeded run of this round) as the round's answer.

    Placements the previously chosen run had published or confirmed keep that status where the
    new run places the student in the same slot (a re-solve keeps them wherever they hold). A
    run that moves or drops any of them is refused (`ChangesRefused`, rule `published`, every
    student named with where they were and would go) unless `accept_changes`; the outcome then
    notes each. A draft round goes to review; a published round stays published unless the
    new run proposes placements not yet published, and then goes back to review (publish to
    send them)."""
    require_edit(session, rnd, user)
    same_round(rnd, run)
    state = lock_round(session, rnd, whole=True, expected_version=expected_version)
    usable_run(rnd, run)
    _run_keeps_the_round(session, rnd, run)
    old = state.chosen_run_id
    carried = 0
    changes = []
    if old is not None and old != run.id:
        changes = protected_changes(session, old, run.id)
        if changes and not accept_changes:
            raise refuse_changes("choose", old, run.id, changes)
        # One UPDATE with a correlated subquery: the old run's status for the same student and
        # slot, where it was published or confirmed.
        prev = aliased(Assignment)
        same = (
            prev.run_id == old,
            prev.student_id == Assignment.student_id,
            prev.slot_id == Assignment.slot_id,
            prev.status.in_(_CARRIED),
        )
        result = session.execute(
            update(Assignment)
            .where(Assignment.run_id == run.id, exists().where(*same))
            .values(status=select(prev.status).where(*same).scalar_subquery()),
            execution_options={"synchronize_session": False},
        )
        carried = _rowcount(result)
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Assignment) and obj.run_id == run.id:
                session.expire(obj, ["status"])
    before = {"chosen_run": old, "status": str(state.status)}
    # Counted before the round changes: a query after would flush it, a second version step.
    to_publish = session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.run_id == run.id, Assignment.status.in_(UNREVIEWED))
    )
    # The column, not the relationship: the relationship is written by a post-update of its
    # own, a second UPDATE of the round and a second step of its version.
    rnd.chosen_run_id = run.id
    session.expire(rnd, ["chosen_run"])
    if rnd.status == RoundStatus.draft or (rnd.status == RoundStatus.published and to_publish):
        rnd.status = RoundStatus.review
    session.flush()  # the version moves on now: the event records the new one
    after = {
        "chosen_run": run.id,
        "status": str(rnd.status),
        "carried_over": carried,
        "changed": [str(c) for c in changes],
    }
    notes = change_notes(old or 0, run.id, changes)
    if state.status == RoundStatus.published and to_publish:
        notes.append(
            f"{to_publish} proposed placements of run {run.id} are not published yet: the round"
            " is in review until you publish it"
        )
    return record(
        session,
        rnd,
        user,
        "round.choose_run",
        ("solve_runs", run.id),
        before=before,
        after=after,
        notes=notes,
        version=rnd.version,
    )


def _run_keeps_the_round(session: Session, rnd: Round, run: SolveRun) -> None:
    """Refuse (H9) a run that places a student at a pair forbidden since it was solved, or that
    does not hold a pin added since: a run solves the round as it was when it started, and
    coordinators may forbid and pin meanwhile. Two queries, whatever the round's size."""
    forbidden = session.scalars(
        select(Student.external_id)
        .join(Assignment, Assignment.student_id == Student.id)
        .join(
            Forbidden,
            (Forbidden.student_id == Assignment.student_id)
            & (Forbidden.opportunity_id == Assignment.opportunity_id),
        )
        .where(Assignment.run_id == run.id)
        .order_by(Student.external_id)
        .limit(5)
    ).all()
    mentored = exists().where(
        Mentorship.run_id == run.id,
        Mentorship.student_id == Pin.student_id,
        Mentorship.mentor_id == Pin.mentor_id,
    )
    holds = exists().where(
        Assignment.run_id == run.id,
        Assignment.student_id == Pin.student_id,
        Assignment.opportunity_id == Pin.opportunity_id,
        or_(Pin.slot_id.is_(None), Assignment.slot_id == Pin.slot_id),
        or_(Pin.mentor_id.is_(None), Assignment.mentor_id == Pin.mentor_id, mentored),
    )
    unpinned = session.scalars(
        select(Student.external_id)
        .join(Pin, Pin.student_id == Student.id)
        .where(Pin.round_id == rnd.id, ~holds)
        .order_by(Student.external_id)
        .limit(5)
    ).all()
    if forbidden or unpinned:
        parts = []
        if forbidden:
            parts.append(f"it places {', '.join(forbidden)} at pairs forbidden since")
        if unpinned:
            parts.append(f"pins of {', '.join(unpinned)} added since do not hold in it")
        raise ActionRefused(
            "H9",
            f"H9: run {run.id} no longer fits the round: {'; '.join(parts)} (re-solve)",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SolveStarted:
    """A queued solve (`solve_round`): the run, the chosen run it re-solves from (None for a
    solve from scratch), and the published or confirmed placements of the chosen run it
    protects (kept wherever they hold) or, solving `fresh`, leaves unprotected."""

    run: SolveRun
    previous_run: int | None
    protected: int
    unprotected: int


def solve_round(
    session: Session,
    rnd: Round,
    *,
    user: User | None,
    options: Mapping[str, Any] | None = None,
    fresh: bool = False,
) -> SolveStarted:
    """A queued run of the round, what the command line's `round solve` and the page's
    "Solve" call. Once the chosen run holds published placements (published, confirmed or
    declined since) it is a re-solve with minimal disruption (`resolve`: published and
    confirmed ones are kept wherever they still hold, declined ones are not offered again,
    every other move is penalised); `fresh` solves from scratch instead, and says how many
    published or confirmed placements it leaves unprotected (`choose_run` and `publish` will
    name every one it moves). The caller commits, then enqueues
    (`scheduler.jobs.enqueue(run.id)`)."""
    require_edit(session, rnd, user)
    state = lock_round(session, rnd, whole=False)
    counts: dict[AssignmentStatus, int] = {}
    if state.chosen_run_id is not None:
        rows = session.execute(
            select(Assignment.status, func.count())
            .where(Assignment.run_id == state.chosen_run_id, Assignment.status.in_(_ANSWERED))
            .group_by(Assignment.status)
        )
        counts = {status: int(n) for status, n in rows}
    kept = sum(n for status, n in counts.items() if status in PROTECTED)
    if counts and not fresh:
        # Declined placements count too: the re-solve must not offer them again.
        run = resolve(session, rnd, user=user, options=options)
        return SolveStarted(
            run=run, previous_run=state.chosen_run_id, protected=kept, unprotected=0
        )
    opts = dict(options or {})
    if "previous_run" in opts:
        raise ValueError("solve_round re-solves from the chosen run itself: no previous_run")
    run = create_run(session, rnd, opts, created_by_id=user.id if user is not None else None)
    record(
        session,
        rnd,
        user,
        "round.solve",
        ("solve_runs", run.id),
        before={"chosen_run": state.chosen_run_id},
        after={"run": run.id, "options": opts, "fresh": fresh, "unprotected": kept},
    )
    return SolveStarted(run=run, previous_run=None, protected=0, unprotected=kept)


def resolve(
    session: Session,
    rnd: Round,
    *,
    user: User | None,
    options: Mapping[str, Any] | None = None,
) -> SolveRun:
    """A queued run that re-solves the round from its chosen run with minimal disruption
    (`previous_run`): published and confirmed placements kept unless impossible, pins (manual
    moves included) held, other moves penalised, and the run's `changes` saying who moved and
    why. The caller commits, then enqueues (`scheduler.jobs.enqueue(run.id)`).

    A `previous_run` in `options` must name the chosen run (a run of another round is refused
    as `access`, another run of this round as `state`: choose it first), rather than being
    replaced without a word."""
    require_edit(session, rnd, user)
    named = (options or {}).get("previous_run")
    prior: SolveRun | None = None
    if named is not None:
        is_id = isinstance(named, int) and not isinstance(named, bool)
        prior = session.get(SolveRun, named) if is_id else None
        if prior is None:
            raise NotAllowed(
                f"access: previous_run {named!r} is not a solve run of round {rnd.external_id!r}"
            )
        same_round(rnd, prior)
    state = lock_round(session, rnd, whole=False)
    chosen = chosen_run(session, rnd, state)
    if prior is not None and prior.id != chosen.id:
        raise ActionRefused(
            "state",
            f"state: a re-solve starts from the chosen run {chosen.id}, not run {prior.id}:"
            " choose that run first",
        )
    opts = {**(options or {}), "previous_run": chosen.id}
    run = create_run(session, rnd, opts, created_by_id=user.id if user is not None else None)
    record(
        session,
        rnd,
        user,
        "round.resolve",
        ("solve_runs", run.id),
        before={"chosen_run": chosen.id},
        after={"run": run.id, "options": opts},
    )
    return run


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE matched (a DML statement's result is a cursor result)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def _status_counts(session: Session, run_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Assignment.status, func.count())
        .where(Assignment.run_id == run_id)
        .group_by(Assignment.status)
    )
    return {str(status): n for status, n in sorted(rows, key=lambda r: str(r[0]))}


def publish(
    session: Session,
    rnd: Round,
    *,
    user: User | None,
    expected_version: int | None = None,
    accept_changes: bool = False,
) -> Outcome:
    """Publish the chosen run: its proposed and pinned placements become `published` (confirmed
    and declined ones stay), and the round `published`. Refused without a chosen succeeded run.
    Publishing again after changes publishes the new placements.

    When the run last published is another one, a chosen run that moves or drops a placement
    published or confirmed there is refused (`ChangesRefused`, every student named) unless
    `accept_changes`: publishing is what tells students and employers."""
    require_edit(session, rnd, user)
    state = lock_round(session, rnd, whole=True, expected_version=expected_version)
    run = chosen_run(session, rnd, state)
    last = last_published_run(session, rnd)
    changes = []
    if last is not None and last != run.id:
        changes = protected_changes(session, last, run.id)
        if changes and not accept_changes:
            raise refuse_changes("publish", last, run.id, changes)
    before = {"status": str(state.status), "assignments": _status_counts(session, run.id)}
    published = _rowcount(
        session.execute(
            update(Assignment)
            .where(
                Assignment.run_id == run.id,
                Assignment.status.in_((AssignmentStatus.proposed, AssignmentStatus.pinned)),
            )
            .values(status=AssignmentStatus.published)
        )
    )
    rnd.status = RoundStatus.published
    session.flush()
    ensure_links(session, rnd)  # every person's private link (feeds), made once
    after = {"status": str(rnd.status), "assignments": _status_counts(session, run.id)}
    return record(
        session,
        rnd,
        user,
        "round.publish",
        ("rounds", rnd.external_id),
        before=before,
        after=after,
        notes=change_notes(last or 0, run.id, changes),
        run=run.id,
        published=published,
        changed=[str(c) for c in changes],
        version=rnd.version,
    )


def close(
    session: Session,
    rnd: Round,
    *,
    user: User | None,
    expected_version: int | None = None,
) -> Outcome:
    """Close the round: no action changes it any more (every one is refused with `state`)."""
    require_edit(session, rnd, user)
    state = lock_round(session, rnd, whole=True, expected_version=expected_version)
    rnd.status = RoundStatus.closed
    session.flush()
    return record(
        session,
        rnd,
        user,
        "round.close",
        ("rounds", rnd.external_id),
        before={"status": str(state.status)},
        after={"status": str(rnd.status)},
        version=rnd.version,
    )
