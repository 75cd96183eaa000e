"""The geocode cache: one row per address a geocoder answered for a program
(`models.geocode.GeocodeCache`), so that tables giving addresses instead of coordinates are
geocoded once, ever.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "geocode_cache",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("address", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("matched_address", sa.String(length=512), nullable=True),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("geocoded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(lat IS NULL) = (lon IS NULL)", name=op.f("ck_geocode_cache_location_whole")
        ),
        sa.CheckConstraint(
            "status IN ('match', 'no_match', 'tie')", name=op.f("ck_geocode_cache_status_known")
        ),
        sa.CheckConstraint(
            "(status = 'match') = (lat IS NOT NULL)", name=op.f("ck_geocode_cache_match_located")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_geocode_cache_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_geocode_cache")),
        sa.UniqueConstraint("program_id", "key", name=op.f("uq_geocode_cache_program_id_key")),
    )


def downgrade() -> None:
    op.drop_table("geocode_cache")
