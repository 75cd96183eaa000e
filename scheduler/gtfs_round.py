"""A synthetic placement round laid on a real city: the one whose GTFS feed is given.

`scheduler.generate.generate_round` invents a metro; this module keeps everything it invents
about people and placements (students, schedules, clusters, preferences, employers, slots,
mentors, pins) and moves only what a real city decides:

* where things are. The generator's metro (a disc) is centred on the feed's stops, at its own
  scale (shrunk evenly when wider than the network's spread), so neighbours stay neighbours and
  each student's ranked hosts stay near their school. Each place is then settled against the
  real network: a school a short walk (80-350 m) from the nearest free stop; a home keeps its
  offset from its school unless that puts it far from any stop (open sea, cane fields), when
  it moves around the nearest stop; rural homes 0.8-3 km off the network; a site within 500 m
  of a stop, or 1-2.5 km from any stop for the hosts the generator put off the bus network.
  `transit_accessible` then says whether a stop is within walking distance (800 m).
* when. The round keeps its length and weekdays and is moved by whole weeks into the feed's
  service period (nearest the generator's season, by 52-week years, then slid to fit); the
  feed's own public holidays (weekdays whose service calendar_dates removes) become the round's
  holidays; dated blocks (job shadows) move to the school day as far into the new round; birth
  dates move with the round, so every student keeps their age on the start date.
* `round.timezone`: the feed's agency timezone.
* `travel`: the generator's invented measurements (which belonged to its invented metro) are
  dropped; transit minutes measured on the timetable come as `travel_groups`, one per origin
  (`scheduler.transit.transit_groups`).

Pins survive only where the move cannot break them: the generator checked each pin with its
travel time, and the rules that depend on travel (H4, H5) only get easier when it shrinks, so a
pin is kept when its student's trip is no longer than before and the solver's rules allow it
on the measured trips of each block (which the bell or the way back can make harder than the
trip's time alone), and dropped otherwise.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from scheduler.generate import generate_round
from scheduler.transit import (
    EARTH_RADIUS_M,
    Feed,
    TransitOptions,
    load_feed,
    round_weekday,
    service_period,
    transit_groups,
)
from solver.eligibility import pair_trip, refusal_codes
from solver.instance import Instance
from solver.problem import age_on, problem_from_dict

__all__ = ["generate_round_on_feed"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

KM_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180 / 1000
# Schools sit a short walk from their stop; any closer and they would stand on the road.
SCHOOL_OFFSET_KM = (0.08, 0.35)
# A home farther than this from every stop is off the map's land: it moves near the network.
HOME_OFF_MAP_KM = 1.2
HOME_SIGMA_KM = 0.45
RURAL_KM = (0.8, 3.0)
# Sites: within a walk of their stop, or out of reach of any stop for off-network hosts.
SITE_NEAR_KM = 0.5
SITE_OFF_NETWORK_KM = (1.0, 2.5)


def _city_name(path: str) -> str:
    """A city name from the feed's file name ("cairns_gtfs.zip" -> "Cairns")."""
    stem = Path(path).stem.lower()
    for noise in ("gtfs", "feed"):
        stem = stem.replace(noise, "")
    words = [w for w in stem.replace("-", "_").split("_") if w]
    return " ".join(w.capitalize() for w in words) or "Transit City"


class _Plane:
    """Points on a flat map in km around a centre (equirectangular: fine across a city)."""

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        self.kx = KM_PER_DEGREE * math.cos(math.radians(lat0))

    def xy(self, lat: FloatArray, lon: FloatArray) -> FloatArray:
        out: FloatArray = np.column_stack(
            ((lon - self.lon0) * self.kx, (lat - self.lat0) * KM_PER_DEGREE)
        )
        return out

    def point(self, xy: Sequence[float] | FloatArray) -> dict[str, float]:
        return {
            "lat": round(self.lat0 + float(xy[1]) / KM_PER_DEGREE, 6),
            "lon": round(self.lon0 + float(xy[0]) / self.kx, 6),
        }


def _latlon(locs: Sequence[Mapping[str, Any]]) -> tuple[FloatArray, FloatArray]:
    lat = np.array([float(loc["lat"]) for loc in locs], dtype=np.float64)
    lon = np.array([float(loc["lon"]) for loc in locs], dtype=np.float64)
    return lat, lon


class _City:
    """The stops that some trip serves, on the plane, with their spread."""

    def __init__(self, feed: Feed) -> None:
        served = np.zeros(len(feed.stop_ids), dtype=np.bool_)
        served[feed.st_stop] = True  # a feed may list stations and entrances no bus stops at
        self.ids = np.flatnonzero(served)
        self.plane = _Plane(
            float(feed.stop_lat[self.ids].mean()), float(feed.stop_lon[self.ids].mean())
        )
        self.xy = self.plane.xy(feed.stop_lat[self.ids], feed.stop_lon[self.ids])
        self.centre = self.xy.mean(axis=0)
        # Standard deviations (km) along the principal axes: how far the network reaches.
        self.spread = np.sqrt(np.maximum(np.linalg.eigvalsh(np.cov(self.xy.T)), 1e-6))

    def nearest(self, points: FloatArray) -> tuple[IntArray, FloatArray]:
        """For each point, the nearest stop (index into `xy`) and its distance in km."""
        idx = np.empty(points.shape[0], dtype=np.int64)
        dist = np.empty(points.shape[0], dtype=np.float64)
        for s in range(0, points.shape[0], 4096):
            d = np.hypot(
                points[s : s + 4096, :1] - self.xy[None, :, 0],
                points[s : s + 4096, 1:] - self.xy[None, :, 1],
            )
            k = d.argmin(axis=1)
            idx[s : s + 4096] = k
            dist[s : s + 4096] = d[np.arange(k.shape[0]), k]
        return idx, dist


class _Layout:
    """The generator's metro laid on the city: centred on the stops, at its own scale while it
    fits (distances, and so commutes, stay what the generator meant), shrunk evenly when it is
    wider than the city's network along its main axis. Neither stretched nor turned: a long
    thin city would otherwise stretch every trip along it."""

    def __init__(self, doc: Mapping[str, Any], city: _City) -> None:
        lat, lon = _latlon(
            [s["location"] for s in doc["schools"]] + [o["location"] for o in doc["opportunities"]]
        )
        self.metro = _Plane(float(lat.mean()), float(lon.mean()))
        pts = self.metro.xy(lat, lon)
        self.metro_centre = pts.mean(axis=0)
        # The metro is a disc: one spread for both directions.
        sigma = float(np.sqrt(pts.var(axis=0).mean())) or 1.0
        self.scale = min(1.0, float(city.spread.max()) / sigma)
        self.city = city

    def place(self, locs: Sequence[Mapping[str, Any]]) -> FloatArray:
        """Where metro points fall in the city (km on the city's plane)."""
        lat, lon = _latlon(locs)
        placed: FloatArray = (
            self.city.centre + (self.metro.xy(lat, lon) - self.metro_centre) * self.scale
        )
        return placed


def _directions(rng: np.random.Generator, n: int) -> FloatArray:
    a = rng.uniform(0, 2 * math.pi, n)
    out: FloatArray = np.column_stack((np.cos(a), np.sin(a)))
    return out


def _place_schools(
    rng: np.random.Generator, city: _City, layout: _Layout, schools: Sequence[dict[str, Any]]
) -> tuple[FloatArray, IntArray]:
    """Each school near the stop nearest its mapped place, one school per stop while stops
    last (big schools rarely share a stop), a short walk away from it."""
    target = layout.place([s["location"] for s in schools])
    taken: set[int] = set()
    stops = np.empty(len(schools), dtype=np.int64)
    for i in rng.permutation(len(schools)).tolist():
        d = np.hypot(city.xy[:, 0] - target[i, 0], city.xy[:, 1] - target[i, 1])
        if len(taken) < d.shape[0]:
            d[list(taken)] = np.inf
        stops[i] = int(d.argmin())
        taken.add(int(stops[i]))
    step = rng.uniform(*SCHOOL_OFFSET_KM, len(schools))[:, None] * _directions(rng, len(schools))
    return city.xy[stops] + step, stops


def _place_homes(
    rng: np.random.Generator,
    city: _City,
    at: FloatArray,
    rural: npt.NDArray[np.bool_],
) -> FloatArray:
    """Homes where the map puts them, unless off the map's land (far from any stop), where
    they move around the nearest stop; rural homes stay 0.8-3 km out from the network."""
    stop, dist = city.nearest(at)
    out = at.copy()
    lost = ~rural & (dist > HOME_OFF_MAP_KM)
    out[lost] = city.xy[stop[lost]] + rng.normal(0, HOME_SIGMA_KM, (int(lost.sum()), 2))
    wrong = rural & ((dist < RURAL_KM[0]) | (dist > RURAL_KM[1]))
    n = int(wrong.sum())
    out[wrong] = city.xy[stop[wrong]] + rng.uniform(*RURAL_KM, n)[:, None] * _directions(rng, n)
    return out


def _place_sites(
    rng: np.random.Generator, city: _City, at: FloatArray, on_network: npt.NDArray[np.bool_]
) -> FloatArray:
    """Sites on the network within SITE_NEAR_KM of a stop; off-network hosts (industrial
    estates, farms, plants) SITE_OFF_NETWORK_KM from the nearest stop, tried a few times."""
    stop, dist = city.nearest(at)
    out = at.copy()
    far = on_network & (dist > SITE_NEAR_KM)
    n = int(far.sum())
    out[far] = city.xy[stop[far]] + (
        SITE_NEAR_KM * np.sqrt(rng.uniform(0, 1, n))[:, None] * _directions(rng, n)
    )
    todo = ~on_network & ((dist < SITE_OFF_NETWORK_KM[0]) | (dist > SITE_OFF_NETWORK_KM[1]))
    base = city.xy[stop]
    for _ in range(10):
        n = int(todo.sum())
        if not n:
            break
        out[todo] = base[todo] + rng.uniform(*SITE_OFF_NETWORK_KM, n)[:, None] * _directions(rng, n)
        _, again = city.nearest(out)
        todo &= again < SITE_OFF_NETWORK_KM[0]
    return out


def _move_dates(feed: Feed, start: dt.date, end: dt.date) -> tuple[int, dt.date, dt.date]:
    """Whole weeks to move a round by so it lies in the feed's service period, nearest its own
    season; a round longer than the period is cut to it."""
    first, last = service_period(feed)
    length = (end - start).days
    middle = first + (last - first) / 2
    weeks = 52 * round((middle - start).days / 364)
    shift = 7 * weeks
    # Slide by whole weeks until it fits.
    while (
        start + dt.timedelta(days=shift + length) > last
        and start + dt.timedelta(days=shift) > first
    ):
        shift -= 7
    while start + dt.timedelta(days=shift) < first:
        shift += 7
    new_start = start + dt.timedelta(days=shift)
    new_end = min(new_start + dt.timedelta(days=length), last)
    return shift, new_start, new_end


def _feed_holidays(feed: Feed, start: dt.date, end: dt.date) -> list[str]:
    """Weekdays of the round on which the feed removes a service: its public holidays."""
    out = []
    for day, services in sorted(feed.calendar_dates.items()):
        if start <= day <= end and day.weekday() < 5 and 2 in services.values():
            out.append(day.isoformat())
    return out


def _school_days(start: dt.date, end: dt.date, holidays: Sequence[str]) -> list[str]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5 and day.isoformat() not in holidays:
            days.append(day.isoformat())
        day += dt.timedelta(days=1)
    return days


def _pin_trip(
    doc: Mapping[str, Any],
    schools: Sequence[Mapping[str, Any]],
    student: Mapping[str, Any],
    opp: Mapping[str, Any],
    measured: Sequence[Mapping[str, Any]],
    slot: str | None = None,
) -> tuple[int | None, list[str]]:
    """t(s, o) by the solver's own rules for one pinned pair (`solver.eligibility.pair_trip`
    from the spec's origin), with its measured group entries (`[]`: none), and the reason codes
    that refuse the pin (at its slot, or at every slot) on that travel: a block's measured
    trips may make a slot harder than the trip's time alone says (the bell, the way back)."""
    doc_ = {
        "round": doc["round"],
        "schools": schools,
        # Only this opportunity's rank matters here (it lets a pin outside the clusters in).
        "students": [
            {
                **student,
                "preferences": [p for p in student.get("preferences", []) if p == opp["id"]],
            }
        ],
        "opportunities": [opp],
        "travel_groups": [{"id": "pin", "students": [student["id"]], "travel": list(measured)}],
    }
    inst = Instance(problem_from_dict(doc_))
    best = pair_trip(inst, 0, 0)
    codes = refusal_codes(inst, 0, 0, None if slot is None else inst.slot_ix[slot])
    return (None if best is None else best[1]), codes


def _pins_still_hold(
    doc: dict[str, Any],
    before: Mapping[str, Mapping[str, Any]],
    old_schools: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The pins whose trip is no longer than when the generator checked them and whose pair
    the solver's rules still allow on the measured trips (see the module docstring)."""
    students = {s["id"]: s for s in doc["students"]}
    opps = {o["id"]: o for o in doc["opportunities"]}
    schools_before = [{"id": i, "name": i, "location": at} for i, at in old_schools.items()]
    # Transit entries per group, looked up through the pinned student's group.
    groups = doc.get("travel_groups") or ()
    group_of = {sid: k for k, g in enumerate(groups) for sid in g["students"]}
    entries = [{t["opportunity"]: t for t in g["travel"] if t["mode"] == "transit"} for g in groups]
    kept = []
    for pin in doc["pins"]:
        sid, oid = pin["student"], pin["opportunity"]
        # The generator checks pins with the spec's estimates alone (it pins no measured pair).
        was, _ = _pin_trip(
            doc, schools_before, before["students"][sid], before["opportunities"][oid], []
        )
        group = entries[group_of[sid]] if sid in group_of else {}
        measured = [group[oid]] if oid in group else []
        now, codes = _pin_trip(
            doc, doc["schools"], students[sid], opps[oid], measured, pin.get("slot")
        )
        if was is not None and now is not None and now <= was and not codes:
            kept.append(pin)
    return kept


def generate_round_on_feed(
    students: int,
    feed_path: str | Path | Feed,
    seed: int = 0,
    summer: bool = False,
    *,
    depart_from: str | None = None,
    depart_until: str | None = None,
    options: TransitOptions | None = None,
) -> dict[str, Any]:
    """A `wbl-problem/1` round of `students` students in the city of the GTFS feed at
    `feed_path` (or an already loaded `Feed`), with transit `travel_groups` measured on its
    timetable. Deterministic for the same arguments."""
    feed = feed_path if isinstance(feed_path, Feed) else load_feed(feed_path)
    doc = generate_round(students, seed=seed, summer=summer)
    # Shallow copies suffice: locations and dates are replaced below, never edited in place.
    old_schools = {s["id"]: s["location"] for s in doc["schools"]}
    before = {
        "students": {s["id"]: dict(s) for s in doc["students"]},
        "opportunities": {o["id"]: dict(o) for o in doc["opportunities"]},
    }
    name = _city_name(feed.path)

    # --- when -----------------------------------------------------------------------------
    rnd = doc["round"]
    old_start = dt.date.fromisoformat(rnd["start_date"])
    old_end = dt.date.fromisoformat(rnd["end_date"])
    old_days = _school_days(old_start, old_end, rnd.get("holidays", []))
    shift, start, end = _move_dates(feed, old_start, old_end)
    holidays = _feed_holidays(feed, start, end)
    new_days = _school_days(start, end, holidays)
    if not new_days:
        raise ValueError(f"{feed.path}: its service period {start}..{end} has no school day")
    slug = name.lower().replace(" ", "-")
    term = f"Summer {start.year}" if summer else f"Term {start.year}"
    rnd.update(
        id=f"{term.lower().replace(' ', '-')}-{slug}",
        name=f"{term} work-based learning, {name}",
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        timezone=feed.timezone or "Etc/UTC",
        holidays=holidays,
    )
    position = {day: i for i, day in enumerate(old_days)}
    for opp in doc["opportunities"]:
        for slot in opp["slots"]:
            dated: dict[tuple[str, str, str], dict[str, Any]] = {}
            weekly = [b for b in slot["blocks"] if "date" not in b]
            for block in slot["blocks"]:
                if "date" in block:
                    # The k-th school day of the old round becomes the one as far into the new.
                    k = position.get(block["date"], 0) * len(new_days) // max(1, len(old_days))
                    moved = {**block, "date": new_days[min(k, len(new_days) - 1)]}
                    dated.setdefault((moved["date"], moved["start"], moved["end"]), moved)
            slot["blocks"] = weekly + sorted(dated.values(), key=lambda b: b["date"])
    for student in doc["students"]:
        birth = dt.date.fromisoformat(student["birth_date"])
        age = age_on(birth, old_start)
        born = birth + dt.timedelta(days=shift)
        # Leap days can put the shifted birthday a day off; keep the age on the start date.
        while age_on(born, start) > age:
            born += dt.timedelta(days=1)
        while age_on(born, start) < age:
            born -= dt.timedelta(days=1)
        student["birth_date"] = born.isoformat()

    # --- where ---------------------------------------------------------------------------
    city = _City(feed)
    layout = _Layout(doc, city)
    plane = city.plane
    walk_km = (options or TransitOptions()).walk_radius_m / 1000
    # Its own stream, apart from the generator's: the same people whatever the feed.
    rng = np.random.default_rng(zlib.crc32(f"gtfs/{seed}/{students}/{summer}".encode()))
    school_xy, school_stop = _place_schools(rng, city, layout, doc["schools"])
    index = {s["id"]: i for i, s in enumerate(doc["schools"])}
    for i, school in enumerate(doc["schools"]):
        school["location"] = plane.point(school_xy[i])
        school["address"] = f"Near {feed.stop_names[city.ids[school_stop[i]]]}"
    housed = [s for s in doc["students"] if "location" in s]
    if housed:
        # A home keeps its offset from its school, scaled like the metro; a student without
        # a school keeps their own place on the map.
        home = layout.place([s["location"] for s in housed])
        has_school = np.array([s.get("school") in index for s in housed], dtype=np.bool_)
        if has_school.any():
            of = np.array([index[s["school"]] for s in housed if s.get("school") in index])
            was = layout.place(
                [old_schools[s["school"]] for s in housed if s.get("school") in index]
            )
            home[has_school] += school_xy[of] - was
        rural = np.array(["rural" in s.get("groups", []) for s in housed], dtype=np.bool_)
        for s, xy in zip(housed, _place_homes(rng, city, home, rural), strict=True):
            s["location"] = plane.point(xy)
    site_key: dict[tuple[float, float, str], int] = {}
    first_opp: list[dict[str, Any]] = []
    for opp in doc["opportunities"]:
        key = (opp["location"]["lat"], opp["location"]["lon"], opp["employer"])
        if key not in site_key:
            site_key[key] = len(first_opp)
            first_opp.append(opp)
    if first_opp:
        on_network = np.array([o.get("transit_accessible", True) for o in first_opp])
        site_xy = _place_sites(
            rng, city, layout.place([o["location"] for o in first_opp]), on_network
        )
        stop, dist = city.nearest(site_xy)
        sites = [
            {
                "location": plane.point(site_xy[k]),
                "address": f"Near {feed.stop_names[city.ids[stop[k]]]}",
                "transit_accessible": bool(dist[k] <= walk_km),
            }
            for k in range(len(first_opp))
        ]
        for opp in doc["opportunities"]:
            key = (opp["location"]["lat"], opp["location"]["lon"], opp["employer"])
            opp.update(sites[site_key[key]])

    # --- travel, and the pins it may break -----------------------------------------------
    date = round_weekday(feed, start, end)
    doc["travel"] = []  # the generator's invented measurements belonged to its invented metro
    doc["travel_groups"] = transit_groups(
        doc, feed, date=date, depart_from=depart_from, depart_until=depart_until, options=options
    )
    doc["pins"] = _pins_still_hold(doc, before, old_schools)
    return doc
