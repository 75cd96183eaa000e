"""What the people without accounts leave behind: `DeclinedPair` (an employer declined a
student: the next re-solves never offer that pair again) and `MailMessage` (the outbox of
notifications: each message queued, sent, or failed with its error).

A decline is kept as its own row rather than as a coordinator's `Forbidden` pair: the round's
export stays the document that was imported (a decline is an answer, not input), while every
solve reads these rows as forbidden pairs (`scheduler.problems.round_problem(for_solve=True)`),
whichever run the re-solve starts from.

The outbox holds one row per message; a worker of the queue sends it (`scheduler.mail`) and
records the outcome, so an address that failed is reported to the coordinator, never lost.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow

if TYPE_CHECKING:
    from models.round import Opportunity, Round, Student


class DeclinedPair(Base):
    """An employer declined this student at this opportunity (with the reason given)."""

    __tablename__ = "declined_pairs"
    __table_args__ = (UniqueConstraint("student_id", "opportunity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str | None] = mapped_column(Text)
    declined_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    round: Mapped[Round] = relationship()
    student: Mapped[Student] = relationship()
    opportunity: Mapped[Opportunity] = relationship()


class MailStatus(enum.StrEnum):
    """A message's state: waiting for the queue, sent, or failed after its retries."""

    queued = "queued"
    sent = "sent"
    failed = "failed"


class MailMessage(Base):
    """One notification to one address."""

    __tablename__ = "mail_outbox"
    # The dashboard lists a round's failed messages.
    __table_args__ = (Index(None, "round_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Every message is about one round (a link, a change, a decline).
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    # What it is about: "link", "change", "decline" (for the report, not for sending).
    kind: Mapped[str] = mapped_column(String(32))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[MailStatus] = mapped_column(default=MailStatus.queued)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]

    round: Mapped[Round] = relationship()
