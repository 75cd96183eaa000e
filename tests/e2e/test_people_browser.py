"""The pages without accounts in a real browser, by label and role: an employer confirms an
opportunity and edits a shift's capacity before solving, declines a placed student with a
reason after publishing; a student opens their page and the subscribe link's feed holds their
shifts; a mentor's page. Each page axe-clean, without sideways scrolling at 390 px, and shot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import icalendar
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    Assignment,
    AssignmentStatus,
    Employer,
    Opportunity,
    Pin,
    Program,
    Round,
    Slot,
)
from scheduler import links
from scheduler.calendars import short_name
from scheduler.generate import generate_round
from scheduler.rounds import import_round
from tests.e2e.conftest import Live, axe_clean, no_horizontal_scroll
from tests.scheduler.published_rounds import SECRET, published_round


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Links made with the key the live app derives tokens with (as in production: one key)."""
    monkeypatch.setenv(links.ENV_VAR, SECRET.decode())


def _link(session: Session, rnd: Round, kind: str, ident: str) -> str:
    row = next(
        r
        for r in links.link_rows(session, rnd, base_url="", secret=SECRET, kinds=(kind,))
        if r.id == ident
    )
    return row.page_url


def _check(view: Page, shoot: Callable[[Page, str], Path], name: str) -> None:
    axe_clean(view)
    no_horizontal_scroll(view)
    shoot(view, name)


def test_employer_confirms_and_edits_before_solving(
    live: Live,
    page: Page,
    phone: Page,
    session: Session,
    program: Program,
    shoot: Callable[[Page, str], Path],
) -> None:
    """Confirm an opportunity, then change a shift's capacity; the page shows both."""
    rnd = import_round(session, generate_round(30, seed=5), program)
    links.ensure_links(session, rnd, secret=SECRET)
    pinned = select(Pin.opportunity_id).where(Pin.round_id == rnd.id)
    opp = session.scalars(
        select(Opportunity)
        .where(Opportunity.round_id == rnd.id, Opportunity.id.not_in(pinned))
        .order_by(Opportunity.id)
    ).first()
    assert opp is not None
    employer = session.get_one(Employer, opp.employer_id)
    path = _link(session, rnd, "employer", employer.external_id)
    session.commit()
    for view, width in ((page, "desktop"), (phone, "phone")):
        view.goto(live.url + path)
        expect(view.get_by_role("heading", name=employer.name, level=1)).to_be_visible()
        _check(view, shoot, f"employer-opportunities-{width}")
    page.get_by_role("button", name=f"Confirm {opp.title}").click()
    expect(page.get_by_text("Confirmed. Thank you.")).to_be_visible()
    page.get_by_role("link", name=f"Edit {opp.title}").click()
    expect(page.get_by_role("heading", name=f"Edit {opp.title}")).to_be_visible()
    _check(page, shoot, "employer-edit-desktop")
    page.get_by_label("Students on shift pattern 1").fill("7")
    page.get_by_label("Contact email").fill("not an email")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Enter an email address like name@example.org.")).to_be_visible()
    axe_clean(page)
    page.get_by_label("Contact email").fill("boss@example.org")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text(f"Saved the changes to {opp.title}.")).to_be_visible()
    session.expire_all()
    first = session.scalars(
        select(Slot).where(Slot.opportunity_id == opp.id).order_by(Slot.id)
    ).first()
    assert first is not None
    assert first.capacity == 7
    phone.goto(live.url + "/employer/opportunities/new")
    expect(phone.get_by_role("heading", name="Add an opportunity")).to_be_visible()
    _check(phone, shoot, "employer-new-phone")


def test_employer_declines_a_placed_student_with_a_reason(
    live: Live,
    page: Page,
    phone: Page,
    session: Session,
    program: Program,
    shoot: Callable[[Page, str], Path],
) -> None:
    """After publishing, the employer declines a student, giving a reason; it is recorded."""
    rnd = published_round(session, program)
    a = session.scalars(
        select(Assignment).where(Assignment.run_id == rnd.chosen_run_id).order_by(Assignment.id)
    ).first()
    assert a is not None
    employer = session.get_one(Employer, a.opportunity.employer_id)
    path = _link(session, rnd, "employer", employer.external_id)
    name = short_name(a.student.name)
    session.commit()
    for view, width in ((page, "desktop"), (phone, "phone")):
        view.goto(live.url + path)
        expect(view.get_by_role("heading", name="Students placed with you")).to_be_visible()
        _check(view, shoot, f"employer-students-{width}")
    card = phone.get_by_role("listitem").filter(has=phone.get_by_role("heading", name=name))
    card.get_by_label("Reason").fill("We cannot offer the hours this term")
    card.get_by_role("button", name=f"Decline {name}").click()
    expect(phone.get_by_text(f"Declined {name}.")).to_be_visible()
    session.expire_all()
    assert session.get_one(Assignment, a.id).status == AssignmentStatus.declined


def test_student_page_and_subscribed_feed(
    live: Live,
    page: Page,
    phone: Page,
    session: Session,
    program: Program,
    shoot: Callable[[Page, str], Path],
) -> None:
    """A placed student opens their page; the subscribe link's feed parses and holds the
    shifts of their placement."""
    rnd = published_round(session, program)
    a = session.scalars(
        select(Assignment).where(Assignment.run_id == rnd.chosen_run_id).order_by(Assignment.id)
    ).first()
    assert a is not None
    path = _link(session, rnd, "student", a.student.external_id)
    title = a.opportunity.title
    slot_blocks = len(a.slot.blocks)
    session.commit()
    for view, width in ((page, "desktop"), (phone, "phone")):
        view.goto(live.url + path)
        expect(view.get_by_role("heading", name=title)).to_be_visible()
        expect(view.get_by_role("img", name="QR code of your calendar's address")).to_be_visible()
        _check(view, shoot, f"student-page-{width}")
    href = page.get_by_role("link", name="Subscribe in my calendar").get_attribute("href")
    assert href is not None
    assert href.startswith("webcal://")
    feed_path = "/feeds/" + href.split("/feeds/", 1)[1]
    response = page.request.get(live.url + feed_path)
    assert response.ok
    calendar = icalendar.Calendar.from_ical(response.body())
    events = [e for e in calendar.walk("VEVENT") if e.get("STATUS") != "CANCELLED"]
    assert len(events) == slot_blocks
    assert all(title in str(e["SUMMARY"]) for e in events)


def test_mentor_page(
    live: Live,
    page: Page,
    phone: Page,
    session: Session,
    program: Program,
    shoot: Callable[[Page, str], Path],
) -> None:
    """A mentor's page lists their students by first name and last initial."""
    rnd = published_round(session, program)
    mentored = session.scalars(
        select(Assignment)
        .where(Assignment.run_id == rnd.chosen_run_id, Assignment.mentor_id.is_not(None))
        .order_by(Assignment.id)
    ).first()
    if mentored is not None:
        mentor_ext = mentored.mentor.external_id  # type: ignore[union-attr]
        expected = short_name(mentored.student.name)
    else:
        mentor_row = next(
            links.link_rows(session, rnd, base_url="", secret=SECRET, kinds=("mentor",))
        )
        mentor_ext, expected = mentor_row.id, None
    path = _link(session, rnd, "mentor", mentor_ext)
    session.commit()
    for view, width in ((page, "desktop"), (phone, "phone")):
        view.goto(live.url + path)
        expect(view.get_by_role("heading", name="your students", exact=False)).to_be_visible()
        if expected:
            expect(view.get_by_role("heading", name=expected)).to_be_visible()
        _check(view, shoot, f"mentor-page-{width}")
