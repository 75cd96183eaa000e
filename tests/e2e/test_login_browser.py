"""The login in a real browser: labels and button found as a screen reader would, axe-clean at
desktop and phone widths, and the rounds page after it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from models import User
from tests.conftest import PASSWORD
from tests.e2e.conftest import Live, axe_clean, no_horizontal_scroll


def test_log_in_and_see_rounds(
    live: Live,
    page: Page,
    phone: Page,
    make_user: Callable[..., User],
    shoot: Callable[[Page, str], Path],
) -> None:
    """A coordinator logs in by label and button and reaches the rounds page, axe-clean."""
    user = make_user()
    for view, width in ((page, "desktop"), (phone, "phone")):
        view.goto(f"{live.url}/rounds")
        expect(view.get_by_role("heading", name="Log in")).to_be_visible()
        axe_clean(view)
        no_horizontal_scroll(view)
        shoot(view, f"login-{width}")
        view.get_by_label("Email").fill(user.email)
        view.get_by_label("Password").fill(PASSWORD)
        view.get_by_role("button", name="Log in").click()
        expect(view.get_by_role("heading", name="Rounds")).to_be_visible()
        axe_clean(view)
        no_horizontal_scroll(view)


def test_wrong_password_is_said_next_to_the_field(
    live: Live, page: Page, make_user: Callable[..., User]
) -> None:
    """A wrong password is refused with the message by the field, and the page stays axe-clean."""
    user = make_user()
    page.goto(f"{live.url}/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Email or password is not right.")).to_be_visible()
    axe_clean(page)
