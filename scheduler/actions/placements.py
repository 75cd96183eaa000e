"""Moving, placing and unplacing a student in the round's chosen run."""

from __future__ import annotations

from typing import Final

from sqlalchemy import delete
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
    ext_of,
    placement_doc,
    record,
    where_of,
)
from scheduler.actions.checks import (
    check_community_meeting,
    check_holds_none,
    check_own_pins,
    check_pair,
    check_seats,
    check_seats_pinned_for_others,
    check_workplace_mentors,
    pair_of,
    pick_workplace_mentor,
    place_mentors,
    with_mentors,
)
from scheduler.actions.edits import (
    current_assignment,
    held_of,
    mark_edited,
    mentorship_of,
    student_pins,
    take_out,
)
from scheduler.actions.locks import chosen_run, lock_round, lock_student
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
    if only_unplaced:
        check_holds_none(session, student, current)  # H1
    pins = student_pins(session, rnd, student)
    pinned_mentor = check_own_pins(session, student, opportunity, slot, pins)  # H9
    pair = pair_of(session, rnd, student, opportunity)
    mode, minutes = check_pair(pair, student, opportunity, slot)  # H3-H7
    mentors = place_mentors(session, opportunity, mentor, pinned_mentor)
    pair = with_mentors(session, rnd, pair, opportunity, mentors)
    candidates = check_workplace_mentors(  # H8 (and H9: the pinned mentor)
        session, pair, opportunity, mentor, pinned_mentor, mentors, who
    )
    mentorship = mentorship_of(session, run, student)
    drop_mentorship = check_community_meeting(  # H8 (and H9: a pinned community mentor)
        session, pair, mentorship, opportunity, slot, pins, who
    )
    seats = check_seats(session, pair, run, student, opportunity, slot)  # H2, under lock
    check_seats_pinned_for_others(session, rnd, run, student, opportunity, slot, seats)  # H9
    chosen_mentor = pick_workplace_mentor(  # H8 places, under lock (and H9: pinned places)
        session, rnd, run, student, candidates, current, who
    )

    # Write.
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
