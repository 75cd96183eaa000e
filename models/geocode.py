"""The geocode cache: what a geocoder said about an address, kept for every later import.

Each program has its own cache, keyed by the normalised one-line address
(`scheduler.geocode.Address.key`): students' home addresses are the program's data, deleted
with it and never answered to another program. A row records a match (`lat`, `lon`, the address the
geocoder matched) or an answer without coordinates (`no_match`, `tie`), so that a geocoder
with a usage policy (Nominatim: cache forever) is never asked the same question twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class GeocodeCache(Base):
    """One address's answer: `status` is `match` (with `lat`, `lon`), `no_match` or `tie`."""

    __tablename__ = "geocode_cache"
    __table_args__ = (
        UniqueConstraint("program_id", "key"),
        CheckConstraint("(lat IS NULL) = (lon IS NULL)", name="location_whole"),
        CheckConstraint("status IN ('match', 'no_match', 'tie')", name="status_known"),
        CheckConstraint("(status = 'match') = (lat IS NOT NULL)", name="match_located"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    # Normalised one-line address: upper case, punctuation dropped, spaces collapsed.
    key: Mapped[str] = mapped_column(String(512))
    # The address as it was first given, for people reading the cache.
    address: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    matched_address: Mapped[str | None] = mapped_column(String(512))
    # Which geocoder answered: "census", "file", "nominatim:<url>".
    source: Mapped[str] = mapped_column(String(512))
    geocoded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<GeocodeCache {self.key!r} {self.status}>"
