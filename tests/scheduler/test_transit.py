"""Transit minutes from a GTFS timetable: the real Cairns feed traced by hand, and a tiny feed."""

from __future__ import annotations

import datetime as dt
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scheduler.transit import (
    UNREACHABLE,
    Feed,
    GTFSError,
    TransitOptions,
    load_feed,
    round_weekday,
    service_days,
    service_period,
    stop_arrivals,
    transit_groups,
    transit_minutes,
    typical_weekday,
    with_transit_groups,
)
from solver.io import expand_travel_groups
from solver.problem import Location
from solver.travel import estimate_minutes, haversine_km
from tests.gtfs_data import CAIRNS_EXTRACT

CAIRNS = CAIRNS_EXTRACT

# A Thursday of the Cairns feed's ordinary weekday service.
THURSDAY = dt.date(2014, 9, 11)
# Stops of the Cairns feed used in the hand traces (stops.txt).
PIER_B = (-16.920632, 145.778614)  # 750452 The Pier Cairns - Terminus Stop B
REDLYNCH_SC = (-16.894962, 145.699424)  # 750368 Redlynch Shopping Centre (121 towards Redlynch)
IMPEY_ST = (-16.871212, 145.680874)  # 750077 Impey St N233 (Lake Placid), served by 122 only
OUT_AT_SEA = (-16.92, 145.85)  # 7 km east of the Pier, in Trinity Bay: no stop within reach


def _hms(text: str) -> int:
    h, m, *s = (int(p) for p in text.split(":"))
    return h * 3600 + m * 60 + (s[0] if s else 0)


@pytest.fixture(scope="module")
def cairns() -> Feed:
    return load_feed(CAIRNS)


# --- the real feed, traced by hand ---------------------------------------------------------------


def test_cairns_feed_loads(cairns: Feed) -> None:
    """load_feed: the extract's counts (tests/data/gtfs), timezone and service period."""
    assert len(cairns.stop_ids) == 176
    assert len(cairns.trip_ids) == 473
    assert cairns.st_trip.shape[0] == 13282
    assert cairns.timezone == "Australia/Brisbane"
    assert service_period(cairns) == (dt.date(2014, 5, 26), dt.date(2014, 12, 28))


def test_cairns_ride_on_one_route_matches_stop_times(cairns: Feed) -> None:
    """One route traced in stop_times.txt: the computed ride arrives when the timetable says."""
    # Route 121 (City - Redlynch), trip CNS2014-CNS_MUL-Weekday-00-4166570 in stop_times.txt:
    #   seq 1  750452 The Pier Cairns - Terminus Stop B  15:28:00
    #   seq 22 750150 Freshwater State School C201        15:48:00
    #   seq 28 750368 Redlynch Shopping Centre            15:56:00
    # The route before it left the Pier at 14:28; the other bus through Redlynch Shopping
    # Centre from the city (123, trip ...-4172800) leaves the Pier at 15:40 and passes at 16:21.
    arrivals = stop_arrivals(cairns, PIER_B, THURSDAY, "15:20")
    assert arrivals["750150"] == _hms("15:48:00")
    assert arrivals["750368"] == _hms("15:56:00")
    # Door to door, ready at the Pier stop at 15:20: wait 8 min, ride 28 min.
    minutes = transit_minutes(cairns, [PIER_B], [REDLYNCH_SC], THURSDAY, "15:20", "15:25")
    assert minutes.tolist() == [[36]]


def test_cairns_trip_with_one_transfer(cairns: Feed) -> None:
    """A trip needing a change of bus, traced by hand through two routes' stop_times."""
    # From the Pier stop B at 15:20 to Impey St N233 (750077), which only route 122 serves:
    #   121 trip ...-4166570  750452 Pier Stop B 15:28 -> 750368 Redlynch Shopping Centre 15:56
    #   walk 18 m to 750085 Redlynch Shopping Centre (the 122 stop opposite), 2 min to change
    #   122 trip ...-4172125  750085 16:06 -> 750366 Lake Placid Rd 16:12 -> 750077 Impey St 16:14
    # (The 122 trip starts at Redlynch N66 at 16:02; the 121 passes Michaelangelo Dr N239 at
    # 15:59, a few metres from the 122's Michaelangelo Dr stop at 16:02: the same bus either way.)
    # Faster ways are ruled out by the tables: the earlier 122 (...-4172124) reaches Impey St
    # at 15:14, and the 122 leaving JCU at 15:46 (...-4172111, Impey St 16:01) cannot be caught,
    # as the first bus from the Pier after 15:20 to reach JCU is the 111 (...-4166166) at 15:59.
    arrivals = stop_arrivals(cairns, PIER_B, THURSDAY, "15:20")
    assert arrivals["750085"] == _hms("16:06:00")
    assert arrivals["750077"] == _hms("16:14:00")
    assert arrivals["750047"] == _hms("15:59:00")
    minutes = transit_minutes(cairns, [PIER_B], [IMPEY_ST], THURSDAY, "15:20", "15:25")
    assert minutes.tolist() == [[54]]


def test_cairns_unreachable_destination(cairns: Feed) -> None:
    """A destination with no stop within walking distance is UNREACHABLE."""
    minutes = transit_minutes(cairns, [PIER_B], [OUT_AT_SEA, REDLYNCH_SC], THURSDAY)
    assert minutes[0, 0] == UNREACHABLE
    assert minutes[0, 1] != UNREACHABLE


def test_cairns_walking_only_when_very_close(cairns: Feed) -> None:
    """A site 300 m away is walked: 300 m x 1.3 at 4.8 km/h, rounded up, whatever the buses."""
    near = (PIER_B[0] + 300 / 111_195, PIER_B[1])
    minutes = transit_minutes(cairns, [PIER_B], [near], THURSDAY)
    assert minutes.tolist() == [[math.ceil(0.3 * 1.3 / 4.8 * 60)]]


def test_cairns_calendar_dates_exceptions(cairns: Feed) -> None:
    """service_days: calendar_dates removes the weekday service on holidays and adds Sunday's."""
    weekday, friday = "CNS2014-CNS_MUL-Weekday-00", "CNS2014-CNS_MUL-Weekday-00-0000100"
    sunday = "CNS2014-CNS_MUL-Sunday-00"
    assert service_days(cairns, dt.date(2014, 10, 9)) == {weekday}
    assert service_days(cairns, dt.date(2014, 10, 10)) == {weekday, friday}
    # Labour Day (Monday 6 October 2014) and Boxing Day (Friday 26 December) run Sunday buses.
    assert service_days(cairns, dt.date(2014, 10, 6)) == {sunday}
    assert service_days(cairns, dt.date(2014, 12, 26)) == {sunday}
    assert service_days(cairns, dt.date(2015, 1, 5)) == set()


def test_cairns_typical_weekday(cairns: Feed) -> None:
    """typical_weekday: an ordinary Monday-Thursday, never a holiday; 2026 maps onto 2014."""
    day = typical_weekday(cairns)
    assert day.weekday() < 4
    assert service_days(cairns, day) == {"CNS2014-CNS_MUL-Weekday-00"}
    # 2014-10-06 is Labour Day: the nearest ordinary weekday is the Tuesday after it.
    assert typical_weekday(cairns, dt.date(2014, 10, 6)) == dt.date(2014, 10, 7)
    mapped = typical_weekday(cairns, dt.date(2026, 9, 8))
    assert mapped.weekday() == dt.date(2026, 9, 8).weekday()
    assert mapped.month == 9
    assert mapped.year == 2014
    assert round_weekday(cairns, dt.date(2014, 7, 14), dt.date(2014, 12, 5)) == dt.date(2014, 7, 14)


def test_cairns_groups_for_a_problem_document(cairns: Feed) -> None:
    """transit_groups: one group per school in term time, null where transit cannot go, only
    students with transit and only their candidate opportunities."""
    doc = _doc(
        school=PIER_B,
        sites={"op-rl": ("health", REDLYNCH_SC), "op-im": ("health", IMPEY_ST)},
    )
    doc["opportunities"].append(_opp("op-sea", "health", OUT_AT_SEA))
    doc["opportunities"].append(_opp("op-it", "it", REDLYNCH_SC))
    # Outside the student's clusters (op-it), and a student without transit: no entries.
    doc["students"].append({**doc["students"][0], "id": "st-car", "travel_modes": ["car"]})
    groups = transit_groups(doc, cairns, date=THURSDAY, depart_from="15:20", depart_until="15:25")
    assert [(g["id"], g["students"]) for g in groups] == [("transit:sc-1", ["st-1"])]
    assert sorted(groups[0]["travel"], key=lambda e: e["opportunity"]) == [
        {"opportunity": "op-im", "mode": "transit", "minutes": 54},
        {"opportunity": "op-rl", "mode": "transit", "minutes": 36},
        {"opportunity": "op-sea", "mode": "transit", "minutes": None},
    ]
    # The whole document: a student's own measured transit time still wins (the format's rule),
    # earlier transit groups are replaced, other groups and their members are kept.
    doc["travel"] = [{"student": "st-1", "opportunity": "op-rl", "mode": "transit", "minutes": 9}]
    doc["travel_groups"] = [
        {"id": "transit:old", "students": ["st-1"], "travel": []},
        {"id": "survey", "students": ["st-car"], "travel": []},
    ]
    out, measured = with_transit_groups(
        doc, cairns, date=THURSDAY, depart_from="15:20", depart_until="15:25"
    )
    assert measured == 3
    assert [g["id"] for g in out["travel_groups"]] == ["survey", "transit:sc-1"]
    assert doc["travel_groups"][0]["id"] == "transit:old"  # the input is not changed
    expanded = {
        (t["student"], t["opportunity"]): t["minutes"] for t in expand_travel_groups(out)["travel"]
    }
    assert expanded[("st-1", "op-rl")] == 9
    assert expanded[("st-1", "op-im")] == 54


def _opp(oid: str, cluster: str, at: tuple[float, float]) -> dict[str, Any]:
    return {
        "id": oid,
        "employer": "em-1",
        "title": "Internship",
        "kind": "internship",
        "cluster": cluster,
        "location": {"lat": at[0], "lon": at[1]},
        "slots": [{"id": f"sl-{oid}", "capacity": 1, "blocks": []}],
    }


def _doc(
    *,
    school: tuple[float, float],
    sites: dict[str, tuple[str, tuple[float, float]]],
    home: tuple[float, float] | None = None,
    summer: bool = False,
) -> dict[str, Any]:
    student: dict[str, Any] = {
        "id": "st-1",
        "name": "A Student",
        "school": "sc-1",
        "grade": 11,
        "birth_date": "1998-03-01",
        "travel_modes": ["walk", "transit"],
        "clusters": ["health"],
    }
    if home is not None:
        student["location"] = {"lat": home[0], "lon": home[1]}
    return {
        "format": "wbl-problem/1",
        "round": {
            "id": "r",
            "name": "r",
            "start_date": "2014-09-08",
            "end_date": "2014-09-19",
            "timezone": "Australia/Brisbane",
            "summer": summer,
        },
        "schools": [{"id": "sc-1", "name": "S", "location": {"lat": school[0], "lon": school[1]}}],
        "students": [student],
        "employers": [{"id": "em-1", "name": "E"}],
        "opportunities": [_opp(oid, cl, at) for oid, (cl, at) in sites.items()],
        "mentors": [],
    }


# --- a tiny feed built here, with known answers ------------------------------------------------

# Stops on the equator, where 0.01 degree of longitude is 1.112 km. B and C are 11 m apart
# (a change of bus); D is 3.3 km beyond C; E is reached only by a bus that does not let riders
# off there (drop_off_type 1).
STOPS = {
    "A": (0.0, 0.0),
    "B": (0.0, 0.02),
    "C": (0.0, 0.0201),
    "D": (0.0, 0.05),
    "E": (0.0, -0.05),
}
TINY: dict[str, str] = {
    "agency.txt": "agency_name,agency_url,agency_timezone\nTiny,http://x,Etc/UTC\n",
    # The byte-order mark some exporters write must not spoil the first column's name.
    "stops.txt": "\ufeffstop_id,stop_name,stop_lat,stop_lon\n"
    + "".join(f"{k},Stop {k},{lat},{lon}\n" for k, (lat, lon) in STOPS.items()),
    "routes.txt": "route_id,route_short_name,route_type\nR1,1,3\nR2,2,3\nR3,3,3\n",
    "trips.txt": "route_id,service_id,trip_id\n"
    "R1,WK,T1\nR1,WK,T1b\nR2,WK,T2\nR2,WK,T2a\nR2,WK,T2c\nR3,WK,T3\nR1,WK,LATE\nR1,SAT,S1\n",
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence,"
    "pickup_type,drop_off_type\n"
    # A to B: 08:00 -> 08:10 and 08:30 -> 08:40.
    "T1,08:00:00,08:00:00,A,1,0,0\nT1,08:10:00,08:10:00,B,2,0,0\n"
    "T1b,08:30:00,08:30:00,A,1,0,0\nT1b,08:40:00,08:40:00,B,2,0,0\n"
    # C to D: 08:11 (too soon after 08:10 to change), 08:15, and 08:45.
    "T2a,08:11:00,08:11:00,C,1,0,0\nT2a,08:26:00,08:26:00,D,2,0,0\n"
    "T2,08:15:00,08:15:00,C,1,0,0\nT2,,,X-untimed,2,0,0\nT2,08:30:00,08:30:00,D,3,0,0\n"
    "T2c,08:45:00,08:45:00,C,1,0,0\nT2c,09:00:00,09:00:00,D,2,0,0\n"
    # A to E without letting anyone off at E.
    "T3,08:01:00,08:01:00,A,1,0,0\nT3,08:20:00,08:20:00,E,2,0,1\n"
    # After midnight: 24:30 of Friday's service is 00:30 on Saturday.
    "LATE,24:30:00,24:30:00,A,1,0,0\nLATE,24:40:00,24:40:00,B,2,0,0\n"
    "S1,10:00:00,10:00:00,A,1,0,0\nS1,10:10:00,10:10:00,B,2,0,0\n",
    "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
    "start_date,end_date\nWK,1,1,1,1,1,0,0,20240101,20240331\n"
    "SAT,0,0,0,0,0,1,0,20240101,20240331\n",
    # 26 January (a Friday) is a holiday: no weekday service, the Saturday one instead.
    "calendar_dates.txt": "service_id,date,exception_type\nWK,20240126,2\nSAT,20240126,1\n",
}
MONDAY = dt.date(2024, 1, 8)


def _write_zip(path: Path, tables: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in tables.items():
            zf.writestr(name, text.encode("utf-8"))
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> Feed:
    # The stop whose time stop_times leaves blank (tables without it, as in the bare feed
    # below, have a stop time naming no stop: skipped with a log line, like real feeds' strays).
    tables = dict(TINY)
    tables["stops.txt"] += "X-untimed,Untimed,0.0,0.03\n"
    return load_feed(_write_zip(tmp_path / "tiny.zip", tables))


def _at(stop: str) -> tuple[float, float]:
    return STOPS[stop]


def test_tiny_feed_with_a_transfer(tiny: Feed) -> None:
    """A -> B, change to C (2 min slack misses the 08:11), C -> D at 08:15: arrive 08:30."""
    arrivals = stop_arrivals(tiny, _at("A"), MONDAY, "08:00")
    assert arrivals["B"] == _hms("08:10")
    assert arrivals["D"] == _hms("08:30")
    # The stop between C and D has no time in stop_times: halfway between 08:15 and 08:30.
    assert arrivals["X-untimed"] == _hms("08:22:30")
    minutes = transit_minutes(tiny, [_at("A")], [_at("D")], MONDAY, "08:00", "08:05")
    assert minutes.tolist() == [[30]]


def test_tiny_feed_transfer_minutes_option(tiny: Feed) -> None:
    """With no slack to change buses, the 11 s walk from B (08:10) makes the 08:11 bus at C."""
    arrivals = stop_arrivals(tiny, _at("A"), MONDAY, "08:00", TransitOptions(transfer_minutes=0))
    assert arrivals["D"] == _hms("08:26")


def test_tiny_feed_statistics_over_the_window(tiny: Feed) -> None:
    """Waiting counts: leaving 08:00/05/10 takes 30/55/50 min; median 50, worst 55, first 30."""

    def over(statistic: Any) -> int:
        options = TransitOptions(statistic=statistic)
        m = transit_minutes(tiny, [_at("A")], [_at("D")], MONDAY, "08:00", "08:15", options=options)
        return int(m[0, 0])

    assert (over("median"), over("worst"), over("first")) == (50, 55, 30)


def test_tiny_feed_no_drop_off_and_unreachable(tiny: Feed) -> None:
    """A bus that lets nobody off at E does not reach E; far points are UNREACHABLE."""
    minutes = transit_minutes(tiny, [_at("A")], [_at("E"), (1.0, 1.0)], MONDAY, "08:00", "08:05")
    assert minutes.tolist() == [[UNREACHABLE, UNREACHABLE]]
    assert "E" not in stop_arrivals(tiny, _at("A"), MONDAY, "08:00")


def test_tiny_feed_walking_and_origins_off_the_network(tiny: Feed) -> None:
    """300 m is walked (5 min); an origin 2 km from any stop reaches only what it walks to."""
    near = (0.0, 0.0027)  # 300 m east of A
    off = (0.02, 0.0)  # 2.2 km north of A
    m = transit_minutes(tiny, [_at("A"), off], [near, _at("D")], MONDAY, "08:00", "08:05")
    assert m.tolist() == [[5, 30], [UNREACHABLE, UNREACHABLE]]


def test_tiny_feed_calendar_dates_and_after_midnight(tiny: Feed) -> None:
    """calendar_dates swaps a holiday's service; a 24:30 trip runs at 00:30 the next day."""
    assert service_days(tiny, dt.date(2024, 1, 25)) == {"WK"}
    assert service_days(tiny, dt.date(2024, 1, 26)) == {"SAT"}
    assert service_days(tiny, dt.date(2024, 1, 27)) == {"SAT"}
    arrivals = stop_arrivals(tiny, _at("A"), dt.date(2024, 1, 20), "00:20")
    assert arrivals["B"] == _hms("00:40")
    assert typical_weekday(tiny, dt.date(2024, 1, 26)) in (
        dt.date(2024, 1, 25),
        dt.date(2024, 1, 29),
    )


def test_tiny_feed_groups_use_the_home_in_summer(tiny: Feed) -> None:
    """transit_groups: home (grid-rounded) in summer, school in term time, pruning exact."""
    doc = _doc(school=(0.0, 0.5), home=_at("A"), sites={"op-d": ("health", _at("D"))}, summer=True)
    doc["round"].update(start_date="2024-01-08", end_date="2024-01-19")
    # Home is stop A, rounded to the centre of its 250 m cell (under 3 min' walk from A): ready
    # at 07:55, the 08:00 bus from A, the change at B/C, D at 08:30.
    groups = transit_groups(doc, tiny, depart_from="07:55", depart_until="08:00")
    assert len(groups) == 1
    assert groups[0]["id"].startswith("transit:")
    assert groups[0]["id"] != "transit:sc-1"
    assert groups[0]["students"] == ["st-1"]
    assert groups[0]["travel"] == [{"opportunity": "op-d", "mode": "transit", "minutes": 35}]
    # In term time the origin is the school, 55 km from any stop.
    term = dict(doc, round={**doc["round"], "summer": False})
    groups = transit_groups(term, tiny, depart_from="07:55", depart_until="08:00", prune=False)
    assert groups == [
        {
            "id": "transit:sc-1",
            "students": ["st-1"],
            "travel": [{"opportunity": "op-d", "mode": "transit", "minutes": None}],
        }
    ]
    # Pruned: the estimate (50 km) is far over the 60 min limit too, so the entry changes nothing.
    pruned = transit_groups(term, tiny, depart_from="07:55", depart_until="08:00")
    assert [g["travel"] for g in pruned] == [[]]


def test_pruning_keeps_what_any_member_could_use(tiny: Feed) -> None:
    """In a home cell shared by two students, an entry stays when the measurement or the
    estimate is within the larger limit, judged from anywhere in the cell."""
    doc = _doc(school=(0.0, 0.5), home=_at("A"), sites={"op-d": ("health", _at("D"))}, summer=True)
    doc["round"].update(start_date="2024-01-08", end_date="2024-01-19")
    near = dict(doc["students"][0], id="st-2", max_commute_minutes=20)
    doc["students"][0]["max_commute_minutes"] = 40
    doc["students"].append(near)
    groups = transit_groups(doc, tiny, depart_from="07:55", depart_until="08:00")
    assert groups[0]["students"] == ["st-1", "st-2"]
    assert groups[0]["travel"] == [{"opportunity": "op-d", "mode": "transit", "minutes": 35}]
    # Both within 20 min of nobody: measured 35, estimated 35 from home (5.5 km by the spec).
    assert _estimate_from(doc, "op-d") == 35
    for s in doc["students"]:
        s["max_commute_minutes"] = 20
    assert transit_groups(doc, tiny, depart_from="07:55", depart_until="08:00")[0]["travel"] == []


def _estimate_from(doc: dict[str, Any], opp: str) -> int:
    home = Location(**doc["students"][0]["location"])
    site = next(o for o in doc["opportunities"] if o["id"] == opp)
    return estimate_minutes(haversine_km(home, Location(**site["location"])), "transit")


def test_optional_tables_may_be_missing(tmp_path: Path) -> None:
    """A bare feed (no agency, routes, calendar) zipped in a folder loads and routes."""
    keep = ("stops.txt", "trips.txt", "stop_times.txt")
    tables = {f"feed/{name}": text for name, text in TINY.items() if name in keep}
    tables["feed/calendar_dates.txt"] = "service_id,date,exception_type\nWK,20240108,1\n"
    feed = load_feed(_write_zip(tmp_path / "bare.zip", tables))
    assert feed.timezone is None
    assert service_period(feed) == (MONDAY, MONDAY)
    assert typical_weekday(feed) == MONDAY
    assert stop_arrivals(feed, _at("A"), MONDAY, "08:00")["D"] == _hms("08:30")


# --- files that are not GTFS feeds -----------------------------------------------------------


def test_not_a_zip(tmp_path: Path) -> None:
    """A file that is not a zip is refused with a message saying what a GTFS feed is."""
    path = tmp_path / "feed.zip"
    path.write_text("stop_id,stop_name\n")
    with pytest.raises(GTFSError, match=r"not a GTFS feed \(a GTFS feed is a \.zip"):
        load_feed(path)


def test_zip_without_gtfs_tables(tmp_path: Path) -> None:
    """A zip lacking the required tables is refused, naming the missing ones."""
    path = _write_zip(tmp_path / "feed.zip", {"readme.txt": "hello"})
    with pytest.raises(GTFSError, match=r"missing stops\.txt, trips\.txt, stop_times\.txt"):
        load_feed(path)


def test_bad_time_names_the_line(tmp_path: Path) -> None:
    """A malformed time is refused with the table and line it is on."""
    tables = dict(TINY)
    tables["stop_times.txt"] = tables["stop_times.txt"].replace("08:10:00,08:10:00", "8h10,8h10")
    with pytest.raises(GTFSError, match=r"stop_times\.txt line 3: bad time"):
        load_feed(_write_zip(tmp_path / "feed.zip", tables))


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist raises FileNotFoundError, not a GTFS complaint."""
    with pytest.raises(FileNotFoundError):
        load_feed(tmp_path / "nowhere.zip")


def test_matrix_shape_and_empty_inputs(tiny: Feed) -> None:
    """transit_minutes returns origins x destinations, also when either list is empty."""
    assert transit_minutes(tiny, [], [_at("D")], MONDAY).shape == (0, 1)
    assert transit_minutes(tiny, [_at("A")], [], MONDAY).shape == (1, 0)
    m = transit_minutes(tiny, np.array([_at("A")] * 3), [_at("D")] * 2, MONDAY, "08:00", "08:05")
    assert m.dtype == np.int32
    assert m.tolist() == [[30, 30]] * 3


def test_window_must_be_forward(tiny: Feed) -> None:
    """A departure window that ends before it starts is a caller error."""
    with pytest.raises(ValueError, match="must be after"):
        transit_minutes(tiny, [_at("A")], [_at("D")], MONDAY, "09:00", "08:00")


# --- the batched scan against a plain search ---------------------------------------------------


def _reference_arrivals(
    feed: Feed, origin: tuple[float, float], date: dt.date, t0: int, options: TransitOptions
) -> dict[str, int]:
    """Earliest arrival by bus at each stop, by a label-setting search over stops (Dijkstra on
    the time a rider can board at each stop), written independently of the scan."""
    import heapq

    services = service_days(feed, date)
    on = [sid in services for sid in feed.service_ids]
    rides: dict[int, list[int]] = {}  # trip -> its stop-time rows, in order
    for row in range(feed.st_trip.shape[0]):
        trip = int(feed.st_trip[row])
        if on[int(feed.trip_service[trip])]:
            rides.setdefault(trip, []).append(row)
    boarding: dict[int, list[tuple[int, int, int]]] = {}  # stop -> [(dep, trip, position)]
    for trip, rows in rides.items():
        for k, row in enumerate(rows):
            if feed.st_pickup[row]:
                boarding.setdefault(int(feed.st_stop[row]), []).append(
                    (int(feed.st_departure[row]), trip, k)
                )

    def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
        p1, p2 = math.radians(a[0]), math.radians(b[0])
        h = (
            math.sin((p2 - p1) / 2) ** 2
            + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
        )
        return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, h)))

    def walk(d: float) -> int:
        return math.ceil(options.detour * d / (options.walk_speed_kmh / 3.6))

    points = list(zip(feed.stop_lat.tolist(), feed.stop_lon.tolist(), strict=True))
    ready = {
        s: t0 + walk(metres(origin, p))
        for s, p in enumerate(points)
        if metres(origin, p) <= options.walk_radius_m
    }
    alight: dict[int, int] = {}
    heap = [(t, s) for s, t in ready.items()]
    heapq.heapify(heap)
    done: set[int] = set()
    limit = t0 + 60 * options.max_minutes
    while heap:
        t, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        for dep, trip, k in boarding.get(u, []):
            if dep < t or dep > limit:
                continue
            for row in rides[trip][k + 1 :]:
                if not feed.st_dropoff[row]:
                    continue
                v, ta = int(feed.st_stop[row]), int(feed.st_arrival[row])
                if ta >= alight.get(v, 1 << 40):
                    continue
                alight[v] = ta
                for w, p in enumerate(points):
                    d = metres(points[v], p)
                    if d <= options.transfer_radius_m:
                        r = ta + walk(d) + 60 * options.transfer_minutes
                        if r < ready.get(w, 1 << 40):
                            ready[w] = r
                            heapq.heappush(heap, (r, w))
    return {feed.stop_ids[s]: t for s, t in alight.items() if t <= limit}


def test_scan_agrees_with_a_plain_search(cairns: Feed) -> None:
    """stop_arrivals equals an independent Dijkstra over the timetable from random origins."""
    rng = np.random.default_rng(3)
    options = TransitOptions()
    for _ in range(4):
        s = int(rng.integers(len(cairns.stop_ids)))
        origin = (float(cairns.stop_lat[s]) + 0.002, float(cairns.stop_lon[s]) - 0.001)
        t0 = _hms("15:00") + 60 * int(rng.integers(60))
        got = stop_arrivals(cairns, origin, THURSDAY, t0, options)
        want = _reference_arrivals(cairns, origin, THURSDAY, t0, options)
        assert got == want


def test_batched_origins_equal_one_at_a_time(cairns: Feed) -> None:
    """Many origins in one scan give the same minutes as each origin searched alone."""
    rng = np.random.default_rng(5)
    idx = rng.integers(len(cairns.stop_ids), size=12)
    origins = np.column_stack((cairns.stop_lat[idx] + 0.003, cairns.stop_lon[idx]))
    idx = rng.integers(len(cairns.stop_ids), size=40)
    sites = np.column_stack((cairns.stop_lat[idx], cairns.stop_lon[idx] - 0.004))
    together = transit_minutes(cairns, origins, sites, THURSDAY)
    alone = np.vstack([transit_minutes(cairns, [tuple(o)], sites, THURSDAY) for o in origins])
    assert (together == alone).all()
    assert (together != UNREACHABLE).mean() > 0.5
