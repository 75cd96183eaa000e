"""Calendar feeds from the database: the rows of one feed, its stored event state, its bytes.

`scheduler.calendars` is pure; this module is its caller. `calendar_data` reads the rows a
calendar needs into `calendars.RoundCalendarData`, for ONE person (a student's feed at 100,000
students reads that student's placement and meeting by their unique keys, never the round) or
for the whole round (`wbl round calendars`), through the same code, so a file written by the
command line and a feed served over HTTP are the same bytes.

What is on a feed: once the round is published (or closed), the chosen run's placements whose
status is published or confirmed, and its community-mentor meetings; before that every feed
exists, empty, with its name (the same rules as `calendars.calendar_data_from_documents`).

`sync_feed` keeps `FeedState` (one row per feed) up to date with `calendars.update_feed`: it
builds the feed's events now and hashes them with the feed's name and whether the round is
over (`source_hash`). While that digest equals the stored one, nothing a client could see has
changed and the stored calendar is served as it is (the cache lasts exactly until the feed's
placements change: a move, a publish, a declined placement, an edit of an address). Otherwise
the state is updated (changed events get a higher SEQUENCE, removed ones are kept cancelled)
and the calendar rendered again; `modified_at` moves only when the bytes change.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from models import (
    Assignment,
    AssignmentStatus,
    Employer,
    FeedState,
    LinkKind,
    Mentor,
    Mentorship,
    Opportunity,
    Round,
    RoundStatus,
    School,
    Slot,
    Student,
    utcnow,
)
from scheduler.access import LinkHolder
from scheduler.calendars import (
    CalendarRound,
    EventState,
    Feed,
    MentorMeeting,
    Person,
    Placement,
    RoundCalendarData,
    feed_events,
    first_name,
    round_feeds,
    short_name,
    update_feed,
)
from solver.problem import DAYS, Location, parse_blocks, parse_time

__all__ = [
    "FeedFile",
    "calendar_data",
    "calendar_round",
    "feed_key",
    "holder_feed",
    "round_feed_files",
    "sync_feed",
]

# Statuses of the chosen run's placements that are on calendars (declined ones are not).
_ON_CALENDARS: Final = (AssignmentStatus.published, AssignmentStatus.confirmed)
_VISIBLE_ROUNDS: Final = (RoundStatus.published, RoundStatus.closed)
# Feeds whose stored state is read per query when the whole round's are written.
_CHUNK: Final = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedFile:
    """A feed as served: its key, its calendar bytes, their ETag (a digest of the bytes) and
    when they last changed (Last-Modified, whole seconds, UTC)."""

    key: str
    name: str
    ical: bytes
    etag: str
    modified: dt.datetime


def feed_key(kind: str, external_id: str) -> str:
    """The key of a person's feed (`calendars.Feed.key`, `FeedState.feed_key`)."""
    return f"{kind}:{external_id}"


def calendar_round(rnd: Round) -> CalendarRound:
    """The round as calendars need it."""
    return CalendarRound(
        id=rnd.external_id,
        name=rnd.name,
        start_date=rnd.start_date,
        end_date=rnd.end_date,
        timezone=rnd.timezone,
        holidays=tuple(sorted(dt.date.fromisoformat(d) for d in rnd.holidays)),
    )


# --- Rows -> RoundCalendarData -----------------------------------------------------------------


@functools.cache
def _people_statement(kind: str, scoped: bool) -> Select[*tuple[Any, ...]]:
    """The persons of one kind: all of the round (`round_id`), or one (`row_id`). Built once:
    a prepared statement's cache key is memoized, which a feed request would pay otherwise."""
    if kind == "mentor":
        workplace = aliased(Employer)
        stmt: Select[*tuple[Any, ...]] = (
            select(Mentor.external_id, Mentor.name, workplace.external_id)
            .outerjoin(workplace, workplace.id == Mentor.employer_id)
            .where(Mentor.round_id == bindparam("round_id"))
            .order_by(Mentor.id)
        )
        model: Any = Mentor
    else:
        model = Student if kind == "student" else Employer
        stmt = (
            select(model.external_id, model.name)
            .where(model.round_id == bindparam("round_id"))
            .order_by(model.id)
        )
    return stmt.where(model.id == bindparam("row_id")) if scoped else stmt


def _people(
    session: Session, rnd: Round, kind: str | None, row_id: int | None
) -> tuple[tuple[Person, ...], tuple[Person, ...], tuple[Person, ...]]:
    """Students, employers and mentors whose feeds are wanted: one of them, or all."""
    params = {"round_id": rnd.id, "row_id": row_id}

    def rows(of: str) -> list[Any]:
        if kind not in (None, of):
            return []
        return list(session.execute(_people_statement(of, kind is not None), params))

    students = tuple(Person(id=r[0], name=short_name(r[1])) for r in rows("student"))
    employers = tuple(Person(id=r[0], name=r[1]) for r in rows("employer"))
    mentors = tuple(Person(id=r[0], name=r[1], employer=r[2]) for r in rows("mentor"))
    return students, employers, mentors


@functools.cache
def _placements_statement(kind: str | None) -> Select[*tuple[Any, ...]]:
    """The run's placements on calendars (`run_id`), of one person (`row_id`) or all."""
    stmt: Select[*tuple[Any, ...]] = (
        select(
            Assignment.student_id,
            Assignment.travel_mode,
            Assignment.travel_minutes,
            Student.external_id,
            Student.name,
            Student.school_id,
            Opportunity.external_id,
            Opportunity.title,
            Opportunity.kind,
            Opportunity.address,
            Opportunity.lat,
            Opportunity.lon,
            Opportunity.required_credentials,
            Employer.external_id,
            Employer.name,
            Employer.contact_email,
            Slot.external_id,
            Slot.blocks,
            Mentor.external_id,
            Mentor.name,
        )
        .join(Student, Student.id == Assignment.student_id)
        .join(Opportunity, Opportunity.id == Assignment.opportunity_id)
        .join(Employer, Employer.id == Opportunity.employer_id)
        .join(Slot, Slot.id == Assignment.slot_id)
        .outerjoin(Mentor, Mentor.id == Assignment.mentor_id)
        .where(Assignment.status.in_(_ON_CALENDARS))
    )
    if kind is None:
        return stmt.where(Assignment.run_id == bindparam("run_id"))
    # One person's: the run's id in an expression no index serves, so that a planner without
    # statistics (SQLite's) starts from the person's own index instead of scanning the run
    # through (run_id, status, ...): at 100,000 students that was an employer's feed 6x slower.
    stmt = stmt.where(_unindexed(Assignment.run_id) == bindparam("run_id"))
    if kind == "student":
        return stmt.where(Assignment.student_id == bindparam("row_id"))
    if kind == "employer":
        return stmt.where(
            Assignment.opportunity_id.in_(
                select(Opportunity.id).where(Opportunity.employer_id == bindparam("row_id"))
            )
        )
    return stmt.where(Assignment.mentor_id == bindparam("row_id"))


def _unindexed(column: Any) -> Any:
    """The column in an expression no index serves (see `_placements_statement`)."""
    return column + 0


def _site(employer_name: str, address: str | None) -> str:
    return f"{employer_name}, {address}" if address else employer_name


def calendar_data(
    session: Session, rnd: Round, *, kind: str | None = None, row_id: int | None = None
) -> RoundCalendarData:
    """The calendars' input read from the database: for the one person (`kind` and the row's
    `row_id`) or, with neither, for every feed of the round. A person's feed reads only their
    rows, through indexes (a student's placement by (run, student), an employer's by its
    opportunities, a mentor's by the mentor)."""
    if (kind is None) != (row_id is None):
        raise ValueError("give both kind and row_id, or neither")
    if kind is not None:
        LinkKind(kind)  # ValueError for anything else
    students, employers, mentors = _people(session, rnd, kind, row_id)
    data = RoundCalendarData(
        round=calendar_round(rnd), students=students, employers=employers, mentors=mentors
    )
    run_id = rnd.chosen_run_id
    if rnd.status not in _VISIBLE_ROUNDS or run_id is None:
        return data

    placements: list[Placement] = []
    sites: dict[int, str] = {}
    params = {"run_id": run_id, "row_id": row_id}
    for r in session.execute(_placements_statement(kind), params):
        sites[r[0]] = _site(r[14], r[9])
        placements.append(
            Placement(
                student=r[3],
                student_short=short_name(r[4]),
                student_first=first_name(r[4]),
                opportunity=r[6],
                title=r[7],
                kind=str(r[8]),
                employer=r[13],
                employer_name=r[14],
                employer_contact=r[15],
                site_address=r[9],
                site=Location(lat=r[10], lon=r[11]),
                slot=r[16],
                blocks=parse_blocks(r[17]),
                travel_mode=str(r[1]),
                travel_minutes=r[2],
                origin="school" if r[5] is not None and not rnd.summer else "home",
                mentor=r[18],
                mentor_name=r[19],
                required_credentials=tuple(r[12]),
            )
        )
    meetings: tuple[MentorMeeting, ...] = ()
    if kind != "employer":
        meetings = _meetings(session, rnd, run_id, kind, row_id, sites)
    return RoundCalendarData(
        round=data.round,
        students=students,
        employers=employers,
        mentors=mentors,
        placements=tuple(placements),
        meetings=meetings,
    )


@functools.cache
def _meetings_statement(kind: str | None) -> Select[*tuple[Any, ...]]:
    """The run's community-mentor meetings (`run_id`) of one person (`row_id`) or all."""
    query: Select[*tuple[Any, ...]] = (
        select(
            Mentorship.student_id,
            Mentorship.day,
            Mentorship.start_time,
            Mentorship.end_time,
            Mentor.external_id,
            Mentor.name,
            Mentor.virtual,
            Student.external_id,
            Student.name,
            School.name,
            School.address,
        )
        .join(Mentor, Mentor.id == Mentorship.mentor_id)
        .join(Student, Student.id == Mentorship.student_id)
        .outerjoin(School, School.id == Student.school_id)
    )
    if kind == "student":
        # (run_id, student_id) is the unique key: one index lookup.
        query = query.where(
            Mentorship.run_id == bindparam("run_id"),
            Mentorship.student_id == bindparam("row_id"),
        )
    elif kind == "mentor":
        query = query.where(
            _unindexed(Mentorship.run_id) == bindparam("run_id"),
            Mentorship.mentor_id == bindparam("row_id"),
        )
    else:
        query = query.where(Mentorship.run_id == bindparam("run_id"))
    return query


def _meetings(
    session: Session,
    rnd: Round,
    run_id: int,
    kind: str | None,
    row_id: int | None,
    sites: dict[int, str],
) -> tuple[MentorMeeting, ...]:
    """The run's community-mentor meetings of the feed, each with its place: virtual, the
    student's placement site, else their school, else to be arranged."""
    rows = session.execute(_meetings_statement(kind), {"run_id": run_id, "row_id": row_id}).all()
    if kind == "mentor":
        # A community mentor's mentees are on no placement of this feed: read their sites.
        mentees = [r[0] for r in rows if r[0] not in sites]
        if mentees:
            for student_id, name, address in session.execute(
                select(Assignment.student_id, Employer.name, Opportunity.address)
                .join(Opportunity, Opportunity.id == Assignment.opportunity_id)
                .join(Employer, Employer.id == Opportunity.employer_id)
                .where(
                    _unindexed(Assignment.run_id) == run_id,
                    Assignment.student_id.in_(mentees),
                    Assignment.status.in_(_ON_CALENDARS),
                )
            ):
                sites[student_id] = _site(name, address)
    meetings: list[MentorMeeting] = []
    for r in rows:
        if r[6]:
            place = "Virtual"
        elif r[0] in sites:
            place = sites[r[0]]
        elif r[9] is not None:
            place = ", ".join(p for p in (r[9], r[10]) if p)
        else:
            place = "To be arranged with the mentor"
        meetings.append(
            MentorMeeting(
                mentor=r[4],
                mentor_name=r[5],
                student=r[7],
                student_first=first_name(r[8]),
                day=DAYS.index(str(r[1])),
                start=parse_time(r[2]),
                end=parse_time(r[3]),
                place=place,
            )
        )
    return tuple(meetings)


# --- Stored state -> bytes ---------------------------------------------------------------------


def _round_over(rnd: CalendarRound, now: dt.datetime) -> bool:
    return now.astimezone(ZoneInfo(rnd.timezone)).date() > rnd.end_date


def _etag(ical: bytes) -> str:
    return hashlib.sha256(ical).hexdigest()[:40]


def _file(row: FeedState, name: str) -> FeedFile:
    return FeedFile(
        key=row.feed_key, name=name, ical=row.ical, etag=_etag(row.ical), modified=row.modified_at
    )


def sync_feed(
    session: Session,
    rnd: Round,
    cal_round: CalendarRound,
    feed: Feed,
    row: FeedState | None,
    *,
    now: dt.datetime,
    concurrent: bool = True,
) -> FeedFile:
    """The feed's calendar, its stored state updated when what it shows changed (`row` is its
    stored state, None when it has none yet). Flushes; the caller commits. `concurrent`: a new
    state is inserted in a savepoint, so that a request that stored it first wins (a bulk
    writer holding the round's transaction turns it off and flushes in batches)."""
    events = feed_events(cal_round, feed)
    over = _round_over(cal_round, now)
    source = hashlib.sha256(
        json.dumps(
            [feed.name, over, [[e.uid, e.content_hash()] for e in events]], ensure_ascii=False
        ).encode()
    ).hexdigest()
    if row is not None and row.source_hash == source:
        return _file(row, feed.name)
    before = (
        {uid: EventState.from_dict(raw) for uid, raw in row.events.items()}
        if row is not None
        else {}
    )
    update = update_feed(cal_round, feed.name, events, before, now=now)
    stamp = now.astimezone(dt.UTC).replace(microsecond=0)
    stored = {uid: state.to_dict() for uid, state in update.state.items()}
    if row is None:
        row = FeedState(
            round_id=rnd.id,
            feed_key=feed.key,
            events=stored,
            source_hash=source,
            ical=update.ical,
            modified_at=stamp,
        )
        if not concurrent:
            session.add(row)
            return _file(row, feed.name)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # Another request stored this feed first: theirs is as current as ours.
            found = _stored(session, rnd, [feed.key]).get(feed.key)
            if found is None:
                raise
            return sync_feed(session, rnd, cal_round, feed, found, now=now)
        return _file(row, feed.name)
    if row.ical != update.ical:
        row.modified_at = stamp
        row.ical = update.ical
    row.events = stored
    row.source_hash = source
    if concurrent:
        session.flush()
    return _file(row, feed.name)


_STORED: Final = select(FeedState).where(
    FeedState.round_id == bindparam("round_id"),
    FeedState.feed_key.in_(bindparam("keys", expanding=True)),
)


def _stored(session: Session, rnd: Round, keys: Sequence[str]) -> dict[str, FeedState]:
    rows = session.scalars(_STORED, {"round_id": rnd.id, "keys": list(keys)})
    return {row.feed_key: row for row in rows}


def holder_feed(
    session: Session, holder: LinkHolder, *, now: dt.datetime | None = None
) -> FeedFile:
    """The feed of a link's holder (`links.holder_for_token`), its state kept up to date."""
    rnd = session.get_one(Round, holder.round_id)
    data = calendar_data(session, rnd, kind=holder.kind, row_id=holder.row_id)
    (feed,) = round_feeds(data)
    row = _stored(session, rnd, [feed.key]).get(feed.key)
    return sync_feed(session, rnd, data.round, feed, row, now=now or utcnow())


def round_feed_files(
    session: Session,
    rnd: Round,
    *,
    kinds: tuple[str, ...] = ("student", "employer", "mentor"),
    now: dt.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[Feed, FeedFile]]:
    """Every feed of the round with its calendar, as served (state updated the same way),
    students then employers then mentors. The round's rows are read once; stored states are
    read and written a chunk of feeds at a time, and released after it."""
    moment = now or utcnow()
    data = calendar_data(session, rnd)
    feeds = [f for f in round_feeds(data) if f.audience in kinds]
    for start in range(0, len(feeds), _CHUNK):
        chunk = feeds[start : start + _CHUNK]
        stored = _stored(session, rnd, [f.key for f in chunk])
        for feed in chunk:
            yield (
                feed,
                sync_feed(
                    session,
                    rnd,
                    data.round,
                    feed,
                    stored.get(feed.key),
                    now=moment,
                    concurrent=False,
                ),
            )
        session.flush()
        # Written and new states alike: nothing of this chunk stays in the session.
        for obj in [o for o in session if isinstance(o, FeedState)]:
            session.expunge(obj)
        if progress is not None:
            progress(min(start + _CHUNK, len(feeds)), len(feeds))
