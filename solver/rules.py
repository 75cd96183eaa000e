"""The hard rules H1-H9 of the spec, one public function per rule or sub-rule, on one pair.

Every other place that decides a rule for one student calls these: the one-pair refusal check
(`solver.eligibility.refusal_codes`, which manual moves and pins use), the pins, the mentoring
model, the round generator. The vectorised eligibility pass (`solver.eligibility`) decides the
same rules on blocks of pairs for speed; a test keeps each vectorised rule equal to its function
here. The independent checker (`solver.check`) is the one deliberate second copy, written from
the spec.

Where each rule is decided:

- H1 one placement: the flow's structure (`solver.flow`, one unit per student) and CP-SAT's
  exactly-one per student (`solver.mentoring`).
- H2 capacity: `slot_capacity`, `opportunity_capacity`.
- H3 eligibility: `eligible_by_cluster`, `old_enough`, `grade_ok`, `has_credentials`,
  `accepted`, `hazardous_ok`, `not_forbidden`.
- H4 commute: `solver.travel.trip` (the fastest usable mode and its minutes),
  `commute_within_limit`; where trips are measured by day type and time (`trips`),
  `solver.travel.slot_trip` and `slot_commute_refusals` per slot.
- H5 schedule: `schedule_clear`.
- H6 hours: `weekly_hours_within` (hours by `slot_weekly_minutes`, `max_weekly_minutes`).
- H7 child labour: `child_labour_ok` (by `minor_hours_ok`, `child_labour_limits`,
  `slot_max_weekday_minutes`).
- H8 mentors: `workplace_mentor_serves`, `workplace_mentors_for`, `community_mentor_matches`,
  `meeting_fits`, `meeting_times`, `meeting_avoids`, `meetings_apart` (on `meeting_starts`,
  `meeting_grid`, `week_intervals`); capacity is the mentor's `capacity`.
- H9 pins: `pin_allows` (a placement where the pin says); the whole set of pins in
  `solver.pins`.

`opportunity_refusals` (H3-H4) and `slot_refusals` (H5-H7) put the rules together into the
spec's reason codes for one pair. Ages are whole years on the round's start (`age_of`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence

from solver.problem import Block, Forbidden, Mentor, Opportunity, Pin, Round, Slot, Student, age_on
from solver.travel import SlotTrip

# Minutes in a day; meetings are placed in minutes since Monday 00:00.
DAY = 24 * 60
# H8: community meetings start on a 15-minute grid (:00, :15, :30, :45).
GRID = 15

# H3: nobody under 14 works (job shadowing aside); hazardous work waits for 18, or for 16 in a
# student-learner kind (US FLSA student-learner exemption).
WORKING_AGE = 14
LEARNER_AGE = 16
ADULT_AGE = 18
LEARNER_KINDS: frozenset[str] = frozenset({"apprenticeship", "co_op"})
# H7: US FLSA limits for workers under 16, in every kind but job shadowing.
CHILD_LABOUR_AGE = 16
CHILD_LABOUR_EXEMPT_KINDS: frozenset[str] = frozenset({"job_shadow"})


def age_of(student: Student, round_: Round) -> int:
    """Age in full years on the round's start date (the age every age rule reads)."""
    return age_on(student.birth_date, round_.start_date)


# --- H2 capacity ---------------------------------------------------------------------------------


def slot_capacity(slot: Slot) -> int:
    """H2: the most students the slot holds."""
    return slot.capacity


def opportunity_capacity(opp: Opportunity) -> int:
    """H2: the most students the opportunity holds over its slots: its own `capacity`, or the
    sum of its slots' when it has none (then only the slots limit it)."""
    if opp.capacity is not None:
        return opp.capacity
    return sum(slot_capacity(sl) for sl in opp.slots)


# --- H3 eligibility -------------------------------------------------------------------------------


def eligible_by_cluster(student: Student, opp: Opportunity) -> bool:
    """H3: the opportunity's cluster is one of the student's, the student names no cluster, or
    the student ranked the opportunity (refused as `no_cluster_match`)."""
    return not student.clusters or opp.cluster in student.clusters or opp.id in student.preferences


def old_enough(age: int, opp: Opportunity) -> bool:
    """H3: at least the opportunity's `min_age`, and at least 14 unless it is a job shadow
    (refused as `too_young`)."""
    return age >= (opp.min_age or 0) and (age >= WORKING_AGE or opp.kind == "job_shadow")


def grade_ok(student: Student, opp: Opportunity) -> bool:
    """H3: grade at least `min_grade`; a student without a grade fails any `min_grade`
    (refused as `grade`)."""
    if opp.min_grade is None:
        return True
    return student.grade is not None and student.grade >= opp.min_grade


def has_credentials(student: Student, opp: Opportunity) -> bool:
    """H3: the student holds every credential the opportunity requires (refused as
    `missing_credential`)."""
    return all(c in student.credentials for c in opp.required_credentials)


def accepted(student: Student, opp: Opportunity) -> bool:
    """H3: `accepts` is absent or null, or names the student (refused as `not_accepted`)."""
    return opp.accepts is None or student.id in opp.accepts


def hazardous_ok(age: int, opp: Opportunity) -> bool:
    """H3: hazardous work only from 18, or from 16 in an apprenticeship or co-op (the
    student-learner exemption; refused as `hazardous_minor`)."""
    if not opp.hazardous or age >= ADULT_AGE:
        return True
    return opp.kind in LEARNER_KINDS and age >= LEARNER_AGE


def not_forbidden(student: Student, opp: Opportunity, forbidden: Collection[Forbidden]) -> bool:
    """H3/H9: the coordinator did not forbid the pair (refused as `forbidden`). A set makes
    the test constant-time; any collection of `Forbidden` entries works."""
    return Forbidden(student=student.id, opportunity=opp.id) not in forbidden


# --- H4 commute -------------------------------------------------------------------------------


def commute_within_limit(student: Student, minutes: int) -> bool:
    """H4: the trip (by the fastest usable mode, `solver.travel.trip`) takes at most the
    student's `max_commute_minutes` (refused as `commute_too_long`; no usable mode at all is
    `no_transport_mode`)."""
    return minutes <= student.max_commute_minutes


# --- H5-H7 on a slot ------------------------------------------------------------------------


def schedule_clear(
    student: Student,
    slot: Slot,
    minutes: int,
    legs: Sequence[tuple[int, int]] | None = None,
) -> bool:
    """H5: no weekly block of the slot, widened by the trip there before it and the trip back
    after it, overlaps a busy block of the student on the same weekday. The trips take
    `minutes` each, or, given `legs` ((there, back) per block of the slot, in its order: the
    slot's `solver.travel.SlotTrip`), each block its own: with a trip there measured as the
    latest that arrives on time, a busy block ending after that trip leaves (classes out too
    late to catch it) is a conflict. Dated blocks are excused absences: busy blocks do not
    apply to them (refused as `schedule_conflict`)."""
    return not any(
        b.start - there < c.end and c.start < b.end + back
        for b, (there, back) in zip(
            slot.blocks,
            legs if legs is not None else [(minutes, minutes)] * len(slot.blocks),
            strict=True,
        )
        if b.day is not None
        for c in student.busy
        if c.weekday == b.day
    )


def slot_weekly_minutes(slot: Slot) -> int:
    """The slot's weekly time: its weekly blocks plus the dated blocks of the calendar week
    (Monday to Sunday) that has the most of them."""
    weekly = sum(b.minutes for b in slot.blocks if b.day is not None)
    per_week: dict[tuple[int, int], int] = defaultdict(int)
    for b in slot.blocks:
        if b.date is not None:
            per_week[b.date.isocalendar()[:2]] += b.minutes
    return weekly + max(per_week.values(), default=0)


def max_weekly_minutes(student: Student) -> float:
    """The student's weekly limit in minutes (infinite without one), rounded as the checker
    does: 4.1 h * 60 is 245.99999999999997 in floats."""
    if student.max_weekly_hours is None:
        return float("inf")
    return round(student.max_weekly_hours * 60, 6)


def weekly_hours_within(student: Student, slot: Slot) -> bool:
    """H6: the slot's weekly hours are within the student's `max_weekly_hours`, when the
    student has one (refused as `over_weekly_hours`)."""
    return slot_weekly_minutes(slot) <= max_weekly_minutes(student)


def slot_max_weekday_minutes(slot: Slot) -> int:
    """The most minutes the slot takes on any Monday-Friday day, weekly or dated (a date
    counts its weekday's weekly blocks too)."""
    by_weekday = [0] * 7
    for b in slot.blocks:
        if b.day is not None:
            by_weekday[b.day] += b.minutes
    most = max(by_weekday[:5])
    by_date: dict[dt.date, int] = defaultdict(int)
    for b in slot.blocks:
        if b.date is not None and b.date.weekday() < 5:
            by_date[b.date] += b.minutes
    for date, minutes in by_date.items():
        most = max(most, minutes + by_weekday[date.weekday()])
    return most


def child_labour_limits(summer: bool) -> tuple[int, int, int, int]:
    """H7 (US FLSA, under 16): earliest start, latest end, most minutes on a weekday and most
    minutes in a week; summer rounds allow later evenings and longer days."""
    if summer:
        return 7 * 60, 21 * 60, 8 * 60, 40 * 60
    return 7 * 60, 19 * 60, 3 * 60, 18 * 60


def minor_hours_ok(slot: Slot, summer: bool) -> bool:
    """H7 for a worker under 16: every block within the window, the weekday and the weekly
    hours within the limits (what the slot alone decides)."""
    earliest, latest, per_day, per_week = child_labour_limits(summer)
    if any(b.start < earliest or b.end > latest for b in slot.blocks):
        return False
    if slot_max_weekday_minutes(slot) > per_day:
        return False
    return slot_weekly_minutes(slot) <= per_week


def child_labour_ok(age: int, opp: Opportunity, slot: Slot, summer: bool) -> bool:
    """H7: 16 and over, or a job shadow, or a slot within the under-16 limits (refused as
    `child_labour_hours`)."""
    return (
        age >= CHILD_LABOUR_AGE
        or opp.kind in CHILD_LABOUR_EXEMPT_KINDS
        or minor_hours_ok(slot, summer)
    )


# --- H3-H7 together: the reason codes of one pair -------------------------------------------------


def opportunity_refusals(
    student: Student,
    opp: Opportunity,
    *,
    age: int,
    trip: tuple[str, int] | None,
    forbidden: Collection[Forbidden] = (),
) -> list[str]:
    """The reason codes of every H3-H4 rule the pair breaks, in the spec's order ([] when the
    opportunity as such is open to the student). `trip` is `solver.travel.trip`'s answer."""
    codes: list[str] = []
    if not eligible_by_cluster(student, opp):
        codes.append("no_cluster_match")
    checks = (
        ("too_young", old_enough(age, opp)),
        ("grade", grade_ok(student, opp)),
        ("missing_credential", has_credentials(student, opp)),
        ("not_accepted", accepted(student, opp)),
        ("hazardous_minor", hazardous_ok(age, opp)),
        ("forbidden", not_forbidden(student, opp, forbidden)),
    )
    codes += [code for code, ok in checks if not ok]
    if trip is None:
        codes.append("no_transport_mode")
    elif not commute_within_limit(student, trip[1]):
        codes.append("commute_too_long")
    return codes


def slot_commute_refusals(student: Student, trip: SlotTrip | None) -> list[str]:
    """H4 on one slot, where trips are measured by day type and time: the slot's trip
    (`solver.travel.slot_trip`: both ways for every block) exists and is within the limit
    (refused as `no_transport_mode`, `commute_too_long`). Without such measurements a slot's
    trip is the opportunity's, which `opportunity_refusals` judged already."""
    if trip is None:
        return ["no_transport_mode"]
    return [] if commute_within_limit(student, trip.minutes) else ["commute_too_long"]


def slot_refusals(
    student: Student,
    opp: Opportunity,
    slot: Slot,
    *,
    age: int,
    minutes: int,
    summer: bool,
    legs: Sequence[tuple[int, int]] | None = None,
) -> list[str]:
    """The reason codes of every H5-H7 rule the slot breaks for the student, whose trip there
    and back takes `minutes` (or, per block, `legs`: see `schedule_clear`) ([] when the slot
    is open to the student)."""
    checks = (
        ("schedule_conflict", schedule_clear(student, slot, minutes, legs)),
        ("over_weekly_hours", weekly_hours_within(student, slot)),
        ("child_labour_hours", child_labour_ok(age, opp, slot, summer)),
    )
    return [code for code, ok in checks if not ok]


# --- H8 mentors ---------------------------------------------------------------------------------


def workplace_mentor_serves(mentor: Mentor, opp: Opportunity) -> bool:
    """H8: a workplace mentor of the opportunity's employer whose clusters hold its cluster
    (or are empty) may be the mentor of its assignments."""
    return mentor.employer == opp.employer and (
        not mentor.clusters or opp.cluster in mentor.clusters
    )


def workplace_mentors_for(opp: Opportunity, mentors: Iterable[Mentor]) -> tuple[Mentor, ...]:
    """H8: the mentors among `mentors` who can serve the opportunity, in the order given."""
    return tuple(m for m in mentors if workplace_mentor_serves(m, opp))


def community_mentor_matches(student: Student, mentor: Mentor) -> bool:
    """H8: a community mentor's clusters meet the student's: either side open to every
    cluster (empty), or a cluster in common."""
    return (
        not student.clusters
        or not mentor.clusters
        or bool(set(student.clusters) & set(mentor.clusters))
    )


def week_intervals(blocks: Iterable[Block]) -> list[tuple[int, int]]:
    """Weekly blocks as minutes since Monday 00:00 (dated blocks are excused, so left out)."""
    return [
        (b.weekday * DAY + b.start, b.weekday * DAY + b.end) for b in blocks if b.day is not None
    ]


def meeting_grid(start: int, end: int, length: int) -> range:
    """H8: the starts on the 15-minute grid of a meeting of `length` minutes that fits
    within [start, end)."""
    return range(-(-start // GRID) * GRID, end - length + 1, GRID)


def meeting_starts(mentor: Mentor, busy: Sequence[tuple[int, int]], length: int) -> list[int]:
    """H8: grid starts (minutes since Monday 00:00) inside the mentor's availability that
    overlap nothing in `busy` (intervals as `week_intervals` gives them)."""
    return [
        start
        for a, b in week_intervals(mentor.available)
        for start in meeting_grid(a, b, length)
        if all(start + length <= c or d <= start for c, d in busy)
    ]


def meeting_times(mentor: Mentor, student: Student, slot: Slot | None, length: int) -> list[int]:
    """H8: every start (minutes since Monday 00:00) of a weekly meeting between the community
    mentor and the student that fits the mentor's hours, the student's busy blocks and the
    weekly blocks of the student's slot (None: unplaced). No travel buffer."""
    busy = week_intervals(student.busy)
    if slot is not None:
        busy += week_intervals(slot.blocks)
    return meeting_starts(mentor, busy, length)


def meeting_fits(
    mentor: Mentor, student: Student, slot: Slot | None, *, day: int, start: int, length: int
) -> bool:
    """H8: a weekly meeting on `day` (0 = Monday) from `start` (minutes after midnight) for
    `length` minutes starts on the grid, lies inside one of the mentor's available blocks and
    overlaps none of the student's busy blocks nor the weekly blocks of the slot."""
    return day * DAY + start in meeting_times(mentor, student, slot, length)


def meeting_avoids(blocks: Iterable[Block], *, start: int, length: int) -> bool:
    """H8: a meeting from `start` (minutes since Monday 00:00) for `length` minutes overlaps
    none of the weekly `blocks` (a slot's shifts, when a placed student's meeting is kept)."""
    end = start + length
    return all(end <= a or b <= start for a, b in week_intervals(blocks))


def meetings_apart(start: int, other: int, length: int) -> bool:
    """H8: two weekly meetings of one mentor, from `start` and `other` (minutes since Monday
    00:00), each `length` minutes long, do not overlap."""
    return start + length <= other or other + length <= start


# --- H9 pins ------------------------------------------------------------------------------------


def pin_allows(pin: Pin, opportunity: str, slot: str) -> bool:
    """H9: a placement in `opportunity` at `slot` (ids) is where the pin puts its student: the
    pinned opportunity, and the pinned slot when the pin names one."""
    return pin.opportunity == opportunity and (pin.slot is None or pin.slot == slot)
