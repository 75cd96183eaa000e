"""Mail through the outbox: messages queued in the caller's transaction, sent by the queue's
task (written as .eml files without SMTP), a failed address recorded and reported, never lost."""

from __future__ import annotations

import email
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from models import (
    Employer,
    MailMessage,
    MailStatus,
    Mentor,
    Program,
    Student,
    User,
    make_session_factory,
)
from scheduler import links, mail
from tests.scheduler.published_rounds import SECRET, published_round


@pytest.fixture(autouse=True)
def _mail_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv(links.ENV_VAR, SECRET.decode())
    monkeypatch.setenv("WBL_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.delenv(mail.ENV_VAR, raising=False)
    return tmp_path / "mail"


def test_links_are_queued_for_everyone_and_sent_as_eml(
    session: Session, engine: Engine, program: Program, tmp_path: Path
) -> None:
    """Every student with an address gets their page link in an .eml file; mentors (no address
    on record) are recorded as failed, with the reason."""
    rnd = published_round(session, program)
    ids = mail.queue_links(session, rnd, base_url="https://wbl.example.org")
    session.commit()
    sent = mail.send_pending(make_session_factory(engine), ids)
    assert sent == len(ids)
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == len(ids)
    students = session.scalar(
        select(func.count())
        .select_from(Student)
        .where(Student.round_id == rnd.id, Student.email.is_not(None))
    )
    assert students
    message = email.message_from_bytes(files[0].read_bytes())
    assert "https://wbl.example.org/p/" in message.get_payload()
    without = sum(
        session.scalar(select(func.count()).select_from(model).where(*where)) or 0
        for model, where in (
            (Mentor, (Mentor.round_id == rnd.id,)),
            (Student, (Student.round_id == rnd.id, Student.email.is_(None))),
            (Employer, (Employer.round_id == rnd.id, Employer.contact_email.is_(None))),
        )
    )
    report = mail.mail_report(session, rnd, None)
    assert report.sent == len(ids)
    assert report.failed == without
    assert all(f.error == "no email address on record" for f in report.failures)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_failed_address_is_recorded_and_reported(
    session: Session,
    engine: Engine,
    program: Program,
    make_user: Callable[..., User],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An SMTP server that does not answer: the attempt raises (so the queue retries), the row
    keeps its error, and after the last attempt it is failed and on the report."""
    rnd = published_round(session, program)
    make_user(email="coord@example.org")
    ids = mail.queue_decline(session, rnd, employer="Acme", student="st-1 (Ana N.)", reason="x")
    session.commit()
    assert len(ids) == 1
    monkeypatch.setenv(mail.ENV_VAR, f"smtp://127.0.0.1:{_closed_port()}")
    factory = make_session_factory(engine)
    with pytest.raises(RuntimeError, match="1 messages failed"):
        mail.send_pending(factory, ids, final=False)
    session.expire_all()
    row = session.get_one(MailMessage, ids[0])
    assert (row.status, row.attempts) == (MailStatus.queued, 1)
    assert row.last_error
    with pytest.raises(RuntimeError):
        mail.send_pending(factory, ids, final=True)
    session.expire_all()
    assert session.get_one(MailMessage, ids[0]).status == MailStatus.failed
    report = mail.mail_report(session, rnd, None)
    assert [f.to for f in report.failures] == ["coord@example.org"]


def test_report_is_staff_only(session: Session, program: Program) -> None:
    """A link holder does not read the round's mail report."""
    from scheduler.access import LinkHolder
    from scheduler.errors import NotAllowed

    rnd = published_round(session, program)
    with pytest.raises(NotAllowed):
        mail.mail_report(session, rnd, LinkHolder(kind="student", round_id=rnd.id, row_id=1))
