"""The application's way into the database: connect from configuration, migrate, run one
unit of work, find the program a command works in.

The CLI and the job workers use these; the web app will open its own session per request.
Nothing here keeps module-level state: a caller keeps the session factory it was given.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models import Program, Round, database_url, make_engine, make_session_factory

__all__ = [
    "DEFAULT_PROGRAM",
    "connect",
    "find_round",
    "get_or_create_program",
    "transaction",
    "upgrade_database",
]

# The program that commands work in when none is named (`wbl import-round` without --program).
DEFAULT_PROGRAM = "default"


def connect(url: str | None = None) -> sessionmaker[Session]:
    """A session factory for `url` (default: `WBL_DATABASE_URL`, else `instance/wbl.db`)."""
    return make_session_factory(make_engine(url or database_url()))


def upgrade_database(url: str | None = None) -> None:
    """Create or migrate the schema to the latest revision (`wbl db upgrade`)."""
    # Imported here: Alembic is a tenth of a second that no other command needs.
    from models.migrate import upgrade

    upgrade(url or database_url())


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in a transaction: committed when the block ends, rolled back on an error."""
    with factory() as session, session.begin():
        yield session


def get_or_create_program(session: Session, slug: str, name: str | None = None) -> Program:
    """The program with this slug, created (named `name`, else the slug) if there is none."""
    program = session.scalar(select(Program).where(Program.slug == slug))
    if program is None:
        program = Program(slug=slug, name=name or slug)
        session.add(program)
        session.flush()
    return program


def find_round(session: Session, program_slug: str, round_id: str) -> Round | None:
    """The round with external id `round_id` of the program `program_slug`, if any."""
    return session.scalar(
        select(Round)
        .join(Program, Round.program_id == Program.id)
        .where(Program.slug == program_slug, Round.external_id == round_id)
    )
