"""Equity and outcomes of a round's run: who gets placed, how well, and how far they travel.

`round_equity` reads, for the chosen run of a round (else its latest finished run), the
figures the coordinator's equity page draws and tabulates:

- placement rate by student group (the `groups` labels, for reporting only), by school and by
  career cluster (the student's own clusters): students, and how many of them are placed;
- seats filled by opportunity kind: seats offered (the slots' capacities), placements;
- the preference rank of each placement (1 = first choice; None: not in the preferences);
- the travel times of the placements, counted per minute (`travel_histogram` bins them);
- for the map: every school with its students and placements, and the opportunity sites
  gathered into cells of a fixed grid (`SITE_CELL_DEGREES`) with their opportunities and
  placements, so the map's size follows the city, not the round.

Everything is counted by the database: a fixed number of GROUP BY statements whatever the
round's size, each returning one row per label, school, kind, rank, minute or grid cell, never
one per student. `parts` asks for some figures only (a chart draws one).

`transit_lines` reads the routes of a GTFS feed (its `shapes.txt`; else each route's longest
trip through its stops) as polylines: the map's backdrop when a feed is configured.
`scheduler.transit` reads timetables, not route geometry, so this module has its own small
reader of the two or three tables it needs.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import logging
import threading
import zipfile
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Integer, and_, cast, func, select, true
from sqlalchemy.orm import Session

from models import (
    Assignment,
    AuditEvent,
    Opportunity,
    Round,
    RunStatus,
    School,
    Slot,
    SolveRun,
    Student,
)
from scheduler.access import Actor, require_staff
from scheduler.calendars import KIND_LABELS

__all__ = [
    "PARTS",
    "SITE_CELL_DEGREES",
    "Bin",
    "Equity",
    "KindFill",
    "RankCount",
    "Rate",
    "SchoolPoint",
    "SiteCell",
    "TransitLine",
    "round_equity",
    "transit_lines",
    "travel_histogram",
]

log = logging.getLogger(__name__)

PARTS: Final = ("group", "school", "cluster", "kind", "rank", "travel", "map")
# Opportunity sites are drawn per cell of this many degrees (about 4.4 km north-south).
SITE_CELL_DEGREES: Final = 0.04
# The travel histogram's bins, in minutes; the last one is open.
TRAVEL_BIN_MINUTES: Final = 10
TRAVEL_LAST_BIN: Final = 120
# A route's line is thinned to this many points: the map is a page's backdrop, not a survey.
ROUTE_POINTS: Final = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class Rate:
    """Students carrying a label (a group, a school, a cluster) and how many are placed."""

    key: str
    label: str
    students: int
    placed: int

    @property
    def rate(self) -> float | None:
        """The share placed, 0..1; None without students."""
        return self.placed / self.students if self.students else None


@dataclass(frozen=True, slots=True, kw_only=True)
class KindFill:
    """An opportunity kind: its opportunities, seats (slot capacities) and placements."""

    kind: str
    label: str
    opportunities: int
    seats: int
    placed: int

    @property
    def rate(self) -> float | None:
        """The share of seats filled, 0..1; None without seats."""
        return self.placed / self.seats if self.seats else None


@dataclass(frozen=True, slots=True, kw_only=True)
class RankCount:
    """Placements at a preference rank; `rank` None: placed outside the preferences."""

    rank: int | None
    placed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Bin:
    """Placements whose travel time is in [low, high) minutes; `high` None: open-ended."""

    low: int
    high: int | None
    placed: int

    @property
    def label(self) -> str:
        return f"{self.low}+ min" if self.high is None else f"{self.low} to {self.high - 1} min"


@dataclass(frozen=True, slots=True, kw_only=True)
class SchoolPoint:
    """A school on the map, with its students and how many of them are placed."""

    external_id: str
    name: str
    lat: float
    lon: float
    students: int
    placed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteCell:
    """Opportunity sites in one grid cell: where they are on average, how many, how many
    placements they hold."""

    lat: float
    lon: float
    opportunities: int
    placed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Equity:
    """A run's equity figures; parts not asked for are empty. `run_id` None: no finished run
    (then every figure is empty and the counts are the round's students, none placed)."""

    round_id: int
    run_id: int | None
    chosen: bool
    students: int
    placed: int
    by_group: tuple[Rate, ...]
    by_school: tuple[Rate, ...]
    by_cluster: tuple[Rate, ...]
    by_kind: tuple[KindFill, ...]
    ranks: tuple[RankCount, ...]
    travel: tuple[tuple[int, int], ...]  # (minutes, placements), by minutes
    schools: tuple[SchoolPoint, ...]
    sites: tuple[SiteCell, ...]
    lines: tuple[TransitLine, ...] = ()  # the transit routes under the map (with a feed)
    # A digest of the run's state (its figures are the same while it is): a chart's ETag.
    state: str = ""

    @property
    def rate(self) -> float | None:
        return self.placed / self.students if self.students else None


@dataclass(frozen=True, slots=True)
class _State:
    """What a run's figures depend on, once the run is stored: the database, the round and
    its version (an import of an update), the round's latest audit event (every manual change
    of a placement is audited in its own transaction), and the run with its first edit."""

    database: str
    round_id: int
    round_created: str
    version: int
    event: int
    run_id: int
    run_created: str
    edited: str | None


# The figures of the latest run states, by (state, part): at 100,000 students the student-side
# counts read every student's row (half a second on SQLite), so a process counts them once
# per change of the run, not once per view (as `SolveRun.reason_counts` does for reasons).
_MEMO: OrderedDict[tuple[_State, str], Any] = OrderedDict()
_MEMO_SIZE: Final = 64
_MEMO_LOCK = threading.Lock()


def _run_state(session: Session, rnd: Round) -> tuple[_State | None, bool]:
    """The chosen run, else the latest finished one, and its state (None: no finished run).
    Two statements."""
    query = select(SolveRun.id, SolveRun.created_at, SolveRun.edited_at).where(
        SolveRun.round_id == rnd.id
    )
    if rnd.chosen_run_id is not None:
        query = query.where(SolveRun.id == rnd.chosen_run_id)
    else:
        query = query.where(SolveRun.status == RunStatus.succeeded)
    run = session.execute(query.order_by(SolveRun.id.desc()).limit(1)).one_or_none()
    if run is None:
        return None, False
    event = session.scalar(select(func.max(AuditEvent.id)).where(AuditEvent.round_id == rnd.id))
    state = _State(
        database=session.get_bind().engine.url.render_as_string(hide_password=True),
        round_id=rnd.id,
        round_created=rnd.created_at.isoformat(),
        version=rnd.version,
        event=event or 0,
        run_id=run.id,
        run_created=run.created_at.isoformat(),
        edited=None if run.edited_at is None else run.edited_at.isoformat(),
    )
    return state, rnd.chosen_run_id is not None


def _memo(state: _State, part: str, count: Callable[[], Any]) -> Any:
    with _MEMO_LOCK:
        if (state, part) in _MEMO:
            _MEMO.move_to_end((state, part))
            return _MEMO[state, part]
    value = count()
    with _MEMO_LOCK:
        _MEMO[state, part] = value
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return value


def round_equity(
    session: Session,
    rnd: Round,
    actor: Actor,
    *,
    parts: Collection[str] = PARTS,
    transit: str | Path | None = None,
    fresh: bool = False,
) -> Equity:
    """The equity figures of the round's chosen (else latest finished) run. Staff only.

    Three statements when the run's figures were counted since its last change (the access
    check's, the run, its latest audit event), plus at most eight the first time (`fresh`:
    always count), whatever the round's size. With "map" and a GTFS feed's path (`transit`),
    the feed's routes too (`transit_lines`; an unreadable feed is logged and left out)."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown equity parts: {sorted(unknown)}")
    require_staff(session, rnd, actor)
    state, chosen = _run_state(session, rnd)
    rid = rnd.id
    if state is None:
        students = session.scalar(select(func.count()).where(Student.round_id == rid)) or 0
        return _equity(rid, None, chosen=False, students=students, placed=0, figures={})
    run_id = state.run_id

    def memo(part: str, count: Callable[[], Any]) -> Any:
        return count() if fresh else _memo(state, part, count)

    def totals() -> tuple[int, int]:
        students, placed = session.execute(
            select(
                select(func.count()).where(Student.round_id == rid).scalar_subquery(),
                select(func.count()).where(Assignment.run_id == run_id).scalar_subquery(),
            )
        ).one()
        return int(students), int(placed)

    def opportunities() -> tuple[tuple[KindFill, ...], tuple[SiteCell, ...]]:
        return _opportunity_side(session, rid, run_id)

    students, placed = memo("totals", totals)
    wanted = set(parts)
    figures: dict[str, Any] = {}
    if "group" in wanted:
        figures["by_group"] = memo("group", lambda: _by_label(session, rid, run_id, "groups"))
    if "cluster" in wanted:
        figures["by_cluster"] = memo("cluster", lambda: _by_label(session, rid, run_id, "clusters"))
    if wanted & {"school", "map"}:
        rates, points = memo("school", lambda: _by_school(session, rid, run_id, students, placed))
        if "school" in wanted:
            figures["by_school"] = rates
        if "map" in wanted:
            figures["schools"] = points
    if wanted & {"kind", "map"}:
        kinds, sites = memo("opportunity", opportunities)
        if "kind" in wanted:
            figures["by_kind"] = kinds
        if "map" in wanted:
            figures["sites"] = sites
    if "map" in wanted and transit:
        figures["lines"] = _feed_lines(transit)
    if "rank" in wanted:
        figures["ranks"] = memo("rank", lambda: _ranks(session, run_id))
    if "travel" in wanted:
        figures["travel"] = memo("travel", lambda: _travel(session, run_id))
    figures["state"] = hashlib.sha256(repr(state).encode()).hexdigest()[:20]
    return _equity(rid, run_id, chosen=chosen, students=students, placed=placed, figures=figures)


def _feed_lines(path: str | Path) -> tuple[TransitLine, ...]:
    try:
        return transit_lines(path)
    except (OSError, zipfile.BadZipFile, csv.Error, UnicodeDecodeError) as error:
        log.warning("the map is drawn without transit routes: %s: %s", path, error)
        return ()


def _equity(
    rid: int,
    run_id: int | None,
    *,
    chosen: bool,
    students: int,
    placed: int,
    figures: dict[str, Any],
) -> Equity:
    fields: dict[str, Any] = dict.fromkeys(
        (
            "by_group",
            "by_school",
            "by_cluster",
            "by_kind",
            "ranks",
            "travel",
            "schools",
            "sites",
            "lines",
        ),
        (),
    )
    fields.update(figures)
    return Equity(
        round_id=rid, run_id=run_id, chosen=chosen, students=students, placed=placed, **fields
    )


def _travel(session: Session, run_id: int) -> tuple[tuple[int, int], ...]:
    """Placements per travel minute (one row per distinct minute: the run's index)."""
    return tuple(
        (int(m), int(n))
        for m, n in session.execute(
            select(Assignment.travel_minutes, func.count())
            .where(Assignment.run_id == run_id)
            .group_by(Assignment.travel_minutes)
            .order_by(Assignment.travel_minutes)
        )
    )


def _by_label(session: Session, rid: int, run_id: int, column: str) -> tuple[Rate, ...]:
    """Students per label of a JSON list column (groups, clusters) and how many are placed:
    the database walks the lists (json_each / json_array_elements_text). A label twice in one
    student's list counts the student once."""
    lists = getattr(Student, column)
    if session.get_bind().dialect.name == "postgresql":
        element = func.json_array_elements_text(lists).table_valued("value")
    else:
        element = func.json_each(lists).table_valued("value")
    label = element.c.value
    rows = session.execute(
        select(label, func.count(Student.id.distinct()), func.count(Assignment.id.distinct()))
        .select_from(Student)
        .join(element, true())
        .outerjoin(
            Assignment, and_(Assignment.run_id == run_id, Assignment.student_id == Student.id)
        )
        .where(Student.round_id == rid)
        .group_by(label)
    ).all()
    return tuple(
        Rate(key=str(k), label=_label(str(k)), students=int(s), placed=int(p))
        for k, s, p in sorted(rows, key=lambda r: str(r[0]))
    )


def _label(code: str) -> str:
    """A code as words, its case kept (labels are the program's): "econ_disadvantaged" ->
    "econ disadvantaged"."""
    return code.replace("_", " ").strip() or code


def _by_school(
    session: Session, rid: int, run_id: int, students: int, placed: int
) -> tuple[tuple[Rate, ...], tuple[SchoolPoint, ...]]:
    """Students and placements per school (a row "No school" for students without one), and
    every school as a map point. Two statements; the first reads the students' school index
    and the run's (run, student) index, never a student's row."""
    schools = select(School.id).where(School.round_id == rid)
    counts = {
        school_id: (int(s), int(p))
        for school_id, s, p in session.execute(
            select(Student.school_id, func.count(Student.id), func.count(Assignment.id))
            .select_from(Student)
            .outerjoin(
                Assignment,
                and_(Assignment.run_id == run_id, Assignment.student_id == Student.id),
            )
            .where(Student.school_id.in_(schools))
            .group_by(Student.school_id)
        )
    }
    rates, points = [], []
    for sid, ext, name, lat, lon in session.execute(
        select(School.id, School.external_id, School.name, School.lat, School.lon)
        .where(School.round_id == rid)
        .order_by(School.name, School.external_id)
    ):
        s, p = counts.get(sid, (0, 0))
        rates.append(Rate(key=ext, label=name, students=s, placed=p))
        points.append(
            SchoolPoint(external_id=ext, name=name, lat=lat, lon=lon, students=s, placed=p)
        )
    # Students without a school are the rest of the round's.
    alone = students - sum(s for s, _ in counts.values())
    if alone:
        rest = placed - sum(p for _, p in counts.values())
        rates.append(Rate(key="", label="No school", students=alone, placed=rest))
    return tuple(rates), tuple(points)


def _opportunity_side(
    session: Session, rid: int, run_id: int
) -> tuple[tuple[KindFill, ...], tuple[SiteCell, ...]]:
    """Per opportunity kind: opportunities, seats and the run's placements; and the sites in
    grid cells with their placements. One statement, grouped by kind and cell (at most five
    kinds per cell of the city), folded here into both figures."""
    placed = (
        select(Assignment.opportunity_id, func.count().label("n"))
        .where(Assignment.run_id == run_id)
        .group_by(Assignment.opportunity_id)
        .subquery()
    )
    seats = (
        select(Slot.opportunity_id, func.sum(Slot.capacity).label("seats"))
        .where(Slot.round_id == rid)
        .group_by(Slot.opportunity_id)
        .subquery()
    )
    scale = 1 / SITE_CELL_DEGREES
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's floor() needs its math functions compiled in: truncate and step down.
        cell_lat, cell_lon = (
            _sqlite_floor(Opportunity.lat * scale),
            _sqlite_floor(Opportunity.lon * scale),
        )
    else:
        cell_lat = cast(func.floor(Opportunity.lat * scale), Integer)
        cell_lon = cast(func.floor(Opportunity.lon * scale), Integer)
    rows = session.execute(
        select(
            Opportunity.kind,
            cell_lat,
            cell_lon,
            func.sum(Opportunity.lat),
            func.sum(Opportunity.lon),
            func.count(Opportunity.id),
            func.coalesce(func.sum(seats.c.seats), 0),
            func.coalesce(func.sum(placed.c.n), 0),
        )
        .select_from(Opportunity)
        .outerjoin(seats, seats.c.opportunity_id == Opportunity.id)
        .outerjoin(placed, placed.c.opportunity_id == Opportunity.id)
        .where(Opportunity.round_id == rid)
        .group_by(Opportunity.kind, cell_lat, cell_lon)
    ).all()
    kinds: dict[str, list[int]] = {}
    cells: dict[tuple[int, int], list[float]] = {}
    for kind, clat, clon, sum_lat, sum_lon, n, s, p in rows:
        k = kinds.setdefault(str(kind), [0, 0, 0])
        k[0] += int(n)
        k[1] += int(s)
        k[2] += int(p)
        c = cells.setdefault((int(clat), int(clon)), [0.0, 0.0, 0, 0])
        c[0] += float(sum_lat)
        c[1] += float(sum_lon)
        c[2] += int(n)
        c[3] += int(p)
    order = list(KIND_LABELS)
    by_kind = tuple(
        KindFill(
            kind=kind,
            label=KIND_LABELS.get(kind, _label(kind)),
            opportunities=n,
            seats=s,
            placed=p,
        )
        for kind, (n, s, p) in sorted(
            kinds.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 99, kv[0])
        )
    )
    sites = tuple(
        SiteCell(lat=la / n, lon=lo / n, opportunities=int(n), placed=int(p))
        for (la, lo, n, p) in (cells[key] for key in sorted(cells))
    )
    return by_kind, sites


def _sqlite_floor(value: Any) -> Any:
    truncated = cast(value, Integer)
    return truncated - cast(value < truncated, Integer)


def _ranks(session: Session, run_id: int) -> tuple[RankCount, ...]:
    """Placements per preference rank, every rank from 1 to the highest given (zeros too),
    then those outside the preferences."""
    counts = dict(
        session.execute(
            select(Assignment.preference_rank, func.count())
            .where(Assignment.run_id == run_id)
            .group_by(Assignment.preference_rank)
        ).all()
    )
    top = max((r for r in counts if r is not None), default=0)
    ranks = [RankCount(rank=r, placed=int(counts.get(r, 0))) for r in range(1, top + 1)]
    if counts.get(None):
        ranks.append(RankCount(rank=None, placed=int(counts[None])))
    return tuple(ranks)


def travel_histogram(
    travel: Collection[tuple[int, int]],
    *,
    width: int = TRAVEL_BIN_MINUTES,
    last: int = TRAVEL_LAST_BIN,
) -> tuple[Bin, ...]:
    """Placements per travel-time bin of `width` minutes, from 0 to the highest time (an open
    bin from `last` up); empty bins inside the range are kept, so the shape is honest."""
    if not travel:
        return ()
    top = max(m for m, _ in travel)
    edges = list(range(0, min(top, last) + 1, width))
    counts = dict.fromkeys(edges, 0)
    for minutes, n in travel:
        edge = last if minutes >= last else minutes // width * width
        counts[edge] = counts.get(edge, 0) + n
    return tuple(
        Bin(low=low, high=None if low >= last else low + width, placed=counts[low])
        for low in sorted(counts)
    )


# --- A GTFS feed's routes, for the map's backdrop -------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TransitLine:
    """A route's line: (lat, lon) points in order; `route` is the route's short name or id."""

    route: str
    points: tuple[tuple[float, float], ...]


def transit_lines(path: str | Path) -> tuple[TransitLine, ...]:
    """The routes of the GTFS zip at `path` as lines (`shapes.txt`; without it, each route's
    longest trip through its stops), thinned to `ROUTE_POINTS` points each; identical lines
    once. Read once per file version (its path, size and modification time)."""
    stat = Path(path).stat()
    return _read_lines(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_lines(path: str, size: int, mtime_ns: int) -> tuple[TransitLine, ...]:
    del size, mtime_ns  # the cache key only: a changed feed is read again
    with zipfile.ZipFile(path) as zf:
        members = {Path(n).name: n for n in sorted(zf.namelist(), key=lambda n: n.count("/"))[::-1]}
        names = _route_names(zf, members)
        route_of_shape: dict[str, str] = {}
        longest: dict[str, tuple[int, str]] = {}
        counts = _trip_lengths(zf, members) if "shapes.txt" not in members else {}
        for row in _rows(zf, members, "trips.txt"):
            route = names.get(row.get("route_id", ""), row.get("route_id", ""))
            if row.get("shape_id"):
                route_of_shape.setdefault(row["shape_id"], route)
            n = counts.get(row.get("trip_id", ""), 0)
            if n > longest.get(route, (0, ""))[0]:
                longest[route] = (n, row["trip_id"])
        if "shapes.txt" in members:
            raw = _shape_points(zf, members)
            lines = [(route_of_shape.get(sid, sid), pts) for sid, pts in sorted(raw.items())]
        else:
            lines = _trip_lines(zf, members, {t: r for r, (_, t) in longest.items()})
    seen: set[tuple[tuple[float, float], ...]] = set()
    out = []
    for route, pts in lines:
        thin = _thin(pts)
        if len(thin) < 2 or thin in seen or thin[::-1] in seen:
            continue
        seen.add(thin)
        out.append(TransitLine(route=route, points=thin))
    return tuple(out)


def _rows(zf: zipfile.ZipFile, members: dict[str, str], name: str) -> Iterator[dict[str, str]]:
    if name not in members:
        return
    with zf.open(members[name]) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        for row in csv.DictReader(text):
            yield {k.strip(): (v or "").strip() for k, v in row.items() if k}


def _route_names(zf: zipfile.ZipFile, members: dict[str, str]) -> dict[str, str]:
    return {
        r.get("route_id", ""): r.get("route_short_name") or r.get("route_id", "")
        for r in _rows(zf, members, "routes.txt")
    }


def _shape_points(
    zf: zipfile.ZipFile, members: dict[str, str]
) -> dict[str, list[tuple[float, float]]]:
    shapes: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for r in _rows(zf, members, "shapes.txt"):
        try:
            seq = int(float(r["shape_pt_sequence"]))
            shapes[r["shape_id"]].append((seq, float(r["shape_pt_lat"]), float(r["shape_pt_lon"])))
        except (KeyError, ValueError):
            continue
    return {sid: [(la, lo) for _, la, lo in sorted(pts)] for sid, pts in shapes.items()}


def _trip_lengths(zf: zipfile.ZipFile, members: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for r in _rows(zf, members, "stop_times.txt"):
        counts[r.get("trip_id", "")] += 1
    return counts


def _trip_lines(
    zf: zipfile.ZipFile, members: dict[str, str], route_of_trip: dict[str, str]
) -> list[tuple[str, list[tuple[float, float]]]]:
    stops = {}
    for r in _rows(zf, members, "stops.txt"):
        try:
            stops[r["stop_id"]] = (float(r["stop_lat"]), float(r["stop_lon"]))
        except (KeyError, ValueError):
            continue
    calls: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in _rows(zf, members, "stop_times.txt"):
        trip = r.get("trip_id", "")
        if trip in route_of_trip:
            try:
                calls[trip].append((int(r["stop_sequence"]), r["stop_id"]))
            except (KeyError, ValueError):
                continue
    return [
        (route_of_trip[trip], [stops[s] for _, s in sorted(seq) if s in stops])
        for trip, seq in sorted(calls.items())
    ]


def _thin(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Every k-th point (ends kept), rounded to about 10 m."""
    if not points:
        return ()
    step = max(1, -(-len(points) // ROUTE_POINTS))
    kept = points[::step]
    if kept[-1] != points[-1]:
        kept.append(points[-1])
    return tuple((round(la, 4), round(lo, 4)) for la, lo in kept)
