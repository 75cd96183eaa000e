"""Calendars (`scheduler.calendars`): what each feed holds, its recurrence, privacy and changes.

Real rounds come from `generate_round` + `solve` (no database): the fall round runs in
America/Chicago across the end of daylight saving time (2026-11-01) and over Thanksgiving,
the summer round over July 4th observed. The expected occurrences are derived here from the
documents, independently of the module, and compared with what `recurring-ical-events`
expands from each feed; every calendar is also parsed by the strict `ical` package.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from ical.calendar_stream import IcsCalendarStream

from scheduler.calendars import (
    PRODID,
    EventState,
    Feed,
    FeedUpdate,
    calendar_data_from_documents,
    feed_events,
    first_name,
    render_calendar,
    round_feeds,
    short_name,
    update_feed,
)
from scheduler.generate import generate_round
from solver import solve
from solver.problem import problem_from_dict
from solver.solution import SolveOptions

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PUBLISHED = dt.datetime(2026, 9, 1, 12, 0, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 10, 20, 9, 30, tzinfo=dt.UTC)


def _published(solution: dict[str, Any]) -> dict[str, Any]:
    """The solution as a coordinator publishes it: every assignment's status `published`
    (the solver writes `proposed` or `pinned`, which are on no calendar)."""
    for a in solution["assignments"]:
        a["status"] = "published"
    return solution


def _solved(students: int, seed: int, *, summer: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    problem = generate_round(students, seed=seed, summer=summer)
    options = SolveOptions(time_limit=10, workers=1, deterministic=True)
    solution = solve(problem_from_dict(problem), options).to_dict()
    assert solution["assignments"], "the generated round should place someone"
    return problem, _published(solution)


@pytest.fixture(scope="module")
def fall() -> tuple[dict[str, Any], dict[str, Any]]:
    """A generated fall round (America/Chicago, across the DST change) and its solution."""
    return _solved(120, 1, summer=False)


@pytest.fixture(scope="module")
def summer() -> tuple[dict[str, Any], dict[str, Any]]:
    """A generated summer round and its solution."""
    return _solved(120, 2, summer=True)


@pytest.fixture(params=["fall", "summer"])
def solved(request: pytest.FixtureRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each generated round in turn."""
    return request.getfixturevalue(request.param)


def _render(
    problem: dict[str, Any], solution: dict[str, Any] | None, **kw: Any
) -> Iterator[tuple[Feed, FeedUpdate]]:
    data = calendar_data_from_documents(problem, solution, **kw)
    for feed in round_feeds(data):
        events = feed_events(data.round, feed)
        yield feed, update_feed(data.round, feed.name, events, {}, now=PUBLISHED)


def _feeds(
    problem: dict[str, Any], solution: dict[str, Any] | None, **kw: Any
) -> dict[str, FeedUpdate]:
    return {feed.key: update for feed, update in _render(problem, solution, **kw)}


def _vevents(ics: bytes) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(ics).walk("VEVENT"))


def _expected(
    problem: dict[str, Any], solution: dict[str, Any], student: str
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Every dated occurrence of the student's shifts and meetings, from the documents alone."""
    rnd = problem["round"]
    first = dt.date.fromisoformat(rnd["start_date"])
    last = dt.date.fromisoformat(rnd["end_date"])
    holidays = {dt.date.fromisoformat(d) for d in rnd.get("holidays", ())}
    days = [first + dt.timedelta(n) for n in range((last - first).days + 1)]
    school_days = [d for d in days if d not in holidays]
    slots = {sl["id"]: sl for o in problem["opportunities"] for sl in o["slots"]}

    def at(day: dt.date, hhmm: str) -> dt.datetime:
        hours, minutes = map(int, hhmm.split(":"))
        return dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=hours, minutes=minutes)

    out: list[tuple[dt.datetime, dt.datetime]] = []
    for a in solution["assignments"]:
        if a["student"] != student:
            continue
        for b in slots[a["slot"]]["blocks"]:
            if "date" in b:
                day = dt.date.fromisoformat(b["date"])
                out.append((at(day, b["start"]), at(day, b["end"])))
            else:
                out.extend(
                    (at(d, b["start"]), at(d, b["end"]))
                    for d in school_days
                    if d.weekday() == DAYS.index(b["day"])
                )
    for m in solution["mentorships"]:
        if m["student"] == student:
            out.extend(
                (at(d, m["start"]), at(d, m["end"]))
                for d in school_days
                if d.weekday() == DAYS.index(m["day"])
            )
    return sorted(out)


def _expanded(ics: bytes, problem: dict[str, Any]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The feed's occurrences as `recurring-ical-events` expands them, in local wall time."""
    rnd = problem["round"]
    tz = ZoneInfo(rnd["timezone"])
    cal = icalendar.Calendar.from_ical(ics)
    first = dt.date.fromisoformat(rnd["start_date"]) - dt.timedelta(days=7)
    last = dt.date.fromisoformat(rnd["end_date"]) + dt.timedelta(days=60)
    out = []
    for occ in recurring_ical_events.of(cal).between(first, last):
        start, end = occ["DTSTART"].dt, occ["DTEND"].dt
        assert str(start.tzinfo) == rnd["timezone"], "times carry the round's TZID"
        out.append(
            (start.astimezone(tz).replace(tzinfo=None), end.astimezone(tz).replace(tzinfo=None))
        )
    return sorted(out)


def _expanded_strict(ics: bytes, problem: dict[str, Any]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The feed's occurrences as the strict `ical` package's timeline expands them."""
    tz = ZoneInfo(problem["round"]["timezone"])
    cal = IcsCalendarStream.calendar_from_ics(ics.decode())
    return sorted(
        (e.dtstart.astimezone(tz).replace(tzinfo=None), e.dtend.astimezone(tz).replace(tzinfo=None))
        for e in cal.timeline
    )


# --- Validity and calendar properties ----------------------------------------------------------


def test_every_feed_parses_strictly(solved: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Every feed of a round parses with the strict `ical` package and with `icalendar`."""
    problem, solution = solved
    feeds = _feeds(problem, solution)
    assert feeds
    for key, update in feeds.items():
        strict = IcsCalendarStream.calendar_from_ics(update.ical.decode())
        lenient = icalendar.Calendar.from_ical(update.ical)
        assert len(strict.events) == len(list(lenient.walk("VEVENT"))), key


def test_calendar_properties(fall: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """A feed carries VERSION, PRODID, CALSCALE, METHOD, NAME, X-WR-CALNAME, X-WR-TIMEZONE,
    REFRESH-INTERVAL and X-PUBLISHED-TTL of four hours, and the round's VTIMEZONE."""
    problem, solution = fall
    student = next(a["student"] for a in solution["assignments"])
    name = next(s["name"] for s in problem["students"] if s["id"] == student)
    ics = _feeds(problem, solution)[f"student:{student}"].ical
    cal = icalendar.Calendar.from_ical(ics)
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]) == PRODID
    assert str(cal["CALSCALE"]) == "GREGORIAN"
    assert str(cal["METHOD"]) == "PUBLISH"
    expected_name = f"Fall 2026 placement: {short_name(name)}"
    assert str(cal["NAME"]) == expected_name
    assert str(cal["X-WR-CALNAME"]) == expected_name
    assert str(cal["X-WR-TIMEZONE"]) == "America/Chicago"
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT4H\r\n" in ics
    assert b"\r\nX-PUBLISHED-TTL:PT4H\r\n" in ics
    (tz,) = cal.walk("VTIMEZONE")
    assert str(tz["TZID"]) == "America/Chicago"
    # Both sides of the change the round crosses are described.
    assert {c["TZOFFSETTO"].to_ical() for c in tz.subcomponents} >= {"-0500", "-0600"}


def test_unpublished_feeds_are_valid_and_empty(fall: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Before the round is published every feed exists, is valid, has its name and no event."""
    problem, solution = fall
    feeds = _feeds(problem, solution, published=False)
    people = len(problem["students"]) + len(problem["employers"]) + len(problem["mentors"])
    assert len(feeds) == people
    for key, update in feeds.items():
        strict = IcsCalendarStream.calendar_from_ics(update.ical.decode())
        assert strict.events == [], key
        assert "X-WR-CALNAME" in icalendar.Calendar.from_ical(update.ical)
        assert update.state == {}


def test_declined_and_unpublished_placements_are_not_on_calendars(
    fall: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Only published and confirmed placements are on calendars; declined or proposed are not."""
    problem, solution = fall
    doc = copy.deepcopy(solution)
    statuses = ["published", "confirmed", "declined", "proposed"]
    for i, a in enumerate(doc["assignments"]):
        a["status"] = statuses[i % 4]
    data = calendar_data_from_documents(problem, doc)
    on = {(p.student, p.slot) for p in data.placements}
    want = {(a["student"], a["slot"]) for a in doc["assignments"] if a["status"] in statuses[:2]}
    assert on == want
    assert len(want) < len(doc["assignments"])


def test_a_proposed_placement_is_on_no_calendar(
    fall: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Issue 10's rule: an assignment whose status is `proposed` (as the solver writes it) is
    on no feed, neither the student's, the employer's nor its workplace mentor's."""
    problem, solution = fall
    doc = copy.deepcopy(solution)
    a = next(a for a in doc["assignments"] if a.get("mentor"))
    a["status"] = "proposed"
    data = calendar_data_from_documents(problem, doc)
    assert (a["student"], a["slot"]) not in {(p.student, p.slot) for p in data.placements}
    assert len(data.placements) == len(doc["assignments"]) - 1
    shift = f"/{quote(a['student'], safe='-_.~')}/{quote(a['slot'], safe='-_.~')}/"
    for feed in round_feeds(data):
        assert all(p.student != a["student"] for p in feed.placements), feed.key
        assert all(shift not in e.uid for e in feed_events(data.round, feed)), feed.key
    # Published, the same placement is on the student's, employer's and mentor's feeds.
    published = calendar_data_from_documents(problem, solution)
    owners = {
        f.key
        for f in round_feeds(published)
        for e in feed_events(published.round, f)
        if shift in e.uid
    }
    employer = next(o["employer"] for o in problem["opportunities"] if o["id"] == a["opportunity"])
    assert owners == {f"student:{a['student']}", f"employer:{employer}", f"mentor:{a['mentor']}"}
    # The solver's own first answer: every placement proposed or pinned, none on a calendar.
    options = SolveOptions(time_limit=10, workers=1, deterministic=True)
    raw = solve(problem_from_dict(problem), options).to_dict()
    assert {x["status"] for x in raw["assignments"]} <= {"proposed", "pinned"}
    assert calendar_data_from_documents(problem, raw).placements == ()


# --- Recurrence, holidays, daylight saving time ------------------------------------------------


def test_student_feed_expands_to_the_solution(
    solved: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Each student's feed expands to exactly the dated occurrences derived from the solution:
    every weekly block on every round date of its weekday, holidays excluded, dated blocks once,
    community-mentor meetings weekly, at the same wall-clock time across the DST change."""
    problem, solution = solved
    feeds = _feeds(problem, solution)
    checked = 0
    for s in problem["students"]:
        expected = _expected(problem, solution, s["id"])
        ics = feeds[f"student:{s['id']}"].ical
        assert _expanded(ics, problem) == expected, s["id"]
        assert _expanded_strict(ics, problem) == expected, s["id"]
        checked += bool(expected)
    assert checked >= len(solution["assignments"])


def test_weekly_block_is_one_recurring_event(fall: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """A weekly block is one VEVENT starting on the round's first date with its weekday,
    RRULE weekly UNTIL the round's last day in UTC; a dated block is a single event."""
    problem, solution = fall
    rnd = problem["round"]
    tz = ZoneInfo(rnd["timezone"])
    start = dt.date.fromisoformat(rnd["start_date"])
    last = dt.date.fromisoformat(rnd["end_date"])
    until = dt.datetime.combine(last, dt.time(23, 59, 59), tz).astimezone(dt.UTC)
    slots = {sl["id"]: sl for o in problem["opportunities"] for sl in o["slots"]}
    feeds = _feeds(problem, solution)
    weekly = dated = 0
    for a in solution["assignments"]:
        events = _vevents(feeds[f"student:{a['student']}"].ical)
        blocks = slots[a["slot"]]["blocks"]
        shifts = [e for e in events if "/mentor-" not in str(e["UID"])]
        assert len(shifts) == len(blocks)
        for e in shifts:
            first = e["DTSTART"].dt
            if "RRULE" in e:
                weekly += 1
                rule = e["RRULE"]
                assert rule["FREQ"] == ["WEEKLY"]
                assert rule["UNTIL"] == [until]
                assert rule["UNTIL"][0].utcoffset() == dt.timedelta(0)
                assert b"Z" in rule.to_ical().split(b"UNTIL=")[1]
                assert start <= first.date() < start + dt.timedelta(days=7)
            else:
                dated += 1
                assert first.date().isoformat() in {b.get("date") for b in blocks}
    assert weekly
    assert dated


def test_holidays_are_exdates(fall: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Every holiday on a weekly event's weekday is an EXDATE of it, at the event's time."""
    problem, solution = fall
    holidays = {dt.date.fromisoformat(d) for d in problem["round"]["holidays"]}
    thanksgiving = dt.date(2026, 11, 26)
    assert thanksgiving in holidays
    seen_thursday = False
    for update in _feeds(problem, solution).values():
        for e in _vevents(update.ical):
            if "RRULE" not in e:
                continue
            start = e["DTSTART"].dt
            exdates = [d.dt for x in _as_list(e.get("EXDATE")) for d in x.dts]
            assert {d.date() for d in exdates} == {
                h for h in holidays if h.weekday() == start.weekday()
            }
            assert all(d.time() == start.time() and d.tzinfo == start.tzinfo for d in exdates)
            seen_thursday |= start.weekday() == thanksgiving.weekday()
    assert seen_thursday


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def test_same_wall_clock_time_across_dst(fall: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """A weekly shift keeps its wall-clock time across the end of DST: the UTC offset changes,
    the local hour does not."""
    problem, solution = fall
    feeds = _feeds(problem, solution)
    a = solution["assignments"][0]
    cal = icalendar.Calendar.from_ical(feeds[f"student:{a['student']}"].ical)
    occurrences = recurring_ical_events.of(cal).between(dt.date(2026, 10, 25), dt.date(2026, 11, 8))
    by_uid: dict[str, list[dt.datetime]] = {}
    for occ in occurrences:
        by_uid.setdefault(str(occ["UID"]), []).append(occ["DTSTART"].dt)
    weekly = [starts for starts in by_uid.values() if len(starts) == 2]
    assert weekly
    for before, after in weekly:
        assert before.utcoffset() == dt.timedelta(hours=-5)
        assert after.utcoffset() == dt.timedelta(hours=-6)
        assert before.time() == after.time()
        assert after - before == dt.timedelta(days=7)
        assert after.astimezone(dt.UTC) - before.astimezone(dt.UTC) == dt.timedelta(days=7, hours=1)


# --- Feeds and privacy -------------------------------------------------------------------------


def test_one_feed_per_student_employer_and_mentor(
    fall: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Every student, employer and mentor has one feed; an employer's holds all its students'
    shifts, a workplace mentor's its mentees' shifts, a community mentor's its meetings."""
    problem, solution = fall
    data = calendar_data_from_documents(problem, solution)
    feeds = {f.key: f for f in round_feeds(data)}
    keys = (
        [f"student:{s['id']}" for s in problem["students"]]
        + [f"employer:{e['id']}" for e in problem["employers"]]
        + [f"mentor:{m['id']}" for m in problem["mentors"]]
    )
    assert sorted(feeds) == sorted(keys)
    employer_of = {o["id"]: o["employer"] for o in problem["opportunities"]}
    for e in problem["employers"]:
        feed = feeds[f"employer:{e['id']}"]
        want = {
            a["student"]
            for a in solution["assignments"]
            if employer_of[a["opportunity"]] == e["id"]
        }
        assert {p.student for p in feed.placements} == want
        assert feed.name == f"Fall 2026 placements: {e['name']}"
    workplace = [a for a in solution["assignments"] if a.get("mentor")]
    assert workplace
    assert solution["mentorships"]
    for a in workplace:
        events = feed_events(data.round, feeds[f"mentor:{a['mentor']}"])
        assert any(a["slot"] in e.uid and a["student"] in e.uid for e in events)
    for m in solution["mentorships"]:
        events = feed_events(data.round, feeds[f"mentor:{m['mentor']}"])
        assert any(f"mentor-{m['mentor']}" in e.uid and m["student"] in e.uid for e in events)


def _private_strings(student: dict[str, Any]) -> list[str]:
    """What no feed may show about a student: birth date, home, groups, email, grade."""
    out = [
        student["birth_date"],
        student["birth_date"].replace("-", ""),
        *student.get("groups", ()),
    ]
    if student.get("email"):
        out.append(student["email"])
    if student.get("location"):
        out += [str(student["location"]["lat"]), str(student["location"]["lon"])]
    return out


def test_student_feed_holds_only_their_own_data(
    fall: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """FERPA: a student's feed names no other student and shows no grade, group, birth date,
    email or home; it does show the employer contact, mentor, travel and credentials."""
    problem, solution = fall
    feeds = _feeds(problem, solution)
    students = {s["id"]: s for s in problem["students"]}
    for a in solution["assignments"]:
        text = _unfolded(feeds[f"student:{a['student']}"].ical)
        others = [s for s in problem["students"] if s["id"] != a["student"]]
        for other in others:
            if other["name"].split()[-1] != students[a["student"]]["name"].split()[-1]:
                assert other["name"] not in text
            assert f"/{other['id']}/" not in text
        for private in _private_strings(students[a["student"]]):
            assert private not in text
        assert "grade" not in text.lower()
        assert "Employer contact:" in text
        assert "Travel: " in text
    credentialed = next(
        a
        for a in solution["assignments"]
        for o in problem["opportunities"]
        if o["id"] == a["opportunity"] and o.get("required_credentials")
    )
    opp = next(o for o in problem["opportunities"] if o["id"] == credentialed["opportunity"])
    text = _unfolded(feeds[f"student:{credentialed['student']}"].ical)
    assert f"Bring: {', '.join(opp['required_credentials'])}" in text


def test_employer_and_mentor_see_minimum_names(fall: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """FERPA: an employer sees first name and last initial only, a mentor the first name only,
    and neither sees a grade, group, birth date, email, home or travel."""
    problem, solution = fall
    feeds = _feeds(problem, solution)
    students = {s["id"]: s for s in problem["students"]}
    employer_of = {o["id"]: o["employer"] for o in problem["opportunities"]}
    kinds = {o["id"]: o["kind"] for o in problem["opportunities"]}
    for a in solution["assignments"]:
        student = students[a["student"]]
        short, first = short_name(student["name"]), first_name(student["name"])
        employer = feeds[f"employer:{employer_of[a['opportunity']]}"].ical
        views = [(employer, f"Student: {short}", f", {short}")]
        if a.get("mentor"):
            views.append((feeds[f"mentor:{a['mentor']}"].ical, f"Student: {first}", f": {first}, "))
        for ics, student_line, in_summary in views:
            events = [e for e in _vevents(ics) if f"/{a['student']}/" in str(e["UID"])]
            assert events
            for e in events:
                assert student_line in str(e["DESCRIPTION"]).split("\n")
                assert in_summary in str(e["SUMMARY"])
            text = _unfolded(ics)
            assert student["name"] not in text
            assert "Travel" not in text
            assert "leave" not in text
            for private in _private_strings(student):
                assert private not in text
        if a.get("mentor"):
            assert short not in _unfolded(feeds[f"mentor:{a['mentor']}"].ical)
        assert kinds[a["opportunity"]]
    for m in solution["mentorships"]:
        text = _unfolded(feeds[f"mentor:{m['mentor']}"].ical)
        name = students[m["student"]]["name"]
        assert f"Student: {first_name(name)}" in text
        assert name not in text


def _unfolded(ics: bytes) -> str:
    """The calendar as text with folded lines joined and text escapes undone."""
    escapes = {"n": "\n", "N": "\n"}
    text = ics.decode().replace("\r\n ", "")
    return re.sub(r"\\([\\;,nN])", lambda m: escapes.get(m[1], m[1]), text)


def test_student_description_says_when_to_leave(
    fall: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """A student's shift says how long the trip takes, how, and when to leave school."""
    problem, solution = fall
    feeds = _feeds(problem, solution)
    slots = {sl["id"]: sl for o in problem["opportunities"] for sl in o["slots"]}
    a = next(a for a in solution["assignments"] if a["travel_mode"] == "transit")
    block = slots[a["slot"]]["blocks"][0]
    hours, minutes = map(int, block["start"].split(":"))
    leave = dt.datetime(2026, 1, 1, hours, minutes) - dt.timedelta(minutes=a["travel_minutes"])
    text = _unfolded(feeds[f"student:{a['student']}"].ical)
    assert f"Travel: {a['travel_minutes']} min by transit: leave school by {leave:%H:%M}" in text


# --- Changes -----------------------------------------------------------------------------------


def _states(
    problem: dict[str, Any],
    solution: dict[str, Any],
    before: dict[str, dict[str, EventState]],
    now: dt.datetime,
) -> dict[str, FeedUpdate]:
    data = calendar_data_from_documents(problem, solution)
    return {
        feed.key: update_feed(
            data.round, feed.name, feed_events(data.round, feed), before.get(feed.key, {}), now=now
        )
        for feed in round_feeds(data)
    }


def _move(
    problem: dict[str, Any], solution: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A copy of the solution with one student moved to another slot of another employer."""
    doc = copy.deepcopy(solution)
    a = next(a for a in doc["assignments"] if not a.get("mentor"))
    employer_of = {o["id"]: o["employer"] for o in problem["opportunities"]}
    other = next(
        o
        for o in problem["opportunities"]
        if o["employer"] != employer_of[a["opportunity"]]
        and not o.get("requires_mentor")
        and any(b.get("day") for sl in o["slots"] for b in sl["blocks"])
    )
    old_employer = employer_of[a["opportunity"]]
    a["opportunity"], a["slot"] = other["id"], other["slots"][0]["id"]
    return doc, a, old_employer


def test_regenerating_without_change_is_byte_identical(
    fall: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Regenerating a feed with no change gives the same state and the same bytes, at any
    later time, so HTTP ETags stay stable."""
    problem, solution = fall
    first = _states(problem, solution, {}, PUBLISHED)
    again = _states(problem, solution, {k: u.state for k, u in first.items()}, LATER)
    for key, update in first.items():
        assert again[key].ical == update.ical, key
        assert again[key].state == update.state
        assert not again[key].changed
    assert any(u.changed for u in first.values() if u.state)


def test_state_round_trips_through_json(fall: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """The stored state survives JSON (as a database column would keep it): same bytes."""
    problem, solution = fall
    data = calendar_data_from_documents(problem, solution)
    for feed, update in _render(problem, solution):
        if not update.state:
            continue
        raw = json.loads(json.dumps({uid: s.to_dict() for uid, s in update.state.items()}))
        restored = {uid: EventState.from_dict(s) for uid, s in raw.items()}
        assert restored == update.state
        assert render_calendar(data.round, feed.name, restored) == update.ical


def test_a_move_cancels_removed_events_and_keeps_the_rest(
    fall: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """After a move the student's old events stay, CANCELLED with a higher SEQUENCE, in the
    student's and the old employer's feeds; new events start at SEQUENCE 0; every untouched
    event keeps its UID, SEQUENCE and LAST-MODIFIED."""
    problem, solution = fall
    first = _states(problem, solution, {}, PUBLISHED)
    moved, a, old_employer = _move(problem, solution)
    second = _states(problem, moved, {k: u.state for k, u in first.items()}, LATER)
    for key in (f"student:{a['student']}", f"employer:{old_employer}"):
        before, after = first[key].state, second[key].state
        assert second[key].changed
        gone = [uid for uid in before if f"/{a['student']}/" in uid]
        assert gone
        for uid in gone:
            assert after[uid].cancelled
            assert after[uid].sequence == before[uid].sequence + 1
            assert after[uid].modified == LATER
        cancelled = {
            str(e["UID"]): e for e in _vevents(second[key].ical) if e["STATUS"] == "CANCELLED"
        }
        assert set(gone) <= set(cancelled)
        for uid in gone:
            assert cancelled[uid]["SEQUENCE"] == before[uid].sequence + 1
            assert cancelled[uid]["LAST-MODIFIED"].dt == LATER
        for uid, state in before.items():
            if uid not in gone:
                assert after[uid] == state
    new = second[f"student:{a['student']}"].state
    assert any(
        s.sequence == 0 and f"/{a['slot']}/" in uid and not s.cancelled for uid, s in new.items()
    )
    new_employer = next(
        o["employer"] for o in problem["opportunities"] if o["id"] == a["opportunity"]
    )
    touched = {f"student:{a['student']}", f"employer:{old_employer}", f"employer:{new_employer}"}
    # A community meeting's place follows the student's site, so that mentor's feed may change.
    touched |= {
        f"mentor:{m['mentor']}" for m in solution["mentorships"] if m["student"] == a["student"]
    }
    for key in first.keys() - touched:
        assert second[key].ical == first[key].ical, key
        assert not second[key].changed


def test_unplacing_cancels_and_a_later_return_raises_sequence(
    fall: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Unplaced (or declined): the events are cancelled once; regenerating keeps them as they
    were; placing the student back revives them with a still higher SEQUENCE."""
    problem, solution = fall
    a = solution["assignments"][0]
    key = f"student:{a['student']}"
    first = _states(problem, solution, {}, PUBLISHED)[key]
    declined = copy.deepcopy(solution)
    declined["assignments"][0]["status"] = "declined"
    second = _states(problem, declined, {key: first.state}, LATER)[key]
    shifts = [uid for uid in first.state if "/mentor-" not in uid]
    assert shifts
    assert all(second.state[uid].cancelled for uid in shifts)
    third = _states(problem, declined, {key: second.state}, LATER + dt.timedelta(days=3))[key]
    assert third.state == second.state
    assert third.ical == second.ical
    assert not third.changed
    back = _states(problem, solution, {key: third.state}, LATER + dt.timedelta(days=5))[key]
    for uid in shifts:
        assert not back.state[uid].cancelled
        assert back.state[uid].sequence == first.state[uid].sequence + 2


def test_content_change_raises_sequence_on_the_same_uid(
    fall: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """A shift whose time changes keeps its UID; its SEQUENCE rises and LAST-MODIFIED moves,
    while the slot's other blocks are left alone."""
    problem, solution = fall
    a = next(
        a
        for a in solution["assignments"]
        for o in problem["opportunities"]
        for sl in o["slots"]
        if sl["id"] == a["slot"] and sum("day" in b for b in sl["blocks"]) >= 2
    )
    key = f"student:{a['student']}"
    first = _states(problem, solution, {}, PUBLISHED)[key]
    changed = copy.deepcopy(problem)
    slot = next(sl for o in changed["opportunities"] for sl in o["slots"] if sl["id"] == a["slot"])
    block = next(b for b in slot["blocks"] if "day" in b)
    block["end"] = "21:15"
    second = _states(changed, solution, {key: first.state}, LATER)[key]
    assert set(second.state) == set(first.state)
    bumped = [uid for uid in first.state if second.state[uid] != first.state[uid]]
    assert len(bumped) == 1
    (uid,) = bumped
    assert uid.endswith(f"/{block['day']}@wbl-scheduler")
    assert second.state[uid].sequence == first.state[uid].sequence + 1
    assert second.state[uid].modified == LATER
    assert not second.state[uid].cancelled


def test_cancelled_events_are_dropped_once_the_round_is_over(
    fall: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """A cancelled event stays until the round ends, and only until then."""
    problem, solution = fall
    a = solution["assignments"][0]
    key = f"student:{a['student']}"
    first = _states(problem, solution, {}, PUBLISHED)[key]
    empty = {**solution, "assignments": [], "mentorships": []}
    last_day = dt.datetime(2026, 12, 18, 23, 0, tzinfo=ZoneInfo("America/Chicago"))
    kept = _states(problem, empty, {key: first.state}, last_day)[key]
    assert kept.state
    assert all(s.cancelled for s in kept.state.values())
    after = _states(problem, empty, {key: kept.state}, last_day + dt.timedelta(hours=2))[key]
    assert after.state == {}
    assert after.changed
    assert IcsCalendarStream.calendar_from_ics(after.ical.decode()).events == []


def test_now_must_be_aware(fall: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """The modification time is a real instant: a naive `now` is refused."""
    problem, solution = fall
    data = calendar_data_from_documents(problem, solution)
    feed = round_feeds(data)[0]
    with pytest.raises(ValueError, match="timezone-aware"):
        update_feed(data.round, feed.name, (), {}, now=dt.datetime(2026, 9, 1))


# --- Hostile text ------------------------------------------------------------------------------

HOSTILE_STUDENT = 'Zoë "Z,Z" O\'Brien;\\x\n Łukasz-李 🧑🏽‍🔧Émile'
HOSTILE_EMPLOYER = 'Café "Ünïcödé", Ltd.; Back\\slash\nNew line 日本語 🍣'
HOSTILE_TITLE = "Pâtissier; apprentice, night\\shift ❄️ " + "ж" * 60
HOSTILE_ADDRESS = "12, rue de l'Église; Bât. B\\C\n75001 Paris — 🗼 " + "🎉" * 30
HOSTILE_MENTOR = 'Ngozi Ọ̀kàfọ̀, PhD; "Mentor" \\o/'


def _hostile_round() -> tuple[dict[str, Any], dict[str, Any]]:
    """A small round in America/New_York across early November, with names full of commas,
    semicolons, backslashes, newlines, quotes, other scripts and emoji."""
    problem = {
        "format": "wbl-problem/1",
        "round": {
            "id": "fall;2026/ny,1",
            "name": "Fall 2026",
            "start_date": "2026-10-05",
            "end_date": "2026-11-27",
            "timezone": "America/New_York",
            "holidays": ["2026-11-11", "2026-11-26"],
        },
        "schools": [{"id": "sc", "name": "School", "location": {"lat": 40.7, "lon": -74.0}}],
        "students": [
            {
                "id": "st,1",
                "name": HOSTILE_STUDENT,
                "school": "sc",
                "grade": 11,
                "birth_date": "2009-05-01",
                "travel_modes": ["transit"],
                "groups": ["foster_care"],
                "wants_mentor": True,
            },
            {"id": "st;2", "name": "Other Person", "school": "sc", "birth_date": "2009-01-01"},
        ],
        "employers": [{"id": "em", "name": HOSTILE_EMPLOYER, "contact_email": "jo@café.example"}],
        "opportunities": [
            {
                "id": "op",
                "employer": "em",
                "title": HOSTILE_TITLE,
                "kind": "internship",
                "cluster": "hospitality",
                "location": {"lat": 40.71, "lon": -74.01},
                "address": HOSTILE_ADDRESS,
                "required_credentials": ["food_handler"],
                "slots": [
                    {
                        "id": "sl/1",
                        "capacity": 1,
                        "blocks": [
                            {"day": "wed", "start": "15:30", "end": "18:00"},
                            {"day": "thu", "start": "15:30", "end": "18:00"},
                            {"date": "2026-11-03", "start": "09:00", "end": "12:00"},
                        ],
                    }
                ],
            }
        ],
        "mentors": [
            {
                "id": "me",
                "name": HOSTILE_MENTOR,
                "clusters": [],
                "capacity": 1,
                "available": [{"day": "tue", "start": "17:00", "end": "19:00"}],
                "virtual": True,
            }
        ],
    }
    solution = _published(
        {
            "format": "wbl-solution/1",
            "status": "optimal",
            "assignments": [
                {
                    "student": "st,1",
                    "opportunity": "op",
                    "slot": "sl/1",
                    "travel_mode": "transit",
                    "travel_minutes": 35,
                }
            ],
            "mentorships": [
                {"student": "st,1", "mentor": "me", "day": "tue", "start": "17:30", "end": "18:00"}
            ],
            "unplaced": [{"student": "st;2", "reasons": [{"code": "capacity_taken"}]}],
        }
    )
    return problem, solution


def _text(prop: Any) -> str:
    """A property read back as TEXT (icalendar leaves NAME and X- properties undecoded)."""
    escapes = {"n": "\n", "N": "\n"}
    return re.sub(r"\\([\\;,nN])", lambda m: escapes.get(m[1], m[1]), prop.to_ical().decode())


def test_hostile_names_round_trip() -> None:
    """Names and addresses with commas, semicolons, backslashes, newlines, quotes, other
    scripts and emoji come back unchanged from both parsers; folded lines stay within 75
    octets and never split a UTF-8 character."""
    problem, solution = _hostile_round()
    feeds = _feeds(problem, solution)
    for update in feeds.values():
        IcsCalendarStream.calendar_from_ics(update.ical.decode())
    student = feeds["student:st,1"].ical
    for line in student.split(b"\r\n"):
        assert len(line) <= 75
        line.decode("utf-8")  # a split character would not decode
    cal = icalendar.Calendar.from_ical(student)
    assert _text(cal["NAME"]) == f"Fall 2026 placement: {short_name(HOSTILE_STUDENT)}"
    assert _text(cal["X-WR-CALNAME"]) == f"Fall 2026 placement: {short_name(HOSTILE_STUDENT)}"
    assert short_name(HOSTILE_STUDENT) == "Zoë 🧑🏽\u200d🔧."
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    strict = {e.uid: e for e in IcsCalendarStream.calendar_from_ics(student.decode()).events}
    assert set(strict) == set(events)
    shift = next(e for uid, e in events.items() if uid.endswith("/wed@wbl-scheduler"))
    summary = f"Internship: {HOSTILE_TITLE}, {HOSTILE_EMPLOYER}"
    location = f"{HOSTILE_EMPLOYER}, {HOSTILE_ADDRESS}"
    assert str(shift["SUMMARY"]) == summary
    assert str(shift["LOCATION"]) == location
    assert f"Employer contact: {HOSTILE_EMPLOYER} (jo@café.example)" in str(shift["DESCRIPTION"])
    assert "Travel: 35 min by transit: leave school by 14:55" in str(shift["DESCRIPTION"])
    assert "Bring: food_handler" in str(shift["DESCRIPTION"])
    strict_shift = strict[str(shift["UID"])]
    assert strict_shift.summary == summary
    assert strict_shift.location == location
    meeting = next(e for uid, e in events.items() if "/mentor-me@" in uid)
    assert str(meeting["SUMMARY"]) == f"Mentor meeting: {HOSTILE_MENTOR}"
    assert str(meeting["LOCATION"]) == "Virtual"
    assert "Other Person" not in _unfolded(student)
    employer = icalendar.Calendar.from_ical(feeds["employer:em"].ical)
    assert _text(employer["X-WR-CALNAME"]) == f"Fall 2026 placements: {HOSTILE_EMPLOYER}"
    mentor = icalendar.Calendar.from_ical(feeds["mentor:me"].ical)
    (meeting,) = mentor.walk("VEVENT")
    assert str(meeting["SUMMARY"]) == f"Mentor meeting: {first_name(HOSTILE_STUDENT)}"


def test_hostile_round_expands_across_november() -> None:
    """In America/New_York across 2026-11-01, with two holidays, the student's feed expands to
    exactly the expected occurrences, at the same wall-clock time before and after."""
    problem, solution = _hostile_round()
    feeds = _feeds(problem, solution)
    got = _expanded(feeds["student:st,1"].ical, problem)
    assert got == _expected(problem, solution, "st,1")
    assert _expanded_strict(feeds["student:st,1"].ical, problem) == got
    wednesdays = [s for s, _ in got if s.weekday() == 2]
    assert dt.datetime(2026, 11, 11, 15, 30) not in wednesdays
    assert {s.time() for s in wednesdays} == {dt.time(15, 30)}
    assert dt.datetime(2026, 11, 3, 9, 0) in [s for s, _ in got]
    cal = icalendar.Calendar.from_ical(feeds["student:st,1"].ical)
    offsets = {
        occ["DTSTART"].dt.utcoffset()
        for occ in recurring_ical_events.of(cal).between(dt.date(2026, 10, 1), dt.date(2026, 12, 1))
    }
    assert offsets == {dt.timedelta(hours=-4), dt.timedelta(hours=-5)}


def test_short_name_keeps_accents_with_their_letter() -> None:
    """An employer's view of a name is first name + last initial, never a split character."""
    assert short_name("Ana Nguyen") == "Ana N."
    assert short_name("Ana Maria de la Cruz") == "Ana C."
    assert short_name("Cher") == "Cher"
    assert short_name("Jose\u0301 O\u0308zil") == "Jose\u0301 O\u0308."
    assert short_name("Kai 👩🏾\u200d🚀Lee") == "Kai 👩🏾\u200d🚀."
    assert short_name("Mei ❤️x") == "Mei ❤️."
    assert first_name("  Ana\tNguyen ") == "Ana"


def test_grades_and_groups_never_reach_a_feed(fall: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Data no feed shows (grades, groups) can change without touching any feed's bytes."""
    problem, solution = fall
    first = _feeds(problem, solution)
    changed = copy.deepcopy(problem)
    for s in changed["students"]:
        s["grade"] = 9
        s["groups"] = ["changed"]
    second = _feeds(changed, solution)
    assert {k: u.ical for k, u in second.items()} == {k: u.ical for k, u in first.items()}
