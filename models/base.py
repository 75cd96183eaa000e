"""The declarative base every model shares: constraint names, column types, small helpers.

One `Base` means one `MetaData`, which Alembic compares against the database (`alembic check`).
Its naming convention gives every index and constraint a predictable name, so a migration can
drop or alter one on any backend (SQLite's batch mode rebuilds tables by these names).

Datetimes are always timezone-aware UTC in Python. PostgreSQL stores `timestamptz`; SQLite has
no time zones and hands back naive values, so `UTCDateTime` refuses naive datetimes on the way
in and marks stored ones as UTC on the way out: the same code sees the same values on both.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Dialect, MetaData
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime, stored in UTC; naive datetimes are refused, not guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone (UTC) to store it")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: stored as UTC without an offset
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    """Now, aware, in UTC: the default of every timestamp column."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """The base of every model; `Base.metadata` is what Alembic migrates."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        # Enums are stored as short strings with a CHECK constraint rather than as native
        # PostgreSQL ENUM types: adding a status later is then a constraint change on both
        # backends, not an ALTER TYPE that cannot run inside a transaction.
        enum.Enum: SAEnum(enum.Enum, native_enum=False, create_constraint=True, length=32),
    }


def json_column_type(*, nullable: bool = False) -> JSON:
    """JSON for lists and objects that are read whole and never queried inside.

    A nullable one stores Python None as SQL NULL (not the JSON text `null`), so that `IS NULL`
    finds it."""
    return JSON(none_as_null=nullable)
