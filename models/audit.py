"""Who changed what: `AuditEvent`, one row per coordinator action (pin, move, publish...).

Events belong to a program and outlive what they describe: when a round or a user is deleted
their events stay, with the reference set to null (the detail keeps the ids of the document).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, json_column_type, utcnow

if TYPE_CHECKING:
    from models.program import Program, User
    from models.round import Round


class AuditEvent(Base):
    """An action: `action` is a dotted verb (`round.publish`, `assignment.move`), the target a
    table name and an id (an external id where the target has one), `detail` the rest."""

    __tablename__ = "audit_events"
    # The audit page lists a program's latest events first; this index serves that and the
    # program_id foreign key. A student's story reads the events about one target of a round.
    __table_args__ = (
        Index(None, "program_id", "at"),
        Index(None, "round_id", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    round_id: Mapped[int | None] = mapped_column(
        ForeignKey("rounds.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None]
    detail: Mapped[dict[str, Any]] = mapped_column(json_column_type(), default=dict)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    program: Mapped[Program] = relationship(back_populates="audit_events")
    round: Mapped[Round | None] = relationship()
    user: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action} {self.target_type}:{self.target_id}>"
