"""`wbl round accept|decline ROUND STUDENT [--reason TEXT]`: record the employer's answer to a
published placement (what the employer pages will record), through
`scheduler.actions.accept` / `decline`."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from models import Student
from scheduler.actions import ActionRefused, accept, decline
from scheduler.db import DEFAULT_PROGRAM, connect, find_round, transaction

EXIT_BAD_INPUT = 2

_PROGRAM = click.option(
    "--program",
    default=DEFAULT_PROGRAM,
    show_default=True,
    help="The program (district, apprenticeship office) the round belongs to.",
)


def _answer(round_id: str, student_id: str, program: str, reason: str | None, ok: bool) -> None:
    with transaction(connect()) as session:
        rnd = find_round(session, program, round_id)
        if rnd is None:
            click.echo(f"no round {round_id!r} in program {program!r}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        student = session.scalar(
            select(Student).where(Student.round_id == rnd.id, Student.external_id == student_id)
        )
        if student is None:
            click.echo(f"round {round_id!r} has no student {student_id!r}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        try:
            if ok:
                outcome = accept(session, rnd, student, user=None)
            else:
                outcome = decline(session, rnd, student, user=None, reason=reason)
        except ActionRefused as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_BAD_INPUT)
    after = outcome.after or {}
    click.echo(
        f"student {student_id}: {after.get('status')} at opportunity {after.get('opportunity')}"
        f" slot {after.get('slot')}"
    )
    for note in outcome.notes:
        click.echo(f"  {note}")


@click.command("accept")
@click.argument("round_id", metavar="ROUND")
@click.argument("student_id", metavar="STUDENT")
@_PROGRAM
def accept_cmd(round_id: str, student_id: str, program: str) -> None:
    """The employer accepts the student's published placement (it becomes confirmed)."""
    _answer(round_id, student_id, program, None, ok=True)


@click.command("decline")
@click.argument("round_id", metavar="ROUND")
@click.argument("student_id", metavar="STUDENT")
@_PROGRAM
@click.option("--reason", help="Why the employer declined (kept in the audit trail).")
def decline_cmd(round_id: str, student_id: str, program: str, reason: str | None) -> None:
    """The employer declines the student's published placement: the next re-solve places the
    student elsewhere (the employer's opportunity is not offered to them again)."""
    _answer(round_id, student_id, program, reason, ok=False)


def register(group: click.Group) -> None:
    """Add `accept` and `decline` to the `wbl round` group."""
    group.add_command(accept_cmd)
    group.add_command(decline_cmd)
