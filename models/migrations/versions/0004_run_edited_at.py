"""Solve runs: `edited_at`, when a coordinator first changed the run's placements by hand.

It used to be `"edited": true` inside the run's `result` JSON, which every manual move then read
and wrote back whole (about a megabyte at 100,000 students). Runs marked that way keep the mark.

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
    # Both backends write JSON objects as `"key": value` text (json.dumps, jsonb's output).
    op.execute(
        "UPDATE solve_runs SET edited_at = COALESCE(finished_at, CURRENT_TIMESTAMP)"
        """ WHERE CAST(result AS TEXT) LIKE '%"edited": true%'"""
    )


def downgrade() -> None:
    with op.batch_alter_table("solve_runs", schema=None) as batch_op:
        batch_op.drop_column("edited_at")
