"""The coordinator's runs in a real browser: the dashboard's Solve queues a run whose progress
bar updates in place while a worker solves it, then the result; Keep this run, Compare,
Publish and the links; the audit trail. Each page axe-clean, without sideways scrolling, and
photographed at desktop and phone widths."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import scheduler.jobs as jobs
from models import Program, RunStatus, SolveRun, User, make_session_factory
from scheduler.generate import generate_round
from tests.conftest import PASSWORD
from tests.e2e.conftest import Live, axe_clean, no_horizontal_scroll
from tests.scheduler.published_rounds import published_round
from tests.web.runs_helpers import queue_file

__all__ = ["queue_file"]  # the fixture, used by name

# The stage at which the test's worker pauses, so the page is seen mid-solve.
PAUSE_AT = "flow done"


def _log_in(view: Page, live: Live, user: User) -> None:
    view.goto(f"{live.url}/login")
    view.get_by_label("Email").fill(user.email)
    view.get_by_label("Password").fill(PASSWORD)
    view.get_by_role("button", name="Log in").click()
    expect(view.get_by_role("heading", name="Rounds")).to_be_visible()


def _check(view: Page, shoot: Callable[[Page, str], Path], name: str) -> None:
    axe_clean(view)
    no_horizontal_scroll(view)
    shoot(view, name)


@pytest.fixture
def worker(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """A worker thread that runs the first queued run with the real solver, pausing a few
    seconds at `PAUSE_AT` (the heartbeat writes every 0.2 s) so the page shows it mid-solve.
    Set the event to let it start."""
    monkeypatch.setattr(jobs, "HEARTBEAT_SECONDS", 0.2)
    real = jobs.solve

    def slow_solve(problem: Any, options: Any) -> Any:
        inner = options.progress

        def progress(p: Any) -> None:
            inner(p)
            if p.stage == PAUSE_AT:
                time.sleep(4)

        return real(problem, dataclasses.replace(options, progress=progress))

    monkeypatch.setattr(jobs, "solve", slow_solve)
    go = threading.Event()
    factory = make_session_factory(engine)
    stop = threading.Event()

    def work() -> None:
        go.wait(60)
        while not stop.is_set():
            with factory() as s:
                run_id = s.scalar(select(SolveRun.id).where(SolveRun.status == RunStatus.queued))
            if run_id is not None:
                time.sleep(2.5)  # the page first shows the run waiting for a worker
                jobs.execute_run(factory, run_id)
                return
            time.sleep(0.2)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield go
    stop.set()
    go.set()
    thread.join(timeout=60)


def test_solve_watch_keep_compare_publish(
    live: Live,
    page: Page,
    phone: Page,
    session: Session,
    program: Program,
    make_user: Callable[..., User],
    shoot: Callable[[Page, str], Path],
    queue_file: Path,
    worker: threading.Event,
) -> None:
    """Dashboard -> Solve -> live progress -> finished -> Keep this run -> Compare -> Publish
    -> links listed -> Audit, axe-clean at both widths."""
    rnd = published_round(session, program, generate_round(40, seed=3), publish=False)
    session.commit()
    user = make_user()
    _log_in(page, live, user)
    dashboard = f"{live.url}/rounds/{rnd.id}"
    page.goto(dashboard)
    expect(page.get_by_role("heading", name=rnd.name, level=1)).to_be_visible()
    _check(page, shoot, "dashboard-desktop")

    worker.set()
    page.get_by_label("Time limit (seconds)").fill("20")
    page.get_by_role("button", name="Solve").click()
    bar = page.get_by_role("progressbar")
    expect(bar).to_be_visible()
    text = page.locator("[aria-live=polite]").first
    expect(text).to_contain_text("waiting for a worker")
    axe_clean(page)
    no_horizontal_scroll(page)
    shoot(page, "dashboard-solving-desktop")
    # The bar updates in place while the worker solves (no reload while the run is active).
    expect(text).to_contain_text(PAUSE_AT, timeout=20_000)
    assert int(bar.get_attribute("value") or 0) > 0
    # Finished: the page reloads itself and shows the result.
    with session_for(session) as s:
        new_run = s.scalar(select(SolveRun.id).order_by(SolveRun.id.desc()).limit(1))
    expect(page.get_by_role("heading", name=f"Latest run: run {new_run}")).to_be_visible(
        timeout=30_000
    )
    expect(page.get_by_role("progressbar")).to_have_count(0)
    expect(page.get_by_role("rowheader", name="Students placed (weighted)")).to_be_visible()

    page.get_by_role("button", name="Keep this run").click()
    expect(page.get_by_text(f"Run {new_run} is now the round's answer.")).to_be_visible()
    _check(page, shoot, "dashboard-kept-desktop")

    page.get_by_role("link", name="Compare runs").first.click()
    expect(page.get_by_role("heading", name="Compare runs")).to_be_visible()
    expect(page.get_by_role("heading", name=f"against run {new_run}")).to_be_visible()
    _check(page, shoot, "compare-desktop")

    page.get_by_role("navigation", name="Round").get_by_role("link", name="Publish").click()
    expect(page.get_by_role("heading", name="What will be sent")).to_be_visible()
    _check(page, shoot, "publish-desktop")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("Published: every student")).to_be_visible()
    links = page.get_by_role("table").filter(has_text="Calendar feed")
    expect(links).to_be_visible()
    feed = links.get_by_role("link", name="/feeds/").first
    expect(feed).to_have_attribute("href", _FEED)
    expect(links.get_by_role("link", name="/p/").first).to_have_attribute(
        "href", re.compile(r"/p/[A-Za-z0-9_-]{43}$")
    )
    assert page.evaluate("document.querySelector('meta[name=referrer]').content") == "no-referrer"
    _check(page, shoot, "publish-links-desktop")

    page.get_by_role("navigation", name="Round").get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Audit")).to_be_visible()
    expect(page.get_by_role("rowheader", name="round.publish")).to_be_visible()
    _check(page, shoot, "audit-desktop")

    _log_in(phone, live, user)
    for path, name in (
        ("", "dashboard"),
        ("/compare", "compare"),
        ("/publish", "publish"),
        ("/audit", "audit"),
    ):
        phone.goto(f"{dashboard}{path}")
        expect(phone.get_by_role("heading", level=1)).to_be_visible()
        _check(phone, shoot, f"{name}-phone")


_FEED = re.compile(r"/feeds/[A-Za-z0-9_-]{43}\.ics$")


class session_for:
    """A fresh read of the database beside the test's session (its identity map is stale)."""

    def __init__(self, session: Session) -> None:
        bind = session.get_bind()
        assert isinstance(bind, Engine)
        self.session = make_session_factory(bind)()

    def __enter__(self) -> Session:
        return self.session

    def __exit__(self, *exc: object) -> None:
        self.session.close()
