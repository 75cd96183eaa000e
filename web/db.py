"""One database session per request: opened on first use, closed (rolled back if the view did
not commit) when the request ends. The session factory lives on the app, not in the module."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from models import make_engine, make_session_factory

__all__ = ["get_session", "init_app"]

_EXTENSION = "wbl_sessions"


def init_app(app: Flask) -> None:
    """Give the app its engine and session factory, and close each request's session."""
    # DATABASE_ENGINE: an engine a test made (a PostgreSQL schema of its own), used as is.
    engine = app.config.get("DATABASE_ENGINE") or make_engine(app.config["DATABASE_URL"])
    app.extensions[_EXTENSION] = make_session_factory(engine)
    app.teardown_appcontext(_close)


def get_session() -> Session:
    """The request's session."""
    if "db_session" not in g:
        factory: sessionmaker[Session] = current_app.extensions[_EXTENSION]
        g.db_session = factory()
    session: Session = g.db_session
    return session


def _close(_error: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
