"""Published placements are protected (issue 9, blocker 2): a re-solve keeps them by default, a
fresh run that moves one is refused by choose and publish naming the student, assignments carry
`status` in every solution document, and the employer's accept or decline is recorded.

The round is the issue's story in miniature: Ana is published in her first-choice internship;
then Ben, a priority-2 student who can only take that internship, is imported. A fresh solve
places Ben there and moves Ana to a job shadow (two students placed, weight 4, beat one)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import scheduler.actions as actions
import scheduler.jobs as jobs
from models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Opportunity,
    Pin,
    Program,
    Round,
    RoundStatus,
    RunStatus,
    SolveRun,
    Student,
    make_engine,
    make_session_factory,
)
from scheduler.actions import ActionRefused, ChangesRefused
from scheduler.db import transaction
from scheduler.round_update import update_round
from scheduler.rounds import export_round, import_round, solution_from_run
from solver import check_solution
from tests.solver.factories import make_doc, opportunity, slot, student

Doc = dict[str, Any]
FAST = {"time_limit": 10, "workers": 1, "deterministic": True}


def _first_doc() -> Doc:
    return make_doc(
        [student(id="ana", clusters=["HLTH"], preferences=["intern"])],
        [
            opportunity(id="intern", slots=[slot(id="intern-x")]),
            opportunity(id="shadow", kind="job_shadow", slots=[slot(id="shadow-y")]),
        ],
    )


def _with_ben(doc: Doc) -> Doc:
    """Ben: priority 2, eligible only at the internship (by his preference; not his cluster)."""
    out = copy.deepcopy(doc)
    out["students"].append(student(id="ben", clusters=["CNST"], preferences=["intern"], priority=2))
    return out


@pytest.fixture
def factory(engine: Engine, session: Session, program: Program) -> sessionmaker[Session]:
    session.commit()  # the program, for the transactions of the test
    return make_session_factory(engine)


def _solve(factory: sessionmaker[Session], round_id: int, *, fresh: bool = False) -> int:
    with transaction(factory) as s:
        started = actions.solve_round(
            s, s.get_one(Round, round_id), user=None, options=FAST, fresh=fresh
        )
        run_id = started.run.id
    assert jobs.execute_run(factory, run_id) == RunStatus.succeeded
    return run_id


def _placements(s: Session, run_id: int) -> dict[str, tuple[str, str]]:
    """Each placed student's opportunity and stored status."""
    rows = s.execute(
        select(Student.external_id, Opportunity.external_id, Assignment.status)
        .join(Student, Student.id == Assignment.student_id)
        .join(Opportunity, Opportunity.id == Assignment.opportunity_id)
        .where(Assignment.run_id == run_id)
    )
    return {st: (o, str(status)) for st, o, status in rows}


@pytest.fixture
def published(factory: sessionmaker[Session], program: Program) -> tuple[int, int]:
    """Ana published at the internship (run 1), then Ben imported: (round id, run 1 id)."""
    with transaction(factory) as s:
        rnd = import_round(s, _first_doc(), s.get_one(Program, program.id))
        round_id = rnd.id
    first = _solve(factory, round_id)
    with transaction(factory) as s:
        rnd = s.get_one(Round, round_id)
        actions.choose_run(s, rnd, s.get_one(SolveRun, first), user=None)
        actions.publish(s, rnd, user=None)
        assert _placements(s, first) == {"ana": ("intern", "published")}
        update_round(s, rnd, _with_ben(_first_doc()))
    return round_id, first


def test_a_solve_after_publishing_keeps_the_published_student(
    factory: sessionmaker[Session], published: tuple[int, int]
) -> None:
    """Protected placements: `solve_round` re-solves from the chosen run by default, so Ana
    keeps her published internship (status carried) and choose needs no acceptance."""
    round_id, first = published
    run_id = _solve(factory, round_id)
    with transaction(factory) as s:
        run = s.get_one(SolveRun, run_id)
        assert run.options["previous_run"] == first
        assert _placements(s, run_id) == {"ana": ("intern", "published")}
        rnd = s.get_one(Round, round_id)
        outcome = actions.choose_run(s, rnd, run, user=None)
        assert outcome.after["changed"] == []
        # Nothing new proposed: the round reads published still.
        assert rnd.status == RoundStatus.published
        assert check_solution(export_round(s, rnd), solution_from_run(s, run)) == []


def test_a_fresh_solve_that_moves_a_published_student_is_refused_by_choose_and_publish(
    factory: sessionmaker[Session], published: tuple[int, int]
) -> None:
    """Protected placements: choose and publish refuse a run that moves a published student,
    naming her with where she was and where she would go, unless the changes are accepted."""
    round_id, first = published
    fresh = _solve(factory, round_id, fresh=True)
    with transaction(factory) as s:
        # The trap of the issue: the fresh run moves Ana to the job shadow.
        assert _placements(s, fresh) == {
            "ana": ("shadow", "proposed"),
            "ben": ("intern", "proposed"),
        }
        rnd = s.get_one(Round, round_id)
        with pytest.raises(ChangesRefused) as caught:
            actions.choose_run(s, rnd, s.get_one(SolveRun, fresh), user=None)
    refusal = caught.value
    assert refusal.rule == "published"
    assert [(c.student, c.from_opportunity, c.to_opportunity) for c in refusal.changes] == [
        ("ana", "intern", "shadow")
    ]
    assert (
        "ana: published at opportunity intern slot intern-x -> opportunity shadow slot shadow-y"
        in str(refusal)
    )
    with transaction(factory) as s:
        rnd = s.get_one(Round, round_id)
        assert rnd.chosen_run_id == first  # nothing was written
        outcome = actions.choose_run(
            s, rnd, s.get_one(SolveRun, fresh), user=None, accept_changes=True
        )
        assert any("ana: published at opportunity intern" in n for n in outcome.notes)
        # The round does not read published beside proposed placements.
        assert rnd.status == RoundStatus.review
    with transaction(factory) as s, pytest.raises(ChangesRefused) as again:
        actions.publish(s, s.get_one(Round, round_id), user=None)
    assert "ana: published at opportunity intern slot intern-x -> opportunity shadow" in str(
        again.value
    )
    with transaction(factory) as s:
        rnd = s.get_one(Round, round_id)
        actions.publish(s, rnd, user=None, accept_changes=True)
        assert rnd.status == RoundStatus.published
        assert _placements(s, fresh) == {
            "ana": ("shadow", "published"),
            "ben": ("intern", "published"),
        }
        # Publishing the same run again compares it with itself: nothing to accept.
        actions.publish(s, rnd, user=None)


def test_a_dropped_published_placement_is_named_as_unplaced(
    factory: sessionmaker[Session], published: tuple[int, int]
) -> None:
    """Protected placements: a run that leaves a published student unplaced names her with
    "-> unplaced"."""
    round_id, _ = published
    with transaction(factory) as s:
        rnd = s.get_one(Round, round_id)
        doc = _with_ben(_first_doc())
        doc["opportunities"] = [o for o in doc["opportunities"] if o["id"] != "shadow"]
        doc["students"][0]["preferences"] = []
        doc["students"][0]["clusters"] = ["CNST"]  # Ana can take nothing now
        update_round(s, rnd, doc, accept_breaks=True)
    fresh = _solve(factory, round_id, fresh=True)
    with transaction(factory) as s:
        rnd, run = s.get_one(Round, round_id), s.get_one(SolveRun, fresh)
        with pytest.raises(ChangesRefused) as caught:
            actions.choose_run(s, rnd, run, user=None)
    assert "ana: published at opportunity intern slot intern-x -> unplaced" in str(caught.value)


def test_a_re_solve_says_why_a_published_placement_could_not_be_kept(
    factory: sessionmaker[Session], published: tuple[int, int]
) -> None:
    """Protected placements: when one can no longer hold, the re-solve's change says it was
    published and the rule that moved it, rather than moving it silently."""
    round_id, _ = published
    with transaction(factory) as s:
        rnd = s.get_one(Round, round_id)
        doc = _first_doc()
        doc["opportunities"][0]["slots"][0]["capacity"] = 0
        update_round(s, rnd, doc, accept_breaks=True)
    run_id = _solve(factory, round_id)
    with transaction(factory) as s:
        changes = solution_from_run(s, s.get_one(SolveRun, run_id))["changes"]
    (change,) = changes
    assert change["student"] == "ana"
    assert change["to"] == {"opportunity": "shadow", "slot": "shadow-y"}
    assert change["reason"].startswith("published placement could not be kept: ")


def test_accept_confirms_and_decline_frees_the_student_for_the_next_re_solve(
    factory: sessionmaker[Session], published: tuple[int, int]
) -> None:
    """Employer answers: accept makes a published placement confirmed; decline makes it
    declined (audited with its reason, the student's pin there removed), and the next re-solve
    places the student elsewhere rather than back."""
    round_id, first = published
    with transaction(factory) as s:
        rnd = s.get_one(Round, round_id)
        ana = s.scalars(select(Student).where(Student.external_id == "ana")).one()
        ben = s.scalars(select(Student).where(Student.external_id == "ben")).one()
        with pytest.raises(ActionRefused, match="ben holds no placement"):
            actions.accept(s, rnd, ben, user=None)
        outcome = actions.accept(s, rnd, ana, user=None)
        assert outcome.after["status"] == "confirmed"
        with pytest.raises(ActionRefused, match="is confirmed, not published"):
            actions.decline(s, rnd, ana, user=None)
    # Start again from a published placement, pinned there by the coordinator.
    with transaction(factory) as s:
        a = s.scalars(select(Assignment).where(Assignment.run_id == first)).one()
        a.status = AssignmentStatus.published
        ana = s.scalars(select(Student).where(Student.external_id == "ana")).one()
        s.add(Pin(round_id=round_id, student_id=ana.id, opportunity_id=a.opportunity_id))
    with transaction(factory) as s:
        rnd = s.get_one(Round, round_id)
        ana = s.scalars(select(Student).where(Student.external_id == "ana")).one()
        outcome = actions.decline(s, rnd, ana, user=None, reason="no openings after all")
        assert outcome.after["status"] == "declined"
        assert s.scalars(select(Pin).where(Pin.student_id == ana.id)).all() == []
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "placement.decline")).one()
        assert event.detail["reason"] == "no openings after all"
        assert len(event.detail["pins_removed"]) == 1
    run_id = _solve(factory, round_id)
    with transaction(factory) as s:
        # Ben (weight 3) takes the internship either way; Ana is not put back there.
        assert _placements(s, run_id) == {
            "ana": ("shadow", "proposed"),
            "ben": ("intern", "proposed"),
        }
        doc = solution_from_run(s, s.get_one(SolveRun, run_id))
        reasons = {c["student"]: c["reason"] for c in doc["changes"]}
        assert reasons["ana"] == "declined by the employer"
        # The declined placement protects nothing: choose needs no acceptance.
        actions.choose_run(s, s.get_one(Round, round_id), s.get_one(SolveRun, run_id), user=None)


def test_a_declined_student_is_not_put_back_even_where_nothing_competes(
    factory: sessionmaker[Session], program: Program
) -> None:
    """Employer answers: after a decline the re-solve does not offer that opportunity again,
    even when it is the student's first choice and its seat is free."""
    with transaction(factory) as s:
        rnd = import_round(s, _first_doc(), s.get_one(Program, program.id))
        round_id = rnd.id
    first = _solve(factory, round_id)
    with transaction(factory) as s:
        rnd = s.get_one(Round, round_id)
        actions.choose_run(s, rnd, s.get_one(SolveRun, first), user=None)
        actions.publish(s, rnd, user=None)
        ana = s.scalars(select(Student).where(Student.external_id == "ana")).one()
        actions.decline(s, rnd, ana, user=None)
    run_id = _solve(factory, round_id)
    with transaction(factory) as s:
        assert _placements(s, run_id) == {"ana": ("shadow", "proposed")}


def test_stored_solutions_carry_assignment_status_once_published(
    factory: sessionmaker[Session], published: tuple[int, int]
) -> None:
    """Format extension: once a run has published placements (or is a re-solve) every
    assignment of `solution_from_run` has `status`, which the checker accepts; a re-solve's
    stored answer carries each status, proposed ones included."""
    round_id, first = published
    with transaction(factory) as s:
        doc = solution_from_run(s, s.get_one(SolveRun, first))
        assert [a["status"] for a in doc["assignments"]] == ["published"]
        problem = export_round(s, s.get_one(Round, round_id))
    problem["students"] = [st for st in problem["students"] if st["id"] != "ben"]
    assert check_solution(problem, doc) == []
    with transaction(factory) as s:
        # A second seat: the re-solve keeps Ana and places Ben beside her.
        wider = _with_ben(_first_doc())
        wider["opportunities"][0]["slots"][0]["capacity"] = 2
        update_round(s, s.get_one(Round, round_id), wider)
    run_id = _solve(factory, round_id)
    with transaction(factory) as s:
        doc = solution_from_run(s, s.get_one(SolveRun, run_id))
    assert sorted((a["student"], a["status"]) for a in doc["assignments"]) == [
        ("ana", "published"),
        ("ben", "proposed"),
    ]


@pytest.mark.slow  # about 25 `wbl` processes
def test_the_command_line_protects_published_placements(tmp_path: Path) -> None:
    """Protected placements on the command line: `round solve` re-solves by default and says
    so, `--fresh` says what it leaves unprotected, `choose` and `publish` refuse the fresh run
    naming the student (exit 2) until `--accept-changes`, `round solution` and `wbl solve
    --previous` carry `status`, `round accept|decline` record the employer's answer, and
    `round cancel` takes `--program`."""
    env = {
        **os.environ,
        "WBL_DATABASE_URL": f"sqlite:///{tmp_path / 'wbl.db'}",
        "WBL_QUEUE_PATH": str(tmp_path / "queue.db"),
    }
    env.pop("WBL_REDIS_URL", None)
    wbl = str(Path(sys.executable).with_name("wbl"))

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [wbl, *args], env=env, capture_output=True, text=True, check=False, timeout=300
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done

    factory = make_session_factory(make_engine(env["WBL_DATABASE_URL"]))

    def solve_queued(out: subprocess.CompletedProcess[str]) -> str:
        run_id = out.stdout.split()[2]  # "queued run N of round ..."
        assert jobs.execute_run(factory, int(run_id)) == RunStatus.succeeded
        return run_id

    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps(_first_doc()))
    second.write_text(json.dumps(_with_ben(_first_doc())))
    p = ("--program", "riverton")
    run("db", "upgrade")
    run("import-round", str(first), *p)
    assert (
        "no runs yet: `wbl round solve r1 --program riverton`"
        in run("round", "status", "r1", *p).stdout
    )
    one = solve_queued(run("round", "solve", "r1", *p, "--time-limit", "5"))
    run("round", "choose", "r1", one, *p)
    run("round", "publish", "r1", *p)
    solution = tmp_path / "solution.json"
    run("round", "solution", "r1", *p, "-o", str(solution))
    assert [a["status"] for a in json.loads(solution.read_text())["assignments"]] == ["published"]
    # The file path reads the status too: Ana stays where she was published.
    again = tmp_path / "again.json"
    run("solve", str(second), "-o", str(again), "--previous", str(solution), "-q")
    kept = {
        a["student"]: (a["opportunity"], a["status"])
        for a in json.loads(again.read_text())["assignments"]
    }
    assert kept == {"ana": ("intern", "published")}

    run("import-round", str(second), *p, "--update")
    resolved = run("round", "solve", "r1", *p, "--time-limit", "5")
    assert f"a re-solve from run {one} keeping its 1 published or confirmed" in resolved.stdout
    solve_queued(resolved)
    fresh_out = run("round", "solve", "r1", *p, "--time-limit", "5", "--fresh")
    assert "from scratch: it does not protect the 1 published or confirmed" in fresh_out.stdout
    fresh = solve_queued(fresh_out)
    moved = "ana: published at opportunity intern slot intern-x -> opportunity shadow slot shadow-y"
    refused = run("round", "choose", "r1", fresh, *p, code=2)
    assert moved in refused.stderr
    assert moved in run("round", "choose", "r1", fresh, *p, "--accept-changes").stdout
    assert moved in run("round", "publish", "r1", *p, code=2).stderr
    run("round", "publish", "r1", *p, "--accept-changes")

    accepted = run("round", "accept", "r1", "ben", *p)
    assert "student ben: confirmed at opportunity intern slot intern-x" in accepted.stdout
    declined = run("round", "decline", "r1", "ana", *p, "--reason", "no openings")
    assert "student ana: declined at opportunity shadow slot shadow-y" in declined.stdout
    assert "is declined, not published" in run("round", "accept", "r1", "ana", *p, code=2).stderr
    assert "has no student 'zoe'" in run("round", "decline", "r1", "zoe", *p, code=2).stderr

    assert f"run {one} had ended" in run("round", "cancel", one, *p).stdout
    assert "no run" in run("round", "cancel", one, "--program", "elsewhere", code=2).stderr
