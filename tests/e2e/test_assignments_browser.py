"""The assignments page in a real browser: filter, search and follow a page by role and
label, axe-clean at desktop and phone widths, the table scrolling inside its own box."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Program, Student, User
from tests.conftest import PASSWORD
from tests.e2e.conftest import Live, axe_clean, no_horizontal_scroll
from tests.scheduler.published_rounds import published_round


def _log_in(view: Page, live: Live, user: User, path: str) -> None:
    view.goto(f"{live.url}{path}")
    view.get_by_label("Email").fill(user.email)
    view.get_by_label("Password").fill(PASSWORD)
    view.get_by_role("button", name="Log in").click()


def test_assignments_filter_search_and_pages(
    live: Live,
    page: Page,
    phone: Page,
    session: Session,
    program: Program,
    make_user: Callable[..., User],
    shoot: Callable[[Page, str], Path],
) -> None:
    """A coordinator filters to the unplaced, searches a student by name, clears it and follows
    the next page; the page is axe-clean and never wider than a phone."""
    live.app.config["ASSIGNMENTS_PAGE_SIZE"] = 15
    rnd = published_round(session, program)
    session.commit()
    user = make_user()
    path = f"/rounds/{rnd.id}/assignments"
    for view, width in ((page, "desktop"), (phone, "phone")):
        _log_in(view, live, user, path)
        expect(view.get_by_role("heading", name="Assignments", level=1)).to_be_visible()
        table = view.get_by_role("table")
        expect(table.get_by_role("row")).to_have_count(16)
        axe_clean(view)
        no_horizontal_scroll(view)
        shoot(view, f"assignments-{width}")
        if width == "phone":
            wrap_scrolls = view.evaluate(
                "(() => { const w = document.querySelector('.table-wrap');"
                " return w.scrollWidth > w.clientWidth; })()"
            )
            assert wrap_scrolls, "the table should scroll inside its box on a phone"

    # Filter: the unplaced only, each with its reasons in words.
    page.get_by_label("Placed", exact=True).select_option(label="Unplaced only")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("cell", name="Not placed:").first).to_be_visible()
    axe_clean(page)

    # Search a name: the field keeps it, the URL never shows it.
    name = session.scalars(
        select(Student.name).where(Student.round_id == rnd.id).order_by(Student.name)
    ).first()
    assert name is not None
    page.get_by_role("link", name="Reset filters").click()
    page.get_by_label("Search", exact=True).fill(name)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_label("Search", exact=True)).to_have_value(name)
    expect(page.get_by_role("rowheader", name=name)).to_be_visible()
    assert name.split()[0] not in page.url
    page.get_by_role("button", name="Clear search").click()
    expect(page.get_by_label("Search", exact=True)).to_have_value("")

    # Sort by id, then the next page.
    page.get_by_role("link", name="Id", exact=True).click()
    expect(page.get_by_role("columnheader", name="Id")).to_have_attribute("aria-sort", "ascending")
    # Whole rows (the id is in each): names alone may repeat.
    first_rows = page.get_by_role("row").all_inner_texts()[1:]
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_role("link", name="First page")).to_be_visible()
    next_rows = page.get_by_role("row").all_inner_texts()[1:]
    assert len(first_rows) == 15
    assert next_rows
    assert not set(first_rows) & set(next_rows)
    axe_clean(page)
    no_horizontal_scroll(page)
