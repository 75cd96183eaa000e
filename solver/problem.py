"""The placement problem as frozen, typed data, and its conversion from a `wbl-problem/1` document.

Times are integer minutes after midnight, weekdays 0 (Monday) to 6 (Sunday); absent fields get
the spec's defaults here, so the rest of the solver never looks at raw JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Day types of a timetable (`trips` of a travel group entry): Monday-Friday, Saturday, Sunday.
DAY_TYPES: tuple[str, ...] = ("weekday", "saturday", "sunday")
# The spec's tie order for travel modes: walk, bike, transit, car.
MODES: tuple[str, ...] = ("walk", "bike", "transit", "car")
KINDS: tuple[str, ...] = (
    "internship",
    "apprenticeship",
    "pre_apprenticeship",
    "job_shadow",
    "co_op",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """A weekly block (`day` set) or a dated block (`date` set), in minutes after midnight."""

    day: int | None = None
    date: dt.date | None = None
    start: int
    end: int

    @property
    def weekday(self) -> int:
        """The weekday the block falls on (0 = Monday)."""
        if self.day is not None:
            return self.day
        assert self.date is not None
        return self.date.weekday()

    @property
    def minutes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True, kw_only=True)
class Round:
    id: str
    name: str
    start_date: dt.date
    end_date: dt.date
    timezone: str
    holidays: tuple[dt.date, ...] = ()
    summer: bool = False
    mentor_meeting_minutes: int = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class School:
    id: str
    name: str
    location: Location


@dataclass(frozen=True, slots=True, kw_only=True)
class Student:
    id: str
    name: str
    birth_date: dt.date
    school: str | None = None
    grade: int | None = None
    location: Location | None = None
    travel_modes: tuple[str, ...] = ()
    max_commute_minutes: float = 60
    clusters: tuple[str, ...] = ()
    credentials: tuple[str, ...] = ()
    busy: tuple[Block, ...] = ()
    preferences: tuple[str, ...] = ()
    priority: int = 0
    groups: tuple[str, ...] = ()
    max_weekly_hours: float | None = None
    wants_mentor: bool = False
    email: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Employer:
    id: str
    name: str
    contact_email: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    id: str
    capacity: int
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Opportunity:
    id: str
    employer: str
    title: str
    kind: str
    cluster: str
    location: Location
    slots: tuple[Slot, ...]
    transit_accessible: bool = True
    capacity: int | None = None
    min_age: int | None = None
    min_grade: int | None = None
    required_credentials: tuple[str, ...] = ()
    hazardous: bool = False
    requires_mentor: bool = False
    accepts: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Mentor:
    id: str
    name: str
    employer: str | None = None
    clusters: tuple[str, ...] = ()
    capacity: int = 0
    available: tuple[Block, ...] = ()
    virtual: bool = False

    @property
    def is_community(self) -> bool:
        return self.employer is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Travel:
    student: str
    opportunity: str
    mode: str
    minutes: int | None


def day_type(weekday: int) -> str:
    """The timetable day type of a weekday (0 = Monday): weekday, saturday or sunday."""
    return DAY_TYPES[max(0, weekday - 4)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Trips:
    """Measured trips of one travel entry by day type and time (`trips`, an extension of the
    format): `there[(day type, t)]` is the trip arriving by `t` (minutes after midnight), the
    latest one that does, from leaving to `t`; `back[(day type, t)]` the trip leaving at `t`,
    waiting included, until the origin. None: no such trip. Times not listed take the
    entry's `minutes`."""

    there: Mapping[tuple[str, int], int | None]
    back: Mapping[tuple[str, int], int | None]

    def lower_bound(self, minutes: int | None) -> int | None:
        """The least time any block can take by this entry (None: no trip at all), for
        pruning pairs before their slots are looked at."""
        values = [m for m in (*self.there.values(), *self.back.values()) if m is not None]
        if minutes is not None:
            values.append(minutes)
        return min(values, default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupTravel:
    opportunity: str
    mode: str
    minutes: int | None
    trips: Trips | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TravelGroup:
    """Travel times shared by students who travel from the same place (an extension of the
    format, `travel_groups`): each entry counts as a `travel` entry of every member, unless the
    member has its own entry for that opportunity and mode."""

    id: str
    students: tuple[str, ...]
    travel: tuple[GroupTravel, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Pin:
    student: str
    opportunity: str
    slot: str | None = None
    mentor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Forbidden:
    student: str
    opportunity: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    round: Round
    schools: tuple[School, ...] = ()
    students: tuple[Student, ...] = ()
    employers: tuple[Employer, ...] = ()
    opportunities: tuple[Opportunity, ...] = ()
    mentors: tuple[Mentor, ...] = ()
    travel: tuple[Travel, ...] = ()
    travel_groups: tuple[TravelGroup, ...] = ()
    pins: tuple[Pin, ...] = ()
    forbidden: tuple[Forbidden, ...] = ()


def age_on(birth: dt.date, day: dt.date) -> int:
    """Age in full years on `day`."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def parse_time(text: str) -> int:
    """`"HH:MM"` to minutes after midnight (`"24:00"` is 1440)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def format_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if value else ()


def _location(raw: Mapping[str, Any] | None) -> Location | None:
    if raw is None:
        return None
    return Location(lat=float(raw["lat"]), lon=float(raw["lon"]))


def _block(raw: Mapping[str, Any]) -> Block:
    day = raw.get("day")
    date = raw.get("date")
    return Block(
        day=DAYS.index(day) if day is not None else None,
        date=_date(date) if date is not None else None,
        start=parse_time(raw["start"]),
        end=parse_time(raw["end"]),
    )


def parse_blocks(raw: Sequence[Mapping[str, Any]] | None) -> tuple[Block, ...]:
    """Blocks of a document (`{"day"|"date", "start", "end"}`) as `Block`s."""
    return tuple(_block(b) for b in raw or ())


def school_from_dict(s: Mapping[str, Any]) -> School:
    """One school of a document."""
    return School(id=s["id"], name=s["name"], location=_location(s["location"]))  # type: ignore[arg-type]


def student_from_dict(s: Mapping[str, Any]) -> Student:
    """One student of a document, with the spec's defaults for absent fields."""
    return Student(
        id=s["id"],
        name=s["name"],
        birth_date=_date(s["birth_date"]),
        school=s.get("school"),
        grade=s.get("grade"),
        location=_location(s.get("location")),
        travel_modes=_tuple(s.get("travel_modes")),
        max_commute_minutes=s.get("max_commute_minutes", 60),
        clusters=_tuple(s.get("clusters")),
        credentials=_tuple(s.get("credentials")),
        busy=parse_blocks(s.get("busy")),
        preferences=_tuple(s.get("preferences")),
        priority=int(s.get("priority", 0)),
        groups=_tuple(s.get("groups")),
        max_weekly_hours=s.get("max_weekly_hours"),
        wants_mentor=bool(s.get("wants_mentor", False)),
        email=s.get("email"),
    )


def opportunity_from_dict(o: Mapping[str, Any]) -> Opportunity:
    """One opportunity of a document, its slots included, with the spec's defaults."""
    return Opportunity(
        id=o["id"],
        employer=o["employer"],
        title=o["title"],
        kind=o["kind"],
        cluster=o["cluster"],
        location=_location(o["location"]),  # type: ignore[arg-type]
        slots=tuple(
            Slot(id=sl["id"], capacity=int(sl["capacity"]), blocks=parse_blocks(sl.get("blocks")))
            for sl in o.get("slots") or ()
        ),
        transit_accessible=bool(o.get("transit_accessible", True)),
        capacity=o.get("capacity"),
        min_age=o.get("min_age"),
        min_grade=o.get("min_grade"),
        required_credentials=_tuple(o.get("required_credentials")),
        hazardous=bool(o.get("hazardous", False)),
        requires_mentor=bool(o.get("requires_mentor", False)),
        accepts=tuple(o["accepts"]) if o.get("accepts") is not None else None,
    )


def trips_from_dict(raw: Mapping[str, Any] | None) -> Trips | None:
    """`trips` of a travel entry (`{day type: {"there"|"back": {"HH:MM": minutes}}}`)."""
    if raw is None:
        return None
    there: dict[tuple[str, int], int | None] = {}
    back: dict[tuple[str, int], int | None] = {}
    for kind, legs in raw.items():
        for direction, out in (("there", there), ("back", back)):
            for clock, minutes in (legs.get(direction) or {}).items():
                out[kind, parse_time(clock)] = minutes
    return Trips(there=there, back=back)


def problem_from_dict(doc: Mapping[str, Any]) -> Problem:
    """Build a `Problem` from a document that `validate_problem` accepted (defaults filled in)."""
    r = doc["round"]
    round_ = Round(
        id=r["id"],
        name=r["name"],
        start_date=_date(r["start_date"]),
        end_date=_date(r["end_date"]),
        timezone=r["timezone"],
        holidays=tuple(_date(h) for h in r.get("holidays") or ()),
        summer=bool(r.get("summer", False)),
        mentor_meeting_minutes=int(r.get("mentor_meeting_minutes", 30)),
    )
    schools = tuple(school_from_dict(s) for s in doc.get("schools") or ())
    students = tuple(student_from_dict(s) for s in doc.get("students") or ())
    employers = tuple(
        Employer(id=e["id"], name=e["name"], contact_email=e.get("contact_email"))
        for e in doc.get("employers") or ()
    )
    opportunities = tuple(opportunity_from_dict(o) for o in doc.get("opportunities") or ())
    mentors = tuple(
        Mentor(
            id=m["id"],
            name=m["name"],
            employer=m.get("employer"),
            clusters=_tuple(m.get("clusters")),
            capacity=int(m.get("capacity", 0)),
            available=parse_blocks(m.get("available")),
            virtual=bool(m.get("virtual", False)),
        )
        for m in doc.get("mentors") or ()
    )
    travel = tuple(
        Travel(
            student=t["student"], opportunity=t["opportunity"], mode=t["mode"], minutes=t["minutes"]
        )
        for t in doc.get("travel") or ()
    )
    travel_groups = tuple(
        TravelGroup(
            id=g["id"],
            students=tuple(g["students"]),
            travel=tuple(
                GroupTravel(
                    opportunity=t["opportunity"],
                    mode=t["mode"],
                    minutes=t["minutes"],
                    trips=trips_from_dict(t.get("trips")),
                )
                for t in g.get("travel") or ()
            ),
        )
        for g in doc.get("travel_groups") or ()
    )
    pins = tuple(
        Pin(
            student=p["student"],
            opportunity=p["opportunity"],
            slot=p.get("slot"),
            mentor=p.get("mentor"),
        )
        for p in doc.get("pins") or ()
    )
    forbidden = tuple(
        Forbidden(student=f["student"], opportunity=f["opportunity"])
        for f in doc.get("forbidden") or ()
    )
    return Problem(
        round=round_,
        schools=schools,
        students=students,
        employers=employers,
        opportunities=opportunities,
        mentors=mentors,
        travel=travel,
        travel_groups=travel_groups,
        pins=pins,
        forbidden=forbidden,
    )
