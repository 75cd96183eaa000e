"""The `wbl` command line: solve, check and generate rounds, and the demo.

Exit status: 0 done; 1 `wbl check` found violations; 2 bad input (every defect listed, nothing
written); 3 the round is infeasible (its pins cannot all hold; the solution is still written).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models import Round, RoundStatus, SolveRun
from models.solve import RunStatus
from scheduler.actions import ActionRefused, choose_run, publish
from scheduler.breaks import breaks_issues
from scheduler.cli_round import add_commands
from scheduler.cli_tables import tables
from scheduler.db import (
    DEFAULT_PROGRAM,
    connect,
    find_round,
    get_or_create_program,
    transaction,
    upgrade_database,
)
from scheduler.generate import generate_round
from scheduler.gtfs_round import generate_round_on_feed
from scheduler.jobs import cancel, now, reap_stale_runs, run_worker, submit
from scheduler.round_update import RoundUpdateError, update_round
from scheduler.rounds import (
    RoundClosedError,
    RoundExistsError,
    export_round,
    import_round,
    replace_travel_groups,
    solution_from_run,
)
from scheduler.tables import TablesError
from scheduler.tables.exporting import atomic_write
from scheduler.transit import GROUP_PREFIX, Feed, GTFSError, load_feed, with_transit_groups
from solver import (
    Previous,
    Problem,
    ProblemError,
    Progress,
    SolveOptions,
    check_solution,
    load_problem,
    solve,
)
from solver.io import expand_travel_groups, read_problem

EXIT_VIOLATIONS = 1
EXIT_BAD_INPUT = 2
EXIT_INFEASIBLE = 3
# Seconds a followed run may sit in the queue before `--wait` asks whether a worker runs.
QUEUED_HINT = 10.0


def write_json(path: Path, doc: Any) -> None:
    """Write atomically: a reader never sees half a file, and a failure leaves the old one."""
    with atomic_write(path) as stream:
        stream.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        stream.write(b"\n")


def _read_problem_or_exit(path: Path) -> Problem:
    try:
        return read_problem(path)
    except ProblemError as exc:
        click.echo(
            f"{path}: not a valid wbl-problem/1 document ({len(exc.issues)} problems):", err=True
        )
        for issue in exc.issues:
            click.echo(f"  {issue}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as exc:
        click.echo(f"{path}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def _feed_or_exit(path: Path) -> Feed:
    try:
        return load_feed(path)
    except (GTFSError, OSError) as exc:
        click.echo(f"{path}: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def _read_previous_or_exit(path: Path) -> tuple[Previous, ...]:
    """The placements of an earlier wbl-solution/1 document."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return tuple(
            Previous(
                student=a["student"],
                opportunity=a["opportunity"],
                slot=a["slot"],
                keep=a.get("status") in ("published", "confirmed"),
            )
            for a in doc["assignments"]
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        click.echo(f"{path}: not a readable wbl-solution/1 document: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)


class ProgressBar:
    """Progress on stderr: a redrawn bar on a terminal, one line per stage otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        if self.tty:
            width = 24
            done = int(p.fraction * width)
            line = f"\r[{'#' * done}{'.' * (width - done)}] {p.elapsed:6.1f}s {p.stage[:60]:<60}"
            click.echo(line, err=True, nl=False)
            if p.fraction >= 1.0:
                click.echo("", err=True)
        elif p.stage != self.last:
            click.echo(f"{p.elapsed:7.1f}s {p.stage}", err=True)
        self.last = p.stage


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "  -  "


def summary(problem: Problem, solution: Mapping[str, Any]) -> list[str]:
    """A coordinator's summary of a wbl-solution/1 document: placement, choices, mentoring,
    equity by group, changes since an earlier run, and why students were not placed."""
    gap = solution.get("gap") or 0
    lines = [f"status      {solution['status']}" + (f" (gap {gap:.4%})" if gap else "")]
    m = solution.get("metrics")
    if m is None:
        pins = ", ".join(str(k) for k in solution.get("infeasible_pins", ()))
        lines.append(f"the pins cannot all hold; a smallest conflicting set: pins [{pins}]")
        return lines
    wanting = sum(1 for s in problem.students if s.wants_mentor)
    placed, students = m["placed"], m["students"]
    lines += [
        f"placed      {placed:>7} of {students} students {_pct(placed, students)}",
        f"first choice{m['first_choice']:>7} {_pct(m['first_choice'], placed)} of placed;"
        f" top 3 {m['top3']} {_pct(m['top3'], placed)}; unranked {m['unranked']}",
        f"mentored    {m['mentored']:>7} of {wanting} who asked {_pct(m['mentored'], wanting)}",
        f"travel      {m['mean_travel_minutes']:>7.1f} min on average",
        f"solved in   {solution.get('wall_seconds', 0):>7.1f} s",
    ]
    if m["by_group"]:
        lines.append("by group:")
        for label, g in sorted(m["by_group"].items()):
            lines.append(
                f"  {label:<22}{g['placed']:>7} of {g['students']:<7}"
                f" {_pct(g['placed'], g['students'])}"
            )
    changes = solution.get("changes")
    if changes is not None:
        moved = [c for c in changes if c["from"] is not None]
        lines.append(
            f"changes     {len(moved):>7} moved or unplaced since the earlier run,"
            f" {len(changes) - len(moved)} newly placed"
        )
        for reason, count in Counter(c["reason"] for c in moved).most_common(5):
            lines.append(f"  {count:>5}  {reason}")
    unplaced = solution.get("unplaced") or []
    if unplaced:
        reasons: Counter[str] = Counter()
        for u in unplaced:
            reasons.update({r["code"] for r in u["reasons"]})
        lines.append(f"why {len(unplaced)} students were not placed (a student may have several):")
        for code, count in reasons.most_common():
            lines.append(f"  {code:<22}{count:>7}")
    return lines


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what the solver does.")
def main(verbose: bool) -> None:
    """wbl-scheduler: place students in work-based learning, fairly and exactly."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@main.command("solve")
@click.argument("problem_path", metavar="PROBLEM.json", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Where to write the solution.",
)
@click.option(
    "--time-limit", type=click.FloatRange(min=0.1), default=60.0, show_default=True, help="Seconds."
)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the tie-breaking lottery."
)
@click.option("--deterministic", is_flag=True, help="Same input and seed, same output, always.")
@click.option(
    "--previous",
    type=click.Path(path_type=Path),
    help="An earlier solution: re-solve moving as few students as possible (assignments whose"
    ' "status" is published or confirmed are kept unless impossible).',
)
@click.option(
    "--gtfs",
    "gtfs",
    type=click.Path(path_type=Path),
    envvar="WBL_GTFS_PATH",
    help="A GTFS feed (or WBL_GTFS_PATH): transit minutes from its timetable override the"
    " estimate, for departures in the hour after the school day.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
def solve_cmd(
    problem_path: Path,
    output: Path,
    time_limit: float,
    workers: int,
    seed: int,
    deterministic: bool,
    previous: Path | None,
    gtfs: Path | None,
    quiet: bool,
) -> None:
    """Solve a round and write its wbl-solution/1 document."""
    problem = _read_problem_or_exit(problem_path)
    if gtfs is not None:
        doc = json.loads(problem_path.read_text(encoding="utf-8"))
        doc, measured = with_transit_groups(doc, _feed_or_exit(gtfs))
        if not quiet:
            click.echo(f"{measured} transit times measured on {gtfs}", err=True)
        problem = load_problem(doc)
    options = SolveOptions(
        previous=_read_previous_or_exit(previous) if previous is not None else (),
        time_limit=time_limit,
        workers=workers,
        seed=seed,
        deterministic=deterministic,
        progress=ProgressBar(not quiet),
    )
    solution = solve(problem, options)
    write_json(output, solution.to_dict())
    if not quiet:
        for line in summary(problem, solution.to_dict()):
            click.echo(line)
        click.echo(f"solution written to {output}")
    if solution.status == "infeasible":
        sys.exit(EXIT_INFEASIBLE)


@main.command("check")
@click.argument("problem_path", metavar="PROBLEM.json", type=click.Path(path_type=Path))
@click.argument("solution_path", metavar="SOLUTION.json", type=click.Path(path_type=Path))
def check_cmd(problem_path: Path, solution_path: Path) -> None:
    """Verify a solution against H1-H9 and the metrics; exit 1 listing every violation."""
    _read_problem_or_exit(problem_path)
    problem_doc = json.loads(problem_path.read_text(encoding="utf-8"))
    try:
        solution_doc = json.loads(solution_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        click.echo(f"{solution_path}: cannot read the solution: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    violations = check_solution(problem_doc, solution_doc)
    if violations:
        click.echo(f"{len(violations)} violations:")
        for v in violations:
            click.echo(f"  {v}")
        sys.exit(EXIT_VIOLATIONS)
    click.echo("ok: the solution satisfies H1-H9 and its metrics are right")


@main.command("generate")
@click.option("--students", type=click.IntRange(min=1), required=True, help="How many students.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--summer", is_flag=True, help="A summer round (home origins, daytime shifts).")
@click.option(
    "--gtfs",
    "gtfs",
    type=click.Path(path_type=Path),
    help="Lay the round on this GTFS feed's city, with transit minutes from its timetable.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
def generate_cmd(students: int, seed: int, summer: bool, gtfs: Path | None, output: Path) -> None:
    """Generate a realistic synthetic round (a metro area that grows with the round)."""
    if gtfs is not None:
        doc = generate_round_on_feed(students, _feed_or_exit(gtfs), seed=seed, summer=summer)
    else:
        doc = generate_round(students, seed=seed, summer=summer)
    load_problem(doc)  # a generated round is valid by construction; make sure of it
    write_json(output, doc)
    click.echo(
        f"{output}: {len(doc['students'])} students, {len(doc['schools'])} schools, "
        f"{len(doc['employers'])} employers, {len(doc['opportunities'])} opportunities, "
        f"{sum(len(o['slots']) for o in doc['opportunities'])} slots, {len(doc['mentors'])} mentors"
    )


# --- Rounds in a database ------------------------------------------------------------------

PROGRAM_OPTION = click.option(
    "--program",
    default=DEFAULT_PROGRAM,
    show_default=True,
    help="The program (district, apprenticeship office) the round belongs to.",
)


def _find_round(session: Session, program: str, round_id: str) -> Round:
    rnd = find_round(session, program, round_id)
    if rnd is None:
        click.echo(f"no round {round_id!r} in program {program!r}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    return rnd


@main.group("db")
def db_group() -> None:
    """The database (WBL_DATABASE_URL, default instance/wbl.db)."""


@db_group.command("upgrade")
def db_upgrade_cmd() -> None:
    """Create the database or migrate it to the latest schema."""
    upgrade_database()
    click.echo("database is at the latest schema")


@main.command("import-round")
@click.argument("problem_path", metavar="PROBLEM.json", type=click.Path(path_type=Path))
@PROGRAM_OPTION
@click.option(
    "--update",
    is_flag=True,
    help="Apply the document to the existing round of that id, keeping its pins, runs and"
    " placements (rows matched by id; rows absent from the document deleted unless a run"
    " needs them). Default: the round must not exist yet.",
)
@click.option(
    "--accept-breaks",
    is_flag=True,
    help="With --update: apply it even if it breaks pins or placements of the chosen run;"
    " they are listed and marked for the coordinator.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="With --update: check everything and list what it would break; write nothing.",
)
def import_round_cmd(
    problem_path: Path, program: str, update: bool, accept_breaks: bool, dry_run: bool
) -> None:
    """Import a wbl-problem/1 round into the database (or update it, with --update)."""
    if (accept_breaks or dry_run) and not update:
        raise click.UsageError("--accept-breaks and --dry-run go with --update")
    _read_problem_or_exit(problem_path)
    doc = json.loads(problem_path.read_text(encoding="utf-8"))
    upgrade_database()
    if update:
        _update_round(doc, program, accept_breaks=accept_breaks, dry_run=dry_run)
        return
    with transaction(connect()) as session:
        try:
            rnd = import_round(session, doc, get_or_create_program(session, program))
        except RoundExistsError as exc:
            click.echo(f"{exc}; or update it: --update", err=True)
            sys.exit(EXIT_BAD_INPUT)
        click.echo(
            f"imported round {rnd.external_id!r} into program {program!r}:"
            f" {len(doc['students'])} students, {len(doc['opportunities'])} opportunities"
        )


def _update_round(doc: dict[str, Any], program: str, *, accept_breaks: bool, dry_run: bool) -> None:
    """`import-round --update`: the document applied to the stored round, or exit 2 with every
    problem (the breaks among them) and nothing written."""
    round_id = doc["round"]["id"]
    try:
        with transaction(connect()) as session:
            rnd = _find_round(session, program, round_id)
            report = update_round(session, rnd, doc, accept_breaks=accept_breaks, dry_run=dry_run)
    except (TablesError, RoundUpdateError) as exc:
        for line in str(exc).splitlines():
            click.echo(line, err=True)
        sys.exit(EXIT_BAD_INPUT)
    for file in report.files:
        click.echo(str(file))
    if dry_run:
        if report.breaks:
            click.echo(f"the update would break {len(report.breaks)} pins or placements:")
        for b in report.breaks:
            click.echo(f"  {b.rule} {b}")
        click.echo(f"dry run: round {round_id!r} in program {program!r} is unchanged")
        return
    lines = breaks_issues(report.breaks, accepted=True)
    for line in lines[:1]:
        click.echo(line)
    for line in lines[1:]:
        click.echo(f"  {line}")
    if report.marks_cleared:
        click.echo(f"{report.marks_cleared} earlier marks cleared: those rows hold again")
    click.echo(f"updated round {round_id!r} in program {program!r}")


@main.command("export-round")
@click.argument("round_id", metavar="ROUND")
@PROGRAM_OPTION
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Default: standard output.")
@click.option(
    "--plain",
    is_flag=True,
    help="Write travel groups out as per-student `travel` entries, for readers that do not know"
    " the `travel_groups` field (much larger for measured transit).",
)
def export_round_cmd(round_id: str, program: str, output: Path | None, plain: bool) -> None:
    """Export a round as a wbl-problem/1 document."""
    with transaction(connect()) as session:
        doc = export_round(session, _find_round(session, program, round_id))
    if plain:
        doc = expand_travel_groups(doc)
    if output is None:
        click.echo(json.dumps(doc, ensure_ascii=False))
    else:
        write_json(output, doc)


@main.group("round")
def round_group() -> None:
    """Solve a round in the database through the queue, and follow its runs."""


def _run_line(run: SolveRun) -> str:
    placed = (run.metrics or {}).get("placed")
    elapsed = (
        f"{run.wall_seconds:.1f}s"
        if run.wall_seconds is not None
        else (f"{(now() - run.started_at).total_seconds():.0f}s" if run.started_at else "-")
    )
    gap = f" gap {run.gap:.4%}" if run.gap else ""
    return (
        f"run {run.id:>4}  {run.status.value:<9} {run.progress:>4.0%}  {elapsed:>7}"
        f"  {run.solution_status.value if run.solution_status else '':<10}"
        f"{f' placed {placed}' if placed is not None else ''}{gap}"
        f"  {run.stage or ''}{f'  error: {run.error}' if run.error else ''}"
    )


@round_group.command("solve")
@click.argument("round_id", metavar="ROUND")
@PROGRAM_OPTION
@click.option("--time-limit", type=click.FloatRange(min=0.1), default=60.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--wait", is_flag=True, help="Follow the run until it ends (a worker must run).")
def round_solve_cmd(round_id: str, program: str, time_limit: float, seed: int, wait: bool) -> None:
    """Queue a solve of the round (`wbl worker` runs it)."""
    factory = connect()
    with transaction(factory) as session:
        rnd_id = _find_round(session, program, round_id).id
    run_id = submit(factory, rnd_id, {"time_limit": time_limit, "seed": seed})
    click.echo(f"queued run {run_id} of round {round_id!r}")
    if wait:
        sys.exit(_follow(factory, run_id))


def _follow(factory: sessionmaker[Session], run_id: int, poll: float = 1.0) -> int:
    """Print a run's progress until it ends; the exit status for its outcome."""
    last = ""
    started = time.monotonic()
    hinted = False
    while True:
        with transaction(factory) as session:
            reap_stale_runs(session)
            run = session.get_one(SolveRun, run_id)
            line = _run_line(run)
            status = run.status
        if line != last:
            click.echo(line, err=True)
            last = line
        if status == RunStatus.queued and not hinted and time.monotonic() - started > QUEUED_HINT:
            click.echo("still queued: is a `wbl worker` running for this queue?", err=True)
            hinted = True
        if status == RunStatus.succeeded:
            return 0
        if status in (RunStatus.failed, RunStatus.cancelled):
            return EXIT_VIOLATIONS
        time.sleep(poll)


@round_group.command("transit")
@click.argument("round_id", metavar="ROUND")
@PROGRAM_OPTION
@click.option(
    "--gtfs",
    "gtfs",
    type=click.Path(path_type=Path),
    envvar="WBL_GTFS_PATH",
    required=True,
    help="The GTFS feed (or WBL_GTFS_PATH) to measure on.",
)
def round_transit_cmd(round_id: str, program: str, gtfs: Path) -> None:
    """Measure the round's transit times on a GTFS timetable and store them.

    One travel group per school (per 250 m home cell in summer or for students without a
    school) replaces the round's earlier measured transit groups; every later solve and every
    manual move uses these times instead of the estimate."""
    feed = _feed_or_exit(gtfs)
    started = time.perf_counter()

    def step(text: str) -> None:
        click.echo(f"{time.perf_counter() - started:6.1f}s {text}", err=True)

    with transaction(connect()) as session:
        rnd = _find_round(session, program, round_id)
        if rnd.status == RoundStatus.closed:
            click.echo(f"round {round_id!r} is closed", err=True)
            sys.exit(EXIT_BAD_INPUT)
        step("reading the round")
        doc = export_round(session, rnd)
        step(f"measuring on {gtfs.name}")
        doc, _ = with_transit_groups(doc, feed)
        groups = [g for g in doc["travel_groups"] if g["id"].startswith(GROUP_PREFIX)]
        step(f"storing {sum(len(g['travel']) for g in groups)} times")
        try:
            stored = replace_travel_groups(
                session, rnd, groups, prefix=GROUP_PREFIX, detail={"feed": gtfs.name}
            )
        except RoundClosedError as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_BAD_INPUT)
    riders = sum(len(g["students"]) for g in groups)
    click.echo(
        f"round {round_id!r}: {stored} transit times for {riders} students in {len(groups)}"
        f" groups, measured on {gtfs.name} in {time.perf_counter() - started:.1f}s"
    )


@round_group.command("status")
@click.argument("round_id", metavar="ROUND")
@PROGRAM_OPTION
def round_status_cmd(round_id: str, program: str) -> None:
    """The round's state and its runs, newest first."""
    with transaction(connect()) as session:
        reap_stale_runs(session)
        rnd = _find_round(session, program, round_id)
        chosen = f", chosen run {rnd.chosen_run_id}" if rnd.chosen_run_id else ""
        click.echo(f"round {rnd.external_id!r} ({rnd.name}): {rnd.status.value}{chosen}")
        runs = session.scalars(
            select(SolveRun).where(SolveRun.round_id == rnd.id).order_by(SolveRun.id.desc())
        ).all()
        for run in runs:
            click.echo("  " + _run_line(run))
        if not runs:
            click.echo("  no runs yet: `wbl round solve ROUND`")


@round_group.command("choose")
@click.argument("round_id", metavar="ROUND")
@click.argument("run_id", metavar="RUN", type=int)
@PROGRAM_OPTION
def round_choose_cmd(round_id: str, run_id: int, program: str) -> None:
    """Keep this run's placements as the round's answer."""
    with transaction(connect()) as session:
        rnd = _find_round(session, program, round_id)
        run = session.get(SolveRun, run_id)
        if run is None or run.round_id != rnd.id:
            click.echo(f"round {round_id!r} has no run {run_id}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        try:
            outcome = choose_run(session, rnd, run, user=None)
        except ActionRefused as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_BAD_INPUT)
    click.echo(f"run {run_id} chosen" + "".join(f"; {n}" for n in outcome.notes))


@round_group.command("publish")
@click.argument("round_id", metavar="ROUND")
@PROGRAM_OPTION
def round_publish_cmd(round_id: str, program: str) -> None:
    """Publish the chosen run's placements to employers and students."""
    with transaction(connect()) as session:
        rnd = _find_round(session, program, round_id)
        try:
            outcome = publish(session, rnd, user=None)
        except ActionRefused as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_BAD_INPUT)
    click.echo(f"round {round_id!r} published" + "".join(f"; {n}" for n in outcome.notes))


@round_group.command("cancel")
@click.argument("run_id", metavar="RUN", type=int)
def round_cancel_cmd(run_id: int) -> None:
    """Cancel a queued or running run."""
    with transaction(connect()) as session:
        run = session.get(SolveRun, run_id)
        if run is None:
            click.echo(f"no run {run_id}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        click.echo(f"run {run_id} cancelled" if cancel(session, run) else f"run {run_id} had ended")


@round_group.command("solution")
@click.argument("round_id", metavar="ROUND")
@PROGRAM_OPTION
@click.option("--run", "run_id", type=int, help="A given run (default: the chosen, else latest).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Default: standard output.")
def round_solution_cmd(
    round_id: str, program: str, run_id: int | None, output: Path | None
) -> None:
    """The solution of a run as a wbl-solution/1 document (what `wbl check` takes)."""
    with transaction(connect()) as session:
        rnd = _find_round(session, program, round_id)
        wanted = run_id or rnd.chosen_run_id
        query = select(SolveRun).where(
            SolveRun.round_id == rnd.id, SolveRun.status == RunStatus.succeeded
        )
        if wanted is not None:
            query = query.where(SolveRun.id == wanted)
        run = session.scalar(query.order_by(SolveRun.id.desc()))
        if run is None:
            click.echo(
                f"round {round_id!r} has no finished run{f' {wanted}' if wanted else ''}", err=True
            )
            sys.exit(EXIT_BAD_INPUT)
        doc = solution_from_run(session, run)
    if output is None:
        click.echo(json.dumps(doc, ensure_ascii=False))
    else:
        write_json(output, doc)


@main.command("worker")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
def worker_cmd(workers: int) -> None:
    """Run solve jobs from the queue (WBL_REDIS_URL, else the SQLite queue) until stopped.

    Workers do not migrate the database (several may start at once): `wbl db upgrade` does."""
    run_worker(workers)


@main.command("demo")
@click.option("--students", type=click.IntRange(min=1), default=1500, show_default=True)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True)
@click.option(
    "--gtfs",
    "gtfs",
    type=click.Path(path_type=Path),
    help="Lay the district on this GTFS feed's city, with timetable transit minutes.",
)
def demo_cmd(students: int, seed: int, out: Path, gtfs: Path | None) -> None:
    """A fictional district end to end: a database, the round imported, solved by a worker
    through the queue, checked, and summarised. Each step is the command a coordinator runs."""
    started = time.perf_counter()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.db*"):
        old.unlink()  # a fresh demo database and queue every time
    env = dict(os.environ)
    env.pop("WBL_REDIS_URL", None)
    env |= {
        "WBL_DATABASE_URL": f"sqlite:///{out / 'wbl.db'}",
        "WBL_QUEUE_PATH": str(out / "queue.db"),
        "WBL_QUEUE_NAME": "wbl-demo",
    }
    problem_path, solution_path = out / "problem.json", out / "solution.json"

    def step(*args: str, quiet: bool = False) -> None:
        click.echo(f"$ wbl {' '.join(args)}")
        result = subprocess.run(  # noqa: S603  # our own CLI, arguments built here
            [sys.executable, "-m", "scheduler.cli", *args],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL if quiet else None,
        )
        if result.returncode != 0:
            click.echo(f"demo step failed (exit status {result.returncode})", err=True)
            sys.exit(result.returncode)

    click.echo(f"A fictional district of {students} students; database and queue in {out}/")
    on_feed = ("--gtfs", str(gtfs.resolve())) if gtfs is not None else ()
    step(
        "generate",
        "--students",
        str(students),
        "--seed",
        str(seed),
        *on_feed,
        "-o",
        str(problem_path),
    )
    step("db", "upgrade")
    step("import-round", str(problem_path), "--program", "demo")
    round_id = json.loads(problem_path.read_text(encoding="utf-8"))["round"]["id"]
    click.echo("$ wbl worker &")
    with (out / "worker.log").open("wb") as log:
        worker = subprocess.Popen(  # our own CLI
            [sys.executable, "-m", "scheduler.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        step("round", "solve", round_id, "--program", "demo", "--time-limit", "30", "--wait")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    step("round", "choose", round_id, "1", "--program", "demo")
    step("round", "publish", round_id, "--program", "demo")
    step("round", "status", round_id, "--program", "demo")
    step("round", "solution", round_id, "--program", "demo", "-o", str(solution_path))
    step("check", str(problem_path), str(solution_path))
    problem = read_problem(problem_path)
    for line in summary(problem, json.loads(solution_path.read_text(encoding="utf-8"))):
        click.echo(line)
    click.echo(f"{time.perf_counter() - started:.1f} s in all")
    click.echo(
        f"next: `WBL_DATABASE_URL=sqlite:///{out / 'wbl.db'} wbl round status {round_id}"
        " --program demo`, or open the solution in "
        f"{solution_path}"
    )


main.add_command(tables)
add_commands(main, round_group)


if __name__ == "__main__":
    main()
