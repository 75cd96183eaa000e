"""Fixtures of the web tests: `app` on the test's fresh database, its `client`, a published
round with every person's feed URL, accounts (`make_user`) and a client logged in as one
(`login`), and `form_token` to read a page's CSRF token as a browser would."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from models import Program, Round, User
from scheduler import links
from tests.scheduler.published_rounds import SECRET, published_round
from web import create_app


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    """The round and each person's feed path by (kind, external id)."""

    round_id: int
    paths: dict[tuple[str, str], str]


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(links.ENV_VAR, SECRET.decode())


@pytest.fixture
def app(engine: Engine) -> Flask:
    """The app on the test's database (SQLite file or PostgreSQL schema)."""
    return create_app({"TESTING": True, "DATABASE_ENGINE": engine, "SECRET_KEY": SECRET.decode()})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def feed_paths(session: Session, rnd: Round) -> dict[tuple[str, str], str]:
    """Each person's feed path (`/feeds/<token>.ics`)."""
    return {
        (r.kind, r.id): r.feed_url
        for r in links.link_rows(session, rnd, base_url="", secret=SECRET)
    }


@pytest.fixture
def published(session: Session, program: Program) -> Published:
    """A published 40-student round, committed, with its links."""
    rnd = published_round(session, program)
    paths = feed_paths(session, rnd)
    session.commit()
    return Published(round_id=rnd.id, paths=paths)


_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def login(client: FlaskClient) -> Callable[[User], FlaskClient]:
    """Log `client` in as an account without the password round trip (Flask-Login's session
    keys; the real login form has tests of its own)."""

    def log_in(user: User) -> FlaskClient:
        with client.session_transaction() as flask_session:
            flask_session["_user_id"] = str(user.id)
            flask_session["_fresh"] = True
        return client

    return log_in


def form_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form on the page at `path`, as a browser would post it."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    found = _TOKEN.search(page.get_data(as_text=True))
    assert found is not None, f"no CSRF token on {path}"
    return found.group(1)
