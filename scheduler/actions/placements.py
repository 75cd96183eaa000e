"""Moving, placing and unplacing a student in the round's chosen run."""

from __future__ import annotations

from typing import Final

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from models import (
    Assignment,
    AssignmentStatus,
    Mentor,
    Opportunity,
    Pin,
    Round,
    Slot,
    Student,
    TravelMode,
    Unplaced,
    User,
)
from scheduler.access import require_edit, same_round
from scheduler.actions.audit import (
    Outcome,
    employer_ext_of,
    ext_of,
    placement_doc,
    record,
    where_of,
)
from scheduler.actions.checks import (
    check_workplace_mentor,
    mentor_loads,
    overlaps_meeting,
    pair_of,
    refuse_pair,
    waiting_mentor_pins,
    waiting_pins,
    workplace_candidates,
)
from scheduler.actions.edits import (
    current_assignment,
    held_of,
    mark_edited,
    mentorship_of,
    student_pins,
    take_out,
)
from scheduler.actions.locks import chosen_run, lock_capacity, lock_round, lock_student
from scheduler.errors import MoveRefused

# The reason recorded for a student a coordinator unplaced by hand: the spec's list has no code
# for it, and `capacity_taken` ("eligible somewhere, but the seats went elsewhere") is true of
# a student just taken out of a placement they were eligible for.
_UNPLACED_BY_HAND: Final = {"code": "capacity_taken", "detail": "unplaced by a coordinator"}


def move(
    session: Session,
    rnd: Round,
    student: Student,
    slot: Slot,
    mentor: Mentor | None = None,
    *,
    user: User | None,
    pin: bool = True,
) -> Outcome:
    """Move the student to `slot` in the round's chosen run, placing them if they were not.

    Checked against every hard rule as the solver applies it, and refused with `MoveRefused`
    naming the rule that would break: H1 (see `place`), H2 (the slot's and the opportunity's
    seats, counted over the run's other assignments), H3-H7 (the solver's eligibility of the
    pair and slot), H8 (a workplace mentor of the employer with a free place when the
    opportunity requires one, picked when not given; no mentor otherwise), H9 (a pin of the
    student elsewhere, or free seats that other students' pins need).

    On success the assignment takes the solver's travel mode, minutes and preference rank, and
    with `pin` (the default) it becomes `pinned` and a pin of (student, opportunity, slot) is
    added, so a re-solve keeps it. A placement that moves loses a published or confirmed status
    (publish again); staying in the same seat keeps it. A community mentorship that can no
    longer hold is dropped (see the notes)."""
    return _place(session, rnd, student, slot, mentor, user=user, pin=pin, only_unplaced=False)


def place(
    session: Session,
    rnd: Round,
    student: Student,
    slot: Slot,
    mentor: Mentor | None = None,
    *,
    user: User | None,
    pin: bool = True,
) -> Outcome:
    """`move` for a student the caller believes unplaced: refused (H1) when the student holds a
    placement in the chosen run already (someone placed them meanwhile, or the page was old),
    so a student is never moved by a form meant to place them. A declined placement counts as
    none."""
    return _place(session, rnd, student, slot, mentor, user=user, pin=pin, only_unplaced=True)


def _place(
    session: Session,
    rnd: Round,
    student: Student,
    slot: Slot,
    mentor: Mentor | None,
    *,
    user: User | None,
    pin: bool,
    only_unplaced: bool,
) -> Outcome:
    require_edit(session, rnd, user)
    same_round(rnd, student, slot, mentor)
    state = lock_round(session, rnd, whole=False)
    run = chosen_run(session, rnd, state)
    lock_student(session, student)
    opportunity = session.get_one(Opportunity, slot.opportunity_id)
    who = f"student {student.external_id} at opportunity {opportunity.external_id}"

    current = current_assignment(session, run, student)
    before = placement_doc(session, current)
    if only_unplaced and current is not None and current.status != AssignmentStatus.declined:
        raise MoveRefused(
            "H1",
            f"H1: student {student.external_id} already holds a placement"
            f" ({where_of(session, current.opportunity_id, current.slot_id)}); a student holds at"
            " most one: move them instead",
        )

    # H9: the student's own pins.
    pins = student_pins(session, rnd, student)
    pinned_mentor: int | None = None
    for p in pins:
        if p.opportunity_id != opportunity.id or p.slot_id not in (None, slot.id):
            raise MoveRefused(
                "H9",
                f"H9: student {student.external_id} is pinned to"
                f" {where_of(session, p.opportunity_id, p.slot_id)}: unpin them first",
            )
        if p.mentor_id is not None and opportunity.requires_mentor:
            pinned_mentor = p.mentor_id

    # H3-H7: the solver's rules for the pair and slot.
    pair = pair_of(session, rnd, student, opportunity)
    codes = pair.refusals(slot)
    if codes:
        raise refuse_pair(MoveRefused, codes, pair, student, opportunity, slot)
    assert pair.trip is not None  # an allowed pair has a usable mode (H4)

    # H8, what does not depend on counts: the kind of mentor, and the pins naming one.
    candidates: list[Mentor] = []
    if opportunity.requires_mentor:
        if mentor is not None:
            check_workplace_mentor(MoveRefused, session, opportunity, mentor, who)
            if pinned_mentor is not None and mentor.id != pinned_mentor:
                raise MoveRefused(
                    "H9",
                    f"H9: {who}: the student is pinned with mentor"
                    f" {ext_of(session, Mentor, pinned_mentor)}, not {mentor.external_id}",
                )
            candidates = [mentor]
        elif pinned_mentor is not None:
            candidates = [session.get_one(Mentor, pinned_mentor)]
        else:
            candidates = workplace_candidates(session, opportunity)
            if not candidates:
                raise MoveRefused(
                    "H8",
                    f"H8: {who}: the opportunity requires a mentor and employer"
                    f" {employer_ext_of(session, opportunity)} has no workplace mentor for"
                    f" cluster {opportunity.cluster}",
                )
    elif mentor is not None:
        raise MoveRefused(
            "H8",
            f"H8: {who}: the opportunity does not require a mentor, so the assignment names"
            f" none (mentor {mentor.external_id} given)",
        )
    mentorship = mentorship_of(session, run, student)
    drop_mentorship: str | None = None
    if mentorship is not None:
        if opportunity.requires_mentor:
            drop_mentorship = "the student gets a workplace mentor there (one mentor each)"
        elif overlaps_meeting(mentorship, slot):
            drop_mentorship = (
                f"its meeting {mentorship.day} {mentorship.start_time}-{mentorship.end_time}"
                f" overlaps a shift of slot {slot.external_id}"
            )
        if drop_mentorship and any(p.mentor_id == mentorship.mentor_id for p in pins):
            raise MoveRefused(
                "H9",
                f"H9: {who}: the student is pinned with community mentor"
                f" {ext_of(session, Mentor, mentorship.mentor_id)}, and {drop_mentorship}",
            )

    # H2 under lock: from here to the commit, nobody else counts these seats.
    opp_capacity, slot_capacity = lock_capacity(session, opportunity, slot)
    assert slot_capacity is not None
    others = (Assignment.run_id == run.id, Assignment.student_id != student.id)
    in_slot = (
        session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(*others, Assignment.slot_id == slot.id)
        )
        or 0
    )
    if in_slot >= slot_capacity:
        raise MoveRefused(
            "H2",
            f"H2: slot {slot.external_id} of opportunity {opportunity.external_id} is full"
            f" ({in_slot} of {slot_capacity} seats taken)",
        )
    in_opp = (
        session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(*others, Assignment.opportunity_id == opportunity.id)
        )
        or 0
    )
    if in_opp >= opp_capacity:
        raise MoveRefused(
            "H2",
            f"H2: opportunity {opportunity.external_id} is full ({in_opp} of its capacity"
            f" {opp_capacity} taken over its slots)",
        )
    # H9 for the others: free seats that other students' pins need, and that those students
    # do not hold yet, are not free.
    waiting = waiting_pins(
        session, rnd, run, student, Pin.slot_id == slot.id, Assignment.slot_id == slot.id
    )
    if waiting and in_slot + len(waiting) >= slot_capacity:
        raise MoveRefused(
            "H9",
            f"H9: the free seats of slot {slot.external_id} are held for pinned students"
            f" {', '.join(waiting)}",
        )
    waiting = waiting_pins(
        session,
        rnd,
        run,
        student,
        Pin.opportunity_id == opportunity.id,
        Assignment.opportunity_id == opportunity.id,
    )
    if waiting and in_opp + len(waiting) >= opp_capacity:
        raise MoveRefused(
            "H9",
            f"H9: the free places of opportunity {opportunity.external_id} are held for"
            f" pinned students {', '.join(waiting)}",
        )

    # H8 under lock: a workplace mentor with a free place; H9 for the others: places that
    # other students' pins name, and that those students do not hold yet, are not free.
    chosen_mentor: Mentor | None = None
    if candidates:
        loads = mentor_loads(session, run, student, (m.id for m in candidates))
        held_for = waiting_mentor_pins(session, rnd, run, student, loads.keys())
        free = [m for m in candidates if loads[m.id] + len(held_for[m.id]) < m.capacity]
        if current is not None and current.mentor_id in {m.id for m in free}:
            chosen_mentor = next(m for m in free if m.id == current.mentor_id)
        elif free:
            chosen_mentor = free[0]
        elif any(loads[m.id] < m.capacity for m in candidates):
            places = ", ".join(
                f"{m.external_id} {loads[m.id]}/{m.capacity}"
                + (f" held for {', '.join(held_for[m.id])}" if held_for[m.id] else "")
                for m in candidates
            )
            raise MoveRefused(
                "H9",
                f"H9: {who}: the free places of the workplace mentors that fit are held for"
                f" pinned students ({places})",
            )
        else:
            full = ", ".join(f"{m.external_id} {loads[m.id]}/{m.capacity}" for m in candidates)
            raise MoveRefused("H8", f"H8: {who}: every workplace mentor that fits is full ({full})")

    # Write.
    mode, minutes = pair.trip
    placement = {
        "opportunity_id": opportunity.id,
        "slot_id": slot.id,
        "mentor_id": chosen_mentor.id if chosen_mentor is not None else None,
        "travel_mode": TravelMode(mode),
        "travel_minutes": minutes,
        "preference_rank": pair.rank,
    }
    same_seat = (
        current is not None
        and current.status != AssignmentStatus.declined
        and (current.slot_id, current.mentor_id) == (slot.id, placement["mentor_id"])
    )
    if same_seat and current is not None:
        # Staying put (to pin, say) keeps a published or confirmed status.
        status = current.status
        if pin and status == AssignmentStatus.proposed:
            status = AssignmentStatus.pinned
    else:
        status = AssignmentStatus.pinned if pin else AssignmentStatus.proposed
    held_before = held_of(current, mentorship)
    changed = current is None or any(getattr(current, k) != v for k, v in placement.items())
    if current is None:
        session.execute(
            delete(Unplaced).where(Unplaced.run_id == run.id, Unplaced.student_id == student.id),
            execution_options={"synchronize_session": False},
        )
        current = Assignment(run_id=run.id, student_id=student.id, status=status, **placement)
        session.add(current)
    else:
        for key, value in placement.items():
            setattr(current, key, value)
        current.status = status
    notes: list[str] = []
    if mentorship is not None and drop_mentorship:
        notes.append(
            f"community mentorship with {ext_of(session, Mentor, mentorship.mentor_id)} dropped:"
            f" {drop_mentorship}"
        )
        session.delete(mentorship)
        mentorship = None
        changed = True
    if pin and not any(p.opportunity_id == opportunity.id and p.slot_id == slot.id for p in pins):
        session.add(
            Pin(
                round_id=rnd.id,
                student_id=student.id,
                opportunity_id=opportunity.id,
                slot_id=slot.id,
            )
        )
        notes.append(f"pinned to {opportunity.external_id} slot {slot.external_id}")
    session.flush()
    if changed:
        mark_edited(session, run, student, held_before, held_of(current, mentorship))
    after = placement_doc(session, current)
    action = "assignment.place" if held_before.placed is False else "assignment.move"
    return record(
        session,
        rnd,
        user,
        action,
        ("students", student.external_id),
        before=before,
        after=after,
        notes=notes,
        run=run.id,
    )


def unplace(
    session: Session,
    rnd: Round,
    student: Student,
    *,
    user: User | None,
    unpin: bool = False,
) -> Outcome:
    """Take the student out of their placement in the chosen run (unplaced, reason
    `capacity_taken` with the detail "unplaced by a coordinator"). A pinned student is refused
    (H9) unless `unpin`, which removes their pins too. A community mentorship stays: it does
    not depend on a placement."""
    require_edit(session, rnd, user)
    same_round(rnd, student)
    state = lock_round(session, rnd, whole=False)
    run = chosen_run(session, rnd, state)
    lock_student(session, student)
    current = current_assignment(session, run, student)
    if current is None:
        raise MoveRefused(
            "state", f"state: student {student.external_id} is not placed in run {run.id}"
        )
    pins = student_pins(session, rnd, student)
    if pins and not unpin:
        where = "; ".join(where_of(session, p.opportunity_id, p.slot_id) for p in pins)
        raise MoveRefused(
            "H9",
            f"H9: student {student.external_id} is pinned to {where}: unpin first (or"
            " unplace with unpin)",
        )
    before = placement_doc(session, current)
    notes = [f"unpinned from {where_of(session, p.opportunity_id, p.slot_id)}" for p in pins]
    for p in pins:
        session.delete(p)
    take_out(session, run, student, current, dict(_UNPLACED_BY_HAND))
    return record(
        session,
        rnd,
        user,
        "assignment.unplace",
        ("students", student.external_id),
        before=before,
        after=None,
        notes=notes,
        run=run.id,
    )
