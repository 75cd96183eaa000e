"""Speed for the pages' queries at 100,000 students: the unplaced students' reason counts kept
on their run (`solve_runs.reason_counts`, filled by the first count after each change), an
index of a round's audit events by target (a student's story reads the events about one
student), and, on PostgreSQL only, statistics on expressions the listing's filters test: the
students' groups and clusters as `jsonb` (a filter on a group asks for `groups::jsonb @>
'["..."]'`: without statistics PostgreSQL guesses 1,000 matches where 40,000 match) and their
names in lower case (a name search, `lower(name) LIKE '%...%'`: guessed at 4 rows where a
common surname has 1,500, so PostgreSQL sorted every match instead of walking the name
index). Statistics objects are not part of the models' metadata, so `alembic check` compares
nothing of them; SQLite needs none.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL: (name, expression) of the statistics on what the listing's filters test: the
# students' JSON lists as jsonb (`@>`), and their names in lower case (a name search).
_STATISTICS: tuple[tuple[str, str], ...] = (
    ("st_students_groups_jsonb", "(groups::jsonb)"),
    ("st_students_clusters_jsonb", "(clusters::jsonb)"),
    ("st_students_lower_name", "(lower(name))"),
)


def upgrade() -> None:
    with op.batch_alter_table("solve_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_counts", sa.JSON(), nullable=True))
    op.create_index(
        "ix_audit_events_round_id_target_type_target_id",
        "audit_events",
        ["round_id", "target_type", "target_id"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        for name, expression in _STATISTICS:
            op.execute(f"CREATE STATISTICS {name} ON {expression} FROM students")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _ in reversed(_STATISTICS):
            op.execute(f"DROP STATISTICS IF EXISTS {name}")
    op.drop_index("ix_audit_events_round_id_target_type_target_id", table_name="audit_events")
    with op.batch_alter_table("solve_runs", schema=None) as batch_op:
        batch_op.drop_column("reason_counts")
