"""Locks and the round's state: what every action takes first, in one order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import (
    Mentor,
    Opportunity,
    Round,
    RoundStatus,
    RunStatus,
    Slot,
    SolutionStatus,
    SolveRun,
    Student,
)
from scheduler.errors import ActionRefused, RoundChanged


@dataclass(frozen=True, slots=True)
class RoundState:
    """The round row as read under lock (the caller's object may be older)."""

    version: int
    status: RoundStatus
    chosen_run_id: int | None


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def lock_round(
    session: Session, rnd: Round, *, whole: bool, expected_version: int | None = None
) -> RoundState:
    """Lock the round (shared for edits, exclusive for `whole`-round actions), refuse a stale
    round (`RoundChanged`) or a closed one; returns the round's stored state."""
    if is_sqlite(session):
        # SQLite: take the database's one write lock before reading anything (see the module
        # docstring). A no-op UPDATE is the write; it changes no value.
        session.execute(
            update(Round).where(Round.id == rnd.id).values(version=Round.version),
            execution_options={"synchronize_session": False},
        )
    stmt = select(Round.version, Round.status, Round.chosen_run_id).where(Round.id == rnd.id)
    # FOR SHARE: edits run side by side but not beside a whole-round action; FOR NO KEY UPDATE
    # is the lock the round's own UPDATE takes, so two whole-round actions queue too.
    stmt = stmt.with_for_update(key_share=True) if whole else stmt.with_for_update(read=True)
    version, status, chosen = session.execute(stmt).one()
    state = RoundState(version=version, status=RoundStatus(status), chosen_run_id=chosen)
    for seen in (rnd.version, expected_version):
        if seen is not None and seen != state.version:
            raise RoundChanged(
                f"version: round {rnd.external_id!r} changed since it was loaded (version"
                f" {seen}, now {state.version}): reload it and try again"
            )
    if state.status == RoundStatus.closed:
        raise ActionRefused("state", f"state: round {rnd.external_id!r} is closed")
    return state


def lock_student(session: Session, student: Student) -> None:
    """Serialise actions on one student (two placements at once would break H1)."""
    session.execute(
        select(Student.id).where(Student.id == student.id).with_for_update(key_share=True)
    )


def lock_capacity(session: Session, opportunity: Opportunity, slot: Slot | None) -> None:
    """Lock the opportunity and the slot whose seats are about to be counted, in that order: a
    second action counting them waits here for the first to commit. Their capacities cannot
    change meanwhile (an import locks the round exclusively), so the checks read them from the
    pair's problem, through the solver's `opportunity_capacity` and `slot_capacity`."""
    session.execute(
        select(Opportunity.id)
        .where(Opportunity.id == opportunity.id)
        .with_for_update(key_share=True)
    )
    if slot is not None:
        session.execute(select(Slot.id).where(Slot.id == slot.id).with_for_update(key_share=True))


def lock_run(session: Session, run: SolveRun) -> SolveRun:
    """Lock the run (its metrics are about to be rewritten) and reload it as stored now."""
    stmt = (
        select(SolveRun)
        .where(SolveRun.id == run.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one()


def lock_mentors(session: Session, ids: Sequence[int]) -> None:
    """Lock the mentors whose places are about to be counted, in id order like the seats: two
    moves (or a move and a pin) wanting the same mentor queue here."""
    session.execute(
        select(Mentor.id)
        .where(Mentor.id.in_(ids))
        .order_by(Mentor.id)
        .with_for_update(key_share=True)
    )


def chosen_run(session: Session, rnd: Round, state: RoundState) -> SolveRun:
    """The round's chosen run, refused unless it holds a solution to edit."""
    if state.chosen_run_id is None:
        raise ActionRefused(
            "state", f"state: round {rnd.external_id!r} has no chosen run: choose a run first"
        )
    run = session.get_one(SolveRun, state.chosen_run_id)
    usable_run(rnd, run)
    return run


def usable_run(rnd: Round, run: SolveRun) -> None:
    if run.round_id != rnd.id:
        raise ActionRefused(
            "state", f"state: solve run {run.id} belongs to another round, not {rnd.external_id!r}"
        )
    if run.status != RunStatus.succeeded:
        raise ActionRefused(
            "state", f"state: solve run {run.id} has not succeeded (it is {run.status.value})"
        )
    if run.solution_status in (None, SolutionStatus.infeasible):
        raise ActionRefused(
            "state", f"state: solve run {run.id} has no placements (its pins cannot all hold)"
        )
