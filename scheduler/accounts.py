"""Accounts: the coordinators, admins and viewers who log in to the web pages.

An account is a `User` (email, name, password hash, active) with one `Membership` per program
it works in, each with a role (`models.Role`: `coordinator` and `admin` read and change the
program's rounds, a `viewer` only reads; `scheduler.access` decides it on every request).
Employers, students and mentors have no account: they hold private links (`scheduler.links`).

Passwords are stored as werkzeug's salted scrypt hashes, never in the clear, and checked in
constant time; `authenticate` spends the same work on an unknown email as on a known one, so
the time of an answer does not tell which addresses have accounts. Deactivating an account
keeps it (its name stays on the audit trail) and refuses it at once everywhere: the login,
and every page and action of a session already open (`scheduler.access` reads `active` anew).

The command line is `wbl user add|deactivate|list` (`scheduler.cli_users`); the web's login is
`web.auth`. Both call these functions, inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from models import Membership, Program, Role, User
from scheduler.errors import ActionRefused

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "AccountLine",
    "AccountRefused",
    "active_user",
    "add_user",
    "authenticate",
    "deactivate_user",
    "list_users",
    "normalise_email",
]

# NIST SP 800-63B: at least 8 characters for a memorised secret chosen by its holder; these
# accounts read every student of a program, so the project asks for more.
MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 256
# Checked against when the email is unknown, so both answers cost one scrypt.
_DUMMY_HASH: Final = generate_password_hash("not a password of anyone's")


class AccountRefused(ActionRefused):
    """An account that cannot be added or changed as asked (rule `account`)."""

    def __init__(self, message: str) -> None:
        super().__init__("account", message)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountLine:
    """An account as the command line lists it: no hash, the programs with their roles."""

    user_id: int
    email: str
    name: str
    active: bool
    last_login_at: dt.datetime | None
    memberships: tuple[tuple[str, str], ...]  # (program slug, role), by slug


def normalise_email(email: str) -> str:
    """The form an email is stored and looked up in: trimmed, lower case."""
    return email.strip().lower()


def _valid_email(email: str) -> bool:
    local, at, domain = email.partition("@")
    return bool(at and local and "." in domain and " " not in email and len(email) <= 320)


def _line(user: User) -> AccountLine:
    return AccountLine(
        user_id=user.id,
        email=user.email,
        name=user.name,
        active=user.active,
        last_login_at=user.last_login_at,
        memberships=tuple(sorted((m.program.slug, m.role.value) for m in user.memberships)),
    )


def _by_email(session: Session, email: str) -> User | None:
    return session.scalars(
        select(User)
        .where(User.email == normalise_email(email))
        .options(selectinload(User.memberships).selectinload(Membership.program))
    ).one_or_none()


def add_user(
    session: Session,
    email: str,
    *,
    program_slug: str,
    role: Role | str,
    password: str | None = None,
    name: str | None = None,
) -> AccountLine:
    """Add an account, or give an existing one a role in another program (its role there is
    replaced when it had one). A new account needs a password; for an existing one, a password
    given replaces its own. A deactivated account is activated again."""
    email = normalise_email(email)
    if not _valid_email(email):
        raise AccountRefused(f"account: {email!r} is not an email address")
    try:
        role = Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise AccountRefused(f"account: no role {role!r} (roles: {known})") from None
    program = session.scalars(select(Program).where(Program.slug == program_slug)).one_or_none()
    if program is None:
        raise AccountRefused(f"account: no program {program_slug!r}")
    user = _by_email(session, email)
    if user is None and password is None:
        raise AccountRefused(f"account: a new account ({email}) needs a password")
    if password is not None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccountRefused(
                f"account: the password must have at least {MIN_PASSWORD_LENGTH} characters"
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise AccountRefused(
                f"account: the password must have at most {MAX_PASSWORD_LENGTH} characters"
            )
    if user is None:
        user = User(email=email, name=name or email.partition("@")[0], active=True)
        session.add(user)
    elif name:
        user.name = name
    if password is not None:
        user.password_hash = generate_password_hash(password)
    user.active = True
    membership = next((m for m in user.memberships if m.program_id == program.id), None)
    if membership is None:
        user.memberships.append(Membership(program=program, role=role))
    else:
        membership.role = role
    session.flush()
    session.refresh(user)
    return _line(user)


def deactivate_user(session: Session, email: str) -> AccountLine:
    """Refuse the account from now on: its login, its open sessions and its actions. The row
    stays, so the audit trail keeps its name; `add_user` activates it again."""
    user = _by_email(session, email)
    if user is None:
        raise AccountRefused(f"account: no account {normalise_email(email)!r}")
    user.active = False
    session.flush()
    return _line(user)


def list_users(session: Session, program_slug: str | None = None) -> tuple[AccountLine, ...]:
    """Every account (of one program when `program_slug` is given), by email."""
    query = (
        select(User)
        .options(selectinload(User.memberships).selectinload(Membership.program))
        .order_by(User.email)
    )
    if program_slug is not None:
        query = query.where(
            User.id.in_(
                select(Membership.user_id)
                .join(Program, Program.id == Membership.program_id)
                .where(Program.slug == program_slug)
            )
        )
    return tuple(_line(u) for u in session.scalars(query))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active account with this email and password, its `last_login_at` set; None for
    anything else, after the same work (an unknown email, a wrong password, an account
    deactivated or without a password)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    user = session.scalars(select(User).where(User.email == normalise_email(email))).one_or_none()
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    matches = check_password_hash(stored, password)
    if user is None or not user.password_hash or not matches or not user.active:
        return None
    user.last_login_at = dt.datetime.now(dt.UTC)
    return user


def active_user(session: Session, user_id: int) -> User | None:
    """The account with this id while it is active (a session's user, loaded per request)."""
    user = session.get(User, user_id)
    return user if user is not None and user.active else None
