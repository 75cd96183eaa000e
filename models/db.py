"""Where the database is and how to connect: `database_url`, `make_engine`,
`make_session_factory`.

Functions that work on data receive a `Session` and never commit: the caller owns the
transaction (`with Session() as s, s.begin(): ...`), so one command or one web request is one
unit of work that either happens whole or not at all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

ENV_VAR = "WBL_DATABASE_URL"


def database_url() -> str:
    """`WBL_DATABASE_URL`, else a SQLite file `instance/wbl.db` under the working directory
    (the folder is created)."""
    url = os.environ.get(ENV_VAR)
    if url:
        return url
    path = Path.cwd() / "instance" / "wbl.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Run on every new SQLite connection: SQLite defaults suit no application."""
    cursor = dbapi_connection.cursor()
    try:
        # Off by default in SQLite; without it, foreign keys are decoration.
        cursor.execute("PRAGMA foreign_keys = ON")
        # Readers do not block the writer (a solve job writes while pages read); a no-op for
        # in-memory databases.
        cursor.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL is still crash-safe for the database (only the last commits may
        # be lost on power failure) and makes bulk imports several times faster than FULL.
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for `url` (default `database_url()`); SQLite gets WAL and foreign keys.

    `kwargs` go to `create_engine` (tests pass `connect_args`)."""
    engine = create_engine(url or database_url(), **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`.

    expire_on_commit=False: what a transaction returned (the imported round, a run) stays
    readable after the commit, without a query per attribute against a closed session."""
    return sessionmaker(bind=engine, expire_on_commit=False)
