"""Private links and calendar feed state: `PrivateLink` (one per person and round) and
`FeedState` (one row per feed: its events' change-tracking state and its last calendar).

A private link names one student, employer or mentor of a round; its token is the secret in a
feed URL (`/feeds/<token>.ics`). The database holds only the token's SHA-256 (`token_hash`,
unique: the lookup of an incoming token) and a random `nonce`; the token itself is an HMAC of
the nonce under the application's secret key (`scheduler.links`), so a leaked backup alone
reveals no working URL, and the application can still show a link again. Rotating a link
replaces its nonce and hash in place (the old token stops resolving at once) and stamps
`rotated_at`; `revoked_at` switches a link off without a replacement.

The person is one of three nullable foreign keys, the one that `kind` names (a CHECK says so):
real foreign keys, so deleting a student deletes their link, and each is unique, which is the
rule "one link per person and round" (a person belongs to one round). NULLs do not collide in a
unique constraint on either backend.

`FeedState` is one JSON row per feed rather than one row per event: a feed is always read and
written whole (`scheduler.calendars.update_feed` takes and returns all its events' state), so
serving a feed reads one row by its unique key. `source_hash` is a digest of what the feed was
last built from; while it is unchanged the stored `ical` bytes are served as they are (the
cache that lasts until the feed's placements change). At 100,000 students a round has about
100,000 + employers + mentors rows of a few kilobytes each.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, json_column_type, utcnow

if TYPE_CHECKING:
    from models.round import Employer, Mentor, Round, Student


class LinkKind(enum.StrEnum):
    """Whose link it is; also the first part of the feed's key (`student:<id>`)."""

    employer = "employer"
    student = "student"
    mentor = "mentor"


class PrivateLink(Base):
    """One person's private link of a round: its token's hash and the nonce it derives from."""

    __tablename__ = "private_links"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'student') = (student_id IS NOT NULL)"
            " AND (kind = 'employer') = (employer_id IS NOT NULL)"
            " AND (kind = 'mentor') = (mentor_id IS NOT NULL)",
            name="one_person_of_its_kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    kind: Mapped[LinkKind]
    # Each unique: one link per person (and so per round); the unique index serves the key.
    student_id: Mapped[int | None] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), unique=True
    )
    employer_id: Mapped[int | None] = mapped_column(
        ForeignKey("employers.id", ondelete="CASCADE"), unique=True
    )
    mentor_id: Mapped[int | None] = mapped_column(
        ForeignKey("mentors.id", ondelete="CASCADE"), unique=True
    )
    # Hex SHA-256 of the token: what an incoming token is looked up by.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Hex of 32 random bytes; the token is HMAC(secret key, nonce), never stored.
    nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    round: Mapped[Round] = relationship()
    student: Mapped[Student | None] = relationship()
    employer: Mapped[Employer | None] = relationship()
    mentor: Mapped[Mentor | None] = relationship()

    def __repr__(self) -> str:
        return f"<PrivateLink {self.id} {self.kind.value} round={self.round_id}>"


class FeedState(Base):
    """A feed's stored state: per event UID its sequence, content hash, cancelled flag,
    modification time and last content (`scheduler.calendars.EventState.to_dict`), and the
    calendar last rendered from it."""

    __tablename__ = "feed_states"
    __table_args__ = (UniqueConstraint("round_id", "feed_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # round_id leads the unique constraint, whose index serves the foreign key too.
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    # "student:<external id>", "employer:<...>", "mentor:<...>" (calendars.Feed.key).
    feed_key: Mapped[str] = mapped_column(String(300))
    events: Mapped[dict[str, Any]] = mapped_column(json_column_type(), default=dict)
    # Digest of the feed's name and events as last built: unchanged, `ical` is served as is.
    source_hash: Mapped[str] = mapped_column(String(64))
    ical: Mapped[bytes] = mapped_column(LargeBinary)
    # When the calendar's bytes last changed: the feed's Last-Modified.
    modified_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    round: Mapped[Round] = relationship()

    def __repr__(self) -> str:
        return f"<FeedState {self.round_id} {self.feed_key!r}>"
