"""One student's rows in the chosen run: their assignment, mentorship and pins, and the
run's metrics once a placement changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Assignment, Mentorship, Pin, Round, SolutionStatus, SolveRun, Student, Unplaced
from models.base import utcnow
from scheduler.actions.locks import lock_run
from solver.problem import Pin as SolverPin
from solver.rules import pin_allows


def current_assignment(session: Session, run: SolveRun, student: Student) -> Assignment | None:
    """The student's assignment in the run, read again (the student is locked by now)."""
    stmt = (
        select(Assignment)
        .where(Assignment.run_id == run.id, Assignment.student_id == student.id)
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one_or_none()


def mentorship_of(session: Session, run: SolveRun, student: Student) -> Mentorship | None:
    return session.scalar(
        select(Mentorship).where(Mentorship.run_id == run.id, Mentorship.student_id == student.id)
    )


def pin_holds(
    pinned_opportunity: int, pinned_slot: int | None, opportunity_id: int, slot_id: int
) -> bool:
    """H9: a placement at (opportunity, slot) is where a pin at (`pinned_opportunity`,
    `pinned_slot`) puts its student (all row ids), by the solver's `pin_allows`."""
    pinned = SolverPin(
        student="",
        opportunity=str(pinned_opportunity),
        slot=None if pinned_slot is None else str(pinned_slot),
    )
    return pin_allows(pinned, str(opportunity_id), str(slot_id))


def student_pins(session: Session, rnd: Round, student: Student) -> list[Pin]:
    return list(
        session.scalars(
            select(Pin).where(Pin.round_id == rnd.id, Pin.student_id == student.id).order_by(Pin.id)
        )
    )


@dataclass(frozen=True, slots=True)
class Held:
    """What a student holds, as far as the run's metrics are concerned."""

    placed: bool
    rank: int | None = None
    mentored: bool = False
    minutes: int = 0


def held_of(a: Assignment | None, mentorship: Mentorship | None) -> Held:
    mentored = mentorship is not None or (a is not None and a.mentor_id is not None)
    if a is None:
        return Held(placed=False, mentored=mentored)
    return Held(placed=True, rank=a.preference_rank, mentored=mentored, minutes=a.travel_minutes)


def mark_edited(
    session: Session, run: SolveRun, student: Student, before: Held, after: Held
) -> None:
    """Bring the run's metrics up to date after one student's placement changed, and mark the
    run as edited (no longer the solver's proven optimum)."""
    run = lock_run(session, run)
    if run.metrics is not None:
        m = dict(run.metrics)
        d = int(after.placed) - int(before.placed)

        def count(held: Held, test: bool) -> int:
            return int(held.placed and test)

        m["placed"] += d
        m["placed_weighted"] += d * (1 + student.priority)
        m["first_choice"] += count(after, after.rank == 1) - count(before, before.rank == 1)
        m["top3"] += count(after, after.rank is not None and after.rank <= 3) - count(
            before, before.rank is not None and before.rank <= 3
        )
        m["unranked"] += count(after, after.rank is None) - count(before, before.rank is None)
        if student.wants_mentor:
            m["mentored"] += int(after.mentored) - int(before.mentored)
        groups = {k: dict(v) for k, v in (m.get("by_group") or {}).items()}
        for label in set(student.groups):
            if label in groups:
                groups[label]["placed"] += d
        m["by_group"] = groups
        # The mean needs the exact total, which the rounded mean has lost: kept on the run and
        # moved by the difference; counted once over the run's assignments where it is missing
        # (a run stored before the column), after this edit's own changes are flushed.
        if run.travel_minutes_total is None:
            session.flush()
            run.travel_minutes_total = session.scalar(
                select(func.coalesce(func.sum(Assignment.travel_minutes), 0)).where(
                    Assignment.run_id == run.id
                )
            )
        else:
            run.travel_minutes_total += (
                after.minutes * after.placed - before.minutes * before.placed
            )
        total = run.travel_minutes_total or 0
        m["mean_travel_minutes"] = round(total / m["placed"], 2) if m["placed"] else 0.0
        run.metrics = m
    if run.solution_status == SolutionStatus.optimal:
        run.solution_status = SolutionStatus.feasible
    if run.edited_at is None:
        run.edited_at = utcnow()


def take_out(
    session: Session, run: SolveRun, student: Student, current: Assignment, reason: dict[str, Any]
) -> None:
    """Remove the student's placement from the run: unplaced for `reason`, metrics updated (a
    community mentorship, if any, stays)."""
    mentorship = mentorship_of(session, run, student)
    held_before = held_of(current, mentorship)
    session.delete(current)
    session.add(Unplaced(run_id=run.id, student_id=student.id, reasons=[reason]))
    session.flush()
    mark_edited(session, run, student, held_before, held_of(None, mentorship))
