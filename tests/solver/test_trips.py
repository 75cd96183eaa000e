"""`trips` on a travel group entry: times by day type and time, the trip there arriving by a
block's start and the trip back leaving at its end. A slot is reachable by a mode only if both
trips exist for every block; H4 holds the slot's longest trip to the limit, H5 keeps each block
its own trips. The vectorised pass, the one-pair rules (manual moves), the solver and the
independent checker agree; a round without `trips` means what it meant before."""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import pytest

from solver import check_solution, load_problem, solve
from solver.eligibility import _Estimates, compute_eligibility, pair_slot_trip, refusal_codes
from solver.instance import Instance
from solver.problem import Slot, Student, Trips, parse_blocks
from solver.rules import schedule_clear
from solver.solution import SolveOptions
from solver.travel import block_legs
from solver.validate import validate_problem
from tests.solver.random_rounds import random_round, with_travel_groups
from tests.solver.test_validate import make_doc

_KIND = {"sat": "saturday", "sun": "sunday"}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _kind(block: dict[str, Any]) -> str:
    if "day" in block:
        return _KIND.get(block["day"], "weekday")
    import datetime as dt

    return _KIND.get(_DAYS[dt.date.fromisoformat(block["date"]).weekday()], "weekday")


def with_trips(doc: dict[str, Any], seed: int) -> dict[str, Any]:
    """Random `trips` on most group entries: for some of the blocks of the entry's
    opportunity, a time there and back (null sometimes), others left to `minutes`."""
    rng = random.Random(seed * 7 + 1)
    doc = copy.deepcopy(doc)
    blocks = {o["id"]: [b for sl in o["slots"] for b in sl["blocks"]] for o in doc["opportunities"]}
    for g in doc.get("travel_groups") or ():
        for t in g["travel"]:
            if rng.random() < 0.2:
                continue
            trips: dict[str, dict[str, dict[str, int | None]]] = {}
            for b in blocks[t["opportunity"]]:
                legs = trips.setdefault(_kind(b), {})
                for direction, clock in (("there", b["start"]), ("back", b["end"])):
                    if rng.random() < 0.8:
                        value = rng.choice((None, 0, 10, 25, 40, 55, 75, 120))
                        legs.setdefault(direction, {})[clock] = value
            t["trips"] = trips
    return doc


def _eligibility(doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch, *, table: bool) -> Any:
    with monkeypatch.context() as m:
        if not table:
            m.setattr(_Estimates, "MAX_CELLS", 0)
        return compute_eligibility(Instance(load_problem(doc)))


@pytest.mark.parametrize("seed", range(120))
def test_pass_equals_one_pair_rules(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every (student, slot) the vectorised pass allows is allowed by `refusal_codes` at that
    slot with the slot's trip (`pair_slot_trip`) as its minutes and mode, and nothing else is;
    with the origin table and without, the same pairs and refusal counts."""
    doc = with_trips(with_travel_groups(random_round(seed), seed), seed)
    assert validate_problem(doc) == []
    inst = Instance(load_problem(doc))
    elig = _eligibility(doc, monkeypatch, table=True)
    other = _eligibility(doc, monkeypatch, table=False)
    for name in ("student", "slot", "minutes", "mode", "refusals", "candidates"):
        np.testing.assert_array_equal(getattr(elig, name), getattr(other, name), err_msg=name)
    allowed = {
        (int(s), int(sl)): (int(t), int(m))
        for s, sl, t, m in zip(elig.student, elig.slot, elig.minutes, elig.mode, strict=True)
    }
    modes = ("walk", "bike", "transit", "car")
    for s in range(inst.n_students):
        for sl in range(inst.n_slots):
            o = int(inst.slot_opp[sl])
            codes = refusal_codes(inst, s, o, sl)
            assert (codes == []) == ((s, sl) in allowed), (s, sl, codes)
            if (s, sl) in allowed:
                way = pair_slot_trip(inst, s, o, inst.slots[sl])
                assert way is not None
                assert allowed[s, sl] == (way.minutes, modes.index(way.mode))


@pytest.mark.parametrize("seed", range(40))
def test_solutions_pass_the_checker(seed: int) -> None:
    """Solved with trips, every placement, travel time and reason passes the checker."""
    doc = with_trips(with_travel_groups(random_round(seed), seed), seed)
    solution = solve(load_problem(doc), SolveOptions(time_limit=10, seed=seed, deterministic=True))
    assert check_solution(doc, solution.to_dict()) == []


def _pair(trips: dict[str, Any] | None, *, minutes: int | None = 30) -> dict[str, Any]:
    """One transit-only student with classes until 15:00 on Tuesdays, one opportunity whose slot
    is Tuesday 16:00-18:00, and the student's group entry (with `trips` when given)."""
    doc = make_doc(pins=[], forbidden=[], travel=[])
    student = doc["students"][0]
    student.update(
        travel_modes=["transit"], busy=[{"day": "tue", "start": "08:00", "end": "15:00"}]
    )
    student["max_commute_minutes"] = 60
    opp = doc["opportunities"][0]
    doc["opportunities"] = [opp]
    doc["mentors"] = [m for m in doc["mentors"] if m.get("employer") is None]
    student["preferences"] = [opp["id"]]
    doc["students"] = [student]
    opp.update(requires_mentor=False, required_credentials=[], hazardous=False)
    for key in ("min_grade", "min_age", "accepts", "capacity"):
        opp.pop(key, None)
    opp["slots"] = [
        {"id": "sl", "capacity": 1, "blocks": [{"day": "tue", "start": "16:00", "end": "18:00"}]}
    ]
    entry: dict[str, Any] = {"opportunity": opp["id"], "mode": "transit", "minutes": minutes}
    if trips is not None:
        entry["trips"] = trips
    doc["travel_groups"] = [{"id": "g", "students": [student["id"]], "travel": [entry]}]
    return doc


def _codes(doc: dict[str, Any]) -> list[str]:
    assert validate_problem(doc) == []
    return refusal_codes(Instance(load_problem(doc)), 0, 0)


def test_slot_takes_its_longest_trip() -> None:
    """The slot's time is the longest of its trips there and back; `minutes` is not used when
    both are measured."""
    doc = _pair({"weekday": {"there": {"16:00": 20}, "back": {"18:00": 45}}}, minutes=5)
    inst = Instance(load_problem(doc))
    way = pair_slot_trip(inst, 0, 0, inst.slots[0])
    assert way is not None
    assert (way.mode, way.minutes, way.legs) == ("transit", 45, ((20, 45),))
    sol = solve(load_problem(doc), SolveOptions(time_limit=5, deterministic=True)).to_dict()
    assert [(a["travel_mode"], a["travel_minutes"]) for a in sol["assignments"]] == [
        ("transit", 45)
    ]
    assert check_solution(doc, sol) == []


def test_no_bus_back_refuses_the_slot() -> None:
    """No trip back after the block: transit cannot make the slot (no_transport_mode), though
    the trip there exists; a trip back over the limit is commute_too_long."""
    assert _codes(_pair({"weekday": {"there": {"16:00": 20}, "back": {"18:00": None}}})) == [
        "no_transport_mode"
    ]
    assert _codes(_pair({"weekday": {"there": {"16:00": 20}, "back": {"18:00": 61}}})) == [
        "commute_too_long"
    ]
    assert _codes(_pair({"weekday": {"there": {"16:00": 20}, "back": {"18:00": 60}}})) == []


def test_trip_there_must_leave_after_the_bell() -> None:
    """H5 with the trip there: leaving 16:00 - 60 = 15:00 is just after classes end at 15:00;
    61 minutes would mean leaving during class (schedule_conflict)."""
    assert _codes(_pair({"weekday": {"there": {"16:00": 60}, "back": {"18:00": 10}}})) == []
    doc = _pair({"weekday": {"there": {"16:00": 61}, "back": {"18:00": 10}}})
    doc["students"][0]["max_commute_minutes"] = 90
    assert _codes(doc) == ["schedule_conflict"]


def test_unlisted_times_and_day_types_take_minutes() -> None:
    """A block whose day type or time `trips` does not list takes the entry's `minutes`; a
    Saturday time does not stand for a Tuesday block."""
    # 61 minutes there also means leaving at 14:59, during class.
    doc = _pair({"saturday": {"there": {"16:00": 5}, "back": {"18:00": 5}}}, minutes=61)
    assert _codes(doc) == ["commute_too_long", "schedule_conflict"]
    doc = _pair({"weekday": {"back": {"18:00": 5}}}, minutes=61)
    assert _codes(doc) == ["commute_too_long", "schedule_conflict"]
    doc = _pair({"weekday": {"there": {"16:00": 40}, "back": {"18:00": 5}}}, minutes=None)
    assert _codes(doc) == []


def test_schedule_clear_with_legs() -> None:
    """`rules.schedule_clear` widens each block by its own trips: there before, back after."""
    slot = Slot(
        id="x", capacity=1, blocks=parse_blocks([{"day": "mon", "start": "16:00", "end": "18:00"}])
    )
    import datetime as dt

    def busy(start: str, end: str) -> Student:
        return Student(
            id="s",
            name="s",
            birth_date=dt.date(2008, 1, 1),
            busy=parse_blocks([{"day": "mon", "start": start, "end": end}]),
        )

    assert schedule_clear(busy("08:00", "15:30"), slot, 0, [(30, 0)])
    assert not schedule_clear(busy("08:00", "15:31"), slot, 0, [(30, 0)])
    assert schedule_clear(busy("18:40", "20:00"), slot, 99, [(0, 40)])
    assert not schedule_clear(busy("18:39", "20:00"), slot, 0, [(0, 40)])
    trips = Trips(there={("weekday", 16 * 60): 30}, back={})
    assert block_legs(12, trips, slot) == ((30, 12),)
    assert block_legs(None, trips, slot) is None


def test_validation_names_each_bad_trips_field() -> None:
    """Bad `trips` are refused with the path of each problem."""
    doc = _pair({"monday": {}, "weekday": {"there": {"25:00": 5, "16:00": -1}, "sideways": {}}})
    doc["travel_groups"][0]["travel"][0]["trips"]["sunday"] = {"back": {"00:00": 5}}
    messages = {f"{i.path}: {i.message}" for i in validate_problem(doc)}
    where = "travel_groups[0].travel[0].trips"
    assert messages == {
        f'{where}: unknown day type "monday" (weekday, saturday or sunday)',
        f'{where}.weekday.there: key "25:00" must be a block\'s start 00:00-23:59 as HH:MM',
        f"{where}.weekday.there.16:00: must be an integer >= 0 or null, not -1",
        f'{where}.weekday: unknown direction "sideways" (there or back)',
        f'{where}.sunday.back: key "00:00" must be a block\'s end 00:01-24:00 as HH:MM',
    }
