"""Fixtures of the web tests: `app` on the test's fresh database, its `client`, and a published
round with every person's feed URL."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from models import Program, Round
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
