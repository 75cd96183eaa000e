"""`wbl round geocode`: coordinates for the addresses of a round's tables.

    wbl round geocode ROUND [--program P] [KIND FILE]...                  (through WBL_GEOCODER)
    wbl round geocode ROUND [--program P] --export FILE KIND FILE [KIND FILE]...
    wbl round geocode ROUND [--program P] --import FILE [KIND FILE]...

Tables may give schools, sites and homes as addresses (docs/imports.md, "Addresses and
geocoding"); `wbl tables import` takes their coordinates from the geocode cache, else from the
geocoder `WBL_GEOCODER` configures, and refuses rows left without. This command fills the
cache ahead of the import:

- without --export or --import: the tables' addresses through `WBL_GEOCODER`;
- `--export FILE`: the tables' addresses that the cache cannot answer, written as the input of
  the US Census Bureau's batch geocoder (headerless CSV `Unique ID, Street address, City,
  State, ZIP`; over 10,000 addresses go on to FILE-2.csv, ...);
- `--import FILE`: the batch geocoder's result file read into the cache; every No_Match and
  Tie is listed, and with tables, every address of theirs still without coordinates.

Exit status: 0 every address has coordinates; 1 some have none (each listed); 2 bad input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from scheduler.access import require_edit
from scheduler.cli_common import (
    PROGRAM_OPTION,
    fail,
    round_or_exit,
    session_factory,
)
from scheduler.db import transaction
from scheduler.geocode import (
    GeocodeError,
    Geocoder,
    configured,
    geocode,
    read_census_results,
    store,
    write_census_batch,
)
from scheduler.tables import KIND_ORDER, TablesError
from scheduler.tables.importing import AddressRow, table_addresses

__all__ = ["geocode_cmd"]

EXIT_UNMATCHED = 1
CENSUS_FORM = "https://geocoding.geo.census.gov/geocoder/locations/addressbatch?form"


def _pairs(files: Sequence[str]) -> list[tuple[str, Path]]:
    if len(files) % 2:
        fail("give the tables as KIND FILE pairs (e.g. schools schools.csv)")
    pairs = [(files[i], Path(files[i + 1])) for i in range(0, len(files), 2)]
    for kind, _ in pairs:
        if kind not in KIND_ORDER:
            fail(f"{kind!r} is not a kind of table ({', '.join(KIND_ORDER)})")
    return pairs


def _report_missing(rows: Sequence[AddressRow], found: dict[str, bool]) -> int:
    """Print each table row whose address has no coordinates; how many."""
    missing = [r for r in rows if not found.get(r.address.key, False)]
    for r in missing:
        click.echo(
            f"{r.file} row {r.row}, column {r.column}: no coordinates for {r.address.one_line!r}",
            err=True,
        )
    return len(missing)


@click.command("geocode")
@click.argument("round_id", metavar="ROUND")
@click.argument("files", nargs=-1, metavar="[KIND FILE]...")
@PROGRAM_OPTION
@click.option(
    "--export",
    "export_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the addresses without coordinates as Census batch geocoder input.",
)
@click.option(
    "--import",
    "import_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Read a Census batch geocoder result file into the geocode cache.",
)
@click.option("--encoding", help="Encoding of CSV tables that are not UTF-8 (e.g. cp1252).")
@click.pass_context
def geocode_cmd(
    ctx: click.Context,
    round_id: str,
    files: tuple[str, ...],
    program: str,
    export_path: Path | None,
    import_path: Path | None,
    encoding: str | None,
) -> None:
    """Geocode the addresses of ROUND's tables into the cache that imports read."""
    if export_path is not None and import_path is not None:
        fail("--export and --import are two steps: give one of them")
    pairs = _pairs(files)
    try:
        rows = table_addresses(pairs, encoding=encoding)
    except TablesError as exc:
        fail(*(str(i) for i in exc.issues))
    geocoder: Geocoder | None = None
    if export_path is None and import_path is None:
        if not pairs:
            fail("name the tables to geocode: KIND FILE [KIND FILE]...")
        try:
            geocoder = configured()
        except GeocodeError as exc:
            fail(*exc.issues)
        if geocoder is None:
            fail(
                "no geocoder: set WBL_GEOCODER (docs/imports.md, 'Addresses and"
                " geocoding'), or use --export and --import with the Census batch geocoder"
            )
    if export_path is not None and not pairs:
        fail("name the tables whose addresses to export: KIND FILE [KIND FILE]...")
    with transaction(session_factory(ctx)) as session:
        rnd = round_or_exit(session, program, round_id)
        require_edit(session, rnd, None)
        imported = 0
        unmatched = False
        if import_path is not None:
            try:
                results = read_census_results(import_path)
            except GeocodeError as exc:
                fail(*exc.issues)
            imported = store(session, rnd.program_id, results)
            misses = [r for r in results if not r.located]
            click.echo(
                f"{import_path}: {len(results) - len(misses)} matched,"
                f" {len(misses)} without coordinates; {imported} cached"
            )
            for miss in misses:
                what = "a tie (several candidates)" if miss.status == "tie" else "no match"
                click.echo(f"{import_path}: {miss.address!r}: {what}", err=True)
            unmatched = bool(misses)
        try:
            found = geocode(session, rnd.program_id, (r.address for r in rows), geocoder)
        except GeocodeError as exc:
            fail(*exc.issues)
        located = {key: answer.located for key, answer in found.items()}
        if export_path is not None:
            wanted: dict[str, AddressRow] = {}
            for r in rows:
                if not located.get(r.address.key, False):
                    wanted.setdefault(r.address.key, r)
            written = write_census_batch((r.address for r in wanted.values()), export_path)
            names = ", ".join(str(p) for p in written)
            click.echo(
                f"{names}: {len(wanted)} address{'es' if len(wanted) != 1 else ''} to geocode"
                f" ({len(rows) - sum(1 for r in rows if r.address.key in wanted)} of the"
                f" tables' {len(rows)} rows with an address are in the cache already)"
            )
            if wanted:
                click.echo(
                    f"next: upload it at {CENSUS_FORM} (benchmark Public_AR_Current), save the"
                    f" results, then `wbl round geocode {round_id} --program {program}"
                    " --import RESULTS.csv` and import the tables again"
                )
            return
    # After the commit: an exit inside the transaction would roll the cached answers back.
    missing = _report_missing(rows, located)
    if rows:
        click.echo(f"{len(rows) - missing} of {len(rows)} table rows with an address located")
    if missing or (unmatched and not pairs):
        sys.exit(EXIT_UNMATCHED)
