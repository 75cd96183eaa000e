"""How fast calendar feeds are built and served, and how long `wbl round calendars` takes.

    python -m bench.feeds --students 100000 --seed 1 --repeat 50 [--database-url URL]
        [--time-limit 60] [--no-calendars] [--json FILE]

The round is set up as `bench.moves` sets it up (`bench.moves.set_up`: `generate_round`,
`import_round` into a fresh migrated database, a SQLite file by default or a schema of its own
in the PostgreSQL database `--database-url`; solved, stored and chosen), then published with
`scheduler.actions.publish`, which makes every person's private link (timed: `publish`).

Three feeds are measured: a placed student's, the employer with the most placements, and the
mentor with the most mentees (community meetings and workplace mentees together). Each is
timed `--repeat` times in three ways:

- `built`: the feed made from nothing, as on its first request: its stored state deleted,
  `scheduler.feeds.holder_feed` (rows of that person read, events built, state updated,
  calendar rendered, state inserted), rolled back so the next sample starts cold again;
- `served`: `GET /feeds/<token>.ics` through Flask's test client on `web.create_app` (token
  resolved, rows read, events hashed and compared with the stored state, stored bytes served);
- `served 304`: the same GET with the ETag in If-None-Match.

Then `wbl round calendars` of the round runs as a subprocess (`--no-calendars` skips it), on
the SQLite file (or the PostgreSQL schema, through the URL's `options`): wall time, files and
bytes written. Markdown goes to stdout and everything to `--json`. Results: bench/FEEDS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session

import scheduler.actions as actions
from bench.machine import machine
from bench.moves import _git, _percentile, database, set_up
from models import (
    Assignment,
    Base,
    FeedState,
    Mentorship,
    Opportunity,
    PrivateLink,
    Round,
    make_session_factory,
)
from scheduler.access import LinkHolder
from scheduler.feeds import feed_key, holder_feed
from scheduler.links import ENV_VAR, feed_url, link_token, secret_key

# A key for the benchmark's links when none is configured: the run is self-contained.
BENCH_SECRET = "bench-feeds-secret-key"  # noqa: S105  # a throwaway database's key


def _pick(session: Session, round_id: int) -> dict[str, LinkHolder]:
    """A placed student, the employer with most placements, the mentor with most mentees."""
    rnd = session.get_one(Round, round_id)
    run_id = rnd.chosen_run_id
    student = session.scalar(
        select(Assignment.student_id).where(Assignment.run_id == run_id).order_by(Assignment.id)
    )
    employer = session.execute(
        select(Opportunity.employer_id, func.count())
        .join(Assignment, Assignment.opportunity_id == Opportunity.id)
        .where(Assignment.run_id == run_id)
        .group_by(Opportunity.employer_id)
        .order_by(func.count().desc(), Opportunity.employer_id)
    ).first()
    workplace = dict(
        session.execute(
            select(Assignment.mentor_id, func.count())
            .where(Assignment.run_id == run_id, Assignment.mentor_id.is_not(None))
            .group_by(Assignment.mentor_id)
        ).all()
    )
    community = dict(
        session.execute(
            select(Mentorship.mentor_id, func.count())
            .where(Mentorship.run_id == run_id)
            .group_by(Mentorship.mentor_id)
        ).all()
    )
    mentees: dict[int, int] = {
        m: workplace.get(m, 0) + community.get(m, 0)
        for m in {*workplace, *community}
        if m is not None
    }
    if student is None or employer is None or not mentees:
        raise SystemExit("the round has no placement, employer or mentor to measure")
    mentor = max(sorted(mentees), key=lambda m: mentees[m])
    return {
        "student": LinkHolder(kind="student", round_id=round_id, row_id=student),
        "employer": LinkHolder(kind="employer", round_id=round_id, row_id=employer[0]),
        "mentor": LinkHolder(kind="mentor", round_id=round_id, row_id=mentor),
    }


def _token(session: Session, holder: LinkHolder, secret: bytes) -> str:
    column = {
        "student": PrivateLink.student_id,
        "employer": PrivateLink.employer_id,
        "mentor": PrivateLink.mentor_id,
    }[holder.kind]
    nonce = session.scalar(select(PrivateLink.nonce).where(column == holder.row_id))
    assert nonce is not None
    return link_token(secret, nonce)


def _key(session: Session, holder: LinkHolder) -> str:
    model = {"student": "students", "employer": "employers", "mentor": "mentors"}[holder.kind]
    external = session.execute(
        text(f"SELECT external_id FROM {model} WHERE id = :id"),  # noqa: S608  # fixed names
        {"id": holder.row_id},
    ).scalar_one()
    return feed_key(holder.kind, external)


def _times(call: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _row(feed: str, what: str, samples: list[float], size: int, events: int) -> dict[str, Any]:
    return {
        "feed": feed,
        "what": what,
        "median_ms": statistics.median(samples),
        "p95_ms": _percentile(samples, 0.95),
        "max_ms": max(samples),
        "bytes": size,
        "events": events,
        "samples": samples,
    }


def measure_feeds(
    engine: Engine, round_id: int, repeat: int, secret: bytes
) -> list[dict[str, Any]]:
    """The three feeds, built and served, `repeat` times each way."""
    from web import create_app  # the web app is what is measured; bench may import it

    factory = make_session_factory(engine)
    with factory() as session:
        holders = _pick(session, round_id)
        tokens = {k: _token(session, h, secret) for k, h in holders.items()}
        keys = {k: _key(session, h) for k, h in holders.items()}
    app = create_app({"DATABASE_ENGINE": engine, "SECRET_KEY": secret.decode()})
    client = app.test_client()
    rows: list[dict[str, Any]] = []
    for name, holder in holders.items():
        with factory() as session:

            def cold(h: LinkHolder = holder, key: str = keys[name], s: Session = session) -> None:
                s.execute(
                    delete(FeedState).where(
                        FeedState.round_id == round_id, FeedState.feed_key == key
                    )
                )
                holder_feed(s, h)
                s.rollback()

            built = _times(cold, repeat)
        path = feed_url("", tokens[name])
        first = client.get(path)
        assert first.status_code == 200, first.status_code
        size = len(first.data)
        events = first.data.count(b"BEGIN:VEVENT")
        served = _times(lambda p=path: client.get(p), repeat)  # type: ignore[misc]
        etag = first.headers["ETag"]

        def conditional(p: str = path, e: str = etag) -> None:
            assert client.get(p, headers={"If-None-Match": e}).status_code == 304

        not_modified = _times(conditional, repeat)
        rows.append(_row(name, "built", built, size, events))
        rows.append(_row(name, "served", served, size, events))
        rows.append(_row(name, "served 304", not_modified, size, events))
    return rows


def run_calendars(url: str, round_external: str, secret: bytes) -> dict[str, Any]:
    """`wbl round calendars` as a subprocess: seconds, files, bytes."""
    out = Path(tempfile.mkdtemp(prefix="wbl-feeds-bench-"))
    env = dict(os.environ)
    env |= {"WBL_DATABASE_URL": url, ENV_VAR: secret.decode()}
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "scheduler.cli",
            "round",
            "calendars",
            round_external,
            "--program",
            "bench",
            "-o",
            str(out),
            "-q",
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    files = list(out.rglob("*.ics"))
    size = sum(f.stat().st_size for f in files)
    for f in files:
        f.unlink()
    for d in sorted(out.rglob("*"), reverse=True):
        d.rmdir()
    out.rmdir()
    return {"seconds": seconds, "files": len(files), "bytes": size}


def _url_of(engine: Any) -> str:
    """A URL another process can open on the same database (a PostgreSQL schema through the
    connection's `options`)."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name != "postgresql":
        return str(url)
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-c search_path={schema}')}"


def run(
    students: int,
    seed: int,
    repeat: int,
    *,
    database_url: str | None = None,
    time_limit: float = 60.0,
    calendars: bool = True,
) -> dict[str, Any]:
    """The whole benchmark; the results as a dict (see `report`)."""
    secret = (os.environ.get(ENV_VAR) or BENCH_SECRET).encode()
    os.environ.setdefault(ENV_VAR, secret.decode())
    assert secret_key() == secret
    git = _git()
    with database(database_url, keep=False) as (engine, where):
        factory = make_session_factory(engine)
        round_id, allowed, setup = set_up(factory, students, seed, time_limit)
        del allowed
        started = time.perf_counter()
        with factory() as session, session.begin():
            rnd = session.get_one(Round, round_id)
            actions.publish(session, rnd, user=None)
            round_external = rnd.external_id
        setup["publish_seconds"] = time.perf_counter() - started
        with factory() as session:
            setup["links"] = session.scalar(select(func.count()).select_from(PrivateLink))
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                for table in Base.metadata.sorted_tables:
                    conn.execute(text(f'ANALYZE "{table.name}"'))
        gc.collect()
        gc.freeze()
        load = [os.getloadavg()[0]]
        try:
            rows = measure_feeds(engine, round_id, repeat, secret)
        finally:
            gc.unfreeze()
        load.append(os.getloadavg()[0])
        written = run_calendars(_url_of(engine), round_external, secret) if calendars else None
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
        "rows": rows,
        "calendars": written,
    }


def _ms(x: float) -> str:
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def report(result: dict[str, Any], command: str) -> str:
    """The result as a Markdown section."""
    setup = result["setup"]
    lines = [
        f"### {result['students']:,} students, {result['dialect']}",
        "",
        f"`{command}`",
        "",
        f"{result['database']}; {result['date']}; commit {result['git'].get('commit')};"
        f" load {result['load']['min']:.1f}-{result['load']['max']:.1f};"
        f" {result['repeat']} calls a row; publish (with {setup.get('links')} links)"
        f" {setup.get('publish_seconds', 0):.1f} s.",
        "",
        "| feed | what | median ms | p95 ms | max ms | events | bytes |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['feed']} | {r['what']} | {_ms(r['median_ms'])} | {_ms(r['p95_ms'])}"
            f" | {_ms(r['max_ms'])} | {r['events']} | {r['bytes']:,} |"
        )
    written = result.get("calendars")
    if written:
        lines += [
            "",
            f"`wbl round calendars`: {written['files']:,} files, {written['bytes'] / 1e6:.1f} MB,"
            f" {written['seconds']:.1f} s.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.feeds", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--students", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--database-url", help="PostgreSQL (a schema of its own); default SQLite")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--no-calendars", action="store_true", help="Skip wbl round calendars.")
    parser.add_argument("--json", type=Path, help="Write the whole result here.")
    args = parser.parse_args(argv)
    result = run(
        args.students,
        args.seed,
        args.repeat,
        database_url=args.database_url,
        time_limit=args.time_limit,
        calendars=not args.no_calendars,
    )
    command = "python -m bench.feeds " + " ".join(argv if argv is not None else sys.argv[1:])
    sys.stdout.write(report(result, command.strip()))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
