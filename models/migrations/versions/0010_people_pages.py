"""The pages without accounts (issue 12): an employer's answers on its opportunities
(confirmed, withdrawn, the site contact, a change counter), the round's "solve with confirmed
opportunities only" setting, declined (student, opportunity) pairs that later solves never offer
again, and the mail outbox.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "sent",
                "failed",
                name="mailstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_mail_outbox_round_id_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mail_outbox_round_id_status"), ["round_id", "status"], unique=False
        )

    op.create_table(
        "declined_pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("declined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunities.id"],
            name=op.f("fk_declined_pairs_opportunity_id_opportunities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_declined_pairs_round_id_rounds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_declined_pairs_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_declined_pairs")),
        sa.UniqueConstraint(
            "student_id", "opportunity_id", name=op.f("uq_declined_pairs_student_id_opportunity_id")
        ),
    )
    with op.batch_alter_table("declined_pairs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_declined_pairs_opportunity_id"), ["opportunity_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_declined_pairs_round_id"), ["round_id"], unique=False)

    # Plain ADD COLUMN on both backends: batch mode would rebuild `rounds` on SQLite, and
    # dropping the old table cascades to its runs.
    op.add_column("opportunities", sa.Column("confirmed_at", sa.DateTime(timezone=True)))
    op.add_column("opportunities", sa.Column("withdrawn_at", sa.DateTime(timezone=True)))
    op.add_column("opportunities", sa.Column("contact_name", sa.String()))
    op.add_column("opportunities", sa.Column("contact_phone", sa.String(length=40)))
    op.add_column("opportunities", sa.Column("contact_email", sa.String(length=320)))
    op.add_column(
        "opportunities",
        sa.Column("employer_version", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "rounds",
        sa.Column("confirmed_only", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_column("confirmed_only")

    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        batch_op.drop_column("employer_version")
        batch_op.drop_column("contact_email")
        batch_op.drop_column("contact_phone")
        batch_op.drop_column("contact_name")
        batch_op.drop_column("withdrawn_at")
        batch_op.drop_column("confirmed_at")

    with op.batch_alter_table("declined_pairs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_declined_pairs_round_id"))
        batch_op.drop_index(batch_op.f("ix_declined_pairs_opportunity_id"))

    op.drop_table("declined_pairs")
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_outbox_round_id_status"))

    op.drop_table("mail_outbox")
