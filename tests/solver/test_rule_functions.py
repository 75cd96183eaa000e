"""The one-pair rule functions of `solver.rules`: each on its own (feasible, violated, the edge
allowed), and each vectorised rule of `solver.eligibility` equal to its one-pair function on
many pairs of random and generated rounds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterator

import numpy as np
import pytest

from scheduler.generate import generate_round
from solver import load_problem
from solver import rules as R
from solver.eligibility import (
    _Estimates,
    child_labour_hours,
    commute,
    compute_eligibility,
    forbidden_pair,
    grade_too_low,
    hazardous_minor,
    missing_credential,
    not_accepted,
    over_weekly_hours,
    pair_trip,
    schedule_conflict,
    student_overrides,
    too_young,
)
from solver.instance import Instance
from solver.pins import pin_restrictions
from solver.problem import (
    MODES,
    Block,
    Forbidden,
    Location,
    Mentor,
    Opportunity,
    Pin,
    Slot,
    Student,
)
from solver.travel import UNREACHABLE
from tests.solver.random_rounds import random_round, with_travel_groups

# --- factories --------------------------------------------------------------------------------


def _student(**overrides: object) -> Student:
    base = Student(id="st1", name="Student", birth_date=dt.date(2010, 1, 1))
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def _slot(*blocks: Block, capacity: int = 1) -> Slot:
    return Slot(id="sl1", capacity=capacity, blocks=blocks)


def _opp(**overrides: object) -> Opportunity:
    base = Opportunity(
        id="o1",
        employer="e1",
        title="Opportunity",
        kind="internship",
        cluster="health",
        location=Location(lat=41.9, lon=-87.6),
        slots=(_slot(Block(day=0, start=16 * 60, end=18 * 60)),),
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def _weekly(day: int, start: str, end: str) -> Block:
    h1, m1 = start.split(":")
    h2, m2 = end.split(":")
    return Block(day=day, start=int(h1) * 60 + int(m1), end=int(h2) * 60 + int(m2))


# --- each rule on its own ------------------------------------------------------------------------


def test_h2_opportunity_capacity_is_its_own_or_the_sum_of_its_slots() -> None:
    """H2: an opportunity without a capacity holds the sum of its slots; with one, that."""
    opp = _opp(slots=(_slot(capacity=2), _slot(capacity=3)))
    assert R.opportunity_capacity(opp) == 5
    assert R.opportunity_capacity(dataclasses.replace(opp, capacity=1)) == 1
    assert R.opportunity_capacity(dataclasses.replace(opp, capacity=0)) == 0
    assert R.slot_capacity(_slot(capacity=4)) == 4


def test_h3_cluster_match_preference_or_open_student() -> None:
    """H3 cluster: in the student's clusters, or ranked, or the student names none."""
    opp = _opp(cluster="it")
    assert not R.eligible_by_cluster(_student(clusters=("health",)), opp)
    assert R.eligible_by_cluster(_student(clusters=("health", "it")), opp)
    assert R.eligible_by_cluster(_student(clusters=("health",), preferences=("o1",)), opp)
    assert R.eligible_by_cluster(_student(), opp)


def test_h3_age_rules_and_the_student_learner_exemption() -> None:
    """H3 age: min_age, 14 except job shadows; hazardous from 18, or 16 as a learner."""
    assert not R.old_enough(13, _opp())
    assert R.old_enough(13, _opp(kind="job_shadow"))
    assert R.old_enough(14, _opp())
    assert not R.old_enough(15, _opp(min_age=16))
    assert R.old_enough(16, _opp(min_age=16))
    assert R.hazardous_ok(15, _opp())
    assert not R.hazardous_ok(17, _opp(hazardous=True))
    assert R.hazardous_ok(18, _opp(hazardous=True))
    assert R.hazardous_ok(16, _opp(hazardous=True, kind="apprenticeship"))
    assert R.hazardous_ok(16, _opp(hazardous=True, kind="co_op"))
    assert not R.hazardous_ok(15, _opp(hazardous=True, kind="co_op"))


def test_h3_grade_credentials_accepts_forbidden() -> None:
    """H3: grade (none fails any min_grade), credentials, accepts and forbidden pairs."""
    assert R.grade_ok(_student(grade=None), _opp())
    assert not R.grade_ok(_student(grade=None), _opp(min_grade=9))
    assert R.grade_ok(_student(grade=11), _opp(min_grade=11))
    assert not R.grade_ok(_student(grade=10), _opp(min_grade=11))
    needs = _opp(required_credentials=("cpr", "osha10"))
    assert not R.has_credentials(_student(credentials=("cpr",)), needs)
    assert R.has_credentials(_student(credentials=("osha10", "cpr", "x")), needs)
    assert R.accepted(_student(), _opp())
    assert not R.accepted(_student(), _opp(accepts=()))
    assert R.accepted(_student(), _opp(accepts=("st1",)))
    ban = [Forbidden(student="st1", opportunity="o1")]
    assert not R.not_forbidden(_student(), _opp(), ban)
    assert R.not_forbidden(_student(id="st2"), _opp(), ban)


def test_h4_commute_limit_is_inclusive() -> None:
    """H4: a trip of exactly max_commute_minutes is allowed, one minute more is not."""
    st = _student(max_commute_minutes=45)
    assert R.commute_within_limit(st, 45)
    assert not R.commute_within_limit(st, 46)


def test_h5_schedule_with_travel_buffer_and_excused_dates() -> None:
    """H5: a busy block within the trip of a shift conflicts; touching does not; dated blocks
    are excused."""
    st = _student(busy=(_weekly(0, "08:00", "15:00"),))
    shift = _slot(_weekly(0, "15:30", "18:00"))
    assert R.schedule_clear(st, shift, 30)
    assert not R.schedule_clear(st, shift, 31)
    assert R.schedule_clear(st, _slot(_weekly(1, "09:00", "12:00")), 0)
    dated = _slot(Block(date=dt.date(2026, 9, 14), start=9 * 60, end=12 * 60))  # a Monday
    assert R.schedule_clear(st, dated, 0)


def test_h6_weekly_hours_count_the_busiest_dated_week() -> None:
    """H6: weekly blocks plus the dated week with the most hours, against the limit."""
    slot = _slot(
        _weekly(5, "09:00", "12:00"),
        Block(date=dt.date(2026, 9, 14), start=9 * 60, end=11 * 60),
        Block(date=dt.date(2026, 9, 15), start=9 * 60, end=11 * 60),
        Block(date=dt.date(2026, 9, 22), start=9 * 60, end=12 * 60),
    )
    assert R.slot_weekly_minutes(slot) == 7 * 60
    assert R.weekly_hours_within(_student(max_weekly_hours=7), slot)
    assert not R.weekly_hours_within(_student(max_weekly_hours=6.9), slot)
    assert R.weekly_hours_within(_student(), slot)
    # 4.1 h is 245.99999999999997 minutes in floats: rounded, as the checker does.
    assert R.weekly_hours_within(
        _student(max_weekly_hours=4.1), _slot(Block(day=0, start=0, end=246))
    )


def test_h7_child_labour_window_day_and_week() -> None:
    """H7: under 16 (not job shadows): 07:00-19:00, 3 h a weekday, 18 h a week in term."""
    late = _slot(_weekly(0, "16:00", "19:01"))
    assert not R.child_labour_ok(15, _opp(), late, summer=False)
    assert R.child_labour_ok(15, _opp(), _slot(_weekly(0, "16:00", "19:00")), summer=False)
    assert R.child_labour_ok(16, _opp(), late, summer=False)
    assert R.child_labour_ok(15, _opp(kind="job_shadow"), late, summer=False)
    assert not R.child_labour_ok(15, _opp(), _slot(_weekly(0, "12:00", "15:01")), summer=False)
    assert R.child_labour_ok(15, _opp(), _slot(_weekly(0, "12:00", "15:01")), summer=True)
    saturday = _slot(_weekly(5, "07:00", "19:00"))  # 12 h on a Saturday: no weekday limit
    assert R.child_labour_ok(15, _opp(), saturday, summer=False)
    week = _slot(*(_weekly(d, "15:00", "18:00") for d in range(5)), _weekly(5, "09:00", "13:00"))
    assert not R.child_labour_ok(15, _opp(), week, summer=False)  # 19 h
    assert R.child_labour_ok(15, _opp(), week, summer=True)
    dated = _slot(
        _weekly(0, "16:00", "18:00"), Block(date=dt.date(2026, 9, 14), start=960, end=1050)
    )
    assert R.slot_max_weekday_minutes(dated) == 210  # the date counts its weekday's shift too
    assert not R.child_labour_ok(15, _opp(), dated, summer=False)


def test_h8_workplace_mentors_serve_their_employer_and_cluster() -> None:
    """H8: same employer, and clusters holding the opportunity's (or empty)."""
    opp = _opp(cluster="it")
    same = Mentor(id="m1", name="M", employer="e1", clusters=("it",), capacity=1)
    open_ = Mentor(id="m2", name="M", employer="e1", capacity=1)
    other_cluster = Mentor(id="m3", name="M", employer="e1", clusters=("health",), capacity=1)
    other_employer = Mentor(id="m4", name="M", employer="e2", capacity=1)
    community = Mentor(id="m5", name="M", capacity=1)
    mentors = (same, open_, other_cluster, other_employer, community)
    assert R.workplace_mentors_for(opp, mentors) == (same, open_)
    assert not R.workplace_mentor_serves(community, opp)


def test_h8_community_clusters_meet() -> None:
    """H8: either side empty, or a cluster in common."""
    m = Mentor(id="m", name="M", clusters=("it",), capacity=1)
    assert R.community_mentor_matches(_student(clusters=("it", "health")), m)
    assert not R.community_mentor_matches(_student(clusters=("health",)), m)
    assert R.community_mentor_matches(_student(), m)
    assert R.community_mentor_matches(
        _student(clusters=("health",)), dataclasses.replace(m, clusters=())
    )


def test_h8_meeting_fits_grid_availability_busy_and_shift() -> None:
    """H8: on the 15-minute grid, inside the mentor's hours, off busy blocks and the shift."""
    mentor = Mentor(id="m", name="M", capacity=1, available=(_weekly(0, "17:10", "19:00"),))
    st = _student(busy=(_weekly(0, "17:15", "17:45"),))
    shift = _slot(_weekly(0, "18:15", "19:00"))
    assert R.meeting_times(mentor, st, shift, 30) == [17 * 60 + 45]
    assert R.meeting_fits(mentor, st, shift, day=0, start=17 * 60 + 45, length=30)
    assert not R.meeting_fits(mentor, st, shift, day=0, start=17 * 60 + 50, length=30)  # grid
    assert not R.meeting_fits(mentor, st, None, day=0, start=17 * 60, length=30)  # before hours
    assert not R.meeting_fits(mentor, st, shift, day=0, start=18 * 60, length=30)  # the shift
    assert R.meeting_fits(mentor, st, None, day=0, start=18 * 60 + 30, length=30)
    assert not R.meeting_fits(mentor, st, None, day=1, start=18 * 60, length=30)  # other day
    assert R.meeting_avoids(shift.blocks, start=18 * 60 - 30, length=30)  # touching is fine
    assert not R.meeting_avoids(shift.blocks, start=18 * 60, length=30)
    assert R.meetings_apart(600, 630, 30)  # back to back
    assert R.meetings_apart(630, 600, 30)
    assert not R.meetings_apart(600, 615, 30)
    assert not R.meetings_apart(615, 600, 30)
    assert list(R.meeting_grid(17 * 60 + 10, 19 * 60, 30)) == list(
        range(1035, 1111, 15)
    )  # last: 18:30


def test_h9_pin_allows_its_place_only() -> None:
    """H9: the pinned opportunity, and the pinned slot when named."""
    assert R.pin_allows(Pin(student="s", opportunity="o"), "o", "any")
    assert not R.pin_allows(Pin(student="s", opportunity="o"), "p", "any")
    assert R.pin_allows(Pin(student="s", opportunity="o", slot="a"), "o", "a")
    assert not R.pin_allows(Pin(student="s", opportunity="o", slot="a"), "o", "b")


# --- the vectorised rules equal the one-pair functions ---------------------------------------


def _rounds() -> Iterator[tuple[str, dict]]:
    for seed in range(80):
        doc = random_round(seed)
        yield f"random-{seed}", with_travel_groups(doc, seed) if seed % 3 == 0 else doc
    for seed, summer in ((1, False), (2, True), (3, False)):
        yield f"generated-{seed}-{summer}", generate_round(250, seed=seed, summer=summer)


ROUNDS = list(_rounds())


def _pairs(inst: Instance, rng: random.Random, limit: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """All (student, opportunity) pairs of a small round, a random sample of a big one."""
    total = inst.n_students * inst.n_opps
    if total <= limit:
        keys = np.arange(total, dtype=np.int64)
    else:
        keys = np.array(sorted(rng.sample(range(total), limit)), dtype=np.int64)
    s, o = np.divmod(keys, inst.n_opps)
    return s.astype(np.int64), o.astype(np.int64)


@pytest.mark.parametrize(("name", "doc"), ROUNDS, ids=[name for name, _ in ROUNDS])
def test_vectorised_rules_equal_one_pair_functions(name: str, doc: dict) -> None:
    """H2-H7: every vectorised rule decides each pair as its `solver.rules` function does."""
    inst = Instance(load_problem(doc))
    p = inst.problem
    rng = random.Random(name)
    s, o = _pairs(inst, rng)
    ages = inst.age[s]
    students = [p.students[int(i)] for i in s]
    opps = [p.opportunities[int(j)] for j in o]
    one_pair = {
        too_young: [not R.old_enough(int(a), op) for a, op in zip(ages, opps, strict=True)],
        grade_too_low: [not R.grade_ok(st, op) for st, op in zip(students, opps, strict=True)],
        missing_credential: [
            not R.has_credentials(st, op) for st, op in zip(students, opps, strict=True)
        ],
        not_accepted: [not R.accepted(st, op) for st, op in zip(students, opps, strict=True)],
        hazardous_minor: [not R.hazardous_ok(int(a), op) for a, op in zip(ages, opps, strict=True)],
        forbidden_pair: [
            not R.not_forbidden(st, op, p.forbidden) for st, op in zip(students, opps, strict=True)
        ],
    }
    for rule, expected in one_pair.items():
        assert rule(inst, s, o).tolist() == expected, rule.__name__

    # H4: the pass's fastest mode and minutes are `trip`'s, and the limit is the same test.
    minutes, mode = commute(inst, _Estimates(inst), student_overrides(inst), s, o)
    for k in range(s.size):
        best = pair_trip(inst, int(s[k]), int(o[k]))
        if best is None:
            assert minutes[k] == UNREACHABLE
            continue
        assert (MODES[int(mode[k])], int(minutes[k])) == best
        assert (minutes[k] > inst.max_commute[s[k]]) == (
            not R.commute_within_limit(students[k], best[1])
        )

    # H5-H7 on (student, slot) pairs, with trips of every length that matters.
    slots = np.array([rng.randrange(inst.n_slots) for _ in range(s.size)], dtype=np.int64)
    t = np.array([rng.choice((0, 5, 15, 30, 45, 90)) for _ in range(s.size)], dtype=np.int64)
    slot_objs = [inst.slots[int(x)] for x in slots]
    slot_opps = [inst.opp(int(x)) for x in slots]
    summer = p.round.summer
    assert schedule_conflict(inst, s, slots, t).tolist() == [
        not R.schedule_clear(st, sl, int(m))
        for st, sl, m in zip(students, slot_objs, t, strict=True)
    ]
    assert over_weekly_hours(inst, s, slots).tolist() == [
        not R.weekly_hours_within(st, sl) for st, sl in zip(students, slot_objs, strict=True)
    ]
    assert child_labour_hours(inst, s, slots).tolist() == [
        not R.child_labour_ok(int(a), op, sl, summer)
        for a, op, sl in zip(ages, slot_opps, slot_objs, strict=True)
    ]


@pytest.mark.parametrize(("name", "doc"), ROUNDS, ids=[name for name, _ in ROUNDS])
def test_instance_capacities_and_mentors_are_the_rules(name: str, doc: dict) -> None:
    """H2 and H8: the instance's capacities and workplace mentors are the rule functions'."""
    inst = Instance(load_problem(doc))
    p = inst.problem
    assert inst.opp_capacity.tolist() == [R.opportunity_capacity(op) for op in p.opportunities]
    assert inst.slot_capacity.tolist() == [R.slot_capacity(sl) for sl in inst.slots]
    for o, op in enumerate(p.opportunities):
        expected = R.workplace_mentors_for(op, p.mentors) if op.requires_mentor else ()
        assert [p.mentors[m] for m in inst.workplace_mentors[o]] == list(expected)


@pytest.mark.parametrize("seed", range(120))
def test_pin_restrictions_keep_exactly_the_pairs_pins_allow(seed: int) -> None:
    """H9: the pairs a pinned student keeps before the flow are those `pin_allows` accepts."""
    inst = Instance(load_problem(random_round(seed, pins=True)))
    p = inst.problem
    elig = compute_eligibility(inst)
    allowed, pinned, _, _, broken = pin_restrictions(inst, elig)
    by_student = {inst.student_ix[pin.student]: pin for pin in p.pins}
    assert sorted(pinned) == sorted(by_student)
    for k in range(elig.size):
        s, sl = int(elig.student[k]), int(elig.slot[k])
        pin = by_student.get(s)
        if pin is None:
            assert allowed[k]
        elif pin.mentor is None:
            assert bool(allowed[k]) == R.pin_allows(pin, inst.opp(sl).id, inst.slots[sl].id)
    for pin in p.pins:
        s = inst.student_ix[pin.student]
        places = [
            k
            for k in range(elig.size)
            if elig.student[k] == s
            and R.pin_allows(pin, inst.opp(int(elig.slot[k])).id, inst.slots[int(elig.slot[k])].id)
        ]
        assert bool(places) or broken, "a pin without an allowed place is reported broken"
