"""Private links and feed state (issue 10): `private_links`, one per student, employer and mentor
of a round (the token's SHA-256 and the nonce it is derived from, never the token), and
`feed_states`, one row per calendar feed (its events' change-tracking state and its last
rendered calendar).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "private_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "employer",
                "student",
                "mentor",
                name="linkkind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("student_id", sa.Integer(), nullable=True),
        sa.Column("employer_id", sa.Integer(), nullable=True),
        sa.Column("mentor_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(kind = 'student') = (student_id IS NOT NULL)"
            " AND (kind = 'employer') = (employer_id IS NOT NULL)"
            " AND (kind = 'mentor') = (mentor_id IS NOT NULL)",
            name=op.f("ck_private_links_one_person_of_its_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_private_links_round_id_rounds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_private_links_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["employer_id"],
            ["employers.id"],
            name=op.f("fk_private_links_employer_id_employers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mentor_id"],
            ["mentors.id"],
            name=op.f("fk_private_links_mentor_id_mentors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_private_links")),
        sa.UniqueConstraint("student_id", name=op.f("uq_private_links_student_id")),
        sa.UniqueConstraint("employer_id", name=op.f("uq_private_links_employer_id")),
        sa.UniqueConstraint("mentor_id", name=op.f("uq_private_links_mentor_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_private_links_token_hash")),
    )
    op.create_index(op.f("ix_private_links_round_id"), "private_links", ["round_id"], unique=False)
    op.create_table(
        "feed_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("feed_key", sa.String(length=300), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=False),
        sa.Column("ical", sa.LargeBinary(), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_feed_states_round_id_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_states")),
        sa.UniqueConstraint("round_id", "feed_key", name=op.f("uq_feed_states_round_id_feed_key")),
    )


def downgrade() -> None:
    op.drop_table("feed_states")
    op.drop_index(op.f("ix_private_links_round_id"), table_name="private_links")
    op.drop_table("private_links")
