"""`wbl tables`: a coordinator's spreadsheets in and out of a round.

    wbl tables template KIND -o FILE.csv|FILE.xlsx
    wbl tables create-round ROUND --name N --start-date D --end-date D --timezone TZ
    wbl tables import ROUND KIND FILE [KIND FILE]... [--replace] [--encoding E]
                      [--accept-breaks] [--dry-run]
    wbl tables export ROUND --by school|employer [--run RUN] [--only ID] -o OUT

The group is registered in the main CLI (`scheduler.cli`); it is complete on its own, so tests
invoke it directly. The database is `WBL_DATABASE_URL` (default `instance/wbl.db`), or the
session factory a caller puts in the context object (`obj={"session_factory": factory}`).

Exit status: 0 done; 2 bad input, or an import that would break pins or placements without
--accept-breaks (every problem listed on stderr, nothing written).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Employer, Round, School
from scheduler.cli_common import echo_breaks, fail, round_or_exit, session_factory
from scheduler.db import DEFAULT_PROGRAM, get_or_create_program, transaction
from scheduler.rounds import RoundExistsError
from scheduler.tables import (
    KIND_ORDER,
    NoRunError,
    TablesError,
    create_round,
    export_assignments,
    import_tables,
    write_template,
)
from scheduler.tables.exporting import choose_run
from solver import ProblemError

__all__ = ["tables"]

# The main CLI's code for bad input; repeated rather than imported, since scheduler.cli
# imports this module to register the group.

_KIND = click.Choice(KIND_ORDER)
_PROGRAM = click.option(
    "--program",
    "program_slug",
    default=DEFAULT_PROGRAM,
    show_default=True,
    help="The program (tenant) the round belongs to.",
)


def _round(session: Session, program_slug: str, round_id: str) -> Round:
    hint = "; create it with `wbl tables create-round` (or `wbl import-round`)"
    return round_or_exit(session, program_slug, round_id, hint)


def _known_or_fail(session: Session, rnd: Round, by: str, ident: str) -> None:
    """`--only ID` names a school (employer) of the round, or the export is refused: an
    unknown id would write an empty file and look like success."""
    if by == "school" and ident == "":
        return  # the group of students without a school
    model = School if by == "school" else Employer
    found = session.scalar(
        select(model.external_id).where(model.round_id == rnd.id, model.external_id == ident)
    )
    if found is None:
        fail(f"--only {ident}: round {rnd.external_id!r} has no {by} {ident!r}")


@click.group("tables")
def tables() -> None:
    """Import a round's data from CSV/XLSX tables; export placements per school or employer."""


@tables.command("template")
@click.argument("kind", type=_KIND)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="FILE.csv (the header row) or FILE.xlsx (the header row and a help sheet).",
)
def template_cmd(kind: str, output: Path) -> None:
    """Write an empty table of KIND with its documented header."""
    if output.suffix.lower() not in (".csv", ".xlsx"):
        fail(f"{output}: a template is a .csv or an .xlsx file")
    write_template(kind, output)
    click.echo(f"{output}: {kind} template")


@tables.command("create-round")
@click.argument("round_id", metavar="ROUND")
@_PROGRAM
@click.option("--name", required=True, help="The round's name.")
@click.option("--start-date", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--end-date", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--timezone", required=True, help="An IANA name, e.g. America/Chicago.")
@click.option(
    "--holiday", "holidays", type=click.DateTime(["%Y-%m-%d"]), multiple=True, help="Repeatable."
)
@click.option("--summer", is_flag=True, help="Summer rules (home origins, summer hours).")
@click.option(
    "--mentor-meeting-minutes", type=click.IntRange(min=15), default=30, show_default=True
)
@click.pass_context
def create_round_cmd(
    ctx: click.Context,
    round_id: str,
    program_slug: str,
    name: str,
    start_date: dt.datetime,
    end_date: dt.datetime,
    timezone: str,
    holidays: tuple[dt.datetime, ...],
    summer: bool,
    mentor_meeting_minutes: int,
) -> None:
    """Create an empty ROUND to import tables into."""
    outside = [h.date() for h in holidays if not start_date <= h <= end_date]
    if outside:
        fail(
            *(
                f"round {round_id!r} not created: holiday {day} is outside the round"
                f" ({start_date.date()} to {end_date.date()})"
                for day in outside
            )
        )
    try:
        with transaction(session_factory(ctx)) as session:
            program = get_or_create_program(session, program_slug)
            create_round(
                session,
                program,
                round_id,
                name=name,
                start_date=start_date.date(),
                end_date=end_date.date(),
                timezone=timezone,
                holidays=[h.date() for h in holidays],
                summer=summer,
                mentor_meeting_minutes=mentor_meeting_minutes,
            )
    except ProblemError as exc:
        fail(f"round {round_id!r} not created:", *(f"  {i}" for i in exc.issues))
    except RoundExistsError as exc:
        fail(str(exc))
    click.echo(f"round {round_id!r} created in program {program_slug!r}")


@tables.command("import")
@click.argument("round_id", metavar="ROUND")
@click.argument("pairs", metavar="KIND FILE [KIND FILE]...", nargs=-1, required=True)
@_PROGRAM
@click.option(
    "--replace",
    is_flag=True,
    help="Each file is the whole list of its kind: rows of the round absent from it are deleted"
    " (or emptied). Default: absent rows are kept.",
)
@click.option(
    "--encoding",
    default=None,
    help="Encoding of CSV files that are not UTF-8 (e.g. cp1252 for Excel on Windows).",
)
@click.option(
    "--accept-breaks",
    is_flag=True,
    help="Apply the import even if it breaks pins or placements of the chosen run; they are"
    " listed and marked for the coordinator. Default: such an import is refused.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check everything and list what the import would break, then write nothing.",
)
@click.pass_context
def import_cmd(
    ctx: click.Context,
    round_id: str,
    pairs: tuple[str, ...],
    program_slug: str,
    replace: bool,
    encoding: str | None,
    accept_breaks: bool,
    dry_run: bool,
) -> None:
    """Import tables into ROUND, all or nothing (kinds: schools, employers, students, bells,
    schedules, opportunities, slots, mentors, availability, preferences).

    Several files go in one transaction, in dependency order whatever the order given. An
    import that breaks a pin or a placement of the chosen run (a lowered capacity, a dropped
    credential, a new class block...) is refused, each named with its rule, unless
    --accept-breaks is given."""
    if len(pairs) % 2:
        raise click.UsageError("give a KIND and a FILE for each table")
    files: list[tuple[str, Path]] = []
    for kind, name in zip(pairs[::2], pairs[1::2], strict=True):
        if kind not in KIND_ORDER:
            raise click.BadParameter(
                f"{kind!r} is not one of {', '.join(KIND_ORDER)}", param_hint="KIND"
            )
        files.append((kind, Path(name)))
    try:
        with transaction(session_factory(ctx)) as session:
            rnd = _round(session, program_slug, round_id)
            report = import_tables(
                session,
                rnd,
                files,
                replace=replace,
                encoding=encoding,
                accept_breaks=accept_breaks,
                dry_run=dry_run,
            )
    except TablesError as exc:
        fail(*str(exc).splitlines())
    for file in report.files:
        click.echo(str(file))
        for warning in file.warnings:
            click.echo(f"  warning: {warning}")
    if echo_breaks(report.breaks, report.marks_cleared, dry_run=dry_run, what="import"):
        click.echo(f"dry run: nothing was imported into round {round_id!r}")
        return
    click.echo(f"imported into round {round_id!r} in {report.seconds:.1f} s")


@tables.command("export")
@click.argument("round_id", metavar="ROUND")
@_PROGRAM
@click.option("--by", type=click.Choice(["school", "employer"]), required=True)
@click.option(
    "--run",
    "run_id",
    type=int,
    help="A solve run's id (default: the chosen run, else the latest succeeded).",
)
@click.option("--only", help="Only this school's or employer's placements (its id).")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="OUT.xlsx (a sheet per group), OUT.csv (one file), OUT.zip or a directory (a CSV per"
    " group).",
)
@click.pass_context
def export_cmd(
    ctx: click.Context,
    round_id: str,
    program_slug: str,
    by: Any,
    run_id: int | None,
    only: str | None,
    output: Path,
) -> None:
    """Export a run's placements of ROUND per school or per employer.

    Employer files hold only what an employer needs (student name and email, slot, times,
    mentor); cells that a spreadsheet would run as formulas are neutralised."""
    if output.suffix.lower() not in (".csv", ".xlsx", ".zip", "") and not output.is_dir():
        fail(f"{output}: export to .csv, .xlsx, .zip or a directory")
    try:
        with transaction(session_factory(ctx)) as session:
            rnd = _round(session, program_slug, round_id)
            if only is not None:
                _known_or_fail(session, rnd, by, only)
            run = choose_run(session, rnd, run_id)
            report = export_assignments(session, rnd, output, by=by, run=run, only=only)
    except NoRunError as exc:
        fail(str(exc))
    click.echo(
        f"{output}: {report.rows} placements of run {report.run_id},"
        f" {len(report.groups)} {by}{'s' if len(report.groups) != 1 else ''}"
    )
