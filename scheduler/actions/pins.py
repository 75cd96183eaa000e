"""Pins and forbidden pairs: what every later solve must (or must not) do with a student."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from models import (
    AssignmentStatus,
    Forbidden,
    Mentor,
    Opportunity,
    Pin,
    Preference,
    Round,
    Slot,
    SolveRun,
    Student,
    Unplaced,
    User,
)
from scheduler.access import require_edit, same_round
from scheduler.actions.audit import Outcome, ext_of, pin_doc, placement_doc, record, where_of
from scheduler.actions.checks import (
    check_pin_mentor,
    pair_of,
    pin_mentors,
    pinned_others,
    refuse_pair,
    with_mentors,
)
from scheduler.actions.edits import (
    current_assignment,
    mentorship_of,
    pin_holds,
    student_pins,
    take_out,
)
from scheduler.actions.locks import lock_capacity, lock_mentors, lock_round, lock_student
from scheduler.errors import PinRefused
from scheduler.problems import student_problem
from solver.eligibility import compute_eligibility
from solver.instance import Instance
from solver.rules import opportunity_capacity, slot_capacity

# Opportunities judged per problem when forbid re-checks an unplaced student's reasons.
_RECHECK_BLOCK: Final = 200


def pin(
    session: Session,
    rnd: Round,
    student: Student,
    opportunity: Opportunity,
    slot: Slot | None = None,
    mentor: Mentor | None = None,
    *,
    user: User | None,
) -> Outcome:
    """Pin `student` to `opportunity` (and `slot`, and `mentor`, when given): every later solve
    must place them there (H9).

    Refused (`PinRefused`, naming the rule) when the pin cannot hold on its own: the pair breaks
    H3-H7 (a forbidden pair is H3), the mentor breaks H8, another pin of the student puts them
    elsewhere (H1), or other students' pins already fill the slot or opportunity (H2) or the
    mentor's places (H8). The chosen run's assignment becomes `pinned` when it already
    satisfies the pin; the outcome notes when it does not (move the student, or re-solve)."""
    require_edit(session, rnd, user)
    same_round(rnd, student, opportunity, slot, mentor)
    if slot is not None and slot.opportunity_id != opportunity.id:
        raise ValueError(f"slot {slot.external_id!r} is not a slot of {opportunity.external_id!r}")
    state = lock_round(session, rnd, whole=False)
    lock_student(session, student)
    pair = pair_of(session, rnd, student, opportunity)
    codes = pair.refusals(slot)
    if codes:
        raise refuse_pair(PinRefused, codes, pair, student, opportunity, slot)
    mentors = pin_mentors(session, opportunity, mentor)
    pair = with_mentors(session, rnd, pair, opportunity, mentors)
    check_pin_mentor(session, pair, student, opportunity, slot, mentor, mentors)
    mine = student_pins(session, rnd, student)
    for other in mine:
        if other.opportunity_id != opportunity.id or (
            other.slot_id is not None and slot is not None and other.slot_id != slot.id
        ):
            raise PinRefused(
                "H1",
                f"H1: student {student.external_id} is already pinned to"
                f" {where_of(session, other.opportunity_id, other.slot_id)}; a student holds one"
                " placement (unpin that first)",
            )
        if other.mentor_id is not None and mentor is not None and other.mentor_id != mentor.id:
            raise PinRefused(
                "H8",
                f"H8: student {student.external_id} is already pinned with mentor"
                f" {ext_of(session, Mentor, other.mentor_id)}; a student has one mentor",
            )
    lock_capacity(session, opportunity, slot)
    # H2: the seats of the slot (when the pin names one) and the places of the opportunity,
    # by the solver's capacities, against the other students' pins.
    limits: list[tuple[Any, int, str]] = []
    if slot is not None:
        seats = slot_capacity(pair.slot(slot))
        limits.append((Pin.slot_id == slot.id, seats, f"slot {slot.external_id} has {seats} seats"))
    places = opportunity_capacity(pair.opportunity)
    limits.append(
        (
            Pin.opportunity_id == opportunity.id,
            places,
            f"opportunity {opportunity.external_id} has {places} places",
        )
    )
    for where, most, what in limits:
        others = pinned_others(session, rnd, student, where)
        if others >= most:
            raise PinRefused("H2", f"H2: {what} and pins of other students already take {others}")
    if mentor is not None:
        # A move counts these pins against the mentor's places (they are held for the pinned
        # students); pins that together want more places than the mentor has cannot all hold.
        lock_mentors(session, [mentor.id])
        others = pinned_others(session, rnd, student, Pin.mentor_id == mentor.id)
        if others >= mentor.capacity:
            raise PinRefused(
                "H8",
                f"H8: mentor {mentor.external_id} has {mentor.capacity} places and pins of"
                f" other students already take {others}",
            )

    new = {
        "opportunity": opportunity.external_id,
        "slot": slot.external_id if slot is not None else None,
        "mentor": mentor.external_id if mentor is not None else None,
    }
    before = [pin_doc(session, p) for p in mine]
    notes: list[str] = []
    if new in before:
        notes.append("the same pin already exists; nothing added")
    else:
        session.add(
            Pin(
                round_id=rnd.id,
                student_id=student.id,
                opportunity_id=opportunity.id,
                slot_id=slot.id if slot is not None else None,
                mentor_id=mentor.id if mentor is not None else None,
            )
        )
    if state.chosen_run_id is not None:
        run = session.get_one(SolveRun, state.chosen_run_id)
        a = current_assignment(session, run, student)
        ms = mentorship_of(session, run, student)
        holds = (
            a is not None
            and pin_holds(opportunity.id, slot.id if slot else None, a.opportunity_id, a.slot_id)
            and (
                mentor is None
                or a.mentor_id == mentor.id
                or (ms is not None and ms.mentor_id == mentor.id)
            )
        )
        if holds and a is not None and a.status == AssignmentStatus.proposed:
            a.status = AssignmentStatus.pinned
        if not holds:
            notes.append(
                f"the chosen run {run.id} does not place the student there yet: move the"
                " student or re-solve"
            )
    after = [*before, new] if new not in before else before
    return record(
        session,
        rnd,
        user,
        "pin.add",
        ("students", student.external_id),
        before=before,
        after=after,
        notes=notes,
    )


def unpin(
    session: Session,
    rnd: Round,
    student: Student,
    opportunity: Opportunity | None = None,
    *,
    user: User | None,
) -> Outcome:
    """Remove the student's pins (those at `opportunity` when given). The chosen run's
    assignment goes back from `pinned` to `proposed` when no pin covers it any more."""
    require_edit(session, rnd, user)
    same_round(rnd, student, opportunity)
    state = lock_round(session, rnd, whole=False)
    lock_student(session, student)
    mine = student_pins(session, rnd, student)
    gone = [p for p in mine if opportunity is None or p.opportunity_id == opportunity.id]
    if not gone:
        where = f" at opportunity {opportunity.external_id}" if opportunity is not None else ""
        raise PinRefused("state", f"state: student {student.external_id} has no pin{where}")
    before = [pin_doc(session, p) for p in mine]
    for p in gone:
        session.delete(p)
    left = [p for p in mine if p not in gone]
    if state.chosen_run_id is not None:
        run = session.get_one(SolveRun, state.chosen_run_id)
        a = current_assignment(session, run, student)
        if (
            a is not None
            and a.status == AssignmentStatus.pinned
            and not any(
                pin_holds(p.opportunity_id, p.slot_id, a.opportunity_id, a.slot_id) for p in left
            )
        ):
            a.status = AssignmentStatus.proposed
    after = [pin_doc(session, p) for p in left]
    return record(
        session,
        rnd,
        user,
        "pin.remove",
        ("students", student.external_id),
        before=before,
        after=after,
    )


def forbid(
    session: Session,
    rnd: Round,
    student: Student,
    opportunity: Opportunity,
    *,
    user: User | None,
) -> Outcome:
    """Forbid the pair: no solve may place the student there (H3, H9). Refused (H9) when a pin
    of the student requires that opportunity. A placement of the chosen run at the opportunity
    is removed: the student becomes unplaced with reason `forbidden`."""
    require_edit(session, rnd, user)
    same_round(rnd, student, opportunity)
    state = lock_round(session, rnd, whole=False)
    lock_student(session, student)
    for p in student_pins(session, rnd, student):
        if p.opportunity_id == opportunity.id:
            raise PinRefused(
                "H9",
                f"H9: student {student.external_id} is pinned to opportunity"
                f" {opportunity.external_id}: unpin before forbidding the pair",
            )
    already = session.scalar(
        select(
            exists().where(
                Forbidden.student_id == student.id, Forbidden.opportunity_id == opportunity.id
            )
        )
    )
    notes: list[str] = []
    if already:
        notes.append("the pair was forbidden already")
    else:
        session.add(
            Forbidden(round_id=rnd.id, student_id=student.id, opportunity_id=opportunity.id)
        )
    before: dict[str, Any] = {"forbidden": bool(already), "placement": None}
    after: dict[str, Any] = {"forbidden": True, "placement": None}
    if state.chosen_run_id is not None:
        run = session.get_one(SolveRun, state.chosen_run_id)
        current = current_assignment(session, run, student)
        if current is not None and current.opportunity_id == opportunity.id:
            before["placement"] = placement_doc(session, current)
            take_out(
                session,
                run,
                student,
                current,
                {"code": "forbidden", "detail": "forbidden by a coordinator"},
            )
            notes.append(f"removed the student's placement there from run {run.id}")
        elif current is None and not already:
            notes += _forbidden_reasons(session, rnd, run, student, opportunity)
    return record(
        session,
        rnd,
        user,
        "forbidden.add",
        ("students", student.external_id),
        before=before,
        after=after,
        notes=notes,
        opportunity=opportunity.external_id,
    )


def _forbidden_reasons(
    session: Session, rnd: Round, run: SolveRun, student: Student, opportunity: Opportunity
) -> list[str]:
    """Keep an unplaced student's reasons true once a pair is forbidden: `forbidden` now holds,
    and `capacity_taken` ("eligible somewhere, but the seats went to others") or `no_mentor`
    may not, when the forbidden opportunity was the only one the student could take. Those
    are checked again with the solver's rules over the student's candidate opportunities (in
    their clusters or ranked): one problem of one student, a few queries. Returns notes."""
    unplaced = session.scalars(
        select(Unplaced).where(Unplaced.run_id == run.id, Unplaced.student_id == student.id)
    ).one_or_none()
    if unplaced is None:
        return []
    reasons = [dict(r) for r in unplaced.reasons]
    notes: list[str] = []
    if any(r.get("code") in ("capacity_taken", "no_mentor") for r in reasons):
        session.flush()  # the new forbidden pair is read back with the others
        ranked = set(
            session.scalars(
                select(Preference.opportunity_id).where(Preference.student_id == student.id)
            )
        )
        stmt = select(Opportunity).where(Opportunity.round_id == rnd.id)
        if student.clusters:
            stmt = stmt.where(
                or_(Opportunity.cluster.in_(student.clusters), Opportunity.id.in_(ranked))
            )
        candidates = session.scalars(stmt.order_by(Opportunity.id)).all()
        # Ranked ones first, a block at a time, until each code is shown true: a student is
        # usually eligible somewhere early, and only one whose options are gone is checked
        # against every candidate.
        candidates = sorted(candidates, key=lambda o: o.id not in ranked)
        needed = {r.get("code") for r in reasons} & {"capacity_taken", "no_mentor"}
        still = dict.fromkeys(needed, False)
        for a in range(0, len(candidates), _RECHECK_BLOCK):
            block = candidates[a : a + _RECHECK_BLOCK]
            problem = student_problem(session, rnd, student, block, ranked=ranked)
            inst = Instance(problem)
            allowed = {int(inst.slot_opp[sl]) for sl in compute_eligibility(inst).slot}
            still["capacity_taken"] = still.get("capacity_taken", False) or bool(allowed)
            still["no_mentor"] = still.get("no_mentor", False) or any(
                problem.opportunities[o].requires_mentor for o in allowed
            )
            if all(still[code] for code in needed):
                break
        dropped = [r["code"] for r in reasons if still.get(r.get("code", ""), True) is False]
        reasons = [r for r in reasons if still.get(r.get("code", ""), True)]
        if dropped:
            notes.append(
                f"the student's reasons {', '.join(dropped)} no longer hold: no other"
                " opportunity takes them"
            )
    forbidden = next((r for r in reasons if r.get("code") == "forbidden"), None)
    if forbidden is None:
        reasons.append({"code": "forbidden", "count": 1})
    elif isinstance(forbidden.get("count"), int):
        forbidden["count"] += 1
    unplaced.reasons = reasons
    return notes
