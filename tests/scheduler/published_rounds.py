"""A small generated round, imported, solved, chosen and published: what feed and link tests
start from (shared by tests/scheduler and tests/web)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

import scheduler.actions as actions
from models import Program, Round, RunStatus, SolveRun
from scheduler.generate import generate_round
from scheduler.rounds import import_round, store_solution
from solver import SolveOptions, load_problem, solve

Doc = dict[str, Any]
SECRET = b"test-secret-key-for-links"


def solved(doc: Doc) -> Doc:
    """The solver's answer as plain JSON."""
    options = SolveOptions(time_limit=10, workers=1, seed=0, deterministic=True)
    result: Doc = json.loads(json.dumps(solve(load_problem(doc), options).to_dict()))
    return result


def published_round(
    session: Session, program: Program, doc: Doc | None = None, *, publish: bool = True
) -> Round:
    """Import `doc` (default: 40 generated students), solve it into a chosen run, publish."""
    doc = doc if doc is not None else generate_round(40, seed=3)
    rnd = import_round(session, doc, program)
    run = SolveRun(round_id=rnd.id, status=RunStatus.succeeded)
    session.add(run)
    session.flush()
    store_solution(session, rnd, run, solved(doc))
    actions.choose_run(session, rnd, run, user=None)
    if publish:
        actions.publish(session, rnd, user=None)
    session.flush()
    return rnd
