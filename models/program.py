"""Tenants and the people who work in them: `Program`, coordinator `User`s, `Membership`.

A program (a school district's CTE office, a youth-apprenticeship office) owns its rounds and
everything in them; every other row reaches a program directly or through its round. Users
exist once and join programs through memberships, so one coordinator can serve two programs.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow

if TYPE_CHECKING:
    from models.audit import AuditEvent
    from models.round import Round


class Role(enum.StrEnum):
    """What a member may do in a program: `viewer` reads, `coordinator` runs rounds, `admin`
    also manages members."""

    viewer = "viewer"
    coordinator = "coordinator"
    admin = "admin"


class Program(Base):
    """The tenant: a district or youth-apprenticeship office and its rounds."""

    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    rounds: Mapped[list[Round]] = relationship(
        back_populates="program", cascade="all, delete-orphan", passive_deletes=True
    )
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="program", cascade="all, delete-orphan", passive_deletes=True
    )
    audit_events: Mapped[list[AuditEvent]] = relationship(
        back_populates="program", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Program {self.id} {self.slug!r}>"


class User(Base):
    """A coordinator account. `email` is stored lower-case by whoever creates users."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str]
    # A salted hash from the web layer (werkzeug); None until the user sets a password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r}>"


class Membership(Base):
    """A user's role in one program."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "program_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # user_id leads the unique constraint, whose index serves the foreign key too.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[Role] = mapped_column(default=Role.coordinator)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    program: Mapped[Program] = relationship(back_populates="memberships")
