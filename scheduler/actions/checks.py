"""The hard rules as a manual action checks them, one student at a time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from sqlalchemy import distinct, exists, func, or_, select
from sqlalchemy.orm import Session

from models import (
    Assignment,
    AssignmentStatus,
    Employer,
    Mentor,
    Mentorship,
    Opportunity,
    Pin,
    Preference,
    Round,
    Slot,
    SolveRun,
    Student,
)
from scheduler.access import same_round
from scheduler.actions.audit import employer_ext_of, ext_of, where_of
from scheduler.actions.edits import pin_holds
from scheduler.actions.locks import lock_capacity, lock_mentors
from scheduler.errors import ActionRefused, MoveRefused, PinRefused
from scheduler.explain import explain, pair_facts
from scheduler.problems import mentor_objects, student_problem
from solver.eligibility import pair_trip, refusal_codes
from solver.instance import Instance
from solver.problem import Mentor as PairMentor
from solver.problem import Opportunity as PairOpportunity
from solver.problem import Problem, parse_blocks
from solver.problem import Slot as PairSlot
from solver.problem import Student as PairStudent
from solver.rules import (
    DAY,
    community_mentor_matches,
    meeting_avoids,
    meeting_times,
    opportunity_capacity,
    slot_capacity,
    workplace_mentor_serves,
    workplace_mentors_for,
)

# The spec's rule behind each reason code of the solver.
RULE_OF_CODE: Final[Mapping[str, str]] = {
    "capacity_taken": "H2",  # from refusal_codes only when the opportunity has no slot at all
    "no_cluster_match": "H3",
    "too_young": "H3",
    "grade": "H3",
    "missing_credential": "H3",
    "not_accepted": "H3",
    "hazardous_minor": "H3",
    "forbidden": "H3",
    "no_transport_mode": "H4",
    "commute_too_long": "H4",
    "schedule_conflict": "H5",
    "over_weekly_hours": "H6",
    "child_labour_hours": "H7",
}


@dataclass(frozen=True, slots=True)
class Pair:
    """One student and one opportunity as the solver sees them, in a problem of their own
    (with the mentors an H8 check reads)."""

    inst: Instance
    student: PairStudent
    trip: tuple[str, int] | None  # fastest usable mode and its minutes (H4)
    rank: int | None  # the student's preference rank of the opportunity
    mentors: tuple[PairMentor, ...] = ()  # the mentors the H8 checks read (`with_mentors`)

    @property
    def opportunity(self) -> PairOpportunity:
        return self.inst.problem.opportunities[0]

    def slot(self, slot: Slot) -> PairSlot:
        """The solver's view of one of the opportunity's slots."""
        return next(sl for sl in self.opportunity.slots if sl.id == slot.external_id)

    def mentor(self, mentor: Mentor) -> PairMentor:
        """The solver's view of a mentor the pair was built with."""
        return next(m for m in self.mentors if m.id == mentor.external_id)

    def refusals(self, slot: Slot | None = None) -> list[str]:
        """Reason codes refusing the pair at `slot` (or at every slot): [] when allowed."""
        slot_ix = None if slot is None else self.inst.slot_ix[slot.external_id]
        return refusal_codes(self.inst, 0, 0, slot_ix)


def _pair_problem(
    session: Session,
    rnd: Round,
    student: Student,
    opportunity: Opportunity,
) -> tuple[Problem, int | None]:
    """A `Problem` holding just the student, the opportunity (its slots, employer) and what
    ties the two (preference, accepts, travel overrides and the student's travel group's
    times, forbidden pair): everything the per-pair rules read. Also returns the preference
    rank."""
    rank = session.scalar(
        select(Preference.rank).where(
            Preference.student_id == student.id, Preference.opportunity_id == opportunity.id
        )
    )
    problem = student_problem(
        session,
        rnd,
        student,
        [opportunity],
        ranked={opportunity.id} if rank else set(),
    )
    return problem, rank


def pair_of(session: Session, rnd: Round, student: Student, opportunity: Opportunity) -> Pair:
    """The pair's own problem (H3-H7 read it; `with_mentors` adds what H8 reads)."""
    problem, rank = _pair_problem(session, rnd, student, opportunity)
    inst = Instance(problem)
    return Pair(inst=inst, student=problem.students[0], trip=pair_trip(inst, 0, 0), rank=rank)


def pair_refusals(
    session: Session,
    rnd: Round,
    student: Student,
    opportunity: Opportunity,
    slot: Slot | None = None,
) -> list[str]:
    """The solver's reason codes refusing `student` at `opportunity` (at `slot`, or at every
    one of its slots), [] when the pair is allowed: H3-H7 exactly as a solve of the whole
    round would judge it, from the rows of this one pair."""
    same_round(rnd, student, opportunity, slot)
    return pair_of(session, rnd, student, opportunity).refusals(slot)


def _explain(code: str, pair: Pair, slot: Slot | None) -> str:
    """One reason code in the words every page uses (`scheduler.explain`), with the numbers
    of this pair (at `slot`, or at every slot) that decided it."""
    slot_ix = None if slot is None else pair.inst.slot_ix[slot.external_id]
    return explain(code, facts=pair_facts(pair.inst, 0, 0, slot_ix)).rstrip(".")


def refuse_pair(
    error: type[ActionRefused],
    codes: Sequence[str],
    pair: Pair,
    student: Student,
    opportunity: Opportunity,
    slot: Slot | None,
) -> ActionRefused:
    """The refusal naming each broken rule and reason code, first rule first."""
    ordered = sorted(codes, key=lambda c: (RULE_OF_CODE[c], c))
    rule = RULE_OF_CODE[ordered[0]]
    where = f"opportunity {opportunity.external_id}" + (
        f" slot {slot.external_id}" if slot is not None else ""
    )
    reasons = "; ".join(f"{RULE_OF_CODE[c]} {c} ({_explain(c, pair, slot)})" for c in ordered)
    message = f"{rule}: student {student.external_id} cannot take {where}: {reasons}"
    return error(rule, message, codes=ordered)


# --- H8 mentors, by the solver's rules ---------------------------------------------------------


def with_mentors(
    session: Session, rnd: Round, pair: Pair, opportunity: Opportunity, rows: Sequence[Mentor]
) -> Pair:
    """The pair with the solver's view of the mentor rows the H8 checks read; a query only for
    a mentor of another employer (whose document id the pair does not hold)."""
    employer_ext = {opportunity.employer_id: pair.opportunity.employer}
    for m in rows:
        if m.employer_id is not None and m.employer_id not in employer_ext:
            employer_ext[m.employer_id] = session.get_one(Employer, m.employer_id).external_id
    return replace(pair, mentors=mentor_objects(rnd, rows, employer_ext))


def employer_mentors(session: Session, opportunity: Opportunity) -> list[Mentor]:
    """The mentors of the opportunity's employer, by external id: the rows among which
    `workplace_mentors_for` finds those who can serve it (H8)."""
    return list(
        session.scalars(
            select(Mentor)
            .where(Mentor.employer_id == opportunity.employer_id)
            .order_by(Mentor.external_id)
        )
    )


def workplace_candidates(pair: Pair, mentors: Sequence[Mentor]) -> list[Mentor]:
    """The mentors among `mentors` (rows the pair holds, `with_mentors`) who can serve the pair's
    opportunity, in the order given: the solver's `workplace_mentors_for` (H8)."""
    serving = {m.id for m in workplace_mentors_for(pair.opportunity, map(pair.mentor, mentors))}
    return [m for m in mentors if m.external_id in serving]


def check_workplace_mentor(
    error: type[ActionRefused],
    session: Session,
    pair: Pair,
    opportunity: Opportunity,
    mentor: Mentor,
    who: str,
) -> None:
    """H8: the named mentor can serve the opportunity (`workplace_mentor_serves`); the message
    says which half of the rule failed."""
    if workplace_mentor_serves(pair.mentor(mentor), pair.opportunity):
        return
    name = f"mentor {mentor.external_id}"
    if mentor.employer_id != opportunity.employer_id:
        why = (
            f"{name} is not a workplace mentor of employer {employer_ext_of(session, opportunity)}"
        )
    else:
        why = f"{name}'s clusters {sorted(mentor.clusters)} do not hold {opportunity.cluster}"
    raise error("H8", f"H8: {who}: {why}")


def _meeting_fits(pair: Pair, mentor: Mentor, slot: Slot | None) -> bool:
    """A community mentor has a free weekly meeting with the student (H8), by the solver's
    `meeting_times`: on the 15-minute grid, inside an available block, clear of the student's
    busy blocks and the slot's shifts."""
    length = pair.inst.problem.round.mentor_meeting_minutes
    at = None if slot is None else pair.slot(slot)
    return bool(meeting_times(pair.mentor(mentor), pair.student, at, length))


def pin_mentors(session: Session, opportunity: Opportunity, mentor: Mentor | None) -> list[Mentor]:
    """The mentor rows a pin's H8 check reads: the one named, or every mentor of the employer
    when the opportunity requires one and the pin names none."""
    if mentor is not None:
        return [mentor]
    return employer_mentors(session, opportunity) if opportunity.requires_mentor else []


def check_pin_mentor(
    session: Session,
    pair: Pair,
    student: Student,
    opportunity: Opportunity,
    slot: Slot | None,
    mentor: Mentor | None,
    mentors: Sequence[Mentor],
) -> None:
    """H8 for a pin on its own: the right kind of mentor, clusters, a place, a meeting time.
    `mentors` are the rows `pin_mentors` gave, the pair holding them (`with_mentors`)."""
    who = f"student {student.external_id} at opportunity {opportunity.external_id}"
    if opportunity.requires_mentor:
        if mentor is None:
            if not [m for m in workplace_candidates(pair, mentors) if m.capacity > 0]:
                raise PinRefused(
                    "H8",
                    f"H8: {who}: the opportunity requires a mentor and employer"
                    f" {employer_ext_of(session, opportunity)} has no workplace mentor with a"
                    f" place for cluster {opportunity.cluster}",
                )
            return
        check_workplace_mentor(PinRefused, session, pair, opportunity, mentor, who)
        if mentor.capacity < 1:
            raise PinRefused("H8", f"H8: {who}: mentor {mentor.external_id} has capacity 0")
        return
    if mentor is None:
        return
    if mentor.employer_id is not None:
        raise PinRefused(
            "H8",
            f"H8: {who}: mentor {mentor.external_id} is a workplace mentor, but the opportunity"
            " does not require one (only a community mentor can be pinned here)",
        )
    if not student.wants_mentor:
        raise PinRefused(
            "H8", f"H8: {who}: the student does not want a mentor (wants_mentor is false)"
        )
    if not community_mentor_matches(pair.student, pair.mentor(mentor)):
        raise PinRefused(
            "H8",
            f"H8: {who}: community mentor {mentor.external_id}'s clusters"
            f" {sorted(mentor.clusters)} do not meet the student's {sorted(student.clusters)}",
        )
    if mentor.capacity < 1:
        raise PinRefused("H8", f"H8: {who}: mentor {mentor.external_id} has capacity 0")
    if not _meeting_fits(pair, mentor, slot):
        raise PinRefused(
            "H8",
            f"H8: {who}: community mentor {mentor.external_id} has no free"
            f" {pair.inst.problem.round.mentor_meeting_minutes}-minute meeting time with the"
            " student",
        )


def mentor_loads(
    session: Session, run: SolveRun, student: Student, mentor_ids: Iterable[int]
) -> dict[int, int]:
    """Students each mentor holds in the run besides `student` (workplace and community)."""
    ids = sorted(mentor_ids)
    loads = dict.fromkeys(ids, 0)
    if not ids:
        return loads
    lock_mentors(session, ids)
    for model in (Assignment, Mentorship):
        stmt = (
            select(model.mentor_id, func.count())
            .where(model.run_id == run.id, model.student_id != student.id, model.mentor_id.in_(ids))
            .group_by(model.mentor_id)
        )
        for mentor_id, n in session.execute(stmt):
            if mentor_id is not None:
                loads[mentor_id] += n
    return loads


def waiting_mentor_pins(
    session: Session, rnd: Round, run: SolveRun, student: Student, mentor_ids: Iterable[int]
) -> dict[int, list[str]]:
    """Other students pinned with each mentor who do not hold that mentor in the run yet (by
    their assignment or a community mentorship), by mentor: places a re-solve must give them
    (H9). A student holding the mentor already is counted in the mentor's load instead, never
    twice. Call it with the mentors locked (`mentor_loads`)."""
    ids = sorted(mentor_ids)
    waiting: dict[int, list[str]] = {i: [] for i in ids}
    if not ids:
        return waiting
    held = or_(
        exists().where(
            Assignment.run_id == run.id,
            Assignment.student_id == Pin.student_id,
            Assignment.mentor_id == Pin.mentor_id,
        ),
        exists().where(
            Mentorship.run_id == run.id,
            Mentorship.student_id == Pin.student_id,
            Mentorship.mentor_id == Pin.mentor_id,
        ),
    )
    stmt = (
        select(Pin.mentor_id, Student.external_id)
        .join(Student, Student.id == Pin.student_id)
        .where(Pin.round_id == rnd.id, Pin.student_id != student.id, Pin.mentor_id.in_(ids), ~held)
        .distinct()
        .order_by(Pin.mentor_id, Student.external_id)
    )
    for mentor_id, who in session.execute(stmt):
        if mentor_id is not None:  # the column may be null, though not in these rows
            waiting[mentor_id].append(who)
    return waiting


def meeting_clashes(pair: Pair, ms: Mentorship, slot: Slot) -> bool:
    """The community meeting overlaps a weekly shift of the slot: the solver's
    `meeting_avoids` (H8; no travel buffer)."""
    (block,) = parse_blocks([{"day": str(ms.day), "start": ms.start_time, "end": ms.end_time}])
    start = block.weekday * DAY + block.start
    return not meeting_avoids(pair.slot(slot).blocks, start=start, length=block.minutes)


# --- H2 seats and H9 pins of others ----------------------------------------------------------


def waiting_pins(
    session: Session, rnd: Round, run: SolveRun, student: Student, pinned: Any, holds: Any
) -> list[str]:
    """Other students pinned by `pinned` who do not yet hold a place matching `holds`."""
    held = exists().where(
        Assignment.run_id == run.id, Assignment.student_id == Pin.student_id, holds
    )
    stmt = (
        select(Student.external_id)
        .join(Pin, Pin.student_id == Student.id)
        .where(Pin.round_id == rnd.id, Pin.student_id != student.id, pinned, ~held)
        .distinct()
        .order_by(Student.external_id)
    )
    return list(session.scalars(stmt))


def pinned_others(session: Session, rnd: Round, student: Student, where: Any) -> int:
    """How many other students have a pin matching `where` (distinct students)."""
    return (
        session.scalar(
            select(func.count(distinct(Pin.student_id))).where(
                Pin.round_id == rnd.id, Pin.student_id != student.id, where
            )
        )
        or 0
    )


# --- A placement, rule by rule (what `move` and `place` check, in this order) --------------------


def check_holds_none(session: Session, student: Student, current: Assignment | None) -> None:
    """H1 for `place`: the student holds no placement in the run (a declined one is none)."""
    if current is not None and current.status != AssignmentStatus.declined:
        raise MoveRefused(
            "H1",
            f"H1: student {student.external_id} already holds a placement"
            f" ({where_of(session, current.opportunity_id, current.slot_id)}); a student holds at"
            " most one: move them instead",
        )


def check_own_pins(
    session: Session, student: Student, opportunity: Opportunity, slot: Slot, pins: Sequence[Pin]
) -> int | None:
    """H9: every pin of the student allows the placement (`pin_allows`); returns the mentor a
    pin names, where the opportunity requires one."""
    pinned_mentor: int | None = None
    for p in pins:
        if not pin_holds(p.opportunity_id, p.slot_id, opportunity.id, slot.id):
            raise MoveRefused(
                "H9",
                f"H9: student {student.external_id} is pinned to"
                f" {where_of(session, p.opportunity_id, p.slot_id)}: unpin them first",
            )
        if p.mentor_id is not None and opportunity.requires_mentor:
            pinned_mentor = p.mentor_id
    return pinned_mentor


def place_mentors(
    session: Session, opportunity: Opportunity, mentor: Mentor | None, pinned_mentor: int | None
) -> list[Mentor]:
    """The mentor rows a placement's H8 check reads: the one named, else the one pinned, else
    (where the opportunity requires one) every mentor of the employer."""
    if mentor is not None:
        return [mentor]
    if pinned_mentor is not None:
        return [session.get_one(Mentor, pinned_mentor)]
    return employer_mentors(session, opportunity) if opportunity.requires_mentor else []


def check_pair(
    pair: Pair, student: Student, opportunity: Opportunity, slot: Slot
) -> tuple[str, int]:
    """H3-H7: the solver's `refusal_codes` for the pair and slot; returns the trip (H4)."""
    codes = pair.refusals(slot)
    if codes:
        raise refuse_pair(MoveRefused, codes, pair, student, opportunity, slot)
    assert pair.trip is not None  # an allowed pair has a usable mode (H4)
    return pair.trip


def check_workplace_mentors(
    session: Session,
    pair: Pair,
    opportunity: Opportunity,
    mentor: Mentor | None,
    pinned_mentor: int | None,
    mentors: Sequence[Mentor],
    who: str,
) -> list[Mentor]:
    """H8, what does not depend on counts: the workplace mentors that may serve the placement
    (the one named, or pinned, or every one that fits), none where the opportunity requires
    none; H9: a named mentor other than the pinned one. Returns the candidates."""
    if not opportunity.requires_mentor:
        if mentor is not None:
            raise MoveRefused(
                "H8",
                f"H8: {who}: the opportunity does not require a mentor, so the assignment names"
                f" none (mentor {mentor.external_id} given)",
            )
        return []
    if mentor is not None:
        check_workplace_mentor(MoveRefused, session, pair, opportunity, mentor, who)
        if pinned_mentor is not None and mentor.id != pinned_mentor:
            raise MoveRefused(
                "H9",
                f"H9: {who}: the student is pinned with mentor"
                f" {ext_of(session, Mentor, pinned_mentor)}, not {mentor.external_id}",
            )
        return [mentor]
    if pinned_mentor is not None:
        return list(mentors)
    candidates = workplace_candidates(pair, mentors)
    if not candidates:
        raise MoveRefused(
            "H8",
            f"H8: {who}: the opportunity requires a mentor and employer"
            f" {employer_ext_of(session, opportunity)} has no workplace mentor for"
            f" cluster {opportunity.cluster}",
        )
    return candidates


def check_community_meeting(
    session: Session,
    pair: Pair,
    mentorship: Mentorship | None,
    opportunity: Opportunity,
    slot: Slot,
    pins: Sequence[Pin],
    who: str,
) -> str | None:
    """H8: a community mentorship the placement makes impossible (the student gets a workplace
    mentor, or the meeting clashes with a shift): why it is dropped, None when it stays; H9: a
    pin naming that mentor refuses the placement instead."""
    if mentorship is None:
        return None
    drop: str | None = None
    if opportunity.requires_mentor:
        drop = "the student gets a workplace mentor there (one mentor each)"
    elif meeting_clashes(pair, mentorship, slot):
        drop = (
            f"its meeting {mentorship.day} {mentorship.start_time}-{mentorship.end_time}"
            f" overlaps a shift of slot {slot.external_id}"
        )
    if drop and any(p.mentor_id == mentorship.mentor_id for p in pins):
        raise MoveRefused(
            "H9",
            f"H9: {who}: the student is pinned with community mentor"
            f" {ext_of(session, Mentor, mentorship.mentor_id)}, and {drop}",
        )
    return drop


@dataclass(frozen=True, slots=True)
class Seats:
    """The seats of a slot and its opportunity other students of the run hold, and their
    capacities (H2)."""

    in_slot: int
    slot_capacity: int
    in_opp: int
    opp_capacity: int


def check_seats(
    session: Session,
    pair: Pair,
    run: SolveRun,
    student: Student,
    opportunity: Opportunity,
    slot: Slot,
) -> Seats:
    """H2 under lock: a free seat in the slot and a free place in the opportunity, by the
    solver's `slot_capacity` and `opportunity_capacity` (an opportunity without a capacity
    holds its slots' seats), counted over the run's other assignments. From here to the
    commit, nobody else counts these seats."""
    lock_capacity(session, opportunity, slot)
    others = (Assignment.run_id == run.id, Assignment.student_id != student.id)

    def taken(where: Any) -> int:
        stmt = select(func.count()).select_from(Assignment).where(*others, where)
        return session.scalar(stmt) or 0

    seats = Seats(
        in_slot=taken(Assignment.slot_id == slot.id),
        slot_capacity=slot_capacity(pair.slot(slot)),
        in_opp=0,
        opp_capacity=opportunity_capacity(pair.opportunity),
    )
    if seats.in_slot >= seats.slot_capacity:
        raise MoveRefused(
            "H2",
            f"H2: slot {slot.external_id} of opportunity {opportunity.external_id} is full"
            f" ({seats.in_slot} of {seats.slot_capacity} seats taken)",
        )
    seats = replace(seats, in_opp=taken(Assignment.opportunity_id == opportunity.id))
    if seats.in_opp >= seats.opp_capacity:
        raise MoveRefused(
            "H2",
            f"H2: opportunity {opportunity.external_id} is full ({seats.in_opp} of its capacity"
            f" {seats.opp_capacity} taken over its slots)",
        )
    return seats


def check_seats_pinned_for_others(
    session: Session,
    rnd: Round,
    run: SolveRun,
    student: Student,
    opportunity: Opportunity,
    slot: Slot,
    seats: Seats,
) -> None:
    """H9 for the others: free seats that other students' pins need, and that those students
    do not hold yet, are not free."""
    waiting = waiting_pins(
        session, rnd, run, student, Pin.slot_id == slot.id, Assignment.slot_id == slot.id
    )
    if waiting and seats.in_slot + len(waiting) >= seats.slot_capacity:
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
    if waiting and seats.in_opp + len(waiting) >= seats.opp_capacity:
        raise MoveRefused(
            "H9",
            f"H9: the free places of opportunity {opportunity.external_id} are held for"
            f" pinned students {', '.join(waiting)}",
        )


def pick_workplace_mentor(
    session: Session,
    rnd: Round,
    run: SolveRun,
    student: Student,
    candidates: Sequence[Mentor],
    current: Assignment | None,
    who: str,
) -> Mentor | None:
    """H8 under lock: a candidate with a free place (the student's current mentor first, else
    the first by external id); H9 for the others: places that other students' pins name, and
    that those students do not hold yet, are not free. None without candidates."""
    if not candidates:
        return None
    loads = mentor_loads(session, run, student, (m.id for m in candidates))
    held_for = waiting_mentor_pins(session, rnd, run, student, loads.keys())
    free = [m for m in candidates if loads[m.id] + len(held_for[m.id]) < m.capacity]
    if current is not None and current.mentor_id in {m.id for m in free}:
        return next(m for m in free if m.id == current.mentor_id)
    if free:
        return free[0]
    if any(loads[m.id] < m.capacity for m in candidates):
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
    full = ", ".join(f"{m.external_id} {loads[m.id]}/{m.capacity}" for m in candidates)
    raise MoveRefused("H8", f"H8: {who}: every workplace mentor that fits is full ({full})")
