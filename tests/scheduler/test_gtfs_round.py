"""A generated round laid on Cairns: valid, on the real network, in its calendar and timezone,
with transit overrides measured on the timetable that the solver then uses."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest

import solver
from scheduler.generate import generate_round
from scheduler.gtfs_round import generate_round_on_feed
from scheduler.transit import (
    UNREACHABLE,
    Feed,
    load_feed,
    round_weekday,
    service_period,
    transit_groups,
    transit_minutes,
)
from solver.io import expand_travel_groups
from tests.gtfs_data import CAIRNS_EXTRACT

CAIRNS = CAIRNS_EXTRACT
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def cairns() -> Feed:
    return load_feed(CAIRNS)


@pytest.fixture(scope="module")
def term(cairns: Feed) -> Doc:
    return generate_round_on_feed(300, cairns, seed=3)


@pytest.fixture(scope="module")
def summer(cairns: Feed) -> Doc:
    return generate_round_on_feed(300, cairns, seed=3, summer=True)


@pytest.fixture(params=["term", "summer"])
def doc(request: pytest.FixtureRequest) -> Doc:
    result: Doc = request.getfixturevalue(request.param)
    return result


def _metres(a: dict[str, float], lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    p1, p2 = math.radians(a["lat"]), np.radians(lat)
    h = (
        np.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * np.cos(p2) * np.sin((np.radians(lon) - math.radians(a["lon"])) / 2) ** 2
    )
    metres: np.ndarray = 2 * 6_371_008.8 * np.arcsin(np.sqrt(h))
    return metres


def _nearest_stop_m(feed: Feed, loc: dict[str, float]) -> float:
    return float(_metres(loc, feed.stop_lat, feed.stop_lon).min())


def test_round_is_valid(doc: Doc) -> None:
    """The round is a valid wbl-problem/1 document (solver.load_problem accepts it)."""
    problem = solver.load_problem(doc)
    assert len(problem.students) == 300


def test_round_calendar_and_timezone(cairns: Feed, doc: Doc) -> None:
    """Timezone, dates, holidays and dated blocks follow the feed's calendar."""
    rnd = doc["round"]
    assert rnd["timezone"] == "Australia/Brisbane"
    first, last = service_period(cairns)
    start, end = dt.date.fromisoformat(rnd["start_date"]), dt.date.fromisoformat(rnd["end_date"])
    assert first <= start <= end <= last
    for day in rnd["holidays"]:
        assert "CNS2014-CNS_MUL-Weekday-00" in cairns.calendar_dates[dt.date.fromisoformat(day)]
    dated = [b for o in doc["opportunities"] for sl in o["slots"] for b in sl["blocks"]]
    for block in (b for b in dated if "date" in b):
        day = dt.date.fromisoformat(block["date"])
        assert start <= day <= end
        assert day.weekday() < 5
        assert block["date"] not in rnd["holidays"]


def test_term_round_is_the_schools_term(term: Doc) -> None:
    """The term round keeps its length and weekdays in 2014; Labour Day is a holiday."""
    made = generate_round(300, seed=3)["round"]
    old = dt.date.fromisoformat(made["start_date"]), dt.date.fromisoformat(made["end_date"])
    new = (
        dt.date.fromisoformat(term["round"]["start_date"]),
        dt.date.fromisoformat(term["round"]["end_date"]),
    )
    assert (new[1] - new[0]).days == (old[1] - old[0]).days
    assert new[0].weekday() == old[0].weekday()
    assert "2014-10-06" in term["round"]["holidays"]


def test_students_keep_their_age(doc: Doc) -> None:
    """Birth dates move with the round: each student's age on the start date is unchanged."""
    made = generate_round(300, seed=3, summer=doc["round"]["summer"])

    def ages(d: Doc) -> list[int]:
        on = dt.date.fromisoformat(d["round"]["start_date"])
        out = []
        for s in d["students"]:
            b = dt.date.fromisoformat(s["birth_date"])
            out.append(on.year - b.year - ((on.month, on.day) < (b.month, b.day)))
        return out

    assert ages(doc) == ages(made)


def test_places_are_on_the_network(cairns: Feed, doc: Doc) -> None:
    """Schools near stops; transit_accessible iff a stop within 800 m; most homes near stops."""
    for school in doc["schools"]:
        assert _nearest_stop_m(cairns, school["location"]) <= 351
    for opp in doc["opportunities"]:
        near = _nearest_stop_m(cairns, opp["location"]) <= 800
        assert opp["transit_accessible"] == near, opp["id"]
    homes = [_nearest_stop_m(cairns, s["location"]) for s in doc["students"] if "location" in s]
    assert np.mean(np.array(homes) <= 800) > 0.6
    lat = [s["location"]["lat"] for s in doc["students"] if "location" in s]
    assert min(lat) > -17.2
    assert max(lat) < -16.6


def test_travel_is_measured_transit(cairns: Feed, term: Doc) -> None:
    """Transit times come in one travel group per school (term time), and every one equals
    transit_minutes from the school on the round's weekday."""
    assert term["travel"] == []
    assert term["travel_groups"]
    students_of = {s["id"]: s for s in term["students"]}
    for group in term["travel_groups"]:
        # Students without a school travel from home: a group per 250 m cell.
        schools_in = {students_of[sid].get("school", "home") for sid in group["students"]}
        place = group["id"].removeprefix("transit:")
        assert schools_in == ({"home"} if "," in place else {place}), group["id"]
    travel = expand_travel_groups(term)["travel"]
    assert {t["mode"] for t in travel} == {"transit"}
    students = {s["id"]: s for s in term["students"]}
    schools = {s["id"]: s["location"] for s in term["schools"]}
    opps = {o["id"]: o["location"] for o in term["opportunities"]}
    day = round_weekday(
        cairns,
        dt.date.fromisoformat(term["round"]["start_date"]),
        dt.date.fromisoformat(term["round"]["end_date"]),
    )
    sample = travel[:: max(1, len(travel) // 40)]
    for t in sample:
        if "school" not in students[t["student"]]:
            continue
        assert "transit" in students[t["student"]]["travel_modes"]
        school = schools[students[t["student"]]["school"]]
        site = opps[t["opportunity"]]
        m = transit_minutes(
            cairns, [(school["lat"], school["lon"])], [(site["lat"], site["lon"])], day
        )[0, 0]
        assert t["minutes"] == (None if m == UNREACHABLE else int(m))


def test_summer_origin_is_home(summer: Doc) -> None:
    """In summer the overrides start from home: one school's students differ to one site."""
    by_pair: dict[tuple[str, str], set[int | None]] = {}
    students = {s["id"]: s for s in summer["students"]}
    for t in expand_travel_groups(summer)["travel"]:
        school = students[t["student"]].get("school", "")
        by_pair.setdefault((school, t["opportunity"]), set()).add(t["minutes"])
    assert any(len(v) > 1 for v in by_pair.values())


def test_deterministic(cairns: Feed, term: Doc) -> None:
    """The same arguments give the same document."""
    assert generate_round_on_feed(300, cairns, seed=3) == term


_KIND = {"sat": "saturday", "sun": "sunday"}


def _kind(block: Doc) -> str:
    """The day type of a weekly or dated block."""
    day = (
        block.get("day")
        or ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
            dt.date.fromisoformat(block["date"]).weekday()
        ]
    )
    return _KIND.get(day, "weekday")


def test_solver_uses_the_overrides(term: Doc) -> None:
    """Solved, each transit placement takes its slot's measured trips: the longest trip there
    or back over the slot's blocks, read off the group's `trips`; the checker agrees."""
    problem = solver.load_problem(term)
    solution = solver.solve(problem, solver.SolveOptions(time_limit=30, deterministic=True))
    assert solution.status in ("optimal", "feasible")
    entry = {
        (sid, t["opportunity"]): t
        for g in term["travel_groups"]
        for sid in g["students"]
        for t in g["travel"]
    }
    blocks = {sl["id"]: sl["blocks"] for o in term["opportunities"] for sl in o["slots"]}
    transit = [a for a in solution.assignments if a.travel_mode == "transit"]
    assert transit
    for a in transit:
        trips = entry[a.student, a.opportunity]["trips"]
        legs = [
            (
                trips[_kind(b)]["there"][b["start"]],
                trips[_kind(b)]["back"][b["end"]],
            )
            for b in blocks[a.slot]
        ]
        assert a.travel_minutes == max(max(leg) for leg in legs)
    assert solver.check_solution(term, solution.to_dict()) == []


def test_pruned_overrides_change_nothing(cairns: Feed, term: Doc) -> None:
    """Pruned entries cannot matter: with every pair measured, the placements are the same."""
    bare = dict(term, travel_groups=[])
    full = dict(term, travel_groups=transit_groups(bare, cairns, prune=False))

    def entries(doc: Doc) -> int:
        return sum(len(g["travel"]) for g in doc["travel_groups"])

    assert entries(full) > entries(term)
    options = solver.SolveOptions(time_limit=30, deterministic=True, community_mentors=False)
    a = solver.solve(solver.load_problem(term), options)
    b = solver.solve(solver.load_problem(full), options)

    def placed(s: solver.Solution) -> list[tuple[str, str, str, int]]:
        return sorted(
            (x.student, x.opportunity, x.travel_mode, x.travel_minutes) for x in s.assignments
        )

    assert placed(a) == placed(b)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_pins_kept_hold_and_pins_dropped_got_longer(cairns: Feed, seed: int) -> None:
    """Pins survive the move onto the city only where the trip did not get longer: every kept
    pin's pair is allowed by the solver's rules on the new round, every generator pin that was
    dropped now travels longer (by the solver's own travel), and some pins are kept."""
    from solver.eligibility import pair_trip, refusal_codes
    from solver.instance import Instance

    generated = generate_round(300, seed=seed)
    moved = generate_round_on_feed(300, cairns, seed=seed)
    old_inst = Instance(solver.load_problem(generated))
    new_inst = Instance(solver.load_problem(moved))
    kept = {(p["student"], p["opportunity"]) for p in moved["pins"]}
    assert kept <= {(p["student"], p["opportunity"]) for p in generated["pins"]}
    for p in generated["pins"]:
        s, o = new_inst.student_ix[p["student"]], new_inst.opp_ix[p["opportunity"]]
        now = pair_trip(new_inst, s, o)
        was = pair_trip(
            old_inst, old_inst.student_ix[p["student"]], old_inst.opp_ix[p["opportunity"]]
        )
        assert was is not None
        if (p["student"], p["opportunity"]) in kept:
            assert now is not None
            assert now[1] <= was[1]
            assert refusal_codes(new_inst, s, o) == []
        else:
            assert now is None or now[1] > was[1]
    if seed == 4:
        assert kept  # the rule keeps pins, not only drops them (none survive seed 3's move)
