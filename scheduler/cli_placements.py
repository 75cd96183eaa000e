"""`wbl round accept|decline ROUND STUDENT [--reason TEXT]`: record the employer's answer to a
published placement (what the employer pages will record), through
`scheduler.actions.accept` / `decline`."""

from __future__ import annotations

import click

from scheduler.actions import ActionRefused, accept, decline
from scheduler.cli_common import PROGRAM_OPTION, fail, round_or_exit
from scheduler.db import connect, transaction
from scheduler.queries import find_student


def _answer(round_id: str, student_id: str, program: str, reason: str | None, ok: bool) -> None:
    with transaction(connect()) as session:
        rnd = round_or_exit(session, program, round_id)
        try:
            student = find_student(session, rnd, student_id, None)
            if ok:
                outcome = accept(session, rnd, student, user=None)
            else:
                outcome = decline(session, rnd, student, user=None, reason=reason)
        except ActionRefused as exc:
            fail(str(exc))
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
@PROGRAM_OPTION
def accept_cmd(round_id: str, student_id: str, program: str) -> None:
    """The employer accepts the student's published placement (it becomes confirmed)."""
    _answer(round_id, student_id, program, None, ok=True)


@click.command("decline")
@click.argument("round_id", metavar="ROUND")
@click.argument("student_id", metavar="STUDENT")
@PROGRAM_OPTION
@click.option("--reason", help="Why the employer declined (kept in the audit trail).")
def decline_cmd(round_id: str, student_id: str, program: str, reason: str | None) -> None:
    """The employer declines the student's published placement: the next re-solve places the
    student elsewhere (the employer's opportunity is not offered to them again)."""
    _answer(round_id, student_id, program, reason, ok=False)


def register(group: click.Group) -> None:
    """Add `accept` and `decline` to the `wbl round` group."""
    group.add_command(accept_cmd)
    group.add_command(decline_cmd)
