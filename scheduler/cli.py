"""The `wbl` command line: solve, check and generate rounds, and the demo.

Exit status: 0 done; 1 `wbl check` found violations; 2 bad input (every defect listed, nothing
written); 3 the round is infeasible (its pins cannot all hold; the solution is still written).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import click
from sqlalchemy import make_url, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from models import Round, RoundStatus, SolveRun, database_url
from models.solve import RunStatus
from scheduler import explain
from scheduler.actions import ActionRefused, choose_run, publish, solve_round
from scheduler.cli_common import (
    EXIT_BAD_INPUT,
    EXIT_INFEASIBLE,
    EXIT_VIOLATIONS,
    PROGRAM_OPTION,
    echo_breaks,
    fail,
    round_or_exit,
)
from scheduler.cli_geocode import geocode_cmd
from scheduler.cli_placements import register as register_placements
from scheduler.cli_round import add_commands
from scheduler.cli_season import (
    glossary_cmd,
    round_delete_cmd,
    round_list_cmd,
    round_unplaced_cmd,
)
from scheduler.cli_tables import tables
from scheduler.cli_users import user_group
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
from scheduler.jobs import cancel, describe_queue, enqueue, now, reap_stale_runs, run_worker
from scheduler.links import SecretKeyMissing
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
from scheduler.transit import (
    GROUP_PREFIX,
    Feed,
    GTFSError,
    load_feed,
    measurement_note,
    with_transit_groups,
)
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
from solver.eligibility import refusal_codes
from solver.instance import Instance
from solver.io import expand_travel_groups, read_problem
from solver.solution import STATUSES
from solver.solve import estimate_seconds

# The demo district's market: about a seat per student (`wbl generate --seats-per-student`).
DEMO_SEATS_PER_STUDENT: Final = 1.0
# Writing a solution document, per student: serialising and writing the 20,000-student
# benchmark solution (6 MB) took 0.43 s on the 2-core machine under load; doubled for margin.
WRITE_SECONDS_PER_STUDENT = 5e-5
# Seconds a followed run may sit in the queue before `--wait` asks whether a worker runs.
QUEUED_HINT = 10.0


def write_json(path: Path, doc: Any) -> None:
    """Write atomically: a reader never sees half a file, and a failure leaves the old one."""
    with atomic_write(path) as stream:
        stream.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        stream.write(b"\n")


PROBLEM_FORMAT: Final = "wbl-problem/1"
SOLUTION_FORMAT: Final = "wbl-solution/1"


def _format_of(path: Path) -> str | None:
    """The document's `format` field, if it is a readable JSON object that has one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = doc.get("format") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def _swapped(path: Path, wanted: str) -> str | None:
    """One line when `path` is the other kind of document than `wanted` (a solution given
    where a problem goes, or the reverse), else None."""
    found = _format_of(path)
    other = SOLUTION_FORMAT if wanted == PROBLEM_FORMAT else PROBLEM_FORMAT
    if found != other:
        return None
    return f"{path}: this is a {other} document; a {wanted} document goes here"


def holiday_warnings(problem: Problem) -> list[str]:
    """A holiday outside the round's dates is most likely a typo (a year off): it takes no
    shift away, so the round runs on a day meant to be off. Said, not refused: the format
    allows it."""
    r = problem.round
    return [
        f"warning: holiday {day} is outside the round ({r.start_date} to {r.end_date}):"
        " it changes nothing; is the year right?"
        for day in r.holidays
        if not r.start_date <= day <= r.end_date
    ]


def _read_problem_or_exit(path: Path) -> Problem:
    try:
        problem = read_problem(path)
        for line in holiday_warnings(problem):
            click.echo(f"{path}: {line}", err=True)
        return problem
    except ProblemError as exc:
        swapped = _swapped(path, PROBLEM_FORMAT)
        if swapped is not None:
            click.echo(swapped, err=True)
            sys.exit(EXIT_BAD_INPUT)
        problems = "problem" if len(exc.issues) == 1 else "problems"
        click.echo(
            f"{path}: not a valid wbl-problem/1 document ({len(exc.issues)} {problems}):",
            err=True,
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
    swapped = _swapped(path, SOLUTION_FORMAT)
    if swapped is not None:
        click.echo(swapped, err=True)
        sys.exit(EXIT_BAD_INPUT)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return tuple(
            Previous(
                student=a["student"],
                opportunity=a["opportunity"],
                slot=a["slot"],
                # An added field: published and confirmed placements are kept wherever they
                # hold, declined ones not offered again; absent means proposed.
                status=_previous_status(a.get("status")),
            )
            for a in doc["assignments"]
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        click.echo(f"{path}: not a readable wbl-solution/1 document: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def _previous_status(status: object) -> str:
    if status is None:
        return "proposed"
    if status not in STATUSES:
        raise ValueError(f"assignment status {status!r} is not one of {', '.join(STATUSES)}")
    return str(status)


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
        pins = list(solution.get("infeasible_pins", ()))
        lines.append(f"the pins cannot all hold; a smallest conflicting set ({len(pins)} pins):")
        lines += [f"  {line}" for line in pin_lines(problem, pins)]
        return lines
    if not problem.students:
        lines.append("the round has no students: nothing to place (import its students first)")
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
        lines += _unplaced_lines(unplaced)
    return lines


def _unplaced_lines(unplaced: list[Mapping[str, Any]]) -> list[str]:
    """Why students were not placed, split by what a coordinator can do about it: students
    who could take some opportunity but whose seats went to others (more seats, or moving
    someone, places them), and students eligible nowhere (a rule closes every opportunity:
    their data, their limits or the round's offer must change)."""
    crowded: Counter[str] = Counter()
    nowhere: Counter[str] = Counter()
    n_crowded = 0
    for u in unplaced:
        codes = {r["code"] for r in u["reasons"]}
        had_seat = any(
            r["code"] in _SEATS_GONE and r.get("detail") != _NO_SEATS for r in u["reasons"]
        )
        if had_seat:
            n_crowded += 1
            crowded.update(codes)
        else:
            nowhere.update(codes)
    n = len(unplaced)
    lines = [f"not placed  {n:>7} students:"]
    for title, many, counts in (
        ("eligible somewhere, but the seats went to others", n_crowded, crowded),
        ("eligible nowhere: a rule closes every opportunity", n - n_crowded, nowhere),
    ):
        if not many:
            continue
        lines.append(f"  {many:>7}  {title}; their reasons (a student may have several):")
        for code, count in counts.most_common():
            lines.append(f"           {count:>7}  {explain.label(code):<28}({code})")
    lines.append(
        "  `wbl round unplaced ROUND` lists each student with the reasons in plain words;"
        " the codes are explained in docs/format.md"
    )
    return lines


# Reasons that say the student could take an opportunity but someone else holds it.
_SEATS_GONE: Final = frozenset({"capacity_taken", "no_mentor"})
# The detail of `capacity_taken` when the opportunities the student could take offer no seat.
_NO_SEATS: Final = "no seats offered where eligible"


def pin_lines(problem: Problem, indices: list[int]) -> list[str]:
    """Each conflicting pin by its index, student, opportunity (and slot, mentor) and the rule
    that stops it: a rule the pair breaks on its own (its reason code), else the capacity the
    pins share (H2 seats, H8 a mentor)."""
    inst = Instance(problem)
    pins = [problem.pins[k] for k in indices if 0 <= k < len(problem.pins)]
    per_place: Counter[str] = Counter()
    for pin in pins:
        per_place[pin.slot or pin.opportunity] += 1
    out = []
    for k, pin in zip(indices, pins, strict=False):
        where = f"opportunity {pin.opportunity}" + (f" slot {pin.slot}" if pin.slot else "")
        mentor = f" with mentor {pin.mentor}" if pin.mentor else ""
        s, o = inst.student_ix.get(pin.student), inst.opp_ix.get(pin.opportunity)
        slot = inst.slot_ix.get(pin.slot) if pin.slot is not None else None
        codes = refusal_codes(inst, s, o, slot) if s is not None and o is not None else []
        if codes:
            rule = "; ".join(
                f"{explain.CODES[c].rule} {explain.label(c).lower()} ({c})"
                if c in explain.CODES
                else c
                for c in codes
            )
        elif per_place[pin.slot or pin.opportunity] > 1:
            rule = (
                f"H2 seats: {per_place[pin.slot or pin.opportunity]} of these pins share"
                f" {'slot ' + pin.slot if pin.slot else 'opportunity ' + pin.opportunity}"
            )
        elif pin.mentor:
            rule = f"H8 mentor: mentor {pin.mentor}'s capacity or meeting times"
        else:
            rule = "H2/H8: together with the others, more than the seats or mentors allow"
        out.append(f"pins[{k}]: student {pin.student} at {where}{mentor}: {rule}")
    return out


# What the database says when the schema is missing or older than the code (SQLite,
# PostgreSQL): a table or a column the models know is not there.
_SCHEMA_MISSING: Final = re.compile(
    r"no such table|no such column|has no column named|relation .* does not exist"
    r"|column .* does not exist"
)


def schema_hint(exc: BaseException) -> str | None:
    """One line for a database error that means the schema is missing or old, else None."""
    if not isinstance(exc, (OperationalError, ProgrammingError)):
        return None
    if _SCHEMA_MISSING.search(str(exc.orig)) is None:
        return None
    return (
        f"the database ({make_url(database_url()).render_as_string(hide_password=True)}) has no"
        " schema yet or an older one: run `wbl db upgrade`"
    )


class _Main(click.Group):
    """The `wbl` group: a missing or old schema is one line and exit 2, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            hint = schema_hint(exc)
            if hint is None:
                raise
            click.echo(hint, err=True)
            sys.exit(EXIT_BAD_INPUT)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what the solver does.")
def main(verbose: bool) -> None:
    """wbl-scheduler: place students in work-based learning, fairly and exactly."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _process_seconds() -> float:
    """Seconds since this process started (Linux's /proc), or 0 where that is unknown."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime, in clock ticks after boot
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


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
    "--time-limit",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds for the whole command, reading and writing included.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Solve even when the time limit is too short for the round (it will be overrun).",
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
    ' "status" is published or confirmed are kept wherever they hold, declined ones are not'
    " offered again).",
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
    force: bool,
    workers: int,
    seed: int,
    deterministic: bool,
    previous: Path | None,
    gtfs: Path | None,
    quiet: bool,
) -> None:
    """Solve a round and write its wbl-solution/1 document."""
    # The limit counts from the command's start: when this process is the command (not a test
    # calling it), the interpreter's start-up and imports (3-5 s on the shared machine) too.
    started = time.perf_counter()
    if Path(sys.argv[0]).name in ("wbl", "cli.py"):
        started -= _process_seconds()
    problem = _read_problem_or_exit(problem_path)
    if gtfs is not None:
        doc = json.loads(problem_path.read_text(encoding="utf-8"))
        feed = _feed_or_exit(gtfs)
        doc, measured = with_transit_groups(doc, feed)
        if not quiet:
            click.echo(f"{measured} transit times measured on {gtfs}", err=True)
            for line in measurement_note(doc, feed):
                click.echo(line, err=True)
        problem = load_problem(doc)
    students = len(problem.students)
    # The estimate is for a quiet machine; a busy one is slower (measured at a load of 10 on
    # 2 cores: the flow 2.3x, eligibility 3.8x), about as the square root of load per core.
    busy = max(1.0, (os.getloadavg()[0] / (os.cpu_count() or 1)) ** 0.5)
    needed = estimate_seconds(students) * busy + (time.perf_counter() - started)
    if needed > time_limit and not force and not deterministic:
        click.echo(
            f"wbl solve: --time-limit {time_limit:g} is too short for {students:,} students:"
            f" reading, eligibility, the exact flow and writing need about {needed:.0f} s on"
            f" this machine now; give --time-limit {needed * 1.5:.0f} or more, or --force",
            err=True,
        )
        sys.exit(EXIT_BAD_INPUT)
    # The limit is the whole command's: what reading took and writing will take is not the
    # solver's (deterministic runs budget work instead, so their limit is passed unchanged).
    spent = time.perf_counter() - started + WRITE_SECONDS_PER_STUDENT * students
    options = SolveOptions(
        previous=_read_previous_or_exit(previous) if previous is not None else (),
        time_limit=time_limit if deterministic else max(0.1, time_limit - spent),
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
    swapped = _swapped(solution_path, SOLUTION_FORMAT)
    if swapped is not None:
        click.echo(swapped, err=True)
        sys.exit(EXIT_BAD_INPUT)
    violations = check_solution(problem_doc, solution_doc)
    if violations:
        click.echo(f"{len(violations)} violation{'' if len(violations) == 1 else 's'}:")
        for v in violations:
            click.echo(f"  {v}")
        sys.exit(EXIT_VIOLATIONS)
    click.echo("ok: the solution satisfies H1-H9 and its metrics are right")


@main.command("generate")
@click.option("--students", type=click.IntRange(min=1), required=True, help="How many students.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--summer", is_flag=True, help="A summer round (home origins, daytime shifts).")
@click.option(
    "--seats-per-student",
    type=click.FloatRange(min=0.01, max=10),
    help="How many seats employers offer per student (1.0: about a seat each). Default: a"
    " hard market of about one seat for two students.",
)
@click.option(
    "--gtfs",
    "gtfs",
    type=click.Path(path_type=Path),
    help="Lay the round on this GTFS feed's city, with transit minutes from its timetable.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
def generate_cmd(
    students: int,
    seed: int,
    summer: bool,
    seats_per_student: float | None,
    gtfs: Path | None,
    output: Path,
) -> None:
    """Generate a realistic synthetic round (a metro area that grows with the round)."""
    if gtfs is not None:
        if seats_per_student is not None:
            raise click.UsageError("--seats-per-student does not go with --gtfs yet")
        doc = generate_round_on_feed(students, _feed_or_exit(gtfs), seed=seed, summer=summer)
    else:
        doc = generate_round(
            students, seed=seed, summer=summer, seats_per_student=seats_per_student
        )
    load_problem(doc)  # a generated round is valid by construction; make sure of it
    write_json(output, doc)
    click.echo(
        f"{output}: {len(doc['students'])} students, {len(doc['schools'])} schools, "
        f"{len(doc['employers'])} employers, {len(doc['opportunities'])} opportunities, "
        f"{sum(len(o['slots']) for o in doc['opportunities'])} slots, {len(doc['mentors'])} mentors"
    )


# --- Rounds in a database ------------------------------------------------------------------


def _find_round(session: Session, program: str, round_id: str) -> Round:
    return round_or_exit(session, program, round_id)


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
    if echo_breaks(report.breaks, report.marks_cleared, dry_run=dry_run, what="update"):
        click.echo(f"dry run: round {round_id!r} in program {program!r} is unchanged")
        return
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
        click.echo(
            f"{output}: round {round_id!r} of program {program!r}, {len(doc['students'])}"
            f" students, {len(doc['opportunities'])} opportunities"
            + (" (plain: travel groups written out)" if plain else "")
        )


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
@click.option(
    "--fresh",
    is_flag=True,
    help="Solve from scratch even when placements are published (default then: re-solve from"
    " the chosen run, keeping published and confirmed placements wherever they hold).",
)
@click.option("--wait", is_flag=True, help="Follow the run until it ends (a worker must run).")
def round_solve_cmd(
    round_id: str, program: str, time_limit: float, seed: int, fresh: bool, wait: bool
) -> None:
    """Queue a solve of the round (`wbl worker` runs it)."""
    factory = connect()
    with transaction(factory) as session:
        rnd = _find_round(session, program, round_id)
        try:
            started = solve_round(
                session,
                rnd,
                user=None,
                options={"time_limit": time_limit, "seed": seed},
                fresh=fresh,
            )
        except ActionRefused as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_BAD_INPUT)
        run_id = started.run.id
    enqueue(run_id)
    if started.previous_run is not None:
        click.echo(
            f"queued run {run_id} of round {round_id!r}: a re-solve from run"
            f" {started.previous_run} keeping its {started.protected} published or confirmed"
            " placements wherever they still hold (`--fresh` solves from scratch)"
        )
    elif started.unprotected:
        click.echo(
            f"queued run {run_id} of round {round_id!r} from scratch: it does not protect the"
            f" {started.unprotected} published or confirmed placements of the chosen run;"
            " `wbl round choose` names every one it moves and refuses it without"
            " --accept-changes"
        )
    else:
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
            click.echo(
                "still queued: is a `wbl worker` running for this queue? It waits on the"
                f" {describe_queue()} (a worker with the same WBL_DATABASE_URL, or the same"
                " WBL_QUEUE_PATH / WBL_REDIS_URL, takes it)",
                err=True,
            )
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
        # The database keeps one time per entry (no column for `trips` yet): measured as such.
        doc, _ = with_transit_groups(doc, feed, by_block=False)
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
    for line in measurement_note(doc, feed, by_block=False):
        click.echo(line)


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
            hint = f" --program {program}" if program != DEFAULT_PROGRAM else ""
            click.echo(f"  no runs yet: `wbl round solve {rnd.external_id}{hint}`")


ACCEPT_CHANGES_OPTION = click.option(
    "--accept-changes",
    is_flag=True,
    help="Go ahead even if the run moves or drops published or confirmed placements (each is"
    " listed: tell the students and employers).",
)


@round_group.command("choose")
@click.argument("round_id", metavar="ROUND")
@click.argument("run_id", metavar="RUN", type=int)
@PROGRAM_OPTION
@ACCEPT_CHANGES_OPTION
def round_choose_cmd(round_id: str, run_id: int, program: str, accept_changes: bool) -> None:
    """Keep this run's placements as the round's answer (refused, every student named, when it
    moves or drops published or confirmed placements, unless --accept-changes)."""
    with transaction(connect()) as session:
        rnd = _find_round(session, program, round_id)
        run = session.get(SolveRun, run_id)
        if run is None or run.round_id != rnd.id:
            click.echo(f"round {round_id!r} has no run {run_id}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        try:
            outcome = choose_run(session, rnd, run, user=None, accept_changes=accept_changes)
        except ActionRefused as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_BAD_INPUT)
    click.echo(f"run {run_id} chosen")
    for note in outcome.notes:
        click.echo(f"  {note}")


@round_group.command("publish")
@click.argument("round_id", metavar="ROUND")
@PROGRAM_OPTION
@ACCEPT_CHANGES_OPTION
def round_publish_cmd(round_id: str, program: str, accept_changes: bool) -> None:
    """Publish the chosen run's placements to employers and students (refused, every student
    named, when it moves or drops placements published before, unless --accept-changes)."""
    with transaction(connect()) as session:
        rnd = _find_round(session, program, round_id)
        try:
            outcome = publish(session, rnd, user=None, accept_changes=accept_changes)
        except (ActionRefused, SecretKeyMissing) as exc:
            # A refusal, or no WBL_SECRET_KEY to derive the people's links from (production):
            # the transaction rolls back, nothing is published.
            fail(str(exc))
    click.echo(f"round {round_id!r} published")
    for note in outcome.notes:
        click.echo(f"  {note}")


@round_group.command("cancel")
@click.argument("run_id", metavar="RUN", type=int)
@click.option(
    "--program",
    default=None,
    help="The program the run's round belongs to (checked when given; run ids are unique).",
)
def round_cancel_cmd(run_id: int, program: str | None) -> None:
    """Cancel a queued or running run."""
    with transaction(connect()) as session:
        run = session.get(SolveRun, run_id)
        if run is not None and program is not None:
            rnd = session.get_one(Round, run.round_id)
            if find_round(session, program, rnd.external_id) is not rnd:
                run = None
        if run is None:
            where = f" in program {program!r}" if program is not None else ""
            click.echo(f"no run {run_id}{where}", err=True)
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

    Workers do not migrate the database (several may start at once): `wbl db upgrade` does.
    Each job's start and end is logged on standard error."""
    logging.getLogger("scheduler.jobs").setLevel(logging.INFO)
    click.echo(f"worker on the {describe_queue()}", err=True)
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
    # A program that recruited about a seat per applicant: most are placed, and those who are
    # not have reasons a coordinator can act on (the generator's default market is far harder).
    market = () if gtfs is not None else ("--seats-per-student", str(DEMO_SEATS_PER_STUDENT))
    step(
        "generate",
        "--students",
        str(students),
        "--seed",
        str(seed),
        *market,
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
    solution = json.loads(solution_path.read_text(encoding="utf-8"))
    for line in summary(problem, solution):
        click.echo(line)
    click.echo(f"{time.perf_counter() - started:.1f} s in all")
    click.echo("")
    for line in next_steps(solution, round_id, "demo", f"sqlite:///{out / 'wbl.db'}"):
        click.echo(line)


def next_steps(
    solution: Mapping[str, Any], round_id: str, program: str, database: str
) -> list[str]:
    """What a coordinator does after a solve, with the commands, from what the solve left."""
    env = f"WBL_DATABASE_URL={database} "
    unplaced = solution.get("unplaced") or []
    crowded = sum(
        1
        for u in unplaced
        if any(r["code"] in _SEATS_GONE and r.get("detail") != _NO_SEATS for r in u["reasons"])
    )
    lines = ["next steps for the coordinator:"]
    if unplaced:
        lines.append(
            f"  1. read why each of the {len(unplaced)} students was not placed, per school for"
            f" the counselors: `{env}wbl round unplaced {round_id} --program {program}"
            " [--school S -o S.xlsx]`"
        )
    if crowded:
        lines.append(
            f"  2. {crowded} could take an opportunity whose seats went to others: ask those"
            " employers for more seats (or recruit employers in those clusters), then re-solve"
        )
    if len(unplaced) > crowded:
        lines.append(
            f"  3. {len(unplaced) - crowded} are eligible nowhere: check their data (career"
            " clusters, ways to travel, longest commute, class schedule, credentials); a fix"
            " in the spreadsheet is re-imported with `wbl tables import`"
        )
    lines.append(
        f"  then: `{env}wbl round status {round_id} --program {program}`; placements per school"
        f" or employer: `{env}wbl tables export {round_id} --program {program} --by school"
        " -o schools.xlsx`"
    )
    return lines


main.add_command(tables)
register_placements(round_group)
round_group.add_command(geocode_cmd)
main.add_command(glossary_cmd)
main.add_command(user_group)
round_group.add_command(round_list_cmd)
round_group.add_command(round_delete_cmd)
round_group.add_command(round_unplaced_cmd)
add_commands(main, round_group)


if __name__ == "__main__":
    main()
