"""The hard rules as a manual action checks them, one student at a time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import distinct, exists, func, or_, select
from sqlalchemy.orm import Session

from models import (
    Assignment,
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
from scheduler.actions.audit import employer_ext_of
from scheduler.actions.locks import lock_mentors
from scheduler.errors import ActionRefused, PinRefused
from scheduler.problems import student_problem
from solver.eligibility import pair_trip, refusal_codes
from solver.instance import Instance
from solver.mentoring import meeting_starts, week_intervals
from solver.problem import Mentor as SolverMentor
from solver.problem import Problem, parse_blocks, parse_time
from solver.problem import Student as PairStudent

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
    """One student and one opportunity as the solver sees them, in a problem of their own."""

    inst: Instance
    student: PairStudent
    trip: tuple[str, int] | None  # fastest usable mode and its minutes (H4)
    rank: int | None  # the student's preference rank of the opportunity

    def refusals(self, slot: Slot | None = None) -> list[str]:
        """Reason codes refusing the pair at `slot` (or at every slot): [] when allowed."""
        slot_ix = None if slot is None else self.inst.slot_ix[slot.external_id]
        return refusal_codes(self.inst, 0, 0, slot_ix)


def _pair_problem(
    session: Session, rnd: Round, student: Student, opportunity: Opportunity
) -> tuple[Problem, int | None]:
    """A `Problem` holding just the student, the opportunity (its slots, employer) and what
    ties the two (preference, accepts, travel overrides and the student's travel group's times,
    forbidden pair): everything the per-pair rules read. Also returns the preference rank."""
    rank = session.scalar(
        select(Preference.rank).where(
            Preference.student_id == student.id, Preference.opportunity_id == opportunity.id
        )
    )
    problem = student_problem(
        session, rnd, student, [opportunity], ranked={opportunity.id} if rank else set()
    )
    return problem, rank


def pair_of(session: Session, rnd: Round, student: Student, opportunity: Opportunity) -> Pair:
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


def _explain(code: str, pair: Pair, opportunity: Opportunity) -> str:
    """A coordinator's reading of one reason code, with the numbers that decided it."""
    st, inst = pair.student, pair.inst
    age = int(inst.age[0])
    if code == "no_cluster_match":
        return (
            f"cluster {opportunity.cluster} is not among the student's clusters"
            f" {sorted(st.clusters)} and the student did not rank the opportunity"
        )
    if code == "too_young":
        least = max(opportunity.min_age or 0, 0 if str(opportunity.kind) == "job_shadow" else 14)
        return f"age {age} is under {least}"
    if code == "grade":
        return f"grade {st.grade} is under min_grade {opportunity.min_grade}"
    if code == "missing_credential":
        missing = sorted(set(opportunity.required_credentials) - set(st.credentials))
        return f"missing credentials {missing}"
    if code == "not_accepted":
        return "the opportunity's accepts list does not name the student"
    if code == "hazardous_minor":
        return f"hazardous work at age {age} (exempt only from 16 in an apprenticeship or co-op)"
    if code == "forbidden":
        return "the pair is forbidden"
    if code == "no_transport_mode":
        return f"none of the student's travel modes {list(st.travel_modes)} can make the trip"
    if code == "commute_too_long" and pair.trip is not None:
        mode, minutes = pair.trip
        return f"{minutes} min by {mode}, over max_commute_minutes {st.max_commute_minutes:g}"
    if code == "schedule_conflict":
        return "a shift overlaps a busy block of the student once travel both ways is added"
    if code == "over_weekly_hours":
        return f"the slot's weekly hours exceed max_weekly_hours {st.max_weekly_hours:g}"
    if code == "child_labour_hours":
        return f"at age {age}, outside the hours allowed under 16 (FLSA)"
    if code == "capacity_taken":
        return "the opportunity has no slot"
    return code


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
    reasons = "; ".join(
        f"{RULE_OF_CODE[c]} {c} ({_explain(c, pair, opportunity)})" for c in ordered
    )
    message = f"{rule}: student {student.external_id} cannot take {where}: {reasons}"
    return error(rule, message, codes=ordered)


def _meeting_fits(rnd: Round, mentor: Mentor, student: Student, slot: Slot | None) -> bool:
    """A community mentor has a free weekly meeting with the student (H8), by the solver's own
    rule (`solver.mentoring.meeting_starts`): on the 15-minute grid, inside an available block,
    clear of the student's busy blocks and the slot's shifts."""
    available = SolverMentor(
        id=mentor.external_id,
        name=mentor.name,
        capacity=mentor.capacity,
        available=parse_blocks(mentor.available),
    )
    busy = week_intervals(parse_blocks([*student.busy, *(slot.blocks if slot else ())]))
    return bool(meeting_starts(available, busy, rnd.mentor_meeting_minutes))


def check_pin_mentor(
    session: Session,
    rnd: Round,
    student: Student,
    opportunity: Opportunity,
    slot: Slot | None,
    mentor: Mentor | None,
) -> None:
    """H8 for a pin on its own: the right kind of mentor, clusters, a place, a meeting time."""
    who = f"student {student.external_id} at opportunity {opportunity.external_id}"
    if opportunity.requires_mentor:
        if mentor is None:
            if not workplace_candidates(session, opportunity, usable=True):
                raise PinRefused(
                    "H8",
                    f"H8: {who}: the opportunity requires a mentor and employer"
                    f" {employer_ext_of(session, opportunity)} has no workplace mentor with a"
                    f" place for cluster {opportunity.cluster}",
                )
            return
        check_workplace_mentor(PinRefused, session, opportunity, mentor, who)
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
    if mentor.clusters and student.clusters and not set(mentor.clusters) & set(student.clusters):
        raise PinRefused(
            "H8",
            f"H8: {who}: community mentor {mentor.external_id}'s clusters"
            f" {sorted(mentor.clusters)} do not meet the student's {sorted(student.clusters)}",
        )
    if mentor.capacity < 1:
        raise PinRefused("H8", f"H8: {who}: mentor {mentor.external_id} has capacity 0")
    if not _meeting_fits(rnd, mentor, student, slot):
        raise PinRefused(
            "H8",
            f"H8: {who}: community mentor {mentor.external_id} has no free"
            f" {rnd.mentor_meeting_minutes}-minute meeting time with the student",
        )


def workplace_candidates(
    session: Session, opportunity: Opportunity, *, usable: bool = False
) -> list[Mentor]:
    """Workplace mentors able to serve the opportunity (H8: same employer, cluster held), by
    id; `usable` leaves out those with no place at all (capacity 0)."""
    mentors = session.scalars(
        select(Mentor)
        .where(Mentor.employer_id == opportunity.employer_id)
        .order_by(Mentor.external_id)
    )
    return [
        m
        for m in mentors
        if (not m.clusters or opportunity.cluster in m.clusters) and (m.capacity > 0 or not usable)
    ]


def check_workplace_mentor(
    error: type[ActionRefused],
    session: Session,
    opportunity: Opportunity,
    mentor: Mentor,
    who: str,
) -> None:
    if mentor.employer_id != opportunity.employer_id:
        raise error(
            "H8",
            f"H8: {who}: mentor {mentor.external_id} is not a workplace mentor of employer"
            f" {employer_ext_of(session, opportunity)}",
        )
    if mentor.clusters and opportunity.cluster not in mentor.clusters:
        raise error(
            "H8",
            f"H8: {who}: mentor {mentor.external_id}'s clusters {sorted(mentor.clusters)} do"
            f" not hold {opportunity.cluster}",
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


def overlaps_meeting(ms: Mentorship, slot: Slot) -> bool:
    """The community meeting overlaps a weekly shift of the slot (H8; no travel buffer)."""
    start, end = parse_time(ms.start_time), parse_time(ms.end_time)
    return any(
        b.get("day") == str(ms.day)
        and parse_time(b["start"]) < end
        and start < parse_time(b["end"])
        for b in slot.blocks
    )


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
