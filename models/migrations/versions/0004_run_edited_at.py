"""Solve runs: `edited_at`, when a coordinator first changed the run's placements by hand, and
`travel_minutes_total`, the exact travel total that manual edits keep up to date.

The edited mark used to be `"edited": true` inside the run's `result` JSON, which every manual
move then read and wrote back whole (about a megabyte at 100,000 students); runs marked that
way keep the mark. The total used to be recounted from every assignment of the run on each
edit; older runs get it on their first edit.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("solve_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("travel_minutes_total", sa.Integer(), nullable=True))
    # Both backends write JSON objects as `"key": value` text (json.dumps, jsonb's output).
    op.execute(
        "UPDATE solve_runs SET edited_at = COALESCE(finished_at, CURRENT_TIMESTAMP)"
        """ WHERE CAST(result AS TEXT) LIKE '%"edited": true%'"""
    )


def downgrade() -> None:
    with op.batch_alter_table("solve_runs", schema=None) as batch_op:
        batch_op.drop_column("travel_minutes_total")
        batch_op.drop_column("edited_at")
