"""`wbl round` commands for feeds, links and coordinator actions, and `wbl serve`.

- `wbl round calendars ROUND -o DIR`: every feed of the round as a file
  (`DIR/students/<id>.ics`, `DIR/employers/<id>.ics`, `DIR/mentors/<id>.ics`), the same bytes
  as served, the feeds' stored event state kept up to date the same way.
- `wbl round links ROUND [--base-url URL] [-o FILE.csv]`: one row per person,
  `kind,id,name,email,feed_url,page_url` (both empty for a revoked link), for mail
  merges; `--rotate KIND:ID` gives that person a new link (the old one stops working) and
  prints their row. Needs the secret key links derive from: `WBL_SECRET_KEY` (required when
  `WBL_ENV=production`; in development a key kept in `instance/secret_key`).
- `wbl round move|unplace|pin|unpin|forbid ROUND STUDENT [OPPORTUNITY [SLOT]] [--mentor M]`:
  the coordinator actions of `scheduler.actions` with the round's ids; a refusal prints the
  rule that would break and exits 2, having written nothing.
- `wbl serve`: the web app on Werkzeug's development server (production: gunicorn, see the
  README).

Registered on `wbl` by `scheduler.cli` (`add_commands`). This module does not import
`scheduler.cli` (which imports it), so it keeps its own small `--program` option.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from sqlalchemy.orm import Session

import scheduler.actions as actions
from models import Round, Slot
from scheduler.cli_common import PROGRAM_OPTION, fail, round_or_exit
from scheduler.db import connect, transaction
from scheduler.errors import ActionRefused
from scheduler.feeds import round_feed_files
from scheduler.links import (
    KINDS,
    LinkRow,
    SecretKeyMissing,
    ensure_links,
    feed_url,
    link_rows,
    rotate_link,
    secret_key,
)
from scheduler.queries import find_mentor, find_opportunity, find_slot, find_student
from scheduler.tables.exporting import atomic_write, neutralise

__all__ = ["add_commands"]

BASE_URL_ENV = "WBL_BASE_URL"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
LINK_COLUMNS = ("kind", "id", "name", "email", "feed_url", "page_url")
FOLDERS = {"student": "students", "employer": "employers", "mentor": "mentors"}


def _secret() -> bytes:
    try:
        return secret_key()
    except SecretKeyMissing as exc:
        fail(str(exc))


# --- Calendars ---------------------------------------------------------------------------------


def file_name(external_id: str) -> str:
    """A file name for an id: percent-encoded so that no id escapes its folder."""
    name = quote(external_id, safe="-_~@+=,.")
    if name.strip(".") == "":
        name = name.replace(".", "%2E")
    return f"{name}.ics"


def _progress(label: str) -> Callable[[int, int], None]:
    """A progress line on stderr: redrawn on a terminal, every tenth otherwise."""
    tty = sys.stderr.isatty()
    shown = [-1]

    def show(done: int, total: int) -> None:
        if tty:
            click.echo(f"\r{label} {done}/{total}", err=True, nl=done >= total)
            return
        tenth = done * 10 // max(total, 1)
        if tenth != shown[0]:
            shown[0] = tenth
            click.echo(f"{label} {done}/{total}", err=True)

    return show


@click.command("calendars")
@click.argument("round_id", metavar="ROUND")
@PROGRAM_OPTION
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, file_okay=False), required=True, help="DIR"
)
@click.option("-q", "--quiet", is_flag=True, help="No progress.")
def calendars_cmd(round_id: str, program: str, output: Path, quiet: bool) -> None:
    """Write every feed of the round as an .ics file (students/, employers/, mentors/)."""
    started = time.perf_counter()
    counts = dict.fromkeys(FOLDERS, 0)
    size = 0
    with transaction(connect()) as session:
        rnd = round_or_exit(session, program, round_id)
        progress = None if quiet else _progress("calendars")
        for feed, served in round_feed_files(session, rnd, progress=progress):
            path = output / FOLDERS[feed.audience] / file_name(feed.owner)
            with atomic_write(path) as out:
                out.write(served.ical)
            counts[feed.audience] += 1
            size += len(served.ical)
    click.echo(
        f"round {round_id!r}: {counts['student']} student, {counts['employer']} employer and"
        f" {counts['mentor']} mentor calendars in {output}/ ({size / 1e6:.1f} MB) in"
        f" {time.perf_counter() - started:.1f}s"
    )


# --- Links -------------------------------------------------------------------------------------


def _cells(row: LinkRow) -> list[str]:
    return [neutralise(v) for v in (row.kind, row.id, row.name, row.email, row.feed_url)] + [
        neutralise(row.page_url)
    ]


@contextmanager
def _csv_out(output: Path | None) -> Iterator[Any]:
    """A CSV writer on the file (written whole or not at all) or on standard output."""
    if output is None:
        yield csv.writer(sys.stdout, lineterminator="\n")
        return
    with atomic_write(output) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        yield csv.writer(text)
        text.flush()
        text.detach()


@click.command("links")
@click.argument("round_id", metavar="ROUND")
@PROGRAM_OPTION
@click.option(
    "--base-url",
    envvar=BASE_URL_ENV,
    default=DEFAULT_BASE_URL,
    show_default=True,
    help=f"Where the web app is reached (or {BASE_URL_ENV}).",
)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="FILE.csv")
@click.option(
    "--rotate",
    metavar="KIND:ID",
    help="Give this person (student:ID, employer:ID, mentor:ID) a new link; the old one stops"
    " working at once.",
)
def links_cmd(
    round_id: str, program: str, base_url: str, output: Path | None, rotate: str | None
) -> None:
    """Every person's private links as CSV: kind,id,name,email,feed_url,page_url."""
    secret = _secret()
    with transaction(connect()) as session:
        rnd = round_or_exit(session, program, round_id)
        made = ensure_links(session, rnd, secret=secret)
        if made:
            click.echo(f"made {made} new links", err=True)
        if rotate is not None:
            kind, _, external_id = rotate.partition(":")
            if kind not in KINDS or not external_id:
                fail(f"--rotate takes KIND:ID with KIND one of {', '.join(KINDS)}")
            try:
                token = rotate_link(session, rnd, kind, external_id, secret=secret)
            except LookupError as exc:
                fail(str(exc))
            rows: Iterator[LinkRow] = (
                r
                for r in link_rows(session, rnd, base_url=base_url, secret=secret, kinds=(kind,))
                if r.id == external_id
            )
            with _csv_out(output) as writer:
                writer.writerow(LINK_COLUMNS)
                for row in rows:
                    assert row.feed_url == feed_url(base_url, token)
                    writer.writerow(_cells(row))
            return
        with _csv_out(output) as writer:
            writer.writerow(LINK_COLUMNS)
            for row in link_rows(session, rnd, base_url=base_url, secret=secret):
                writer.writerow(_cells(row))


# --- Coordinator actions -----------------------------------------------------------------------


def _act(round_id: str, program: str, call: Callable[[Session, Round], actions.Outcome]) -> None:
    """Run one action in one transaction; a refusal exits 2 with its rule, nothing written."""
    with transaction(connect()) as session:
        rnd = round_or_exit(session, program, round_id)
        try:
            outcome = call(session, rnd)
        except ActionRefused as exc:
            fail(f"refused: {exc.message}")
    click.echo(outcome.action + "".join(f"; {n}" for n in outcome.notes))


def _slot_of(session: Session, rnd: Round, opportunity: str, slot: str | None) -> Slot:
    """The slot named, else the opportunity's only slot."""
    if slot is not None:
        return find_slot(session, rnd, slot, None)
    opp = find_opportunity(session, rnd, opportunity, None)
    if len(opp.slots) != 1:
        raise ActionRefused(
            "lookup",
            f"lookup: opportunity {opportunity!r} has {len(opp.slots)} slots"
            f" ({', '.join(s.external_id for s in opp.slots)}): name one",
        )
    return opp.slots[0]


_mentor_option = click.option("--mentor", metavar="M", help="The workplace mentor to assign.")


@click.command("move")
@click.argument("round_id", metavar="ROUND")
@click.argument("student")
@click.argument("opportunity")
@click.argument("slot", required=False)
@_mentor_option
@PROGRAM_OPTION
def move_cmd(
    round_id: str,
    student: str,
    opportunity: str,
    slot: str | None,
    mentor: str | None,
    program: str,
) -> None:
    """Move (or place) a student into a slot of the chosen run, pinned there."""

    def call(session: Session, rnd: Round) -> actions.Outcome:
        st = find_student(session, rnd, student, None)
        target = _slot_of(session, rnd, opportunity, slot)
        if target.opportunity.external_id != opportunity:
            raise ActionRefused(
                "lookup", f"lookup: slot {target.external_id!r} is not of {opportunity!r}"
            )
        m = find_mentor(session, rnd, mentor, None) if mentor else None
        return actions.move(session, rnd, st, target, m, user=None)

    _act(round_id, program, call)


@click.command("unplace")
@click.argument("round_id", metavar="ROUND")
@click.argument("student")
@click.option("--unpin", is_flag=True, help="Remove the student's pins too.")
@PROGRAM_OPTION
def unplace_cmd(round_id: str, student: str, unpin: bool, program: str) -> None:
    """Take a student out of their placement in the chosen run."""

    def call(session: Session, rnd: Round) -> actions.Outcome:
        st = find_student(session, rnd, student, None)
        return actions.unplace(session, rnd, st, user=None, unpin=unpin)

    _act(round_id, program, call)


@click.command("pin")
@click.argument("round_id", metavar="ROUND")
@click.argument("student")
@click.argument("opportunity")
@click.argument("slot", required=False)
@_mentor_option
@PROGRAM_OPTION
def pin_cmd(
    round_id: str,
    student: str,
    opportunity: str,
    slot: str | None,
    mentor: str | None,
    program: str,
) -> None:
    """Pin a student to an opportunity (and slot): every solve must place them there."""

    def call(session: Session, rnd: Round) -> actions.Outcome:
        st = find_student(session, rnd, student, None)
        opp = find_opportunity(session, rnd, opportunity, None)
        sl = find_slot(session, rnd, slot, None) if slot else None
        m = find_mentor(session, rnd, mentor, None) if mentor else None
        return actions.pin(session, rnd, st, opp, sl, m, user=None)

    _act(round_id, program, call)


@click.command("unpin")
@click.argument("round_id", metavar="ROUND")
@click.argument("student")
@click.argument("opportunity", required=False)
@PROGRAM_OPTION
def unpin_cmd(round_id: str, student: str, opportunity: str | None, program: str) -> None:
    """Remove a student's pins (to one opportunity, or all)."""

    def call(session: Session, rnd: Round) -> actions.Outcome:
        st = find_student(session, rnd, student, None)
        opp = find_opportunity(session, rnd, opportunity, None) if opportunity else None
        return actions.unpin(session, rnd, st, opp, user=None)

    _act(round_id, program, call)


@click.command("forbid")
@click.argument("round_id", metavar="ROUND")
@click.argument("student")
@click.argument("opportunity")
@PROGRAM_OPTION
def forbid_cmd(round_id: str, student: str, opportunity: str, program: str) -> None:
    """Forbid a student an opportunity (a placement there is removed)."""

    def call(session: Session, rnd: Round) -> actions.Outcome:
        st = find_student(session, rnd, student, None)
        opp = find_opportunity(session, rnd, opportunity, None)
        return actions.forbid(session, rnd, st, opp, user=None)

    _act(round_id, program, call)


# --- Serve -------------------------------------------------------------------------------------


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--debug", is_flag=True, help="Reload on changes, show tracebacks (never public).")
def serve_cmd(host: str, port: int, debug: bool) -> None:
    """Serve the web app (development server; production runs gunicorn, see the README)."""
    # The command line is where the process starts, so it may start the web app: imported
    # here, so that `scheduler` itself never imports `web` (the arrows point web -> scheduler).
    from web import create_app

    app = create_app()
    click.echo(f"serving on http://{host}:{port}", err=True)
    app.run(host=host, port=port, debug=debug, use_reloader=debug and not os.environ.get("CI"))


def add_commands(main: click.Group, round_group: click.Group) -> None:
    """Register these commands on `wbl` and its `round` group."""
    for command in (
        calendars_cmd,
        links_cmd,
        move_cmd,
        unplace_cmd,
        pin_cmd,
        unpin_cmd,
        forbid_cmd,
    ):
        round_group.add_command(command)
    main.add_command(serve_cmd)
