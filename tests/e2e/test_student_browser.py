"""The student page in a real browser: an unplaced student's reasons read as a person would,
a placed student moved with the Move page's "Move here" button, the flash and the history;
both pages axe-clean, without sideways scrolling, at desktop and phone widths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from models import Program, User
from tests.conftest import PASSWORD
from tests.e2e.conftest import Live, axe_clean, no_horizontal_scroll
from tests.web.test_student_page import _setup


def _log_in(view: Page, live: Live, user: User) -> None:
    view.goto(f"{live.url}/login")
    view.get_by_label("Email").fill(user.email)
    view.get_by_label("Password").fill(PASSWORD)
    view.get_by_role("button", name="Log in").click()
    expect(view.get_by_role("heading", name="Rounds")).to_be_visible()


def test_read_why_and_move_a_student(
    live: Live,
    page: Page,
    phone: Page,
    session: Session,
    program: Program,
    make_user: Callable[..., User],
    shoot: Callable[[Page, str], Path],
) -> None:
    """Read why a student is unplaced; move one with "Move here"; see the flash and history."""
    setup = _setup(session, program)
    user = make_user()
    # Ann moves at desktop width; at phone width Di takes the seat Ann left.
    for view, width, ext, name in ((page, "desktop", "s1", "Ann"), (phone, "phone", "s4", "Di")):
        _log_in(view, live, user)
        # Ed is left out: Bo holds the one seat he could take.
        view.goto(live.url + setup.path("s5"))
        expect(view.get_by_role("heading", name="Ed", level=1)).to_be_visible()
        why = view.get_by_role("region", name="Why not placed", exact=True)
        expect(why).to_contain_text("Seats taken.")
        expect(why).to_contain_text("Seats held by Bo (s2).")
        axe_clean(view)
        no_horizontal_scroll(view)
        shoot(view, f"student-{width}")

        # A placed student; the Move page offers a free slot of Beta Lab.
        view.goto(live.url + setup.path(ext))
        expect(view.get_by_role("heading", name=name, level=1)).to_be_visible()
        axe_clean(view)
        no_horizontal_scroll(view)
        view.get_by_role("link", name="Move", exact=True).click()
        expect(view.get_by_role("heading", name=f"Move {name}")).to_be_visible()
        axe_clean(view)
        no_horizontal_scroll(view)
        shoot(view, f"move-{width}")
        view.get_by_role("button", name="Move here").click()
        expect(view.get_by_role("heading", name=name, level=1)).to_be_visible()
        expect(view.get_by_role("status")).to_contain_text(f"{name} moved to slot")
        history = view.get_by_role("region", name="History", exact=True)
        expect(history).to_contain_text("Moved")
        expect(history).to_contain_text(user.email)
        axe_clean(view)
        no_horizontal_scroll(view)
