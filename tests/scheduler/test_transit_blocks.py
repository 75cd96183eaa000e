"""Trips by block on the Cairns extract (tests/data/gtfs), traced by hand in its stop_times.txt:
a Saturday shift, late shifts with and without a bus back, classes out at 14:20 against 15:45,
a walk shorter than any bus; then the same trips through `transit_groups`, the solver, the
checker and the explanations."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from scheduler.explain import Facts, explain, pair_facts
from scheduler.transit import (
    UNREACHABLE,
    Feed,
    block_trips,
    load_feed,
    measurement_note,
    service_warning,
    stand_ins,
    transit_groups,
    transit_minutes,
)
from solver import check_solution, load_problem, solve
from solver.eligibility import refusal_codes
from solver.instance import Instance
from solver.solution import SolveOptions
from tests.gtfs_data import CAIRNS_EXTRACT

PIER_B = (-16.920632, 145.778614)  # 750452 The Pier Cairns - Terminus Stop B
REDLYNCH_SC = (-16.894962, 145.699424)  # 750368 Redlynch Shopping Centre
IMPEY_ST = (-16.871212, 145.680874)  # 750077 Impey St N233 (Lake Placid)
MCMANUS_ST = (-16.904361, 145.728671)  # 750160 McManus St C215
WOODWARD_ST = (-16.901298, 145.74186)  # 750172 Woodward St C39
# The feed dates that stand in for a round in September 2014 (`stand_ins`).
MONDAY, SATURDAY, SUNDAY = dt.date(2014, 9, 8), dt.date(2014, 9, 6), dt.date(2014, 9, 7)


@pytest.fixture(scope="module")
def cairns() -> Feed:
    return load_feed(CAIRNS_EXTRACT)


def _hm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def test_stand_in_dates(cairns: Feed) -> None:
    """A September 2014 round is measured on the nearest ordinary Monday, Saturday and Sunday
    of the feed (no calendar_dates exception on them); no warning inside the service."""
    days = stand_ins(cairns, dt.date(2014, 9, 8), dt.date(2014, 9, 19))
    assert days == {"weekday": MONDAY, "saturday": SATURDAY, "sunday": SUNDAY}
    assert service_warning(cairns, dt.date(2014, 9, 8), dt.date(2014, 9, 19)) is None


def test_round_outside_the_service_is_warned_with_dates(cairns: Feed) -> None:
    """A 2026 round on the 2014 feed: the warning names the round's dates, the feed's service
    and the date measured for each day type."""
    warning = service_warning(cairns, dt.date(2026, 9, 8), dt.date(2026, 12, 18))
    assert warning is not None
    assert "2026-09-08 to 2026-12-18" in warning
    assert "serves 2014-05-26 to 2014-12-28" in warning
    days = stand_ins(cairns, dt.date(2026, 9, 8), dt.date(2026, 12, 18))
    for kind, day in days.items():
        assert day is not None
        assert f"{kind} {day.isoformat()}" in warning
    assert days["weekday"].weekday() == 1  # 8 September 2026 is a Tuesday: so is its stand-in


def test_saturday_shift_there_and_back(cairns: Feed) -> None:
    """Saturday 09:00-13:00 at Redlynch Shopping Centre from the Pier stop B, on Saturday's
    timetable (not the weekday's): there 37 min, back 56 min."""
    # There, arriving by 09:00 (Saturday trips of stop_times.txt):
    #   121 ...-Saturday-00-4171993  Pier B 08:23 -> Redlynch Shopping Centre 08:51
    #   the next bus from the Pier, 123 ...-4172337, leaves 08:38 and arrives 09:15: too late.
    #   Leave 08:23, 37 min before 09:00 (the weekday 121 is 32 min before 16:00, below).
    # Back, leaving at 13:00:
    #   123 ...-Saturday-00-4172326  Redlynch Shopping Centre 13:20 -> Abbott St C246 13:53,
    #   then 180 m on foot (176 s) to Pier B: 13:55:56, so 56 min.
    there, back = block_trips(
        cairns, SATURDAY, [PIER_B], [REDLYNCH_SC], [(0, _hm("09:00"))], [(0, _hm("13:00"))]
    )
    assert there.tolist() == [[37]]
    assert back.tolist() == [[56]]
    weekday, _ = block_trips(cairns, MONDAY, [PIER_B], [REDLYNCH_SC], [(0, _hm("16:00"))], [])
    assert weekday.tolist() == [[32]]  # 121 ...-4166570: Pier B 15:28 -> 15:56


def test_late_shift_with_a_bus_back(cairns: Feed) -> None:
    """A weekday shift ending 21:00 at Redlynch: 123 ...-Weekday-00-4172318 leaves Redlynch
    Shopping Centre 21:16, Abbott St C246 21:48, 176 s on foot to Pier B: 51 min."""
    _, back = block_trips(cairns, MONDAY, [PIER_B], [REDLYNCH_SC], [], [(0, _hm("21:00"))])
    assert back.tolist() == [[51]]


def test_late_shift_without_a_bus_back(cairns: Feed) -> None:
    """Sunday at Impey St: the stops within 800 m (750077, 750078, 750366) are the 122's only,
    whose last Sunday bus passes them at 20:52-20:56 (...-Sunday-00-4180994): after a 21:00
    shift there is no bus back; after 19:00 the 122 at 19:54 would need 136 minutes home."""
    there, back = block_trips(
        cairns,
        SUNDAY,
        [PIER_B],
        [IMPEY_ST],
        [(0, _hm("17:00"))],
        [(0, _hm("21:00")), (0, _hm("19:00"))],
    )
    assert back[0, 0] == UNREACHABLE
    assert back[0, 1] == 136
    assert there[0, 0] != UNREACHABLE
    # Walking the whole way (10 km) does not count, even for a walker with 3 hours to spare.
    _, back = block_trips(
        cairns, SUNDAY, [PIER_B], [IMPEY_ST], [], [(0, _hm("21:00"))], walk_minutes=[180]
    )
    assert back[0, 0] == UNREACHABLE


def test_walk_shorter_than_any_bus(cairns: Feed) -> None:
    """McManus St C215 to Woodward St C39, 1,444 m apart: the bus (waiting included, the
    window's median) takes 35 min; a rider who may walk walks it in 24 (1.3 x 1,444 m at
    4.8 km/h); without walking, 800 m is as far as the router walks."""
    metres = 1443.94
    walk = math.ceil(1.3 * metres / (4.8 / 3.6) / 60)
    assert walk == 24
    bus = transit_minutes(cairns, [MCMANUS_ST], [WOODWARD_ST], MONDAY)
    assert bus.tolist() == [[35]]
    walked = transit_minutes(cairns, [MCMANUS_ST], [WOODWARD_ST], MONDAY, walk_minutes=[60])
    assert walked.tolist() == [[walk]]
    # Only as far as the commute limit: 20 minutes do not reach Woodward St on foot.
    limited = transit_minutes(cairns, [MCMANUS_ST], [WOODWARD_ST], MONDAY, walk_minutes=[20])
    assert limited.tolist() == [[35]]


# --- through the groups, the solver, the checker and the explanations ---------------------------


def _student(sid: str, bell: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "name": sid,
        "school": "sc-pier",
        "grade": 11,
        "birth_date": "1998-01-01",
        "travel_modes": ["transit"],
        "busy": [
            {"day": d, "start": "08:00", "end": bell} for d in ("mon", "tue", "wed", "thu", "fri")
        ],
        **extra,
    }


def _opp(oid: str, at: tuple[float, float], blocks: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "id": oid,
        "employer": "em",
        "title": oid,
        "kind": "internship",
        "cluster": "retail",
        "location": {"lat": at[0], "lon": at[1]},
        "slots": [{"id": f"{oid}-1", "capacity": 5, "blocks": blocks}],
    }


def _round(students: list[dict[str, Any]], opps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": "wbl-problem/1",
        "round": {
            "id": "r",
            "name": "r",
            "start_date": "2014-09-08",
            "end_date": "2014-09-19",
            "timezone": "Australia/Brisbane",
        },
        "schools": [
            {"id": "sc-pier", "name": "Pier", "location": {"lat": PIER_B[0], "lon": PIER_B[1]}}
        ],
        "students": students,
        "employers": [{"id": "em", "name": "Employer"}],
        "opportunities": opps,
        "mentors": [],
    }


def _measured(doc: dict[str, Any], feed: Feed) -> dict[str, Any]:
    return dict(doc, travel_groups=transit_groups(doc, feed, prune=False))


def test_groups_carry_the_trips_of_each_block(cairns: Feed) -> None:
    """`transit_groups` writes, per entry, the trips of every block of the opportunity's slots
    by day type, as `block_trips` measures them; `minutes` stays the weekday window's median."""
    doc = _measured(
        _round(
            [_student("st", "14:20")],
            [
                _opp(
                    "shop",
                    REDLYNCH_SC,
                    [
                        {"day": "thu", "start": "16:00", "end": "21:00"},
                        {"day": "sat", "start": "09:00", "end": "13:00"},
                    ],
                )
            ],
        ),
        cairns,
    )
    (group,) = doc["travel_groups"]
    assert group["travel"] == [
        {
            "opportunity": "shop",
            "mode": "transit",
            "minutes": 51,
            "trips": {
                "weekday": {"there": {"16:00": 32}, "back": {"21:00": 51}},
                "saturday": {"there": {"09:00": 37}, "back": {"13:00": 56}},
            },
        }
    ]


def test_bell_at_1420_against_1545(cairns: Feed) -> None:
    """A Thursday 16:00 shift at Redlynch: the last bus that arrives in time leaves the Pier at
    15:28 (32 min). Classes out at 14:20: placed, with the slot's longest trip (back at 19:00,
    49 min). Out at 15:45: refused, schedule_conflict (the next bus, 15:40, arrives 16:21)."""
    doc = _measured(
        _round(
            [_student("early", "14:20"), _student("late", "15:45")],
            [_opp("shop", REDLYNCH_SC, [{"day": "thu", "start": "16:00", "end": "19:00"}])],
        ),
        cairns,
    )
    trips = doc["travel_groups"][0]["travel"][0]["trips"]
    assert trips == {"weekday": {"there": {"16:00": 32}, "back": {"19:00": 49}}}
    inst = Instance(load_problem(doc))
    assert refusal_codes(inst, 0, 0) == []
    assert refusal_codes(inst, 1, 0) == ["schedule_conflict"]
    sol = solve(load_problem(doc), SolveOptions(time_limit=10, deterministic=True)).to_dict()
    assert [(a["student"], a["travel_minutes"]) for a in sol["assignments"]] == [("early", 49)]
    assert check_solution(doc, sol) == []
    # Measured as before (the window's median, 51 min each way), both students were refused:
    # 16:00 - 51 is 15:09, before either bell... for the early one only by the median's wait.
    old = dict(doc, travel_groups=transit_groups(doc, cairns, prune=False, by_block=False))
    inst = Instance(load_problem(old))
    assert refusal_codes(inst, 0, 0) == []
    assert refusal_codes(inst, 1, 0) == ["schedule_conflict"]


def test_saturday_shift_and_no_bus_back_through_the_solver(cairns: Feed) -> None:
    """A transit rider is placed on a Saturday shift at 56 minutes (the trip back); a Sunday
    shift at Impey St ending 21:00 is refused for no_transport_mode though a bus gets there,
    and the explanation says there is no bus back after the 21:00 shift."""
    doc = _measured(
        _round(
            # Two hours' commute: Impey St is 83 minutes away on Sunday afternoons.
            [_student("st", "14:20", preferences=["sunday", "saturday"], max_commute_minutes=120)],
            [
                _opp("sunday", IMPEY_ST, [{"day": "sun", "start": "17:00", "end": "21:00"}]),
                _opp("saturday", REDLYNCH_SC, [{"day": "sat", "start": "09:00", "end": "13:00"}]),
            ],
        ),
        cairns,
    )
    inst = Instance(load_problem(doc))
    assert refusal_codes(inst, 0, 0) == ["no_transport_mode"]
    assert refusal_codes(inst, 0, 1) == []
    sol = solve(load_problem(doc), SolveOptions(time_limit=10, deterministic=True)).to_dict()
    assert [(a["opportunity"], a["travel_minutes"]) for a in sol["assignments"]] == [
        ("saturday", 56)
    ]
    assert check_solution(doc, sol) == []
    facts = pair_facts(inst, 0, 0)
    assert (facts.shift_end, facts.back_minutes) == ("21:00", None)
    assert explain("no_transport_mode", facts=facts) == (
        "There is no bus back after your 21:00 shift at sunday."
    )
    # Without the facts of the pair the sentence is the general one.
    assert explain("no_transport_mode", facts=Facts(opportunity="sunday")) == (
        "None of the ways you travel can get you to sunday."
    )


def test_bus_back_over_the_limit_is_explained(cairns: Feed) -> None:
    """A Sunday shift at Impey St ending 19:00: the bus back takes 136 minutes, over a
    two-hour limit: commute_too_long, said with the shift's end and the trip back."""
    doc = _measured(
        _round(
            [_student("st", "14:20", max_commute_minutes=120)],
            [_opp("lake", IMPEY_ST, [{"day": "sun", "start": "15:00", "end": "19:00"}])],
        ),
        cairns,
    )
    inst = Instance(load_problem(doc))
    assert refusal_codes(inst, 0, 0) == ["commute_too_long"]
    facts = pair_facts(inst, 0, 0)
    assert explain("commute_too_long", facts=facts) == (
        "The bus back after your 19:00 shift at lake takes 136 minutes, longer than your limit"
        " of 120 minutes."
    )


def test_measurement_note_says_the_median_and_the_dates(cairns: Feed) -> None:
    """What `wbl round transit` and `wbl solve --gtfs` print: the dates measured, which median,
    and the warning first when the round lies outside the feed's service."""
    inside = measurement_note(
        {"round": {"start_date": "2014-09-08", "end_date": "2014-09-19"}}, cairns
    )
    assert inside[0] == (
        "measured on cairns_extract.zip: weekday on 2014-09-08 (Mon), saturday on 2014-09-06"
        " (Sat), sunday on 2014-09-07 (Sun)"
    )
    assert "the upper median of 12 departures every 5 min from 15:00 to 16:00" in inside[1]
    outside = measurement_note(
        {"round": {"start_date": "2026-09-08", "end_date": "2026-12-18"}}, cairns
    )
    assert outside[0].startswith("WARNING: the round runs 2026-09-08 to 2026-12-18")
    assert len(outside) == 3
