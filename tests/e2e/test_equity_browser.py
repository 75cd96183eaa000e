"""The equity page in a real browser: every chart image loads (an SVG under its own policy,
shown by the page's <img>), the page is axe-clean and fits a phone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from models import Program, User
from tests.conftest import PASSWORD
from tests.e2e.conftest import Live, axe_clean, no_horizontal_scroll
from tests.scheduler.published_rounds import published_round


def test_equity_page_and_charts(
    live: Live,
    page: Page,
    phone: Page,
    session: Session,
    program: Program,
    make_user: Callable[..., User],
    shoot: Callable[[Page, str], Path],
) -> None:
    """A coordinator opens the equity page: seven chart images load, axe-clean, no sideways
    scroll, at desktop and phone widths."""
    rnd = published_round(session, program)
    session.commit()
    user = make_user()
    for view, width in ((page, "desktop"), (phone, "phone")):
        errors: list[str] = []
        # Console errors (a refused style or script would show here); the browser's own
        # request for /favicon.ico, which the app does not have, aside.
        view.on(
            "console",
            lambda m, errors=errors: (
                errors.append(m.text)
                if m.type == "error" and not m.location.get("url", "").endswith("favicon.ico")
                else None
            ),
        )
        view.goto(f"{live.url}/login")
        view.get_by_label("Email").fill(user.email)
        view.get_by_label("Password").fill(PASSWORD)
        view.get_by_role("button", name="Log in").click()
        expect(view.get_by_role("heading", name="Rounds")).to_be_visible()
        view.goto(f"{live.url}/rounds/{rnd.id}/equity")
        expect(view.get_by_role("heading", name="Equity and outcomes", level=1)).to_be_visible()
        expect(view.get_by_role("link", name="Equity")).to_have_attribute("aria-current", "page")
        images = view.get_by_role("img")
        expect(images).to_have_count(7)
        view.wait_for_load_state("load")
        for i in range(7):
            image = images.nth(i)
            image.scroll_into_view_if_needed()
            view.wait_for_function("(img) => img.complete", arg=image.element_handle())
            assert image.evaluate("(img) => img.naturalWidth") > 0, image.get_attribute("src")
        expect(view.get_by_role("img", name="Share of students placed for")).to_have_count(3)
        expect(view.get_by_role("table")).to_have_count(7)
        assert not errors, errors
        axe_clean(view)
        no_horizontal_scroll(view)
        shoot(view, f"equity-{width}")
