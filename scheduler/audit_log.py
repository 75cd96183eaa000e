"""A round's audit trail as the audit page lists it: newest first, filtered, page by page.

`audit_page` reads the round's `AuditEvent`s (every coordinator action writes one, see
`scheduler.actions.audit`), newest first, filtered by action (an exact action such as
`round.publish`, or a kind such as `assignment`: every `assignment.*`), by the student an
event is about (their external id; `queries.student_story` shows the same events for one
student) and by the acting account. Keyset pagination on the event id (never an OFFSET): the
cursor is the last event's id, so any page costs what the first does. Staff only.

`audit_choices` gives the filters' choices: the actions and the accounts that occur in the
round's trail (one statement each over the round's events, which are people's actions:
thousands, not the round's 100,000 students).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import AuditEvent, Round, User
from scheduler.access import Actor, require_staff
from scheduler.errors import ActionRefused

__all__ = [
    "PAGE",
    "AuditChoices",
    "AuditEntry",
    "AuditFilter",
    "AuditPage",
    "audit_choices",
    "audit_page",
]

# Events per page.
PAGE: Final = 50
# What an entry shows of an event's detail: the rest (before/after documents) is long.
_SUMMARY_KEYS: Final = ("notes", "run", "published", "version", "reason")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    """What to list: `action` an exact action or a kind (the part before the dot), `student`
    a student's external id, `user_id` an account's id; None: any."""

    action: str | None = None
    student: str | None = None
    user_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One event: when, what, on what, by whom (the account's email as recorded; None for the
    system or the command line), and a short summary of its detail."""

    id: int
    at: dt.datetime
    action: str
    target_type: str | None
    target_id: str | None
    user: str | None
    summary: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditChoices:
    actions: tuple[str, ...]
    kinds: tuple[str, ...]
    users: tuple[tuple[int, str], ...]  # (account id, email)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditPage:
    entries: tuple[AuditEntry, ...]
    next_cursor: int | None  # the id to continue after; None on the last page
    choices: AuditChoices


def _summary(detail: Any) -> tuple[str, ...]:
    if not isinstance(detail, dict):
        return ()
    out: list[str] = []
    for key in _SUMMARY_KEYS:
        value = detail.get(key)
        if value is None or value == []:
            continue
        if key == "notes" and isinstance(value, list):
            out.extend(str(v) for v in value[:5])
            if len(value) > 5:
                out.append(f"... and {len(value) - 5} more notes")
        else:
            out.append(f"{key}: {value}")
    before, after = detail.get("before"), detail.get("after")
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) & set(after)):
            if before[key] != after[key] and not isinstance(after[key], dict | list):
                out.append(f"{key}: {before[key]} -> {after[key]}")
    return tuple(out)


def audit_page(
    session: Session,
    rnd: Round,
    actor: Actor,
    filters: AuditFilter | None = None,
    *,
    after: int | None = None,
    limit: int | None = None,
) -> AuditPage:
    """A page of the round's events, newest first (`after`: a page's `next_cursor`), with the
    filters' choices (`audit_choices`). Staff only; one statement for the page, two for the
    choices."""
    require_staff(session, rnd, actor)
    limit = PAGE if limit is None else limit
    if not 1 <= limit <= 500:
        raise ValueError(f"limit must be 1..500, not {limit}")
    f = filters or AuditFilter()
    query = (
        select(
            AuditEvent.id,
            AuditEvent.at,
            AuditEvent.action,
            AuditEvent.target_type,
            AuditEvent.target_id,
            User.email,
            AuditEvent.detail,
        )
        .outerjoin(User, User.id == AuditEvent.user_id)
        .where(AuditEvent.round_id == rnd.id)
        .order_by(AuditEvent.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        if after < 1:
            raise ActionRefused("cursor", "cursor: not a cursor of this audit trail")
        query = query.where(AuditEvent.id < after)
    if f.action:
        if "." in f.action:
            query = query.where(AuditEvent.action == f.action)
        else:
            query = query.where(
                or_(AuditEvent.action == f.action, AuditEvent.action.startswith(f"{f.action}."))
            )
    if f.student:
        query = query.where(AuditEvent.target_type == "students", AuditEvent.target_id == f.student)
    if f.user_id is not None:
        query = query.where(AuditEvent.user_id == f.user_id)
    rows = session.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    entries = tuple(
        AuditEntry(
            id=r.id,
            at=r.at,
            action=r.action,
            target_type=r.target_type,
            target_id=r.target_id,
            # The email recorded with the event outlives a deleted account.
            user=r.email or (r.detail or {}).get("user"),
            summary=_summary(r.detail),
        )
        for r in rows
    )
    return AuditPage(
        entries=entries,
        next_cursor=rows[-1].id if more and rows else None,
        choices=audit_choices(session, rnd, actor),
    )


def audit_choices(session: Session, rnd: Round, actor: Actor) -> AuditChoices:
    """The actions, kinds and accounts found in the round's trail, for the filters. Staff
    only."""
    require_staff(session, rnd, actor)
    actions = tuple(
        session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.round_id == rnd.id)
            .distinct()
            .order_by(AuditEvent.action)
        )
    )
    users = tuple(
        (int(uid), str(email))
        for uid, email in session.execute(
            select(User.id, User.email)
            .where(
                User.id.in_(
                    select(AuditEvent.user_id).where(
                        AuditEvent.round_id == rnd.id, AuditEvent.user_id.is_not(None)
                    )
                )
            )
            .order_by(User.email)
        )
    )
    kinds = tuple(sorted({a.split(".", 1)[0] for a in actions if "." in a}))
    return AuditChoices(actions=actions, kinds=kinds, users=users)
