"""Every coordinator page timed through the web app on a big round, with its SQL statements.

    python -m bench.pages --students 100000 --seed 1 [--repeat 20]
        [--database sqlite|postgresql] [--database-url URL] [--small 1000]
        [--time-limit 60] [--keep] [--reuse SQLITE_FILE_OR_SCHEMA] [--json FILE]

Two rounds of the same kind of database are set up as `bench/queries.py` sets up its round
(`bench.moves.set_up`: `generate_round(N, seed)`, `import_round`, `solver.solve` with
`--time-limit`, `store_solution`, `choose_run`; then `bench.queries.second_run`, the chosen run
with every hundredth placed student unplaced, for the comparison): a small one (`--small`,
1,000 students, in a database dropped afterwards) and the big one (`--students`). `--keep`
leaves the big database in place and prints its path (schema); `--reuse FILE` (`--reuse SCHEMA
--database postgresql`) measures it again without the set-up (migrated to the head first).
PostgreSQL tables are VACUUM ANALYZEd before timing, as autovacuum would after the import.

Each round gets a coordinator account of its program and its people's private links
(`scheduler.links.ensure_links`); the round is not published (the publish page is its preview).
The app (`web.create_app` on the benchmark's engine) is driven by Flask's test client, logged
in as that coordinator. Each page is asked for once untimed (templates compiled, counts kept on
the run as the first view after a change keeps them), then `--repeat` times: the time is the
whole request (routing, session, view, queries, template, the body read to its end) in
milliseconds, median and p95; the SQL statements of each request are counted with the
`before_cursor_execute` listener of `bench.moves`, the most any request of the page ran, on the
small and on the big round (equal: the page does not grow with the round).

Pages: the rounds list, the dashboard, the assignments (first page; a deep page, 100 pages on
by its "Next page" link, or the last if there are fewer; filtered by the first school of its
filter; a name searched, the search kept in the session by its POST), a placed and an unplaced
student (a different student each request, seeded), the move targets of a placed student, the
comparison of the two runs, the equity page and each chart image it shows, the publish preview,
the audit, the import form and a student's calendar feed. A page whose endpoint the app does
not have is listed as absent, so the benchmark runs on any branch. Python's garbage collector
is frozen while timing, as in the other benchmarks. Results: bench/PAGES.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from bench.machine import machine
from bench.moves import Statements, _git, _percentile, database, set_up
from bench.queries import _reused, second_run
from models import (
    Assignment,
    Base,
    Program,
    Round,
    SolveRun,
    Student,
    Unplaced,
    make_session_factory,
)
from scheduler import links
from scheduler.accounts import add_user
from web import create_app

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "bench-pages-secret-key"  # noqa: S105 (a throwaway database's)
EMAIL = "bench-pages@example.org"
PASSWORD = "bench pages password"  # noqa: S105 (a throwaway account's)
DEEP = 100  # at most this many "Next page" links followed for the deep page
TARGET_MS = 200.0

_NEXT = re.compile(r'<a href="([^"]+)" rel="next"')
_SELECT = re.compile(r'<select[^>]*name="school"[^>]*>(.*?)</select>', re.S)
_OPTION = re.compile(r'<option[^>]*value="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass(frozen=True, slots=True)
class Round_:
    """What the pages are asked about: the round, its runs and some of its students."""

    round_id: int
    run_a: int
    run_b: int
    placed: list[int]
    unplaced: list[int]
    surname: str
    token: str


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str


@dataclass(slots=True)
class Row:
    """One page's samples."""

    page: str
    endpoint: str
    absent: bool = False
    note: str = ""
    ms: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"page": self.page, "endpoint": self.endpoint}
        if self.absent or not self.ms:
            return {**out, "absent": self.absent, "note": self.note}
        return {
            **out,
            "absent": False,
            "note": self.note,
            "calls": len(self.ms),
            "median_ms": statistics.median(self.ms),
            "p95_ms": _percentile(self.ms, 0.95),
            "max_ms": max(self.ms),
            "statements": max(self.statements),
            "statements_min": min(self.statements),
            "statuses": sorted(set(self.statuses)),
        }


def _read(response: TestResponse) -> TestResponse:
    response.get_data()
    response.close()
    return response


class Pages:
    """Asks the app for each page and times it."""

    def __init__(
        self, app: Flask, statements: Statements, rnd: Round_, repeat: int, seed: int
    ) -> None:
        self.app = app
        self.statements = statements
        self.rnd = rnd
        self.repeat = repeat
        self.rng = random.Random(seed)
        self.rows: list[Row] = []
        self.client: FlaskClient = app.test_client()

    def log_in(self, user_id: int) -> None:
        with self.client.session_transaction() as flask_session:
            flask_session["_user_id"] = str(user_id)
            flask_session["_fresh"] = True

    def has(self, endpoint: str) -> bool:
        return endpoint in self.app.view_functions

    def url(self, endpoint: str, **values: Any) -> str:
        with self.app.test_request_context():
            return url_for(endpoint, **values)

    def get(self, url: str) -> TestResponse:
        return _read(self.client.get(url, headers={"Accept": "text/html"}))

    def timed(
        self, page: str, endpoint: str, urls: Callable[[], list[str]] | None, note: str = ""
    ) -> None:
        """Time `endpoint` at each of the URLs `urls()` gives (cycled to `repeat` requests);
        absent when the app does not have the endpoint."""
        row = Row(page=page, endpoint=endpoint, note=note)
        self.rows.append(row)
        if not self.has(endpoint) or urls is None:
            row.absent, row.note = True, ""
            return
        try:
            targets = urls()
        except LookupError as missing:
            row.absent, row.note = True, f"not measured: {missing}"
            return
        self.get(targets[0])  # untimed: templates compiled, kept counts stored
        for i in range(self.repeat):
            target = targets[i % len(targets)]
            with self.statements.counting(page):
                started = time.perf_counter()
                response = self.get(target)
                row.ms.append((time.perf_counter() - started) * 1000)
                row.statements.append(self.statements.count)
            row.statuses.append(response.status_code)

    def csrf(self, url: str) -> str:
        found = _CSRF.search(self.get(url).get_data(as_text=True))
        if found is None:
            raise LookupError(f"no CSRF token on {url}")
        return found.group(1)

    def run_all(self) -> None:
        r = self.rnd
        rid = r.round_id
        c = "coordinator."
        self.timed("rounds list", c + "rounds", lambda: [self.url(c + "rounds")])
        self.timed("dashboard", c + "dashboard", lambda: [self.url(c + "dashboard", round_id=rid)])
        self.timed(
            "import form", c + "import_round", lambda: [self.url(c + "import_round", round_id=rid)]
        )

        def first() -> str:
            return self.url(c + "assignments", round_id=rid)

        self.timed("assignments, first page", c + "assignments", lambda: [first()])

        deep_at: list[int] = []

        def deep() -> list[str]:
            url = first()
            for _ in range(DEEP):
                found = _NEXT.search(self.get(url).get_data(as_text=True))
                if found is None:
                    break
                url = unescape(found.group(1))
                deep_at.append(1)
            if not deep_at:
                raise LookupError("no Next page link")
            return [url]

        self.timed("assignments, a deep page by cursor", c + "assignments", deep)
        self.rows[-1].note = f"page {len(deep_at) + 1}" if deep_at else self.rows[-1].note

        def filtered() -> list[str]:
            html = self.get(first()).get_data(as_text=True)
            select_ = _SELECT.search(html)
            options = _OPTION.findall(select_.group(1)) if select_ else []
            if not options:
                raise LookupError("no school filter on the page")
            return [self.url(c + "assignments", round_id=rid, school=unescape(options[0]))]

        self.timed("assignments, filtered by a school", c + "assignments", filtered)

        def searched() -> list[str]:
            if not self.has(c + "assignments_search"):
                raise LookupError("no search")
            token = self.csrf(first())
            done = _read(
                self.client.post(
                    self.url(c + "assignments_search", round_id=rid),
                    data={"csrf_token": token, "search": r.surname},
                )
            )
            if done.status_code >= 400:
                raise LookupError(f"search answered {done.status_code}")
            return [first()]

        self.timed(
            "assignments, a name searched",
            c + "assignments",
            searched,
            note=f"{r.surname!r}, kept in the session",
        )
        if self.has(c + "assignments_search"):  # the search cleared for what follows
            token = self.csrf(first())
            _read(
                self.client.post(
                    self.url(c + "assignments_search", round_id=rid),
                    data={"csrf_token": token, "search": ""},
                )
            )

        def students(ids: list[int], endpoint: str) -> Callable[[], list[str]]:
            return lambda: [self.url(c + endpoint, round_id=rid, student_id=i) for i in ids]

        self.timed("a placed student", c + "student", students(r.placed, "student"))
        self.timed("an unplaced student", c + "student", students(r.unplaced, "student"))
        self.timed(
            "move targets of a placed student",
            c + "move_targets",
            students(r.placed, "move_targets"),
        )
        self.timed(
            "compare the two runs",
            c + "compare",
            lambda: [self.url(c + "compare", round_id=rid, a=r.run_a, b=r.run_b)],
        )

        def equity() -> str:
            return self.url(c + "equity", round_id=rid)

        self.timed("equity", c + "equity", lambda: [equity()])
        if self.has(c + "equity"):
            html = self.get(equity()).get_data(as_text=True)
            prefix = equity() + "/"
            charts = sorted(set(re.findall(rf'src="({re.escape(prefix)}[^"]+\.svg)"', html)))
            for chart in charts:
                name = chart.removeprefix(prefix)
                self.timed(f"equity chart {name}", c + "equity_chart", _fixed(chart))
        self.timed(
            "publish preview", c + "publish", lambda: [self.url(c + "publish", round_id=rid)]
        )
        self.timed("audit", c + "audit", lambda: [self.url(c + "audit", round_id=rid)])
        self.timed(
            "a student's calendar feed",
            "feeds.feed",
            lambda: [self.url("feeds.feed", token=r.token)],
        )


def _fixed(url: str) -> Callable[[], list[str]]:
    return lambda: [url]


def prepare(
    factory: sessionmaker[Session], round_id: int, run_b: int, seed: int, repeat: int
) -> tuple[int, Round_]:
    """The coordinator account and the private links of the round (idempotent, so a reused
    database can be measured again); what the pages will be asked about."""
    rng = random.Random(seed)
    with factory() as session, session.begin():
        rnd = session.get_one(Round, round_id)
        program = session.get_one(Program, rnd.program_id)
        line = add_user(
            session, EMAIL, program_slug=program.slug, role="coordinator", password=PASSWORD
        )
        links.ensure_links(session, rnd, secret=SECRET.encode())
    with factory() as session:
        rnd = session.get_one(Round, round_id)
        assert rnd.chosen_run_id is not None
        placed = list(
            session.scalars(
                select(Assignment.student_id).where(Assignment.run_id == rnd.chosen_run_id)
            )
        )
        unplaced = list(
            session.scalars(select(Unplaced.student_id).where(Unplaced.run_id == rnd.chosen_run_id))
        )
        some = session.scalars(
            select(Student.name).where(Student.round_id == round_id).order_by(Student.id).limit(200)
        ).all()
        row = next(
            links.link_rows(session, rnd, base_url="", secret=SECRET.encode(), kinds=("student",))
        )
        info = Round_(
            round_id=round_id,
            run_a=rnd.chosen_run_id,
            run_b=run_b,
            placed=[rng.choice(placed) for _ in range(repeat)] if placed else [],
            unplaced=[rng.choice(unplaced) for _ in range(repeat)] if unplaced else [],
            surname=some[len(some) // 2].split()[-1],
            token=row.feed_url.removeprefix("/feeds/").removesuffix(".ics"),
        )
    return line.user_id, info


def _vacuum(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in Base.metadata.sorted_tables:
            conn.execute(text(f'VACUUM ANALYZE "{table.name}"'))


def measure(
    students: int,
    seed: int,
    repeat: int,
    *,
    database_url: str | None,
    time_limit: float,
    keep: bool = False,
    reuse: str | None = None,
) -> dict[str, Any]:
    """Set up (or reuse) one round and time every page on it."""
    setup: dict[str, Any] = {}
    source: AbstractContextManager[tuple[Engine, str]] = (
        _reused(reuse, database_url) if reuse is not None else database(database_url, keep)
    )
    with source as (engine, where):
        factory = make_session_factory(engine)
        if reuse is None:
            round_id, allowed, setup = set_up(factory, students, seed, time_limit)
            del allowed
            run_b = second_run(factory, round_id)
        else:
            with factory() as session:
                first = session.scalars(select(Round.id).order_by(Round.id)).first()
                if first is None:
                    raise SystemExit(f"{reuse}: no round to measure")
                round_id = first
                rnd = session.get_one(Round, round_id)
                found = session.scalars(
                    select(SolveRun.id)
                    .where(SolveRun.round_id == round_id, SolveRun.id != rnd.chosen_run_id)
                    .order_by(SolveRun.id.desc())
                ).first()
            run_b = found if found is not None else second_run(factory, round_id)
        started = time.perf_counter()
        user_id, info = prepare(factory, round_id, run_b, seed, repeat)
        setup["accounts_and_links_seconds"] = time.perf_counter() - started
        with factory() as session:
            students = len(
                session.scalars(select(Student.id).where(Student.round_id == round_id)).all()
            )
        _vacuum(engine)
        app = create_app(
            {
                "DATABASE_ENGINE": engine,
                "SECRET_KEY": SECRET,
                "SESSION_COOKIE_SECURE": False,
                "REMEMBER_COOKIE_SECURE": False,
            }
        )
        statements = Statements(engine)
        pages = Pages(app, statements, info, repeat, seed)
        pages.log_in(user_id)
        gc.collect()
        gc.freeze()
        load = [os.getloadavg()[0]]
        try:
            pages.run_all()
        finally:
            gc.unfreeze()
        load.append(os.getloadavg()[0])
        if keep and reuse is None:
            print(
                f"kept: {engine.url.database if engine.dialect.name == 'sqlite' else where}",
                file=sys.stderr,
            )
    return {
        "students": students,
        "database": where,
        "dialect": engine.dialect.name,
        "setup": setup,
        "load": {"min": min(load), "max": max(load)},
        "rows": [p.summary() for p in pages.rows],
        "samples": [asdict(p) for p in pages.rows],
    }


def run(
    students: int,
    seed: int,
    repeat: int,
    *,
    database_url: str | None = None,
    small: int = 1000,
    time_limit: float = 60.0,
    keep: bool = False,
    reuse: str | None = None,
) -> dict[str, Any]:
    """The small round (statements only, `repeat` 3), then the big one; the results as a dict
    (see `report`)."""
    git = _git()
    little = measure(small, seed, 3, database_url=database_url, time_limit=time_limit)
    big = measure(
        students,
        seed,
        repeat,
        database_url=database_url,
        time_limit=time_limit,
        keep=keep,
        reuse=reuse,
    )
    return {
        "students": big["students"],
        "small": little["students"],
        "seed": seed,
        "repeat": repeat,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git,
        "machine": machine(),
        "big": big,
        "little": little,
    }


def _ms(x: float) -> str:
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def report(result: dict[str, Any], command: str) -> str:
    """The result as a Markdown section."""
    big, little = result["big"], result["little"]
    small_rows = {r["page"]: r for r in little["rows"]}
    lines = [
        f"### {result['students']:,} students, {big['dialect']}",
        "",
        f"`{command}`",
        "",
        f"{big['database']}; {result['date']}; commit {result['git'].get('commit')};"
        f" load {big['load']['min']:.1f}-{big['load']['max']:.1f};"
        f" {result['repeat']} requests a page (after one untimed).",
        "",
        f"| page | endpoint | median ms | p95 ms | statements at {result['small']:,}"
        f" | statements at {result['students']:,} | status |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in big["rows"]:
        if r["absent"] or "median_ms" not in r:
            lines.append(f"| {r['page']} | `{r['endpoint']}` | absent | | | | {r['note']} |")
            continue
        s = small_rows.get(r["page"], {})
        s_text = str(s.get("statements", "-"))
        stmts = str(r["statements"])
        if r["statements_min"] != r["statements"]:
            stmts = f"{r['statements_min']}-{r['statements']}"
        median = _ms(r["median_ms"])
        if r["median_ms"] > TARGET_MS:
            median = f"**{median}**"
        status = ", ".join(str(x) for x in r["statuses"])
        if r["note"]:
            status = f"{status} ({r['note']})"
        lines.append(
            f"| {r['page']} | `{r['endpoint']}` | {median} | {_ms(r['p95_ms'])} | {s_text}"
            f" | {stmts} | {status} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pages", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--students", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--small", type=int, default=1000, help="The round whose statements are compared."
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", help=f"PostgreSQL server (default {POSTGRES_URL})")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--json", type=Path, help="Write the whole result here.")
    parser.add_argument("--keep", action="store_true", help="Keep the big database afterwards.")
    parser.add_argument(
        "--reuse", help="A SQLite file (or a PostgreSQL schema) kept by --keep: no set-up."
    )
    args = parser.parse_args(argv)
    url = None
    if args.database == "postgresql" or args.database_url:
        url = args.database_url or POSTGRES_URL
    result = run(
        args.students,
        args.seed,
        args.repeat,
        database_url=url,
        small=args.small,
        time_limit=args.time_limit,
        keep=args.keep,
        reuse=args.reuse,
    )
    command = "python -m bench.pages " + " ".join(argv if argv is not None else sys.argv[1:])
    sys.stdout.write(report(result, command.strip()))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
