"""Assignments and pins: `broken_rule` and `broken_reason`, set when a later change of the
round's data (an import applied with `--accept-breaks`, an employer's edit the coordinator
accepted) makes a placement or a pin break a hard rule, so the coordinator is shown it instead
of finding out at the next solve.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("assignments", "pins")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("broken_rule", sa.String(length=16), nullable=True))
            batch_op.add_column(sa.Column("broken_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("broken_reason")
            batch_op.drop_column("broken_rule")
