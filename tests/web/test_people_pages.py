"""The pages without accounts over HTTP: a private link enters its holder's page and leaves the
address bar, every bad link gets the same 404, each page shows its holder's data only (every
route tried with every other holder's link), forms need CSRF, the headers say no-referrer."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import icalendar
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    DeclinedPair,
    Employer,
    Opportunity,
    Pin,
    Program,
    Round,
    RoundStatus,
    Slot,
    Student,
)
from scheduler import links
from scheduler.calendars import short_name
from scheduler.generate import generate_round
from scheduler.rounds import import_round
from tests.scheduler.published_rounds import SECRET
from tests.web.conftest import Published
from web.logs import PAGE_REDACTED, TokenFilter, redact

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
INVALID = "This link is no longer valid"


@dataclass(frozen=True, slots=True)
class Person:
    kind: str
    id: str
    token: str


def _people(session: Session, rnd: Round) -> dict[tuple[str, str], Person]:
    return {
        (r.kind, r.id): Person(r.kind, r.id, r.page_url.rsplit("/", 1)[1])
        for r in links.link_rows(session, rnd, base_url="", secret=SECRET)
    }


def _enter(client: FlaskClient, person: Person) -> str:
    """Follow the person's link; the page's address (without the token)."""
    response = client.get(f"/p/{person.token}")
    assert response.status_code == 302, response.status_code
    location = response.headers["Location"]
    assert person.token not in location
    return location


def _csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    found = _CSRF.search(page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


@pytest.fixture
def draft(session: Session, program: Program) -> Round:
    """A round imported but not solved, with its links (committed)."""
    rnd = import_round(session, generate_round(30, seed=5), program)
    links.ensure_links(session, rnd, secret=SECRET)
    session.commit()
    return rnd


def _employer_with_opportunity(session: Session, rnd: Round) -> tuple[Employer, Opportunity]:
    pinned = select(Pin.opportunity_id).where(Pin.round_id == rnd.id)
    opp = session.scalars(
        select(Opportunity)
        .where(Opportunity.round_id == rnd.id, Opportunity.id.not_in(pinned))
        .order_by(Opportunity.id)
    ).first()
    assert opp is not None
    return session.get_one(Employer, opp.employer_id), opp


def _placed(session: Session, rnd: Round) -> Assignment:
    a = session.scalars(
        select(Assignment).where(Assignment.run_id == rnd.chosen_run_id).order_by(Assignment.id)
    ).first()
    assert a is not None
    return a


# --- Links ------------------------------------------------------------------------------------


def test_link_enters_the_page_and_leaves_the_address_bar(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """`/p/<token>` redirects to a token-less page, with no-referrer and noindex headers."""
    rnd = session.get_one(Round, published.round_id)
    people = _people(session, rnd)
    for kind, home in (
        ("employer", "/employer/"),
        ("student", "/student/"),
        ("mentor", "/mentor/"),
    ):
        person = next(p for p in people.values() if p.kind == kind)
        entry = client.get(f"/p/{person.token}")
        assert entry.headers["Referrer-Policy"] == "no-referrer"
        assert _enter(client, person) == home
        page = client.get(home)
        assert page.status_code == 200
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["X-Robots-Tag"] == "noindex, nofollow"
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert '<meta name="referrer" content="no-referrer">' in page.get_data(as_text=True)


def test_bad_links_all_get_the_same_404(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """Unknown, malformed, revoked and closed-round links: one 404 page, the same bytes."""
    rnd = session.get_one(Round, published.round_id)
    people = _people(session, rnd)
    student = next(p for p in people.values() if p.kind == "student")
    employer = next(p for p in people.values() if p.kind == "employer")
    links.revoke_link(session, rnd, "student", student.id)
    session.commit()
    bodies = []
    for token in ("x" * 43, "short", student.token):
        response = client.get(f"/p/{token}")
        assert response.status_code == 404
        bodies.append(response.get_data(as_text=True))
    # Entered before the round closed: the next click is refused all the same.
    _enter(client, employer)
    rnd.status = RoundStatus.closed
    session.commit()
    for path in ("/employer/", f"/p/{employer.token}"):
        response = client.get(path)
        assert response.status_code == 404
        bodies.append(response.get_data(as_text=True))
    assert INVALID in bodies[0]
    assert all(b == bodies[0] for b in bodies)


def test_pages_without_a_link_get_the_404(client: FlaskClient, published: Published) -> None:
    """Every page of a holder, asked for with no link in the session, is the invalid-link 404."""
    for path in (
        "/employer/",
        "/student/",
        "/mentor/",
        "/student/calendar.ics",
        "/student/calendar-qr.svg",
        "/mentor/calendar.ics",
        "/employer/opportunities/1/edit",
        "/employer/opportunities/new",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert INVALID in response.get_data(as_text=True)


_GET_ROUTES = {
    "employer": ("/employer/", "/employer/opportunities/new"),
    "student": ("/student/", "/student/calendar.ics", "/student/calendar-qr.svg"),
    "mentor": ("/mentor/", "/mentor/calendar.ics", "/mentor/calendar-qr.svg"),
}
_POST_ROUTES = {
    "employer": (
        "/employer/accept",
        "/employer/decline",
        "/employer/opportunities/1/confirm",
        "/employer/opportunities/1/withdraw",
    ),
}


def test_every_route_refuses_every_other_holders_link(
    app: Flask, session: Session, published: Published
) -> None:
    """A student's or mentor's link opens no employer route, and so on for every pair."""
    rnd = session.get_one(Round, published.round_id)
    people = _people(session, rnd)
    for holder_kind in ("employer", "student", "mentor"):
        person = next(p for p in people.values() if p.kind == holder_kind)
        client = app.test_client()
        own = _enter(client, person)
        token = _csrf(client, own) if holder_kind == "employer" else None
        for kind, paths in _GET_ROUTES.items():
            for path in paths:
                status = client.get(path).status_code
                assert (status == 200) == (kind == holder_kind), (holder_kind, path, status)
        for kind, paths in _POST_ROUTES.items():
            if kind == holder_kind:
                continue
            for path in paths:
                response = client.post(path, data={"csrf_token": token or "", "student": "x"})
                assert response.status_code in (400, 404), (holder_kind, path)


def test_an_employer_sees_its_own_students_only_by_first_name_and_initial(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """The employer's page names its placed students as "Ana N." and no other student."""
    rnd = session.get_one(Round, published.round_id)
    a = _placed(session, rnd)
    employer = session.get_one(Employer, a.opportunity.employer_id)
    _enter(client, _people(session, rnd)[("employer", employer.external_id)])
    html = client.get("/employer/").get_data(as_text=True)
    mine = set(
        session.scalars(
            select(Student.name)
            .join(Assignment, Assignment.student_id == Student.id)
            .join(Opportunity, Opportunity.id == Assignment.opportunity_id)
            .where(Assignment.run_id == rnd.chosen_run_id, Opportunity.employer_id == employer.id)
        )
    )
    for name in session.scalars(select(Student.name).where(Student.round_id == rnd.id)):
        assert name not in html  # never a full name
        if name in mine:
            assert short_name(name) in html


def test_another_employers_student_cannot_be_answered(
    app: Flask, session: Session, published: Published
) -> None:
    """Employer B posting "Accept" for employer A's student is refused; nothing changes."""
    rnd = session.get_one(Round, published.round_id)
    a = _placed(session, rnd)
    other = session.scalars(
        select(Employer).where(
            Employer.round_id == rnd.id, Employer.id != a.opportunity.employer_id
        )
    ).first()
    assert other is not None
    client = app.test_client()
    _enter(client, _people(session, rnd)[("employer", other.external_id)])
    token = _csrf(client, "/employer/")
    response = client.post(
        "/employer/accept", data={"csrf_token": token, "student": a.student.external_id}
    )
    assert response.status_code == 403
    session.expire_all()
    assert session.get_one(Assignment, a.id).status == AssignmentStatus.published


def test_forms_need_csrf(client: FlaskClient, session: Session, published: Published) -> None:
    """An employer's post without its CSRF token is refused (400) and changes nothing."""
    rnd = session.get_one(Round, published.round_id)
    a = _placed(session, rnd)
    employer = session.get_one(Employer, a.opportunity.employer_id)
    _enter(client, _people(session, rnd)[("employer", employer.external_id)])
    response = client.post("/employer/accept", data={"student": a.student.external_id})
    assert response.status_code == 400
    session.expire_all()
    assert session.get_one(Assignment, a.id).status == AssignmentStatus.published


# --- Employer after publishing --------------------------------------------------------------------


def test_decline_needs_a_reason_and_is_kept(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """Decline without a reason is refused next to the field; with one, the placement is
    declined, the pair kept for later solves, the reason in the audit."""
    rnd = session.get_one(Round, published.round_id)
    a = _placed(session, rnd)
    employer = session.get_one(Employer, a.opportunity.employer_id)
    _enter(client, _people(session, rnd)[("employer", employer.external_id)])
    token = _csrf(client, "/employer/")
    student = a.student.external_id
    empty = client.post("/employer/decline", data={"csrf_token": token, "student": student})
    assert empty.status_code == 400
    assert "Say why" in empty.get_data(as_text=True)
    done = client.post(
        "/employer/decline",
        data={"csrf_token": token, "student": student, "reason": "No driving licence"},
    )
    assert done.status_code == 302
    session.expire_all()
    assert session.get_one(Assignment, a.id).status == AssignmentStatus.declined
    pair = session.scalars(select(DeclinedPair)).one()
    assert (pair.student_id, pair.opportunity_id) == (a.student_id, a.opportunity_id)
    assert pair.reason == "No driving licence"
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "placement.decline")
    ).one()
    assert event.detail["reason"] == "No driving licence"


def test_accept_confirms(client: FlaskClient, session: Session, published: Published) -> None:
    """ "Accept" makes the placement confirmed and the page says so."""
    rnd = session.get_one(Round, published.round_id)
    a = _placed(session, rnd)
    employer = session.get_one(Employer, a.opportunity.employer_id)
    _enter(client, _people(session, rnd)[("employer", employer.external_id)])
    token = _csrf(client, "/employer/")
    response = client.post(
        "/employer/accept",
        data={"csrf_token": token, "student": a.student.external_id},
        follow_redirects=True,
    )
    assert "Accepted " + short_name(a.student.name) in response.get_data(as_text=True)
    session.expire_all()
    assert session.get_one(Assignment, a.id).status == AssignmentStatus.confirmed


# --- Employer before solving ---------------------------------------------------------------------


def test_confirm_edit_withdraw_and_add(client: FlaskClient, session: Session, draft: Round) -> None:
    """The employer confirms an opportunity, edits a shift's capacity and the contact,
    withdraws it, and adds a new one."""
    employer, opp = _employer_with_opportunity(session, draft)
    _enter(client, _people(session, draft)[("employer", employer.external_id)])
    token = _csrf(client, "/employer/")
    r = client.post(
        f"/employer/opportunities/{opp.id}/confirm", data={"csrf_token": token, "version": "0"}
    )
    assert r.status_code == 302
    session.expire_all()
    assert session.get_one(Opportunity, opp.id).confirmed_at is not None

    slot = session.scalars(select(Slot).where(Slot.opportunity_id == opp.id)).first()
    assert slot is not None
    before = slot.capacity
    page = client.get(f"/employer/opportunities/{opp.id}/edit").get_data(as_text=True)
    assert f'name="slot-{slot.id}-capacity"' in page
    form = {
        "csrf_token": token,
        "version": "1",
        "capacity": "",
        "address": "1 Main St",
        "transit_accessible": "y",
        "contact_name": "Sam Lee",
        "contact_email": "sam@example.org",
    }
    for sl in session.scalars(select(Slot).where(Slot.opportunity_id == opp.id)):
        form[f"slot-{sl.id}-capacity"] = str(sl.capacity + 1)
        form[f"slot-{sl.id}-blocks"] = "mon 15:00-18:00\nwed 15:00-18:00"
    r = client.post(f"/employer/opportunities/{opp.id}/edit", data=form)
    assert r.status_code == 302, r.get_data(as_text=True)
    session.expire_all()
    saved = session.get_one(Slot, slot.id)
    assert saved.capacity == before + 1
    assert saved.blocks == [
        {"day": "mon", "start": "15:00", "end": "18:00"},
        {"day": "wed", "start": "15:00", "end": "18:00"},
    ]
    assert session.get_one(Opportunity, opp.id).contact_name == "Sam Lee"
    assert session.get_one(Opportunity, opp.id).employer_version == 2

    # The same form again (version 1) is a lost update: refused, not saved.
    form["contact_name"] = "Someone Else"
    stale = client.post(f"/employer/opportunities/{opp.id}/edit", data=form)
    assert stale.status_code == 409
    assert "changed by someone else" in stale.get_data(as_text=True)
    session.expire_all()
    assert session.get_one(Opportunity, opp.id).contact_name == "Sam Lee"

    r = client.post(
        f"/employer/opportunities/{opp.id}/withdraw", data={"csrf_token": token, "version": "2"}
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    session.expire_all()
    assert session.get_one(Opportunity, opp.id).withdrawn_at is not None

    r = client.post(
        "/employer/opportunities/new",
        data={
            "csrf_token": token,
            "title": "Weekend helper",
            "cluster": opp.cluster,
            "slot-0-capacity": "2",
            "slot-0-blocks": "sat 09:00-13:00",
            "transit_accessible": "y",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    added = session.scalars(select(Opportunity).where(Opportunity.title == "Weekend helper")).one()
    assert added.employer_id == employer.id
    assert added.confirmed_at is not None
    actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.round_id == draft.id)))
    assert {"opportunity.confirm", "opportunity.edit", "opportunity.withdraw"} <= actions
    assert "opportunity.add" in actions


def test_edit_errors_are_shown_next_to_their_fields_and_nothing_is_saved(
    client: FlaskClient, session: Session, draft: Round
) -> None:
    """A bad capacity, bad shift and bad email each get their message; nothing is written."""
    employer, opp = _employer_with_opportunity(session, draft)
    _enter(client, _people(session, draft)[("employer", employer.external_id)])
    token = _csrf(client, "/employer/")
    slot = session.scalars(select(Slot).where(Slot.opportunity_id == opp.id)).first()
    assert slot is not None
    form = {
        "csrf_token": token,
        "version": "0",
        "capacity": "many",
        "contact_email": "not-an-email",
        "address": "Changed",
    }
    for sl in session.scalars(select(Slot).where(Slot.opportunity_id == opp.id)):
        form[f"slot-{sl.id}-capacity"] = "-1"
        form[f"slot-{sl.id}-blocks"] = "someday 25:00-26:00"
    response = client.post(f"/employer/opportunities/{opp.id}/edit", data=form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="capacity-error"' in html
    assert 'id="contact_email-error"' in html
    assert f'id="slot-{slot.id}-capacity-error"' in html
    assert f'id="slot-{slot.id}-blocks-error"' in html
    session.expire_all()
    assert session.get_one(Opportunity, opp.id).address != "Changed"
    assert session.get_one(Opportunity, opp.id).employer_version == 0


def test_an_employer_cannot_touch_another_employers_opportunity(
    client: FlaskClient, session: Session, draft: Round
) -> None:
    """Confirm, withdraw and edit of another employer's opportunity: refused, nothing saved."""
    employer, _ = _employer_with_opportunity(session, draft)
    theirs = session.scalars(
        select(Opportunity).where(
            Opportunity.round_id == draft.id, Opportunity.employer_id != employer.id
        )
    ).first()
    assert theirs is not None
    _enter(client, _people(session, draft)[("employer", employer.external_id)])
    token = _csrf(client, "/employer/")
    for action in ("confirm", "withdraw"):
        response = client.post(
            f"/employer/opportunities/{theirs.id}/{action}", data={"csrf_token": token}
        )
        assert response.status_code == 403
    assert client.get(f"/employer/opportunities/{theirs.id}/edit").status_code == 404
    session.expire_all()
    mine = session.get_one(Opportunity, theirs.id)
    assert (mine.confirmed_at, mine.withdrawn_at) == (None, None)


# --- Students and mentors ------------------------------------------------------------------------


def test_student_page_calendar_and_qr(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """A placed student's page names their placement, links a webcal feed that holds their
    shifts, serves a QR code (SVG) and a one-off .ics download."""
    rnd = session.get_one(Round, published.round_id)
    a = _placed(session, rnd)
    _enter(client, _people(session, rnd)[("student", a.student.external_id)])
    html = client.get("/student/").get_data(as_text=True)
    assert a.opportunity.title in html
    found = re.search(r'href="webcal://[^/]+(/feeds/[^"]+\.ics)"', html)
    assert found is not None
    feed = client.get(found.group(1))
    assert feed.status_code == 200
    calendar = icalendar.Calendar.from_ical(feed.data)
    events = [e for e in calendar.walk("VEVENT") if e.get("STATUS") != "CANCELLED"]
    assert events
    assert all(a.opportunity.title in str(e["SUMMARY"]) for e in events)
    qr = client.get("/student/calendar-qr.svg")
    assert qr.mimetype == "image/svg+xml"
    assert b"<script" not in qr.data
    assert b"style=" not in qr.data
    download = client.get("/student/calendar.ics")
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert icalendar.Calendar.from_ical(download.data).walk("VEVENT")


def test_unplaced_student_is_told_whom_to_ask_not_why(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """An unplaced student's page says so, without the solver's reason codes."""
    rnd = session.get_one(Round, published.round_id)
    placed = set(
        session.scalars(select(Assignment.student_id).where(Assignment.run_id == rnd.chosen_run_id))
    )
    unplaced = session.scalars(
        select(Student).where(Student.round_id == rnd.id, Student.id.not_in(placed))
    ).first()
    if unplaced is None:
        pytest.skip("every student of the generated round was placed")
    _enter(client, _people(session, rnd)[("student", unplaced.external_id)])
    html = client.get("/student/").get_data(as_text=True)
    assert "You are not placed this round" in html
    assert "coordinator" in html
    for code in ("capacity", "commute", "H2", "H4", "no_eligible"):
        assert code not in html


def test_mentor_page_names_students_by_first_name_and_initial(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """A mentor's page shows no student's full name."""
    rnd = session.get_one(Round, published.round_id)
    people = _people(session, rnd)
    mentor = next(p for p in people.values() if p.kind == "mentor")
    _enter(client, mentor)
    html = client.get("/mentor/").get_data(as_text=True)
    for name in session.scalars(select(Student.name).where(Student.round_id == rnd.id)):
        assert name not in html


def test_page_link_tokens_are_redacted_from_logs() -> None:
    """A `/p/<token>` path is written to no log."""
    token = "A" * 43
    assert redact(f"GET /p/{token} HTTP/1.1") == f"GET {PAGE_REDACTED} HTTP/1.1"
    record = logging.LogRecord("werkzeug", logging.INFO, "", 0, "GET /p/%s", (token,), None)
    TokenFilter().filter(record)
    assert token not in record.getMessage()
