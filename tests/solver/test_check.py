"""Tests of the independent solution checker (`solver.check`), rule by rule.

Each rule gets a tiny round that is valid, the same round forced into violation (the message
must name the rule), and the allowed edge (which must be accepted). The rounds are built by
the factories below, from a baseline of one school, one 17-year-old student and one internship
at the school's own location (so walking takes 0 minutes).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.check import _estimate_minutes, check_solution

SCHOOL = {"lat": 40.0, "lon": -75.0}
# 0.01 degree of latitude north of the school (see test_travel_time_formula_on_known_distance).
NORTH = {"lat": 40.01, "lon": -75.0}


# --- factories -------------------------------------------------------------------------------


def born(age: int) -> str:
    """A birth date that makes a student `age` full years old on the round's 2025-09-01."""
    return f"{2024 - age}-12-31"


def make_round(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "r-1",
        "name": "Fall 2025",
        "start_date": "2025-09-01",  # a Monday
        "end_date": "2025-12-19",
        "timezone": "America/New_York",
        **overrides,
    }


def make_student(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "st-1",
        "name": "Ada",
        "school": "sch-1",
        "grade": 11,
        "birth_date": born(17),
        "travel_modes": ["walk"],
        "clusters": ["IT"],
        "busy": [{"day": "tue", "start": "08:00", "end": "15:00"}],
        **overrides,
    }


def make_slot(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "sl-1",
        "capacity": 1,
        "blocks": [{"day": "tue", "start": "16:00", "end": "18:00"}],
        **overrides,
    }


def make_opportunity(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "op-1",
        "employer": "emp-1",
        "title": "IT intern",
        "kind": "internship",
        "cluster": "IT",
        "location": dict(SCHOOL),
        "slots": [make_slot()],
        **overrides,
    }


def make_mentor(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "m-1",
        "name": "Grace",
        "employer": "emp-1",
        "clusters": ["IT"],
        "capacity": 1,
        **overrides,
    }


def make_community_mentor(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "cm-1",
        "name": "Alan",
        "employer": None,
        "clusters": [],
        "capacity": 2,
        "available": [{"day": "wed", "start": "16:00", "end": "18:00"}],
        **overrides,
    }


def make_problem(**overrides: Any) -> dict[str, Any]:
    """A `wbl-problem/1` round; `overrides` replace whole top-level fields."""
    return {
        "format": "wbl-problem/1",
        "round": make_round(),
        "schools": [{"id": "sch-1", "name": "Central High", "location": dict(SCHOOL)}],
        "students": [make_student()],
        "employers": [{"id": "emp-1", "name": "Acme"}, {"id": "emp-2", "name": "Globex"}],
        "opportunities": [make_opportunity()],
        "mentors": [],
        **overrides,
    }


def assign(**overrides: Any) -> dict[str, Any]:
    return {
        "student": "st-1",
        "opportunity": "op-1",
        "slot": "sl-1",
        "travel_mode": "walk",
        "travel_minutes": 0,
        **overrides,
    }


def meet(**overrides: Any) -> dict[str, Any]:
    return {
        "student": "st-1",
        "mentor": "cm-1",
        "day": "wed",
        "start": "16:00",
        "end": "16:30",
        **overrides,
    }


def unplace(student: str, *codes: str) -> dict[str, Any]:
    return {"student": student, "reasons": [{"code": code} for code in codes]}


def metrics_of(
    problem: Mapping[str, Any],
    assignments: Iterable[Mapping[str, Any]],
    mentorships: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    """The spec's metrics, computed the plain way for the fixtures."""
    assignments, mentorships = list(assignments), list(mentorships)
    students = {s["id"]: s for s in problem["students"]}
    placed = {a["student"] for a in assignments}
    ranks = []
    for a in assignments:
        preferences = students[a["student"]].get("preferences", [])
        ranks.append(
            preferences.index(a["opportunity"]) + 1 if a["opportunity"] in preferences else None
        )
    with_mentor = {a["student"] for a in assignments if a.get("mentor")}
    with_mentor |= {m["student"] for m in mentorships}
    by_group: dict[str, dict[str, int]] = {}
    for s in problem["students"]:
        for label in s.get("groups", []):
            counts = by_group.setdefault(label, {"students": 0, "placed": 0})
            counts["students"] += 1
            counts["placed"] += s["id"] in placed
    minutes = [a["travel_minutes"] for a in assignments]
    return {
        "students": len(students),
        "placed": len(assignments),
        "placed_weighted": sum(1 + students[a["student"]].get("priority", 0) for a in assignments),
        "first_choice": ranks.count(1),
        "top3": sum(r is not None and r <= 3 for r in ranks),
        "unranked": ranks.count(None),
        "mentored": sum(bool(students[sid].get("wants_mentor")) for sid in with_mentor),
        "mean_travel_minutes": round(sum(minutes) / len(minutes), 2) if minutes else 0,
        "by_group": by_group,
    }


def make_solution(
    problem: Mapping[str, Any],
    assignments: Iterable[Mapping[str, Any]] = (),
    mentorships: Iterable[Mapping[str, Any]] = (),
    unplaced: Iterable[Mapping[str, Any]] = (),
    **overrides: Any,
) -> dict[str, Any]:
    """A `wbl-solution/1` answer with consistent metrics; `overrides` replace top-level fields."""
    assignments, mentorships = list(assignments), list(mentorships)
    return {
        "format": "wbl-solution/1",
        "status": "feasible",
        "objective": 1,
        "bound": 1,
        "gap": 0,
        "wall_seconds": 0.01,
        "assignments": assignments,
        "mentorships": mentorships,
        "unplaced": list(unplaced),
        "metrics": metrics_of(problem, assignments, mentorships),
        **overrides,
    }


def check(problem: Mapping[str, Any], *assignments: Mapping[str, Any], **kwargs: Any) -> list[str]:
    return check_solution(problem, make_solution(problem, assignments, **kwargs))


def reported(violations: list[str], rule: str, *fragments: str) -> bool:
    """Some message is headed by `rule` and holds every fragment."""
    return any(rule in v.split(":", 1)[0] and all(f in v for f in fragments) for v in violations)


# --- a valid answer ----------------------------------------------------------------------------


def test_valid_solution_is_accepted() -> None:
    """All rules: the baseline placement is valid."""
    assert check(make_problem(), assign()) == []


def test_valid_optimal_solution_with_everything_is_accepted() -> None:
    """All rules: workplace mentor, community mentor, pins, groups and an unplaced student."""
    problem = make_problem(
        students=[
            make_student(groups=["ell"], preferences=["op-1"], priority=2),
            make_student(id="st-2", groups=["ell", "iep"], wants_mentor=True, busy=[]),
            make_student(id="st-3", birth_date=born(13)),
        ],
        opportunities=[
            make_opportunity(requires_mentor=True, slots=[make_slot(capacity=1)]),
            make_opportunity(id="op-2", slots=[make_slot(id="sl-2")]),
        ],
        mentors=[make_mentor(), make_community_mentor()],
        pins=[{"student": "st-1", "opportunity": "op-1", "mentor": "m-1"}],
    )
    solution = make_solution(
        problem,
        [
            assign(mentor="m-1", preference_rank=1),
            assign(student="st-2", opportunity="op-2", slot="sl-2"),
        ],
        [meet(student="st-2")],
        [unplace("st-3", "too_young")],
        status="optimal",
    )
    assert check_solution(problem, solution) == []


# --- format --------------------------------------------------------------------------------


def test_wrong_format_tag_is_reported() -> None:
    """Format: the solution's format must be wbl-solution/1."""
    problem = make_problem()
    violations = check(problem, assign(), format="wbl-solution/2")
    assert reported(violations, "format", "wbl-solution/2")


def test_unknown_status_is_reported() -> None:
    """Format: status is one of optimal, feasible, infeasible, unknown."""
    assert reported(check(make_problem(), assign(), status="done"), "format", "status")


def test_missing_numbers_are_reported() -> None:
    """Format: objective, bound, gap and wall_seconds are numbers."""
    problem = make_problem()
    solution = make_solution(problem, [assign()], objective="high")
    del solution["wall_seconds"]
    violations = check_solution(problem, solution)
    assert reported(violations, "format", "objective")
    assert reported(violations, "format", "wall_seconds")


def test_solution_that_is_not_an_object_is_reported() -> None:
    """Format: a solution is a JSON object."""
    not_a_mapping: Any = ["assignments"]
    assert reported(check_solution(make_problem(), not_a_mapping), "format")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("student", "st-9", "unknown student"),
        ("student", 7, "student"),
        ("opportunity", "op-9", "unknown opportunity"),
        ("slot", None, "slot"),
        ("travel_mode", "plane", "travel_mode"),
        ("travel_minutes", "0", "travel_minutes"),
        ("travel_minutes", -1, "travel_minutes"),
        ("mentor", 3, "mentor"),
    ],
)
def test_malformed_assignment_is_reported(field: str, value: Any, fragment: str) -> None:
    """Format: a malformed assignment is reported, not raised."""
    problem = make_problem()
    solution = make_solution(problem, [assign()])
    solution["assignments"][0][field] = value
    violations = check_solution(problem, solution)
    assert reported(violations, "format", fragment), violations


def test_missing_lists_are_reported() -> None:
    """Format: assignments, mentorships, unplaced and metrics are present."""
    problem = make_problem()
    solution = make_solution(problem, [assign()])
    for key in ("mentorships", "unplaced", "metrics"):
        del solution[key]
    violations = check_solution(problem, solution)
    for key in ("mentorships", "unplaced", "metrics"):
        assert reported(violations, "format", key), violations


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("day", "monday"),
        ("start", "25:00"),
        ("start", "24:00"),
        ("end", "9:30"),
        ("end", 1630),
        ("mentor", "cm-9"),
        ("student", None),
    ],
)
def test_malformed_mentorship_is_reported(field: str, value: Any) -> None:
    """Format: a mentorship names known ids, a day mon..sun and "HH:MM" times (24:00 ends only)."""
    problem = make_problem(
        students=[make_student(wants_mentor=True)], mentors=[make_community_mentor()]
    )
    solution = make_solution(problem, [assign()], [meet()])
    solution["mentorships"][0][field] = value
    violations = check_solution(problem, solution)
    assert reported(violations, "format", field), violations


def test_malformed_reason_is_reported() -> None:
    """Format: a reason is an object with a string code and an optional whole count."""
    problem = make_problem(students=[make_student(birth_date=born(13))])
    bad = {"student": "st-1", "reasons": ["too_young", {"code": "too_young", "count": "one"}]}
    violations = check(problem, unplaced=[bad])
    assert reported(violations, "format", "reasons[0]")
    assert reported(violations, "format", "count")


# --- infeasible ------------------------------------------------------------------------------


def _pinned_problem() -> dict[str, Any]:
    pins = [{"student": "st-1", "opportunity": "op-1"}, {"student": "st-1", "opportunity": "op-2"}]
    opportunities = [make_opportunity(), make_opportunity(id="op-2", slots=[make_slot(id="sl-2")])]
    return make_problem(opportunities=opportunities, pins=pins)


def _infeasible(problem: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    return make_solution(
        problem, **{"status": "infeasible", "infeasible_pins": [0, 1], **overrides}
    )


def test_infeasible_answer_is_accepted() -> None:
    """Infeasible: empty lists and valid pin indices."""
    problem = _pinned_problem()
    assert check_solution(problem, _infeasible(problem)) == []


@pytest.mark.parametrize("pins", [[0, 2], [], None, [0, "1"], [True], [1, 1]])
def test_infeasible_with_bad_pin_indices_is_reported(pins: Any) -> None:
    """Infeasible: infeasible_pins is a non-empty list of distinct indices into pins."""
    problem = _pinned_problem()
    violations = check_solution(problem, _infeasible(problem, infeasible_pins=pins))
    assert reported(violations, "infeasible", "infeasible_pins"), violations


def test_infeasible_with_assignments_is_reported() -> None:
    """Infeasible: assignments, mentorships and unplaced are empty."""
    problem = _pinned_problem()
    solution = _infeasible(problem, assignments=[assign()], unplaced=[unplace("st-1", "forbidden")])
    violations = check_solution(problem, solution)
    assert reported(violations, "infeasible", "assignments")
    assert reported(violations, "infeasible", "unplaced")


def test_infeasible_pins_with_feasible_status_is_reported() -> None:
    """Format: infeasible_pins belongs to an infeasible answer only."""
    assert reported(
        check(make_problem(), assign(), infeasible_pins=[0]), "format", "infeasible_pins"
    )


# --- H1 ------------------------------------------------------------------------------------


def test_student_assigned_twice_is_reported() -> None:
    """H1: a student holds at most one placement."""
    problem = make_problem(opportunities=[make_opportunity(slots=[make_slot(capacity=2)])])
    assert reported(check(problem, assign(), assign()), "H1", "st-1", "2 times")


def test_student_both_assigned_and_unplaced_is_reported() -> None:
    """H1: an assigned student is not also unplaced."""
    violations = check(make_problem(), assign(), unplaced=[unplace("st-1", "capacity_taken")])
    assert reported(violations, "H1", "st-1", "both")


def test_student_neither_assigned_nor_unplaced_is_reported() -> None:
    """H1: every student is assigned or unplaced."""
    assert reported(check(make_problem()), "H1", "st-1", "neither")


def test_unplaced_student_without_reason_is_reported() -> None:
    """H1: an unplaced student has at least one reason."""
    problem = make_problem(students=[make_student(birth_date=born(13))])
    assert reported(check(problem, unplaced=[unplace("st-1")]), "H1", "st-1", "no reason")


def test_unknown_reason_code_is_reported() -> None:
    """H1: reason codes come from the spec's list."""
    problem = make_problem(students=[make_student(birth_date=born(13))])
    violations = check(problem, unplaced=[unplace("st-1", "too_young", "bad_luck")])
    assert reported(violations, "H1", "st-1", "bad_luck")


def test_slot_of_another_opportunity_is_reported() -> None:
    """H1: the slot belongs to the assignment's opportunity."""
    problem = make_problem(
        opportunities=[
            make_opportunity(),
            make_opportunity(id="op-2", slots=[make_slot(id="sl-2")]),
        ]
    )
    assert reported(check(problem, assign(slot="sl-2")), "H1", "sl-2", "op-2")


# --- H2 ------------------------------------------------------------------------------------


def _two_students(**opportunity: Any) -> dict[str, Any]:
    return make_problem(
        students=[make_student(), make_student(id="st-2")],
        opportunities=[make_opportunity(**opportunity)],
    )


def test_slot_over_capacity_is_reported() -> None:
    """H2: a slot holds at most its capacity."""
    problem = _two_students()
    violations = check(problem, assign(), assign(student="st-2"))
    assert reported(violations, "H2", "slot sl-1 holds 2 students, capacity 1")


def test_slot_exactly_at_capacity_is_accepted() -> None:
    """H2 edge: a slot filled exactly to its capacity."""
    problem = _two_students(slots=[make_slot(capacity=2)])
    assert check(problem, assign(), assign(student="st-2")) == []


def test_opportunity_over_capacity_is_reported() -> None:
    """H2: an opportunity holds at most its capacity over all its slots."""
    problem = _two_students(capacity=1, slots=[make_slot(), make_slot(id="sl-2")])
    violations = check(problem, assign(), assign(student="st-2", slot="sl-2"))
    assert reported(violations, "H2", "opportunity op-1", "capacity 1")


def test_zero_capacity_slot_is_reported() -> None:
    """H2: a slot of capacity 0 holds nobody."""
    problem = make_problem(opportunities=[make_opportunity(slots=[make_slot(capacity=0)])])
    assert reported(check(problem, assign()), "H2", "sl-1")


# --- H3 ------------------------------------------------------------------------------------


def _one(student: Mapping[str, Any] | None = None, **opportunity: Any) -> dict[str, Any]:
    return make_problem(
        students=[make_student(**(student or {}))],
        opportunities=[make_opportunity(**opportunity)],
    )


def test_cluster_mismatch_is_reported() -> None:
    """H3 cluster: the opportunity's cluster is among the student's clusters."""
    problem = _one({"clusters": ["HEALTH"]})
    assert reported(check(problem, assign()), "H3", "st-1", "cluster IT")


def test_preferred_opportunity_outside_clusters_is_accepted() -> None:
    """H3 cluster edge: a preference overrides the clusters."""
    problem = _one({"clusters": ["HEALTH"], "preferences": ["op-1"]})
    assert check(problem, assign(preference_rank=1)) == []


def test_student_without_clusters_is_open_to_all() -> None:
    """H3 cluster edge: an empty cluster list is open to every cluster."""
    assert check(_one({"clusters": []}), assign()) == []


def test_under_min_age_is_reported() -> None:
    """H3 min_age: age in full years on round.start_date >= min_age."""
    problem = _one({"birth_date": "2007-09-02"}, min_age=18)  # 18 the day after start_date
    assert reported(check(problem, assign()), "H3", "age 17", "min_age 18")


def test_birthday_on_start_date_meets_min_age() -> None:
    """H3 min_age edge: a student turning 18 on round.start_date is 18."""
    assert check(_one({"birth_date": "2007-09-01"}, min_age=18), assign()) == []


def test_under_min_grade_is_reported() -> None:
    """H3 min_grade: grade >= min_grade."""
    assert reported(check(_one(min_grade=12), assign()), "H3", "grade 11", "min_grade 12")


def test_student_without_grade_fails_min_grade() -> None:
    """H3 min_grade: a student without grade fails any min_grade."""
    problem = _one(min_grade=9)
    del problem["students"][0]["grade"]
    assert reported(check(problem, assign()), "H3", "no grade")


def test_grade_equal_to_min_grade_is_accepted() -> None:
    """H3 min_grade edge: grade equal to min_grade."""
    assert check(_one(min_grade=11), assign()) == []


def test_missing_credential_is_reported() -> None:
    """H3 credentials: the student holds every required credential."""
    problem = _one({"credentials": ["cpr"]}, required_credentials=["cpr", "osha10"])
    assert reported(check(problem, assign()), "H3", "osha10")


def test_held_credentials_are_accepted() -> None:
    """H3 credentials edge: holding exactly the required credentials."""
    problem = _one({"credentials": ["osha10"]}, required_credentials=["osha10"])
    assert check(problem, assign()) == []


def test_student_not_accepted_is_reported() -> None:
    """H3 accepts: a list that does not name the student refuses them."""
    problem = _one(accepts=["st-2"])
    problem["students"].append(make_student(id="st-2"))
    violations = check(problem, assign(), unplaced=[unplace("st-2", "capacity_taken")])
    assert reported(violations, "H3", "st-1", "accepts")


@pytest.mark.parametrize("accepts", [None, ["st-1"]])
def test_accepts_null_or_naming_the_student_is_accepted(accepts: Any) -> None:
    """H3 accepts edge: null accepts anyone; a list naming the student accepts them."""
    assert check(_one(accepts=accepts), assign()) == []


def test_forbidden_pair_is_reported() -> None:
    """H3/H9 forbidden: a forbidden pair is never assigned."""
    problem = make_problem(forbidden=[{"student": "st-1", "opportunity": "op-1"}])
    violations = check(problem, assign())
    assert reported(violations, "H3", "forbidden")
    assert reported(violations, "H9", "forbidden")


def test_under_14_is_reported() -> None:
    """H3 age 14: younger students only job-shadow."""
    violations = check(_one({"birth_date": born(13)}), assign())
    assert reported(violations, "H3", "age 13", "under 14")


def test_under_14_job_shadow_is_accepted() -> None:
    """H3 age 14 edge: a 13-year-old may job-shadow (and H7 does not apply)."""
    slot = make_slot(blocks=[{"day": "tue", "start": "15:00", "end": "20:00"}])
    problem = _one({"birth_date": born(13)}, kind="job_shadow", slots=[slot])
    assert check(problem, assign()) == []


@pytest.mark.parametrize(
    ("age", "kind", "valid"),
    [
        (17, "internship", False),
        (17, "pre_apprenticeship", False),
        (15, "co_op", False),
        (16, "apprenticeship", True),
        (17, "co_op", True),
        (18, "internship", True),
    ],
)
def test_hazardous_minor_rule(age: int, kind: str, valid: bool) -> None:
    """H3 hazardous: under 18 only as a student-learner (apprenticeship/co_op, age >= 16)."""
    problem = _one({"birth_date": born(age)}, hazardous=True, kind=kind)
    violations = check(problem, assign())
    assert reported(violations, "H3", "hazardous") != valid, violations


# --- H4 ------------------------------------------------------------------------------------


def test_travel_time_formula_on_known_distance() -> None:
    """H4 formula: ceil(round(overhead + 60 * 1.3 * d / speed, 6)) on a hand-computed distance.

    School (40.00, -75.00) to opportunity (40.01, -75.00): along a meridian the haversine
    distance is R * dphi = 6371.0088 km * 0.01 * pi / 180 = 1.11195080 km, and 60 * 1.3 * d =
    78 * 1.11195080 = 86.7321626. So walk 86.7321626 / 4.8 = 18.069 -> 19 min; bike / 14 =
    6.195 -> 7; transit 10 + / 18 = 14.818 -> 15; car 5 + / 35 = 7.478 -> 8.
    """
    distance = 6371.0088 * math.radians(0.01)
    assert distance == pytest.approx(1.11195080, abs=1e-8)
    expected = {"walk": 19, "bike": 7, "transit": 15, "car": 8}
    for mode, minutes in expected.items():
        problem = _one({"travel_modes": [mode]}, location=dict(NORTH))
        assert check(problem, assign(travel_mode=mode, travel_minutes=minutes)) == [], mode
        wrong = check(problem, assign(travel_mode=mode, travel_minutes=minutes - 1))
        assert reported(wrong, "H4", f"expected {minutes}"), mode
    # With every mode available the least time wins: bike, 7 minutes.
    problem = _one({"travel_modes": list(expected)}, location=dict(NORTH))
    assert check(problem, assign(travel_mode="bike", travel_minutes=7)) == []


def test_inner_round_absorbs_floating_point_noise() -> None:
    """H4 formula: the inner round to 6 decimals keeps float noise from adding a minute.

    At d = 7 * 4.8 / 78 km, walking takes exactly 7 minutes, but 60 * 1.3 * d / 4.8 evaluates
    to 7.000000000000001 in floating point; rounded to 6 decimals it is 7.0 and ceil gives 7.
    """
    distance = 7 * 4.8 / 78
    assert 60 * 1.3 * distance / 4.8 > 7  # the noise the spec's round removes
    assert _estimate_minutes("walk", distance) == 7


def _commute(minutes: int, max_commute: int = 60) -> dict[str, Any]:
    problem = _one({"max_commute_minutes": max_commute})
    problem["travel"] = [
        {"student": "st-1", "opportunity": "op-1", "mode": "walk", "minutes": minutes}
    ]
    return problem


def test_travel_exactly_max_commute_is_accepted() -> None:
    """H4 edge: travel time equal to max_commute_minutes."""
    assert check(_commute(60), assign(travel_minutes=60)) == []


def test_travel_over_max_commute_is_reported() -> None:
    """H4: travel time over max_commute_minutes."""
    violations = check(_commute(61), assign(travel_minutes=61))
    assert reported(violations, "H4", "61 min", "max_commute_minutes 60")


def test_default_max_commute_is_60() -> None:
    """H4 default: max_commute_minutes is 60 when absent."""
    problem = _commute(61)
    del problem["students"][0]["max_commute_minutes"]
    assert reported(check(problem, assign(travel_minutes=61)), "H4", "max_commute_minutes 60")


def test_no_usable_mode_is_reported() -> None:
    """H4: transit needs a transit_accessible opportunity; no usable mode is a violation."""
    problem = _one({"travel_modes": ["transit"]}, transit_accessible=False)
    violations = check(problem, assign(travel_mode="transit", travel_minutes=10))
    assert reported(violations, "H4", "no usable travel mode")


def test_transit_override_wins_over_transit_accessible() -> None:
    """H4 override: a measured transit time wins even where transit is not accessible."""
    problem = _one({"travel_modes": ["transit"]}, transit_accessible=False)
    problem["travel"] = [
        {"student": "st-1", "opportunity": "op-1", "mode": "transit", "minutes": 25}
    ]
    assert check(problem, assign(travel_mode="transit", travel_minutes=25)) == []


def test_null_override_disables_mode() -> None:
    """H4 override: minutes null means the mode cannot make the trip."""
    problem = _one({"travel_modes": ["walk", "car"]})
    problem["travel"] = [
        {"student": "st-1", "opportunity": "op-1", "mode": "walk", "minutes": None}
    ]
    assert check(problem, assign(travel_mode="car", travel_minutes=5)) == []
    violations = check(problem, assign())
    assert reported(violations, "H4", "travel_mode walk, expected car")


def test_override_for_an_unused_mode_is_ignored() -> None:
    """H4 override: an override of a mode the student does not use changes nothing."""
    problem = _one()
    problem["travel"] = [{"student": "st-1", "opportunity": "op-1", "mode": "car", "minutes": 0}]
    assert check(problem, assign()) == []


def test_equal_times_break_ties_walk_first() -> None:
    """H4 ties: equal times are broken walk, bike, transit, car."""
    problem = _one({"travel_modes": ["car", "bike", "walk"]})
    problem["travel"] = [
        {"student": "st-1", "opportunity": "op-1", "mode": m, "minutes": 10}
        for m in ("walk", "bike", "car")
    ]
    assert check(problem, assign(travel_minutes=10)) == []
    violations = check(problem, assign(travel_mode="bike", travel_minutes=10))
    assert reported(violations, "H4", "travel_mode bike, expected walk")


def test_wrong_travel_minutes_is_reported() -> None:
    """H4: travel_minutes is t(s, o)."""
    assert reported(check(make_problem(), assign(travel_minutes=3)), "H4", "expected 0")


@pytest.mark.parametrize(
    ("summer", "school", "home", "minutes"),
    [
        (False, True, True, 19),  # school year: from school (19 min north of home)
        (True, True, True, 0),  # summer: from home
        (False, False, True, 0),  # no school: from home
        (True, True, False, 19),  # summer without a home: from school
    ],
)
def test_origin_rule(summer: bool, school: bool, home: bool, minutes: int) -> None:
    """H4 origin: school when it has one and not summer; else home, else the school."""
    student = make_student()
    if not school:
        del student["school"]
    if home:
        student["location"] = dict(NORTH)
    problem = make_problem(
        round=make_round(summer=summer),
        students=[student],
        opportunities=[make_opportunity(location=dict(NORTH))],
    )
    assert check(problem, assign(travel_minutes=minutes)) == []


# --- H5 ------------------------------------------------------------------------------------


def _shift(start: str, end: str = "18:00", day: str = "tue", travel: int = 12) -> dict[str, Any]:
    problem = _one(slots=[make_slot(blocks=[{"day": day, "start": start, "end": end}])])
    problem["travel"] = [
        {"student": "st-1", "opportunity": "op-1", "mode": "walk", "minutes": travel}
    ]
    return problem


def test_shift_overlapping_travel_buffer_is_reported() -> None:
    """H5: a shift starting less than the travel time after class ends conflicts."""
    violations = check(_shift("15:11"), assign(travel_minutes=12))
    assert reported(
        violations, "H5", "st-1", "sl-1", "tue 15:11-18:00", "busy tue 08:00-15:00", "travel 12 min"
    )


def test_shift_exactly_travel_after_class_is_accepted() -> None:
    """H5 edge: a shift starting exactly the travel time after class ends."""
    assert check(_shift("15:12"), assign(travel_minutes=12)) == []


def test_shift_ending_exactly_travel_before_class_is_accepted() -> None:
    """H5 edge: a shift ending exactly the travel time before class starts."""
    assert check(_shift("06:00", "07:48"), assign(travel_minutes=12)) == []
    assert reported(check(_shift("06:00", "07:49"), assign(travel_minutes=12)), "H5")


def test_busy_on_another_day_does_not_conflict() -> None:
    """H5: only busy blocks on the slot's weekday matter."""
    assert check(_shift("09:00", "12:00", day="wed"), assign(travel_minutes=12)) == []


def test_dated_blocks_are_excused_from_busy() -> None:
    """H5: dated blocks are excused absences; busy blocks do not apply to them."""
    # 2025-09-02 is a Tuesday, during the student's Tuesday classes.
    slot = make_slot(blocks=[{"date": "2025-09-02", "start": "09:00", "end": "12:00"}])
    assert check(_one(slots=[slot]), assign()) == []


# --- H6 ------------------------------------------------------------------------------------


def test_weekly_hours_at_limit_is_accepted() -> None:
    """H6 edge: a slot of exactly max_weekly_hours."""
    assert check(_one({"max_weekly_hours": 2}), assign()) == []


def test_weekly_hours_over_limit_is_reported() -> None:
    """H6: a slot's weekly hours over max_weekly_hours."""
    violations = check(_one({"max_weekly_hours": 1.5}), assign())
    assert reported(violations, "H6", "st-1", "sl-1", "120 min")


def test_weekly_hours_count_the_busiest_dated_week() -> None:
    """H6: weekly hours add the dated blocks of the Monday-Sunday week that has the most."""
    blocks = [
        {"day": "tue", "start": "16:00", "end": "18:00"},  # 2 h every week
        {"date": "2025-09-03", "start": "16:00", "end": "17:00"},  # Wed, week of 09-01
        {"date": "2025-09-07", "start": "16:00", "end": "17:00"},  # Sun, same week: 2 h
        {"date": "2025-09-08", "start": "16:00", "end": "17:30"},  # Mon, next week: 1.5 h
    ]
    assert check(_one({"max_weekly_hours": 4}, slots=[make_slot(blocks=blocks)]), assign()) == []
    violations = check(_one({"max_weekly_hours": 3.9}, slots=[make_slot(blocks=blocks)]), assign())
    assert reported(violations, "H6", "240 min")


# --- H7 ------------------------------------------------------------------------------------


def _minor(
    *blocks: dict[str, str], age: int = 15, summer: bool = False, **opportunity: Any
) -> dict[str, Any]:
    return make_problem(
        round=make_round(summer=summer),
        students=[make_student(birth_date=born(age), busy=[])],
        opportunities=[make_opportunity(slots=[make_slot(blocks=list(blocks))], **opportunity)],
    )


def _weekly(day: str, start: str, end: str) -> dict[str, str]:
    return {"day": day, "start": start, "end": end}


def test_minor_working_exactly_three_hours_is_accepted() -> None:
    """H7 edge: a 15-year-old working exactly 3 hours on a weekday, ending at 19:00."""
    assert check(_minor(_weekly("tue", "16:00", "19:00")), assign()) == []


def test_minor_working_before_seven_is_reported() -> None:
    """H7 window: a minor's block starts at 07:00 or later."""
    violations = check(_minor(_weekly("tue", "06:45", "08:00")), assign())
    assert reported(violations, "H7", "06:45-08:00", "07:00-19:00")


def test_minor_working_after_seven_pm_is_reported() -> None:
    """H7 window: a minor's block ends by 19:00 outside summer (dated blocks too)."""
    violations = check(_minor({"date": "2025-09-06", "start": "17:00", "end": "19:30"}), assign())
    assert reported(violations, "H7", "2025-09-06 17:00-19:30")


def test_minor_over_three_hours_on_a_weekday_is_reported() -> None:
    """H7 day: at most 3 hours on a Monday-Friday weekday."""
    violations = check(
        _minor(_weekly("tue", "07:00", "08:00"), _weekly("tue", "15:00", "17:30")), assign()
    )
    assert reported(violations, "H7", "210 min on tue")


def test_minor_dated_day_adds_weekday_blocks() -> None:
    """H7 day: a dated weekday's hours are that weekday's blocks plus the date's blocks."""
    # 2025-09-02 is a Tuesday: 2 h weekly + 1.5 h dated = 3.5 h.
    blocks = (
        _weekly("tue", "16:00", "18:00"),
        {"date": "2025-09-02", "start": "07:00", "end": "08:30"},
    )
    assert reported(check(_minor(*blocks), assign()), "H7", "210 min on 2025-09-02")


def test_minor_weekend_day_has_no_daily_limit() -> None:
    """H7 day edge: Saturday hours are limited only by the window and the week."""
    assert check(_minor(_weekly("sat", "07:00", "19:00")), assign()) == []


def test_minor_weekly_limit() -> None:
    """H7 week: at most 18 hours a week outside summer; exactly 18 is accepted."""
    weekdays = [_weekly(day, "16:00", "19:00") for day in ("mon", "tue", "wed", "thu", "fri")]
    assert check(_minor(*weekdays, _weekly("sat", "09:00", "12:00")), assign()) == []
    violations = check(_minor(*weekdays, _weekly("sat", "09:00", "12:01")), assign())
    assert reported(violations, "H7", "1081 min a week")


def test_minor_summer_rules() -> None:
    """H7 summer: 07:00-21:00, 8 hours a day and 40 a week."""
    weekdays = [_weekly(day, "12:00", "20:00") for day in ("mon", "tue", "wed", "thu", "fri")]
    assert check(_minor(*weekdays, summer=True), assign()) == []
    school_year = check(_minor(*weekdays), assign())
    assert reported(school_year, "H7", "480 min on mon")
    assert reported(school_year, "H7", "2400 min a week")
    late = check(_minor(_weekly("mon", "19:00", "21:15"), summer=True), assign())
    assert reported(late, "H7", "07:00-21:00")
    over = check(_minor(*weekdays, _weekly("sat", "09:00", "09:15"), summer=True), assign())
    assert reported(over, "H7", "2415 min a week")


@pytest.mark.parametrize(("age", "kind"), [(16, "internship"), (15, "job_shadow")])
def test_child_labour_exemptions(age: int, kind: str) -> None:
    """H7 edge: 16-year-olds and job shadows are exempt."""
    assert check(_minor(_weekly("tue", "15:00", "20:00"), age=age, kind=kind), assign()) == []


# --- H8: workplace mentors -------------------------------------------------------------------


def _mentored(**mentor: Any) -> dict[str, Any]:
    return make_problem(
        opportunities=[make_opportunity(requires_mentor=True)], mentors=[make_mentor(**mentor)]
    )


def test_workplace_mentor_is_accepted() -> None:
    """H8: a required mentor of the same employer whose clusters hold the opportunity's."""
    assert check(_mentored(), assign(mentor="m-1")) == []


def test_workplace_mentor_with_any_cluster_is_accepted() -> None:
    """H8 edge: a mentor with no clusters mentors in any cluster."""
    assert check(_mentored(clusters=[]), assign(mentor="m-1")) == []


def test_missing_required_mentor_is_reported() -> None:
    """H8: an opportunity that requires_mentor names a mentor on the assignment."""
    assert reported(check(_mentored(), assign()), "H8", "requires_mentor")


def test_unrequired_mentor_is_reported() -> None:
    """H8: no mentor on an assignment whose opportunity does not require one."""
    problem = make_problem(mentors=[make_mentor()])
    assert reported(check(problem, assign(mentor="m-1")), "H8", "does not require")


def test_mentor_of_another_employer_is_reported() -> None:
    """H8: the workplace mentor works for the opportunity's employer."""
    violations = check(_mentored(employer="emp-2"), assign(mentor="m-1"))
    assert reported(violations, "H8", "m-1", "emp-1")


def test_community_mentor_on_assignment_is_reported() -> None:
    """H8: a community mentor is not a workplace mentor."""
    violations = check(_mentored(employer=None), assign(mentor="m-1"))
    assert reported(violations, "H8", "m-1", "workplace mentor")


def test_mentor_cluster_mismatch_is_reported() -> None:
    """H8: the mentor's clusters hold the opportunity's cluster."""
    violations = check(_mentored(clusters=["HEALTH"]), assign(mentor="m-1"))
    assert reported(violations, "H8", "m-1", "do not hold IT")


def test_unknown_mentor_is_reported() -> None:
    """H8: the assignment's mentor exists."""
    assert reported(check(_mentored(), assign(mentor="m-9")), "H8", "m-9")


def test_workplace_mentor_over_capacity_is_reported() -> None:
    """H8: no mentor holds more students than its capacity."""
    problem = make_problem(
        students=[make_student(), make_student(id="st-2")],
        opportunities=[make_opportunity(requires_mentor=True, slots=[make_slot(capacity=2)])],
        mentors=[make_mentor()],
    )
    violations = check(problem, assign(mentor="m-1"), assign(student="st-2", mentor="m-1"))
    assert reported(violations, "H8", "mentor m-1 holds 2 students, capacity 1")


# --- H8: community mentors -------------------------------------------------------------------


def _community(student: Mapping[str, Any] | None = None, **mentor: Any) -> dict[str, Any]:
    return make_problem(
        students=[make_student(**{"wants_mentor": True, **(student or {})})],
        mentors=[make_community_mentor(**mentor)],
    )


def test_community_mentorship_is_accepted() -> None:
    """H8: a community mentor for a student who wants one, in the mentor's availability."""
    assert check(_community(), assign(), mentorships=[meet()]) == []


def test_community_mentorship_of_unplaced_student_is_accepted() -> None:
    """H8: a student gets a community mentor placed or not."""
    problem = _community({"birth_date": born(13)})
    solution = make_solution(problem, [], [meet()], [unplace("st-1", "too_young")])
    assert check_solution(problem, solution) == []


def test_mentorship_for_student_not_wanting_one_is_reported() -> None:
    """H8: only a student with wants_mentor gets a community mentor."""
    violations = check(_community({"wants_mentor": False}), assign(), mentorships=[meet()])
    assert reported(violations, "H8", "st-1", "does not want")


def test_workplace_mentor_in_mentorships_is_reported() -> None:
    """H8: a mentorship's mentor has employer null."""
    violations = check(_community(employer="emp-1"), assign(), mentorships=[meet()])
    assert reported(violations, "H8", "cm-1", "not a community mentor")


@pytest.mark.parametrize(("mentor", "student"), [(["HEALTH"], ["IT"])])
def test_clusters_that_do_not_meet_are_reported(mentor: list[str], student: list[str]) -> None:
    """H8: the mentor's and the student's clusters meet."""
    problem = _community({"clusters": student}, clusters=mentor)
    assert reported(check(problem, assign(), mentorships=[meet()]), "H8", "do not meet")


@pytest.mark.parametrize(("mentor", "student"), [(["HEALTH"], []), (["IT", "HEALTH"], ["IT"])])
def test_clusters_that_meet_are_accepted(mentor: list[str], student: list[str]) -> None:
    """H8 edge: clusters meet when they share one or either side is empty."""
    problem = _community({"clusters": student}, clusters=mentor)
    assert check(problem, assign(), mentorships=[meet()]) == []


@pytest.mark.parametrize(
    ("start", "end", "fragment"),
    [
        ("16:00", "16:45", "not mentor_meeting_minutes 30"),
        ("16:10", "16:40", "15-minute grid"),
        ("17:45", "18:15", "available"),
    ],
)
def test_badly_placed_meeting_is_reported(start: str, end: str, fragment: str) -> None:
    """H8 meeting: exactly mentor_meeting_minutes, on the 15-minute grid, inside availability."""
    violations = check(_community(), assign(), mentorships=[meet(start=start, end=end)])
    assert reported(violations, "H8", fragment), violations


def test_meeting_at_end_of_availability_is_accepted() -> None:
    """H8 meeting edge: a meeting ending exactly when availability ends."""
    assert check(_community(), assign(), mentorships=[meet(start="17:30", end="18:00")]) == []


def test_meeting_length_follows_the_round() -> None:
    """H8 meeting: mentor_meeting_minutes comes from the round."""
    problem = _community()
    problem["round"]["mentor_meeting_minutes"] = 45
    assert check(problem, assign(), mentorships=[meet(start="16:15", end="17:00")]) == []
    assert reported(check(problem, assign(), mentorships=[meet()]), "H8", "45")


def test_meeting_overlapping_busy_is_reported() -> None:
    """H8 meeting: no overlap with the student's busy blocks; touching is fine."""
    problem = _community({"busy": [{"day": "wed", "start": "15:00", "end": "16:15"}]})
    assert reported(check(problem, assign(), mentorships=[meet()]), "H8", "busy wed 15:00-16:15")
    assert check(problem, assign(), mentorships=[meet(start="16:15", end="16:45")]) == []


def test_meeting_overlapping_own_slot_is_reported() -> None:
    """H8 meeting: no overlap with the weekly blocks of the student's slot."""
    problem = _community()
    problem["opportunities"][0]["slots"][0]["blocks"].append(_weekly("wed", "16:00", "17:00"))
    violations = check(problem, assign(), mentorships=[meet()])
    assert reported(violations, "H8", "sl-1", "wed 16:00-17:00")
    assert check(problem, assign(), mentorships=[meet(start="17:00", end="17:30")]) == []


def test_meetings_of_one_mentor_overlapping_are_reported() -> None:
    """H8 meeting: a mentor's meetings do not overlap each other."""
    problem = make_problem(
        students=[make_student(wants_mentor=True), make_student(id="st-2", wants_mentor=True)],
        opportunities=[make_opportunity(slots=[make_slot(capacity=2)])],
        mentors=[make_community_mentor()],
    )
    both = [assign(), assign(student="st-2")]
    violations = check(
        problem, *both, mentorships=[meet(), meet(student="st-2", start="16:15", end="16:45")]
    )
    assert reported(violations, "H8", "cm-1", "overlaps")
    assert (
        check(
            problem, *both, mentorships=[meet(), meet(student="st-2", start="16:30", end="17:00")]
        )
        == []
    )


def test_community_mentor_over_capacity_is_reported() -> None:
    """H8: a community mentor holds at most its capacity."""
    problem = make_problem(
        students=[make_student(wants_mentor=True), make_student(id="st-2", wants_mentor=True)],
        opportunities=[make_opportunity(slots=[make_slot(capacity=2)])],
        mentors=[make_community_mentor(capacity=1)],
    )
    meetings = [meet(), meet(student="st-2", start="17:00", end="17:30")]
    violations = check(problem, assign(), assign(student="st-2"), mentorships=meetings)
    assert reported(violations, "H8", "cm-1 holds 2 students, capacity 1")


def test_two_mentorships_for_one_student_are_reported() -> None:
    """H8: a student has at most one mentorship."""
    problem = make_problem(
        students=[make_student(wants_mentor=True)],
        mentors=[make_community_mentor(), make_community_mentor(id="cm-2")],
    )
    meetings = [meet(), meet(mentor="cm-2", start="17:00", end="17:30")]
    assert reported(check(problem, assign(), mentorships=meetings), "H8", "st-1", "2 mentorships")


def test_workplace_and_community_mentor_together_are_reported() -> None:
    """H8: a student with a workplace mentor gets no community mentor."""
    problem = make_problem(
        students=[make_student(wants_mentor=True)],
        opportunities=[make_opportunity(requires_mentor=True)],
        mentors=[make_mentor(), make_community_mentor()],
    )
    violations = check(problem, assign(mentor="m-1"), mentorships=[meet()])
    assert reported(violations, "H8", "st-1", "workplace mentor m-1")


# --- H9 ------------------------------------------------------------------------------------


def _pinned(pin: dict[str, Any], **problem: Any) -> dict[str, Any]:
    return make_problem(pins=[{"student": "st-1", "opportunity": "op-1", **pin}], **problem)


def test_pin_that_holds_is_accepted() -> None:
    """H9: a pinned student placed as pinned."""
    assert check(_pinned({"slot": "sl-1"}), assign()) == []


def test_pinned_student_left_unplaced_is_reported() -> None:
    """H9: a pinned student is placed in the pinned opportunity."""
    violations = check(_pinned({}), unplaced=[unplace("st-1", "capacity_taken")])
    assert reported(violations, "H9", "pin 0", "st-1", "op-1")


def test_pinned_slot_not_held_is_reported() -> None:
    """H9: the pinned slot holds."""
    opportunity = make_opportunity(slots=[make_slot(), make_slot(id="sl-2")])
    problem = _pinned({"slot": "sl-2"}, opportunities=[opportunity])
    assert reported(check(problem, assign()), "H9", "pin 0", "sl-2")


def test_pinned_workplace_mentor_not_held_is_reported() -> None:
    """H9: the pinned workplace mentor is on the assignment."""
    problem = _pinned(
        {"mentor": "m-1"},
        opportunities=[make_opportunity(requires_mentor=True)],
        mentors=[make_mentor(), make_mentor(id="m-2")],
    )
    assert check(problem, assign(mentor="m-1")) == []
    assert reported(check(problem, assign(mentor="m-2")), "H9", "pin 0", "m-1")


def test_pinned_community_mentor_is_held_through_mentorships() -> None:
    """H9: a pinned community mentor is held by a mentorship."""
    problem = _pinned(
        {"mentor": "cm-1"},
        students=[make_student(wants_mentor=True)],
        mentors=[make_community_mentor()],
    )
    assert check(problem, assign(), mentorships=[meet()]) == []
    assert reported(check(problem, assign()), "H9", "pin 0", "cm-1")


# --- preference_rank -----------------------------------------------------------------------


def _ranked() -> dict[str, Any]:
    return make_problem(
        students=[make_student(preferences=["op-2", "op-1"])],
        opportunities=[
            make_opportunity(),
            make_opportunity(id="op-2", slots=[make_slot(id="sl-2")]),
        ],
    )


def test_preference_rank_is_accepted() -> None:
    """preference_rank: the 1-based rank of a preferred opportunity."""
    assert check(_ranked(), assign(preference_rank=2)) == []


@pytest.mark.parametrize("rank", [1, None, "2", 2.0])
def test_wrong_preference_rank_is_reported(rank: Any) -> None:
    """preference_rank: equals the rank when the opportunity is in the preferences."""
    violations = check(_ranked(), assign(preference_rank=rank))
    assert reported(violations, "preference_rank", "expected 2")


def test_preference_rank_outside_preferences_is_reported() -> None:
    """preference_rank: absent or null when the opportunity is not in the preferences."""
    assert check(make_problem(), assign(preference_rank=None)) == []
    assert reported(check(make_problem(), assign(preference_rank=1)), "preference_rank", "absent")


# --- metrics -------------------------------------------------------------------------------


def _metric_problem() -> dict[str, Any]:
    return make_problem(
        students=[
            make_student(preferences=["op-1"], priority=3, groups=["ell"], wants_mentor=True),
            make_student(id="st-2", groups=["ell", "iep"], travel_modes=["car"]),
            make_student(id="st-3", birth_date=born(13), groups=["iep"]),
        ],
        opportunities=[make_opportunity(slots=[make_slot(capacity=2)])],
        mentors=[make_community_mentor()],
    )


def _metric_solution(problem: Mapping[str, Any]) -> dict[str, Any]:
    return make_solution(
        problem,
        [assign(preference_rank=1), assign(student="st-2", travel_mode="car", travel_minutes=5)],
        [meet()],
        [unplace("st-3", "too_young")],
    )


def test_metrics_are_accepted() -> None:
    """Metrics: recomputed values match."""
    problem = _metric_problem()
    solution = _metric_solution(problem)
    assert solution["metrics"] == {
        "students": 3,
        "placed": 2,
        "placed_weighted": 5,
        "first_choice": 1,
        "top3": 1,
        "unranked": 1,
        "mentored": 1,
        "mean_travel_minutes": 2.5,
        "by_group": {"ell": {"students": 2, "placed": 2}, "iep": {"students": 2, "placed": 1}},
    }
    assert check_solution(problem, solution) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("students", 2),
        ("placed", 1),
        ("placed_weighted", 2),
        ("first_choice", 0),
        ("top3", 2),
        ("unranked", 0),
        ("mentored", 0),
        ("mean_travel_minutes", 2.4),
        ("mean_travel_minutes", "2.5"),
        ("by_group", {"ell": {"students": 2, "placed": 2}}),
        ("by_group", {"ell": {"students": 2, "placed": 1}, "iep": {"students": 2, "placed": 1}}),
        ("students", None),
    ],
)
def test_wrong_metric_is_reported(key: str, value: Any) -> None:
    """Metrics: every mismatch with the recomputed value is reported."""
    problem = _metric_problem()
    solution = _metric_solution(problem)
    solution["metrics"][key] = value
    assert reported(check_solution(problem, solution), "metrics", key)


def test_extra_group_label_is_reported() -> None:
    """Metrics: by_group has exactly the labels the students carry."""
    problem = _metric_problem()
    solution = _metric_solution(problem)
    solution["metrics"]["by_group"]["foster"] = {"students": 0, "placed": 0}
    assert reported(check_solution(problem, solution), "metrics", "foster")


def test_mean_travel_is_rounded_to_two_decimals() -> None:
    """Metrics: mean_travel_minutes rounded to 2 decimals; an exact tie may round either way."""
    students = [make_student(id=f"st-{i}") for i in range(8)]
    problem = make_problem(
        students=students, opportunities=[make_opportunity(slots=[make_slot(capacity=8)])]
    )
    problem["travel"] = [{"student": "st-0", "opportunity": "op-1", "mode": "walk", "minutes": 1}]
    assignments = [assign(student=f"st-{i}", travel_minutes=int(i == 0)) for i in range(8)]
    solution = make_solution(problem, assignments)
    for mean in (0.12, 0.13):  # 1/8 = 0.125
        solution["metrics"]["mean_travel_minutes"] = mean
        assert check_solution(problem, solution) == [], mean
    for mean in (0.125, 0.11, 0.14):
        solution["metrics"]["mean_travel_minutes"] = mean
        assert reported(check_solution(problem, solution), "metrics", "mean_travel_minutes"), mean


def test_mean_travel_is_zero_without_placements() -> None:
    """Metrics: mean_travel_minutes is 0 when nobody is placed."""
    problem = make_problem(students=[make_student(birth_date=born(13))])
    assert check(problem, unplaced=[unplace("st-1", "too_young")]) == []


# --- reasons of unplaced students -------------------------------------------------------------


def _unplaceable(**student: Any) -> dict[str, Any]:
    return make_problem(students=[make_student(**student)])


def test_true_reason_is_accepted() -> None:
    """Reasons: a rule code with an opportunity refusing by that rule, and its count."""
    problem = _unplaceable(birth_date=born(13))
    reason = {"student": "st-1", "reasons": [{"code": "too_young", "count": 1, "detail": "13"}]}
    assert check(problem, unplaced=[reason]) == []


def test_false_rule_reason_is_reported() -> None:
    """Reasons: a rule code needs an opportunity that refuses the student by that rule."""
    violations = check(
        _unplaceable(birth_date=born(13)), unplaced=[unplace("st-1", "too_young", "grade")]
    )
    assert reported(violations, "unplaced", "st-1", "grade")
    assert not reported(violations, "unplaced", "too_young")


def test_reason_count_over_refusing_opportunities_is_reported() -> None:
    """Reasons: count is at most the number of opportunities refusing by that rule."""
    problem = _unplaceable(birth_date=born(13))
    reason = {"student": "st-1", "reasons": [{"code": "too_young", "count": 2}]}
    assert reported(check(problem, unplaced=[reason]), "unplaced", "count 2")


def test_slot_rule_reason_is_checked_on_slots() -> None:
    """Reasons: schedule_conflict needs a slot that conflicts with the student's schedule."""
    problem = _unplaceable(busy=[_weekly("tue", "15:00", "17:00")])
    assert check(problem, unplaced=[unplace("st-1", "schedule_conflict")]) == []
    violations = check(problem, unplaced=[unplace("st-1", "child_labour_hours")])
    assert reported(violations, "unplaced", "child_labour_hours")


def test_no_opportunities_reason() -> None:
    """Reasons: no_opportunities only when no opportunity is in the clusters or preferences."""
    assert (
        check(_unplaceable(clusters=["HEALTH"]), unplaced=[unplace("st-1", "no_opportunities")])
        == []
    )
    violations = check(
        _unplaceable(clusters=["HEALTH"], preferences=["op-1"]),
        unplaced=[unplace("st-1", "no_opportunities")],
    )
    assert reported(violations, "unplaced", "op-1")


def test_capacity_taken_needs_an_eligible_slot() -> None:
    """Reasons: capacity_taken and no_mentor say the student is eligible somewhere."""
    problem = make_problem(students=[make_student(), make_student(id="st-2")])
    assert check(problem, assign(), unplaced=[unplace("st-2", "capacity_taken")]) == []
    problem["students"][1]["birth_date"] = born(13)
    violations = check(problem, assign(), unplaced=[unplace("st-2", "capacity_taken")])
    assert reported(violations, "unplaced", "st-2", "capacity_taken")
    assert reported(
        check(problem, assign(), unplaced=[unplace("st-2", "no_mentor")]), "unplaced", "no_mentor"
    )


# --- optimality ------------------------------------------------------------------------------


def test_optimal_answer_with_free_seat_is_reported() -> None:
    """Optimality: an optimal answer leaves no eligible unplaced student beside a free seat."""
    problem = make_problem(
        students=[make_student(), make_student(id="st-2")],
        opportunities=[make_opportunity(slots=[make_slot(capacity=2)])],
    )
    unplaced = [unplace("st-2", "capacity_taken")]
    assert check(problem, assign(), unplaced=unplaced) == []  # feasible: fine
    violations = check(problem, assign(), unplaced=unplaced, status="optimal")
    assert reported(violations, "optimality", "st-2", "sl-1")


def test_optimal_answer_with_full_seats_is_accepted() -> None:
    """Optimality edge: every seat taken, or its required mentor taken."""
    problem = make_problem(
        students=[make_student(), make_student(id="st-2")],
        opportunities=[make_opportunity(requires_mentor=True, slots=[make_slot(capacity=2)])],
        mentors=[make_mentor()],
    )
    unplaced = [unplace("st-2", "no_mentor")]
    assert check(problem, assign(mentor="m-1"), unplaced=unplaced, status="optimal") == []


def test_optimal_answer_with_free_community_mentor_is_reported() -> None:
    """Optimality: an optimal answer gives a free community mentor to a student wanting one."""
    problem = _community()
    violations = check(problem, assign(), status="optimal")
    assert reported(violations, "optimality", "st-1", "cm-1")
    problem["mentors"][0]["available"] = [_weekly("tue", "16:00", "18:00")]  # during the shift
    assert check(problem, assign(), status="optimal") == []


# --- robustness ------------------------------------------------------------------------------

_IDS = st.sampled_from(
    ["st-1", "st-2", "op-1", "sl-1", "m-1", "cm-1", "walk", "mon", "16:00", "24:00"]
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 70)
    | st.integers()
    | st.floats()
    | st.text(max_size=4)
    | _IDS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8) | _IDS, inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = st.sampled_from(
    [
        "format",
        "status",
        "objective",
        "assignments",
        "mentorships",
        "unplaced",
        "metrics",
        "infeasible_pins",
    ]
)
_ENTRY_FIELDS = st.sampled_from(
    [
        "student",
        "opportunity",
        "slot",
        "mentor",
        "travel_mode",
        "travel_minutes",
        "preference_rank",
        "day",
        "start",
        "end",
        "reasons",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    field=_FIELDS,
    value=_JSON,
    entry_field=_ENTRY_FIELDS,
    entry_value=_JSON,
    status=st.sampled_from(["feasible", "optimal", "infeasible", "unknown"]),
)
def test_malformed_solutions_never_raise(
    field: str, value: Any, entry_field: str, entry_value: Any, status: str
) -> None:
    """Robustness: any malformed solution yields messages, never an exception."""
    problem = make_problem(
        students=[make_student(wants_mentor=True), make_student(id="st-2")],
        mentors=[make_mentor(), make_community_mentor()],
        pins=[{"student": "st-1", "opportunity": "op-1"}],
    )
    solution = make_solution(
        problem, [assign()], [meet()], [unplace("st-2", "capacity_taken")], status=status
    )
    broken = copy.deepcopy(solution)
    for key in ("assignments", "mentorships", "unplaced"):
        broken[key][0][entry_field] = entry_value
    broken[field] = value
    violations = check_solution(problem, broken)
    assert isinstance(violations, list)
    assert all(isinstance(v, str) for v in violations)


@settings(max_examples=50, deadline=None)
@given(order=st.permutations(range(3)))
def test_order_of_assignments_does_not_matter(order: list[int]) -> None:
    """Robustness: the verdict does not depend on the order of the assignments."""
    problem = make_problem(
        students=[make_student(id=f"st-{i}") for i in range(3)],
        opportunities=[make_opportunity(slots=[make_slot(capacity=2)])],
    )
    assignments = [assign(student=f"st-{i}") for i in range(3)]
    solution = make_solution(problem, [assignments[i] for i in order])
    assert sorted(check_solution(problem, solution)) == sorted(
        check_solution(problem, make_solution(problem, assignments))
    )
