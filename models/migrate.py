"""Running the Alembic migrations from code: `upgrade` for `wbl db upgrade` and the tests.

The configuration is built here rather than read from `alembic.ini`, so an installed package
(with no repository around it) can migrate its database; `alembic.ini` at the repository root
is for developers running the `alembic` command (revisions, `alembic check`).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

from models.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic configuration for `models/migrations`, on `connection` (used as given, in
    its transaction) or else `url` (default: `database_url()`, read by env.py)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if url is not None:
        # ConfigParser interpolates "%": a URL-encoded password must be escaped.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    # The application configures logging; env.py must not replace it.
    config.attributes["configure_logger"] = False
    return config


def _run(engine_or_url: Engine | str, revision: str, *, up: bool) -> None:
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        # One transaction: on PostgreSQL a failed migration leaves nothing half-done.
        with engine.begin() as connection:
            config = alembic_config(connection)
            if up:
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Migrate the database to `revision` (default: the latest)."""
    _run(engine_or_url, revision, up=True)


def downgrade(engine_or_url: Engine | str, revision: str = "base") -> None:
    """Migrate the database down to `revision` (default: empty)."""
    _run(engine_or_url, revision, up=False)
