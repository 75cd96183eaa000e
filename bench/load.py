"""Load run of the employers' pages: many employers confirming, editing, accepting and
declining at once, against gunicorn and PostgreSQL; ends by checking that no slot is over
capacity and no update was lost.

    python -m bench.load --students 2000 --seed 1 --json load.json \\
        --server-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

What it does:
1. Creates a fresh database on the server (`wbl_load_<time>`), migrates it, imports a
   generated round (2,000 students give 200 employers) and makes every person's link.
2. Starts gunicorn (`web.gunicorn_conf`, `--workers`) on a free port against it.
3. Before solving: one client per employer (each its own cookie jar, as a phone) opens its
   link, confirms every opportunity, then adds one seat to its first opportunity's first
   shift through the edit form. For `--rivals` employers a second client ("a colleague")
   posts the same edit from the same page version at the same moment: exactly one of the two
   may win (409 for the other). All clients start together (a barrier).
   Checked: every opportunity confirmed; each first shift's capacity is its original plus the
   edits that succeeded, and `employer_version` and the audit events agree (no lost update).
4. Solves the round in-process, chooses and publishes it. Then every employer at once opens
   its page and answers each placed student (alternately Accept, and Decline with a reason),
   while also trying to cut its first shift to 0 seats (refused when students hold them).
   Checked: no slot of the chosen run has more placements than seats; every answer that
   succeeded is stored (confirmed/declined, a declined pair per decline) and nothing else.
5. Prints a Markdown summary (requests, status codes, latency percentiles per kind, load
   average) and writes `--json`; drops the database unless `--keep`.
"""

from __future__ import annotations

import argparse
import html
import http.cookiejar
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

import scheduler.actions as actions
from models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    DeclinedPair,
    Opportunity,
    Program,
    Round,
    RunStatus,
    Slot,
    SolveRun,
    Student,
    make_engine,
    make_session_factory,
)
from models.migrate import upgrade
from scheduler import links
from scheduler.generate import generate_round
from scheduler.problems import round_problem
from scheduler.rounds import import_round, store_solution
from solver import SolveOptions, load_problem, solve

# The load run's own key (a throwaway database): not a credential.
SECRET = "load-run-secret-key-not-for-production"  # noqa: S105
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_CONFIRM = re.compile(r'action="/employer/opportunities/(\d+)/confirm"')
_EDIT = re.compile(r'href="/employer/opportunities/(\d+)/edit"')
_INPUT = re.compile(r'<input[^>]*\bname="([^"]+)"[^>]*>')
_VALUE = re.compile(r'\bvalue="([^"]*)"')
_TEXTAREA = re.compile(r'<textarea[^>]*\bname="([^"]+)"[^>]*>(.*?)</textarea>', re.S)
_STUDENT = re.compile(r'action="/employer/accept"[^>]*>.*?name="student" value="([^"]+)"', re.S)


@dataclass
class Stats:
    """Latencies (ms) and status codes by request kind; thread-safe."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    codes: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, kind: str, ms: float, code: int) -> None:
        with self.lock:
            self.times[kind].append(ms)
            self.codes[kind][code] += 1


class Client:
    """One browser: its own cookies, no redirects followed automatically."""

    def __init__(self, base: str, stats: Stats) -> None:
        self.base = base
        self.stats = stats
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(jar), _NoRedirect()
        )

    def call(self, kind: str, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        started = time.perf_counter()
        try:
            with self.opener.open(self.base + path, data=body, timeout=900) as r:
                code, page = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            code, page = e.code, e.read().decode()
        self.stats.add(kind, (time.perf_counter() - started) * 1000, code)
        return code, page


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fresh_database(server_url: str) -> str:
    name = f"wbl_load_{int(time.time())}"
    engine = make_engine(server_url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def _drop_database(server_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    engine = make_engine(server_url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _form(page: str) -> dict[str, str]:
    """The named fields of the first form on an edit page, as a browser would post them."""
    data: dict[str, str] = {}
    for tag in _INPUT.finditer(page):
        name = tag.group(1)
        if 'type="checkbox"' in tag.group(0):
            if "checked" in tag.group(0):
                data[name] = "y"
            continue
        value = _VALUE.search(tag.group(0))
        data[name] = html.unescape(value.group(1)) if value else ""
    for area in _TEXTAREA.finditer(page):
        data[area.group(1)] = html.unescape(area.group(2)).strip()
    return data


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return {
        "n": len(ordered),
        "median": round(statistics.median(ordered), 1),
        "p95": round(p95, 1),
        "max": round(ordered[-1], 1),
    }


def _start_gunicorn(url: str, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        WBL_DATABASE_URL=url,
        WBL_SECRET_KEY=SECRET,
        WBL_BIND=f"127.0.0.1:{port}",
        WBL_WEB_WORKERS=str(workers),
        WBL_ENV="development",
        WBL_BASE_URL=f"http://127.0.0.1:{port}",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:web.gunicorn_conf",
            "web:create_app()",
            "--threads",
            "4",
        ],
        env=env,
        stdout=log.with_suffix(".access").open("wb"),
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5).close()
            return process
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError("gunicorn did not start: see " + str(log))


def _employer_links(session: Session, rnd: Round) -> list[tuple[str, str]]:
    return [
        (r.id, r.page_url)
        for r in links.link_rows(
            session, rnd, base_url="", secret=SECRET.encode(), kinds=("employer",)
        )
    ]


def _run_all(work: Any, jobs: list[Any]) -> None:
    """Run every job in its own thread; re-raise the first real failure (not the broken
    barrier the others then see)."""
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(work, *job) for job in jobs]
    errors = [f.exception() for f in futures if f.exception() is not None]
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if real or errors:
        raise (real or errors)[0]  # type: ignore[misc]


def phase_confirm(base: str, people: list[tuple[str, str]], rivals: int) -> dict[str, Any]:
    """Every employer confirms its opportunities and adds a seat to its first shift; `rivals`
    of them have a colleague posting the same edit at once."""
    stats = Stats()
    clients = [(ext, path, False) for ext, path in people]
    clients += [(ext, path, True) for ext, path in people[:rivals]]
    barrier = threading.Barrier(len(clients), timeout=600)
    confirmed = {ext: threading.Event() for ext, _ in people}
    outcome: dict[str, list[int]] = defaultdict(list)
    first_opportunity: dict[str, str] = {}
    lock = threading.Lock()

    def employer(ext: str, path: str, rival: bool) -> None:
        try:
            _employer(ext, path, rival)
        except BaseException:
            barrier.abort()  # the others must not wait for a client that failed
            raise

    def _employer(ext: str, path: str, rival: bool) -> None:
        c = Client(base, stats)
        c.call("enter", path)
        code, page = c.call("page", "/employer/")
        token = _CSRF.search(page)
        edits = _EDIT.findall(page)
        if code != 200 or token is None or not edits:
            raise RuntimeError(f"employer {ext}: page answered {code}")
        edit_path = f"/employer/opportunities/{edits[0]}/edit"
        barrier.wait()
        if not rival:
            for opp in _CONFIRM.findall(page):
                version = re.search(
                    rf'/opportunities/{opp}/confirm"[^>]*>.*?name="version" value="(\d+)"',
                    page,
                    re.S,
                )
                c.call(
                    "confirm",
                    f"/employer/opportunities/{opp}/confirm",
                    {"csrf_token": token.group(1), "version": version.group(1) if version else ""},
                )
        # Both clients of a rival pair read the edit form after the confirm (the colleague
        # waits for it), then post: at most one may win, the other is refused (409).
        if rival:
            confirmed[ext].wait(timeout=300)
        else:
            confirmed[ext].set()
        code, form_page = c.call("edit form", edit_path)
        data = _form(form_page)
        slot = next(k for k in data if k.endswith("-capacity") and k.startswith("slot-"))
        data[slot] = str(int(data[slot] or 0) + 1)
        code, _ = c.call("edit", edit_path, data)
        with lock:
            outcome[edits[0]].append(code)
            first_opportunity[ext] = edits[0]

    started = time.perf_counter()
    _run_all(employer, clients)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "clients": len(clients),
        "stats": stats,
        "edits": outcome,
        "first_opportunity": first_opportunity,
    }


def phase_answers(
    base: str, people: list[tuple[str, str]], first_opportunity: dict[str, str]
) -> dict[str, Any]:
    """Every employer answers each placed student (accept, decline alternately) while also
    trying to cut its first shift to 0 seats."""
    stats = Stats()
    barrier = threading.Barrier(len(people), timeout=600)
    answered: dict[str, str] = {}
    lock = threading.Lock()

    def employer(ext: str, path: str) -> None:
        try:
            _employer(ext, path)
        except BaseException:
            barrier.abort()
            raise

    def _employer(ext: str, path: str) -> None:
        c = Client(base, stats)
        barrier.wait()
        c.call("enter", path)
        _, page = c.call("page", "/employer/")
        token = _CSRF.search(page)
        if token is None:
            return  # nobody placed with this employer: nothing to answer
        students = _STUDENT.findall(page)
        edits = [first_opportunity[ext]] if ext in first_opportunity else []
        for i, student in enumerate(students):
            if i % 2:
                code, _ = c.call(
                    "decline",
                    "/employer/decline",
                    {"csrf_token": token.group(1), "student": student, "reason": "load run"},
                )
                if code == 302:
                    with lock:
                        answered[student] = "declined"
            else:
                code, _ = c.call(
                    "accept", "/employer/accept", {"csrf_token": token.group(1), "student": student}
                )
                if code == 302:
                    with lock:
                        answered[student] = "confirmed"
            if i == 0 and edits:
                edit_path = f"/employer/opportunities/{edits[0]}/edit"
                _, form_page = c.call("edit form", edit_path)
                data = _form(form_page)
                for k in list(data):
                    if k.startswith("slot-") and k.endswith("-capacity"):
                        data[k] = "0"
                c.call("cut capacity", edit_path, data)

    started = time.perf_counter()
    _run_all(employer, people)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "stats": stats,
        "answered": answered,
    }


def check_confirm(
    session: Session, rnd: Round, before: dict[int, int], edits: dict[str, list[int]]
) -> dict[str, Any]:
    """Every opportunity confirmed; each edited first shift's capacity = original + wins."""
    unconfirmed = session.scalar(
        select(func.count())
        .select_from(Opportunity)
        .where(Opportunity.round_id == rnd.id, Opportunity.confirmed_at.is_(None))
    )
    lost = []
    for opp_id, codes in edits.items():
        wins = codes.count(302)
        slot = session.scalars(
            select(Slot).where(Slot.opportunity_id == int(opp_id)).order_by(Slot.id)
        ).first()
        opp = session.get_one(Opportunity, int(opp_id))
        events = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "opportunity.edit",
                AuditEvent.target_id == opp.external_id,
                AuditEvent.round_id == rnd.id,
            )
        )
        if slot is None or slot.capacity != before[slot.id] + wins or events != wins or wins != 1:
            lost.append(opp.external_id)
    rival_refusals = sum(codes.count(409) for codes in edits.values())
    return {"unconfirmed": unconfirmed, "lost_updates": lost, "rival_refusals": rival_refusals}


def check_answers(session: Session, rnd: Round, answered: dict[str, str]) -> dict[str, Any]:
    over = session.execute(
        select(Slot.external_id, Slot.capacity, func.count(Assignment.id))
        .join(Assignment, Assignment.slot_id == Slot.id)
        .where(Assignment.run_id == rnd.chosen_run_id)
        .group_by(Slot.id, Slot.external_id, Slot.capacity)
        .having(func.count(Assignment.id) > Slot.capacity)
    ).all()
    stored = dict(
        session.execute(
            select(Student.external_id, Assignment.status)
            .select_from(Assignment)
            .join(Student, Student.id == Assignment.student_id)
            .where(
                Assignment.run_id == rnd.chosen_run_id,
                Assignment.status.in_((AssignmentStatus.confirmed, AssignmentStatus.declined)),
            )
        ).all()
    )
    mismatched = sorted(
        s for s in set(stored) | set(answered) if str(stored.get(s)) != answered.get(s)
    )
    declined_pairs = session.scalar(select(func.count()).select_from(DeclinedPair))
    return {
        "slots_over_capacity": [list(r) for r in over],
        "answers_sent": len(answered),
        "answers_mismatched": mismatched,
        "declined_pairs": declined_pairs,
        "declines": sum(1 for v in answered.values() if v == "declined"),
    }


def _summary(stats: Stats) -> dict[str, Any]:
    return {
        kind: {**_percentiles(stats.times[kind]), "codes": dict(stats.codes[kind])}
        for kind in stats.times
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ[links.ENV_VAR] = SECRET
    url = _fresh_database(args.server_url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    gunicorn = None
    try:
        upgrade(engine)
        doc = generate_round(args.students, seed=args.seed)
        with factory() as session:
            program = Program(slug="load", name="Load run")
            session.add(program)
            session.flush()
            rnd = import_round(session, doc, program)
            links.ensure_links(session, rnd, secret=SECRET.encode())
            session.commit()
            people = _employer_links(session, rnd)[: args.employers]
            before = dict(
                session.execute(select(Slot.id, Slot.capacity).where(Slot.round_id == rnd.id)).all()
            )
            round_id = rnd.id
        port = _free_port()
        gunicorn = _start_gunicorn(url, port, args.workers, Path(args.log))
        base = f"http://127.0.0.1:{port}"
        load_1 = os.getloadavg()[0]
        confirm = phase_confirm(base, people, args.rivals)
        with factory() as session:
            rnd = session.get_one(Round, round_id)
            confirm_check = check_confirm(session, rnd, before, confirm["edits"])
            # Solve, choose, publish (in-process; the pages are what is under load).
            problem = round_problem(session, rnd, for_solve=True)
            run_ = SolveRun(round_id=rnd.id, status=RunStatus.succeeded)
            session.add(run_)
            session.flush()
            result = solve(
                load_problem(problem),
                SolveOptions(time_limit=args.time_limit, workers=2, seed=0),
            ).to_dict()
            store_solution(session, rnd, run_, json.loads(json.dumps(result)))
            actions.choose_run(session, rnd, run_, user=None)
            actions.publish(session, rnd, user=None)
            session.commit()
        load_2 = os.getloadavg()[0]
        answers = phase_answers(base, people, confirm["first_opportunity"])
        with factory() as session:
            rnd = session.get_one(Round, round_id)
            answer_check = check_answers(session, rnd, answers["answered"])
        return {
            "students": args.students,
            "employers": len(people),
            "rivals": args.rivals,
            "gunicorn_workers": args.workers,
            "load_average": [round(load_1, 2), round(load_2, 2), round(os.getloadavg()[0], 2)],
            "confirm": {
                "seconds": confirm["seconds"],
                "clients": confirm["clients"],
                "requests": _summary(confirm["stats"]),
                "check": confirm_check,
            },
            "answers": {
                "seconds": answers["seconds"],
                "requests": _summary(answers["stats"]),
                "check": answer_check,
            },
        }
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)
        engine.dispose()
        if not args.keep:
            _drop_database(args.server_url, url)


def report(result: dict[str, Any]) -> str:
    lines = [
        f"{result['employers']} employers ({result['rivals']} with a rival colleague),"
        f" {result['students']} students, gunicorn {result['gunicorn_workers']} workers x 4"
        f" threads; load average {result['load_average']}",
        "",
        "| phase | request | n | median ms | p95 ms | max ms | status codes |",
        "|---|---|---|---|---|---|---|",
    ]
    for phase in ("confirm", "answers"):
        for kind, s in result[phase]["requests"].items():
            lines.append(
                f"| {phase} | {kind} | {s['n']} | {s['median']} | {s['p95']} | {s['max']} |"
                f" {s['codes']} |"
            )
    lines += [
        "",
        f"confirm phase: {result['confirm']['seconds']} s, check {result['confirm']['check']}",
        f"answers phase: {result['answers']['seconds']} s, check {result['answers']['check']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server-url",
        default=os.environ.get(
            "WBL_BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--employers", type=int, default=200)
    parser.add_argument("--rivals", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--time-limit", type=float, default=20)
    parser.add_argument("--log", default="wbl-load-gunicorn.log", help="gunicorn's log file")
    parser.add_argument("--json")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    result = run(args)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    ok = (
        not result["confirm"]["check"]["lost_updates"]
        and result["confirm"]["check"]["unconfirmed"] == 0
        and not result["answers"]["check"]["slots_over_capacity"]
        and not result["answers"]["check"]["answers_mismatched"]
        and result["answers"]["check"]["declined_pairs"] == result["answers"]["check"]["declines"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
