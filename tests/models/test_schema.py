"""The shape of the schema: indexes on foreign keys, tenancy, names from the convention."""

from __future__ import annotations

from sqlalchemy import ForeignKeyConstraint, Index, Table, UniqueConstraint

from models import Base

# Tables above the tenant line: the tenant itself and the accounts that join it.
GLOBAL_TABLES = {"programs", "users"}


def _leading_columns(table: Table) -> set[str]:
    """First columns of the table's indexes, unique constraints and primary key."""
    firsts = {c.name for c in list(table.primary_key.columns)[:1]}
    for item in table.indexes | table.constraints:
        if isinstance(item, Index | UniqueConstraint) and item.columns:
            firsts.add(next(iter(item.columns)).name)
    return firsts


def test_every_foreign_key_is_indexed() -> None:
    """Every foreign key column leads some index (deletes and joins never scan a table)."""
    missing = [
        f"{table.name}.{fk.parent.name}"
        for table in Base.metadata.tables.values()
        for fk in table.foreign_keys
        if fk.parent.name not in _leading_columns(table)
    ]
    assert missing == []


def test_every_row_belongs_to_a_program() -> None:
    """Tenancy: every table reaches `programs` through its own non-null foreign keys."""

    def reaches_program(table: Table, seen: frozenset[str] = frozenset()) -> bool:
        if table.name == "programs":
            return True
        for constraint in table.constraints:
            if not isinstance(constraint, ForeignKeyConstraint) or constraint.use_alter:
                continue
            column = constraint.columns[0]
            if column.nullable or constraint.referred_table.name in seen:
                continue
            if reaches_program(constraint.referred_table, seen | {table.name}):
                return True
        return False

    orphans = [
        name
        for name, table in Base.metadata.tables.items()
        if name not in GLOBAL_TABLES and not reaches_program(table)
    ]
    # memberships join a user to a program; every other table hangs from a program or round.
    assert orphans == []


def test_round_rows_have_external_ids_unique_per_round() -> None:
    """Tables of a round's document lists have a unique (round_id, external_id)."""
    for name in ("schools", "students", "employers", "opportunities", "slots", "mentors"):
        table = Base.metadata.tables[name]
        uniques = {
            tuple(c.name for c in u.columns)
            for u in table.constraints
            if isinstance(u, UniqueConstraint)
        }
        assert ("round_id", "external_id") in uniques, name


def test_constraint_names_follow_the_convention() -> None:
    """Every constraint and index has a conventional name (migrations can address it)."""
    for table in Base.metadata.tables.values():
        for item in table.constraints | table.indexes:
            name = str(item.name)
            assert name.startswith(("pk_", "fk_", "uq_", "ck_", "ix_")), (table.name, name)
