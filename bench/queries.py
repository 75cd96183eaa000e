"""How fast the read queries of the pages are on a big round, and how many SQL statements each.

    python -m bench.queries --students 100000 --seed 1 [--repeat 20] [--database-url URL]
        [--time-limit 60] [--json FILE] [--keep] [--reuse SQLITE_FILE_OR_SCHEMA]

The round is set up exactly as `bench/moves.py` sets it up (its `database` and `set_up`:
`generate_round(students, seed=seed)`, `import_round`, `solver.solve`, `store_solution`,
`choose_run`), in a temporary SQLite file or a new PostgreSQL schema (ANALYZEd). For the run
comparison a second run is stored: the chosen run's solution (`solution_from_run`) with every
hundredth placed student unplaced. `--keep` leaves the SQLite file (the PostgreSQL schema) in
place and prints its path (name); `--reuse FILE` (`--reuse SCHEMA --database-url URL`) measures
it again without the set-up (it is migrated to the current head first, so new indexes are
built). On PostgreSQL every table is then VACUUM ANALYZEd, as autovacuum would after the
import (statistics, and the visibility map that index-only scans need).

`unplaced_reasons` has two rows: counted (each call's session is not committed, so each counts
the stored reasons again, as the first view after a change of the run does) and kept (counted
once in a committed session, then read from the run).

Every query of `scheduler.queries` is then called `--repeat` times with `actor=None` (the
system: its access check runs no statement; a user's adds one), each call in a session of its
own whose round and rows were loaded by primary key before the timing starts: the time is the
query's alone, as a page's view would call it. Arguments vary between calls where the query is
about one thing (students, employers: picked with a seeded random generator); page queries ask
for 50 rows. A deep page is the page after half the run's students (reached by walking the
listing, 500 rows a page, not timed). SQL statements per call are counted with the
`before_cursor_execute` listener of `bench.moves`; `statements` is the most any call of the row
ran (calls on different students can differ by a statement or two, never with the round's
size). The table gives the median and p95 latency in milliseconds. Python's garbage collector
is frozen after the set-up, as in `bench/moves.py`. Results: bench/QUERIES.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, make_url, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bench.machine import machine
from bench.moves import Statements, _git, _percentile, database, set_up
from models import (
    Assignment,
    Base,
    Employer,
    Opportunity,
    Round,
    RunStatus,
    School,
    SolveRun,
    Student,
    Unplaced,
    make_engine,
    make_session_factory,
)
from models.migrate import upgrade
from scheduler import queries as q
from scheduler.jobs import create_run, now
from scheduler.rounds import solution_from_run, store_solution

PAGE = 50
# One in this many placed students is unplaced in the second run (the comparison's changes).
CHANGED_EVERY = 100

# A query call: (session, round) -> anything; the session has the call's rows loaded.
Call = Callable[[Session, Round], object]


@dataclass(slots=True)
class Row:
    """The samples of one query."""

    query: str
    what: str
    ms: list[float]
    statements: list[int]

    def summary(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "what": self.what,
            "calls": len(self.ms),
            "median_ms": statistics.median(self.ms),
            "p95_ms": _percentile(self.ms, 0.95),
            "max_ms": max(self.ms),
            "statements": max(self.statements),
            "statements_min": min(self.statements),
        }


def second_run(factory: sessionmaker[Session], round_id: int) -> int:
    """A second succeeded run of the round: the chosen run's solution with every
    `CHANGED_EVERY`-th placed student unplaced. Returns its id."""
    with factory() as session, session.begin():
        rnd = session.get_one(Round, round_id)
        chosen = session.get_one(SolveRun, rnd.chosen_run_id)
        solution = solution_from_run(session, chosen)
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        for i, a in enumerate(solution["assignments"]):
            (dropped if i % CHANGED_EVERY == 0 else kept).append(a)
        solution["assignments"] = kept
        solution["unplaced"] = list(solution.get("unplaced") or ()) + [
            {"student": a["student"], "reasons": [{"code": "capacity_taken"}]} for a in dropped
        ]
        solution["metrics"] = dict(solution["metrics"], placed=len(kept))
        run = create_run(session, rnd, {"seed": 1})
        run.started_at = now()
        store_solution(session, rnd, run, solution)
        run.status = RunStatus.succeeded
        run.finished_at = now()
        return run.id


class Bench:
    """Calls and times the queries on one round."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        statements: Statements,
        round_id: int,
        run_b: int,
        repeat: int,
        seed: int,
    ) -> None:
        self.factory = factory
        self.statements = statements
        self.round_id = round_id
        self.run_b = run_b
        self.repeat = repeat
        self.rng = random.Random(seed)
        self.rows: list[Row] = []

    def timed(self, query: str, what: str, calls: list[Call]) -> None:
        row = Row(query=query, what=what, ms=[], statements=[])
        for call in calls:
            with self.factory() as session:
                rnd = session.get_one(Round, self.round_id)
                with self.statements.counting(query):
                    started = time.perf_counter()
                    call(session, rnd)
                    row.ms.append((time.perf_counter() - started) * 1000)
                    row.statements.append(self.statements.count)
        self.rows.append(row)

    def same(self, query: str, what: str, call: Call) -> None:
        self.timed(query, what, [call] * self.repeat)

    def pick(self, stmt: Any) -> list[Any]:
        """`repeat` values drawn (seeded) from the rows of `stmt`."""
        with self.factory() as session:
            values = list(session.scalars(stmt))
        return [self.rng.choice(values) for _ in range(self.repeat)]

    def deep_cursor(self, sort: str) -> str | None:
        """The cursor after half the run's students in `sort` order (walked, not timed)."""
        with self.factory() as session:
            rnd = session.get_one(Round, self.round_id)
            total = session.scalar(
                select(func.count()).select_from(Student).where(Student.round_id == rnd.id)
            )
            cursor, seen = None, 0
            while seen < (total or 0) // 2:
                page = q.assignments_page(
                    session, rnd, None, sort=sort, cursor=cursor, limit=q.MAX_PAGE
                )
                seen += len(page.rows)
                cursor = page.next_cursor
                if cursor is None:
                    break
            return cursor

    def run_all(self) -> None:
        rid = self.round_id
        with self.factory() as session:
            rnd = session.get_one(Round, rid)
            run_a = rnd.chosen_run_id
            # Filter values as a coordinator would pick them: the biggest school, employer...
            school = session.execute(
                select(School.external_id)
                .join(Student, Student.school_id == School.id)
                .where(School.round_id == rid)
                .group_by(School.external_id)
                .order_by(func.count().desc())
                .limit(1)
            ).scalar_one()
            employer, opportunity = session.execute(
                select(Employer.external_id, Opportunity.external_id)
                .join(Opportunity, Opportunity.employer_id == Employer.id)
                .join(Assignment, Assignment.opportunity_id == Opportunity.id)
                .where(Assignment.run_id == run_a)
                .group_by(Employer.external_id, Opportunity.external_id)
                .order_by(func.count().desc())
                .limit(1)
            ).one()
            some = session.scalars(
                select(Student).where(Student.round_id == rid).order_by(Student.id).limit(200)
            ).all()
            cluster = next(c for s in some for c in s.clusters)
            group = next(g for s in some for g in s.groups)
            surname = some[len(some) // 2].name.split()[-1]
            some_id = some[len(some) // 3].external_id

        def page(**kw: Any) -> Call:
            return lambda s, r: q.assignments_page(s, r, None, limit=PAGE, **kw)

        self.same(
            "round_dashboard",
            "counts, runs, metrics",
            lambda s, r: q.round_dashboard(s, r, None),
        )
        # Counted: the kept counts cleared (committed), then each call's session is not
        # committed, so each counts again, as the first view after a run is stored or edited
        # does. Kept: counted once and committed first.
        with self.factory() as session, session.begin():
            session.execute(
                update(SolveRun).where(SolveRun.round_id == rid).values(reason_counts=None)
            )
        self.same(
            "unplaced_reasons",
            "students by reason code, counted (first view after a change)",
            lambda s, r: q.unplaced_reasons(s, r, None),
        )
        with self.factory() as session, session.begin():
            q.unplaced_reasons(session, session.get_one(Round, rid), None)
        self.same(
            "unplaced_reasons",
            "students by reason code, kept on the run",
            lambda s, r: q.unplaced_reasons(s, r, None),
        )
        for sort in q.SORTS:
            self.same("assignments_page", f"first page, sort {sort}", page(sort=sort))
        self.same("assignments_page", "first page, sort name descending", page(descending=True))
        for sort in ("name", "travel"):
            cursor = self.deep_cursor(sort)
            self.same(
                "assignments_page",
                f"page after half the run, sort {sort}",
                page(sort=sort, cursor=cursor),
            )
        F = q.AssignmentFilter
        for what, f in (
            (f"school {school}", F(school=school)),
            (f"cluster {cluster}", F(cluster=cluster)),
            (f"employer {employer}", F(employer=employer)),
            (f"opportunity {opportunity}", F(opportunity=opportunity)),
            (f"group {group}", F(group=group)),
            ("status pinned", F(status="pinned")),
            ("unplaced only", F(placed=False)),
            ("placed only", F(placed=True)),
            (f"search name {surname!r}", F(search=surname)),
            (f"search id {some_id!r}", F(search=some_id)),
            (
                f"school {school} and cluster {cluster}, unplaced",
                F(school=school, cluster=cluster, placed=False),
            ),
        ):
            self.same("assignments_page", f"filter {what}, sort name", page(filters=f))
        placed = self.pick(select(Assignment.student_id).where(Assignment.run_id == run_a))
        unplaced = self.pick(select(Unplaced.student_id).where(Unplaced.run_id == run_a))

        def about(fn: Callable[[Session, Round, Student], object]) -> Callable[[int], Call]:
            return lambda sid: lambda s, r: fn(s, r, s.get_one(Student, sid))

        story = about(lambda s, r, st: q.student_story(s, r, st, None))
        targets = about(lambda s, r, st: q.move_targets(s, r, st, None))
        self.timed("student_story", "a placed student", [story(i) for i in placed])
        self.timed("student_story", "an unplaced student", [story(i) for i in unplaced])
        self.timed("move_targets", "a placed student", [targets(i) for i in placed])
        self.timed("move_targets", "an unplaced student", [targets(i) for i in unplaced])
        employers = self.pick(select(Employer.id).where(Employer.round_id == rid))
        self.timed(
            "employer_view",
            "an employer",
            [_employer_call(e) for e in employers],
        )

        def compare(cursor: str | None) -> Call:
            return lambda s, r: q.compare_runs(
                s,
                r,
                s.get_one(SolveRun, run_a),
                s.get_one(SolveRun, self.run_b),
                None,
                cursor=cursor,
                limit=PAGE,
            )

        self.same("compare_runs", "first page", compare(None))
        with self.factory() as session:
            rnd = session.get_one(Round, rid)
            cursor = None
            for _ in range(5):
                cursor = compare(cursor)(session, rnd).next_cursor  # type: ignore[attr-defined]
        self.same("compare_runs", "sixth page", compare(cursor))
        ext = self.pick(select(Student.external_id).where(Student.round_id == rid))
        self.timed(
            "find_student",
            "by external id",
            [_find_call(x) for x in ext],
        )


def _employer_call(employer_id: int) -> Call:
    return lambda s, r: q.employer_view(s, r, s.get_one(Employer, employer_id), None)


def _find_call(external_id: str) -> Call:
    return lambda s, r: q.find_student(s, r, external_id, None)


@contextmanager
def _reused(kept: str, database_url: str | None) -> Iterator[tuple[Engine, str]]:
    """A database kept by an earlier `--keep` run, migrated to the current head: a SQLite
    file, or (with `database_url`) a PostgreSQL schema."""
    if database_url is None:
        import sqlite3

        engine = make_engine(f"sqlite:///{kept}")
        where = f"SQLite {sqlite3.sqlite_version}, file {kept} (reused)"
    else:
        engine = make_engine(database_url, connect_args={"options": f"-c search_path={kept}"})
        with engine.connect() as conn:
            server = conn.execute(text("SHOW server_version")).scalar_one()
        shown = make_url(database_url).render_as_string(hide_password=True)
        where = f"PostgreSQL {server}, {shown}, schema {kept} (reused)"
    try:
        upgrade(engine)
        yield engine, where
    finally:
        engine.dispose()


def run(
    students: int,
    seed: int,
    repeat: int,
    *,
    database_url: str | None = None,
    time_limit: float = 60.0,
    keep: bool = False,
    reuse: str | None = None,
) -> dict[str, Any]:
    """The whole benchmark; the results as a dict (see `report`)."""
    git = _git()
    setup: dict[str, Any] = {}
    source = _reused(reuse, database_url) if reuse is not None else database(database_url, keep)
    with source as (engine, where):
        factory = make_session_factory(engine)
        if reuse is None:
            round_id, allowed, setup = set_up(factory, students, seed, time_limit)
            del allowed
            started = time.perf_counter()
            run_b = second_run(factory, round_id)
            setup["second_run_seconds"] = time.perf_counter() - started
        else:
            with factory() as session:
                first = session.execute(select(Round.id).order_by(Round.id)).scalars().first()
                if first is None:
                    raise SystemExit(f"{reuse}: no round to measure")
                round_id = first
                rnd = session.get_one(Round, round_id)
                run_b = session.execute(
                    select(SolveRun.id)
                    .where(SolveRun.round_id == round_id, SolveRun.id != rnd.chosen_run_id)
                    .order_by(SolveRun.id.desc())
                ).scalars().first() or second_run(factory, round_id)
                students = (
                    session.scalar(
                        select(func.count())
                        .select_from(Student)
                        .where(Student.round_id == round_id)
                    )
                    or 0
                )
        if engine.dialect.name == "postgresql":
            # What autovacuum does after a bulk insert (it is off on the benchmark's server):
            # statistics for the planner, and the visibility map that lets counts and joins
            # read an index without the table (index-only scans).
            with engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                for table in Base.metadata.sorted_tables:
                    conn.execute(text(f'VACUUM ANALYZE "{table.name}"'))
        statements = Statements(engine)
        bench = Bench(factory, statements, round_id, run_b, repeat, seed)
        gc.collect()
        gc.freeze()
        load = [os.getloadavg()[0]]
        try:
            bench.run_all()
        finally:
            gc.unfreeze()
        load.append(os.getloadavg()[0])
        if keep and engine.dialect.name == "sqlite":
            print(f"kept: {engine.url.database}", file=sys.stderr)
        elif keep and reuse is None:
            print(f"kept: schema {where.split('schema ')[-1]}", file=sys.stderr)
    return {
        "students": students,
        "seed": seed,
        "repeat": repeat,
        "database": where,
        "dialect": engine.dialect.name,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git,
        "machine": machine(),
        "setup": setup,
        "load": {"min": min(load), "max": max(load)},
        "rows": [r.summary() for r in bench.rows],
        "samples": [asdict(r) for r in bench.rows],
    }


def _ms(x: float) -> str:
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def report(result: dict[str, Any], command: str) -> str:
    """The result as a Markdown section."""
    lines = [
        f"### {result['students']:,} students, {result['dialect']}",
        "",
        f"`{command}`",
        "",
        f"{result['database']}; {result['date']}; commit {result['git'].get('commit')};"
        f" load {result['load']['min']:.1f}-{result['load']['max']:.1f};"
        f" {result['repeat']} calls a row.",
        "",
        "| query | what | median ms | p95 ms | statements |",
        "|---|---|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| `{r['query']}` | {r['what']} | {_ms(r['median_ms'])} | {_ms(r['p95_ms'])}"
            f" | {r['statements']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.queries", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--students", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", help="PostgreSQL (a schema of its own); default SQLite")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--json", type=Path, help="Write the whole result here.")
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument(
        "--reuse",
        help="A SQLite file (or with --database-url a schema) kept by --keep: no set-up.",
    )
    args = parser.parse_args(argv)
    result = run(
        args.students,
        args.seed,
        args.repeat,
        database_url=args.database_url,
        time_limit=args.time_limit,
        keep=args.keep,
        reuse=args.reuse,
    )
    command = "python -m bench.queries " + " ".join(argv if argv is not None else sys.argv[1:])
    sys.stdout.write(report(result, command.strip()))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
