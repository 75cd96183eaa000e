"""The round's lifecycle: choose the run to keep, re-solve, publish, close."""

from __future__ import annotations

from collections.abc import Mapping
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
from scheduler.errors import ActionRefused, NotAllowed
from scheduler.jobs import create_run
from scheduler.links import ensure_links

# Statuses a re-chosen run takes over from the run it replaces (same student, same slot).
_CARRIED: Final = (AssignmentStatus.published, AssignmentStatus.confirmed)


def choose_run(
    session: Session,
    rnd: Round,
    run: SolveRun,
    *,
    user: User | None,
    expected_version: int | None = None,
) -> Outcome:
    """Keep `run` (a succeeded run of this round) as the round's answer.

    Placements the previously chosen run had published or confirmed keep that status where the
    new run places the student in the same slot (a re-solve keeps them where it can); the
    outcome notes how many could not be kept. A draft round goes to review; a published round
    stays published (publish again to publish the new placements)."""
    require_edit(session, rnd, user)
    same_round(rnd, run)
    state = lock_round(session, rnd, whole=True, expected_version=expected_version)
    usable_run(rnd, run)
    _run_keeps_the_round(session, rnd, run)
    old = state.chosen_run_id
    carried = lost = 0
    if old is not None and old != run.id:
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
        kept = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.run_id == old, Assignment.status.in_(_CARRIED))
        )
        lost = (kept or 0) - carried
    before = {"chosen_run": old, "status": str(state.status)}
    # The column, not the relationship: the relationship is written by a post-update of its
    # own, a second UPDATE of the round and a second step of its version.
    rnd.chosen_run_id = run.id
    session.expire(rnd, ["chosen_run"])
    if rnd.status == RoundStatus.draft:
        rnd.status = RoundStatus.review
    session.flush()  # the version moves on now: the event records the new one
    after = {"chosen_run": run.id, "status": str(rnd.status), "carried_over": carried}
    notes = (
        [f"{lost} published or confirmed placements of run {old} are not in run {run.id}"]
        if lost
        else []
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
) -> Outcome:
    """Publish the chosen run: its proposed and pinned placements become `published` (confirmed
    and declined ones stay), and the round `published`. Refused without a chosen succeeded run.
    Publishing again after changes publishes the new placements."""
    require_edit(session, rnd, user)
    state = lock_round(session, rnd, whole=True, expected_version=expected_version)
    run = chosen_run(session, rnd, state)
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
        run=run.id,
        published=published,
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
