"""Notifications by mail, sent on the queue: an outbox table (`models.MailMessage`) written in
the caller's transaction, and a queued task that sends each message, retries, and records
the outcome.

- Writing: `queue_links` (after publishing: every employer, student and mentor their link),
  `queue_change` (a placement changed after publishing: the people it touches),
  `queue_decline` (an employer declined: the round's coordinators). Each adds `queued` rows
  and returns their ids; the caller commits, then calls `enqueue(ids)`. Nothing is sent in a
  request. A person without an address on record gets a `failed` row at once ("no email
  address"), so the coordinator sees who was not told.
- Sending: `send_pending(factory, ids)` is what the queued task runs: each message is read,
  sent (SMTP from `WBL_SMTP_URL`, `smtp://user:password@host:port` or `smtps://...`; without
  it, outside production, written as an `.eml` file under `instance/mail/`), and marked `sent`
  or given its error; a failure raises after recording, so huey retries the task
  (`RETRIES` times, `RETRY_DELAY` seconds apart), and after the last attempt the row stays
  `failed` with its error.
- Reporting: `mail_report(session, rnd, actor)` counts a round's messages by status and lists
  the failed addresses, for the coordinator's dashboard.
"""

from __future__ import annotations

import functools
import logging
import os
import smtplib
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from huey import Huey
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from models import (
    MailMessage,
    MailStatus,
    Membership,
    Role,
    Round,
    Student,
    User,
    utcnow,
)
from scheduler.access import Actor, require_staff
from scheduler.db import connect, transaction
from scheduler.links import is_production, link_rows

__all__ = [
    "ENV_VAR",
    "RETRIES",
    "MailReport",
    "enqueue",
    "mail_report",
    "queue_change",
    "queue_decline",
    "queue_links",
    "register_tasks",
    "send_pending",
]

log = logging.getLogger(__name__)

ENV_VAR: Final = "WBL_SMTP_URL"
SENDER_VAR: Final = "WBL_MAIL_FROM"
RETRIES: Final = 3
RETRY_DELAY: Final = 60
_NO_ADDRESS: Final = "no email address on record"


class MailNotConfigured(RuntimeError):
    """Production without `WBL_SMTP_URL`: nothing can be sent."""


def _sender() -> str:
    return os.environ.get(SENDER_VAR, "wbl-scheduler <no-reply@localhost>")


def _add(
    session: Session, rnd: Round, kind: str, to: str | None, subject: str, body: str
) -> MailMessage:
    address = (to or "").strip()
    message = MailMessage(
        round_id=rnd.id,
        kind=kind,
        to_address=address,
        subject=subject[:300],
        body=body,
        status=MailStatus.queued if address else MailStatus.failed,
        last_error=None if address else _NO_ADDRESS,
    )
    session.add(message)
    return message


def queue_links(session: Session, rnd: Round, *, base_url: str) -> list[int]:
    """A message with their page's link to every employer, student and mentor of the round
    (mentors have no address on record: their rows say so). Returns the queued ids."""
    rows: list[MailMessage] = []
    for row in link_rows(session, rnd, base_url=base_url):
        if not row.page_url:
            continue  # a revoked link is not sent
        what = {
            "employer": "the students placed with you and your calendar",
            "student": "your placement, your week and your calendar",
            "mentor": "your students, your meetings and your calendar",
        }[row.kind]
        body = (
            f"Hello {row.name},\n\n{rnd.name}: the placements are out. This private link shows"
            f" {what}:\n\n{row.page_url}\n\nKeep it to yourself: anyone with the link sees"
            " your page. If it stops working, ask your coordinator for a new one.\n"
        )
        rows.append(_add(session, rnd, "link", row.email, f"{rnd.name}: your placement", body))
    session.flush()
    return [m.id for m in rows if m.status == MailStatus.queued]


def queue_change(
    session: Session, rnd: Round, student_ids: Iterable[int], *, what: str
) -> list[int]:
    """A message to each student named (and their placement's employer) that their
    placement changed after publishing; `what` says how, in words without other students."""
    ids = sorted(set(student_ids))
    rows: list[MailMessage] = []
    if not ids:
        return []
    for name, email in session.execute(
        select(Student.name, Student.email).where(Student.round_id == rnd.id, Student.id.in_(ids))
    ):
        body = (
            f"Hello {name},\n\n{rnd.name}: your placement changed. {what}\n\n"
            "Open your link to see it.\n"
        )
        rows.append(
            _add(session, rnd, "change", email, f"{rnd.name}: your placement changed", body)
        )
    session.flush()
    return [m.id for m in rows if m.status == MailStatus.queued]


def coordinator_addresses(session: Session, rnd: Round) -> list[str]:
    """The addresses of the round's program's active coordinators and admins."""
    return list(
        session.scalars(
            select(User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.program_id == rnd.program_id,
                Membership.role.in_((Role.coordinator, Role.admin)),
                User.active.is_(True),
            )
            .order_by(User.id)
        )
    )


def queue_decline(
    session: Session, rnd: Round, *, employer: str, student: str, reason: str
) -> list[int]:
    """A message to the round's coordinators: an employer declined a student (the student's
    document id and short name; the reason as given)."""
    body = (
        f"{employer} declined student {student} in {rnd.name}.\n\nReason: {reason}\n\n"
        "The seat stays held until a re-solve (or unplace); the next re-solve places the"
        " student elsewhere and never offers that employer again.\n"
    )
    rows = [
        _add(session, rnd, "decline", address, f"{rnd.name}: {employer} declined a student", body)
        for address in coordinator_addresses(session, rnd)
    ]
    session.flush()
    return [m.id for m in rows]


# --- Sending ------------------------------------------------------------------------------------


def _message(row: MailMessage) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = _sender()
    msg["To"] = row.to_address
    msg["Subject"] = row.subject
    msg["Message-ID"] = make_msgid(domain="wbl-scheduler")
    msg.set_content(row.body)
    return msg


def _deliver(msg: EmailMessage, row_id: int) -> None:
    url = os.environ.get(ENV_VAR)
    if not url:
        if is_production():
            raise MailNotConfigured(f"{ENV_VAR} is not set: production sends mail by SMTP")
        folder = Path(os.environ.get("WBL_MAIL_DIR") or Path.cwd() / "instance" / "mail")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{row_id:08d}.eml").write_bytes(msg.as_bytes())
        return
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port
    if parts.scheme == "smtps":
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            host, port or 465, context=ssl.create_default_context(), timeout=30
        )
    else:
        server = smtplib.SMTP(host, port or 587, timeout=30)
    with server:
        if parts.scheme == "smtp" and server.has_extn("starttls"):
            server.starttls(context=ssl.create_default_context())
        if parts.username:
            server.login(unquote(parts.username), unquote(parts.password or ""))
        server.send_message(msg)


def send_pending(factory: sessionmaker[Session], ids: Sequence[int], *, final: bool = True) -> int:
    """Send the queued messages of `ids`; each outcome is committed on its own. Returns how
    many were sent; raises `RuntimeError` after recording when any failed (so the queue
    retries the task; `final`: this is the last attempt, the rows stay `failed`)."""
    sent = 0
    failed: list[str] = []
    for ident in ids:
        with transaction(factory) as session:
            row = session.get(MailMessage, ident, with_for_update=True)
            if row is None or row.status == MailStatus.sent or not row.to_address:
                continue
            row.attempts += 1
            try:
                _deliver(_message(row), row.id)
            except Exception as exc:  # any failure of the server or the network is recorded
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                row.status = MailStatus.failed if final else MailStatus.queued
                failed.append(row.to_address)
                log.warning("mail %s to %s failed: %s", row.id, row.to_address, exc)
                continue
            row.status = MailStatus.sent
            row.sent_at = utcnow()
            row.last_error = None
            sent += 1
    if failed:
        raise RuntimeError(f"{len(failed)} messages failed: {', '.join(failed[:5])}")
    return sent


def _send_task(ids: list[int], task: Any = None) -> int:
    """The queued job: send `ids` with the worker's database; huey retries it on failure."""
    final = task is None or getattr(task, "retries", 0) == 0
    return send_pending(connect(), ids, final=final)


@functools.cache
def _task(huey: Huey) -> Any:
    return huey.task(name="send_mail", retries=RETRIES, retry_delay=RETRY_DELAY, context=True)(
        _send_task
    )


def register_tasks(huey: Huey) -> None:
    """Make the mail task known to a queue (its workers must know it to run it)."""
    _task(huey)


def enqueue(ids: Sequence[int]) -> None:
    """Put committed messages on the queue (nothing to do for none)."""
    if not ids:
        return
    from scheduler.jobs import queue  # here: jobs imports this module

    huey, _ = queue()
    _task(huey)(list(ids))


# --- Reporting ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedMail:
    to: str
    kind: str
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MailReport:
    """A round's messages by status, and the failed ones (latest first, at most `limit`)."""

    queued: int
    sent: int
    failed: int
    failures: tuple[FailedMail, ...]


def mail_report(session: Session, rnd: Round, actor: Actor, *, limit: int = 50) -> MailReport:
    """For the coordinator's dashboard: how many messages are queued, sent, failed, and which
    addresses failed (or had none). Two queries."""
    require_staff(session, rnd, actor)
    counts = dict(
        session.execute(
            select(MailMessage.status, func.count())
            .where(MailMessage.round_id == rnd.id)
            .group_by(MailMessage.status)
        ).all()
    )
    failures = tuple(
        FailedMail(to=to or "(none)", kind=kind, error=error or "")
        for to, kind, error in session.execute(
            select(MailMessage.to_address, MailMessage.kind, MailMessage.last_error)
            .where(MailMessage.round_id == rnd.id, MailMessage.status == MailStatus.failed)
            .order_by(MailMessage.id.desc())
            .limit(limit)
        )
    )
    return MailReport(
        queued=int(counts.get(MailStatus.queued, 0)),
        sent=int(counts.get(MailStatus.sent, 0)),
        failed=int(counts.get(MailStatus.failed, 0)),
        failures=failures,
    )
