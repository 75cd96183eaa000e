"""Solve jobs on a real queue: huey, with SQLite storage by default and Redis when
`WBL_REDIS_URL` is set, so workers can run on other machines (`wbl worker`).

A job solves one `SolveRun`. The round is read in one short transaction; while the solver
runs, a heartbeat thread writes progress (stage, fraction, elapsed) and notices cancellation;
the answer is written in one transaction at the end. A worker killed mid-solve therefore
leaves the round's data untouched, and `reap_stale_runs` marks its run failed once the
heartbeat stops. Nothing solves inside a web request or a CLI command: they enqueue.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from sqlalchemy import make_url, select, update
from sqlalchemy.orm import Session, sessionmaker

from models import Opportunity, Round, Slot, SolveRun, Student, database_url
from models.round import RoundStatus
from models.solve import Assignment, AssignmentStatus, RunStatus
from scheduler.db import connect, transaction
from scheduler.problems import round_problem
from scheduler.rounds import store_solution
from solver import Previous, Progress, SolveOptions, load_problem, solve

log = logging.getLogger(__name__)

# How often a running job proves it is alive, and how long silence means it died.
HEARTBEAT_SECONDS = 5.0
STALE_AFTER = dt.timedelta(seconds=60)
# Options a run may carry; anything else in `SolveRun.options` is refused when enqueuing.
RUN_OPTIONS = ("time_limit", "workers", "seed", "deterministic", "previous_run")
# Assignment statuses kept on a re-solve unless impossible.
KEPT = (AssignmentStatus.published, AssignmentStatus.confirmed)
# Placements the solver proposed that nobody has published: a chosen run holding any is under
# review. (Pinned rows are the coordinator's own edits: a published round stays published
# while they wait to be published, as after a manual move.)
UNREVIEWED = (AssignmentStatus.proposed,)


class Cancelled(Exception):
    """The coordinator cancelled the run while it was solving."""


def queue_path(database: str | None = None) -> Path:
    """Where the SQLite queue is: `WBL_QUEUE_PATH`, else beside the SQLite database file
    (`instance/wbl.db` -> `instance/wbl-queue.db`), so every command that reaches the same
    database reaches the same queue, from whatever folder it runs. A database that is not a
    SQLite file (PostgreSQL) gets a queue in the user's home, one per database URL; workers on
    other machines need Redis (`WBL_REDIS_URL`) anyway."""
    named = os.environ.get("WBL_QUEUE_PATH")
    if named:
        return Path(named).expanduser().resolve()
    url = make_url(database or database_url())
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        db = Path(url.database or "").expanduser().resolve()
        return db.with_name(f"{db.stem}-queue.db")
    key = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return Path.home() / ".wbl" / f"queue-{key}.db"


def describe_queue() -> str:
    """The queue commands and workers of this environment use, in words (for "still queued"
    and the worker's first line): 'SQLite queue "wbl" at /srv/instance/wbl-queue.db'."""
    name = os.environ.get("WBL_QUEUE_NAME", "wbl")
    url = os.environ.get("WBL_REDIS_URL")
    if url:
        return f'Redis queue "{name}" at {make_url(url).render_as_string(hide_password=True)}'
    return f'SQLite queue "{name}" at {queue_path()}'


def make_queue() -> Huey:
    """The queue from the environment: Redis at `WBL_REDIS_URL`, else a SQLite file
    (`queue_path`: `WBL_QUEUE_PATH`, default beside the SQLite database); `WBL_QUEUE_NAME`
    (default "wbl") separates deployments sharing one Redis."""
    name = os.environ.get("WBL_QUEUE_NAME", "wbl")
    url = os.environ.get("WBL_REDIS_URL")
    if url:
        return RedisHuey(name, url=url)
    path = queue_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(path))


@functools.cache
def queue() -> tuple[Huey, Any]:
    """The process's queue and its solve task, made on first use (not on import: commands
    that never queue anything must not create a queue file)."""
    huey = make_queue()
    from scheduler.mail import register_tasks  # here: mail imports this module

    register_tasks(huey)  # workers of this queue send the mail too
    return huey, huey.task(name="solve_run")(solve_task)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_run(
    session: Session,
    rnd: Round,
    options: Mapping[str, Any] | None = None,
    *,
    created_by_id: int | None = None,
) -> SolveRun:
    """A queued run of `rnd` (the caller commits, then calls `enqueue`)."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(RUN_OPTIONS))
    if unknown:
        raise ValueError(f"unknown solve options: {', '.join(unknown)}")
    run = SolveRun(round_id=rnd.id, options=options, created_by_id=created_by_id)
    session.add(run)
    session.flush()
    return run


def enqueue(run_id: int) -> None:
    """Put a committed run on the queue."""
    _, task = queue()
    task(run_id)


def submit(
    factory: sessionmaker[Session],
    round_id: int,
    options: Mapping[str, Any] | None = None,
    *,
    created_by_id: int | None = None,
) -> int:
    """Create a run of the round, commit it, and enqueue it; returns the run's id."""
    with transaction(factory) as session:
        rnd = session.get_one(Round, round_id)
        run_id = create_run(session, rnd, options, created_by_id=created_by_id).id
    enqueue(run_id)
    return run_id


def cancel(session: Session, run: SolveRun) -> bool:
    """Cancel a queued or running run; False when it had already finished."""
    if run.status not in (RunStatus.queued, RunStatus.running):
        return False
    run.status = RunStatus.cancelled
    run.finished_at = now()
    return True


def reap_stale_runs(session: Session, older_than: dt.timedelta = STALE_AFTER) -> int:
    """Mark failed the running runs whose worker stopped beating; returns how many."""
    cutoff = now() - older_than
    stale = session.scalars(
        select(SolveRun).where(SolveRun.status == RunStatus.running, SolveRun.heartbeat_at < cutoff)
    ).all()
    for run in stale:
        run.status = RunStatus.failed
        run.finished_at = now()
        run.error = (
            f"the worker ({run.worker or 'unknown'}) stopped responding; last heartbeat at"
            f" {run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC; the round's data was not changed"
        )
        _settle_round(session, run.round_id)
    return len(stale)


def _settle_round(session: Session, round_id: int) -> None:
    """A round left `solving` with no run still going goes back to published (its chosen run
    is published and proposes nothing new), review (a run finished, or the chosen run holds
    proposed placements) or draft."""
    rnd = session.get_one(Round, round_id)
    if rnd.status != RoundStatus.solving:
        return
    active = session.scalar(
        select(SolveRun.id).where(
            SolveRun.round_id == round_id,
            SolveRun.status.in_((RunStatus.queued, RunStatus.running)),
        )
    )
    if active is None:
        published = rnd.chosen_run_id is not None and published_state(session, rnd.chosen_run_id)
        done = session.scalar(
            select(SolveRun.id).where(
                SolveRun.round_id == round_id, SolveRun.status == RunStatus.succeeded
            )
        )
        # A published round stays published while a re-solve waits for review.
        if published:
            rnd.status = RoundStatus.published
        else:
            rnd.status = RoundStatus.review if done is not None else RoundStatus.draft


def published_state(session: Session, run_id: int) -> bool:
    """Whether a chosen run reads as published: it holds published or confirmed placements
    and no proposed one (a round never reads published beside the solver's proposals)."""
    statuses = set(
        session.scalars(
            select(Assignment.status).where(Assignment.run_id == run_id).group_by(Assignment.status)
        )
    )
    return bool(statuses & set(KEPT)) and not statuses & set(UNREVIEWED)


def previous_placements(session: Session, run_id: int) -> tuple[Previous, ...]:
    """An earlier run's placements with their statuses, for a re-solve: published and
    confirmed ones are kept whenever they hold, declined ones are not offered again."""
    # One query for the ids (a 100,000-student run has 40,000 placements: no lazy loads).
    rows = session.execute(
        select(Student.external_id, Opportunity.external_id, Slot.external_id, Assignment.status)
        .join(Student, Student.id == Assignment.student_id)
        .join(Opportunity, Opportunity.id == Assignment.opportunity_id)
        .join(Slot, Slot.id == Assignment.slot_id)
        .where(Assignment.run_id == run_id)
        .order_by(Assignment.id)
    )
    return tuple(
        Previous(student=s, opportunity=o, slot=sl, status=str(status)) for s, o, sl, status in rows
    )


class _Heartbeat(threading.Thread):
    """Writes the latest progress every few seconds and notices cancellation."""

    def __init__(self, factory: sessionmaker[Session], run_id: int) -> None:
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.factory = factory
        self.run_id = run_id
        self.latest: Progress | None = None
        self.cancelled = threading.Event()
        self.stopped = threading.Event()

    def beat(self) -> None:
        progress = self.latest
        values: dict[str, Any] = {"heartbeat_at": now()}
        if progress is not None:
            values |= {"progress": min(1.0, progress.fraction), "stage": progress.stage[:200]}
        with transaction(self.factory) as session:
            status = session.scalar(select(SolveRun.status).where(SolveRun.id == self.run_id))
            if status == RunStatus.cancelled:
                self.cancelled.set()
                return
            session.execute(update(SolveRun).where(SolveRun.id == self.run_id).values(**values))

    def run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            try:
                self.beat()
            except Exception:  # a missed beat is not worth stopping the solve for
                log.exception("heartbeat of run %s failed", self.run_id)


def execute_run(factory: sessionmaker[Session], run_id: int) -> RunStatus:
    """Solve one run (what a worker does with a job); returns the run's final status."""
    with transaction(factory) as session:
        run = session.get_one(SolveRun, run_id, with_for_update=True)
        if run.status != RunStatus.queued:
            return run.status  # cancelled before it started, or another worker has it
        rnd = session.get_one(Round, run.round_id, with_for_update=True)
        if rnd.status == RoundStatus.closed:
            # Closed while the run waited in the queue: a closed round does not change again.
            run.status = RunStatus.cancelled
            run.finished_at = now()
            run.error = "the round was closed before the run started"
            return RunStatus.cancelled
        run.status = RunStatus.running
        run.started_at = run.heartbeat_at = now()
        run.worker = f"{socket.gethostname()}:{os.getpid()}"
        rnd.status = RoundStatus.solving
        doc = round_problem(session, rnd, for_solve=True)
        options = dict(run.options)
        previous = (
            previous_placements(session, int(options["previous_run"]))
            if options.get("previous_run")
            else ()
        )
    heartbeat = _Heartbeat(factory, run_id)

    def progress(p: Progress) -> None:
        heartbeat.latest = p
        if heartbeat.cancelled.is_set():
            raise Cancelled

    heartbeat.start()
    try:
        solution = solve(
            load_problem(doc),
            SolveOptions(
                time_limit=float(options.get("time_limit", 60)),
                workers=int(options.get("workers", 2)),
                seed=int(options.get("seed", 0)),
                deterministic=bool(options.get("deterministic", False)),
                previous=previous,
                progress=progress,
            ),
        )
        heartbeat.stopped.set()
        heartbeat.join()
        with transaction(factory) as session:
            run = session.get_one(SolveRun, run_id, with_for_update=True)
            if run.status == RunStatus.cancelled:
                return RunStatus.cancelled
            rnd = session.get_one(Round, run.round_id)
            store_solution(session, rnd, run, solution.to_dict())
            run.status = RunStatus.succeeded
            run.progress = 1.0
            run.stage = "done"
            run.finished_at = now()
            _settle_round(session, rnd.id)
        return RunStatus.succeeded
    except Cancelled:
        heartbeat.stopped.set()
        with transaction(factory) as session:
            _settle_round(session, session.get_one(SolveRun, run_id).round_id)
        return RunStatus.cancelled
    except Exception as exc:
        heartbeat.stopped.set()
        log.exception("solve run %s failed", run_id)
        with transaction(factory) as session:
            run = session.get_one(SolveRun, run_id)
            run.status = RunStatus.failed
            run.finished_at = now()
            run.error = f"{type(exc).__name__}: {exc}"[:2000]
            run.log_tail = "".join(traceback.format_exc())[-4000:]
            _settle_round(session, run.round_id)
        return RunStatus.failed


def solve_task(run_id: int) -> str:
    """The queued job: solve run `run_id` against the worker's own database configuration;
    its start and its end (status, seconds) go to the worker's log."""
    log.info("run %s: started", run_id)
    started = time.monotonic()
    status = execute_run(connect(), run_id)
    log.info("run %s: %s in %.1f s", run_id, status.value, time.monotonic() - started)
    return status.value


def run_worker(workers: int = 1) -> None:
    """Consume the queue until interrupted (`wbl worker`): each job in its own process."""
    with transaction(connect()) as session:
        reaped = reap_stale_runs(session)
    if reaped:
        log.warning("marked %d runs of stopped workers as failed", reaped)
    huey, _ = queue()
    consumer = huey.create_consumer(workers=workers, worker_type="process")
    consumer.run()
