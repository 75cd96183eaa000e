"""An independent checker of a `wbl-solution/1` answer against its `wbl-problem/1` round.

Written from the spec (`shared/spec/problem-format.md`) alone and importing only the standard
library, so that it judges the solver instead of repeating its mistakes: it re-derives ages,
travel times, hours and eligibility itself. `check_solution` returns one message per
violation, each naming the rule (`H1`..`H9`, `format`, `infeasible`, `preference_rank`,
`metrics`, `unplaced`, `optimality`) and the ids involved; an empty list means the solution is
valid. A malformed solution is reported, never raised: the checker reads the solution
defensively and checks the rules only on the entries that resolve. The problem is assumed
valid (references resolve); absent optional fields take the spec's defaults. One extension of
the format is read: `travel_groups` (measured travel times shared by a group of students, each
entry standing for a `travel` entry of every member who has none of their own), with its
entries' `trips` (times by day type and time: the trip arriving by a block's start, the trip
leaving at its end; a slot then takes, by such a mode, the longest of its blocks' trips, and
each block keeps the student free for its own trips there and back).

All times are integer minutes after midnight; hours are compared in minutes.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any, TypeGuard, TypeVar

__all__ = ["check_solution"]

_T = TypeVar("_T")

_FORMAT = "wbl-solution/1"
_STATUSES = ("optimal", "feasible", "infeasible", "unknown")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SCHOOL_DAYS = _DAYS[:5]
_DAY_TYPE = {
    "mon": "weekday",
    "tue": "weekday",
    "wed": "weekday",
    "thu": "weekday",
    "fri": "weekday",
    "sat": "saturday",
    "sun": "sunday",
}
_MODES = ("walk", "bike", "transit", "car")  # also the tie-break order of equal travel times
_SPEED_KMH = {"walk": 4.8, "bike": 14.0, "transit": 18.0, "car": 35.0}
_OVERHEAD_MIN = {"walk": 0, "bike": 0, "transit": 10, "car": 5}
_EARTH_RADIUS_KM = 6371.0088
_DETOUR = 1.3
_MEETING_GRID = 15
_REASON_CODES = frozenset(
    {
        "no_cluster_match",
        "too_young",
        "grade",
        "missing_credential",
        "not_accepted",
        "hazardous_minor",
        "no_transport_mode",
        "commute_too_long",
        "schedule_conflict",
        "over_weekly_hours",
        "child_labour_hours",
        "no_mentor",
        "capacity_taken",
        "forbidden",
        "no_opportunities",
    }
)
# Codes that claim "at least one opportunity refuses the student for that rule".
_RULE_CODES = _REASON_CODES - {"capacity_taken", "no_mentor", "no_opportunities"}
_SLOT_CODES = frozenset({"schedule_conflict", "over_weekly_hours", "child_labour_hours"})
# Codes that a slot refuses too when trips are measured per block (`trips`).
_COMMUTE_CODES = frozenset({"no_transport_mode", "commute_too_long"})
_TIME = re.compile(r"(\d\d):(\d\d)")


# --- the problem, with the spec's defaults applied --------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Block:
    """A weekly (`day`) or dated (`on`) block, in minutes after midnight."""

    day: str | None
    on: dt.date | None
    start: int
    end: int

    @property
    def minutes(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:
        when = self.day if self.on is None else self.on.isoformat()
        return f"{when} {_clock_text(self.start)}-{_clock_text(self.end)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Student:
    id: str
    age: int
    grade: float | None
    origin: tuple[float, float] | None
    travel_modes: tuple[str, ...]
    max_commute: float
    clusters: frozenset[str]
    credentials: frozenset[str]
    busy: tuple[_Block, ...]
    preferences: tuple[str, ...]
    priority: int
    groups: frozenset[str]
    max_weekly_hours: float | None
    wants_mentor: bool

    def rank_of(self, opportunity_id: str) -> int | None:
        """1-based rank of the opportunity in the preferences, None when not there."""
        if opportunity_id in self.preferences:
            return self.preferences.index(opportunity_id) + 1
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Slot:
    id: str
    capacity: int
    blocks: tuple[_Block, ...]

    @property
    def weekly(self) -> tuple[_Block, ...]:
        return tuple(b for b in self.blocks if b.day is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Opportunity:
    id: str
    employer: str
    kind: str
    cluster: str
    location: tuple[float, float]
    transit_accessible: bool
    slots: tuple[_Slot, ...]
    capacity: int | None
    min_age: int | None
    min_grade: float | None
    required_credentials: frozenset[str]
    hazardous: bool
    requires_mentor: bool
    accepts: frozenset[str] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Mentor:
    id: str
    employer: str | None
    clusters: frozenset[str]
    capacity: int
    available: tuple[_Block, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Pin:
    index: int
    student: str
    opportunity: str
    slot: str | None
    mentor: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Problem:
    summer: bool
    meeting_minutes: int
    students: dict[str, _Student]
    opportunities: dict[str, _Opportunity]
    slots: dict[str, _Slot]
    slot_owner: dict[str, str]
    by_cluster: dict[str, tuple[_Opportunity, ...]]
    mentors: dict[str, _Mentor]
    travel: dict[tuple[str, str, str], int | None]
    # `travel_groups` (an extension of the format): a student's group, and the group's times.
    group_of: dict[str, str]
    group_travel: dict[tuple[str, str, str], int | None]
    # Their `trips`: (day type, "there"|"back", minutes after midnight) -> minutes or None.
    group_trips: dict[tuple[str, str, str], dict[tuple[str, str, int], int | None]]
    pins: tuple[_Pin, ...]
    forbidden: frozenset[tuple[str, str]]


def _items(doc: Mapping[str, Any], key: str) -> list[Any]:
    """A list field of the problem, [] when absent or null."""
    value = doc.get(key)
    return value if isinstance(value, list) else []


def _get(doc: Mapping[str, Any], key: str, default: Any) -> Any:
    """A field of the problem, its default when absent or null."""
    value = doc.get(key)
    return default if value is None else value


def _point(location: Mapping[str, Any]) -> tuple[float, float]:
    return float(location["lat"]), float(location["lon"])


def _minutes_of(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_block(raw: Mapping[str, Any]) -> _Block:
    on = raw.get("date")
    return _Block(
        day=raw.get("day"),
        on=dt.date.fromisoformat(on) if on is not None else None,
        start=_minutes_of(raw["start"]),
        end=_minutes_of(raw["end"]),
    )


def _age_on(birth: dt.date, day: dt.date) -> int:
    """Full years on `day`."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _parse_student(
    raw: Mapping[str, Any], start: dt.date, summer: bool, schools: Mapping[str, Any]
) -> _Student:
    school = schools.get(raw["school"]) if raw.get("school") is not None else None
    home = _point(raw["location"]) if raw.get("location") is not None else None
    # Origin: school on a school-year round, otherwise home, or the school when there is no home.
    origin = school if school is not None and not summer else (home or school)
    grade = raw.get("grade")
    max_weekly = raw.get("max_weekly_hours")
    return _Student(
        id=raw["id"],
        age=_age_on(dt.date.fromisoformat(raw["birth_date"]), start),
        grade=grade,
        origin=origin,
        travel_modes=tuple(_items(raw, "travel_modes")),
        max_commute=_get(raw, "max_commute_minutes", 60),
        clusters=frozenset(_items(raw, "clusters")),
        credentials=frozenset(_items(raw, "credentials")),
        busy=tuple(_parse_block(b) for b in _items(raw, "busy")),
        preferences=tuple(_items(raw, "preferences")),
        priority=_get(raw, "priority", 0),
        groups=frozenset(_items(raw, "groups")),
        max_weekly_hours=max_weekly,
        wants_mentor=bool(_get(raw, "wants_mentor", False)),
    )


def _parse_opportunity(raw: Mapping[str, Any]) -> _Opportunity:
    accepts = raw.get("accepts")
    return _Opportunity(
        id=raw["id"],
        employer=raw["employer"],
        kind=raw["kind"],
        cluster=raw["cluster"],
        location=_point(raw["location"]),
        transit_accessible=bool(_get(raw, "transit_accessible", True)),
        slots=tuple(
            _Slot(
                id=s["id"],
                capacity=s["capacity"],
                blocks=tuple(_parse_block(b) for b in _items(s, "blocks")),
            )
            for s in _items(raw, "slots")
        ),
        capacity=raw.get("capacity"),
        min_age=raw.get("min_age"),
        min_grade=raw.get("min_grade"),
        required_credentials=frozenset(_items(raw, "required_credentials")),
        hazardous=bool(_get(raw, "hazardous", False)),
        requires_mentor=bool(_get(raw, "requires_mentor", False)),
        accepts=frozenset(accepts) if accepts is not None else None,
    )


def _parse_problem(doc: Mapping[str, Any]) -> _Problem:
    round_ = doc["round"]
    start = dt.date.fromisoformat(round_["start_date"])
    summer = bool(_get(round_, "summer", False))
    schools = {s["id"]: _point(s["location"]) for s in _items(doc, "schools")}
    students = [_parse_student(s, start, summer, schools) for s in _items(doc, "students")]
    opportunities = [_parse_opportunity(o) for o in _items(doc, "opportunities")]
    mentors = [
        _Mentor(
            id=m["id"],
            employer=m.get("employer"),
            clusters=frozenset(_items(m, "clusters")),
            capacity=m["capacity"],
            available=tuple(_parse_block(b) for b in _items(m, "available")),
        )
        for m in _items(doc, "mentors")
    ]
    return _Problem(
        summer=summer,
        meeting_minutes=_get(round_, "mentor_meeting_minutes", 30),
        students={s.id: s for s in students},
        opportunities={o.id: o for o in opportunities},
        slots={s.id: s for o in opportunities for s in o.slots},
        slot_owner={s.id: o.id for o in opportunities for s in o.slots},
        by_cluster={
            cluster: tuple(o for o in opportunities if o.cluster == cluster)
            for cluster in {o.cluster for o in opportunities}
        },
        mentors={m.id: m for m in mentors},
        travel={
            (t["student"], t["opportunity"], t["mode"]): t.get("minutes")
            for t in _items(doc, "travel")
        },
        group_of={sid: g["id"] for g in _items(doc, "travel_groups") for sid in g["students"]},
        group_travel={
            (g["id"], t["opportunity"], t["mode"]): t.get("minutes")
            for g in _items(doc, "travel_groups")
            for t in _items(g, "travel")
        },
        group_trips={
            (g["id"], t["opportunity"], t["mode"]): {
                (kind, direction, _minutes_of(clock)): minutes
                for kind, legs in t["trips"].items()
                for direction in ("there", "back")
                for clock, minutes in (legs.get(direction) or {}).items()
            }
            for g in _items(doc, "travel_groups")
            for t in _items(g, "travel")
            if t.get("trips") is not None
        },
        pins=tuple(
            _Pin(
                index=i,
                student=pin["student"],
                opportunity=pin["opportunity"],
                slot=pin.get("slot"),
                mentor=pin.get("mentor"),
            )
            for i, pin in enumerate(_items(doc, "pins"))
        ),
        forbidden=frozenset((f["student"], f["opportunity"]) for f in _items(doc, "forbidden")),
    )


# --- the solution, read defensively ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Placement:
    """An assignment whose student, opportunity and slot all resolve (and agree)."""

    path: str
    student: _Student
    opportunity: _Opportunity
    slot: _Slot
    mentor: str | None
    travel_mode: str | None  # None when malformed (already reported)
    travel_minutes: int | None  # None when malformed (already reported)
    preference_rank: object  # as given; checked by its own rule


@dataclass(frozen=True, slots=True, kw_only=True)
class _Meeting:
    path: str
    student: _Student
    mentor: _Mentor
    block: _Block | None  # None when day/start/end are malformed (already reported)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Reason:
    code: str
    count: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Unplaced:
    path: str
    student: _Student
    reasons: tuple[_Reason, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Answer:
    status: object
    assignment_count: int
    assigned: tuple[str, ...]  # the student id of every assignment whose student resolves
    placements: tuple[_Placement, ...]
    meetings: tuple[_Meeting, ...]
    unplaced: tuple[_Unplaced, ...]
    metrics: Mapping[str, Any] | None

    def placed_ids(self) -> set[str]:
        return set(self.assigned)


def _show(value: object, limit: int = 60) -> str:
    """A short repr of a solution's value for a message: junk can be long."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return "<a huge number>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
    """A JSON number: int (of any size) or finite float, not a bool."""
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)


def _solution_clock(value: object, *, end: bool) -> int | None:
    """Minutes of a solution's "HH:MM" ("24:00" only as an end), None when malformed."""
    if not isinstance(value, str) or (match := _TIME.fullmatch(value)) is None:
        return None
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes > 0 or not end)):
        return None
    return hours * 60 + minutes


def _resolve(
    entry: Mapping[Any, Any],
    key: str,
    table: Mapping[str, _T],
    noun: str,
    path: str,
    out: list[str],
) -> _T | None:
    value = entry.get(key)
    if not isinstance(value, str):
        out.append(f"format: {path}.{key}: expected a {noun} id, got {_show(value)}")
        return None
    found = table.get(value)
    if found is None:
        out.append(f"format: {path}.{key}: unknown {noun} {_show(value)}")
    return found


def _entries(solution: Mapping[str, Any], key: str, out: list[str]) -> list[tuple[str, Any]]:
    """(path, entry) of each object in a list field of the solution; reports what is not."""
    value = solution.get(key)
    if not isinstance(value, list):
        out.append(f"format: {key} must be a list, got {_show(value)}")
        return []
    found = []
    for i, entry in enumerate(value):
        path = f"{key}[{i}]"
        if isinstance(entry, Mapping):
            found.append((path, entry))
        else:
            out.append(f"format: {path} must be an object, got {_show(entry)}")
    return found


def _read_assignments(
    p: _Problem, solution: Mapping[str, Any], out: list[str]
) -> tuple[list[str], list[_Placement]]:
    assigned: list[str] = []
    placements: list[_Placement] = []
    for path, entry in _entries(solution, "assignments", out):
        student = _resolve(entry, "student", p.students, "student", path, out)
        opportunity = _resolve(entry, "opportunity", p.opportunities, "opportunity", path, out)
        slot = _resolve(entry, "slot", p.slots, "slot", path, out)
        mentor = entry.get("mentor")
        if mentor is not None and not isinstance(mentor, str):
            out.append(f"format: {path}.mentor must be a mentor id, got {_show(mentor)}")
            mentor = None
        mode = entry.get("travel_mode")
        if mode not in _MODES:
            out.append(
                f"format: {path}.travel_mode must be one of {', '.join(_MODES)}, got {_show(mode)}"
            )
            mode = None
        minutes = entry.get("travel_minutes")
        if not _is_int(minutes) or minutes < 0:
            out.append(
                f"format: {path}.travel_minutes must be a whole number >= 0, got {_show(minutes)}"
            )
            minutes = None
        if student is not None:
            assigned.append(student.id)
        if student is None or opportunity is None or slot is None:
            continue
        if p.slot_owner[slot.id] != opportunity.id:
            out.append(
                f"H1: {path}: slot {slot.id} belongs to opportunity {p.slot_owner[slot.id]}, "
                f"not {opportunity.id}"
            )
            continue
        placements.append(
            _Placement(
                path=path,
                student=student,
                opportunity=opportunity,
                slot=slot,
                mentor=mentor,
                travel_mode=mode,
                travel_minutes=minutes,
                preference_rank=entry.get("preference_rank"),
            )
        )
    return assigned, placements


def _read_mentorships(p: _Problem, solution: Mapping[str, Any], out: list[str]) -> list[_Meeting]:
    meetings = []
    for path, entry in _entries(solution, "mentorships", out):
        student = _resolve(entry, "student", p.students, "student", path, out)
        mentor = _resolve(entry, "mentor", p.mentors, "mentor", path, out)
        day = entry.get("day")
        start = _solution_clock(entry.get("start"), end=False)
        end = _solution_clock(entry.get("end"), end=True)
        if day not in _DAYS:
            out.append(f"format: {path}.day must be one of mon..sun, got {_show(day)}")
        if start is None:
            out.append(f'format: {path}.start must be "HH:MM", got {_show(entry.get("start"))}')
        if end is None:
            out.append(f'format: {path}.end must be "HH:MM", got {_show(entry.get("end"))}')
        block = None
        if isinstance(day, str) and day in _DAYS and start is not None and end is not None:
            if start < end:
                block = _Block(day=day, on=None, start=start, end=end)
            else:
                out.append(f"format: {path}: start must be before end")
        if student is not None and mentor is not None:
            meetings.append(_Meeting(path=path, student=student, mentor=mentor, block=block))
    return meetings


def _read_reasons(path: str, raw: object, out: list[str]) -> tuple[_Reason, ...]:
    if not isinstance(raw, list):
        out.append(f"format: {path}.reasons must be a list, got {_show(raw)}")
        return ()
    reasons = []
    for j, reason in enumerate(raw):
        where = f"{path}.reasons[{j}]"
        if not isinstance(reason, Mapping) or not isinstance(reason.get("code"), str):
            out.append(f"format: {where} must be an object with a string code, got {_show(reason)}")
            continue
        count = reason.get("count")
        if count is not None and (not _is_int(count) or count < 0):
            out.append(f"format: {where}.count must be a whole number >= 0, got {_show(count)}")
            count = None
        detail = reason.get("detail")
        if detail is not None and not isinstance(detail, str):
            out.append(f"format: {where}.detail must be a string, got {_show(detail)}")
        reasons.append(_Reason(code=reason["code"], count=count))
    return tuple(reasons)


def _read_unplaced(p: _Problem, solution: Mapping[str, Any], out: list[str]) -> list[_Unplaced]:
    unplaced = []
    for path, entry in _entries(solution, "unplaced", out):
        student = _resolve(entry, "student", p.students, "student", path, out)
        reasons = _read_reasons(path, entry.get("reasons"), out)
        if student is not None:
            unplaced.append(_Unplaced(path=path, student=student, reasons=reasons))
    return unplaced


def _read_answer(p: _Problem, solution: Mapping[str, Any], out: list[str]) -> _Answer:
    assigned, placements = _read_assignments(p, solution, out)
    metrics = solution.get("metrics")
    if not isinstance(metrics, Mapping):
        out.append(f"format: metrics must be an object, got {_show(metrics)}")
        metrics = None
    raw_assignments = solution.get("assignments")
    return _Answer(
        status=solution.get("status"),
        assignment_count=len(raw_assignments) if isinstance(raw_assignments, list) else 0,
        assigned=tuple(assigned),
        placements=tuple(placements),
        meetings=tuple(_read_mentorships(p, solution, out)),
        unplaced=tuple(_read_unplaced(p, solution, out)),
        metrics=metrics,
    )


# --- travel (H4) -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16)  # origins are mostly a few schools: distances repeat
def _haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def _estimate_minutes(mode: str, distance_km: float) -> int:
    """The spec's estimate; the inner round keeps floating-point noise from adding a minute."""
    speed, overhead = _SPEED_KMH[mode], _OVERHEAD_MIN[mode]
    return math.ceil(round(overhead + 60 * _DETOUR * distance_km / speed, 6))


def _mode_minutes(p: _Problem, s: _Student, o: _Opportunity, mode: str) -> int | None:
    """t(s, o, mode); None when the mode cannot make the trip."""
    key = (s.id, o.id, mode)
    if key in p.travel:  # a measured override wins, even over transit_accessible
        return p.travel[key]
    group = p.group_of.get(s.id)
    if group is not None and (group, o.id, mode) in p.group_travel:  # the same, for its group
        return p.group_travel[group, o.id, mode]
    if mode == "transit" and not o.transit_accessible:
        return None
    if s.origin is None:
        return None
    return _estimate_minutes(mode, _haversine_km(s.origin, o.location))


def _trips(p: _Problem, s: _Student, o: _Opportunity, mode: str) -> dict[Any, int | None] | None:
    """The group's `trips` of the pair by `mode`, unless the student's own entry wins."""
    if (s.id, o.id, mode) in p.travel:
        return None
    group = p.group_of.get(s.id)
    return None if group is None else p.group_trips.get((group, o.id, mode))


def _least_minutes(p: _Problem, s: _Student, o: _Opportunity, mode: str) -> int | None:
    """t(s, o, mode), or with `trips` the least time any block may take by it."""
    minutes = _mode_minutes(p, s, o, mode)
    trips = _trips(p, s, o, mode)
    if trips is None:
        return minutes
    values = [m for m in (minutes, *trips.values()) if m is not None]
    return min(values) if values else None


def _best_travel(p: _Problem, s: _Student, o: _Opportunity) -> tuple[str, int] | None:
    """(mode, t(s, o)) over the usable modes, ties broken walk, bike, transit, car (a mode
    with `trips` by its least time: each slot is then judged by `_slot_travel`)."""
    options = [
        (minutes, _MODES.index(mode), mode)
        for mode in s.travel_modes
        if mode in _MODES and (minutes := _least_minutes(p, s, o, mode)) is not None
    ]
    if not options:
        return None
    minutes, _, mode = min(options)
    return mode, minutes


def _legs(
    minutes: int | None, trips: Mapping[Any, int | None] | None, slot: _Slot
) -> list[tuple[int, int]] | None:
    """(there, back) of each block of the slot by one mode; None when one way has no trip."""
    legs = []
    for b in slot.blocks:
        day = b.day if b.on is None else _DAYS[b.on.weekday()]
        kind = _DAY_TYPE[day or "mon"]
        there, back = minutes, minutes
        if trips is not None:
            there = trips.get((kind, "there", b.start), minutes)
            back = trips.get((kind, "back", b.end), minutes)
        if there is None or back is None:
            return None
        legs.append((there, back))
    return legs


def _slot_travel(
    p: _Problem, s: _Student, o: _Opportunity, slot: _Slot
) -> tuple[str, int, list[tuple[int, int]]] | None:
    """(mode, minutes, legs) for the slot: per usable mode the longest trip there or back over
    the slot's blocks (each block's own with `trips`, else t(s, o, mode) both ways), the
    least of them (ties walk, bike, transit, car), and that mode's (there, back) per block."""
    best: tuple[int, int, str, list[tuple[int, int]]] | None = None
    for mode in s.travel_modes:
        if mode not in _MODES:
            continue
        minutes = _mode_minutes(p, s, o, mode)
        trips = _trips(p, s, o, mode)
        if trips is None and minutes is None:
            continue
        legs = _legs(minutes, trips, slot)
        if legs is None or (not legs and minutes is None):
            continue
        longest = max((max(leg) for leg in legs), default=minutes or 0)
        option = (longest, _MODES.index(mode), mode, legs)
        if best is None or option[:2] < best[:2]:
            best = option
    if best is None:
        return None
    return best[2], best[0], best[3]


# --- hours (H6, H7) ----------------------------------------------------------------------------


def _weekly_minutes(blocks: Iterable[_Block]) -> int:
    """Weekly blocks plus the dated blocks of the Monday-to-Sunday week that has the most."""
    weekly = 0
    per_week: Counter[dt.date] = Counter()
    for b in blocks:
        if b.on is None:
            weekly += b.minutes
        else:
            per_week[b.on - dt.timedelta(days=b.on.weekday())] += b.minutes
    return weekly + max(per_week.values(), default=0)


def _school_day_minutes(blocks: Iterable[_Block]) -> list[tuple[str, int]]:
    """(label, minutes) of every Monday-Friday weekday and of every Monday-Friday dated day."""
    by_weekday: Counter[str] = Counter()
    by_date: Counter[dt.date] = Counter()
    for b in blocks:
        if b.on is None:
            by_weekday[b.day or ""] += b.minutes
        elif b.on.weekday() < 5:
            by_date[b.on] += b.minutes
    days = [(day, by_weekday[day]) for day in _SCHOOL_DAYS]
    for on, minutes in sorted(by_date.items()):
        weekday = _DAYS[on.weekday()]
        days.append((f"{on.isoformat()} ({weekday})", by_weekday[weekday] + minutes))
    return days


def _overlaps(a: _Block, b: _Block, buffer: int = 0) -> bool:
    """Same weekday and closer than `buffer` minutes (touching is fine when buffer is 0)."""
    return a.day == b.day and a.start - buffer < b.end and b.start < a.end + buffer


# --- eligibility of a pair: H3 (opportunity), H4 (commute), H5-H7 (slot) ------------------------


@dataclass(frozen=True, slots=True)
class _Refusal:
    rule: str  # "H3".."H7"
    code: str  # the reason code of the spec's list
    detail: str


_PairRule = Callable[[_Problem, _Student, _Opportunity], str | None]


def _cluster_match(p: _Problem, s: _Student, o: _Opportunity) -> str | None:
    if not s.clusters or o.cluster in s.clusters or o.id in s.preferences:
        return None
    return (
        f"cluster {o.cluster} is not in the student's clusters {sorted(s.clusters)} "
        "nor is the opportunity in its preferences"
    )


def _min_age(p: _Problem, s: _Student, o: _Opportunity) -> str | None:
    if o.min_age is None or s.age >= o.min_age:
        return None
    return f"age {s.age} is under min_age {o.min_age}"


def _working_age(p: _Problem, s: _Student, o: _Opportunity) -> str | None:
    if s.age >= 14 or o.kind == "job_shadow":
        return None
    return f"age {s.age} is under 14 and kind {o.kind} is not job_shadow"


def _min_grade(p: _Problem, s: _Student, o: _Opportunity) -> str | None:
    if o.min_grade is None:
        return None
    if s.grade is None:
        return f"the student has no grade and min_grade is {o.min_grade:g}"
    if s.grade < o.min_grade:
        return f"grade {s.grade:g} is under min_grade {o.min_grade:g}"
    return None


def _credentials(p: _Problem, s: _Student, o: _Opportunity) -> str | None:
    missing = sorted(o.required_credentials - s.credentials)
    return f"missing required credentials {missing}" if missing else None


def _accepts(p: _Problem, s: _Student, o: _Opportunity) -> str | None:
    if o.accepts is None or s.id in o.accepts:
        return None
    return "the student is not in the opportunity's accepts list"


def _not_forbidden(p: _Problem, s: _Student, o: _Opportunity) -> str | None:
    return "the pair is forbidden" if (s.id, o.id) in p.forbidden else None


def _hazardous_minor(p: _Problem, s: _Student, o: _Opportunity) -> str | None:
    if not o.hazardous or s.age >= 18:
        return None
    if o.kind in ("apprenticeship", "co_op") and s.age >= 16:
        return None  # the student-learner exemption
    return (
        f"hazardous work at age {s.age}: only an apprenticeship or co_op at 16 or over is "
        f"exempt (kind {o.kind})"
    )


_ELIGIBILITY_RULES: tuple[tuple[str, str, _PairRule], ...] = (
    ("H3", "no_cluster_match", _cluster_match),
    ("H3", "too_young", _min_age),
    ("H3", "too_young", _working_age),
    ("H3", "grade", _min_grade),
    ("H3", "missing_credential", _credentials),
    ("H3", "not_accepted", _accepts),
    ("H3/H9", "forbidden", _not_forbidden),
    ("H3", "hazardous_minor", _hazardous_minor),
)


def _commute(s: _Student, travel: tuple[str, int] | None) -> _Refusal | None:
    if travel is None:
        return _Refusal(
            "H4", "no_transport_mode", f"no usable travel mode among {list(s.travel_modes)}"
        )
    mode, minutes = travel
    if minutes > s.max_commute:
        return _Refusal(
            "H4",
            "commute_too_long",
            f"travel {minutes} min by {mode} exceeds max_commute_minutes {s.max_commute:g}",
        )
    return None


def _opportunity_refusals(
    p: _Problem, s: _Student, o: _Opportunity, travel: tuple[str, int] | None
) -> list[_Refusal]:
    refusals = [
        _Refusal(rule, code, detail)
        for rule, code, check in _ELIGIBILITY_RULES
        if (detail := check(p, s, o)) is not None
    ]
    commute = _commute(s, travel)
    if commute is not None:
        refusals.append(commute)
    return refusals


def _schedule(s: _Student, slot: _Slot, legs: list[tuple[int, int]]) -> list[str]:
    """H5: each weekly block, widened by its trip there before and its trip back after."""
    return [
        f"{b} conflicts with busy {c} (travel {there} min there, {back} min back)"
        for b, (there, back) in zip(slot.blocks, legs, strict=True)
        if b.on is None
        for c in s.busy
        if c.day == b.day and b.start - there < c.end and c.start < b.end + back
    ]


def _weekly_hours(s: _Student, slot: _Slot) -> list[str]:
    if s.max_weekly_hours is None:
        return []
    minutes = _weekly_minutes(slot.blocks)
    # Rounded like the travel estimate, so that 7.3 h is 438 min and not 437.99999999999994.
    if minutes <= round(s.max_weekly_hours * 60, 6):
        return []
    return [f"{minutes} min a week exceeds max_weekly_hours {s.max_weekly_hours:g}"]


def _child_labour(p: _Problem, s: _Student, o: _Opportunity, slot: _Slot) -> list[str]:
    if s.age >= 16 or o.kind == "job_shadow":
        return []
    opens, closes = 7 * 60, (21 if p.summer else 19) * 60
    day_limit = (8 if p.summer else 3) * 60
    week_limit = (40 if p.summer else 18) * 60
    found = [
        f"age {s.age}: block {b} lies outside {_clock_text(opens)}-{_clock_text(closes)}"
        for b in slot.blocks
        if b.start < opens or b.end > closes
    ]
    found += [
        f"age {s.age}: {minutes} min on {day} exceeds the {day_limit}-minute daily limit"
        for day, minutes in _school_day_minutes(slot.blocks)
        if minutes > day_limit
    ]
    weekly = _weekly_minutes(slot.blocks)
    if weekly > week_limit:
        found.append(
            f"age {s.age}: {weekly} min a week exceeds the {week_limit}-minute weekly limit"
        )
    return found


def _slot_refusals(p: _Problem, s: _Student, o: _Opportunity, slot: _Slot) -> list[_Refusal]:
    """H4 by the slot's own trips, H5-H7."""
    travel = _slot_travel(p, s, o, slot)
    if travel is None:
        commute = [_Refusal("H4", "no_transport_mode", f"no usable travel mode for slot {slot.id}")]
        legs = [(0, 0)] * len(slot.blocks)  # H5 still judged, with no travel
    else:
        refusal = _commute(s, travel[:2])
        commute = [] if refusal is None else [refusal]
        legs = travel[2]
    return (
        commute
        + [
            _Refusal("H5", "schedule_conflict", d)
            for d in (_schedule(s, slot, legs) if travel else [])
        ]
        + [_Refusal("H6", "over_weekly_hours", d) for d in _weekly_hours(s, slot)]
        + [_Refusal("H7", "child_labour_hours", d) for d in _child_labour(p, s, o, slot)]
    )


def _candidates(p: _Problem, s: _Student) -> list[_Opportunity]:
    """The opportunities the cluster rule lets `s` take: in its clusters or preferences."""
    if not s.clusters:
        return list(p.opportunities.values())
    found = {o.id: o for cluster in sorted(s.clusters) for o in p.by_cluster.get(cluster, ())}
    for opportunity_id in s.preferences:
        if opportunity_id in p.opportunities:
            found.setdefault(opportunity_id, p.opportunities[opportunity_id])
    return list(found.values())


def _eligible_slots(p: _Problem, s: _Student, o: _Opportunity) -> Iterator[_Slot]:
    """The slots of `o` that student `s` may take under H3-H7."""
    travel = _best_travel(p, s, o)
    if _opportunity_refusals(p, s, o, travel):
        return
    for slot in o.slots:
        if not _slot_refusals(p, s, o, slot):
            yield slot


# --- the rules, each checking the whole answer ------------------------------------------------


def _header(solution: Mapping[str, Any]) -> Iterator[str]:
    if solution.get("format") != _FORMAT:
        yield f"format: format is {_show(solution.get('format'))}, expected {_FORMAT!r}"
    status = solution.get("status")
    if status not in _STATUSES:
        yield f"format: status is {_show(status)}, expected one of {', '.join(_STATUSES)}"
    for key in ("objective", "bound", "gap", "wall_seconds"):
        if not _is_number(solution.get(key)):
            yield f"format: {key} must be a number, got {_show(solution.get(key))}"
    extra = solution.get("infeasible_pins")
    if status != "infeasible" and extra not in (None, []):
        yield f"format: infeasible_pins is {_show(extra)}, but status is {_show(status)}"


def _infeasible_answer(p: _Problem, solution: Mapping[str, Any]) -> Iterator[str]:
    """An infeasible round has no placements, and names pins that cannot hold together."""
    for key in ("assignments", "mentorships", "unplaced"):
        if solution.get(key) != []:
            yield f"infeasible: {key} must be an empty list, got {_show(solution.get(key))}"
    pins = solution.get("infeasible_pins")
    if not isinstance(pins, list) or not pins:
        yield f"infeasible: infeasible_pins must list pin indices, got {_show(pins)}"
        return
    for i, index in enumerate(pins):
        if not _is_int(index) or not 0 <= index < len(p.pins):
            yield (
                f"infeasible: infeasible_pins[{i}] is {_show(index)}, not an index into pins "
                f"(the round has {len(p.pins)})"
            )
    repeated = sorted(i for i, n in Counter(x for x in pins if _is_int(x)).items() if n > 1)
    if repeated:
        yield f"infeasible: infeasible_pins repeats {repeated}"


def _one_placement_per_student(p: _Problem, a: _Answer) -> Iterator[str]:
    for student, times in Counter(a.assigned).items():
        if times > 1:
            yield f"H1: student {student} is assigned {times} times"


def _every_student_accounted(p: _Problem, a: _Answer) -> Iterator[str]:
    """Each student is either placed or unplaced with a reason, never both, never twice."""
    placed = a.placed_ids()
    unplaced = Counter(u.student.id for u in a.unplaced)
    for student, times in unplaced.items():
        if times > 1:
            yield f"H1: student {student} is listed {times} times in unplaced"
    for student in p.students:
        if student in placed and student in unplaced:
            yield f"H1: student {student} is both assigned and unplaced"
        elif student not in placed and student not in unplaced:
            yield f"H1: student {student} is neither assigned nor unplaced"
    for u in a.unplaced:
        if not u.reasons:
            yield f"H1: unplaced student {u.student.id} ({u.path}) has no reason"
        for reason in u.reasons:
            if reason.code not in _REASON_CODES:
                yield f"H1: unplaced student {u.student.id}: unknown reason {_show(reason.code)}"


def _slot_capacity(p: _Problem, a: _Answer) -> Iterator[str]:
    held = Counter(x.slot.id for x in a.placements)
    for slot_id, count in held.items():
        capacity = p.slots[slot_id].capacity
        if count > capacity:
            yield f"H2: slot {slot_id} holds {count} students, capacity {capacity}"


def _opportunity_capacity(p: _Problem, a: _Answer) -> Iterator[str]:
    held = Counter(x.opportunity.id for x in a.placements)
    for opportunity_id, count in held.items():
        capacity = p.opportunities[opportunity_id].capacity
        if capacity is not None and count > capacity:
            yield (
                f"H2: opportunity {opportunity_id} holds {count} students over its slots, "
                f"capacity {capacity}"
            )


def _placement_rules(p: _Problem, a: _Answer) -> Iterator[str]:
    """H3-H7 for each placement, and the reported travel mode and minutes (H4)."""
    for x in a.placements:
        s, o, slot = x.student, x.opportunity, x.slot
        travel = _best_travel(p, s, o)
        refusals = _opportunity_refusals(p, s, o, travel)
        for r in refusals:
            yield f"{r.rule}: student {s.id} at opportunity {o.id}: {r.detail}"
        slot_travel = _slot_travel(p, s, o, slot)
        yield from _reported_travel(x, None if slot_travel is None else slot_travel[:2])
        for r in _slot_refusals(p, s, o, slot):
            if r.rule == "H4" and any(q.rule == "H4" for q in refusals):
                continue  # the opportunity's trip already fails H4: said once
            yield f"{r.rule}: student {s.id} at slot {slot.id}: {r.detail}"


def _reported_travel(x: _Placement, travel: tuple[str, int] | None) -> Iterator[str]:
    if travel is None:
        return  # no usable mode: already an H4 violation
    mode, minutes = travel
    where = f"H4: student {x.student.id} at opportunity {x.opportunity.id}"
    if x.travel_mode is not None and x.travel_mode != mode:
        yield f"{where}: travel_mode {x.travel_mode}, expected {mode} ({minutes} min)"
    if x.travel_minutes is not None and x.travel_minutes != minutes:
        yield f"{where}: travel_minutes {_show(x.travel_minutes)}, expected {minutes} (by {mode})"


def _workplace_mentor(p: _Problem, a: _Answer) -> Iterator[str]:
    """A mentor on the assignment iff the opportunity requires one, from its own employer."""
    for x in a.placements:
        o = x.opportunity
        where = f"H8: student {x.student.id} at opportunity {o.id}"
        if x.mentor is None:
            if o.requires_mentor:
                yield f"{where}: the opportunity requires_mentor but the assignment names none"
            continue
        if not o.requires_mentor:
            yield f"{where}: names mentor {x.mentor} but the opportunity does not require one"
            continue
        mentor = p.mentors.get(x.mentor)
        if mentor is None:
            yield f"{where}: unknown mentor {_show(x.mentor)}"
            continue
        if mentor.employer != o.employer:
            yield f"{where}: mentor {mentor.id} is not a workplace mentor of employer {o.employer}"
        if mentor.clusters and o.cluster not in mentor.clusters:
            yield (
                f"{where}: mentor {mentor.id}'s clusters {sorted(mentor.clusters)} "
                f"do not hold {o.cluster}"
            )


def _community_mentorships(p: _Problem, a: _Answer) -> Iterator[str]:
    """Each mentorship: a wanted community mentor, clusters that meet, a well-placed meeting."""
    workplace = {x.student.id: x.mentor for x in a.placements if x.mentor is not None}
    slot_of = {x.student.id: x.slot for x in a.placements}
    for m in a.meetings:
        s, mentor = m.student, m.mentor
        where = f"H8: mentorship of student {s.id} with mentor {mentor.id}"
        if mentor.employer is not None:
            yield f"{where}: the mentor works for {mentor.employer}, not a community mentor"
        if not s.wants_mentor:
            yield f"{where}: the student does not want a mentor"
        if s.id in workplace:
            yield f"{where}: the student already has workplace mentor {workplace[s.id]}"
        if mentor.clusters and s.clusters and not mentor.clusters & s.clusters:
            yield (
                f"{where}: clusters {sorted(mentor.clusters)} and the student's "
                f"{sorted(s.clusters)} do not meet"
            )
        if m.block is not None:
            yield from (
                f"{where}: {d}" for d in _meeting_time(p, m.block, mentor, s, slot_of.get(s.id))
            )


def _meeting_time(
    p: _Problem, meeting: _Block, mentor: _Mentor, s: _Student, slot: _Slot | None
) -> Iterator[str]:
    if meeting.minutes != p.meeting_minutes:
        yield (
            f"meeting {meeting} lasts {meeting.minutes} min, "
            f"not mentor_meeting_minutes {p.meeting_minutes}"
        )
    if meeting.start % _MEETING_GRID:
        yield f"meeting {meeting} does not start on the 15-minute grid"
    if not any(
        b.day == meeting.day and b.start <= meeting.start and meeting.end <= b.end
        for b in mentor.available
    ):
        yield f"meeting {meeting} is not inside any of the mentor's available blocks"
    for c in s.busy:
        if _overlaps(meeting, c):
            yield f"meeting {meeting} overlaps busy {c}"
    if slot is not None:
        for b in slot.weekly:
            if _overlaps(meeting, b):
                yield f"meeting {meeting} overlaps block {b} of the student's slot {slot.id}"


def _mentor_meetings_do_not_overlap(p: _Problem, a: _Answer) -> Iterator[str]:
    by_mentor: defaultdict[str, list[tuple[str, _Block]]] = defaultdict(list)
    for m in a.meetings:
        if m.block is not None:
            by_mentor[m.mentor.id].append((m.student.id, m.block))
    for mentor_id, meetings in by_mentor.items():
        for i, (first, one) in enumerate(meetings):
            for second, other in meetings[i + 1 :]:
                if _overlaps(one, other):
                    yield (
                        f"H8: mentor {mentor_id}: meeting {one} with student {first} overlaps "
                        f"meeting {other} with student {second}"
                    )


def _mentor_load(p: _Problem, a: _Answer) -> dict[str, set[str]]:
    """The students each mentor holds, workplace and community alike."""
    held: defaultdict[str, set[str]] = defaultdict(set)
    for x in a.placements:
        if x.mentor in p.mentors:
            held[x.mentor].add(x.student.id)
    for m in a.meetings:
        held[m.mentor.id].add(m.student.id)
    return held


def _mentor_capacity(p: _Problem, a: _Answer) -> Iterator[str]:
    held = _mentor_load(p, a)
    for mentor in p.mentors.values():
        count = len(held.get(mentor.id, ()))
        if count > mentor.capacity:
            yield f"H8: mentor {mentor.id} holds {count} students, capacity {mentor.capacity}"


def _one_mentorship_per_student(p: _Problem, a: _Answer) -> Iterator[str]:
    for student, times in Counter(m.student.id for m in a.meetings).items():
        if times > 1:
            yield f"H8: student {student} has {times} mentorships, at most one allowed"


def _pins_hold(p: _Problem, a: _Answer) -> Iterator[str]:
    by_student: defaultdict[str, list[_Placement]] = defaultdict(list)
    for x in a.placements:
        by_student[x.student.id].append(x)
    community: defaultdict[str, set[str]] = defaultdict(set)
    for m in a.meetings:
        community[m.student.id].add(m.mentor.id)
    for pin in p.pins:
        where = f"H9: pin {pin.index} (student {pin.student}, opportunity {pin.opportunity})"
        here = [x for x in by_student[pin.student] if x.opportunity.id == pin.opportunity]
        if not here:
            yield f"{where}: the student is not placed in opportunity {pin.opportunity}"
            continue
        if pin.slot is not None and all(x.slot.id != pin.slot for x in here):
            yield f"{where}: the student is not in pinned slot {pin.slot}"
        if (
            pin.mentor is not None
            and all(x.mentor != pin.mentor for x in here)
            and pin.mentor not in community[pin.student]
        ):
            yield f"{where}: the student does not have pinned mentor {pin.mentor}"


def _preference_rank(p: _Problem, a: _Answer) -> Iterator[str]:
    for x in a.placements:
        expected = x.student.rank_of(x.opportunity.id)
        given = x.preference_rank
        where = f"preference_rank: student {x.student.id} at opportunity {x.opportunity.id}"
        if expected is None and given is not None:
            yield f"{where}: is {_show(given)}, must be absent or null (not in the preferences)"
        elif expected is not None and not (_is_int(given) and given == expected):
            yield f"{where}: is {_show(given)}, expected {expected}"


def _expected_metrics(p: _Problem, a: _Answer) -> dict[str, int]:
    ranks = [x.student.rank_of(x.opportunity.id) for x in a.placements]
    mentored = {x.student.id for x in a.placements if x.mentor is not None}
    mentored |= {m.student.id for m in a.meetings}
    return {
        "students": len(p.students),
        "placed": a.assignment_count,
        "placed_weighted": sum(1 + x.student.priority for x in a.placements),
        "first_choice": sum(r == 1 for r in ranks),
        "top3": sum(r is not None and r <= 3 for r in ranks),
        "unranked": sum(r is None for r in ranks),
        "mentored": sum(p.students[sid].wants_mentor for sid in mentored),
    }


def _metrics(p: _Problem, a: _Answer) -> Iterator[str]:
    if a.metrics is None:
        return  # already reported as a format violation
    given = a.metrics
    for key, expected in _expected_metrics(p, a).items():
        value = given.get(key)
        if not _is_number(value) or value != expected:
            yield f"metrics: {key} is {_show(value)}, expected {expected}"
    yield from _mean_travel(a)
    yield from _by_group(p, a)


def _mean_travel(a: _Answer) -> Iterator[str]:
    minutes = [x.travel_minutes for x in a.placements]
    if len(minutes) != a.assignment_count or None in minutes:
        return  # malformed assignments are reported already; the mean is undefined
    total = sum(m for m in minutes if m is not None)
    try:
        mean = total / len(minutes) if minutes else 0.0
    except OverflowError:
        return  # absurd travel_minutes, reported by H4 already
    value = a.metrics.get("mean_travel_minutes") if a.metrics is not None else None
    if not _is_number(value) or not _rounds_to(value, mean):
        yield f"metrics: mean_travel_minutes is {_show(value)}, expected {round(mean, 2)}"


def _rounds_to(value: float, exact: float) -> bool:
    """`value` is `exact` rounded to 2 decimals; an exact tie may round either way."""
    try:
        return round(value, 2) == value and abs(value - exact) <= 0.005 + 1e-9
    except OverflowError:  # a huge integer
        return False


def _by_group(p: _Problem, a: _Answer) -> Iterator[str]:
    placed = a.placed_ids()
    expected: dict[str, dict[str, int]] = {}
    for s in p.students.values():
        for label in s.groups:
            counts = expected.setdefault(label, {"students": 0, "placed": 0})
            counts["students"] += 1
            counts["placed"] += s.id in placed
    given = a.metrics.get("by_group") if a.metrics is not None else None
    if not isinstance(given, Mapping):
        yield f"metrics: by_group is {_show(given)}, expected {expected}"
        return
    for label in sorted(set(given) - set(expected), key=str):
        yield f"metrics: by_group has label {_show(label)}, which no student carries"
    for label, counts in expected.items():
        got = given.get(label)
        if not isinstance(got, Mapping) or any(
            not _is_number(got.get(k)) or got.get(k) != v for k, v in counts.items()
        ):
            yield f"metrics: by_group[{_show(label)}] is {_show(got)}, expected {counts}"


def _reasons_hold(p: _Problem, a: _Answer) -> Iterator[str]:
    """A reason code tells the truth about the round (weakly: whatever attribution is used)."""
    placed = a.placed_ids()
    for u in a.unplaced:
        s = u.student
        if s.id in placed:
            continue  # both placed and unplaced: reported by H1
        refusals = _StudentRefusals(p, s)
        for reason in u.reasons:
            detail = _reason_falsehood(refusals, reason)
            if detail is not None:
                yield f"unplaced: student {s.id}: reason {reason.code}: {detail}"


class _StudentRefusals:
    """The reason codes by which each opportunity (or one of its slots) refuses one student.

    Each opportunity is judged by every rule on its own and at most once per student.
    """

    def __init__(self, p: _Problem, s: _Student) -> None:
        self.p, self.s = p, s
        self.candidates = _candidates(p, s)
        self._travel: dict[str, tuple[str, int] | None] = {}
        self._codes: dict[str, frozenset[str]] = {}
        self._slot_codes: dict[str, frozenset[str]] = {}

    def travel(self, o: _Opportunity) -> tuple[str, int] | None:
        if o.id not in self._travel:
            self._travel[o.id] = _best_travel(self.p, self.s, o)
        return self._travel[o.id]

    def codes(self, o: _Opportunity, *, slots: bool) -> frozenset[str]:
        """Codes of the opportunity's rules (H3, H4), and of its slots' (H5-H7) if `slots`."""
        p, s = self.p, self.s
        if o.id not in self._codes:
            refusals = _opportunity_refusals(p, s, o, self.travel(o))
            self._codes[o.id] = frozenset(r.code for r in refusals)
        if not slots:
            return self._codes[o.id]
        if o.id not in self._slot_codes:
            self._slot_codes[o.id] = frozenset(
                r.code for slot in o.slots for r in _slot_refusals(p, s, o, slot)
            )
        return self._codes[o.id] | self._slot_codes[o.id]

    def count(self, code: str, enough: int) -> int:
        """How many opportunities refuse the student by `code`'s rule, counting up to `enough`."""
        if code == "no_cluster_match":
            return len(self.p.opportunities) - len(self.candidates)
        # Candidates first: that is where a solver looks, so the count is usually reached early.
        seen = {o.id for o in self.candidates}
        rest = (o for o in self.p.opportunities.values() if o.id not in seen)
        slots = code in _SLOT_CODES or code in _COMMUTE_CODES
        refusing = 0
        for o in chain(self.candidates, rest):
            refusing += code in self.codes(o, slots=slots)
            if refusing >= enough:
                break
        return refusing


def _reason_falsehood(refusals: _StudentRefusals, reason: _Reason) -> str | None:
    code = reason.code
    if code in _RULE_CODES:
        # Each opportunity is judged by that rule alone; a solver that attributes a pair to its
        # first failing rule, or counts only some opportunities, can only report fewer: the
        # count is checked as an upper bound.
        refusing = refusals.count(code, max(reason.count or 1, 1))
        if refusing == 0:
            return "no opportunity refuses the student for that rule"
        if reason.count == 0:
            return "count 0, but the code says that at least one opportunity refuses the student"
        if reason.count is not None and reason.count > refusing:
            return f"count {reason.count}, but only {refusing} opportunities refuse for that rule"
        return None
    if code == "no_opportunities":
        matching = refusals.candidates
        return (
            f"opportunity {matching[0].id} is in the student's clusters or preferences"
            if matching
            else None
        )
    if code in ("capacity_taken", "no_mentor"):
        needs_mentor = code == "no_mentor"
        p, s = refusals.p, refusals.s
        for o in refusals.candidates:
            if (o.requires_mentor or not needs_mentor) and next(_eligible_slots(p, s, o), None):
                return None
        what = "an opportunity requiring a mentor" if needs_mentor else "any slot"
        return f"the student is not eligible for {what}"
    return None  # unknown codes are reported by H1


def _optimality(p: _Problem, a: _Answer) -> Iterator[str]:
    """An `optimal` answer leaves no free seat to an unplaced student, no free mentor unused."""
    if a.status != "optimal":
        return
    yield from _free_seats(p, a)
    yield from _free_community_mentors(p, a)


def _open_opportunities(p: _Problem, a: _Answer) -> dict[str, set[str]]:
    """The free slots of each opportunity that could take one more student, mentor included."""
    slot_load = Counter(x.slot.id for x in a.placements)
    opportunity_load = Counter(x.opportunity.id for x in a.placements)
    mentor_load = {k: len(v) for k, v in _mentor_load(p, a).items()}
    found: dict[str, set[str]] = {}
    for o in p.opportunities.values():
        if o.capacity is not None and opportunity_load[o.id] >= o.capacity:
            continue
        if o.requires_mentor and not any(
            m.employer == o.employer
            and (not m.clusters or o.cluster in m.clusters)
            and mentor_load.get(m.id, 0) < m.capacity
            for m in p.mentors.values()
        ):
            continue
        free = {slot.id for slot in o.slots if slot_load[slot.id] < slot.capacity}
        if free:
            found[o.id] = free
    return found


def _free_seats(p: _Problem, a: _Answer) -> Iterator[str]:
    open_slots = _open_opportunities(p, a)
    placed = a.placed_ids()
    for s in p.students.values():
        if s.id in placed:
            continue
        for o in _candidates(p, s):
            if o.id not in open_slots:
                continue
            free = [slot for slot in _eligible_slots(p, s, o) if slot.id in open_slots[o.id]]
            if free:
                yield (
                    f"optimality: status is optimal, but unplaced student {s.id} could take a "
                    f"free seat in slot {free[0].id} of opportunity {o.id}"
                )
                break


def _free_community_mentors(p: _Problem, a: _Answer) -> Iterator[str]:
    mentor_load = _mentor_load(p, a)
    has_mentor = {x.student.id for x in a.placements if x.mentor is not None}
    has_mentor |= {m.student.id for m in a.meetings}
    slot_of = {x.student.id: x.slot for x in a.placements}
    meetings: defaultdict[str, list[_Block]] = defaultdict(list)
    for m in a.meetings:
        if m.block is not None:
            meetings[m.mentor.id].append(m.block)
    for s in p.students.values():
        if not s.wants_mentor or s.id in has_mentor:
            continue
        for mentor in p.mentors.values():
            if (
                mentor.employer is not None
                or len(mentor_load.get(mentor.id, ())) >= mentor.capacity
                or (mentor.clusters and s.clusters and not mentor.clusters & s.clusters)
            ):
                continue
            taken = [
                *s.busy,
                *(slot_of[s.id].weekly if s.id in slot_of else ()),
                *meetings[mentor.id],
            ]
            time = _free_meeting_time(p, mentor, taken)
            if time is not None:
                yield (
                    f"optimality: status is optimal, but student {s.id} wants a mentor and "
                    f"community mentor {mentor.id} is free at {time}"
                )
                break


def _free_meeting_time(p: _Problem, mentor: _Mentor, taken: list[_Block]) -> _Block | None:
    length = p.meeting_minutes
    for available in mentor.available:
        first = -(-available.start // _MEETING_GRID) * _MEETING_GRID
        for start in range(first, available.end - length + 1, _MEETING_GRID):
            meeting = _Block(day=available.day, on=None, start=start, end=start + length)
            if not any(_overlaps(meeting, b) for b in taken):
                return meeting
    return None


_ANSWER_RULES: tuple[Callable[[_Problem, _Answer], Iterator[str]], ...] = (
    _one_placement_per_student,
    _every_student_accounted,
    _slot_capacity,
    _opportunity_capacity,
    _placement_rules,
    _workplace_mentor,
    _community_mentorships,
    _mentor_meetings_do_not_overlap,
    _mentor_capacity,
    _one_mentorship_per_student,
    _pins_hold,
    _preference_rank,
    _metrics,
    _reasons_hold,
    _optimality,
)


def check_solution(problem: Mapping[str, Any], solution: Mapping[str, Any]) -> list[str]:
    """Every violation of H1-H9, of the solution format and of the metrics, as messages.

    [] when the solution is valid. `problem` and `solution` are the parsed JSON documents
    (`wbl-problem/1`, `wbl-solution/1`). The problem is assumed valid; whatever is wrong with
    the solution is reported, not raised. Each message starts with the rule it breaks
    (`H1`..`H9`, `format`, `infeasible`, `preference_rank`, `metrics`, `unplaced`,
    `optimality`) and names the ids involved.
    """
    if not isinstance(solution, Mapping):
        return [f"format: the solution must be a JSON object, got {type(solution).__name__}"]
    p = _parse_problem(problem)
    violations = list(_header(solution))
    if solution.get("status") == "infeasible":
        violations += _infeasible_answer(p, solution)
        return violations
    answer = _read_answer(p, solution, violations)
    for rule in _ANSWER_RULES:
        violations += rule(p, answer)
    return violations
