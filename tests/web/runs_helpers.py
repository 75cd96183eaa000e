"""What the dashboard, compare and publish page tests share: a private queue for the test, a
second run of a published round that moves one published student, and a logged-in client."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import scheduler.jobs as jobs
from models import Assignment, AssignmentStatus, Round, RunStatus, SolveRun, Student
from scheduler.rounds import solution_from_run, store_solution


@pytest.fixture
def queue_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test's own SQLite queue (`WBL_QUEUE_PATH`), so nothing reaches a real one."""
    path = tmp_path / "queue.db"
    monkeypatch.setenv("WBL_QUEUE_PATH", str(path))
    monkeypatch.delenv("WBL_REDIS_URL", raising=False)
    jobs.queue.cache_clear()
    yield path
    jobs.queue.cache_clear()


def moving_run(session: Session, round_id: int, *, why: str | None = None) -> tuple[int, str]:
    """A succeeded run of the round equal to its chosen run but for one placed student (a
    published one when the round is published) left unplaced; its id and that student's id.
    With `why`, the run is a re-solve of the chosen run whose solution says so (`changes`, as
    the solver writes them). Committed."""
    rnd = session.get_one(Round, round_id)
    assert rnd.chosen_run_id is not None
    chosen = session.get_one(SolveRun, rnd.chosen_run_id)
    doc = copy.deepcopy(solution_from_run(session, chosen))
    published = session.scalars(
        select(Student.external_id)
        .join(Assignment, Assignment.student_id == Student.id)
        .where(
            Assignment.run_id == chosen.id,
            Assignment.status.in_((AssignmentStatus.published, AssignmentStatus.proposed)),
            Assignment.mentor_id.is_(None),
        )
        .order_by(Student.external_id)
        .limit(1)
    ).one()
    doc["assignments"] = [a for a in doc["assignments"] if a["student"] != published]
    doc["mentorships"] = [m for m in doc["mentorships"] if m["student"] != published]
    doc["unplaced"] = [
        *doc["unplaced"],
        {"student": published, "reasons": [{"code": "capacity_taken"}]},
    ]
    for a in doc["assignments"]:
        a["status"] = "proposed"
    doc["metrics"] = {**doc["metrics"], "placed": doc["metrics"]["placed"] - 1}
    options = {}
    if why is not None:
        options = {"previous_run": chosen.id}
        before = next(
            a
            for a in solution_from_run(session, chosen)["assignments"]
            if a["student"] == published
        )
        doc["changes"] = [
            {
                "student": published,
                "from": {"opportunity": before["opportunity"], "slot": before["slot"]},
                "to": None,
                "reason": why,
            }
        ]
    run = SolveRun(round_id=round_id, status=RunStatus.succeeded, options=options)
    session.add(run)
    session.flush()
    store_solution(session, rnd, run, doc)
    session.commit()
    return run.id, published
