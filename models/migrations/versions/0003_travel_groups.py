"""Travel groups: measured times shared by the students of one origin (`travel_groups`).

A timetable gives one transit time per origin (a school, a home cell), not per student: stored
per student, a 100,000-student round would hold tens of millions of override rows.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "travel_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_travel_groups_round_id_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_groups")),
        sa.UniqueConstraint(
            "round_id", "external_id", name=op.f("uq_travel_groups_round_id_external_id")
        ),
    )
    op.create_table(
        "travel_group_times",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column(
            "mode",
            sa.Enum(
                "walk",
                "bike",
                "transit",
                "car",
                name="travelmode",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "minutes >= 0", name=op.f("ck_travel_group_times_group_minutes_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["travel_groups.id"],
            name=op.f("fk_travel_group_times_group_id_travel_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunities.id"],
            name=op.f("fk_travel_group_times_opportunity_id_opportunities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_travel_group_times_round_id_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_group_times")),
        sa.UniqueConstraint(
            "group_id",
            "opportunity_id",
            "mode",
            name=op.f("uq_travel_group_times_group_id_opportunity_id_mode"),
        ),
    )
    with op.batch_alter_table("travel_group_times", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_travel_group_times_opportunity_id"), ["opportunity_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_travel_group_times_round_id"), ["round_id"], unique=False
        )

    with op.batch_alter_table("students", schema=None) as batch_op:
        batch_op.add_column(sa.Column("travel_group_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_students_travel_group_id"), ["travel_group_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_students_travel_group_id_travel_groups"),
            "travel_groups",
            ["travel_group_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("students", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_students_travel_group_id_travel_groups"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_students_travel_group_id"))
        batch_op.drop_column("travel_group_id")

    with op.batch_alter_table("travel_group_times", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_travel_group_times_round_id"))
        batch_op.drop_index(batch_op.f("ix_travel_group_times_opportunity_id"))

    op.drop_table("travel_group_times")
    op.drop_table("travel_groups")
