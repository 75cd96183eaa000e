"""How fast a coordinator's CSV tables of a big round import (issue 4: 100,000 students <= 60 s).

    python -m bench.import_tables [--students 100000] [--seed 1] [--output bench/IMPORTS.md]

A round of `scheduler.generate.generate_round(students, seed=seed)` is written as the CSV
tables a coordinator would have (`scheduler.tables.document_tables`: schools, employers,
students, schedules, opportunities, slots, mentors, availability, preferences) into a
temporary folder, then imported into an empty round of a fresh SQLite database (schema by
`create_all`, as `alembic upgrade` would make it) with `scheduler.tables.import_tables`, in one
transaction, commit included. That is the measured time: reading, checking every cell and
reference, writing, and validating the whole round at the end.

Also measured: the same files imported again (every row an update), and students.csv alone
again (what a coordinator does when the SIS export changes). The results, the command and the
machine go into `--output` (Markdown), replacing it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.machine import machine
from models import Base, Program, Round, make_engine, make_session_factory
from scheduler.generate import generate_round
from scheduler.tables import ImportReport, create_round, document_tables, import_tables, write_table

TARGET_SECONDS = 60.0


def _timed(action: Callable[[], ImportReport]) -> tuple[float, ImportReport]:
    started = time.perf_counter()
    report = action()
    return time.perf_counter() - started, report


def run(students: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Generate, write the tables, import them (three ways); the measurements as a dict."""
    started = time.perf_counter()
    doc = generate_round(students, seed=seed)
    generate_seconds = time.perf_counter() - started

    started = time.perf_counter()
    tables = workdir / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    rows: dict[str, int] = {}
    for kind, (header, body) in document_tables(doc).items():
        files[kind] = tables / f"{kind}.csv"
        write_table(files[kind], header, body)
        rows[kind] = len(body)
    write_seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in files.values())

    engine = make_engine(f"sqlite:///{workdir / 'wbl.db'}")
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    r = doc["round"]
    with factory() as session, session.begin():
        program = Program(slug="bench", name="Benchmark")
        session.add(program)
        session.flush()
        rnd = create_round(
            session,
            program,
            r["id"],
            name=r["name"],
            start_date=r["start_date"],
            end_date=r["end_date"],
            timezone=r["timezone"],
            holidays=r["holidays"],
            summer=r["summer"],
            mentor_meeting_minutes=r["mentor_meeting_minutes"],
        )
        round_id = rnd.id

    def batch() -> ImportReport:
        with factory() as session, session.begin():
            return import_tables(session, session.get_one(Round, round_id), files)

    def students_only() -> ImportReport:
        with factory() as session, session.begin():
            rnd = session.get_one(Round, round_id)
            return import_tables(session, rnd, {"students": files["students"]})

    first_seconds, first = _timed(batch)
    again_seconds, _ = _timed(batch)
    students_seconds, _ = _timed(students_only)
    engine.dispose()
    return {
        "students": students,
        "seed": seed,
        "generate_seconds": generate_seconds,
        "write_seconds": write_seconds,
        "csv_bytes": size,
        "rows": rows,
        "first_seconds": first_seconds,
        "written": {f.kind: (f.inserted, f.updated) for f in first.files},
        "again_seconds": again_seconds,
        "students_seconds": students_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def report(result: dict[str, Any], command: str) -> str:
    """The results as bench/IMPORTS.md."""
    verdict = "meets" if result["first_seconds"] <= TARGET_SECONDS else "MISSES"
    lines = [
        f"# Importing a {result['students']:,}-student round from CSV",
        "",
        "Written by `bench/import_tables.py` (see its docstring for what is measured); rerun it to"
        " update this file.",
        "",
        f"Command: `{command}`  ",
        f"Measured: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"**{result['students']:,} students imported in {result['first_seconds']:.1f} s**"
        f" into a fresh SQLite database: this {verdict} the target of"
        f" {TARGET_SECONDS:.0f} s.",
        "",
        "| import | seconds |",
        "|---|---|",
        f"| every table, into the empty round (one transaction, commit included) |"
        f" {result['first_seconds']:.1f} |",
        f"| the same tables again (every row an update) | {result['again_seconds']:.1f} |",
        f"| students.csv alone again | {result['students_seconds']:.1f} |",
        "",
        "Each import includes the final check: the round exported and validated as a"
        " `wbl-problem/1` document by the solver's validator.",
        "",
        "| table | rows | inserted | updated |",
        "|---|---|---|---|",
    ]
    for kind, count in result["rows"].items():
        inserted, updated = result["written"][kind]
        lines.append(f"| {kind}.csv | {count:,} | {inserted:,} | {updated:,} |")
    lines += [
        "",
        f"The CSV files ({result['csv_bytes'] / 1e6:.0f} MB) were generated from"
        f" `generate_round({result['students']}, seed={result['seed']})` in"
        f" {result['generate_seconds']:.1f} s and written in {result['write_seconds']:.1f} s"
        " (neither is part of the import time). Peak memory of the whole process (generation"
        f" included): {result['peak_rss_mib']:.0f} MiB.",
        "",
        f"A slots.csv row is one block of a slot ({result['written']['slots'][0]:,} slots);"
        " the schedules, availability and preferences files update lists of students and"
        ' mentors (their "updated" is how many), which have no rows of their own.',
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in machine().items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=Path("bench/IMPORTS.md"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wbl-import-bench-") as tmp:
        result = run(args.students, args.seed, Path(tmp))
    command = f"python -m bench.import_tables --students {args.students} --seed {args.seed}"
    text = report(result, command)
    args.output.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0 if result["first_seconds"] <= TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
