"""What every `wbl` command module shares: exit statuses, the `--program` option, refusing
with a message, the database session factory, finding a round, and reporting what an import
would break. One copy, so the command groups say things the same way."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, NoReturn

import click
from sqlalchemy.orm import Session, sessionmaker

from scheduler.breaks import breaks_issues
from scheduler.db import DEFAULT_PROGRAM, connect, find_round

if TYPE_CHECKING:
    from models import Round
    from scheduler.breaks import Break

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INFEASIBLE",
    "EXIT_VIOLATIONS",
    "PROGRAM_OPTION",
    "echo_breaks",
    "fail",
    "round_or_exit",
    "session_factory",
]

EXIT_VIOLATIONS: Final = 1
EXIT_BAD_INPUT: Final = 2
EXIT_INFEASIBLE: Final = 3

PROGRAM_OPTION = click.option(
    "--program",
    default=DEFAULT_PROGRAM,
    show_default=True,
    help="The program (district, apprenticeship office) the round belongs to.",
)


def fail(*lines: str) -> NoReturn:
    """Say why on standard error and exit with the bad-input status (nothing was written)."""
    for line in lines:
        click.echo(line, err=True)
    sys.exit(EXIT_BAD_INPUT)


def session_factory(ctx: click.Context) -> sessionmaker[Session]:
    """The session factory a test put in the context object, else the configured database."""
    obj = ctx.find_object(dict)
    if obj is not None and obj.get("session_factory") is not None:
        factory: sessionmaker[Session] = obj["session_factory"]
        return factory
    return connect()


def round_or_exit(session: Session, program: str, round_id: str, hint: str = "") -> Round:
    """The program's round by its id, or exit saying there is none (and `hint`, what to do)."""
    rnd = find_round(session, program, round_id)
    if rnd is None:
        fail(f"no round {round_id!r} in program {program!r}{hint}")
    return rnd


def echo_breaks(breaks: Sequence[Break], marks_cleared: int, *, dry_run: bool, what: str) -> bool:
    """Report an applied (or dry-run) import's breaks: `what` names the change ("import",
    "update"). Returns True for a dry run, after which the caller says nothing was changed."""
    if dry_run:
        if breaks:
            click.echo(f"the {what} would break {len(breaks)} pins or placements:")
            for b in breaks:
                click.echo(f"  {b.rule} {b}")
        return True
    lines = breaks_issues(breaks, accepted=True)
    for line in lines[:1]:
        click.echo(line)
    for line in lines[1:]:
        click.echo(f"  {line}")
    if marks_cleared:
        click.echo(f"{marks_cleared} earlier marks cleared: those rows hold again")
    return False
