"""Browser tests: the app served on a real port, driven by Playwright in Debian's Chromium.

Only `/usr/bin/chromium` is used (`apt-get install chromium`; `.ci/run` installs it): no browser
is ever downloaded. Without it these tests skip, except when `WBL_REQUIRE_BROWSER` is set (CI
sets it), where they fail. Pages are checked with axe-core (`axe_clean`: no serious or critical
violation) and photographed at desktop and phone widths (`shoot`: into `WBL_SCREENSHOTS` when
set, which `make screenshots` points at `docs/screenshots/`, else into the test's tmp folder).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Engine
from werkzeug.serving import make_server

from tests.scheduler.published_rounds import SECRET
from web import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SERIOUS = ("serious", "critical")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the whole session."""
    if not CHROMIUM.exists():
        if os.environ.get("WBL_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium`")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@dataclass(frozen=True, slots=True)
class Live:
    """The app serving on a port of its own, and its base URL."""

    app: Flask
    url: str


@pytest.fixture
def live(engine: Engine) -> Iterator[Live]:
    """The app on the test's database, served by Werkzeug in a thread (threaded: the page's
    polling and a form post may overlap)."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_ENGINE": engine,
            "SECRET_KEY": SECRET.decode(),
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Live(app=app, url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A desktop-sized page in a context of its own (its own cookies)."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A page 390 px wide, as on a phone."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def axe_clean(page: Page) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v.get("impact") in SERIOUS]
    assert not serious, f"{page.url}:\n" + "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(", ".join(n["target"]) for n in v["nodes"][:5])
        for v in serious
    )


@pytest.fixture
def shoot(tmp_path: Path) -> Callable[[Page, str], Path]:
    """Photograph a page (full length) as `<name>.png` in the screenshots folder."""
    folder = Path(os.environ.get("WBL_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def no_horizontal_scroll(page: Page) -> None:
    """The page fits its width (a phone user never scrolls sideways; wide tables scroll in
    their own box)."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{page.url} is {overflow} px wider than the screen"
