"""Rounds through the database: import, export, the normal form, and stored solutions."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Base,
    Forbidden,
    Mentorship,
    OpportunityAccept,
    Pin,
    Preference,
    Program,
    Round,
    RoundStatus,
    Slot,
    SolveRun,
    Student,
    TravelGroup,
    TravelGroupTime,
    TravelOverride,
    Unplaced,
    make_session_factory,
)
from scheduler.db import connect, get_or_create_program, transaction, upgrade_database
from scheduler.generate import generate_round
from scheduler.rounds import (
    RoundClosedError,
    RoundExistsError,
    SolutionMismatchError,
    canonical,
    export_round,
    import_round,
    replace_travel_groups,
    solution_from_run,
    store_solution,
)
from solver import ProblemError, SolveOptions, check_solution, load_problem, solve
from tests.solver.factories import NEAR, make_doc, mentor, opportunity, slot, student, weekly
from tests.solver.random_rounds import random_round, school_transit_groups, with_travel_groups

Doc = dict[str, Any]


def _solve(doc: Doc) -> Doc:
    """The solver's answer as JSON would carry it (tuples become lists)."""
    options = SolveOptions(time_limit=10, workers=1, seed=0, deterministic=True)
    result: Doc = json.loads(json.dumps(solve(load_problem(doc), options).to_dict()))
    return result


def _round_trip(session: Session, doc: Doc, program: Program) -> Doc:
    rnd = import_round(session, doc, program)
    session.commit()
    session.expunge_all()  # read back from the database, not from the identity map
    return export_round(session, session.get_one(Round, rnd.id))


def _count(session: Session, model: type[Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _full_doc() -> Doc:
    """A small round that uses every field of the format, optional ones included."""
    o1 = opportunity(
        id="o1",
        kind="apprenticeship",
        address="12 Dock St",
        transit_accessible=False,
        capacity=3,
        min_age=16,
        min_grade=10,
        required_credentials=["CPR", "OSHA10"],
        hazardous=True,
        requires_mentor=True,
        accepts=["s1"],
        slots=[
            slot(id="o1-a", capacity=2, blocks=[weekly("tue", "15:00", "17:00")]),
            slot(
                id="o1-b",
                capacity=1,
                blocks=[{"date": "2026-10-02", "start": "09:00", "end": "12:00"}],
            ),
        ],
    )
    o2 = opportunity(id="o2", accepts=[])  # listed, and nobody on the list
    o3 = opportunity(id="o3", employer="emp2", cluster="IT")
    s1 = student(
        id="s1",
        birth_date="2009-03-01",
        location={"lat": 41.9, "lon": -87.6},
        travel_modes=["walk", "transit"],
        max_commute_minutes=45.5,
        clusters=["HLTH", "IT"],
        credentials=["OSHA10", "CPR"],
        busy=[weekly("wed", "08:00", "15:00"), weekly("mon", "08:00", "15:00")],
        preferences=["o2", "o1", "o3"],
        priority=2,
        groups=["ell", "iep"],
        max_weekly_hours=7.5,
        wants_mentor=True,
        email="s1@example.org",
        nickname="ignored: not a field of the format",
    )
    s2 = student(id="s2", location=dict(NEAR), grade=None)
    del s2["school"], s2["grade"]
    doc = make_doc(
        [s1, s2, student(id="s3")],
        [o1, o2, o3],
        [
            mentor(id="m1", employer="emp1", clusters=["HLTH"], capacity=2),
            mentor(
                id="m2",
                available=[weekly("thu", "16:00", "18:00")],
                virtual=True,
                clusters=["IT"],
            ),
        ],
        travel=[
            {"student": "s1", "opportunity": "o1", "mode": "transit", "minutes": 25},
            {"student": "s1", "opportunity": "o2", "mode": "walk", "minutes": None},
        ],
        pins=[
            {"student": "s1", "opportunity": "o1", "slot": "o1-a", "mentor": "m1"},
            {"student": "s2", "opportunity": "o3"},
            {"student": "s3", "opportunity": "o3", "mentor": "m2"},
        ],
        forbidden=[
            {"student": "s3", "opportunity": "o2"},
            {"student": "s3", "opportunity": "o2"},  # the format allows a repeat
        ],
        holidays=["2026-11-26", "2026-11-27"],
        summer=False,
        mentor_meeting_minutes=45,
    )
    doc["schools"][0]["address"] = "1 Main St"
    doc["employers"][0]["contact_email"] = "hr@acme.example"
    doc["x-comment"] = "unknown top-level field, ignored"
    doc["travel_groups"] = [
        {
            "id": "north",
            "students": ["s2", "s3"],
            "travel": [
                {"opportunity": "o3", "mode": "transit", "minutes": 12},
                {"opportunity": "o1", "mode": "car", "minutes": None},
            ],
        },
        {"id": "nobody", "students": [], "travel": []},
    ]
    return doc


# --- Import and export -------------------------------------------------------------------------


@pytest.mark.parametrize("summer", [False, True], ids=["fall", "summer"])
def test_generated_round_round_trips(session: Session, program: Program, summer: bool) -> None:
    """canonical(export(import(doc))) == canonical(doc) for a generated 300-student round."""
    doc = generate_round(300, seed=11, summer=summer)
    out = _round_trip(session, copy.deepcopy(doc), program)
    assert canonical(out) == canonical(doc)
    assert load_problem(out) == load_problem(doc)


def test_export_keeps_import_order(session: Session, program: Program) -> None:
    """Lists come back in the order they were imported; pins too (solutions cite them by index)."""
    doc = generate_round(300, seed=12)
    doc["pins"].reverse()
    doc["students"].reverse()
    out = _round_trip(session, doc, program)
    for key in ("students", "opportunities", "mentors", "schools", "employers"):
        assert [x["id"] for x in out[key]] == [x["id"] for x in doc[key]], key
    assert out["pins"] == doc["pins"]
    assert [s["preferences"] for s in out["students"]] == [
        s.get("preferences", []) for s in doc["students"]
    ]


def test_every_field_round_trips(session: Session, program: Program) -> None:
    """Optional fields, null travel minutes, an empty `accepts` and dated blocks survive."""
    doc = _full_doc()
    out = _round_trip(session, copy.deepcopy(doc), program)
    assert canonical(out) == canonical(doc)
    opps = {o["id"]: o for o in out["opportunities"]}
    assert (opps["o1"]["accepts"], opps["o2"]["accepts"], "accepts" in opps["o3"]) == (
        ["s1"],
        [],
        False,
    )
    s1, s2 = out["students"][0], out["students"][1]
    assert (s1["max_weekly_hours"], s1["max_commute_minutes"], s1["email"]) == (
        7.5,
        45.5,
        "s1@example.org",
    )
    assert "nickname" not in s1
    assert "school" not in s2
    assert "grade" not in s2
    assert out["travel"][1]["minutes"] is None
    assert out["travel_groups"] == doc["travel_groups"]  # members in student order
    assert out["pins"] == doc["pins"]
    assert len(out["forbidden"]) == 2


def test_rows_land_in_their_tables(session: Session, program: Program) -> None:
    """One row per student, slot, preference, accept, override, pin and forbidden pair."""
    doc = _full_doc()
    import_round(session, doc, program)
    session.flush()
    expected = {
        Student: 3,
        Slot: 4,
        Preference: 3,
        OpportunityAccept: 1,
        TravelOverride: 2,
        TravelGroup: 2,
        TravelGroupTime: 2,
        Pin: 3,
        Forbidden: 2,
    }
    assert {model: _count(session, model) for model in expected} == expected


def test_canonical_fills_defaults() -> None:
    """A document that leaves defaults out and one that writes them agree under canonical()."""
    short = make_doc([student(id="s1")], [opportunity(id="o1")])
    for key in ("travel", "pins", "forbidden"):
        del short[key]
    full = copy.deepcopy(short)
    full["round"].update(holidays=[], summer=False, mentor_meeting_minutes=30)
    full["students"][0].update(
        max_commute_minutes=60.0,
        clusters=[],
        credentials=[],
        busy=[],
        preferences=[],
        priority=0,
        groups=[],
        wants_mentor=False,
        email=None,
    )
    full["opportunities"][0].update(
        transit_accessible=True,
        required_credentials=[],
        hazardous=False,
        requires_mentor=False,
        accepts=None,
    )
    full.update(travel=[], pins=[], forbidden=[])
    assert canonical(short) == canonical(full)
    assert canonical(short) != canonical(make_doc([student(id="s2")], [opportunity(id="o1")]))


def test_invalid_document_is_refused_whole(session: Session, program: Program) -> None:
    """A document with defects raises ProblemError naming each one; nothing is written."""
    doc = make_doc([student(id="s1", birth_date="2010-02-30")], [opportunity(id="o1")])
    doc["opportunities"][0]["slots"][0]["capacity"] = -1
    with pytest.raises(ProblemError) as caught:
        import_round(session, doc, program)
    paths = {issue.path for issue in caught.value.issues}
    assert {"students[0].birth_date", "opportunities[0].slots[0].capacity"} <= paths
    assert _count(session, Round) == 0


def test_reimporting_a_round_is_refused(
    session: Session, program: Program, make_program: Callable[..., Program]
) -> None:
    """The same round id twice in one program is refused; another program may import it."""
    doc = make_doc([student(id="s1")], [opportunity(id="o1")])
    import_round(session, doc, program)
    with pytest.raises(RoundExistsError, match="already has a round 'r1'"):
        import_round(session, doc, program)
    import_round(session, doc, make_program())
    assert _count(session, Round) == 2


@settings(
    max_examples=25,
    deadline=None,
    # Every example imports into a program of its own, so sharing the test's database
    # between examples cannot make one depend on another.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_random_rounds_round_trip(
    session: Session, make_program: Callable[..., Program], seed: int
) -> None:
    """Property: any small random round (pins and travel groups included) comes back equal
    under canonical()."""
    doc = with_travel_groups(random_round(seed, pins=True), seed)
    rnd = import_round(session, doc, make_program())
    session.flush()
    assert canonical(export_round(session, rnd)) == canonical(doc)


# --- Solutions ---------------------------------------------------------------------------------


@pytest.fixture
def solved(session: Session, program: Program) -> tuple[Round, SolveRun, Doc, Doc]:
    """A generated round in the database, a run, and the solver's answer (not yet stored)."""
    doc = generate_round(300, seed=3)
    rnd = import_round(session, doc, program)
    run = SolveRun(round=rnd, options={"time_limit": 10, "seed": 0})
    session.add(run)
    session.flush()
    return rnd, run, export_round(session, rnd), _solve(doc)


def test_solution_round_trips_and_passes_the_checker(
    engine: Engine, session: Session, solved: tuple[Round, SolveRun, Doc, Doc]
) -> None:
    """store_solution then solution_from_run gives back the solver's document, each
    assignment's `status` included (issue 9); check accepts it."""
    rnd, run, problem, solution = solved
    assert solution["assignments"]
    assert all(a["status"] in ("proposed", "pinned") for a in solution["assignments"])
    store_solution(session, rnd, run, solution)
    session.commit()
    with make_session_factory(engine)() as fresh:
        stored_run = fresh.get_one(SolveRun, run.id)
        back = solution_from_run(fresh, stored_run)
        problem_back = export_round(fresh, fresh.get_one(Round, rnd.id))
    assert check_solution(problem_back, back) == []
    assert back == solution
    assert check_solution(problem, back) == []


def test_pinned_placements_are_stored_as_pinned(
    session: Session, solved: tuple[Round, SolveRun, Doc, Doc]
) -> None:
    """An assignment that a pin asked for is `pinned`; the others are `proposed`."""
    rnd, run, problem, solution = solved
    store_solution(session, rnd, run, solution)
    session.flush()
    rows = session.execute(
        select(Student.external_id, Assignment.status)
        .join(Student, Assignment.student_id == Student.id)
        .where(Assignment.run_id == run.id)
    ).all()
    pinned = {p["student"] for p in problem["pins"]}
    assert pinned
    assert {s for s, status in rows if status == AssignmentStatus.pinned} == pinned
    assert len(rows) == len(solution["assignments"])


def test_storing_again_replaces_the_answer(
    session: Session, solved: tuple[Round, SolveRun, Doc, Doc]
) -> None:
    """Storing a solution into a run that holds one replaces it, rows and all."""
    rnd, run, _, solution = solved
    store_solution(session, rnd, run, solution)
    store_solution(session, rnd, run, solution)
    session.flush()
    assert _count(session, Assignment) == len(solution["assignments"])
    assert _count(session, Mentorship) == len(solution["mentorships"])
    assert _count(session, Unplaced) == len(solution["unplaced"])
    assert solution_from_run(session, run) == solution


def test_solution_with_unknown_ids_is_refused(
    session: Session, solved: tuple[Round, SolveRun, Doc, Doc]
) -> None:
    """Ids the round does not have, and a bad status, are all named; nothing is written."""
    rnd, run, _, solution = solved
    bad = copy.deepcopy(solution)
    bad["assignments"][0]["student"] = "nobody"
    bad["mentorships"][0]["mentor"] = "no-mentor"
    bad["status"] = "splendid"
    with pytest.raises(SolutionMismatchError) as caught:
        store_solution(session, rnd, run, bad)
    message = str(caught.value)
    assert "assignments[0].student: unknown student 'nobody'" in message
    assert "mentorships[0].mentor: unknown mentor 'no-mentor'" in message
    assert "status: 'splendid' is not one of" in message
    assert _count(session, Assignment) == 0


def test_run_without_answer_has_no_solution(
    session: Session, solved: tuple[Round, SolveRun, Doc, Doc]
) -> None:
    """solution_from_run of a queued run raises instead of inventing a document."""
    _, run, _, _ = solved
    with pytest.raises(ValueError, match="no solution yet"):
        solution_from_run(session, run)


def test_infeasible_answer_round_trips(session: Session, program: Program) -> None:
    """An infeasible answer keeps its infeasible_pins and no placements."""
    one_seat = opportunity(id="o1")
    doc = make_doc(
        [student(id="s1"), student(id="s2")],
        [one_seat],
        pins=[{"student": "s1", "opportunity": "o1"}, {"student": "s2", "opportunity": "o1"}],
    )
    solution = _solve(doc)
    assert solution["status"] == "infeasible"
    rnd = import_round(session, doc, program)
    run = SolveRun(round=rnd)
    session.add(run)
    session.flush()
    store_solution(session, rnd, run, solution)
    back = solution_from_run(session, run)
    assert back == solution
    assert check_solution(export_round(session, rnd), back) == []


# --- scheduler.db ------------------------------------------------------------------------------


def _create_then_fail(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        get_or_create_program(s, "rolled-back")
        raise RuntimeError("abort")


def test_database_helpers(tmp_path: Path) -> None:
    """upgrade_database, connect and transaction: a migrated database, one unit of work each."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade_database(url)
    factory = connect(url)
    try:
        assert set(Base.metadata.tables) <= set(inspect(factory.kw["bind"]).get_table_names())
        with transaction(factory) as s:
            first = get_or_create_program(s, "district-7", "District 7")
        with transaction(factory) as s:
            again = get_or_create_program(s, "district-7")
            assert (again.id, again.name) == (first.id, "District 7")
        with pytest.raises(RuntimeError, match="abort"):
            _create_then_fail(factory)
        with transaction(factory) as s:
            assert s.scalar(select(func.count()).select_from(Program)) == 1
    finally:
        factory.kw["bind"].dispose()


# --- Travel groups measured later ----------------------------------------------------------------


def _transit_groups(doc: Doc, seed: int, skip: set[str]) -> list[Doc]:
    groups = school_transit_groups(doc, seed)["travel_groups"]
    return [
        {
            **g,
            "id": g["id"].replace("transit-", "transit:"),
            "students": [s for s in g["students"] if s not in skip],
        }
        for g in groups
    ]


def test_replace_travel_groups(session: Session, program: Program) -> None:
    """Measured groups replace the earlier ones with the same prefix; other groups, their members
    and everything else stay; the version moves on and the audit says what changed."""
    doc = generate_round(300, seed=5)
    keep = doc["students"][0]["id"]
    doc["travel_groups"] = [
        {
            "id": "survey",
            "students": [keep],
            "travel": [
                {"opportunity": doc["opportunities"][0]["id"], "mode": "walk", "minutes": 7}
            ],
        }
    ]
    rnd = import_round(session, copy.deepcopy(doc), program)
    session.flush()
    version = rnd.version
    first = _transit_groups(doc, 1, {keep})
    stored = replace_travel_groups(session, rnd, first, prefix="transit:")
    assert stored == sum(len(g["travel"]) for g in first) > 0
    second = _transit_groups(doc, 2, {keep})[:1]
    replace_travel_groups(session, rnd, second, prefix="transit:")
    out = export_round(session, session.get_one(Round, rnd.id))
    assert canonical(out) == canonical({**doc, "travel_groups": [*doc["travel_groups"], *second]})
    assert _count(session, TravelGroup) == 2
    assert _count(session, TravelGroupTime) == 1 + len(second[0]["travel"])
    assert session.get_one(Round, rnd.id).version == version + 2
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "round.travel_groups").order_by(AuditEvent.id)
    ).all()
    assert [e.detail["replaced_groups"] for e in events] == [0, len(first)]
    # The solver reads what was stored.
    solution = _solve(out)
    assert check_solution(out, solution) == []


def test_replace_travel_groups_refuses_a_closed_round(session: Session, program: Program) -> None:
    doc = generate_round(60, seed=6)
    rnd = import_round(session, doc, program)
    rnd.status = RoundStatus.closed
    session.flush()
    with pytest.raises(RoundClosedError, match="closed"):
        replace_travel_groups(session, rnd, _transit_groups(doc, 1, set()), prefix="transit:")
    assert _count(session, TravelGroup) == 0
