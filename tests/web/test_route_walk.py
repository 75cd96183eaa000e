"""Authorization on every route: the whole URL map walked (every rule, every method) as the
round's coordinator, admin and viewer, a coordinator of another program, a deactivated account
and an anonymous visitor, each expecting the answer their role must get (tests/web/walker.py
fills the parameters from a published round)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from models import Program, User
from scheduler.accounts import deactivate_user
from tests.web import walker
from tests.web.conftest import Published
from tests.web.walker import Target, location, to_login
from web.coordinator import ROUND_NAV

VISITORS = ("coordinator", "admin", "viewer", "other", "inactive", "anonymous")
LOGGED_OUT = ("inactive", "anonymous")


@dataclass(frozen=True, slots=True)
class Visitor:
    """A client as one kind of visitor, with a CSRF token valid for its session."""

    name: str
    client: FlaskClient
    csrf: str

    def send(self, target: Target) -> TestResponse:
        data = {"csrf_token": self.csrf} if target.method == "POST" else None
        response = self.client.open(
            target.path, method=target.method, data=data, headers={"Accept": "text/html"}
        )
        response.get_data()  # read whole (a stream, a file), then let go of it
        response.close()
        return response


@dataclass(frozen=True, slots=True)
class Walk:
    """The walk's round: the values of its parameters and the live token among them."""

    values: dict[str, object]
    token: str


@pytest.fixture
def walk(session: Session, published: Published) -> Walk:
    path = next(p for (kind, _), p in sorted(published.paths.items()) if kind == "student")
    token = path.removeprefix("/feeds/").removesuffix(".ics")
    return Walk(values=walker.round_values(session, published.round_id, token), token=token)


@pytest.fixture
def visitor(
    request: pytest.FixtureRequest,
    app: Flask,
    session: Session,
    make_user: Callable[..., User],
    make_program: Callable[..., Program],
    walk: Walk,
) -> Visitor:
    """A client as the visitor named by the test's parameter."""
    name: str = request.param
    client = app.test_client()
    user: User | None = None
    if name in ("coordinator", "admin", "viewer"):
        user = make_user(name)
    elif name == "other":
        elsewhere = make_program()
        session.commit()
        user = make_user("coordinator", program_slug=elsewhere.slug)
    elif name == "inactive":
        user = make_user("coordinator")
    if user is not None:
        with client.session_transaction() as flask_session:
            flask_session["_user_id"] = str(user.id)
            flask_session["_fresh"] = True
    if name == "inactive":
        assert user is not None
        deactivate_user(session, user.email)  # after the login: the open session must die
        session.commit()
    page = client.get("/login" if name in LOGGED_OUT else "/rounds")
    assert page.status_code == 200, (name, page.status_code)
    return Visitor(name=name, client=client, csrf=walker.csrf_token(page))


def _expected(who: str, target: Target, response: TestResponse) -> str | None:
    """What is wrong with `response` to `target` for visitor `who` (None: as it must be)."""
    status = response.status_code
    got = f"got {status}" + (f" to {location(response)}" if location(response) else "")
    if status >= 500:
        return f"server error: {got}"
    if target.method == "OPTIONS":
        # Flask answers OPTIONS itself, after the blueprint's login check.
        if target.needs_login and who in LOGGED_OUT and not to_login(response):
            return f"expected a redirect to /login, {got}"
        return None
    if target.endpoint == "auth.login" and target.method in ("GET", "HEAD"):
        if who in LOGGED_OUT:
            return None if status == 200 else f"the login page is for everyone (200), {got}"
        return None if location(response) == "/rounds" else f"expected /rounds, {got}"
    if target.public:
        return None
    if target.by_link:
        # Nobody in the walk holds a live link (tokens are replaced by one that is no link).
        return None if status == 404 else f"without a live private link: 404, {got}"
    if who in LOGGED_OUT:
        return None if to_login(response) else f"expected a redirect to /login, {got}"
    if to_login(response):
        return f"a logged-in {who} was sent to the login page: {got}"
    if who == "other":
        if target.about_round and status not in (403, 404):
            return f"another program's round and rows must not be found (404) or 403, {got}"
        return None
    if target.method == "POST":
        assert who == "viewer"
        if target.endpoint in walker.READ_ONLY_POSTS:
            return None if status < 400 else f"a viewer may send this read-only POST, {got}"
        return None if status == 403 else f"a viewer's POST must be refused with 403, {got}"
    if who == "viewer" and target.endpoint in walker.VIEWER_REFUSED_GETS:
        return None if status == 403 else f"a viewer must be refused this page (403), {got}"
    if who == "viewer":
        if status == 200 or (location(response) and not to_login(response)):
            return None
        return f"a viewer reads every page (200), {got}"
    if status in (403, 404):
        return f"the round's {who} must reach this page, {got}"
    return None


def _walked(who: str, target: Target) -> bool:
    """Whether `who` sends `target` in the walk. Logging out ends the walk (last, below); the
    coordinator's and admin's POSTs would change the round, and another program's coordinator
    only POSTs about this round."""
    if target.endpoint == "auth.logout":
        return False
    if target.method != "POST" or target.by_link:
        return True  # (nobody holds a live link: a link page's POST changes nothing)
    if who in ("coordinator", "admin"):
        return False
    if who == "other":
        return target.about_round
    return True


def test_every_rule_can_be_walked(app: Flask, walk: Walk) -> None:
    """Every rule's parameters are known to the walker (else: teach it, see the message)."""
    targets, problems = walker.targets(app, walk.values)
    assert not problems, "\n".join(problems)
    endpoints = {t.endpoint for t in targets}
    # The walk is not empty: it reaches the pages that exist on main at least.
    assert {"coordinator.rounds", "coordinator.dashboard", "feeds.feed", "auth.login"} <= endpoints
    assert {t.method for t in targets} >= {"GET", "HEAD", "OPTIONS", "POST"}


@pytest.mark.parametrize("visitor", VISITORS, indirect=True)
def test_route_walk(app: Flask, walk: Walk, visitor: Visitor) -> None:
    """Every rule and method, as this visitor, gets the answer the visitor's role must get."""
    targets, _ = walker.targets(app, walk.values)
    wrong: list[str] = []
    walked = 0
    for target in targets:
        if not _walked(visitor.name, target):
            continue
        walked += 1
        if target.by_token:
            target = walker.with_token(target, walk.token, walker.BOGUS_TOKEN)
        response = visitor.send(target)
        problem = _expected(visitor.name, target, response)
        if problem is not None:
            wrong.append(f"{target}: {problem}")
        if visitor.name == "other" and response.status_code == 200:
            link = re.compile(rf"/rounds/{walk.values['round_id']}(?![0-9])")
            if link.search(response.get_data(as_text=True)):
                wrong.append(f"{target}: links to another program's round")
    assert walked >= 8, walked
    logout = next(t for t in targets if t.endpoint == "auth.logout" and t.method == "POST")
    out = visitor.send(logout)
    if not to_login(out):
        wrong.append(f"{logout}: expected a redirect to /login, got {out.status_code}")
    assert not wrong, f"as {visitor.name}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("visitor", ["anonymous", "other"], indirect=True)
def test_private_links_need_a_live_token(app: Flask, walk: Walk, visitor: Visitor) -> None:
    """Every private-link route, every method, answers 404 to tokens that are no link."""
    targets, _ = walker.targets(app, walk.values)
    by_token = [t for t in targets if t.by_token and t.method != "OPTIONS"]
    assert by_token, "no private-link route in the app"
    wrong = []
    for target in by_token:
        for bogus in (walker.BOGUS_TOKEN, walk.token[:-1] + "x", "not-a-token", "x"):
            sent = walker.with_token(target, walk.token, bogus)
            status = visitor.send(sent).status_code
            if status != 404:
                wrong.append(f"{sent}: expected 404, got {status}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("visitor", ["anonymous"], indirect=True)
def test_a_live_link_is_served_to_anyone(app: Flask, walk: Walk, visitor: Visitor) -> None:
    """Every private-link route answers a live token without a login: 200, or a redirect to
    the holder's page (never the login)."""
    targets, _ = walker.targets(app, walk.values)
    wrong = []
    for target in targets:
        if not target.by_token or target.method not in ("GET", "HEAD"):
            continue
        response = visitor.send(target)
        if response.status_code != 200 and not (location(response) and not to_login(response)):
            wrong.append(f"{target}: got {response.status_code} {location(response)}")
    assert not wrong, "\n".join(wrong)


def test_round_nav_pages_exist(app: Flask) -> None:
    """Every endpoint of the round pages' navigation (ROUND_NAV) is a view of the app."""
    missing = [endpoint for endpoint, _ in ROUND_NAV if endpoint not in app.view_functions]
    assert not missing, f"ROUND_NAV names endpoints the app does not have: {missing}"
