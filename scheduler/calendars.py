"""iCalendar feeds of a published round, for students, employers and mentors, and their changes.

A feed is one subscribed `.ics` calendar: one per student (their shifts and community-mentor
meetings), per employer (every shift of its placed students) and per mentor (a community
mentor's meetings; a workplace mentor's mentees' shifts). This module is pure: it reads plain
frozen data (`RoundCalendarData`, built from a `wbl-problem/1` + `wbl-solution/1` pair by
`calendar_data_from_documents`, or from database rows by the caller) and returns bytes and
plain state; it holds no database, token or HTTP code.

Each weekly block of a slot is one recurring VEVENT (first date of the round on that weekday,
`RRULE:FREQ=WEEKLY;UNTIL=` the round's last day in UTC, an EXDATE per holiday); a dated block
is one single event; a community-mentor meeting recurs like a shift. Times carry the round's
TZID with its VTIMEZONE, so a 15:30 shift stays at 15:30 across a daylight-saving change.

Subscribed clients only ever see the latest copy of a feed, so changes are told through the
events themselves: `update_feed` compares the events of a feed now with the stored state of
its events before (UID -> sequence, content hash, cancelled, modification time, last
content), raises SEQUENCE and LAST-MODIFIED of exactly the events whose content changed, and
keeps an event that disappeared as STATUS:CANCELLED with a higher SEQUENCE until the round
ends, so clients drop it instead of keeping a stale copy. The calendar is rendered from the
state alone, so the same state always gives the same bytes (stable HTTP ETags).

Privacy (FERPA, minimum data): a student's feed holds their own placement only; an employer
sees a student's first name and last initial; a mentor sees the student's first name. No
grades, groups, birth dates or home locations reach any feed: the data classes here have no
field for them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vDuration, vRecur, vText

from solver.problem import DAYS, Block, Location, format_time, parse_blocks, parse_time

__all__ = [
    "PRODID",
    "REFRESH",
    "CalendarEvent",
    "CalendarRound",
    "EventState",
    "Feed",
    "FeedUpdate",
    "MentorMeeting",
    "Person",
    "Placement",
    "RoundCalendarData",
    "calendar_data_from_documents",
    "feed_events",
    "first_name",
    "render_calendar",
    "round_feeds",
    "short_name",
    "update_feed",
]

PRODID = "-//wbl-scheduler//placement calendars//EN"
# How often clients should fetch the feed again (REFRESH-INTERVAL and X-PUBLISHED-TTL).
REFRESH = dt.timedelta(hours=4)
UID_DOMAIN = "wbl-scheduler"
# Statuses of an assignment that are on the calendars once the round is published.
PUBLISHED_STATUSES = frozenset({"published", "confirmed"})

KIND_LABELS: dict[str, str] = {
    "internship": "Internship",
    "apprenticeship": "Apprenticeship",
    "pre_apprenticeship": "Pre-apprenticeship",
    "job_shadow": "Job shadow",
    "co_op": "Co-op",
}
MODE_LABELS: dict[str, str] = {
    "walk": "on foot",
    "bike": "by bike",
    "transit": "by transit",
    "car": "by car",
}

Audience = Literal["student", "employer", "mentor"]


# --- Input: plain data, independent of the ORM -------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarRound:
    """The round as the calendars need it. `label` names the season in calendar names
    ("Spring 2027"); absent, it is derived from the start date."""

    id: str
    name: str
    start_date: dt.date
    end_date: dt.date
    timezone: str
    holidays: tuple[dt.date, ...] = ()
    label: str | None = None

    @property
    def calendar_label(self) -> str:
        if self.label:
            return self.label
        month = self.start_date.month
        season = (
            "Winter"
            if month in (12, 1, 2)
            else "Spring"
            if month <= 5
            else "Summer"
            if month <= 8
            else "Fall"
        )
        return f"{season} {self.start_date.year}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """Someone who gets a feed: a student (`name` is then first name + last initial), an
    employer or a mentor (`employer` set for a workplace mentor)."""

    id: str
    name: str
    employer: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """A published placement: everything any feed shows about it, and nothing more.

    `student_short` is first name + last initial ("Ana N."), all an employer sees;
    `student_first` all a mentor sees. `origin` is where the student leaves from ("school" or
    "home", per the spec's travel origin), to say when to leave."""

    student: str
    student_short: str
    student_first: str
    opportunity: str
    title: str
    kind: str
    employer: str
    employer_name: str
    employer_contact: str | None = None
    site_address: str | None = None
    site: Location | None = None
    slot: str
    blocks: tuple[Block, ...]
    travel_mode: str | None = None
    travel_minutes: int | None = None
    origin: str | None = None
    mentor: str | None = None
    mentor_name: str | None = None
    required_credentials: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MentorMeeting:
    """A community mentor's weekly meeting with a student; `place` is "Virtual" or where."""

    mentor: str
    mentor_name: str
    student: str
    student_first: str
    day: int
    start: int
    end: int
    place: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundCalendarData:
    """Everything the feeds of one round are built from."""

    round: CalendarRound
    students: tuple[Person, ...] = ()
    employers: tuple[Person, ...] = ()
    mentors: tuple[Person, ...] = ()
    placements: tuple[Placement, ...] = ()
    meetings: tuple[MentorMeeting, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Feed:
    """One subscribed calendar: `key` ("student:ID", "employer:ID", "mentor:ID") is what a
    token will name; `name` is its calendar name."""

    key: str
    audience: Audience
    owner: str
    name: str
    placements: tuple[Placement, ...] = ()
    meetings: tuple[MentorMeeting, ...] = ()


# --- Output: events and their stored state -----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarEvent:
    """One VEVENT's content, in the round's local wall-clock time.

    `until` set: weekly from `start` to the round's last day, minus `exdates` (dates)."""

    uid: str
    summary: str
    description: str
    location: str | None = None
    geo: tuple[float, float] | None = None
    start: dt.datetime
    end: dt.datetime
    until: dt.date | None = None
    exdates: tuple[dt.date, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the stored state)."""
        return {
            "uid": self.uid,
            "summary": self.summary,
            "description": self.description,
            "location": self.location,
            "geo": list(self.geo) if self.geo is not None else None,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "until": self.until.isoformat() if self.until is not None else None,
            "exdates": [d.isoformat() for d in self.exdates],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CalendarEvent:
        geo = raw.get("geo")
        until = raw.get("until")
        return cls(
            uid=raw["uid"],
            summary=raw["summary"],
            description=raw["description"],
            location=raw.get("location"),
            geo=(float(geo[0]), float(geo[1])) if geo is not None else None,
            start=dt.datetime.fromisoformat(raw["start"]),
            end=dt.datetime.fromisoformat(raw["end"]),
            until=dt.date.fromisoformat(until) if until is not None else None,
            exdates=tuple(dt.date.fromisoformat(d) for d in raw.get("exdates", ())),
        )

    def content_hash(self) -> str:
        """A digest of everything a client shows: equal hashes, nothing to tell clients."""
        text = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class EventState:
    """What is stored per event of a feed between regenerations.

    `modified` (UTC) is when the content last changed: it is the event's LAST-MODIFIED and
    DTSTAMP, so that rendering does not depend on the clock. `event` is the last content,
    kept so a removed event can still be sent, cancelled."""

    sequence: int
    content_hash: str
    cancelled: bool
    modified: dt.datetime
    event: CalendarEvent

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "content_hash": self.content_hash,
            "cancelled": self.cancelled,
            "modified": self.modified.isoformat(),
            "event": self.event.to_dict(),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EventState:
        return cls(
            sequence=int(raw["sequence"]),
            content_hash=str(raw["content_hash"]),
            cancelled=bool(raw["cancelled"]),
            modified=dt.datetime.fromisoformat(raw["modified"]),
            event=CalendarEvent.from_dict(raw["event"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedUpdate:
    """The new state of a feed's events (for the caller to store), its calendar bytes, and
    whether anything changed since the state it was given."""

    state: dict[str, EventState]
    ical: bytes
    changed: bool


# --- Names -------------------------------------------------------------------------------------


def first_name(name: str) -> str:
    """The first word of a display name."""
    words = name.split()
    return words[0] if words else ""


def _first_character(word: str) -> str:
    """The first character of a word with what belongs to it (combining accents, emoji
    modifiers, variation selectors, zero-width-joined sequences), so an initial never splits
    a letter from its accent or an emoji from its skin tone."""
    out = word[:1]
    joined = False
    for char in word[1:]:
        attached = (
            unicodedata.combining(char)
            or char in ("\u200d", "\ufe0e", "\ufe0f")
            or "\U0001f3fb" <= char <= "\U0001f3ff"
        )
        if not (attached or joined):
            break
        out += char
        joined = char == "\u200d"
    return out


def short_name(name: str) -> str:
    """First name and last initial ("Ana Nguyen" -> "Ana N."): all an employer may see."""
    words = name.split()
    if len(words) < 2:
        return words[0] if words else ""
    return f"{words[0]} {_first_character(words[-1])}."


# --- From wbl-problem/1 + wbl-solution/1 -------------------------------------------------------


def calendar_data_from_documents(
    problem: Mapping[str, Any], solution: Mapping[str, Any] | None, *, published: bool = True
) -> RoundCalendarData:
    """The calendars' input from a round document and its solution (dicts, already valid).

    Unpublished (`published` false, or no solution): every feed exists, empty. Published: the
    assignments whose `status` is published or confirmed (declined, proposed and pinned are not
    on calendars; absent, in a document older than the always-written status, counts as
    published, as it always has) and every
    community-mentor meeting."""
    rnd = problem["round"]
    summer = bool(rnd.get("summer", False))
    calendar_round = CalendarRound(
        id=str(rnd["id"]),
        name=str(rnd["name"]),
        start_date=dt.date.fromisoformat(rnd["start_date"]),
        end_date=dt.date.fromisoformat(rnd["end_date"]),
        timezone=str(rnd["timezone"]),
        holidays=tuple(sorted(dt.date.fromisoformat(d) for d in rnd.get("holidays", ()))),
    )
    students_raw = {s["id"]: s for s in problem.get("students", ())}
    schools = {s["id"]: s for s in problem.get("schools", ())}
    employers = {e["id"]: e for e in problem.get("employers", ())}
    mentors = {m["id"]: m for m in problem.get("mentors", ())}
    opportunities = {o["id"]: o for o in problem.get("opportunities", ())}
    slots = {sl["id"]: sl for o in opportunities.values() for sl in o.get("slots", ())}
    data = RoundCalendarData(
        round=calendar_round,
        students=tuple(
            Person(id=s["id"], name=short_name(s["name"])) for s in students_raw.values()
        ),
        employers=tuple(Person(id=e["id"], name=e["name"]) for e in employers.values()),
        mentors=tuple(
            Person(id=m["id"], name=m["name"], employer=m.get("employer")) for m in mentors.values()
        ),
    )
    if not published or solution is None:
        return data

    placements: list[Placement] = []
    sites: dict[str, str] = {}
    for a in solution.get("assignments", ()):
        if a.get("status", "published") not in PUBLISHED_STATUSES:
            continue
        student = students_raw[a["student"]]
        opp = opportunities[a["opportunity"]]
        employer = employers[opp["employer"]]
        mentor = mentors.get(a["mentor"]) if a.get("mentor") else None
        location = opp.get("location")
        has_school = student.get("school") is not None
        address = opp.get("address")
        sites[student["id"]] = f"{employer['name']}, {address}" if address else employer["name"]
        placements.append(
            Placement(
                student=student["id"],
                student_short=short_name(student["name"]),
                student_first=first_name(student["name"]),
                opportunity=opp["id"],
                title=opp["title"],
                kind=opp["kind"],
                employer=employer["id"],
                employer_name=employer["name"],
                employer_contact=employer.get("contact_email"),
                site_address=address,
                site=Location(lat=location["lat"], lon=location["lon"]) if location else None,
                slot=a["slot"],
                blocks=parse_blocks(slots[a["slot"]].get("blocks", ())),
                travel_mode=a.get("travel_mode"),
                travel_minutes=a.get("travel_minutes"),
                origin="school" if has_school and not summer else "home",
                mentor=mentor["id"] if mentor else None,
                mentor_name=mentor["name"] if mentor else None,
                required_credentials=tuple(opp.get("required_credentials", ())),
            )
        )

    meetings: list[MentorMeeting] = []
    for m in solution.get("mentorships", ()):
        mentor = mentors[m["mentor"]]
        student = students_raw[m["student"]]
        if mentor.get("virtual", False):
            place = "Virtual"
        elif student["id"] in sites:
            place = sites[student["id"]]
        elif student.get("school") in schools:
            school = schools[student["school"]]
            place = ", ".join(p for p in (school["name"], school.get("address")) if p)
        else:
            place = "To be arranged with the mentor"
        meetings.append(
            MentorMeeting(
                mentor=mentor["id"],
                mentor_name=mentor["name"],
                student=student["id"],
                student_first=first_name(student["name"]),
                day=DAYS.index(m["day"]),
                start=parse_time(m["start"]),
                end=parse_time(m["end"]),
                place=place,
            )
        )
    return RoundCalendarData(
        round=data.round,
        students=data.students,
        employers=data.employers,
        mentors=data.mentors,
        placements=tuple(placements),
        meetings=tuple(meetings),
    )


# --- Which feeds a round has -------------------------------------------------------------------


def round_feeds(data: RoundCalendarData) -> tuple[Feed, ...]:
    """Every feed of the round, with its name and the sources of its events: one per student,
    per employer and per mentor, whether or not anything is on it yet."""
    label = data.round.calendar_label
    by_student: dict[str, list[Placement]] = {}
    by_employer: dict[str, list[Placement]] = {}
    by_mentor: dict[str, list[Placement]] = {}
    for p in data.placements:
        by_student.setdefault(p.student, []).append(p)
        by_employer.setdefault(p.employer, []).append(p)
        if p.mentor is not None:
            by_mentor.setdefault(p.mentor, []).append(p)
    meetings_of_student: dict[str, list[MentorMeeting]] = {}
    meetings_of_mentor: dict[str, list[MentorMeeting]] = {}
    for m in data.meetings:
        meetings_of_student.setdefault(m.student, []).append(m)
        meetings_of_mentor.setdefault(m.mentor, []).append(m)

    feeds: list[Feed] = [
        Feed(
            key=f"student:{s.id}",
            audience="student",
            owner=s.id,
            name=f"{label} placement: {s.name}",
            placements=tuple(by_student.get(s.id, ())),
            meetings=tuple(meetings_of_student.get(s.id, ())),
        )
        for s in data.students
    ]
    feeds.extend(
        Feed(
            key=f"employer:{e.id}",
            audience="employer",
            owner=e.id,
            name=f"{label} placements: {e.name}",
            placements=tuple(by_employer.get(e.id, ())),
        )
        for e in data.employers
    )
    feeds.extend(
        Feed(
            key=f"mentor:{m.id}",
            audience="mentor",
            owner=m.id,
            name=f"{label} mentoring: {m.name}",
            placements=tuple(by_mentor.get(m.id, ())),
            meetings=tuple(meetings_of_mentor.get(m.id, ())),
        )
        for m in data.mentors
    )
    return tuple(feeds)


# --- Events of a feed --------------------------------------------------------------------------


def _uid(rnd: CalendarRound, feed: Feed, *parts: str) -> str:
    """Stable per (feed, person, slot, block): ids are percent-encoded so any id is safe."""
    path = "/".join(quote(p, safe="-_.~") for p in (rnd.id, feed.audience, feed.owner, *parts))
    return f"{path}@{UID_DOMAIN}"


def _block_keys(blocks: Sequence[Block]) -> list[str]:
    """A key per block that survives a change of its times: its weekday or its date, with an
    ordinal when a slot has several blocks on one day (a split shift)."""
    seen: dict[str, int] = {}
    keys: list[str] = []
    for b in sorted(blocks, key=lambda b: (b.day is None, b.day, b.date, b.start, b.end)):
        base = DAYS[b.day] if b.day is not None else (b.date.isoformat() if b.date else "")
        seen[base] = seen.get(base, 0) + 1
        keys.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return keys


def _at(day: dt.date, minutes: int) -> dt.datetime:
    """Local wall-clock time (naive: the round's timezone is applied when rendering);
    24:00 is midnight of the next day."""
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minutes)


def _occurrence_span(
    rnd: CalendarRound, weekday: int, start: int, end: int
) -> tuple[dt.datetime, dt.datetime, tuple[dt.date, ...]] | None:
    """First start and end of a weekly block in the round, and its holidays (EXDATE); None
    when the round has no non-holiday date on that weekday."""
    first = rnd.start_date + dt.timedelta(days=(weekday - rnd.start_date.weekday()) % 7)
    if first > rnd.end_date:
        return None
    holidays = tuple(
        d
        for d in sorted(set(rnd.holidays))
        if first <= d <= rnd.end_date and d.weekday() == weekday
    )
    weeks = (rnd.end_date - first).days // 7 + 1
    if weeks == len(holidays):
        return None
    return _at(first, start), _at(first, end), holidays


def _travel_line(p: Placement, start: int) -> str | None:
    if p.travel_minutes is None or p.travel_mode is None:
        return None
    how = f"{p.travel_minutes} min {MODE_LABELS.get(p.travel_mode, p.travel_mode)}"
    if start - p.travel_minutes < 0:
        return how
    origin = p.origin or "school"
    return f"{how}: leave {origin} by {format_time(start - p.travel_minutes)}"


def _describe(feed: Feed, p: Placement, start: int) -> tuple[str, str]:
    """SUMMARY and DESCRIPTION of a shift, for the feed's audience (minimum data)."""
    kind = KIND_LABELS.get(p.kind, p.kind)
    if feed.audience == "student":
        summary = f"{kind}: {p.title}, {p.employer_name}"
        lines = [f"{kind} at {p.employer_name}: {p.title}"]
        contact = p.employer_name + (f" ({p.employer_contact})" if p.employer_contact else "")
        lines.append(f"Employer contact: {contact}")
        if p.mentor_name:
            lines.append(f"Mentor: {p.mentor_name}")
        travel = _travel_line(p, start)
        if travel:
            lines.append(f"Travel: {travel}")
        if p.required_credentials:
            lines.append(f"Bring: {', '.join(p.required_credentials)}")
        return summary, "\n".join(lines)
    if feed.audience == "employer":
        summary = f"{kind}: {p.title}, {p.student_short}"
        lines = [f"Student: {p.student_short}", f"{kind}: {p.title}"]
        if p.mentor_name:
            lines.append(f"Workplace mentor: {p.mentor_name}")
        return summary, "\n".join(lines)
    summary = f"Mentee shift: {p.student_first}, {p.title}"
    place = p.employer_name + (f", {p.site_address}" if p.site_address else "")
    return summary, "\n".join([f"Student: {p.student_first}", f"{kind}: {p.title}", place])


def feed_events(rnd: CalendarRound, feed: Feed) -> tuple[CalendarEvent, ...]:
    """The events of a feed now, in a stable order (by UID)."""
    events: list[CalendarEvent] = []
    for p in feed.placements:
        location = p.employer_name + (f", {p.site_address}" if p.site_address else "")
        geo = (p.site.lat, p.site.lon) if p.site is not None else None
        blocks = sorted(p.blocks, key=lambda b: (b.day is None, b.day, b.date, b.start, b.end))
        for block, key in zip(blocks, _block_keys(blocks), strict=True):
            summary, description = _describe(feed, p, block.start)
            until: dt.date | None = None
            exdates: tuple[dt.date, ...] = ()
            if block.date is not None:
                start, end = _at(block.date, block.start), _at(block.date, block.end)
            else:
                assert block.day is not None
                span = _occurrence_span(rnd, block.day, block.start, block.end)
                if span is None:
                    continue
                start, end, exdates = span
                until = rnd.end_date
            events.append(
                CalendarEvent(
                    uid=_uid(rnd, feed, p.student, p.slot, key),
                    summary=summary,
                    description=description,
                    location=location,
                    geo=geo,
                    start=start,
                    end=end,
                    until=until,
                    exdates=exdates,
                )
            )
    for m in feed.meetings:
        span = _occurrence_span(rnd, m.day, m.start, m.end)
        if span is None:
            continue
        start, end, exdates = span
        if feed.audience == "student":
            summary = f"Mentor meeting: {m.mentor_name}"
            description = f"Community mentor: {m.mentor_name}\nPlace: {m.place}"
        else:
            summary = f"Mentor meeting: {m.student_first}"
            description = f"Student: {m.student_first}\nPlace: {m.place}"
        events.append(
            CalendarEvent(
                uid=_uid(rnd, feed, m.student, f"mentor-{m.mentor}"),
                summary=summary,
                description=description,
                location=m.place,
                start=start,
                end=end,
                until=rnd.end_date,
                exdates=exdates,
            )
        )
    return tuple(sorted(events, key=lambda e: e.uid))


# --- Change tracking ---------------------------------------------------------------------------


def _round_over(rnd: CalendarRound, now: dt.datetime) -> bool:
    return now.astimezone(ZoneInfo(rnd.timezone)).date() > rnd.end_date


def update_feed(
    rnd: CalendarRound,
    name: str,
    events: Iterable[CalendarEvent],
    before: Mapping[str, EventState],
    *,
    now: dt.datetime,
) -> FeedUpdate:
    """The feed's new event state and calendar, given its events now and its state before.

    An event whose content hash is unchanged keeps its SEQUENCE and modification time; a
    changed one gets SEQUENCE + 1 and `now`; an event no longer there is kept cancelled with
    SEQUENCE + 1 (once: an already cancelled one is left as it was) until the round is over,
    then dropped. `now` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(dt.UTC).replace(microsecond=0)
    state: dict[str, EventState] = {}
    for event in events:
        digest = event.content_hash()
        prev = before.get(event.uid)
        if prev is not None and not prev.cancelled and prev.content_hash == digest:
            state[event.uid] = prev
            continue
        state[event.uid] = EventState(
            sequence=0 if prev is None else prev.sequence + 1,
            content_hash=digest,
            cancelled=False,
            modified=now,
            event=event,
        )
    over = _round_over(rnd, now)
    for uid, prev in before.items():
        if uid in state:
            continue
        if over:
            continue  # the round is over: nothing left that a client could still show
        state[uid] = (
            prev
            if prev.cancelled
            else EventState(
                sequence=prev.sequence + 1,
                content_hash=prev.content_hash,
                cancelled=True,
                modified=now,
                event=prev.event,
            )
        )
    changed = state != dict(before)
    return FeedUpdate(state=state, ical=render_calendar(rnd, name, state), changed=changed)


# --- Rendering ---------------------------------------------------------------------------------


def _vevent(state: EventState, tz: ZoneInfo) -> Event:
    e = state.event
    event = Event()
    event.add("uid", e.uid)
    event.add("dtstamp", state.modified)
    event.add("last-modified", state.modified)
    event.add("sequence", state.sequence)
    event.add("status", "CANCELLED" if state.cancelled else "CONFIRMED")
    event.add("summary", e.summary)
    event.add("dtstart", e.start.replace(tzinfo=tz))
    event.add("dtend", e.end.replace(tzinfo=tz))
    if e.until is not None:
        # RFC 5545: with a TZID on DTSTART, UNTIL is in UTC; the end of the round's last day.
        last = dt.datetime.combine(e.until, dt.time(23, 59, 59), tzinfo=tz)
        event.add("rrule", vRecur(freq="WEEKLY", until=last.astimezone(dt.UTC)))
        if e.exdates:
            event.add("exdate", [dt.datetime.combine(d, e.start.time(), tz) for d in e.exdates])
    if e.location:
        event.add("location", e.location)
    if e.geo is not None:
        event.add("geo", e.geo)
    event.add("description", e.description)
    event.add("transp", "OPAQUE")
    return event


def render_calendar(rnd: CalendarRound, name: str, state: Mapping[str, EventState]) -> bytes:
    """The feed's iCalendar bytes, from its state alone (same state, same bytes)."""
    tz = ZoneInfo(rnd.timezone)
    cal = Calendar()
    cal.add("version", "2.0")
    cal.add("prodid", PRODID)
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    # icalendar types NAME and X- properties as unknown (not escaped): say they are TEXT.
    cal.add("name", vText(name))
    cal.add("x-wr-calname", vText(name))
    cal.add("x-wr-timezone", vText(rnd.timezone))
    cal.add("refresh-interval", vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH))
    for uid in sorted(state, key=lambda u: (state[u].event.start, u)):
        cal.add_component(_vevent(state[uid], tz))
    body = bytes(cal.to_ical())
    # Always the round's zone, even on an empty feed, first of the components: spliced in
    # from its own rendering, which every feed of the round shares (a third of a small
    # feed's rendering time otherwise). Lines of components start with "BEGIN:" only at
    # their own start: property lines start with the property's name, folded ones with a
    # space.
    at = body.index(b"\r\nBEGIN:", len(b"BEGIN:VCALENDAR")) + 2 if state else None
    if at is None:
        at = body.rindex(b"END:VCALENDAR")
    zone = _vtimezone(rnd.timezone, rnd.start_date.year, rnd.end_date.year)
    return body[:at] + zone + body[at:]


@functools.lru_cache(maxsize=64)
def _vtimezone(timezone: str, first_year: int, last_year: int) -> bytes:
    """The round's VTIMEZONE covering the whole years of the round, generated from the tz
    database by icalendar, rendered once per zone and years."""
    return bytes(
        Timezone.from_tzinfo(
            ZoneInfo(timezone),
            tzid=timezone,
            first_date=dt.date(first_year, 1, 1),
            last_date=dt.date(last_year + 1, 1, 1),
        ).to_ical()
    )
