"""The `wbl` command line: solve, check and generate rounds, and the demo.

Exit status: 0 done; 1 `wbl check` found violations; 2 bad input (every defect listed, nothing
written); 3 the round is infeasible (its pins cannot all hold; the solution is still written).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click

from scheduler.generate import generate_round
from scheduler.gtfs_round import generate_round_on_feed
from scheduler.transit import Feed, GTFSError, load_feed, transit_overrides
from solver import (
    Previous,
    Problem,
    ProblemError,
    Progress,
    Solution,
    SolveOptions,
    check_solution,
    load_problem,
    solve,
)
from solver.io import read_problem

EXIT_VIOLATIONS = 1
EXIT_BAD_INPUT = 2
EXIT_INFEASIBLE = 3


def write_json(path: Path, doc: Any) -> None:
    """Write atomically: a reader never sees half a file, and a failure leaves the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, ensure_ascii=False, separators=(",", ":"))
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def summary(problem: Problem, solution: Solution) -> list[str]:
    """A coordinator's summary of a solution: placement, choices, mentoring, why not placed."""
    lines = [
        f"status      {solution.status}" + (f" (gap {solution.gap:.4%})" if solution.gap else "")
    ]
    m = solution.metrics
    if m is None:
        pins = ", ".join(str(k) for k in solution.infeasible_pins)
        lines.append(f"the pins cannot all hold; a smallest conflicting set: pins [{pins}]")
        return lines
    wanting = sum(1 for s in problem.students if s.wants_mentor)
    lines += [
        f"placed      {m.placed:>7} of {m.students} students {_pct(m.placed, m.students)}",
        f"first choice{m.first_choice:>7} {_pct(m.first_choice, m.placed)} of placed;"
        f" top 3 {m.top3} {_pct(m.top3, m.placed)}; unranked {m.unranked}",
        f"mentored    {m.mentored:>7} of {wanting} who asked {_pct(m.mentored, wanting)}",
        f"travel      {m.mean_travel_minutes:>7.1f} min on average",
        f"solved in   {solution.wall_seconds:>7.1f} s",
    ]
    if m.by_group:
        lines.append("by group:")
        for label, g in sorted(m.by_group.items()):
            lines.append(
                f"  {label:<22}{g.placed:>7} of {g.students:<7} {_pct(g.placed, g.students)}"
            )
    if solution.changes is not None:
        moved = [c for c in solution.changes if c.before is not None]
        lines.append(
            f"changes     {len(moved):>7} moved or unplaced since the earlier run,"
            f" {len(solution.changes) - len(moved)} newly placed"
        )
        for reason, count in Counter(c.reason for c in moved).most_common(5):
            lines.append(f"  {count:>5}  {reason}")
    if solution.unplaced:
        reasons: Counter[str] = Counter()
        for u in solution.unplaced:
            reasons.update({r.code for r in u.reasons})
        lines.append(
            f"why {len(solution.unplaced)} students were not placed (a student may have several):"
        )
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
        measured = transit_overrides(doc, _feed_or_exit(gtfs))
        doc["travel"] = [*doc.get("travel", []), *measured]
        if not quiet:
            click.echo(f"{len(measured)} transit times measured on {gtfs}", err=True)
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
        for line in summary(problem, solution):
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


@main.command("demo")
@click.option("--students", type=click.IntRange(min=1), default=1500, show_default=True)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True)
def demo_cmd(students: int, seed: int, out: Path) -> None:
    """Generate a demo district, solve it, check it, and print the summary."""
    started = time.perf_counter()
    doc = generate_round(students, seed=seed)
    problem = load_problem(doc)
    write_json(out / "problem.json", doc)
    click.echo(
        f"A fictional district: {len(problem.students)} students"
        f" in {len(problem.schools)} schools, "
        f"{len(problem.employers)} employers offering {len(problem.opportunities)} opportunities, "
        f"{len(problem.mentors)} mentors."
    )
    solution = solve(problem, SolveOptions(time_limit=30, seed=seed, progress=ProgressBar(True)))
    write_json(out / "solution.json", solution.to_dict())
    violations = check_solution(doc, solution.to_dict())
    for line in summary(problem, solution):
        click.echo(line)
    click.echo(
        f"independent check: {'ok' if not violations else f'{len(violations)} violations'}; "
        f"{time.perf_counter() - started:.1f} s in all"
    )
    click.echo(
        f"next: look at {out}/solution.json,"
        f" or run `wbl check {out}/problem.json {out}/solution.json`"
    )
    if violations:
        for v in violations[:20]:
            click.echo(f"  {v}", err=True)
        sys.exit(EXIT_VIOLATIONS)
