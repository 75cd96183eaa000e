"""Commute times from a real transit timetable (GTFS), fed to the solver as `travel` overrides.

Without a feed the spec estimates a transit trip from the straight-line distance; with one, this
module measures it from the timetable the way a rider makes it: walk to a stop, wait, ride,
perhaps change buses (walking to a nearby stop), ride, walk to the site.

* `load_feed` reads a GTFS zip into arrays (standard library `zipfile`/`csv` and numpy only).
* `service_days` and `typical_weekday` answer which services run on a date, and which weekday
  of the feed runs the ordinary weekday service (a round's dates are mapped onto it).
* `transit_minutes` is the router: a Connection Scan over one day's connections, one search per
  origin that yields arrival times at every stop (one-to-many), from which every destination is
  read off by walking from the stops near it. Origins are batched: the scan walks the day's
  connections once in Python while numpy updates a column per (origin, departure time).
* `block_trips` measures what each block of a slot needs, exactly rather than sampled: the trip
  there arriving by the block's start (the latest one: a backward Connection Scan from the site,
  one-to-many over origins) and the trip back leaving at its end (a forward scan from the site),
  on the feed date that stands in for the block's day type (`stand_ins`: weekday, Saturday,
  Sunday; `service_warning` when the round lies outside the feed's service).
* `transit_groups` turns a `wbl-problem/1` document into `travel_groups`: per origin and
  opportunity, `minutes` (the window's median, below) and `trips` (per block, above).

Choices (all in `TransitOptions`, defaults from the spec where it has one):

* Walking: at most `walk_radius_m` = 800 m straight-line per walking leg (to the first stop, from
  the last one, or the whole trip when it is walked), at the spec's walking speed 4.8 km/h with
  its detour factor 1.3: 16.25 min per straight-line km, so 13 min for 800 m. 800 m is the usual
  catchment of a bus stop in transit planning.
* Changing buses: to a stop within `transfer_radius_m` = 250 m (or the same stop), costing the
  walk plus `transfer_minutes` = 2 min of slack, so a rider never counts on a bus that leaves the
  instant the other one arrives. Staying on the same trip costs nothing.
* Waiting counts. Students leave when they are free (the bell, or a summer morning), not when the
  bus leaves, so the door-to-door time is measured from the moment they are ready. That moment is
  sampled every `step_minutes` = 5 min over the departure window (default: the hour after the
  school day ends, 15:00-16:00; 08:00-09:00 in summer, when students leave home for day shifts)
  and summarised by `statistic` = "median" (the upper median of the samples). The median is what
  a typical student waits: bells differ by school and shifts start at different times, so the
  moment of leaving is spread over the hour. "worst" would charge every trip a full headway (often
  30-60 min in a small city) and "first" (leave at the window's start) depends on whether a bus
  happens to leave a minute before or after it; both remain available.
* Walking is a mode of the search: a trip that can be walked within the walking limit is a
  valid "transit" answer (a rider going to a site 500 m away just walks), and for riders who
  walk (`walk_minutes`: a group whose members all have walk among their modes) the whole trip
  on foot counts up to their commute limit, so the reported minutes are never worse than that
  walk.
* The median is the **upper** median: of the 12 samples of an hour, the 7th fastest. The
  block trips need no statistic: the trip there is the latest that arrives on time (H5 then
  checks the student's classes end before it leaves), the trip back the one leaving at the
  shift's end, its wait counted.
* Trips longer than `max_minutes` = 180 min count as not made by transit.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import zipfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from solver.problem import DAY_TYPES, Location, day_type
from solver.problem import DAYS as DAYS_OF_WEEK
from solver.travel import (
    DETOUR,
    EARTH_RADIUS_KM,
    SPEED_KMH,
    UNREACHABLE,
    estimate_matrix,
    haversine_km,
    haversine_pairs,
)

__all__ = [
    "UNREACHABLE",
    "Feed",
    "GTFSError",
    "TransitOptions",
    "block_trips",
    "load_feed",
    "measurement_note",
    "round_day",
    "round_weekday",
    "service_days",
    "service_period",
    "service_warning",
    "stand_ins",
    "stop_arrivals",
    "transit_groups",
    "transit_minutes",
    "typical_weekday",
    "with_transit_groups",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]

# The spec's sphere, so distances agree with the estimates.
EARTH_RADIUS_M: Final = 1000 * EARTH_RADIUS_KM
# "Never", in seconds, inside the router: far below int32 overflow even with walks added to it.
_NEVER: Final = 1 << 30
DAY_SECONDS: Final = 86_400
# Departure windows when the caller gives none: the hour after the school day ends in term time;
# in summer students go from home to daytime shifts, so the morning hour before most start.
TERM_WINDOW: Final = ("15:00", "16:00")
SUMMER_WINDOW: Final = ("08:00", "09:00")

Statistic = Literal["median", "worst", "first"]


class GTFSError(ValueError):
    """A file that is not a readable GTFS feed; the message names the file, table and line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TransitOptions:
    """How a rider is modelled; see the module docstring for why each default was chosen."""

    walk_radius_m: float = 800.0
    walk_speed_kmh: float = SPEED_KMH["walk"]  # the spec's walking, for the legs to and from stops
    detour: float = DETOUR
    transfer_radius_m: float = 250.0
    transfer_minutes: int = 2
    step_minutes: int = 5
    statistic: Statistic = "median"
    max_minutes: int = 180

    def walk_seconds(self, metres: npt.ArrayLike) -> IntArray:
        """Walking time for straight-line distances, rounded up to whole seconds."""
        speed = self.walk_speed_kmh / 3.6
        seconds: IntArray = np.ceil(self.detour * np.asarray(metres, dtype=np.float64) / speed)
        return seconds.astype(np.int64)


@dataclass(frozen=True, slots=True, kw_only=True)
class Calendar:
    """One row of calendar.txt: the weekdays a service runs (Monday first) between two dates."""

    days: tuple[bool, bool, bool, bool, bool, bool, bool]
    start: dt.date
    end: dt.date


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Feed:
    """A GTFS feed in arrays. Stop times are sorted by trip, then stop sequence; times are seconds
    after midnight of the service day (past 86,400 for trips that run after midnight)."""

    path: str
    timezone: str | None
    stop_ids: tuple[str, ...]
    stop_names: tuple[str, ...]
    stop_lat: FloatArray
    stop_lon: FloatArray
    trip_ids: tuple[str, ...]
    trip_route: tuple[str, ...]
    service_ids: tuple[str, ...]
    trip_service: IntArray  # index into service_ids, per trip
    st_trip: IntArray  # index into trip_ids, per stop time
    st_stop: IntArray  # index into stop_ids
    st_arrival: IntArray
    st_departure: IntArray
    st_pickup: BoolArray  # boarding allowed (pickup_type is not 1)
    st_dropoff: BoolArray  # alighting allowed (drop_off_type is not 1)
    calendar: Mapping[str, Calendar]
    calendar_dates: Mapping[dt.date, Mapping[str, int]]  # date -> service -> 1 added / 2 removed


# --- reading a feed ---------------------------------------------------------------------------


def _member_names(zf: zipfile.ZipFile) -> dict[str, str]:
    """Table name -> member name; feeds zipped with their folder keep their tables one level
    down, so the shallowest member of each base name is taken."""
    found: dict[str, str] = {}
    for name in sorted(zf.namelist(), key=lambda n: (n.count("/"), n)):
        base = name.rsplit("/", 1)[-1].lower()
        if base.endswith(".txt") and base not in found and "__MACOSX" not in name:
            found[base] = name
    return found


@dataclass(slots=True)
class _Table:
    """A GTFS table as columns of strings, with the line number of each row for messages."""

    path: str
    name: str
    columns: dict[str, list[str]]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str, default: str | None = None) -> list[str]:
        if name in self.columns:
            return self.columns[name]
        if default is None:
            raise GTFSError(f"{self.path}: {self.name}: missing required column {name!r}")
        return [default] * len(self.lines)

    def where(self, index: int) -> str:
        return f"{self.path}: {self.name} line {self.lines[index]}"


def _read_table(zf: zipfile.ZipFile, path: str, member: str, name: str) -> _Table:
    try:
        with zf.open(member) as raw:
            # utf-8-sig drops the byte-order mark some exporters put before the first header.
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            reader = csv.reader(text)
            header = [h.strip().lower() for h in next(reader, [])]
            if not any(header):
                raise GTFSError(f"{path}: {name} has no header row")
            columns: dict[str, list[str]] = {h: [] for h in header if h}
            slots = [(i, columns[h]) for i, h in enumerate(header) if h]
            lines: list[int] = []
            width = len(header)
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank lines, which some exporters leave at the end
                if len(row) < width:
                    row = row + [""] * (width - len(row))
                for i, values in slots:
                    values.append(row[i].strip())
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise GTFSError(f"{path}: {name} is not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise GTFSError(f"{path}: {name} is not valid CSV ({exc})") from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise GTFSError(f"{path}: cannot read {name} from the zip ({exc})") from exc
    return _Table(path=path, name=name, columns=columns, lines=lines)


def _seconds(text: str) -> int | None:
    """'H:MM:SS' (hours may pass 24) to seconds after midnight; '' is a missing time."""
    if not text:
        return None
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(text)
    h, m, s = (int(p) for p in parts)
    if h < 0 or not 0 <= m < 60 or not 0 <= s < 61:
        raise ValueError(text)
    return h * 3600 + m * 60 + s


def _date(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%Y%m%d").date()


def _flag(text: str) -> bool:
    return text.strip() == "1"


def load_feed(path: str | Path) -> Feed:
    """Read a GTFS zip: stops, trips, stop_times and calendar and/or calendar_dates (routes and
    agency are optional). Raises `GTFSError` for anything that is not a readable feed."""
    path = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError) as exc:
        raise GTFSError(
            f"{path}: not a GTFS feed (a GTFS feed is a .zip of .txt tables; {exc})"
        ) from exc
    with zf:
        members = _member_names(zf)
        missing = [t for t in ("stops.txt", "trips.txt", "stop_times.txt") if t not in members]
        if missing or not ({"calendar.txt", "calendar_dates.txt"} & members.keys()):
            if "calendar.txt" not in members and "calendar_dates.txt" not in members:
                missing.append("calendar.txt or calendar_dates.txt")
            raise GTFSError(f"{path}: not a GTFS feed: missing {', '.join(missing)}")

        def table(name: str) -> _Table | None:
            return _read_table(zf, path, members[name], name) if name in members else None

        stops, trips, stop_times = table("stops.txt"), table("trips.txt"), table("stop_times.txt")
        assert stops is not None
        assert trips is not None
        assert stop_times is not None
        calendar_t, dates_t, agency_t = table("calendar.txt"), table("calendar_dates.txt"), None
        if "agency.txt" in members:
            agency_t = table("agency.txt")

    timezone = None
    if agency_t is not None and len(agency_t) and "agency_timezone" in agency_t.columns:
        timezone = agency_t.columns["agency_timezone"][0] or None

    stop_ids, stop_names, lats, lons = _read_stops(path, stops)
    trip_ids, trip_route, service_ids, trip_service = _read_trips(trips)
    st = _read_stop_times(path, stop_times, stop_ids, trip_ids)
    calendar = _read_calendar(calendar_t) if calendar_t is not None else {}
    calendar_dates = _read_calendar_dates(dates_t) if dates_t is not None else {}
    if not calendar and not calendar_dates:
        raise GTFSError(f"{path}: calendar.txt and calendar_dates.txt define no service")
    return Feed(
        path=path,
        timezone=timezone,
        stop_ids=stop_ids,
        stop_names=stop_names,
        stop_lat=lats,
        stop_lon=lons,
        trip_ids=trip_ids,
        trip_route=trip_route,
        service_ids=service_ids,
        trip_service=trip_service,
        st_trip=st[0],
        st_stop=st[1],
        st_arrival=st[2],
        st_departure=st[3],
        st_pickup=st[4],
        st_dropoff=st[5],
        calendar=calendar,
        calendar_dates=calendar_dates,
    )


def _read_stops(
    path: str, stops: _Table
) -> tuple[tuple[str, ...], tuple[str, ...], FloatArray, FloatArray]:
    ids, names, lats, lons = [], [], [], []
    raw_ids, raw_names = stops.column("stop_id"), stops.column("stop_name", "")
    raw_lat, raw_lon = stops.column("stop_lat", ""), stops.column("stop_lon", "")
    for i, sid in enumerate(raw_ids):
        if not raw_lat[i] or not raw_lon[i]:
            continue  # entrances and boarding areas may lack coordinates; no trip stops there
        try:
            lat, lon = float(raw_lat[i]), float(raw_lon[i])
        except ValueError:
            raise GTFSError(f"{stops.where(i)}: bad coordinates") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise GTFSError(f"{stops.where(i)}: coordinates out of range")
        ids.append(sid)
        names.append(raw_names[i])
        lats.append(lat)
        lons.append(lon)
    if not ids:
        raise GTFSError(f"{path}: stops.txt has no stop with coordinates")
    return tuple(ids), tuple(names), np.array(lats), np.array(lons)


def _read_trips(
    trips: _Table,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], IntArray]:
    trip_ids = tuple(trips.column("trip_id"))
    services = trips.column("service_id")
    service_ids = tuple(sorted(set(services)))
    index = {sid: i for i, sid in enumerate(service_ids)}
    trip_service = np.array([index[s] for s in services], dtype=np.int64)
    return trip_ids, tuple(trips.column("route_id", "")), service_ids, trip_service


def _read_stop_times(
    path: str, table: _Table, stop_ids: Sequence[str], trip_ids: Sequence[str]
) -> tuple[IntArray, IntArray, IntArray, IntArray, BoolArray, BoolArray]:
    stop_index = {sid: i for i, sid in enumerate(stop_ids)}
    trip_index = {tid: i for i, tid in enumerate(trip_ids)}
    c_trip, c_stop = table.column("trip_id"), table.column("stop_id")
    c_seq = table.column("stop_sequence")
    c_arr, c_dep = table.column("arrival_time", ""), table.column("departure_time", "")
    c_pick, c_drop = table.column("pickup_type", "0"), table.column("drop_off_type", "0")
    n = len(table)
    trip = np.empty(n, dtype=np.int64)
    stop = np.empty(n, dtype=np.int64)
    seq = np.empty(n, dtype=np.int64)
    arr = np.empty(n, dtype=np.int64)
    dep = np.empty(n, dtype=np.int64)
    keep = np.ones(n, dtype=np.bool_)
    unknown = 0
    for i in range(n):
        t, s = trip_index.get(c_trip[i]), stop_index.get(c_stop[i])
        if t is None or s is None:
            unknown += 1
            keep[i] = False
            trip[i] = stop[i] = seq[i] = arr[i] = dep[i] = -1
            continue
        try:
            a, d = _seconds(c_arr[i]), _seconds(c_dep[i])
            seq[i] = int(c_seq[i])
        except ValueError:
            raise GTFSError(
                f"{table.where(i)}: bad time or stop_sequence "
                f"({c_arr[i]!r}, {c_dep[i]!r}, {c_seq[i]!r})"
            ) from None
        trip[i], stop[i] = t, s
        # Either time alone stands for both; neither is a stop between timepoints.
        arr[i] = a if a is not None else (d if d is not None else -1)
        dep[i] = d if d is not None else arr[i]
    if unknown:
        log.warning("%s: %d stop times name an unknown trip or stop; skipped", path, unknown)
    pick = np.array([p.strip() != "1" for p in c_pick], dtype=np.bool_)
    drop = np.array([p.strip() != "1" for p in c_drop], dtype=np.bool_)
    order = np.flatnonzero(keep)[np.lexsort((seq[keep], trip[keep]))]
    trip, stop, arr, dep = trip[order], stop[order], arr[order], dep[order]
    pick, drop = pick[order], drop[order]
    arr, dep, ok = _interpolate(trip, arr, dep)
    if not ok.all():
        log.warning("%s: trips without a first or last time dropped", path)
    return trip[ok], stop[ok], arr[ok], dep[ok], pick[ok], drop[ok]


def _interpolate(
    trip: IntArray, arr: IntArray, dep: IntArray
) -> tuple[IntArray, IntArray, BoolArray]:
    """Times for stops between timepoints, linearly by position between the timed stops around
    them (GTFS lets a feed time only some stops). Trips whose ends are untimed are dropped."""
    ok = np.ones(trip.shape[0], dtype=np.bool_)
    missing = np.flatnonzero(arr < 0)
    if missing.size == 0:
        return arr, dep, ok
    arr, dep = arr.copy(), dep.copy()
    for i in missing.tolist():
        if arr[i] >= 0 or not ok[i]:
            continue
        lo = i - 1
        hi = i + 1
        while hi < trip.shape[0] and trip[hi] == trip[i] and arr[hi] < 0:
            hi += 1
        if lo < 0 or trip[lo] != trip[i] or hi >= trip.shape[0] or trip[hi] != trip[i]:
            ok[trip == trip[i]] = False
            continue
        for k in range(i, hi):
            frac = (k - lo) / (hi - lo)
            arr[k] = dep[k] = round(dep[lo] + frac * (arr[hi] - dep[lo]))
    return arr, dep, ok


def _read_calendar(table: _Table) -> dict[str, Calendar]:
    out: dict[str, Calendar] = {}
    names = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    cols = [table.column(d) for d in names]
    starts, ends = table.column("start_date"), table.column("end_date")
    for i, sid in enumerate(table.column("service_id")):
        try:
            start, end = _date(starts[i]), _date(ends[i])
        except ValueError:
            raise GTFSError(f"{table.where(i)}: bad start_date or end_date") from None
        days = tuple(_flag(c[i]) for c in cols)
        out[sid] = Calendar(days=days, start=start, end=end)  # type: ignore[arg-type]  # 7 flags
    return out


def _read_calendar_dates(table: _Table) -> dict[dt.date, dict[str, int]]:
    out: dict[dt.date, dict[str, int]] = {}
    dates, kinds = table.column("date"), table.column("exception_type")
    for i, sid in enumerate(table.column("service_id")):
        try:
            day, kind = _date(dates[i]), int(kinds[i])
        except ValueError:
            raise GTFSError(f"{table.where(i)}: bad date or exception_type") from None
        if kind not in (1, 2):
            raise GTFSError(f"{table.where(i)}: exception_type must be 1 or 2")
        out.setdefault(day, {})[sid] = kind
    return out


# --- calendars ----------------------------------------------------------------------------------


def service_days(feed: Feed, date: dt.date) -> set[str]:
    """The service ids that run on `date`: calendar.txt's weekdays within its dates, then
    calendar_dates.txt's exceptions (1 adds a service that day, 2 removes it)."""
    active = {
        sid
        for sid, cal in feed.calendar.items()
        if cal.start <= date <= cal.end and cal.days[date.weekday()]
    }
    for sid, kind in feed.calendar_dates.get(date, {}).items():
        if kind == 1:
            active.add(sid)
        else:
            active.discard(sid)
    return active


def service_period(feed: Feed) -> tuple[dt.date, dt.date]:
    """The first and last dates on which the feed defines any service."""
    days = [c.start for c in feed.calendar.values()] + [c.end for c in feed.calendar.values()]
    days += [d for d, services in feed.calendar_dates.items() if 1 in services.values()]
    if not days:
        raise GTFSError(f"{feed.path}: the feed defines no service dates")
    return min(days), max(days)


def _trip_counts(feed: Feed) -> dict[str, int]:
    counts = np.bincount(feed.trip_service, minlength=len(feed.service_ids))
    return {sid: int(counts[i]) for i, sid in enumerate(feed.service_ids)}


def typical_weekday(feed: Feed, near: dt.date | None = None) -> dt.date:
    """A Monday-Friday date on which the feed runs its ordinary weekday service.

    Candidates are the weekdays of the service period with no removed service in
    calendar_dates (public holidays) and at least 90% of the busiest weekday's trips. Of these,
    the most common set of services wins, so a Friday-only late service does not make Friday the
    "typical" day. The date nearest to `near` is returned; a `near` outside the period is first
    moved by whole 52-week years into it (keeping its weekday and season), and None means the
    middle of the period.
    """
    first, last = service_period(feed)
    per_service = _trip_counts(feed)
    candidates: list[tuple[dt.date, frozenset[str], int]] = []
    day = first
    while day <= last:
        removed = 2 in feed.calendar_dates.get(day, {}).values()
        if day.weekday() < 5 and not removed:
            services = frozenset(service_days(feed, day))
            trips = sum(per_service.get(s, 0) for s in services)
            if trips:
                candidates.append((day, services, trips))
        day += dt.timedelta(days=1)
    if not candidates:
        raise GTFSError(f"{feed.path}: no weekday in {first}..{last} runs any trip")
    busiest = max(trips for _, _, trips in candidates)
    full = [c for c in candidates if c[2] >= 0.9 * busiest]
    patterns: dict[frozenset[str], int] = {}
    for _, services, _ in full:
        patterns[services] = patterns.get(services, 0) + 1
    # A service may run no trip at all (a calendar row whose trips a feed left out).
    usual = max(
        patterns.items(), key=lambda kv: (kv[1], sum(per_service.get(s, 0) for s in kv[0]))
    )[0]
    days = [d for d, services, _ in full if services == usual]
    target = _into_period(near, first, last)
    return min(days, key=lambda d: (abs((d - target).days), d))


def _into_period(near: dt.date | None, first: dt.date, last: dt.date) -> dt.date:
    if near is None:
        return first + (last - first) / 2
    if first <= near <= last:
        return near
    middle = first + (last - first) / 2
    weeks = round((middle - near).days / 364)
    return near + dt.timedelta(days=364 * weeks)


def round_weekday(feed: Feed, start: dt.date, end: dt.date) -> dt.date:
    """The feed date that stands for a round's weekdays: a typical weekday inside the part of the
    round the feed covers, or, when they do not overlap (a 2014 feed, a 2026 round), the typical
    weekday nearest the round's start moved by whole years into the feed's period."""
    first, last = service_period(feed)
    if start <= last and first <= end:
        return typical_weekday(feed, max(start, first))
    return typical_weekday(feed, start)


def round_day(feed: Feed, start: dt.date, end: dt.date, kind: str) -> dt.date | None:
    """The feed date that stands for a round's days of one day type (`weekday`, `saturday`,
    `sunday`): `round_weekday` for weekdays; for a weekend day, the Saturday (Sunday) nearest
    that date on which the feed runs trips and changes no service in calendar_dates (not a
    holiday's timetable). None when the feed runs nothing on that day of the week."""
    weekday = round_weekday(feed, start, end)
    if kind == "weekday":
        return weekday
    target = 5 if kind == "saturday" else 6
    first, last = service_period(feed)
    per_service = _trip_counts(feed)
    days = []
    day = first + dt.timedelta(days=(target - first.weekday()) % 7)
    while day <= last:
        services = service_days(feed, day)
        if not feed.calendar_dates.get(day) and sum(per_service.get(x, 0) for x in services) > 0:
            days.append(day)
        day += dt.timedelta(days=7)
    if not days:
        return None
    return min(days, key=lambda d: (abs((d - weekday).days), d))


def stand_ins(feed: Feed, start: dt.date, end: dt.date) -> dict[str, dt.date | None]:
    """The feed date measured for each day type of a round (see `round_day`)."""
    return {kind: round_day(feed, start, end, kind) for kind in DAY_TYPES}


def service_warning(feed: Feed, start: dt.date, end: dt.date) -> str | None:
    """A loud warning when the round's dates lie outside the feed's service (its timetable is
    then another year's, or another season's), naming the dates that stand in; None when
    the feed serves the whole round."""
    first, last = service_period(feed)
    if first <= start and end <= last:
        return None
    days = ", ".join(
        f"{kind} {day.isoformat()} ({day.strftime('%a')})" if day else f"{kind}: no service"
        for kind, day in stand_ins(feed, start, end).items()
    )
    return (
        f"WARNING: the round runs {start.isoformat()} to {end.isoformat()}, but the feed"
        f" {Path(feed.path).name} serves {first.isoformat()} to {last.isoformat()}: its"
        f" timetable of other dates stands in ({days}). Check that the service has not"
        " changed since, or measure on a current feed."
    )


# --- geometry -------------------------------------------------------------------------------------


def _as_points(points: Sequence[tuple[float, float]] | npt.ArrayLike) -> FloatArray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError("points must be a sequence of (lat, lon) pairs")
    return arr


def _pairs_within(
    a: FloatArray, b: FloatArray, radius_m: float
) -> tuple[IntArray, IntArray, FloatArray]:
    """Every (i, j) with point a[i] within `radius_m` of b[j], and the distance, sorted by i.

    b is sorted by latitude once, and each block of a only meets the band of b whose latitude
    can be that close: a city's stops against thousands of sites without a full matrix.
    """
    if a.shape[0] == 0 or b.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    order = np.argsort(b[:, 0], kind="stable")
    blat = b[order, 0]
    dlat = math.degrees(radius_m / EARTH_RADIUS_M) * 1.0001
    out_i: list[IntArray] = []
    out_j: list[IntArray] = []
    out_d: list[FloatArray] = []
    block = 256
    for s in range(0, a.shape[0], block):
        chunk = a[s : s + block]
        lo = int(np.searchsorted(blat, chunk[:, 0].min() - dlat, side="left"))
        hi = int(np.searchsorted(blat, chunk[:, 0].max() + dlat, side="right"))
        if lo >= hi:
            continue
        cand = order[lo:hi]
        d = 1000 * haversine_pairs(
            chunk[:, :1], chunk[:, 1:], b[cand, 0][None, :], b[cand, 1][None, :]
        )
        ii, jj = np.nonzero(d <= radius_m)
        out_i.append(ii.astype(np.int64) + s)
        out_j.append(cand[jj].astype(np.int64))
        out_d.append(d[ii, jj])
    if not out_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    i, j, dist = np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)
    # Sort by i, then j, so results do not depend on how the blocks fell.
    key = np.lexsort((j, i))
    return i[key], j[key], dist[key]


# --- one day's timetable ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class _Day:
    """The connections (one vehicle from one stop to the next) running on a date, sorted by
    departure, and the footpaths between stops, as a CSR adjacency."""

    dep_stop: list[int]
    arr_stop: list[int]
    dep_time: list[int]
    arr_time: list[int]
    trip: list[int]
    pickup: list[bool]
    dropoff: list[bool]
    n_trips: int
    foot_start: list[int]
    foot_to: list[int]
    foot_seconds: list[int]


def _connections(feed: Feed, date: dt.date) -> tuple[IntArray, ...]:
    """Connections of `date`: its own trips, plus yesterday's trips still running after midnight
    (their times past 24:00:00 moved back a day)."""
    same_trip = feed.st_trip[:-1] == feed.st_trip[1:]
    first = np.flatnonzero(same_trip)
    parts: list[tuple[IntArray, ...]] = []
    for day, shift in ((date, 0), (date - dt.timedelta(days=1), DAY_SECONDS)):
        services = service_days(feed, day)
        on = np.array([s in services for s in feed.service_ids], dtype=np.bool_)
        if not on.any():
            continue
        c = first[on[feed.trip_service[feed.st_trip[first]]]]
        dep = feed.st_departure[c] - shift
        arr = feed.st_arrival[c + 1] - shift
        keep = dep >= 0
        c, dep, arr = c[keep], dep[keep], arr[keep]
        parts.append(
            (
                feed.st_stop[c],
                feed.st_stop[c + 1],
                dep,
                arr,
                # Yesterday's run of a trip is another vehicle than today's run of it.
                feed.st_trip[c] + (len(feed.trip_ids) if shift else 0),
                feed.st_pickup[c].astype(np.int64),
                feed.st_dropoff[c + 1].astype(np.int64),
            )
        )
    if not parts:
        return tuple(np.zeros(0, dtype=np.int64) for _ in range(7))
    cols = tuple(np.concatenate([p[k] for p in parts]) for k in range(7))
    return cols


def _day(feed: Feed, date: dt.date, lo: int, hi: int, options: TransitOptions) -> _Day:
    """The day's connections departing in [lo, hi] seconds, and the footpaths."""
    dep_stop, arr_stop, dep, arr, trip, pick, drop = _connections(feed, date)
    keep = (dep >= lo) & (dep <= hi)
    dep_stop, arr_stop, dep, arr, trip, pick, drop = (
        a[keep] for a in (dep_stop, arr_stop, dep, arr, trip, pick, drop)
    )
    # Sorted by departure, then arrival; the sort is stable, so a trip's zero-minute hops keep
    # their order along the trip (the scan relies on it to stay seated through them).
    order = np.lexsort((arr, dep))
    dep_stop, arr_stop, dep, arr, trip, pick, drop = (
        a[order] for a in (dep_stop, arr_stop, dep, arr, trip, pick, drop)
    )
    _, trip_local = np.unique(trip, return_inverse=True)
    stops = np.column_stack((feed.stop_lat, feed.stop_lon))
    fi, fj, fd = _pairs_within(stops, stops, options.transfer_radius_m)
    walk = options.walk_seconds(fd) + 60 * options.transfer_minutes
    start = np.searchsorted(fi, np.arange(len(feed.stop_ids) + 1), side="left")
    return _Day(
        dep_stop=dep_stop.tolist(),
        arr_stop=arr_stop.tolist(),
        dep_time=dep.tolist(),
        arr_time=arr.tolist(),
        trip=trip_local.reshape(-1).tolist(),
        pickup=pick.astype(bool).tolist(),
        dropoff=drop.astype(bool).tolist(),
        n_trips=int(trip_local.max()) + 1 if trip_local.size else 0,
        foot_start=start.tolist(),
        foot_to=fj.tolist(),
        foot_seconds=walk.tolist(),
    )


def _scan(day: _Day, ready: Int32Array) -> Int32Array:
    """Connection Scan for many searches at once: column k of `ready` holds, per stop, when
    search k can first board there (walked from its origin). Returns per stop and search the
    earliest arrival by vehicle.

    The connections are walked once in Python; each step updates every search with a few numpy
    operations on one row, which is where batching pays: the loop costs the same for one search
    as for thousands.
    """
    n_stops, width = ready.shape
    alight = np.full((n_stops, width), _NEVER, dtype=np.int32)
    on_trip = np.zeros((max(day.n_trips, 1), width), dtype=np.bool_)
    never = np.int32(_NEVER)
    foot_start, foot_to, foot_seconds = day.foot_start, day.foot_to, day.foot_seconds
    for u, v, td, ta, t, pick, drop in zip(
        day.dep_stop,
        day.arr_stop,
        day.dep_time,
        day.arr_time,
        day.trip,
        day.pickup,
        day.dropoff,
        strict=True,
    ):
        riding = on_trip[t]
        if pick:
            boards = ready[u] <= td
            if boards.any():
                riding = riding | boards
                on_trip[t] = riding
        if not drop or not riding.any():
            continue
        arrive = np.where(riding, np.int32(ta), never)
        better = arrive < alight[v]
        if not better.any():
            continue  # every search got here as early already, and walked on from here then
        np.minimum(alight[v], arrive, out=alight[v])
        # Change here or at a stop nearby: walk plus slack (the stop itself is in its list).
        for k in range(foot_start[v], foot_start[v + 1]):
            w = foot_to[k]
            np.minimum(ready[w], arrive + np.int32(foot_seconds[k]), out=ready[w])
    return alight


def _scan_back(day: _Day, need: Int32Array) -> Int32Array:
    """The Connection Scan backwards, for many searches at once: column k of `need` holds, per
    stop, the latest time search k may get off a vehicle there and still reach its target in
    time (walking on from that stop). Returns per stop and search the latest departure by
    vehicle from it that reaches the target in time (-_NEVER: none). `need` is updated.

    The mirror of `_scan`: connections latest first; staying on a trip costs nothing; a change
    at a stop nearby costs the walk plus `transfer_minutes`, as forwards."""
    n_stops, width = need.shape
    board = np.full((n_stops, width), -_NEVER, dtype=np.int32)
    on_trip = np.zeros((max(day.n_trips, 1), width), dtype=np.bool_)
    never = np.int32(-_NEVER)
    foot_start, foot_to, foot_seconds = day.foot_start, day.foot_to, day.foot_seconds
    for u, v, td, ta, t, pick, drop in zip(
        reversed(day.dep_stop),
        reversed(day.arr_stop),
        reversed(day.dep_time),
        reversed(day.arr_time),
        reversed(day.trip),
        reversed(day.pickup),
        reversed(day.dropoff),
        strict=True,
    ):
        reach = on_trip[t]
        if drop:
            arrives = need[v] >= ta
            if arrives.any():
                reach = reach | arrives
                on_trip[t] = reach
        if not pick or not reach.any():
            continue
        depart = np.where(reach, np.int32(td), never)
        if not (depart > board[u]).any():
            continue  # every search left here as late already, and changed buses from here then
        np.maximum(board[u], depart, out=board[u])
        for k in range(foot_start[u], foot_start[u + 1]):
            w = foot_to[k]
            np.maximum(need[w], depart - np.int32(foot_seconds[k]), out=need[w])
    return board


def _rectangle(
    rows: IntArray, stops: IntArray, walk: IntArray
) -> tuple[IntArray, IntArray, Int32Array]:
    """`_egress_table` for any points (origins or destinations) and their stops nearby."""
    return _egress_table(rows, stops, walk)


def block_trips(
    feed: Feed,
    date: dt.date | None,
    origins: Sequence[tuple[float, float]] | npt.ArrayLike,
    sites: Sequence[tuple[float, float]] | npt.ArrayLike,
    there: Sequence[tuple[int, int]],
    back: Sequence[tuple[int, int]],
    *,
    options: TransitOptions | None = None,
    walk_minutes: Sequence[int | None] | None = None,
) -> tuple[Int32Array, Int32Array]:
    """Door-to-door minutes of the trips a block needs, on one service date: for each
    `there` column (site index, minute a block starts) and origin, the trip arriving at the site
    by then, the latest one that does, from leaving the origin to the block's start (so a
    student free by then can make it); for each `back` column (site index, minute a block ends),
    the trip leaving the site then, waiting included, until the origin. `UNREACHABLE` where no
    such trip takes at most `max_minutes`. Walking the whole way counts as in
    `transit_minutes`; `date` None: no bus runs that day, only walks.

    Exact, not sampled: one backward scan per `there` column (one-to-many: every origin at
    once), one forward scan per `back` column, batched as `transit_minutes` batches origins."""
    options = options or TransitOptions()
    orig, site = _as_points(origins), _as_points(sites)
    n_orig = orig.shape[0]
    out_there = np.full((n_orig, len(there)), UNREACHABLE, dtype=np.int32)
    out_back = np.full((n_orig, len(back)), UNREACHABLE, dtype=np.int32)
    if n_orig == 0:
        return out_there, out_back
    limit = 60 * options.max_minutes
    stops = np.column_stack((feed.stop_lat, feed.stop_lon))
    n_stops = stops.shape[0]
    o_orig, o_stop, o_dist = _pairs_within(orig, stops, options.walk_radius_m)
    s_site, s_stop, s_dist = _pairs_within(site, stops, options.walk_radius_m)
    s_walk = options.walk_seconds(s_dist)
    s_begin = np.searchsorted(s_site, np.arange(site.shape[0]), side="left")
    s_end = np.searchsorted(s_site, np.arange(site.shape[0]), side="right")
    served, pad_stop, pad_walk = _rectangle(o_orig, o_stop, options.walk_seconds(o_dist))

    def columns(cols: Sequence[tuple[int, int]], n_trips: int) -> Iterator[tuple[int, int]]:
        per_column = 8 * n_stops + max(n_trips, 1)
        batch = max(1, min(4096, 200_000_000 // per_column))
        for c0 in range(0, len(cols), batch):
            yield c0, min(len(cols), c0 + batch)

    if date is not None and served.size and there:
        t_s = np.array([60 * t for _, t in there], dtype=np.int64)
        day = _day(feed, date, int(t_s.min()) - limit, int(t_s.max()), options)
        for c0, c1 in columns(there, day.n_trips):
            need = np.full((n_stops, c1 - c0), -_NEVER, dtype=np.int32)
            for k in range(c0, c1):
                i = there[k][0]
                for q in range(int(s_begin[i]), int(s_end[i])):
                    stop = int(s_stop[q])
                    need[stop, k - c0] = max(need[stop, k - c0], t_s[k] - s_walk[q])
            board = _scan_back(day, need)
            latest = np.full((served.shape[0], c1 - c0), -_NEVER, dtype=np.int64)
            for j in range(pad_stop.shape[1]):
                np.maximum(
                    latest,
                    board[pad_stop[:, j]].astype(np.int64) - pad_walk[:, j, None],
                    out=latest,
                )
            taken = t_s[None, c0:c1] - latest
            out_there[served, c0:c1] = np.where(taken <= limit, -(-taken // 60), UNREACHABLE)
    if date is not None and served.size and back:
        t_b = np.array([60 * t for _, t in back], dtype=np.int64)
        day = _day(feed, date, int(t_b.min()), int(t_b.max()) + limit, options)
        for c0, c1 in columns(back, day.n_trips):
            ready = np.full((n_stops, c1 - c0), _NEVER, dtype=np.int32)
            for k in range(c0, c1):
                i = back[k][0]
                for q in range(int(s_begin[i]), int(s_end[i])):
                    stop = int(s_stop[q])
                    ready[stop, k - c0] = min(ready[stop, k - c0], t_b[k] + s_walk[q])
            alight = _scan(day, ready)
            best = np.full((served.shape[0], c1 - c0), _NEVER, dtype=np.int64)
            for j in range(pad_stop.shape[1]):
                np.minimum(
                    best, alight[pad_stop[:, j]].astype(np.int64) + pad_walk[:, j, None], out=best
                )
            taken = best - t_b[None, c0:c1]
            out_back[served, c0:c1] = np.where(taken <= limit, -(-taken // 60), UNREACHABLE)
    # Walking the whole way, either direction, whatever the timetable.
    w_orig, w_site, walk = _walks(orig, site, options, walk_minutes)
    if w_orig.size:
        minutes = np.ceil(walk / 60).astype(np.int32)
        for cols, out in ((there, out_there), (back, out_back)):
            if not cols:
                continue
            col_site = np.array([i for i, _ in cols], dtype=np.int64)
            order = np.argsort(col_site, kind="stable")
            start = np.searchsorted(col_site[order], w_site, side="left")
            stop_ = np.searchsorted(col_site[order], w_site, side="right")
            for a, b, r, m in zip(
                start.tolist(), stop_.tolist(), w_orig.tolist(), minutes.tolist(), strict=True
            ):
                ks = order[a:b]
                out[r, ks] = np.minimum(out[r, ks], m)
    return out_there, out_back


def _clock(value: str | dt.time | int) -> int:
    """'HH:MM' or a time to seconds after midnight; an int is taken as seconds already."""
    if isinstance(value, int):
        return value
    if isinstance(value, dt.time):
        return value.hour * 3600 + value.minute * 60 + value.second
    hours, minutes = value.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def _samples(
    depart_from: str | dt.time | int, depart_until: str | dt.time | int, step: int
) -> IntArray:
    lo, hi = _clock(depart_from), _clock(depart_until)
    if hi <= lo:
        raise ValueError(f"depart_until ({depart_until}) must be after depart_from ({depart_from})")
    if step <= 0:
        raise ValueError("step_minutes must be positive")
    return np.arange(lo, hi, 60 * step, dtype=np.int64)


def stop_arrivals(
    feed: Feed,
    origin: tuple[float, float],
    date: dt.date,
    depart_at: str | dt.time | int,
    options: TransitOptions | None = None,
) -> dict[str, int]:
    """For one rider ready at `origin` at `depart_at`, the earliest arrival by bus at every stop
    reached within `max_minutes` (stop id -> seconds after midnight): the search itself, to
    inspect or trace a trip."""
    options = options or TransitOptions()
    t0 = _clock(depart_at)
    day = _day(feed, date, t0, t0 + 60 * options.max_minutes, options)
    stops = np.column_stack((feed.stop_lat, feed.stop_lon))
    _, si, dist = _pairs_within(_as_points([origin]), stops, options.walk_radius_m)
    ready = np.full((len(feed.stop_ids), 1), _NEVER, dtype=np.int32)
    ready[si, 0] = t0 + options.walk_seconds(dist)
    alight = _scan(day, ready)[:, 0]
    # Only connections leaving within the horizon were scanned: arrivals after it are cut too.
    reached = np.flatnonzero(alight <= t0 + 60 * options.max_minutes)
    return {feed.stop_ids[s]: int(alight[s]) for s in reached.tolist()}


def transit_minutes(
    feed: Feed,
    origins: Sequence[tuple[float, float]] | npt.ArrayLike,
    destinations: Sequence[tuple[float, float]] | npt.ArrayLike,
    date: dt.date,
    depart_from: str | dt.time | int = TERM_WINDOW[0],
    depart_until: str | dt.time | int = TERM_WINDOW[1],
    *,
    options: TransitOptions | None = None,
    walk_minutes: Sequence[int | None] | None = None,
) -> Int32Array:
    """Door-to-door transit minutes, origins x destinations, `UNREACHABLE` where transit cannot
    make the trip. Points are (lat, lon); the trip leaves at a moment sampled every
    `step_minutes` in [depart_from, depart_until) and the samples are summarised by
    `options.statistic` (waiting at the first stop included, see the module docstring).
    Walking the whole way is a trip too: within `walk_radius_m`, or, for an origin whose
    `walk_minutes` is given, within that many minutes on foot (its riders may walk that far).

    One search per origin and departure sample, all batched into one Connection Scan; each
    destination is then read off the arrival times of the stops within walking distance of it.
    """
    options = options or TransitOptions()
    orig, dest = _as_points(origins), _as_points(destinations)
    samples = _samples(depart_from, depart_until, options.step_minutes)
    n_orig, n_dest, n_samp = orig.shape[0], dest.shape[0], samples.shape[0]
    result = np.full((n_orig, n_dest), UNREACHABLE, dtype=np.int32)
    if n_orig == 0 or n_dest == 0:
        return result
    limit = 60 * options.max_minutes
    stops = np.column_stack((feed.stop_lat, feed.stop_lon))
    n_stops = stops.shape[0]

    # Walking legs: origin -> stops, stops -> destination, and origin -> destination on foot.
    a_orig, a_stop, a_dist = _pairs_within(orig, stops, options.walk_radius_m)
    e_dest, e_stop, e_dist = _pairs_within(dest, stops, options.walk_radius_m)
    served, pad_stop, pad_walk = _egress_table(e_dest, e_stop, options.walk_seconds(e_dist))

    searched = np.unique(a_orig)  # origins with a stop in walking distance
    if searched.size and served.size:
        day = _day(feed, date, int(samples[0]), int(samples[-1]) + limit, options)
        a_walk = options.walk_seconds(a_dist)
        a_begin = np.searchsorted(a_orig, searched, side="left")
        a_end = np.searchsorted(a_orig, searched, side="right")
        # Columns per scan: wide enough that numpy, not the Python loop, does the work; small
        # enough that the per-stop and per-trip state stays within a few hundred MB.
        per_column = 8 * n_stops + max(day.n_trips, 1)
        batch = max(1, min(4096 // n_samp, 200_000_000 // (per_column * n_samp)))
        for b0 in range(0, searched.size, batch):
            group = np.arange(b0, min(b0 + batch, searched.size))
            ready = np.full((n_stops, group.size * n_samp), _NEVER, dtype=np.int32)
            for g, k in enumerate(group.tolist()):
                cols = slice(g * n_samp, (g + 1) * n_samp)
                for p in range(int(a_begin[k]), int(a_end[k])):
                    s = int(a_stop[p])
                    ready[s, cols] = np.minimum(ready[s, cols], samples + a_walk[p])
            alight = _scan(day, ready)
            _egress(
                alight,
                served,
                pad_stop,
                pad_walk,
                samples,
                limit,
                options.statistic,
                result,
                searched[group],
            )

    # The whole trip on foot: a mode of its own, never slower than the bus when it is allowed.
    w_orig, w_dest, walk = _walks(orig, dest, options, walk_minutes)
    if w_orig.size:
        walk_min = np.ceil(walk / 60).astype(np.int32)
        result[w_orig, w_dest] = np.minimum(result[w_orig, w_dest], walk_min)
    return result


def _walks(
    orig: FloatArray,
    dest: FloatArray,
    options: TransitOptions,
    walk_minutes: Sequence[int | None] | None,
) -> tuple[IntArray, IntArray, IntArray]:
    """(origin, destination, seconds) of every trip that may be walked the whole way: within
    `walk_radius_m` (as far as anyone walks to a stop), or within the origin's `walk_minutes`
    on foot when given."""
    limits = np.full(orig.shape[0], -1.0)
    if walk_minutes is not None:
        limits = np.array([-1.0 if m is None else float(m) for m in walk_minutes])
    speed = options.walk_speed_kmh / 3.6
    # Metres a walk of the origin's minutes covers in a straight line, at least the radius.
    reach = np.maximum(limits * 60 * speed / options.detour, options.walk_radius_m)
    w_orig, w_dest, w_dist = _pairs_within(
        orig, dest, float(reach.max(initial=options.walk_radius_m))
    )
    keep = w_dist <= reach[w_orig]
    return w_orig[keep], w_dest[keep], options.walk_seconds(w_dist[keep])


def _egress_table(
    e_dest: IntArray, e_stop: IntArray, e_walk: IntArray
) -> tuple[IntArray, IntArray, Int32Array]:
    """The destinations with a stop in walking distance, and their stops and walks as a
    rectangle (one row per destination, padded by repeating its first stop, which leaves the
    minimum unchanged): egress then takes one vectorised step per column of the rectangle."""
    served, start, count = np.unique(e_dest, return_index=True, return_counts=True)
    width = int(count.max()) if count.size else 0
    pad_stop = np.repeat(e_stop[start][:, None], width, axis=1)
    pad_walk = np.repeat(e_walk[start][:, None], width, axis=1).astype(np.int32)
    row = np.repeat(np.arange(served.shape[0]), count)
    pos = np.arange(e_dest.shape[0]) - np.repeat(start, count)
    pad_stop[row, pos] = e_stop
    pad_walk[row, pos] = e_walk
    return served, pad_stop, pad_walk


def _egress(
    alight: Int32Array,
    served: IntArray,
    pad_stop: IntArray,
    pad_walk: Int32Array,
    samples: IntArray,
    limit: int,
    statistic: Statistic,
    result: Int32Array,
    rows: IntArray,
) -> None:
    """Arrival at each served destination (best stop nearby plus the walk), per search column;
    then per origin the chosen statistic over its departure samples, into `result[rows]`."""
    n_samp = samples.shape[0]
    n_served = max(served.shape[0], 1)
    # Column blocks keep the (destination x column) temporaries to a few tens of MB.
    per_block = max(n_samp, (4_000_000 // n_served) // n_samp * n_samp)
    width = alight.shape[1]
    for c0 in range(0, width, per_block):
        c1 = min(width, c0 + per_block)
        block = alight[:, c0:c1]
        best = np.full((served.shape[0], c1 - c0), _NEVER, dtype=np.int32)
        for k in range(pad_stop.shape[1]):
            np.minimum(best, block[pad_stop[:, k]] + pad_walk[:, k, None], out=best)
        k = (c1 - c0) // n_samp
        taken = best.reshape(served.shape[0], k, n_samp).astype(np.int64) - samples
        taken[taken > limit] = _NEVER
        if statistic == "median":
            # The upper median of an even count: the conservative one of the middle two.
            stat = np.partition(taken, n_samp // 2, axis=2)[:, :, n_samp // 2]
        elif statistic == "worst":
            stat = taken.max(axis=2)
        else:
            stat = taken[:, :, 0]
        minutes = np.where(stat >= _NEVER, UNREACHABLE, -(-stat // 60)).astype(np.int32)
        origin_rows = rows[c0 // n_samp : c0 // n_samp + k]
        result[np.ix_(origin_rows, served)] = minutes.T


# --- a problem document's overrides ---------------------------------------------------------------


def _grid(lat: float, lon: float, cell_m: float, lat_ref: float) -> tuple[float, float]:
    """The centre of the `cell_m` grid cell holding a point. The longitude step uses one
    reference latitude, so all points of a city share the same grid."""
    step_lat = math.degrees(cell_m / EARTH_RADIUS_M)
    step_lon = step_lat / math.cos(math.radians(lat_ref))
    return (
        round((math.floor(lat / step_lat) + 0.5) * step_lat, 6),
        round((math.floor(lon / step_lon) + 0.5) * step_lon, 6),
    )


def _point(loc: Mapping[str, Any]) -> tuple[float, float]:
    return float(loc["lat"]), float(loc["lon"])


def _location(point: tuple[float, float]) -> Location:
    return Location(lat=point[0], lon=point[1])


GROUP_PREFIX: Final = "transit:"


def transit_groups(
    problem_doc: Mapping[str, Any],
    feed: Feed,
    *,
    date: dt.date | None = None,
    depart_from: str | dt.time | None = None,
    depart_until: str | dt.time | None = None,
    grid_m: float = 250.0,
    prune: bool = True,
    options: TransitOptions | None = None,
    skip: Collection[str] = (),
    by_block: bool = True,
    walk_whole_way: bool = True,
) -> list[dict[str, Any]]:
    """`travel_groups` of transit minutes measured on the feed: one group per origin, holding
    every student with transit in `travel_modes` who travels from it, and one entry
    `{"opportunity", "mode": "transit", "minutes"}` per opportunity one of them could consider
    (in its clusters, any when it has none, or in its preferences); `minutes` is None where
    transit cannot make the trip. Students in `skip` (already in another group) are left out.

    The origin is the spec's (school in term time, else home, else school); homes are rounded to
    the centre of a `grid_m` cell, so that neighbours share one search and one group (group ids
    `transit:<school id>` and `transit:<lat>,<lon>`). The date is the feed's stand-in for the
    round's weekdays (`round_weekday`), the window the hour after school (or a summer morning)
    unless given.

    With `prune` (the default), an entry is left out when it cannot change the solver's answer
    for any member: the measurement exceeds every member's `max_commute_minutes`, and so does the
    spec's estimate from anywhere in the group (the distance from the group's point less the
    farthest member's). An unplaced student's reason may then read `commute_too_long` where
    the measurement alone would say `no_transport_mode`. Without it every candidate is kept.
    A member's own `travel` entry for transit still wins over the group's (the format's rule).

    With `by_block` (the default) each entry also carries `trips`: for every block of the
    opportunity's slots, by its day type (the feed dates of `stand_ins`), the trip there
    arriving by the block's start and the trip back leaving at its end (`block_trips`); the
    solver then judges each slot by them (H4, and H5 against the student's classes). Without
    it, only `minutes` (the departure window's median), as before. Walking the whole way counts
    as a trip up to the group's widest commute limit when every member walks (`travel_modes`
    holds walk), up to `walk_radius_m` otherwise (always, without `walk_whole_way`: the
    measurement before block trips, which the benchmark compares against).
    """
    options = options or TransitOptions()
    rnd = problem_doc["round"]
    summer = bool(rnd.get("summer", False))
    if date is None:
        date = round_weekday(
            feed, dt.date.fromisoformat(rnd["start_date"]), dt.date.fromisoformat(rnd["end_date"])
        )
    window = SUMMER_WINDOW if summer else TERM_WINDOW
    lo = depart_from if depart_from is not None else window[0]
    hi = depart_until if depart_until is not None else window[1]

    schools = {s["id"]: _point(s["location"]) for s in problem_doc.get("schools", [])}
    opps = list(problem_doc.get("opportunities", []))
    n_opps = len(opps)
    opp_index = {o["id"]: i for i, o in enumerate(opps)}
    cluster_ix = {c: k for k, c in enumerate(sorted({o["cluster"] for o in opps}))}
    opp_cluster = np.array([cluster_ix[o["cluster"]] for o in opps], dtype=np.int64)

    # Distinct sites: an employer's opportunities usually share one.
    site_of: dict[tuple[float, float], int] = {}
    opp_site = np.array(
        [site_of.setdefault(_point(o["location"]), len(site_of)) for o in opps], dtype=np.int64
    )
    sites = np.array(list(site_of), dtype=np.float64).reshape(-1, 2)
    accessible = np.array([o.get("transit_accessible", True) for o in opps], dtype=np.bool_)
    lat_ref = float(np.mean(feed.stop_lat))

    # Groups: the origin's point, its members, their widest limit and clusters, and how far the
    # farthest member lives from the point (0 at a school).
    group_of: dict[tuple[float, float], int] = {}
    names: list[str] = []
    members: list[list[str]] = []
    walkers: list[bool] = []
    limit: list[int] = []
    radius: list[float] = []
    all_clusters: list[bool] = []
    cluster_rows: list[int] = []
    cluster_cols: list[int] = []
    extra_rows: list[int] = []
    extra_cols: list[int] = []
    for s in problem_doc.get("students", []):
        if "transit" not in s.get("travel_modes", []) or s["id"] in skip:
            continue
        school_id = s.get("school")
        school = schools.get(school_id) if school_id is not None else None
        if school is not None and not summer:
            at, key, name = school, school, f"{GROUP_PREFIX}{school_id}"
        elif s.get("location") is not None:
            at = _point(s["location"])
            key = _grid(*at, grid_m, lat_ref)
            name = f"{GROUP_PREFIX}{key[0]:.6f},{key[1]:.6f}"
        elif school is not None:
            at, key, name = school, school, f"{GROUP_PREFIX}{school_id}"
        else:
            continue  # neither home nor school: the solver refuses such a document anyway
        g = group_of.get(key)
        if g is None:
            g = group_of[key] = len(names)
            names.append(name)
            members.append([])
            walkers.append(True)
            limit.append(0)
            radius.append(0.0)
            all_clusters.append(False)
        members[g].append(s["id"])
        walkers[g] = walkers[g] and "walk" in s.get("travel_modes", [])
        limit[g] = max(limit[g], int(s.get("max_commute_minutes", 60)))
        if at != key:
            radius[g] = max(radius[g], haversine_km(_location(at), _location(key)))
        clusters = [cluster_ix[c] for c in dict.fromkeys(s.get("clusters", [])) if c in cluster_ix]
        if not s.get("clusters"):
            all_clusters[g] = True
        cluster_rows += [g] * len(clusters)
        cluster_cols += clusters
        for p in dict.fromkeys(s.get("preferences", [])):
            if p in opp_index:
                extra_rows.append(g)
                extra_cols.append(opp_index[p])
    if not names:
        return []

    origins = list(group_of)
    walk_minutes = [
        m if w and walk_whole_way else None for m, w in zip(limit, walkers, strict=True)
    ]
    matrix = transit_minutes(
        feed, origins, sites, date, lo, hi, options=options, walk_minutes=walk_minutes
    )
    log.info("transit: %d origins x %d sites on %s, %s-%s", len(origins), len(sites), date, lo, hi)
    trips = (
        _trips_by_block(feed, rnd, opps, opp_site, origins, sites, options, walk_minutes)
        if by_block
        else None
    )

    n_groups = len(names)
    wants = np.zeros((n_groups, len(cluster_ix)), dtype=np.bool_)
    wants[cluster_rows, cluster_cols] = True
    limits = np.array(limit, dtype=np.int64)
    radii = np.array(radius, dtype=np.float64)
    points = np.array(origins, dtype=np.float64)
    opp_ids = [o["id"] for o in opps]
    chosen: dict[int, list[int]] = {}
    for g, o in zip(extra_rows, extra_cols, strict=True):
        chosen.setdefault(g, []).append(o)
    groups: list[dict[str, Any]] = []
    for g in range(n_groups):
        keep = np.ones(n_opps, dtype=np.bool_) if all_clusters[g] else wants[g, opp_cluster]
        keep[chosen.get(g, [])] = True  # ranked choices outside the clusters
        minutes = matrix[g, opp_site]
        least = minutes if trips is None else np.minimum(minutes, trips.least[g])
        if prune:
            site_xy = sites[opp_site]
            km = haversine_pairs(
                np.full(n_opps, points[g, 0]),
                np.full(n_opps, points[g, 1]),
                site_xy[:, 0],
                site_xy[:, 1],
            )
            guess = np.where(
                accessible, estimate_matrix(np.maximum(km - radii[g], 0.0), "transit"), UNREACHABLE
            )
            keep &= (least <= limits[g]) | (guess <= limits[g])
        travel = []
        for o in np.flatnonzero(keep).tolist():
            entry: dict[str, Any] = {
                "opportunity": opp_ids[o],
                "mode": "transit",
                "minutes": None if int(minutes[o]) == UNREACHABLE else int(minutes[o]),
            }
            if trips is not None and trips.keys[o]:
                entry["trips"] = trips.entry(g, o)
            travel.append(entry)
        groups.append({"id": names[g], "students": members[g], "travel": travel})
    return groups


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class _BlockTrips:
    """Every origin's trips for every block time of every opportunity (`block_trips` per day
    type), and per (origin, opportunity) the least of them, for pruning."""

    keys: list[
        list[tuple[str, str, str, int]]
    ]  # per opportunity: (day type, direction, HH:MM, column)
    there: dict[str, Int32Array]  # day type -> origins x columns
    back: dict[str, Int32Array]
    least: Int32Array  # origins x opportunities

    def entry(self, g: int, o: int) -> dict[str, dict[str, dict[str, int | None]]]:
        """The `trips` of origin g's entry for opportunity o."""
        out: dict[str, dict[str, dict[str, int | None]]] = {}
        for kind, direction, clock, col in self.keys[o]:
            value = int((self.there if direction == "there" else self.back)[kind][g, col])
            legs = out.setdefault(kind, {})
            legs.setdefault(direction, {})[clock] = None if value == UNREACHABLE else value
        return out


def _trips_by_block(
    feed: Feed,
    rnd: Mapping[str, Any],
    opps: Sequence[Mapping[str, Any]],
    opp_site: IntArray,
    origins: Sequence[tuple[float, float]],
    sites: FloatArray,
    options: TransitOptions,
    walk_minutes: Sequence[int | None],
) -> _BlockTrips:
    """The trips each block of each opportunity needs, measured once per (site, day type,
    time) for every origin: the columns of `block_trips`."""
    days = stand_ins(
        feed, dt.date.fromisoformat(rnd["start_date"]), dt.date.fromisoformat(rnd["end_date"])
    )
    columns: dict[tuple[str, str], dict[tuple[int, int], int]] = {
        (kind, direction): {} for kind in DAY_TYPES for direction in ("there", "back")
    }
    keys: list[list[tuple[str, str, str, int]]] = []
    for o, opp in enumerate(opps):
        seen: dict[tuple[str, str, str], int] = {}
        for slot in opp.get("slots") or ():
            for block in slot.get("blocks") or ():
                if "date" in block:
                    weekday = dt.date.fromisoformat(block["date"]).weekday()
                else:
                    weekday = DAYS_OF_WEEK.index(block["day"])
                kind = day_type(weekday)
                for direction, clock in (("there", block["start"]), ("back", block["end"])):
                    if (kind, direction, clock) in seen:
                        continue
                    numbered = columns[kind, direction]
                    at = (int(opp_site[o]), _clock(clock) // 60)
                    seen[kind, direction, clock] = numbered.setdefault(at, len(numbered))
        keys.append([(k, d, c, col) for (k, d, c), col in seen.items()])
    there: dict[str, Int32Array] = {}
    back: dict[str, Int32Array] = {}
    for kind in DAY_TYPES:
        there[kind], back[kind] = block_trips(
            feed,
            days[kind],
            origins,
            sites,
            list(columns[kind, "there"]),
            list(columns[kind, "back"]),
            options=options,
            walk_minutes=walk_minutes,
        )
        log.info(
            "transit: %s trips on %s: %d arrivals, %d departures",
            kind,
            days[kind],
            len(columns[kind, "there"]),
            len(columns[kind, "back"]),
        )
    least = np.full((len(origins), len(opps)), UNREACHABLE, dtype=np.int32)
    for o, found in enumerate(keys):
        for kind, direction, _, col in found:
            table = there if direction == "there" else back
            np.minimum(least[:, o], table[kind][:, col], out=least[:, o])
    return _BlockTrips(keys=keys, there=there, back=back, least=least)


def measurement_note(
    problem_doc: Mapping[str, Any],
    feed: Feed,
    *,
    options: TransitOptions | None = None,
    by_block: bool = True,
) -> list[str]:
    """What a measurement of the round on `feed` stands on, in lines for the person running
    it: the feed dates measured for each day type, how each block's trips and the entries'
    `minutes` are measured (which statistic: the upper median), and first, when the round's
    dates lie outside the feed's service, a loud warning naming them (`service_warning`)."""
    options = options or TransitOptions()
    rnd = problem_doc["round"]
    start = dt.date.fromisoformat(rnd["start_date"])
    end = dt.date.fromisoformat(rnd["end_date"])
    summer = bool(rnd.get("summer", False))
    lo, hi = SUMMER_WINDOW if summer else TERM_WINDOW
    samples = _samples(lo, hi, options.step_minutes).shape[0]
    days = ", ".join(
        f"{kind} on {day.isoformat()} ({day.strftime('%a')})" if day else f"{kind}: no service"
        for kind, day in stand_ins(feed, start, end).items()
        if by_block or kind == "weekday"
    )
    statistic = {
        "median": f"the upper median of {samples} departures every {options.step_minutes} min"
        f" from {lo} to {hi} (the {samples // 2 + 1}th fastest: of an even count, the slower"
        " of the middle two)",
        "worst": f"the slowest of {samples} departures from {lo} to {hi}",
        "first": f"the departure at {lo}",
    }[options.statistic]
    lines = [
        f"measured on {Path(feed.path).name}: {days}",
        "each block's trip there is the latest arriving by its start, its trip back leaves at"
        " its end (waiting included); minutes without a block: " + statistic
        if by_block
        else f"one time per school (or home cell) and site, on the weekday: {statistic}",
    ]
    warning = service_warning(feed, start, end)
    return [warning, *lines] if warning else lines


def with_transit_groups(
    problem_doc: Mapping[str, Any], feed: Feed, **kwargs: Any
) -> tuple[dict[str, Any], int]:
    """The document with its transit groups measured on `feed` (earlier `transit:` groups are
    replaced; students in the document's other groups keep them), and how many transit times
    the new groups hold."""
    kept = [
        g
        for g in problem_doc.get("travel_groups") or ()
        if not str(g.get("id", "")).startswith(GROUP_PREFIX)
    ]
    skip = {sid for g in kept for sid in g["students"]}
    measured = transit_groups(problem_doc, feed, skip=skip, **kwargs)
    doc = dict(problem_doc)
    doc["travel_groups"] = [*kept, *measured]
    return doc, sum(len(g["travel"]) for g in measured)
