"""Feeds from the database: the same events as the documents give, one person's rows only,
nothing before publishing, change tracking kept in feed_states, and the cache that lasts until
what a feed shows changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import icalendar
import pytest
from ical.calendar_stream import IcsCalendarStream
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

import scheduler.actions as actions
from models import Assignment, Employer, FeedState, Mentor, Program, Round, Slot, Student
from scheduler import feeds, links
from scheduler.access import LinkHolder
from scheduler.calendars import calendar_data_from_documents, feed_events, round_feeds
from scheduler.generate import generate_round
from scheduler.rounds import export_round, solution_from_run
from tests.scheduler.published_rounds import SECRET, published_round

NOW = dt.datetime(2026, 9, 1, 12, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(links.ENV_VAR, SECRET.decode())


def _vevents(ical: bytes) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(ical).walk("VEVENT"))


def _placed(session: Session, rnd: Round) -> Assignment:
    a = session.scalars(
        select(Assignment).where(Assignment.run_id == rnd.chosen_run_id).order_by(Assignment.id)
    ).first()
    assert a is not None
    return a


@pytest.mark.parametrize("summer", [False, True], ids=["fall", "summer"])
def test_database_feeds_equal_document_feeds(
    session: Session, program: Program, summer: bool
) -> None:
    """Every feed built from rows (whole round, and each person alone) has exactly the events
    calendar_data_from_documents gives for the round's documents."""
    rnd = published_round(session, program, generate_round(40, seed=5, summer=summer))
    assert rnd.chosen_run is not None
    from_docs = calendar_data_from_documents(
        export_round(session, rnd), solution_from_run(session, rnd.chosen_run)
    )
    expected = {f.key: feed_events(from_docs.round, f) for f in round_feeds(from_docs)}
    whole = feeds.calendar_data(session, rnd)
    assert {f.key: feed_events(whole.round, f) for f in round_feeds(whole)} == expected
    assert sum(len(v) for v in expected.values()) > 40
    people: tuple[tuple[str, type[Student] | type[Employer] | type[Mentor]], ...] = (
        ("student", Student),
        ("employer", Employer),
        ("mentor", Mentor),
    )
    for kind, model in people:
        for row_id, ext in session.execute(
            select(model.id, model.external_id).where(model.round_id == rnd.id)
        ):
            one = feeds.calendar_data(session, rnd, kind=kind, row_id=row_id)
            (feed,) = round_feeds(one)
            assert feed.key == f"{kind}:{ext}"
            assert feed_events(one.round, feed) == expected[feed.key]


def test_feed_before_publishing_is_valid_empty_and_named(
    session: Session, program: Program
) -> None:
    """Before publishing a feed parses, has its name and no event."""
    rnd = published_round(session, program, publish=False)
    links.ensure_links(session, rnd, secret=SECRET)
    student = session.scalars(select(Student).where(Student.round_id == rnd.id)).first()
    assert student is not None
    served = feeds.holder_feed(
        session, LinkHolder(kind="student", round_id=rnd.id, row_id=student.id), now=NOW
    )
    cal = icalendar.Calendar.from_ical(served.ical)
    assert str(cal["X-WR-CALNAME"]).endswith(
        f"placement: {student.name.split()[0]} {student.name.split()[-1][0]}."
    )
    assert _vevents(served.ical) == []
    IcsCalendarStream.calendar_from_ics(served.ical.decode())


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_students_feed_reads_only_their_rows(
    session: Session, program: Program, engine: Engine
) -> None:
    """A student's feed runs a fixed handful of statements, none reading the whole round, and
    serving it again unchanged writes nothing."""
    rnd = published_round(session, program)
    holder_row = _placed(session, rnd).student_id
    holder = LinkHolder(kind="student", round_id=rnd.id, row_id=holder_row)
    session.commit()
    with _statements(engine) as first:
        feeds.holder_feed(session, holder, now=NOW)
        session.commit()
    with _statements(engine) as again:
        feeds.holder_feed(session, holder, now=NOW + dt.timedelta(hours=1))
        session.commit()
    assert len(first) <= 8, first
    assert not any(s.lstrip().upper().startswith(("INSERT", "UPDATE")) for s in again), again
    assert len(again) <= 7, again


def test_cache_lasts_until_the_feed_changes(session: Session, program: Program) -> None:
    """Unchanged: same bytes, same ETag, same Last-Modified at a later hour. A change of what
    the feed shows (the employer's address) gives new bytes, a higher SEQUENCE and a new time."""
    rnd = published_round(session, program)
    a = _placed(session, rnd)
    holder = LinkHolder(kind="student", round_id=rnd.id, row_id=a.student_id)
    first = feeds.holder_feed(session, holder, now=NOW)
    later = feeds.holder_feed(session, holder, now=NOW + dt.timedelta(days=2))
    assert (later.ical, later.etag, later.modified) == (first.ical, first.etag, first.modified)
    a.opportunity.address = "1 New Street; Suite \\ 2"
    session.flush()
    changed = feeds.holder_feed(session, holder, now=NOW + dt.timedelta(days=3))
    assert changed.etag != first.etag
    assert changed.modified == NOW + dt.timedelta(days=3)
    assert {int(e["SEQUENCE"]) for e in _vevents(changed.ical)} == {1}
    assert all("1 New Street; Suite \\ 2" in str(e["LOCATION"]) for e in _vevents(changed.ical))


def test_a_move_after_publishing_cancels_the_old_events(session: Session, program: Program) -> None:
    """After a move and a new publish, the student's and the old employer's feeds keep the old
    events as CANCELLED with SEQUENCE + 1; untouched events keep their UID and SEQUENCE."""
    rnd = published_round(session, program)
    rows = session.scalars(
        select(Assignment).where(Assignment.run_id == rnd.chosen_run_id).order_by(Assignment.id)
    ).all()
    # A student and another free slot whose opportunity the actions accept for them.
    moved: tuple[Assignment, Slot] | None = None
    for a in rows:
        for slot in session.scalars(
            select(Slot).where(Slot.round_id == rnd.id, Slot.id != a.slot_id).order_by(Slot.id)
        ):
            try:
                with session.begin_nested() as nested:
                    actions.move(session, rnd, a.student, slot, user=None)
                    nested.rollback()
            except actions.ActionRefused:
                continue
            moved = (a, slot)
            break
        if moved:
            break
    assert moved is not None, "no allowed move in the generated round"
    a, slot = moved
    student = LinkHolder(kind="student", round_id=rnd.id, row_id=a.student_id)
    employer = LinkHolder(kind="employer", round_id=rnd.id, row_id=a.opportunity.employer_id)
    before_student = feeds.holder_feed(session, student, now=NOW)
    before_employer = feeds.holder_feed(session, employer, now=NOW)
    old = {str(e["UID"]): int(e["SEQUENCE"]) for e in _vevents(before_employer.ical)}
    old_student = {str(e["UID"]) for e in _vevents(before_student.ical)}
    assert old_student

    actions.move(session, rnd, a.student, slot, user=None)
    actions.publish(session, rnd, user=None)
    after = feeds.holder_feed(session, student, now=NOW + dt.timedelta(days=1))
    events = {str(e["UID"]): e for e in _vevents(after.ical)}
    for uid in old_student:
        if uid in events and str(events[uid]["STATUS"]) == "CANCELLED":
            assert int(events[uid]["SEQUENCE"]) == 1
    cancelled = [u for u, e in events.items() if str(e["STATUS"]) == "CANCELLED"]
    assert cancelled
    assert set(cancelled) <= old_student
    assert any(str(e["STATUS"]) == "CONFIRMED" for e in events.values())

    after_employer = feeds.holder_feed(session, employer, now=NOW + dt.timedelta(days=1))
    now_events = {str(e["UID"]): e for e in _vevents(after_employer.ical)}
    for uid, sequence in old.items():
        e = now_events[uid]
        if (
            f"/{a.student.external_id}/" in uid
            and a.opportunity.employer_id != slot.opportunity.employer_id
        ):
            assert (str(e["STATUS"]), int(e["SEQUENCE"])) == ("CANCELLED", sequence + 1)
        elif f"/{a.student.external_id}/" not in uid:
            assert (str(e["STATUS"]), int(e["SEQUENCE"])) == ("CONFIRMED", sequence)
    stored = session.scalars(select(FeedState).where(FeedState.round_id == rnd.id)).all()
    assert {s.feed_key for s in stored} >= {f"student:{a.student.external_id}"}
