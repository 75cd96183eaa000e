"""Solve jobs: a run goes queued -> running -> succeeded/failed/cancelled, its answer lands in
one transaction, and a worker killed mid-solve leaves the round untouched and the run failed."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

import scheduler.jobs as jobs
from models import Program, Round, SolveRun, make_session_factory
from models.migrate import upgrade
from models.round import RoundStatus
from models.solve import Assignment, AssignmentStatus, RunStatus
from scheduler.db import transaction
from scheduler.generate import generate_round
from scheduler.rounds import canonical, export_round, import_round, solution_from_run
from solver import check_solution


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def _round(
    factory: sessionmaker[Session], students: int = 150, seed: int = 3
) -> tuple[int, dict[str, Any]]:
    doc = generate_round(students, seed=seed)
    with transaction(factory) as session:
        program = Program(slug=f"p{seed}", name="Program")
        session.add(program)
        session.flush()
        return import_round(session, doc, program).id, doc


def _run(factory: sessionmaker[Session], round_id: int, **options: Any) -> int:
    with transaction(factory) as session:
        return jobs.create_run(session, session.get_one(Round, round_id), options).id


def test_a_run_solves_and_stores_a_valid_solution(factory: sessionmaker[Session]) -> None:
    """Jobs: a queued run is solved, its solution stored whole, the round goes to review."""
    round_id, doc = _round(factory)
    run_id = _run(factory, round_id, time_limit=10)
    assert jobs.execute_run(factory, run_id) == RunStatus.succeeded
    with transaction(factory) as session:
        run = session.get_one(SolveRun, run_id)
        assert run.status == RunStatus.succeeded
        assert run.progress == 1.0
        assert run.worker
        assert session.get_one(Round, round_id).status == RoundStatus.review
        assert check_solution(doc, solution_from_run(session, run)) == []


def test_unknown_options_are_refused(factory: sessionmaker[Session]) -> None:
    """Jobs: a run with an option the solver does not know is refused before it is queued."""
    round_id, _ = _round(factory)
    with transaction(factory) as session, pytest.raises(ValueError, match="colour"):
        jobs.create_run(session, session.get_one(Round, round_id), {"colour": "red"})


def test_a_run_cancelled_before_it_starts_is_not_solved(factory: sessionmaker[Session]) -> None:
    """Jobs: cancelling a queued run means the worker skips it."""
    round_id, _ = _round(factory)
    run_id = _run(factory, round_id)
    with transaction(factory) as session:
        assert jobs.cancel(session, session.get_one(SolveRun, run_id))
    assert jobs.execute_run(factory, run_id) == RunStatus.cancelled
    with transaction(factory) as session:
        assert session.scalar(select(func.count()).select_from(Assignment)) == 0


def test_a_run_queued_before_the_round_closed_is_not_solved(
    factory: sessionmaker[Session],
) -> None:
    """Jobs: closing a round while a run waits in the queue: the run is cancelled when a worker
    takes it, and the round stays closed."""
    round_id, _ = _round(factory)
    run_id = _run(factory, round_id)
    with transaction(factory) as session:
        session.get_one(Round, round_id).status = RoundStatus.closed
    assert jobs.execute_run(factory, run_id) == RunStatus.cancelled
    with transaction(factory) as session:
        assert session.get_one(Round, round_id).status == RoundStatus.closed
        run = session.get_one(SolveRun, run_id)
        assert run.status == RunStatus.cancelled
        assert run.error is not None
        assert "closed" in run.error


def test_a_failing_solve_marks_the_run_failed_and_writes_nothing(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs: an error in the solver fails the run with its message; the round is unchanged."""
    round_id, _ = _round(factory)
    run_id = _run(factory, round_id)
    with transaction(factory) as session:
        before = canonical(export_round(session, session.get_one(Round, round_id)))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(jobs, "solve", broken)
    assert jobs.execute_run(factory, run_id) == RunStatus.failed
    with transaction(factory) as session:
        run = session.get_one(SolveRun, run_id)
        assert "solver exploded" in (run.error or "")
        assert "RuntimeError" in (run.log_tail or "")
        assert session.scalar(select(func.count()).select_from(Assignment)) == 0
        rnd = session.get_one(Round, round_id)
        assert rnd.status == RoundStatus.draft
        assert canonical(export_round(session, rnd)) == before


def test_cancelling_a_running_solve_stops_it(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs: a run cancelled while it solves stops at the next progress report."""
    round_id, _ = _round(factory)
    run_id = _run(factory, round_id)
    monkeypatch.setattr(jobs, "HEARTBEAT_SECONDS", 0.05)

    def slow_solve(problem: Any, options: Any) -> Any:
        with transaction(factory) as session:
            jobs.cancel(session, session.get_one(SolveRun, run_id))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # bounded: the heartbeat notices within 0.05 s
            options.progress(jobs.Progress(stage="working", fraction=0.5, elapsed=0.0))
            time.sleep(0.01)
        raise AssertionError("the cancellation was never noticed")

    monkeypatch.setattr(jobs, "solve", slow_solve)
    assert jobs.execute_run(factory, run_id) == RunStatus.cancelled
    with transaction(factory) as session:
        assert session.get_one(SolveRun, run_id).status == RunStatus.cancelled
        assert session.scalar(select(func.count()).select_from(Assignment)) == 0


def test_stale_running_runs_are_reaped(factory: sessionmaker[Session]) -> None:
    """Jobs: a run whose heartbeat stopped (worker killed) is marked failed, with why."""
    round_id, _ = _round(factory)
    run_id = _run(factory, round_id)
    with transaction(factory) as session:
        run = session.get_one(SolveRun, run_id)
        run.status = RunStatus.running
        run.worker = "host:123"
        run.heartbeat_at = jobs.now() - dt.timedelta(minutes=5)
        session.get_one(Round, round_id).status = RoundStatus.solving
    with transaction(factory) as session:
        assert jobs.reap_stale_runs(session) == 1
    with transaction(factory) as session:
        run = session.get_one(SolveRun, run_id)
        assert run.status == RunStatus.failed
        assert "stopped responding" in (run.error or "")
        assert session.get_one(Round, round_id).status == RoundStatus.draft


def test_a_re_solve_keeps_the_previous_run(factory: sessionmaker[Session]) -> None:
    """Jobs: a run with previous_run re-solves with minimal disruption (same round: no moves)."""
    round_id, _ = _round(factory)
    first = _run(factory, round_id, seed=1)
    jobs.execute_run(factory, first)
    second = _run(factory, round_id, seed=2, previous_run=first)
    jobs.execute_run(factory, second)
    with transaction(factory) as session:
        a = solution_from_run(session, session.get_one(SolveRun, first))
        b = solution_from_run(session, session.get_one(SolveRun, second))
    placed = {x["student"]: x["slot"] for x in a["assignments"]}
    assert {x["student"]: x["slot"] for x in b["assignments"]} == placed


def test_previous_placements_carry_every_status(factory: sessionmaker[Session]) -> None:
    """Jobs: a re-solve reads the earlier run's statuses, declined ones included (so that the
    solver does not offer them again), one query for the whole run."""
    round_id, _ = _round(factory, students=60)
    first = _run(factory, round_id, seed=1)
    jobs.execute_run(factory, first)
    with transaction(factory) as session:
        rows = session.scalars(
            select(Assignment).where(Assignment.run_id == first).order_by(Assignment.id)
        ).all()
        assert len(rows) >= 3
        rows[0].status = AssignmentStatus.published
        rows[1].status = AssignmentStatus.confirmed
        rows[2].status = AssignmentStatus.declined
    with transaction(factory) as session:
        previous = jobs.previous_placements(session, first)
    assert [p.status for p in previous[:4]] == ["published", "confirmed", "declined", "proposed"]
    assert [p.keep for p in previous[:4]] == [True, True, False, False]
    assert previous[2].declined
    assert len(previous) == len(rows)


def test_a_solve_settles_a_round_as_published_only_without_new_proposals(
    factory: sessionmaker[Session],
) -> None:
    """Jobs: after a solve, a round whose chosen run is published reads published again, but
    one whose chosen run holds proposed placements reads review (never published beside the
    solver's proposals)."""
    round_id, _ = _round(factory, students=60)
    first = _run(factory, round_id, seed=1)
    jobs.execute_run(factory, first)
    with transaction(factory) as session:
        rnd = session.get_one(Round, round_id)
        rnd.chosen_run_id = first
        rows = session.scalars(select(Assignment).where(Assignment.run_id == first)).all()
        for a in rows:
            a.status = AssignmentStatus.published
    jobs.execute_run(factory, _run(factory, round_id, seed=2))
    with transaction(factory) as session:
        assert session.get_one(Round, round_id).status == RoundStatus.published
        rows[0] = session.get_one(Assignment, rows[0].id)
        rows[0].status = AssignmentStatus.proposed
    jobs.execute_run(factory, _run(factory, round_id, seed=3))
    with transaction(factory) as session:
        assert session.get_one(Round, round_id).status == RoundStatus.review


# --- A real worker process on a real queue ---------------------------------------------------


def _subprocess_url(engine: Engine) -> str:
    """The test database as a URL another process can open (PostgreSQL: with the schema)."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        url += f"?options=-csearch_path%3D{schema}"
    return url


def _worker_env(engine: Engine, tmp_path: Path, queue: str) -> dict[str, str]:
    env = dict(os.environ)
    env["WBL_DATABASE_URL"] = _subprocess_url(engine)
    env["WBL_QUEUE_PATH"] = str(tmp_path / "queue.db")
    env["WBL_QUEUE_NAME"] = f"test-{queue}-{os.getpid()}-{time.time_ns()}"
    env.pop("WBL_REDIS_URL", None)
    if queue == "redis":
        env["WBL_REDIS_URL"] = "redis://127.0.0.1:6379/0"
    return env


def _wbl(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scheduler.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _start_worker(env: dict[str, str], tmp_path: Path) -> subprocess.Popen[bytes]:
    with (tmp_path / "worker.log").open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "scheduler.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the test can kill it whole
        )


def _stop(worker: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
    worker.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("queue", ["sqlite", "redis"])
def test_worker_process_solves_a_queued_round(
    empty_engine: Engine, tmp_path: Path, queue: str
) -> None:
    """Queue: `wbl round solve --wait` with a `wbl worker` process, on SQLite and Redis."""
    engine = empty_engine
    upgrade(engine)  # as a deployment would: `wbl db upgrade`
    factory = make_session_factory(engine)
    _, doc = _round(factory, students=120, seed=5)
    env = _worker_env(engine, tmp_path, queue)
    worker = _start_worker(env, tmp_path)
    try:
        done = _wbl("round", "solve", doc["round"]["id"], "--program", "p5", "--wait", env=env)
        assert done.returncode == 0, (
            done.stdout + done.stderr + (tmp_path / "worker.log").read_text()
        )
        out = tmp_path / "solution.json"
        got = _wbl(
            "round", "solution", doc["round"]["id"], "--program", "p5", "-o", str(out), env=env
        )
        assert got.returncode == 0, got.stderr
        problem = tmp_path / "problem.json"
        problem.write_text(json.dumps(doc))
        checked = _wbl("check", str(problem), str(out), env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        _stop(worker)


@pytest.mark.slow
def test_worker_killed_mid_solve_leaves_the_round_untouched(
    empty_engine: Engine, tmp_path: Path
) -> None:
    """Jobs: kill -9 the worker while it solves; the run ends failed, the round unchanged."""
    engine = empty_engine
    upgrade(engine)
    factory = make_session_factory(engine)
    round_id, doc = _round(factory, students=4000, seed=8)
    with transaction(factory) as session:
        before = canonical(export_round(session, session.get_one(Round, round_id)))
    env = _worker_env(engine, tmp_path, "sqlite")
    worker = _start_worker(env, tmp_path)
    try:
        queued = _wbl("round", "solve", doc["round"]["id"], "--program", "p8", env=env)
        assert queued.returncode == 0, queued.stderr
        deadline = time.monotonic() + 60
        status = RunStatus.queued
        while status != RunStatus.running and time.monotonic() < deadline:
            time.sleep(0.1)
            with transaction(factory) as session:
                status = session.scalars(select(SolveRun.status)).one()
        assert status == RunStatus.running, (tmp_path / "worker.log").read_text()
    finally:
        _stop(worker, signal.SIGKILL)
    with transaction(factory) as session:
        assert jobs.reap_stale_runs(session, older_than=dt.timedelta(0)) == 1
    with transaction(factory) as session:
        run = session.scalars(select(SolveRun)).one()
        assert run.status == RunStatus.failed
        assert session.scalar(select(func.count()).select_from(Assignment)) == 0
        assert canonical(export_round(session, session.get_one(Round, round_id))) == before


def test_wait_without_a_worker_says_so(
    empty_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queue: `round solve --wait` with no worker running tells the coordinator to start one."""
    import scheduler.cli as cli

    engine = empty_engine
    upgrade(engine)
    factory = make_session_factory(engine)
    _, doc = _round(factory, students=50, seed=6)
    env = _worker_env(engine, tmp_path, "sqlite")
    monkeypatch.setattr(cli, "QUEUED_HINT", 0.0)
    for key in ("WBL_DATABASE_URL", "WBL_QUEUE_PATH", "WBL_QUEUE_NAME"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("WBL_REDIS_URL", raising=False)
    jobs.queue.cache_clear()
    calls = {"n": 0}

    def no_worker(seconds: float) -> None:
        calls["n"] += 1
        if calls["n"] > 3:  # bounded: the test gives up waiting like a user would
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.time, "sleep", no_worker)
    opened: list[sessionmaker[Session]] = []
    real_connect = cli.connect

    def connect(url: str | None = None) -> sessionmaker[Session]:
        opened.append(real_connect(url))
        return opened[-1]

    monkeypatch.setattr(cli, "connect", connect)
    from click.testing import CliRunner

    try:
        result = CliRunner().invoke(
            cli.main, ["round", "solve", doc["round"]["id"], "--program", "p6", "--wait"]
        )
    finally:
        jobs.queue.cache_clear()
        for factory_ in opened:  # the CLI leaves its engine to process exit; a test may not
            factory_.kw["bind"].dispose()
    assert "still queued: is a `wbl worker` running" in result.output
