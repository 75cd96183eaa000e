"""Where the database is, and how SQLite connections are set up."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from models import database_url, make_engine
from models.db import ENV_VAR


def test_default_url_is_sqlite_under_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without WBL_DATABASE_URL: instance/wbl.db under the working directory, folder created."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    assert database_url() == f"sqlite:///{tmp_path / 'instance' / 'wbl.db'}"
    assert (tmp_path / "instance").is_dir()


def test_env_var_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """WBL_DATABASE_URL names the database when set."""
    monkeypatch.setenv(ENV_VAR, "postgresql+psycopg://somewhere/wbl")
    assert database_url() == "postgresql+psycopg://somewhere/wbl"


def test_sqlite_gets_wal_and_foreign_keys(tmp_path: Path) -> None:
    """Every SQLite connection has foreign keys on, WAL journaling and NORMAL sync."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1
    finally:
        engine.dispose()
