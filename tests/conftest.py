"""Shared fixtures: a fresh database for every test, sessions on it, and factories.

Which database: a SQLite file in the test's `tmp_path` by default. When
`WBL_TEST_DATABASE_URL` names a PostgreSQL server
(`postgresql+psycopg://postgres@127.0.0.1:5432/test`), each test gets a schema of its own on
it instead (`wbl_test_<random>`, the connection's `search_path`), dropped with everything in it
when the test ends, pass or fail. Tests on the same server, in parallel runs or other
checkouts, never see each other's tables, and nothing is left behind.

`empty_engine` is a database with no tables (for migration tests); `engine` has the schema of
the models; `session` is a session on it whose transaction the test owns.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session

from models import Base, Program, User, make_engine, make_session_factory
from scheduler.accounts import add_user

TEST_DATABASE_ENV = "WBL_TEST_DATABASE_URL"


def _postgres_engine(url: str) -> Iterator[Engine]:
    """An engine whose connections live in a new schema, dropped afterwards."""
    if make_url(url).get_backend_name() != "postgresql":
        pytest.fail(f"{TEST_DATABASE_ENV} must be a PostgreSQL URL (or unset for SQLite)")
    schema = f"wbl_test_{uuid.uuid4().hex[:16]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, connect_args={"options": f"-c search_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Private links derive from WBL_SECRET_KEY: every test has one, so none that publishes
    writes a development key into the folder the suite runs from."""
    monkeypatch.setenv("WBL_SECRET_KEY", "test-secret-key-of-the-suite")


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh database without tables: SQLite in tmp_path, or a PostgreSQL schema."""
    url = os.environ.get(TEST_DATABASE_ENV)
    if url:
        yield from _postgres_engine(url)
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'wbl.db'}")
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """A fresh database with every table of the models."""
    Base.metadata.create_all(empty_engine)
    return empty_engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the fresh database; the test commits (or not) as the application would."""
    with make_session_factory(engine)() as s:
        yield s


@pytest.fixture
def make_program(session: Session) -> Callable[..., Program]:
    """Make a program (flushed, so it has an id); keyword arguments override the defaults."""
    count = 0

    def make(**overrides: Any) -> Program:
        nonlocal count
        count += 1
        fields: dict[str, Any] = {"slug": f"program-{count}", "name": f"Program {count}"}
        fields.update(overrides)
        program = Program(**fields)
        session.add(program)
        session.flush()
        return program

    return make


@pytest.fixture
def program(make_program: Callable[..., Program]) -> Program:
    """One program to import rounds into."""
    return make_program()


# A password long enough for `scheduler.accounts`; the same for every test account.
PASSWORD = "correct horse battery"


@pytest.fixture
def make_user(session: Session, program: Program) -> Callable[..., User]:
    """Make an account (committed) with a role in a program (default: `program`)."""
    count = 0

    def make(
        role: str = "coordinator", *, program_slug: str | None = None, email: str | None = None
    ) -> User:
        nonlocal count
        count += 1
        line = add_user(
            session,
            email or f"user{count}@example.org",
            program_slug=program_slug or program.slug,
            role=role,
            password=PASSWORD,
            name=f"User {count}",
        )
        session.commit()
        user = session.get(User, line.user_id)
        assert user is not None
        return user

    return make
