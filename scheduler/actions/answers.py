"""The employer's answer to a published placement: accept (it becomes `confirmed`) or decline
(`declined`, with a reason). The employer pages will record it; the command line records it for
them (`wbl round accept|decline`).

Only a published placement of the chosen run has an answer to give: anything else is refused
(`state`). A declined placement stays in the run, its seat still counted (the run's solution
must stay within capacity, as for every declined placement: see the package's decisions) until
a re-solve or `unplace` frees it; the student's pins at that opportunity are removed (a re-solve
must not be forced to put the student back), and the next re-solve (`solve_round`) does not
offer the student that opportunity again and places them elsewhere where it can.

A decline is durable: it is kept as a `DeclinedPair` (with the reason), which every later solve
reads as a forbidden pair (`scheduler.problems.round_problem(for_solve=True)`), so a re-solve
of a re-solve does not offer the pair again either (the previous run's `declined` status alone
would be forgotten one run later).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import AssignmentStatus, DeclinedPair, Employer, Opportunity, Pin, Round, Student, User
from scheduler.access import Actor, LinkHolder, require_edit, same_round
from scheduler.actions.audit import Outcome, pin_doc, placement_doc, record, where_of
from scheduler.actions.edits import current_assignment
from scheduler.actions.locks import chosen_run, lock_round, lock_student
from scheduler.errors import ActionRefused, NotAllowed


def accept(
    session: Session,
    rnd: Round,
    student: Student,
    *,
    user: Actor,
    expected_version: int | None = None,
) -> Outcome:
    """The employer accepts the student's published placement: it becomes `confirmed`."""
    return _answer(session, rnd, student, user, expected_version, accepted=True, reason=None)


def decline(
    session: Session,
    rnd: Round,
    student: Student,
    *,
    user: Actor,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Outcome:
    """The employer declines the student's published placement: it becomes `declined`, the
    reason is kept in the audit event, and the student's pins at that opportunity go."""
    return _answer(session, rnd, student, user, expected_version, accepted=False, reason=reason)


def _answer(
    session: Session,
    rnd: Round,
    student: Student,
    actor: Actor,
    expected_version: int | None,
    *,
    accepted: bool,
    reason: str | None,
) -> Outcome:
    verb = "accept" if accepted else "decline"
    if isinstance(actor, LinkHolder):
        # An employer's link answers for that employer's placements only (checked below).
        if actor.kind != "employer" or actor.round_id != rnd.id:
            raise NotAllowed(f"access: a {actor.kind}'s link does not {verb} placements")
    else:
        require_edit(session, rnd, actor)
    same_round(rnd, student)
    state = lock_round(session, rnd, whole=False, expected_version=expected_version)
    lock_student(session, student)
    run = chosen_run(session, rnd, state)
    a = current_assignment(session, run, student)
    if a is None:
        raise ActionRefused(
            "state",
            f"state: student {student.external_id} holds no placement in the chosen run {run.id}"
            f": there is nothing to {verb}",
        )
    where = where_of(session, a.opportunity_id, a.slot_id)
    employer_id = session.scalar(
        select(Opportunity.employer_id).where(Opportunity.id == a.opportunity_id)
    )
    if isinstance(actor, LinkHolder) and employer_id != actor.row_id:
        raise NotAllowed(
            f"access: this employer's link does not answer for student {student.external_id}"
        )
    if a.status != AssignmentStatus.published:
        raise ActionRefused(
            "state",
            f"state: student {student.external_id}'s placement ({where}) is {a.status.value}, not"
            f" published: only a published placement can be accepted or declined",
        )
    before = placement_doc(session, a)
    notes: list[str] = []
    removed: list[dict[str, object]] = []
    if accepted:
        a.status = AssignmentStatus.confirmed
    else:
        a.status = AssignmentStatus.declined
        pins = list(
            session.scalars(
                select(Pin).where(
                    Pin.round_id == rnd.id,
                    Pin.student_id == student.id,
                    Pin.opportunity_id == a.opportunity_id,
                )
            )
        )
        removed = [pin_doc(session, p) for p in pins]
        known = session.scalar(
            select(DeclinedPair).where(
                DeclinedPair.student_id == student.id,
                DeclinedPair.opportunity_id == a.opportunity_id,
            )
        )
        if known is None:
            session.add(
                DeclinedPair(
                    round_id=rnd.id,
                    student_id=student.id,
                    opportunity_id=a.opportunity_id,
                    reason=reason,
                )
            )
        else:
            known.reason = reason
        if pins:
            session.execute(
                delete(Pin).where(Pin.id.in_([p.id for p in pins])),
                execution_options={"synchronize_session": "fetch"},
            )
            notes.append(
                f"{len(pins)} pins of student {student.external_id} at"
                f" {where.split(' slot ')[0]} removed: the employer declined"
            )
        notes.append(
            "the seat stays held until a re-solve (or unplace) frees it; the next re-solve"
            f" will not offer student {student.external_id} that opportunity again"
        )
    session.flush()
    employer = session.get_one(Employer, employer_id).external_id
    return record(
        session,
        rnd,
        actor if isinstance(actor, User) else None,
        f"placement.{verb}",
        ("students", student.external_id),
        before=before,
        after=placement_doc(session, a),
        notes=notes,
        run=run.id,
        employer=employer,
        by=f"employer {employer}" if isinstance(actor, LinkHolder) else "coordinator",
        reason=reason,
        pins_removed=removed,
    )
