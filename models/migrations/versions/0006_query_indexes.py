"""Indexes for the pages' queries (`scheduler.queries`): a round's students by name and by id,
a run's placements by travel, preference rank, status and opportunity (each with the student
as the keyset's tie-breaker), and schools, employers and opportunities by name or title. With
them a page of a 100,000-student run is a range of one index, never a sort of the run.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, columns) of each index; its name follows the naming convention of models.base.
_INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("students", ("round_id", "name", "id")),
    ("students", ("round_id", "id")),
    ("schools", ("round_id", "name")),
    ("employers", ("round_id", "name")),
    ("opportunities", ("round_id", "title")),
    ("assignments", ("run_id", "travel_minutes", "student_id")),
    ("assignments", ("run_id", "preference_rank", "student_id")),
    ("assignments", ("run_id", "status", "student_id")),
    ("assignments", ("run_id", "opportunity_id", "student_id")),
)


def _name(table: str, columns: Sequence[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    # Plain CREATE INDEX on both backends: no table is rebuilt.
    for table, columns in _INDEXES:
        op.create_index(_name(table, columns), table, list(columns), unique=False)


def downgrade() -> None:
    for table, columns in reversed(_INDEXES):
        op.drop_index(_name(table, columns), table_name=table)
