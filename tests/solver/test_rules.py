"""The solver rule by rule, on hand-made rounds of one to four students.

In the CP-SAT primer's order, for each hard constraint H1-H9 of the spec: a tiny case that is
feasible and placed, the same case pushed over the line is refused (the student is unplaced with
the rule's reason code, or placed elsewhere), and the edge itself is accepted. Then every reason
code with its count, each objective level against the next, the metrics, and the lottery.
Every solve goes through `solve_and_check`, so the independent checker sees every answer.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from solver.check import check_solution
from solver.problem import problem_from_dict
from solver.solution import SolveOptions
from solver.solve import solve
from tests.solver.factories import (
    AGE_13,
    AGE_14,
    AGE_15,
    AGE_16,
    AGE_17,
    AGE_18,
    FAR,
    NEAR,
    SCHOOL,
    dated,
    estimate,
    make_doc,
    mentor,
    mentorship,
    opportunity,
    placed_at,
    placement,
    reasons,
    slot,
    solve_and_check,
    student,
    weekly,
)

# Travel times from the school (41.88, -87.63), by the spec's formula (see `estimate`):
# NEAR is 0.005 degrees north, d = 6371.0088 * radians(0.005) = 0.555975 km:
#   walk ceil(60 * 1.3 * 0.555975 / 4.8) = ceil(9.0346) = 10
#   bike ceil(60 * 1.3 * 0.555975 / 14) = ceil(3.0976) = 4
#   car ceil(5 + 60 * 1.3 * 0.555975 / 35) = ceil(6.2390) = 7
#   transit ceil(10 + 60 * 1.3 * 0.555975 / 18) = ceil(12.4092) = 13
# FAR is 0.02 degrees north, d = 2.223902 km:
#   walk ceil(36.1384) = 37, bike ceil(12.3903) = 13, car ceil(9.9561) = 10,
#   transit ceil(19.6369) = 20
WALK_NEAR, BIKE_NEAR, CAR_NEAR, TRANSIT_NEAR = 10, 4, 7, 13
WALK_FAR, CAR_FAR = 37, 10


def assigned(sol: dict[str, Any], student_id: str) -> dict[str, Any]:
    """The student's assignment; fails if the student is unplaced."""
    a = placement(sol, student_id)
    assert a is not None, f"{student_id} is not placed"
    return a


def solve_one(stu: dict[str, Any], opp: dict[str, Any], **round_overrides: Any) -> dict[str, Any]:
    """One student, one opportunity."""
    return solve_and_check(make_doc([stu], [opp], **round_overrides))


def test_travel_constants_follow_the_spec_formula() -> None:
    """H4: the travel minutes these tests expect are the spec's estimate."""
    assert [estimate(SCHOOL, NEAR, m) for m in ("walk", "bike", "car", "transit")] == [
        WALK_NEAR,
        BIKE_NEAR,
        CAR_NEAR,
        TRANSIT_NEAR,
    ]
    assert [estimate(SCHOOL, FAR, m) for m in ("walk", "car")] == [WALK_FAR, CAR_FAR]


# --- H1: one placement per student --------------------------------------------------------------


def test_h1_student_holds_one_placement() -> None:
    """H1: a student with two open seats holds exactly one of them."""
    doc = make_doc([student(id="s1")], [opportunity(id="o1"), opportunity(id="o2")])
    sol = solve_and_check(doc)
    assert len(sol["assignments"]) == 1
    assert placed_at(sol, "s1") in {"o1", "o2"}
    assert sol["unplaced"] == []


def test_h1_default_case_is_placed_with_its_travel() -> None:
    """H1/H4: the default student walks to the default opportunity and is placed there."""
    sol = solve_one(student(id="s1"), opportunity(id="o1"))
    a = placement(sol, "s1")
    assert a is not None
    assert (a["opportunity"], a["travel_mode"], a["travel_minutes"]) == ("o1", "walk", WALK_NEAR)
    assert a.get("mentor") is None
    assert a.get("preference_rank") is None
    assert sol["status"] == "optimal"


# --- H2: capacities -------------------------------------------------------------------------------


def test_h2_slot_capacity_one_seat_for_two_students() -> None:
    """H2: a slot of capacity 1 holds one of two students; the other gets capacity_taken."""
    doc = make_doc([student(id="s1"), student(id="s2")], [opportunity(id="o1")])
    sol = solve_and_check(doc)
    assert len(sol["assignments"]) == 1
    winner = sol["assignments"][0]["student"]
    loser = "s2" if winner == "s1" else "s1"
    r = reasons(sol, loser)
    assert set(r) == {"capacity_taken"}
    assert winner in r["capacity_taken"]["detail"]


def test_h2_slot_capacity_edge_two_seats_two_students() -> None:
    """H2: a slot of capacity 2 holds both students."""
    opp = opportunity(id="o1", slots=[slot(id="a", capacity=2)])
    sol = solve_and_check(make_doc([student(id="s1"), student(id="s2")], [opp]))
    assert {a["student"] for a in sol["assignments"]} == {"s1", "s2"}
    assert {a["slot"] for a in sol["assignments"]} == {"a"}


def test_h2_opportunity_capacity_caps_its_slots() -> None:
    """H2: two slots of capacity 2 under an opportunity capacity of 3 place 3 of 4 students."""
    opp = opportunity(
        id="o1",
        capacity=3,
        slots=[
            slot(id="a", capacity=2, blocks=[weekly("tue", "15:00", "17:00")]),
            slot(id="b", capacity=2, blocks=[weekly("thu", "15:00", "17:00")]),
        ],
    )
    students = [student(id=f"s{i}") for i in range(1, 5)]
    sol = solve_and_check(make_doc(students, [opp]))
    assert len(sol["assignments"]) == 3
    per_slot = [a["slot"] for a in sol["assignments"]]
    assert sorted(per_slot.count(s) for s in ("a", "b")) == [1, 2]
    (loser,) = {f"s{i}" for i in range(1, 5)} - {a["student"] for a in sol["assignments"]}
    assert set(reasons(sol, loser)) == {"capacity_taken"}


def test_h2_opportunity_capacity_edge_exactly_full() -> None:
    """H2: an opportunity of capacity 3 over two 2-seat slots takes 3 students."""
    opp = opportunity(
        id="o1",
        capacity=3,
        slots=[
            slot(id="a", capacity=2, blocks=[weekly("tue", "15:00", "17:00")]),
            slot(id="b", capacity=2, blocks=[weekly("thu", "15:00", "17:00")]),
        ],
    )
    students = [student(id=f"s{i}") for i in range(1, 4)]
    sol = solve_and_check(make_doc(students, [opp]))
    assert len(sol["assignments"]) == 3


def test_h2_zero_capacity_slot_places_nobody() -> None:
    """H2: a slot of capacity 0 holds nobody."""
    opp = opportunity(id="o1", slots=[slot(capacity=0)])
    sol = solve_one(student(id="s1"), opp)
    assert sol["assignments"] == []
    assert reasons(sol, "s1")


# --- H3: eligibility ------------------------------------------------------------------------------


def test_h3_cluster_match_is_placed() -> None:
    """H3 cluster: a student in cluster HLTH takes an HLTH opportunity."""
    sol = solve_one(student(id="s1", clusters=["HLTH"]), opportunity(id="o1", cluster="HLTH"))
    assert placed_at(sol, "s1") == "o1"


def test_h3_cluster_mismatch_is_refused() -> None:
    """H3 cluster: an IT student is not placed at the only (HLTH) opportunity: no_opportunities."""
    sol = solve_one(student(id="s1", clusters=["IT"]), opportunity(id="o1", cluster="HLTH"))
    assert sol["assignments"] == []
    r = reasons(sol, "s1")
    assert "no_opportunities" in r
    assert r.get("no_cluster_match", {}).get("count", 1) == 1


def test_h3_cluster_mismatch_goes_to_the_matching_opportunity() -> None:
    """H3 cluster: an IT student skips the nearer HLTH opportunity for the IT one."""
    doc = make_doc(
        [student(id="s1", clusters=["IT"])],
        [
            opportunity(id="o1", cluster="HLTH", location=NEAR),
            opportunity(id="o2", cluster="IT", location=FAR),
        ],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "s1") == "o2"


def test_h3_preference_outside_cluster_is_allowed() -> None:
    """H3 cluster: a preference names an opportunity outside the student's clusters: allowed."""
    stu = student(id="s1", clusters=["IT"], preferences=["o1"])
    sol = solve_one(stu, opportunity(id="o1", cluster="HLTH"))
    a = placement(sol, "s1")
    assert a is not None
    assert (a["opportunity"], a["preference_rank"]) == ("o1", 1)


def test_h3_empty_clusters_are_open_to_all() -> None:
    """H3 cluster: a student without clusters may take any cluster."""
    sol = solve_one(student(id="s1", clusters=[]), opportunity(id="o1", cluster="ARCH"))
    assert placed_at(sol, "s1") == "o1"


@pytest.mark.parametrize(
    ("birth_date", "placed"),
    [
        ("2010-09-07", True),  # 16 since the day before the round starts
        ("2010-09-08", True),  # turns 16 on round.start_date: exactly the age
        ("2010-09-09", False),  # turns 16 the day after: 15 on start_date
        (AGE_15, False),
    ],
)
def test_h3_min_age_in_full_years_on_start_date(birth_date: str, placed: bool) -> None:
    """H3 min_age: age in full years on round.start_date must reach min_age (16)."""
    sol = solve_one(student(id="s1", birth_date=birth_date), opportunity(id="o1", min_age=16))
    if placed:
        assert placed_at(sol, "s1") == "o1"
    else:
        assert reasons(sol, "s1") == {"too_young": {"code": "too_young", "count": 1}}


@pytest.mark.parametrize(
    ("kind", "birth_date", "placed"),
    [
        ("internship", "2012-09-08", True),  # exactly 14 on start_date
        ("internship", "2012-09-09", False),  # 13 on start_date
        ("apprenticeship", AGE_13, False),
        ("co_op", AGE_13, False),
        ("pre_apprenticeship", AGE_13, False),
        ("job_shadow", "2012-09-09", True),  # job shadowing has no minimum age
        ("job_shadow", "2016-05-01", True),  # 10 years old
    ],
)
def test_h3_under_14_only_job_shadow(kind: str, birth_date: str, placed: bool) -> None:
    """H3: under 14, only job_shadow opportunities are allowed."""
    sol = solve_one(student(id="s1", birth_date=birth_date), opportunity(id="o1", kind=kind))
    if placed:
        assert placed_at(sol, "s1") == "o1"
    else:
        assert reasons(sol, "s1") == {"too_young": {"code": "too_young", "count": 1}}


@pytest.mark.parametrize(("grade", "placed"), [(12, True), (11, True), (10, False), (None, False)])
def test_h3_min_grade(grade: int | None, placed: bool) -> None:
    """H3 min_grade: grade >= min_grade (11); exactly 11 is fine; no grade fails."""
    stu = student(id="s1", grade=grade)
    if grade is None:
        del stu["grade"]
    sol = solve_one(stu, opportunity(id="o1", min_grade=11))
    if placed:
        assert placed_at(sol, "s1") == "o1"
    else:
        assert reasons(sol, "s1") == {"grade": {"code": "grade", "count": 1}}


@pytest.mark.parametrize(
    ("held", "required", "placed"),
    [
        (["osha10", "cpr"], ["osha10"], True),
        (["osha10", "cpr"], ["osha10", "cpr"], True),
        ([], [], True),
        (["cpr"], ["osha10"], False),
        (["osha10"], ["osha10", "cpr"], False),
        ([], ["osha10"], False),
    ],
)
def test_h3_credentials(held: list[str], required: list[str], placed: bool) -> None:
    """H3 credentials: the student holds every required credential."""
    sol = solve_one(
        student(id="s1", credentials=held), opportunity(id="o1", required_credentials=required)
    )
    if placed:
        assert placed_at(sol, "s1") == "o1"
    else:
        expected = {"missing_credential": {"code": "missing_credential", "count": 1}}
        assert reasons(sol, "s1") == expected


@pytest.mark.parametrize(
    ("accepts", "placed"),
    [("absent", True), (None, True), (["s1"], True), (["s1", "other"], True), (["other"], False)],
)
def test_h3_accepts(accepts: Any, placed: bool) -> None:
    """H3 accepts: absent or null lets anyone in; a list admits only the students it names."""
    opp = opportunity(id="o1")
    if accepts != "absent":
        opp["accepts"] = accepts
    # "other" exists only to be named; it cannot take o1 itself.
    other = student(id="other", clusters=["ZZZ"])
    sol = solve_and_check(make_doc([student(id="s1"), other], [opp]))
    if placed:
        assert placed_at(sol, "s1") == "o1"
    else:
        assert reasons(sol, "s1") == {"not_accepted": {"code": "not_accepted", "count": 1}}


def test_h3_forbidden_pair_is_refused() -> None:
    """H3/H9 forbidden: a forbidden pair is never assigned, even as the first preference."""
    stu = student(id="s1", preferences=["o1"])
    doc = make_doc(
        [stu], [opportunity(id="o1")], forbidden=[{"student": "s1", "opportunity": "o1"}]
    )
    sol = solve_and_check(doc)
    assert reasons(sol, "s1") == {"forbidden": {"code": "forbidden", "count": 1}}


def test_h3_forbidden_pair_goes_elsewhere() -> None:
    """H3 forbidden: the student is placed at the other, farther opportunity."""
    doc = make_doc(
        [student(id="s1", preferences=["o1"])],
        [opportunity(id="o1"), opportunity(id="o2", location=FAR)],
        forbidden=[{"student": "s1", "opportunity": "o1"}],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "s1") == "o2"


def test_h3_forbidden_only_that_student() -> None:
    """H3 forbidden: forbidding (s1, o1) leaves o1 open to s2."""
    doc = make_doc(
        [student(id="s1"), student(id="s2")],
        [opportunity(id="o1")],
        forbidden=[{"student": "s1", "opportunity": "o1"}],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "s2") == "o1"
    assert "forbidden" in reasons(sol, "s1")


@pytest.mark.parametrize(
    ("kind", "birth_date", "placed"),
    [
        ("apprenticeship", AGE_16, True),  # student-learner exemption
        ("apprenticeship", "2010-09-08", True),  # exactly 16 on start_date
        ("co_op", AGE_17, True),
        ("co_op", AGE_16, True),
        ("internship", AGE_18, True),  # adults may do hazardous work
        ("internship", "2008-09-08", True),  # exactly 18 on start_date
        ("internship", AGE_16, False),  # no exemption for internships
        ("internship", "2008-09-09", False),  # 17 on start_date
        ("pre_apprenticeship", AGE_17, False),
        ("job_shadow", AGE_17, False),
        ("apprenticeship", AGE_15, False),  # exemption starts at 16
        ("apprenticeship", "2010-09-09", False),  # 15 on start_date
    ],
)
def test_h3_hazardous_minor(kind: str, birth_date: str, placed: bool) -> None:
    """H3 hazardous: under 18 only 16-17-year-olds in apprenticeships or co-ops."""
    opp = opportunity(id="o1", kind=kind, hazardous=True)
    sol = solve_one(student(id="s1", birth_date=birth_date), opp)
    if placed:
        assert placed_at(sol, "s1") == "o1"
    else:
        assert reasons(sol, "s1") == {"hazardous_minor": {"code": "hazardous_minor", "count": 1}}


def test_h3_non_hazardous_apprenticeship_at_15_is_fine() -> None:
    """H3 hazardous: the exemption's age bar applies only to hazardous work."""
    sol = solve_one(
        student(id="s1", birth_date=AGE_15), opportunity(id="o1", kind="apprenticeship")
    )
    assert placed_at(sol, "s1") == "o1"


# --- H4: commute ----------------------------------------------------------------------------------


def test_h4_fastest_mode_is_the_assignments_mode() -> None:
    """H4: of walk (37 min) and car (10 min) to FAR, the car is the mode."""
    sol = solve_one(
        student(id="s1", travel_modes=["walk", "car"]), opportunity(id="o1", location=FAR)
    )
    a = placement(sol, "s1")
    assert a is not None
    assert (a["travel_mode"], a["travel_minutes"]) == ("car", CAR_FAR)


def test_h4_only_the_students_modes_count() -> None:
    """H4: a student who only walks walks, however long it takes (37 min to FAR)."""
    sol = solve_one(student(id="s1", travel_modes=["walk"]), opportunity(id="o1", location=FAR))
    a = placement(sol, "s1")
    assert a is not None
    assert (a["travel_mode"], a["travel_minutes"]) == ("walk", WALK_FAR)


def test_h4_bike_beats_walk_near() -> None:
    """H4: bike (4 min) beats walk (10 min) to NEAR."""
    sol = solve_one(student(id="s1", travel_modes=["walk", "bike"]), opportunity(id="o1"))
    a = placement(sol, "s1")
    assert a is not None
    assert (a["travel_mode"], a["travel_minutes"]) == ("bike", BIKE_NEAR)


@pytest.mark.parametrize(
    ("modes", "minutes", "expected"),
    [
        (["car", "walk"], {"walk": 12, "car": 12}, "walk"),
        (["car", "transit"], {"transit": 15, "car": 15}, "transit"),
        (["car", "bike"], {"bike": 15, "car": 15}, "bike"),
        (["transit", "bike", "walk"], {"walk": 20, "bike": 20, "transit": 20}, "walk"),
    ],
)
def test_h4_mode_ties_go_walk_bike_transit_car(
    modes: list[str], minutes: dict[str, int], expected: str
) -> None:
    """H4: equal times are broken in the order walk, bike, transit, car."""
    travel = [
        {"student": "s1", "opportunity": "o1", "mode": m, "minutes": t} for m, t in minutes.items()
    ]
    doc = make_doc([student(id="s1", travel_modes=modes)], [opportunity(id="o1")], travel=travel)
    a = placement(solve_and_check(doc), "s1")
    assert a is not None
    assert (a["travel_mode"], a["travel_minutes"]) == (expected, next(iter(minutes.values())))


def test_h4_transit_to_an_accessible_site() -> None:
    """H4 transit: transit reaches a transit-accessible site (13 min to NEAR)."""
    sol = solve_one(student(id="s1", travel_modes=["transit"]), opportunity(id="o1"))
    a = placement(sol, "s1")
    assert a is not None
    assert (a["travel_mode"], a["travel_minutes"]) == ("transit", TRANSIT_NEAR)


def test_h4_transit_needs_transit_accessible() -> None:
    """H4 transit: a site that is not transit_accessible refuses a transit-only student."""
    opp = opportunity(id="o1", transit_accessible=False)
    sol = solve_one(student(id="s1", travel_modes=["transit"]), opp)
    assert reasons(sol, "s1") == {"no_transport_mode": {"code": "no_transport_mode", "count": 1}}


def test_h4_transit_inaccessible_falls_back_to_another_mode() -> None:
    """H4 transit: at a non-accessible site a transit-or-walk student walks."""
    opp = opportunity(id="o1", transit_accessible=False)
    sol = solve_one(student(id="s1", travel_modes=["transit", "walk"]), opp)
    a = placement(sol, "s1")
    assert a is not None
    assert (a["travel_mode"], a["travel_minutes"]) == ("walk", WALK_NEAR)


def test_h4_override_enables_transit_at_a_non_accessible_site() -> None:
    """H4 override: a measured transit time wins over transit_accessible false."""
    doc = make_doc(
        [student(id="s1", travel_modes=["transit"])],
        [opportunity(id="o1", transit_accessible=False)],
        travel=[{"student": "s1", "opportunity": "o1", "mode": "transit", "minutes": 25}],
    )
    a = placement(solve_and_check(doc), "s1")
    assert a is not None
    assert (a["travel_mode"], a["travel_minutes"]) == ("transit", 25)


def test_h4_override_null_disables_the_mode() -> None:
    """H4 override: minutes null means the mode cannot make the trip."""
    doc = make_doc(
        [student(id="s1", travel_modes=["walk"])],
        [opportunity(id="o1")],
        travel=[{"student": "s1", "opportunity": "o1", "mode": "walk", "minutes": None}],
    )
    sol = solve_and_check(doc)
    assert reasons(sol, "s1") == {"no_transport_mode": {"code": "no_transport_mode", "count": 1}}


def test_h4_override_null_leaves_other_modes() -> None:
    """H4 override: with walking ruled out, the student drives (7 min to NEAR)."""
    doc = make_doc(
        [student(id="s1", travel_modes=["walk", "car"])],
        [opportunity(id="o1")],
        travel=[{"student": "s1", "opportunity": "o1", "mode": "walk", "minutes": None}],
    )
    a = placement(solve_and_check(doc), "s1")
    assert a is not None
    assert (a["travel_mode"], a["travel_minutes"]) == ("car", CAR_NEAR)


def test_h4_override_wins_over_a_shorter_estimate() -> None:
    """H4 override: a measured 45-minute walk replaces the 10-minute estimate."""
    doc = make_doc(
        [student(id="s1", travel_modes=["walk"])],
        [opportunity(id="o1")],
        travel=[{"student": "s1", "opportunity": "o1", "mode": "walk", "minutes": 45}],
    )
    a = placement(solve_and_check(doc), "s1")
    assert a is not None
    assert (a["travel_mode"], a["travel_minutes"]) == ("walk", 45)


def test_h4_override_applies_to_its_pair_only() -> None:
    """H4 override: an entry for (s1, o1) changes nothing for s2 or for o2."""
    doc = make_doc(
        [student(id="s1"), student(id="s2")],
        [opportunity(id="o1"), opportunity(id="o2", cluster="IT")],
        travel=[{"student": "s1", "opportunity": "o1", "mode": "walk", "minutes": 45}],
    )
    sol = solve_and_check(doc)
    # s1 prefers the 10-minute o2 to the 45-minute o1; s2 walks 10 minutes to o1.
    assert placed_at(sol, "s1") == "o2"
    assert assigned(sol, "s1")["travel_minutes"] == WALK_NEAR
    assert assigned(sol, "s2")["travel_minutes"] == WALK_NEAR


def test_h4_override_of_a_mode_the_student_lacks_is_ignored() -> None:
    """H4 override: a car time does not give a walking-only student a car."""
    doc = make_doc(
        [student(id="s1", travel_modes=["walk"])],
        [opportunity(id="o1")],
        travel=[{"student": "s1", "opportunity": "o1", "mode": "car", "minutes": 1}],
    )
    a = placement(solve_and_check(doc), "s1")
    assert a is not None
    assert (a["travel_mode"], a["travel_minutes"]) == ("walk", WALK_NEAR)


@pytest.mark.parametrize(("limit", "placed"), [(60, True), (10, True), (9, False), (9.5, False)])
def test_h4_max_commute_edge(limit: float, placed: bool) -> None:
    """H4 max_commute: a 10-minute walk is fine at a limit of exactly 10, refused at 9."""
    sol = solve_one(student(id="s1", max_commute_minutes=limit), opportunity(id="o1"))
    if placed:
        assert placed_at(sol, "s1") == "o1"
    else:
        assert reasons(sol, "s1") == {"commute_too_long": {"code": "commute_too_long", "count": 1}}


@pytest.mark.parametrize(("minutes", "placed"), [(30, True), (31, False)])
def test_h4_max_commute_applies_to_overrides(minutes: int, placed: bool) -> None:
    """H4 max_commute: a measured 30 minutes fits a 30-minute limit; 31 does not."""
    doc = make_doc(
        [student(id="s1", max_commute_minutes=30)],
        [opportunity(id="o1")],
        travel=[{"student": "s1", "opportunity": "o1", "mode": "walk", "minutes": minutes}],
    )
    sol = solve_and_check(doc)
    if placed:
        assert assigned(sol, "s1")["travel_minutes"] == 30
    else:
        assert reasons(sol, "s1") == {"commute_too_long": {"code": "commute_too_long", "count": 1}}


def test_h4_max_commute_uses_the_fastest_mode() -> None:
    """H4 max_commute: FAR is 37 min on foot but 10 by car, within a 15-minute limit."""
    stu = student(id="s1", travel_modes=["walk", "car"], max_commute_minutes=15)
    sol = solve_one(stu, opportunity(id="o1", location=FAR))
    assert assigned(sol, "s1")["travel_minutes"] == CAR_FAR


# Home 0.1 degrees north of the school; HOME_SITE is 0.005 degrees north of home.
HOME = {"lat": 41.98, "lon": -87.63}
HOME_SITE = {"lat": 41.985, "lon": -87.63}


@pytest.mark.parametrize(
    ("summer", "has_school", "has_home", "site", "origin"),
    [
        (False, True, True, NEAR, SCHOOL),  # term: from school, home ignored
        (True, True, True, HOME_SITE, HOME),  # summer: from home
        (False, False, True, HOME_SITE, HOME),  # no school: from home
        (True, True, False, NEAR, SCHOOL),  # summer, no home: from school
    ],
)
def test_h4_origin(
    summer: bool, has_school: bool, has_home: bool, site: dict[str, float], origin: dict[str, float]
) -> None:
    """H4 origin: school in term time; home in summer or without a school; else the school."""
    stu = student(id="s1", location=dict(HOME))
    if not has_school:
        del stu["school"]
    if not has_home:
        del stu["location"]
    sol = solve_one(stu, opportunity(id="o1", location=dict(site)), summer=summer)
    expected = estimate(origin, site, "walk")
    assert expected == WALK_NEAR  # both sites are 0.005 degrees north of their origin
    assert assigned(sol, "s1")["travel_minutes"] == expected


@pytest.mark.parametrize(("summer", "site"), [(False, HOME_SITE), (True, NEAR)])
def test_h4_origin_wrong_side_is_too_far(summer: bool, site: dict[str, float]) -> None:
    """H4 origin: a site next to home is far from school in term, and the reverse in summer."""
    # School to HOME_SITE is 0.105 degrees (walk ceil(189.7) = 190); home to NEAR is 0.095
    # degrees (walk ceil(171.7) = 172): both far over the 60-minute default limit.
    stu = student(id="s1", location=dict(HOME))
    sol = solve_one(stu, opportunity(id="o1", location=dict(site)), summer=summer)
    assert reasons(sol, "s1") == {"commute_too_long": {"code": "commute_too_long", "count": 1}}


# --- H5: schedule with the travel buffer ----------------------------------------------------------

CLASSES_UNTIL_3 = [weekly("tue", "08:00", "15:00")]
JOB_FROM_6 = [weekly("tue", "18:00", "20:00")]


@pytest.mark.parametrize(
    ("busy", "start", "end", "placed"),
    [
        # Classes end 15:00 and the walk takes t = 10 minutes: a shift may start at 15:10.
        (CLASSES_UNTIL_3, "15:10", "17:00", True),
        (CLASSES_UNTIL_3, "15:09", "17:00", False),
        (CLASSES_UNTIL_3, "15:00", "17:00", False),
        # A job starts 18:00: the shift must end by 17:50 to get there.
        (JOB_FROM_6, "15:00", "17:50", True),
        (JOB_FROM_6, "15:00", "17:51", False),
        # Another day does not conflict.
        ([weekly("mon", "08:00", "20:00")], "15:00", "17:00", True),
    ],
)
def test_h5_travel_buffer_on_both_sides(
    busy: list[dict[str, str]], start: str, end: str, placed: bool
) -> None:
    """H5: a weekly shift keeps t(s, o) minutes clear of busy blocks before and after."""
    opp = opportunity(id="o1", slots=[slot(blocks=[weekly("tue", start, end)])])
    sol = solve_one(student(id="s1", busy=busy), opp)
    if placed:
        assert placed_at(sol, "s1") == "o1"
    else:
        assert reasons(sol, "s1") == {
            "schedule_conflict": {"code": "schedule_conflict", "count": 1}
        }


@pytest.mark.parametrize(("start", "placed"), [("15:45", True), ("15:44", False)])
def test_h5_buffer_is_the_actual_travel_time(start: str, placed: bool) -> None:
    """H5: with a measured 45-minute trip, the shift may start 45 minutes after class."""
    doc = make_doc(
        [student(id="s1", busy=CLASSES_UNTIL_3)],
        [opportunity(id="o1", slots=[slot(blocks=[weekly("tue", start, "18:00")])])],
        travel=[{"student": "s1", "opportunity": "o1", "mode": "walk", "minutes": 45}],
    )
    sol = solve_and_check(doc)
    assert (placed_at(sol, "s1") == "o1") is placed


def test_h5_conflicting_slot_skipped_for_a_free_one() -> None:
    """H5: the student takes the opportunity's other slot, the one that fits the timetable."""
    opp = opportunity(
        id="o1",
        slots=[
            slot(id="early", blocks=[weekly("tue", "14:00", "16:00")]),
            slot(id="late", blocks=[weekly("tue", "16:00", "18:00")]),
        ],
    )
    sol = solve_one(student(id="s1", busy=CLASSES_UNTIL_3), opp)
    assert assigned(sol, "s1")["slot"] == "late"


def test_h5_dated_blocks_are_excused() -> None:
    """H5: a dated block on a Tuesday in class time is an excused absence: placed."""
    opp = opportunity(id="o1", slots=[slot(blocks=[dated("2026-09-15", "10:00", "12:00")])])
    sol = solve_one(student(id="s1", busy=CLASSES_UNTIL_3), opp)
    assert placed_at(sol, "s1") == "o1"


def test_h5_weekly_block_in_class_time_conflicts() -> None:
    """H5: the same hours as a weekly Tuesday block conflict with classes."""
    opp = opportunity(id="o1", slots=[slot(blocks=[weekly("tue", "10:00", "12:00")])])
    sol = solve_one(student(id="s1", busy=CLASSES_UNTIL_3), opp)
    assert reasons(sol, "s1") == {"schedule_conflict": {"code": "schedule_conflict", "count": 1}}


# --- H6: weekly hours ---------------------------------------------------------------------------

TWO_AFTERNOONS = [weekly("tue", "15:00", "17:00"), weekly("thu", "15:00", "17:00")]  # 4 h


@pytest.mark.parametrize(("limit", "placed"), [(None, True), (10, True), (4, True), (3.99, False)])
def test_h6_max_weekly_hours(limit: float | None, placed: bool) -> None:
    """H6: a 4-hour week fits max_weekly_hours 4 exactly; 3.99 refuses it."""
    stu = student(id="s1")
    if limit is not None:
        stu["max_weekly_hours"] = limit
    sol = solve_one(stu, opportunity(id="o1", slots=[slot(blocks=TWO_AFTERNOONS)]))
    if placed:
        assert placed_at(sol, "s1") == "o1"
    else:
        assert reasons(sol, "s1") == {
            "over_weekly_hours": {"code": "over_weekly_hours", "count": 1}
        }


def test_h6_limit_that_floats_cannot_hold_exactly() -> None:
    """H6: max_weekly_hours 4.1 is 246 minutes (4.1 * 60 is 245.99999999999997 in floats):
    a 246-minute week fits, as the checker judges it."""
    week = [weekly("tue", "15:00", "17:00"), weekly("thu", "15:00", "17:06")]  # 246 min
    sol = solve_one(
        student(id="s1", max_weekly_hours=4.1), opportunity(id="o1", slots=[slot(blocks=week)])
    )
    assert placed_at(sol, "s1") == "o1"


# Weekly Tuesdays 2 h; dated blocks: Wed 2026-09-16 and Fri 2026-09-18 (week of Mon 09-14: 4 h)
# and Wed 2026-09-23 (week of 09-21: 2 h). Weekly hours = 2 + 4 (busiest week) = 6: not
# 2 + 6 (all dated blocks) nor 2 + 2 (the longest dated block).
DATED_WEEKS = [
    weekly("tue", "15:00", "17:00"),
    dated("2026-09-16", "15:00", "17:00"),
    dated("2026-09-18", "15:00", "17:00"),
    dated("2026-09-23", "15:00", "17:00"),
]


@pytest.mark.parametrize(("limit", "placed"), [(6, True), (5.5, False)])
def test_h6_dated_blocks_count_in_the_busiest_calendar_week(limit: float, placed: bool) -> None:
    """H6: dated blocks add the hours of their busiest Monday-Sunday week."""
    stu = student(id="s1", max_weekly_hours=limit)
    sol = solve_one(stu, opportunity(id="o1", slots=[slot(blocks=DATED_WEEKS)]))
    if placed:
        assert placed_at(sol, "s1") == "o1"
    else:
        assert reasons(sol, "s1") == {
            "over_weekly_hours": {"code": "over_weekly_hours", "count": 1}
        }


def test_h6_calendar_weeks_not_a_rolling_window() -> None:
    """H6: Sunday 09-20 and Monday 09-21 fall in different calendar weeks: 3 h, not 6 h."""
    blocks = [dated("2026-09-20", "10:00", "13:00"), dated("2026-09-21", "10:00", "13:00")]
    stu = student(id="s1", max_weekly_hours=3)
    sol = solve_one(stu, opportunity(id="o1", slots=[slot(blocks=blocks)]))
    assert placed_at(sol, "s1") == "o1"


# --- H7: child labour (under 16, every kind but job_shadow) -------------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


@pytest.mark.parametrize(
    ("blocks", "summer", "placed"),
    [
        pytest.param([weekly("tue", "07:00", "10:00")], False, True, id="window-start-3h"),
        pytest.param([weekly("tue", "06:45", "09:00")], False, False, id="before-7"),
        pytest.param([weekly("tue", "16:00", "19:00")], False, True, id="window-end-19"),
        pytest.param([weekly("tue", "17:00", "19:15")], False, False, id="after-19"),
        pytest.param([weekly("tue", "15:00", "18:15")], False, False, id="3h15-weekday"),
        pytest.param(
            [weekly("tue", "07:00", "09:00"), weekly("tue", "15:00", "17:00")],
            False,
            False,
            id="4h-one-weekday-two-blocks",
        ),
        pytest.param([weekly("sat", "08:00", "16:00")], False, True, id="8h-saturday"),
        pytest.param(
            [weekly(d, "15:00", "18:00") for d in WEEKDAYS] + [weekly("sat", "09:00", "12:00")],
            False,
            True,
            id="18h-week",
        ),
        pytest.param(
            [weekly(d, "15:00", "18:00") for d in WEEKDAYS] + [weekly("sat", "09:00", "12:15")],
            False,
            False,
            id="18h15-week",
        ),
        pytest.param(
            # Tuesday 2026-09-15: 2 h weekly + 1.5 h dated = 3.5 h on that day.
            [weekly("tue", "15:00", "17:00"), dated("2026-09-15", "17:00", "18:30")],
            False,
            False,
            id="dated-adds-to-its-weekday",
        ),
        pytest.param(
            [weekly("tue", "15:00", "17:00"), dated("2026-09-16", "15:00", "16:30")],
            False,
            True,
            id="dated-other-weekday",
        ),
        pytest.param([dated("2026-09-19", "06:30", "08:00")], False, False, id="dated-before-7"),
        pytest.param([weekly("tue", "09:00", "17:00")], True, True, id="summer-8h"),
        pytest.param([weekly("tue", "09:00", "17:15")], True, False, id="summer-8h15"),
        pytest.param([weekly("tue", "19:00", "21:00")], True, True, id="summer-until-21"),
        pytest.param([weekly("tue", "19:00", "21:00")], False, False, id="term-until-21"),
        pytest.param([weekly("tue", "19:00", "21:15")], True, False, id="summer-after-21"),
        pytest.param([weekly(d, "09:00", "17:00") for d in WEEKDAYS], True, True, id="summer-40h"),
        pytest.param(
            [weekly(d, "09:00", "17:00") for d in WEEKDAYS] + [weekly("sat", "10:00", "11:00")],
            True,
            False,
            id="summer-41h",
        ),
    ],
)
def test_h7_child_labour_hours_at_15(
    blocks: list[dict[str, str]], summer: bool, placed: bool
) -> None:
    """H7: a 15-year-old keeps to 07:00-19:00, 3 h a weekday, 18 h a week (summer 21/8/40)."""
    opp = opportunity(id="o1", slots=[slot(blocks=blocks)])
    sol = solve_one(student(id="s1", birth_date=AGE_15), opp, summer=summer)
    if placed:
        assert placed_at(sol, "s1") == "o1"
    else:
        expected = {"child_labour_hours": {"code": "child_labour_hours", "count": 1}}
        assert reasons(sol, "s1") == expected


LONG_DAY = [weekly("tue", "06:00", "22:00")]


@pytest.mark.parametrize(
    ("birth_date", "kind", "placed"),
    [
        (AGE_16, "internship", True),  # 16 and over: no FLSA hour limits
        ("2010-09-08", "internship", True),  # exactly 16 on start_date
        ("2010-09-09", "internship", False),  # 15 on start_date
        (AGE_14, "internship", False),
        (AGE_15, "job_shadow", True),  # job shadowing is exempt
        (AGE_13, "job_shadow", True),
    ],
)
def test_h7_exemptions(birth_date: str, kind: str, placed: bool) -> None:
    """H7: a 16-hour Tuesday is fine at 16, or in a job shadow; refused at 14-15 otherwise."""
    opp = opportunity(id="o1", kind=kind, slots=[slot(blocks=LONG_DAY)])
    sol = solve_one(student(id="s1", birth_date=birth_date), opp)
    if placed:
        assert placed_at(sol, "s1") == "o1"
    else:
        expected = {"child_labour_hours": {"code": "child_labour_hours", "count": 1}}
        assert reasons(sol, "s1") == expected


# --- H8: workplace mentors ----------------------------------------------------------------------


def workplace(ident: str, employer: str = "emp1", **overrides: Any) -> dict[str, Any]:
    return mentor(id=ident, employer=employer, **overrides)


def test_h8_workplace_mentor_is_named() -> None:
    """H8: a requires_mentor placement names a workplace mentor of the employer."""
    doc = make_doc(
        [student(id="s1")], [opportunity(id="o1", requires_mentor=True)], [workplace("wm1")]
    )
    a = placement(solve_and_check(doc), "s1")
    assert a is not None
    assert a["mentor"] == "wm1"


def test_h8_no_mentor_without_requires_mentor() -> None:
    """H8: an assignment names a mentor only if the opportunity requires one."""
    doc = make_doc(
        [student(id="s1", wants_mentor=True)], [opportunity(id="o1")], [workplace("wm1")]
    )
    sol = solve_and_check(doc)
    a = placement(sol, "s1")
    assert a is not None
    assert a.get("mentor") is None
    assert sol["mentorships"] == []  # wm1 is a workplace mentor, not a community one


def test_h8_mentor_of_another_employer_does_not_count() -> None:
    """H8: a mentor of emp2 cannot mentor at emp1's opportunity: no_mentor."""
    doc = make_doc(
        [student(id="s1")],
        [opportunity(id="o1", requires_mentor=True)],
        [workplace("wm2", employer="emp2")],
    )
    sol = solve_and_check(doc)
    assert sol["assignments"] == []
    assert "no_mentor" in reasons(sol, "s1")


@pytest.mark.parametrize(
    ("clusters", "placed"), [([], True), (["HLTH"], True), (["IT", "HLTH"], True), (["IT"], False)]
)
def test_h8_workplace_mentor_clusters(clusters: list[str], placed: bool) -> None:
    """H8: the workplace mentor's clusters hold the opportunity's cluster (or are empty)."""
    doc = make_doc(
        [student(id="s1")],
        [opportunity(id="o1", cluster="HLTH", requires_mentor=True)],
        [workplace("wm1", clusters=clusters)],
    )
    sol = solve_and_check(doc)
    if placed:
        assert assigned(sol, "s1")["mentor"] == "wm1"
    else:
        assert "no_mentor" in reasons(sol, "s1")


@pytest.mark.parametrize(("capacity", "placed"), [(1, 1), (2, 2), (0, 0)])
def test_h8_workplace_mentor_capacity(capacity: int, placed: int) -> None:
    """H8: a workplace mentor of capacity c lets at most c students in; the rest: no_mentor."""
    opp = opportunity(id="o1", requires_mentor=True, slots=[slot(capacity=2)])
    doc = make_doc(
        [student(id="s1"), student(id="s2")], [opp], [workplace("wm1", capacity=capacity)]
    )
    sol = solve_and_check(doc)
    assert len(sol["assignments"]) == placed
    assert all(a["mentor"] == "wm1" for a in sol["assignments"])
    for u in sol["unplaced"]:
        assert "no_mentor" in reasons(sol, u["student"])


def test_h8_workplace_mentor_capacity_across_opportunities() -> None:
    """H8: one mentor of capacity 1 serves one student over all of its employer's openings."""
    doc = make_doc(
        [student(id="s1"), student(id="s2")],
        [opportunity(id="o1", requires_mentor=True), opportunity(id="o2", requires_mentor=True)],
        [workplace("wm1")],
    )
    sol = solve_and_check(doc)
    assert len(sol["assignments"]) == 1
    loser = sol["unplaced"][0]["student"]
    assert "no_mentor" in reasons(sol, loser)


def test_h8_second_mentor_opens_a_second_seat() -> None:
    """H8: two workplace mentors of capacity 1 let both students in, one each."""
    opp = opportunity(id="o1", requires_mentor=True, slots=[slot(capacity=2)])
    doc = make_doc(
        [student(id="s1"), student(id="s2")], [opp], [workplace("wm1"), workplace("wm2")]
    )
    sol = solve_and_check(doc)
    assert sorted(a["mentor"] for a in sol["assignments"]) == ["wm1", "wm2"]


# --- H8: community mentors ----------------------------------------------------------------------


def community_case(
    available: list[dict[str, str]],
    *,
    busy: list[dict[str, str]] | None = None,
    blocks: list[dict[str, str]] | None = None,
    **round_overrides: Any,
) -> dict[str, Any]:
    """One student who wants a mentor, one Tuesday placement, one community mentor c1."""
    stu = student(id="s1", wants_mentor=True, busy=busy or [])
    opp = opportunity(id="o1", slots=[slot(blocks=blocks or [weekly("tue", "15:00", "17:00")])])
    doc = make_doc([stu], [opp], [mentor(id="c1", available=available)], **round_overrides)
    return solve_and_check(doc)


def meeting(sol: dict[str, Any], student_id: str = "s1") -> tuple[str, str, str, str] | None:
    """The student's community meeting as (mentor, day, start, end), or None."""
    m = mentorship(sol, student_id)
    return None if m is None else (m["mentor"], m["day"], m["start"], m["end"])


def community_mentor(sol: dict[str, Any], student_id: str) -> str | None:
    m = mentorship(sol, student_id)
    return None if m is None else str(m["mentor"])


def test_h8_community_meeting_fills_the_availability() -> None:
    """H8 community: a 30-minute availability holds exactly one 30-minute meeting."""
    sol = community_case([weekly("wed", "16:00", "16:30")])
    assert placed_at(sol, "s1") == "o1"
    assert meeting(sol) == ("c1", "wed", "16:00", "16:30")
    assert sol["metrics"]["mentored"] == 1
    assert sol["objective_levels"]["mentored"] == 1


def test_h8_community_availability_too_short() -> None:
    """H8 community: 29 minutes of availability hold no 30-minute meeting."""
    sol = community_case([weekly("wed", "16:00", "16:29")])
    assert placed_at(sol, "s1") == "o1"
    assert sol["mentorships"] == []
    assert sol["metrics"]["mentored"] == 0


def test_h8_community_meeting_on_the_15_minute_grid() -> None:
    """H8 community: in 16:05-16:50 the only grid start is 16:15."""
    sol = community_case([weekly("wed", "16:05", "16:50")])
    assert meeting(sol) == ("c1", "wed", "16:15", "16:45")


def test_h8_community_meeting_length_is_the_rounds() -> None:
    """H8 community: mentor_meeting_minutes 45 makes a 45-minute meeting."""
    sol = community_case([weekly("wed", "16:00", "16:45")], mentor_meeting_minutes=45)
    assert meeting(sol) == ("c1", "wed", "16:00", "16:45")


def test_h8_community_meeting_length_45_does_not_fit_30() -> None:
    """H8 community: a 30-minute availability cannot hold a 45-minute meeting."""
    sol = community_case([weekly("wed", "16:00", "16:30")], mentor_meeting_minutes=45)
    assert sol["mentorships"] == []


def test_h8_community_meeting_avoids_busy_without_buffer() -> None:
    """H8 community: busy until 16:15 leaves 16:15-16:45 (meetings need no travel buffer)."""
    sol = community_case([weekly("wed", "16:00", "16:45")], busy=[weekly("wed", "08:00", "16:15")])
    assert meeting(sol) == ("c1", "wed", "16:15", "16:45")


def test_h8_community_meeting_avoids_the_slots_blocks() -> None:
    """H8 community: a shift until 16:30 leaves 16:30-17:00 of a 16:00-17:00 availability."""
    sol = community_case(
        [weekly("wed", "16:00", "17:00")], blocks=[weekly("wed", "15:00", "16:30")]
    )
    assert meeting(sol) == ("c1", "wed", "16:30", "17:00")


def test_h8_placement_beats_a_community_meeting() -> None:
    """H8 / level 1 over 2: a shift that blocks every meeting still wins over no placement."""
    sol = community_case(
        [weekly("wed", "16:00", "17:00")], blocks=[weekly("wed", "15:00", "16:31")]
    )
    assert placed_at(sol, "s1") == "o1"
    assert sol["mentorships"] == []


def test_h8_unplaced_student_may_still_get_a_community_mentor() -> None:
    """H8 community: a student who wants a mentor gets one, placed or not."""
    doc = make_doc(
        [student(id="s1", wants_mentor=True)],
        [opportunity(id="o1")],
        [mentor(id="c1", available=[weekly("tue", "15:00", "17:00")])],
        forbidden=[{"student": "s1", "opportunity": "o1"}],
    )
    sol = solve_and_check(doc)
    assert sol["assignments"] == []
    assert mentorship(sol, "s1") is not None


def test_h8_community_mentor_only_for_students_who_want_one() -> None:
    """H8 community: a student without wants_mentor gets no community mentor."""
    doc = make_doc(
        [student(id="s1")],
        [opportunity(id="o1")],
        [mentor(id="c1", available=[weekly("wed", "16:00", "17:00")])],
    )
    assert solve_and_check(doc)["mentorships"] == []


@pytest.mark.parametrize(("until", "met"), [("17:00", 2), ("16:45", 1)])
def test_h8_community_meetings_of_one_mentor_do_not_overlap(until: str, met: int) -> None:
    """H8 community: a mentor of capacity 2 meets two students in an hour, one in 45 minutes."""
    students = [student(id="s1", wants_mentor=True), student(id="s2", wants_mentor=True)]
    opp = opportunity(id="o1", slots=[slot(capacity=2)])
    c1 = mentor(id="c1", capacity=2, available=[weekly("wed", "16:00", until)])
    sol = solve_and_check(make_doc(students, [opp], [c1]))
    assert len(sol["mentorships"]) == met
    assert sol["metrics"]["mentored"] == met
    if met == 2:
        assert sorted(m["start"] for m in sol["mentorships"]) == ["16:00", "16:30"]


@pytest.mark.parametrize(("capacity", "met"), [(0, 0), (1, 1), (2, 2)])
def test_h8_community_mentor_capacity(capacity: int, met: int) -> None:
    """H8 community: a community mentor holds at most `capacity` students."""
    students = [student(id="s1", wants_mentor=True), student(id="s2", wants_mentor=True)]
    opp = opportunity(id="o1", slots=[slot(capacity=2)])
    c1 = mentor(id="c1", capacity=capacity, available=[weekly("wed", "08:00", "20:00")])
    sol = solve_and_check(make_doc(students, [opp], [c1]))
    assert len(sol["mentorships"]) == met


@pytest.mark.parametrize(
    ("student_clusters", "mentor_clusters", "met"),
    [
        ([], ["IT"], True),
        (["HLTH"], [], True),
        (["HLTH", "IT"], ["IT"], True),
        (["HLTH"], ["HLTH", "ARCH"], True),
        (["HLTH"], ["IT"], False),
    ],
)
def test_h8_community_mentor_clusters_meet(
    student_clusters: list[str], mentor_clusters: list[str], met: bool
) -> None:
    """H8 community: student's and mentor's clusters share one, or either side is empty."""
    doc = make_doc(
        [student(id="s1", wants_mentor=True, clusters=student_clusters)],
        [opportunity(id="o1", cluster="HLTH")],
        [mentor(id="c1", clusters=mentor_clusters, available=[weekly("wed", "16:00", "17:00")])],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "s1") == "o1"
    assert (mentorship(sol, "s1") is not None) is met


def test_h8_workplace_mentor_excludes_a_community_mentor() -> None:
    """H8: a student with a workplace mentor gets no community mentor as well."""
    doc = make_doc(
        [student(id="s1", wants_mentor=True)],
        [opportunity(id="o1", requires_mentor=True)],
        [workplace("wm1"), mentor(id="c1", available=[weekly("wed", "16:00", "17:00")])],
    )
    sol = solve_and_check(doc)
    assert assigned(sol, "s1")["mentor"] == "wm1"
    assert sol["mentorships"] == []
    assert sol["metrics"]["mentored"] == 1


# --- H9: pins -------------------------------------------------------------------------------------


def test_h9_pin_holds_against_priority() -> None:
    """H9: a pinned priority-0 student keeps the one seat a priority-1 student would win."""
    doc = make_doc(
        [student(id="s1", priority=1), student(id="s2")],
        [opportunity(id="o1")],
        pins=[{"student": "s2", "opportunity": "o1"}],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "s2") == "o1"
    r = reasons(sol, "s1")
    assert set(r) == {"capacity_taken"}
    assert "s2" in r["capacity_taken"]["detail"]


def test_h9_pin_holds_against_preferences() -> None:
    """H9: a student pinned to an unranked opportunity stays there."""
    doc = make_doc(
        [student(id="s1", preferences=["o1"])],
        [opportunity(id="o1"), opportunity(id="o2", location=FAR)],
        pins=[{"student": "s1", "opportunity": "o2"}],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "s1") == "o2"


def test_h9_pinned_slot_holds() -> None:
    """H9: a pin to slot thu holds even though s2 could use no other slot."""
    opp = opportunity(
        id="o1",
        slots=[
            slot(id="tue", blocks=[weekly("tue", "15:00", "17:00")]),
            slot(id="thu", blocks=[weekly("thu", "15:00", "17:00")]),
        ],
    )
    # s2 has Tuesday commitments, so thu is its only slot; the pin gives it to s1.
    s2 = student(id="s2", busy=[weekly("tue", "08:00", "20:00")])
    doc = make_doc(
        [student(id="s1"), s2], [opp], pins=[{"student": "s1", "opportunity": "o1", "slot": "thu"}]
    )
    sol = solve_and_check(doc)
    assert assigned(sol, "s1")["slot"] == "thu"
    assert placement(sol, "s2") is None


def test_h9_pinned_workplace_mentor_holds() -> None:
    """H9: a pin naming workplace mentor wm2 gives the student wm2, and s2 gets wm1."""
    opp = opportunity(id="o1", requires_mentor=True, slots=[slot(capacity=2)])
    doc = make_doc(
        [student(id="s1"), student(id="s2")],
        [opp],
        [workplace("wm1"), workplace("wm2")],
        pins=[{"student": "s1", "opportunity": "o1", "mentor": "wm2"}],
    )
    sol = solve_and_check(doc)
    assert assigned(sol, "s1")["mentor"] == "wm2"
    assert assigned(sol, "s2")["mentor"] == "wm1"


def test_h9_pinned_community_mentor_holds() -> None:
    """H9: a pinned community mentor holds even when it costs another student a mentor."""
    # c2 is the only mentor whose clusters meet s2's (IT); unpinned, s1 would take c1.
    doc = make_doc(
        [
            student(id="s1", wants_mentor=True, clusters=["HLTH"]),
            student(id="s2", wants_mentor=True, clusters=["IT"]),
        ],
        [opportunity(id="o1", cluster="HLTH"), opportunity(id="o2", cluster="IT")],
        [
            mentor(id="c1", clusters=["HLTH"], available=[weekly("wed", "16:00", "17:00")]),
            mentor(id="c2", clusters=[], available=[weekly("wed", "16:00", "17:00")]),
        ],
        pins=[{"student": "s1", "opportunity": "o1", "mentor": "c2"}],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "s1") == "o1"
    assert community_mentor(sol, "s1") == "c2"
    assert mentorship(sol, "s2") is None


def test_h9_pinned_community_mentor_chooses_the_slot_that_leaves_a_meeting() -> None:
    """H9/H8: p is pinned to o1 with c1, who is free only Tuesday 15:00-16:00. o1's Tuesday slot
    would take that hour, so p must take the Wednesday slot, though q (who can only take
    Wednesday) then stays unplaced: the pin holds, and the round is not infeasible."""
    doc = make_doc(
        [
            student(id="p", wants_mentor=True),
            student(id="q", busy=[weekly("tue", "14:00", "18:00")]),
        ],
        [
            opportunity(
                id="o1",
                slots=[
                    slot(id="tue", blocks=[weekly("tue", "15:00", "17:00")]),
                    slot(id="wed", blocks=[weekly("wed", "15:00", "17:00")]),
                ],
            )
        ],
        [mentor(id="c1", available=[weekly("tue", "15:00", "16:00")])],
        pins=[{"student": "p", "opportunity": "o1", "mentor": "c1"}],
    )
    sol = solve_and_check(doc)
    assert sol["status"] != "infeasible"
    assert placement(sol, "p")["slot"] == "wed"
    assert community_mentor(sol, "p") == "c1"
    assert placement(sol, "q") is None


def test_h9_pinned_community_mentor_holds_without_the_meeting_search() -> None:
    """H9: with community-mentor meetings switched off (the flow alone), a pin naming a
    community mentor still gets its meeting."""
    doc = make_doc(
        [student(id="s1", wants_mentor=True)],
        [opportunity(id="o1")],
        [mentor(id="c1", available=[weekly("wed", "16:00", "17:00")])],
        pins=[{"student": "s1", "opportunity": "o1", "mentor": "c1"}],
    )
    options = SolveOptions(time_limit=10, workers=1, community_mentors=False)
    sol = solve(problem_from_dict(doc), options).to_dict()
    assert check_solution(doc, sol) == []
    assert community_mentor(sol, "s1") == "c1"


WEDNESDAY_SHIFT = [weekly("wed", "16:00", "17:00")]  # covers all of c1's hours below


def test_h9_pinned_opportunity_holds_against_a_community_meeting() -> None:
    """H9 over level 2: a student pinned to o1 stays there though o2 would let c1 meet them."""
    doc = make_doc(
        [student(id="A", wants_mentor=True)],
        [opportunity(id="o1", slots=[slot(blocks=WEDNESDAY_SHIFT)]), opportunity(id="o2")],
        [mentor(id="c1", available=[weekly("wed", "16:00", "17:00")])],
        pins=[{"student": "A", "opportunity": "o1"}],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "A") == "o1"
    assert sol["mentorships"] == []


def test_h9_pinned_slot_holds_against_a_community_meeting() -> None:
    """H9 over level 2: a student pinned to slot x stays there though slot y frees c1's hours."""
    opp = opportunity(
        id="o1",
        slots=[
            slot(id="x", blocks=WEDNESDAY_SHIFT),
            slot(id="y", blocks=[weekly("tue", "15:00", "17:00")]),
        ],
    )
    doc = make_doc(
        [student(id="A", wants_mentor=True)],
        [opp],
        [mentor(id="c1", available=[weekly("wed", "16:00", "17:00")])],
        pins=[{"student": "A", "opportunity": "o1", "slot": "x"}],
    )
    sol = solve_and_check(doc)
    assert assigned(sol, "A")["slot"] == "x"
    assert sol["mentorships"] == []


def test_h9_unpinned_community_mentors_meet_both() -> None:
    """H8 (control for the pin above): without the pin both students are mentored."""
    doc = make_doc(
        [
            student(id="s1", wants_mentor=True, clusters=["HLTH"]),
            student(id="s2", wants_mentor=True, clusters=["IT"]),
        ],
        [opportunity(id="o1", cluster="HLTH"), opportunity(id="o2", cluster="IT")],
        [
            mentor(id="c1", clusters=["HLTH"], available=[weekly("wed", "16:00", "17:00")]),
            mentor(id="c2", clusters=[], available=[weekly("wed", "16:00", "17:00")]),
        ],
    )
    sol = solve_and_check(doc)
    assert community_mentor(sol, "s1") == "c1"
    assert community_mentor(sol, "s2") == "c2"


def assert_infeasible(sol: dict[str, Any], pins: list[int]) -> None:
    assert sol["status"] == "infeasible"
    assert sol["infeasible_pins"] == pins
    assert sol["assignments"] == []
    assert sol["mentorships"] == []
    assert sol["unplaced"] == []


def test_h9_conflicting_pins_are_infeasible() -> None:
    """H9: two pins on a one-seat slot cannot both hold; the harmless pin is not named."""
    doc = make_doc(
        [student(id="s1"), student(id="s2"), student(id="s3")],
        [opportunity(id="o1"), opportunity(id="o2")],
        pins=[
            {"student": "s1", "opportunity": "o1"},
            {"student": "s3", "opportunity": "o2"},
            {"student": "s2", "opportunity": "o1"},
        ],
    )
    assert_infeasible(solve_and_check(doc), [0, 2])


def test_h9_one_student_pinned_twice_is_infeasible() -> None:
    """H9 / H1: a student pinned to two opportunities cannot hold both."""
    doc = make_doc(
        [student(id="s1")],
        [opportunity(id="o1"), opportunity(id="o2")],
        pins=[{"student": "s1", "opportunity": "o1"}, {"student": "s1", "opportunity": "o2"}],
    )
    assert_infeasible(solve_and_check(doc), [0, 1])


def test_h9_ineligible_pin_is_infeasible() -> None:
    """H9: a pin the student is too young for is named alone."""
    doc = make_doc(
        [student(id="s1"), student(id="s2", birth_date=AGE_15)],
        [opportunity(id="o1"), opportunity(id="o2", min_age=16)],
        pins=[{"student": "s1", "opportunity": "o1"}, {"student": "s2", "opportunity": "o2"}],
    )
    assert_infeasible(solve_and_check(doc), [1])


def test_h9_pin_on_a_forbidden_pair_is_infeasible() -> None:
    """H9: nothing forbidden is assigned, pinned or not."""
    doc = make_doc(
        [student(id="s1")],
        [opportunity(id="o1")],
        pins=[{"student": "s1", "opportunity": "o1"}],
        forbidden=[{"student": "s1", "opportunity": "o1"}],
    )
    assert_infeasible(solve_and_check(doc), [0])


def test_h9_pin_to_a_conflicting_slot_is_infeasible() -> None:
    """H9 / H5: a pin to a slot that clashes with the student's classes cannot hold."""
    opp = opportunity(
        id="o1",
        slots=[
            slot(id="tue", blocks=[weekly("tue", "10:00", "12:00")]),
            slot(id="sat", blocks=[weekly("sat", "10:00", "12:00")]),
        ],
    )
    doc = make_doc(
        [student(id="s1", busy=CLASSES_UNTIL_3)],
        [opp],
        pins=[{"student": "s1", "opportunity": "o1", "slot": "tue"}],
    )
    assert_infeasible(solve_and_check(doc), [0])


def test_h9_pinned_workplace_mentor_of_other_clusters_is_infeasible() -> None:
    """H9 / H8: a pinned workplace mentor whose clusters miss the opportunity's cannot hold."""
    doc = make_doc(
        [student(id="s1")],
        [opportunity(id="o1", cluster="HLTH", requires_mentor=True)],
        [workplace("wm1", clusters=["IT"]), workplace("wm2")],
        pins=[{"student": "s1", "opportunity": "o1", "mentor": "wm1"}],
    )
    assert_infeasible(solve_and_check(doc), [0])


def test_h9_pinned_community_mentor_whose_clusters_do_not_meet_is_infeasible() -> None:
    """H9 / H8: a pinned community mentor must still share a cluster with the student."""
    doc = make_doc(
        [student(id="s1", wants_mentor=True, clusters=["HLTH"])],
        [opportunity(id="o1", cluster="HLTH")],
        [mentor(id="c1", clusters=["IT"], available=[weekly("wed", "16:00", "17:00")])],
        pins=[{"student": "s1", "opportunity": "o1", "mentor": "c1"}],
    )
    assert_infeasible(solve_and_check(doc), [0])


def test_h9_pinned_community_mentor_for_a_student_who_wants_none_is_infeasible() -> None:
    """H9 / H8: community mentors go only to students with wants_mentor."""
    doc = make_doc(
        [student(id="s1", wants_mentor=False)],
        [opportunity(id="o1")],
        [mentor(id="c1", available=[weekly("wed", "16:00", "17:00")])],
        pins=[{"student": "s1", "opportunity": "o1", "mentor": "c1"}],
    )
    assert_infeasible(solve_and_check(doc), [0])


def test_h9_infeasible_community_pin_is_the_one_named() -> None:
    """H9 / H8: of two community-mentor pins, only the one without common time is named."""
    doc = make_doc(
        [student(id="s1", wants_mentor=True), student(id="s2", wants_mentor=True)],
        [
            opportunity(id="o1"),
            opportunity(id="o2", slots=[slot(blocks=[weekly("thu", "15:00", "17:00")])]),
        ],
        [
            mentor(id="c1", available=[weekly("wed", "16:00", "17:00")]),
            mentor(id="c2", available=[weekly("thu", "15:00", "17:00")]),  # s2's shift
        ],
        pins=[
            {"student": "s1", "opportunity": "o1", "mentor": "c1"},
            {"student": "s2", "opportunity": "o2", "mentor": "c2"},
        ],
    )
    assert_infeasible(solve_and_check(doc), [1])


def test_h9_pins_over_a_community_mentors_capacity_are_infeasible() -> None:
    """H9 / H8: two pins naming a community mentor of capacity 1 are named together."""
    doc = make_doc(
        [
            student(id="s0"),
            student(id="s1", wants_mentor=True),
            student(id="s2", wants_mentor=True),
        ],
        [opportunity(id="o0"), opportunity(id="o1", slots=[slot(capacity=2)])],
        [mentor(id="c1", available=[weekly("wed", "16:00", "17:00")])],
        pins=[
            {"student": "s0", "opportunity": "o0"},
            {"student": "s1", "opportunity": "o1", "mentor": "c1"},
            {"student": "s2", "opportunity": "o1", "mentor": "c1"},
        ],
    )
    assert_infeasible(solve_and_check(doc), [1, 2])


def test_h9_pins_over_a_workplace_mentors_capacity_are_infeasible() -> None:
    """H9 / H8: two pins naming a workplace mentor of capacity 1 cannot both hold."""
    opp = opportunity(id="o1", requires_mentor=True, slots=[slot(capacity=2)])
    doc = make_doc(
        [student(id="s1"), student(id="s2")],
        [opp],
        [workplace("wm1"), workplace("wm2")],
        pins=[
            {"student": "s1", "opportunity": "o1", "mentor": "wm1"},
            {"student": "s2", "opportunity": "o1", "mentor": "wm1"},
        ],
    )
    assert_infeasible(solve_and_check(doc), [0, 1])


def test_h9_pinned_community_mentor_without_common_time_is_infeasible() -> None:
    """H9 / H8: a pinned community mentor whose hours are all inside the shift cannot hold."""
    doc = make_doc(
        [student(id="s1", wants_mentor=True)],
        [opportunity(id="o1")],
        [mentor(id="c1", available=[weekly("tue", "15:00", "17:00")])],
        pins=[{"student": "s1", "opportunity": "o1", "mentor": "c1"}],
    )
    assert_infeasible(solve_and_check(doc), [0])


# --- Reason codes and their counts ------------------------------------------------------------


REFUSALS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # code: (student overrides, opportunity overrides) that refuse for that rule alone
    "too_young": ({}, {"min_age": 18}),
    "grade": ({}, {"min_grade": 12}),
    "missing_credential": ({}, {"required_credentials": ["osha10"]}),
    "not_accepted": ({}, {"accepts": ["other"]}),
    "hazardous_minor": ({}, {"hazardous": True}),
    "forbidden": ({}, {}),
    "no_transport_mode": ({"travel_modes": ["transit"]}, {"transit_accessible": False}),
    "commute_too_long": ({"max_commute_minutes": 5}, {}),
    "schedule_conflict": ({"busy": [weekly("tue", "08:00", "18:00")]}, {}),
    "over_weekly_hours": ({"max_weekly_hours": 1}, {}),
    "child_labour_hours": (
        {"birth_date": AGE_15},
        {"slots": [slot(blocks=[weekly("tue", "15:00", "19:30")])]},
    ),
}


@pytest.mark.parametrize("code", sorted(REFUSALS))
def test_reason_code_counts_every_refusing_opportunity(code: str) -> None:
    """Reasons: refused by two opportunities for one rule gives that code with count 2."""
    stu_overrides, opp_overrides = REFUSALS[code]
    opps = []
    for ident in ("o1", "o2"):
        opp = opportunity(id=ident, **opp_overrides)
        opp["slots"] = [dict(s, id=f"{ident}-{s['id']}") for s in opp["slots"]]
        opps.append(opp)
    forbidden = []
    if code == "forbidden":
        forbidden = [{"student": "s1", "opportunity": o} for o in ("o1", "o2")]
    other = student(id="other", clusters=["ZZZ"])  # named by `accepts`; can take nothing
    doc = make_doc([student(id="s1", **stu_overrides), other], opps, forbidden=forbidden)
    sol = solve_and_check(doc)
    assert placement(sol, "s1") is None
    assert reasons(sol, "s1") == {code: {"code": code, "count": 2}}


def test_reason_codes_count_per_rule() -> None:
    """Reasons: o1 too_young, o2 too_young and grade, o3 grade: too_young x2 and grade x2."""
    doc = make_doc(
        [student(id="s1", birth_date=AGE_16, grade=11)],
        [
            opportunity(id="o1", min_age=18),
            opportunity(id="o2", min_age=18, min_grade=12),
            opportunity(id="o3", min_grade=12),
        ],
    )
    r = reasons(solve_and_check(doc), "s1")
    assert r["too_young"]["count"] == 2
    assert r["grade"]["count"] == 2
    assert set(r) == {"too_young", "grade"}


def test_reason_no_cluster_match_counts_other_clusters() -> None:
    """Reasons: two opportunities outside the student's cluster and one forbidden."""
    doc = make_doc(
        [student(id="s1", clusters=["IT"])],
        [
            opportunity(id="o1", cluster="HLTH"),
            opportunity(id="o2", cluster="HLTH"),
            opportunity(id="o3", cluster="IT"),
        ],
        forbidden=[{"student": "s1", "opportunity": "o3"}],
    )
    r = reasons(solve_and_check(doc), "s1")
    assert r["forbidden"]["count"] == 1
    assert "no_opportunities" not in r  # o3 is in the student's cluster
    assert r.get("no_cluster_match", {}).get("count", 2) == 2


def test_reason_no_opportunities() -> None:
    """Reasons: no opportunity in the student's clusters or preferences: no_opportunities."""
    doc = make_doc(
        [student(id="s1", clusters=["AGRI"])],
        [opportunity(id="o1", cluster="HLTH"), opportunity(id="o2", cluster="IT")],
    )
    r = reasons(solve_and_check(doc), "s1")
    assert "no_opportunities" in r
    assert r.get("no_cluster_match", {}).get("count", 2) == 2


def test_reason_capacity_taken_names_every_holder() -> None:
    """Reasons: capacity_taken's detail names the students holding the seats."""
    # s3 can only reach o1 and o2 (both 1 seat); s1 and s2 are pinned there.
    doc = make_doc(
        [student(id="s1"), student(id="s2"), student(id="s3")],
        [opportunity(id="o1"), opportunity(id="o2")],
        pins=[{"student": "s1", "opportunity": "o1"}, {"student": "s2", "opportunity": "o2"}],
    )
    r = reasons(solve_and_check(doc), "s3")
    assert set(r) == {"capacity_taken"}
    assert "s1" in r["capacity_taken"]["detail"]
    assert "s2" in r["capacity_taken"]["detail"]
    assert r["capacity_taken"].get("count", 2) == 2


def test_reason_capacity_taken_next_to_refusals() -> None:
    """Reasons: refused at o1 (too young) and crowded out of o2: both codes."""
    doc = make_doc(
        [student(id="s1"), student(id="s2", priority=1)],
        [opportunity(id="o1", min_age=18), opportunity(id="o2")],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "s2") == "o2"
    r = reasons(sol, "s1")
    assert set(r) == {"too_young", "capacity_taken"}
    assert r["too_young"]["count"] == 1
    assert "s2" in r["capacity_taken"]["detail"]


def test_reason_no_mentor_with_free_seats() -> None:
    """Reasons: a free seat whose only workplace mentor is taken: no_mentor."""
    opp = opportunity(id="o1", requires_mentor=True, slots=[slot(capacity=3)])
    doc = make_doc(
        [student(id="s1", priority=1), student(id="s2")], [opp], [workplace("wm1", capacity=1)]
    )
    sol = solve_and_check(doc)
    assert assigned(sol, "s1")["mentor"] == "wm1"
    assert "no_mentor" in reasons(sol, "s2")
    assert "capacity_taken" not in reasons(sol, "s2")


# --- Objective levels, most important first -----------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_level1_priority_student_wins_the_single_seat(seed: int) -> None:
    """Level 1: a priority-1 student beats a priority-0 student for one seat, whatever else."""
    # s0 ranks o1 first and drives there (7 min); s1 has no preference and walks (10 min).
    doc = make_doc(
        [
            student(id="s0", preferences=["o1"], travel_modes=["car"]),
            student(id="s1", priority=1),
        ],
        [opportunity(id="o1")],
    )
    sol = solve_and_check(doc, seed=seed)
    assert placed_at(sol, "s1") == "o1"
    assert sol["objective_levels"]["placed_weighted"] == 2
    assert sol["metrics"]["placed_weighted"] == 2


def test_level1_more_students_beat_preferences() -> None:
    """Level 1 over 3: A takes its second choice so that B, who fits only o1, is placed too."""
    doc = make_doc(
        [
            student(id="A", preferences=["o1", "o2"]),
            student(id="B", clusters=["HLTH"]),
        ],
        [opportunity(id="o1", cluster="HLTH"), opportunity(id="o2", cluster="IT", location=FAR)],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "A") == "o2"
    assert placed_at(sol, "B") == "o1"
    assert sol["objective_levels"]["placed_weighted"] == 2


def test_level2_workplace_mentor_beats_preferences() -> None:
    """Level 2 over 3: a student who wants a mentor takes the second choice that brings one."""
    doc = make_doc(
        [student(id="A", wants_mentor=True, preferences=["o1", "o2"])],
        [opportunity(id="o1"), opportunity(id="o2", requires_mentor=True)],
        [workplace("wm1")],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "A") == "o2"
    assert assigned(sol, "A")["mentor"] == "wm1"
    assert sol["objective_levels"]["mentored"] == 1


def test_level2_control_without_wants_mentor() -> None:
    """Level 3 (control): without wants_mentor the first choice wins."""
    doc = make_doc(
        [student(id="A", preferences=["o1", "o2"])],
        [opportunity(id="o1"), opportunity(id="o2", requires_mentor=True)],
        [workplace("wm1")],
    )
    assert placed_at(solve_and_check(doc), "A") == "o1"


def test_level2_community_mentor_beats_preferences() -> None:
    """Level 2 over 3: the first choice's shift covers the mentor's hours; the second does not."""
    doc = make_doc(
        [student(id="A", wants_mentor=True, preferences=["o1", "o2"])],
        [
            opportunity(id="o1", slots=[slot(blocks=[weekly("wed", "16:00", "17:00")])]),
            opportunity(id="o2", slots=[slot(blocks=[weekly("tue", "15:00", "17:00")])]),
        ],
        [mentor(id="c1", available=[weekly("wed", "16:00", "17:00")])],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "A") == "o2"
    assert mentorship(sol, "A") is not None
    assert sol["objective_levels"]["mentored"] == 1


def test_level2_community_mentor_beats_another_students_preference() -> None:
    """Level 2 over 3: B gives up its first choice so that A can be placed where A can meet c1."""
    # o1's Wednesday shift covers all of c1's hours, so A is mentored only at o2. B (no mentor
    # wanted) ranks o2 first and o3 second; A cannot take o3 (IT, not in A's clusters).
    #   A o1, B o2: placed 2, mentored 0, preferences 2 + 2 = 4
    #   A o2, B o3: placed 2, mentored 1, preferences 1 + 1 = 2   <- best: level 2 first
    doc = make_doc(
        [
            student(id="A", wants_mentor=True, clusters=["HLTH"], preferences=["o1", "o2"]),
            student(id="B", preferences=["o2", "o3"]),
        ],
        [
            opportunity(id="o1", slots=[slot(blocks=[weekly("wed", "16:00", "17:00")])]),
            opportunity(id="o2", slots=[slot(blocks=[weekly("tue", "15:00", "17:00")])]),
            opportunity(
                id="o3", cluster="IT", slots=[slot(blocks=[weekly("tue", "15:00", "17:00")])]
            ),
        ],
        [mentor(id="c1", available=[weekly("wed", "16:00", "17:00")])],
    )
    sol = solve_and_check(doc)
    assert sol["objective_levels"]["mentored"] == 1
    assert placed_at(sol, "A") == "o2"
    assert placed_at(sol, "B") == "o3"
    assert mentorship(sol, "A") is not None
    assert sol["objective_levels"]["preference_score"] == 2


def test_level2_move_to_free_a_community_mentor() -> None:
    """Level 2 over 3: A leaves its first choice so that both A and B meet a mentor."""
    # c1 meets on Wednesday, c2 on Thursday, one student each. B (no placement possible, busy
    # on Thursdays) can meet only c1. A's first choice o1 works Thursdays 16-17, so at o1 A
    # too can meet only c1; at its second choice o2 (Tuesdays) A can meet c2.
    #   A o1: mentored 1 (A or B with c1), preferences 2
    #   A o2: mentored 2 (A with c2, B with c1), preferences 1   <- best: level 2 first
    doc = make_doc(
        [
            student(id="A", wants_mentor=True, preferences=["o1", "o2"]),
            student(
                id="B", wants_mentor=True, clusters=["ZZZ"], busy=[weekly("thu", "08:00", "20:00")]
            ),
        ],
        [
            opportunity(id="o1", slots=[slot(blocks=[weekly("thu", "16:00", "17:00")])]),
            opportunity(id="o2", slots=[slot(blocks=[weekly("tue", "15:00", "17:00")])]),
        ],
        [
            mentor(id="c1", available=[weekly("wed", "16:00", "16:30")]),
            mentor(id="c2", available=[weekly("thu", "16:00", "16:30")]),
        ],
    )
    sol = solve_and_check(doc)
    assert sol["objective_levels"]["mentored"] == 2
    assert placed_at(sol, "A") == "o2"
    assert community_mentor(sol, "A") == "c2"
    assert community_mentor(sol, "B") == "c1"


def test_level3_community_mentor_keeps_the_first_choice() -> None:
    """Level 3: mentored either way, so the first choice (community mentor) beats the second
    (workplace mentor)."""
    #   A o2 with wm1:               placed 1, mentored 1, preferences 1
    #   A o1 and c1 on Wednesday:    placed 1, mentored 1, preferences 2   <- best
    doc = make_doc(
        [student(id="A", wants_mentor=True, preferences=["o1", "o2"])],
        [opportunity(id="o1"), opportunity(id="o2", requires_mentor=True)],
        [workplace("wm1"), mentor(id="c1", available=[weekly("wed", "16:00", "17:00")])],
    )
    sol = solve_and_check(doc)
    assert sol["objective_levels"]["mentored"] == 1
    assert sol["objective_levels"]["preference_score"] == 2
    assert placed_at(sol, "A") == "o1"
    assert community_mentor(sol, "A") == "c1"


def test_level3_preference_beats_travel() -> None:
    """Level 3 over 4: a ranked farther site beats a closer unranked one."""
    doc = make_doc(
        [student(id="A", preferences=["far"])],
        [opportunity(id="near", location=NEAR), opportunity(id="far", location=FAR)],
    )
    sol = solve_and_check(doc)
    a = placement(sol, "A")
    assert a is not None
    assert (a["opportunity"], a["preference_rank"], a["travel_minutes"]) == ("far", 1, WALK_FAR)


def test_level3_higher_rank_beats_travel() -> None:
    """Level 3 over 4: rank 1 (far) beats rank 2 (near)."""
    doc = make_doc(
        [student(id="A", preferences=["far", "near"])],
        [opportunity(id="near", location=NEAR), opportunity(id="far", location=FAR)],
    )
    assert placed_at(solve_and_check(doc), "A") == "far"


def test_level3_rank_scores_add_up_over_students() -> None:
    """Level 3: rank r scores R + 1 - r; s1 at rank 2 plus s2 at rank 1 beats s1 at rank 1."""
    # R = 3. s1 o1 + s2 unranked: 3 + 0 = 3. s1 o2 + s2 o1: 2 + 3 = 5 (best).
    doc = make_doc(
        [student(id="s1", preferences=["o1", "o2", "o3"]), student(id="s2", preferences=["o1"])],
        [opportunity(id=o) for o in ("o1", "o2", "o3", "o4")],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "s1") == "o2"
    assert placed_at(sol, "s2") == "o1"
    assert sol["objective_levels"]["preference_score"] == 5
    assert sol["metrics"]["first_choice"] == 1
    assert sol["metrics"]["top3"] == 2


def test_level4_shorter_travel_among_unranked() -> None:
    """Level 4: between two unranked sites the nearer one wins."""
    doc = make_doc(
        [student(id="A")],
        [opportunity(id="far", location=FAR), opportunity(id="near", location=NEAR)],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "A") == "near"
    assert sol["objective_levels"]["travel_minutes"] == WALK_NEAR


def test_level4_least_total_travel() -> None:
    """Level 4: the walker gets the near seat and the driver the far one (10 + 10 < 37 + 7)."""
    doc = make_doc(
        [student(id="walker"), student(id="driver", travel_modes=["car"])],
        [opportunity(id="near", location=NEAR), opportunity(id="far", location=FAR)],
    )
    sol = solve_and_check(doc)
    assert placed_at(sol, "walker") == "near"
    assert placed_at(sol, "driver") == "far"
    assert sol["objective_levels"]["travel_minutes"] == WALK_NEAR + CAR_FAR


def test_metrics_values() -> None:
    """Metrics: first_choice, top3, unranked, mean_travel_minutes, by_group, placed_weighted."""
    doc = make_doc(
        [
            # s1: first choice o1 (walk 10), priority 2.
            student(id="s1", priority=2, preferences=["o1"], groups=["ell"]),
            # s2: o4 and o5 have no seats, so third choice o2 at FAR (walk 37).
            student(
                id="s2", clusters=["HLTH"], preferences=["o4", "o5", "o2"], groups=["ell", "frl"]
            ),
            # s3: unranked o3 (ARCH), a measured 11-minute walk.
            student(id="s3", clusters=["ARCH"]),
            # s4: nothing in AGRI.
            student(id="s4", clusters=["AGRI"], groups=["frl"]),
        ],
        [
            opportunity(id="o1"),
            opportunity(id="o2", location=FAR),
            opportunity(id="o3", cluster="ARCH"),
            opportunity(id="o4", slots=[slot(capacity=0)]),
            opportunity(id="o5", slots=[slot(capacity=0)]),
        ],
        travel=[{"student": "s3", "opportunity": "o3", "mode": "walk", "minutes": 11}],
    )
    sol = solve_and_check(doc)
    assert {a["student"]: a["opportunity"] for a in sol["assignments"]} == {
        "s1": "o1",
        "s2": "o2",
        "s3": "o3",
    }
    ranks = [assigned(sol, s).get("preference_rank") for s in ("s1", "s2", "s3")]
    assert ranks == [1, 3, None]
    m = sol["metrics"]
    assert m["students"] == 4
    assert m["placed"] == 3
    assert m["placed_weighted"] == 3 + 1 + 1  # 1 + priority each
    assert (m["first_choice"], m["top3"], m["unranked"], m["mentored"]) == (1, 2, 1, 0)
    assert m["mean_travel_minutes"] == 19.33  # (10 + 37 + 11) / 3 = 19.333...
    assert m["by_group"] == {
        "ell": {"students": 2, "placed": 2},
        "frl": {"students": 2, "placed": 1},
    }
    # R = 3: rank 1 scores 3, rank 3 scores 1, unranked 0.
    assert sol["objective_levels"] == {
        "placed_weighted": 5,
        "mentored": 0,
        "preference_score": 4,
        "travel_minutes": 58,
    }


def test_metrics_empty_solution() -> None:
    """Metrics: with nobody placed, mean travel is 0 and groups still count their students."""
    doc = make_doc([student(id="s1", clusters=["AGRI"], groups=["g"])], [opportunity(id="o1")])
    m = solve_and_check(doc)["metrics"]
    assert (m["placed"], m["placed_weighted"], m["mean_travel_minutes"]) == (0, 0, 0)
    assert m["by_group"] == {"g": {"students": 1, "placed": 0}}


# --- The lottery ---------------------------------------------------------------------------------

COMPARED = ("status", "assignments", "mentorships", "unplaced", "metrics", "objective_levels")


def tie_round() -> dict[str, Any]:
    """Three identical students, two seats, one community mentor: every choice is a tie."""
    return make_doc(
        [student(id=f"s{i}", wants_mentor=True) for i in range(1, 4)],
        [opportunity(id="o1"), opportunity(id="o2")],
        [mentor(id="c1", available=[weekly("wed", "16:00", "17:00")])],
    )


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_lottery_same_seed_same_solution(seed: int) -> None:
    """Lottery: the same round and seed give the same solution."""
    doc = tie_round()
    first = solve_and_check(doc, seed=seed)
    second = solve_and_check(copy.deepcopy(doc), seed=seed)
    assert {k: first[k] for k in COMPARED} == {k: second[k] for k in COMPARED}


def test_lottery_seeds_break_ties_differently() -> None:
    """Lottery: over seeds 0..19, each of two identical students wins the single seat."""
    doc = make_doc([student(id="s1"), student(id="s2")], [opportunity(id="o1")])
    winners = {solve_and_check(doc, seed=seed)["assignments"][0]["student"] for seed in range(20)}
    assert winners == {"s1", "s2"}


def test_lottery_seed_is_recorded() -> None:
    """Lottery: the solution records the seed it was drawn with."""
    sol = solve_and_check(tie_round(), seed=7)
    assert sol["lottery"]["seed"] == 7
