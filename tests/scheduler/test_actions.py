"""Coordinator actions: every move checked against H1-H9 as the solver would, refused with the
rule that breaks; pins, forbidden pairs, re-solve, publish and close; the audit trail; and two
coordinators racing for the last seat of a slot."""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import scheduler.actions as actions
import scheduler.actions.checks as checks
import scheduler.actions.pins as pin_actions
import scheduler.jobs as jobs
from models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Forbidden,
    Membership,
    Mentor,
    Mentorship,
    Opportunity,
    Pin,
    Program,
    Role,
    Round,
    RoundStatus,
    RunStatus,
    Slot,
    SolutionStatus,
    SolveRun,
    Student,
    Unplaced,
    User,
    make_session_factory,
)
from models.base import Base
from scheduler.actions import ActionRefused, MoveRefused, PinRefused, RoundChanged
from scheduler.db import transaction
from scheduler.generate import generate_round
from scheduler.rounds import export_round, import_round, solution_from_run, store_solution
from solver import SolveOptions, check_solution, load_problem, solve
from solver.eligibility import refusal_codes
from solver.instance import Instance
from tests.conftest import TEST_DATABASE_ENV
from tests.solver.factories import (
    AGE_15,
    FAR,
    make_doc,
    mentor,
    opportunity,
    slot,
    student,
    weekly,
)
from tests.solver.random_rounds import school_transit_groups

Doc = dict[str, Any]

on_postgres = pytest.mark.skipif(
    not os.environ.get(TEST_DATABASE_ENV),
    reason="row locks are a PostgreSQL matter: SQLite has one writer at a time and an action"
    " takes it before reading anything, so two actions are never inside their checks at once"
    f" (set {TEST_DATABASE_ENV} to run this)",
)


# --- Building rounds -----------------------------------------------------------------------------


def _solve(doc: Doc) -> Doc:
    options = SolveOptions(time_limit=10, workers=1, seed=0, deterministic=True)
    result: Doc = json.loads(json.dumps(solve(load_problem(doc), options).to_dict()))
    return result


def _setup(session: Session, program: Program, doc: Doc, *, choose: bool = True) -> Round:
    """Import the round, solve it into a succeeded run, and choose that run."""
    rnd = import_round(session, doc, program)
    run = SolveRun(round_id=rnd.id, status=RunStatus.succeeded)
    session.add(run)
    session.flush()
    store_solution(session, rnd, run, _solve(doc))
    if choose:
        actions.choose_run(session, rnd, run, user=None)
    return rnd


def _get(session: Session, rnd: Round, model: type[Base], ext: str) -> Any:
    table = model.__table__
    stmt = select(model).where(table.c.round_id == rnd.id, table.c.external_id == ext)
    return session.scalars(stmt).one()


def _st(session: Session, rnd: Round, ext: str) -> Student:
    result: Student = _get(session, rnd, Student, ext)
    return result


def _sl(session: Session, rnd: Round, ext: str) -> Slot:
    result: Slot = _get(session, rnd, Slot, ext)
    return result


def _opp(session: Session, rnd: Round, ext: str) -> Opportunity:
    result: Opportunity = _get(session, rnd, Opportunity, ext)
    return result


def _mentor(session: Session, rnd: Round, ext: str) -> Mentor:
    result: Mentor = _get(session, rnd, Mentor, ext)
    return result


def _assignment(session: Session, rnd: Round, ext: str) -> Assignment | None:
    stmt = select(Assignment).where(
        Assignment.run_id == rnd.chosen_run_id,
        Assignment.student_id == _st(session, rnd, ext).id,
    )
    return session.scalars(stmt).one_or_none()


def _slot_of(session: Session, rnd: Round, ext: str) -> str | None:
    a = _assignment(session, rnd, ext)
    return None if a is None else session.get_one(Slot, a.slot_id).external_id


def _status(session: Session, rnd: Round, ext: str) -> AssignmentStatus:
    """The status of the student's assignment, as stored."""
    a = _assignment(session, rnd, ext)
    assert a is not None
    session.refresh(a)
    return a.status


def _valid(session: Session, rnd: Round) -> None:
    """The chosen run, as edited, is still a solution the independent checker accepts."""
    run = session.get_one(SolveRun, rnd.chosen_run_id)
    problems = check_solution(export_round(session, rnd), solution_from_run(session, run))
    assert problems == []


def _move(session: Session, rnd: Round, who: str, where: str, **kw: Any) -> actions.Outcome:
    return actions.move(session, rnd, _st(session, rnd, who), _sl(session, rnd, where), **kw)


def _refused(
    session: Session, rnd: Round, who: str, where: str, rule: str, *codes: str, **kw: Any
) -> MoveRefused:
    """Expect the move to be refused for `rule` (and these reason codes), writing nothing."""
    events = session.scalar(select(func.count()).select_from(AuditEvent))
    before = _slot_of(session, rnd, who)
    with pytest.raises(MoveRefused) as caught:
        _move(session, rnd, who, where, user=None, **kw)
    assert caught.value.rule == rule
    assert str(caught.value).startswith(rule)
    for code in codes:
        assert code in caught.value.codes
        assert f"{rule} {code}" in str(caught.value)
    assert _slot_of(session, rnd, who) == before
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == events
    return caught.value


def _accepted(session: Session, rnd: Round, who: str, where: str, **kw: Any) -> actions.Outcome:
    """Expect the move to succeed and leave a valid solution."""
    outcome = _move(session, rnd, who, where, user=None, **kw)
    assert _slot_of(session, rnd, who) == where
    _valid(session, rnd)
    return outcome


@pytest.fixture
def coordinator(session: Session, program: Program) -> User:
    """A coordinator of the program."""
    user = User(email="coord@example.org", name="Casey Coordinator")
    session.add(user)
    session.add(Membership(user=user, program=program, role=Role.coordinator))
    session.flush()
    return user


def _one_opp(**overrides: Any) -> Doc:
    """A round of student s1 and opportunity o1 with slot `a` (one seat, Tuesdays 15-17)."""
    s = {k[2:]: v for k, v in overrides.items() if k.startswith("s_")}
    o = {k[2:]: v for k, v in overrides.items() if k.startswith("o_")}
    o.setdefault("slots", [slot(id="a")])
    return make_doc(
        [student(id="s1", **s)],
        [opportunity(id="o1", **o)],
        overrides.get("mentors"),
        forbidden=overrides.get("forbidden"),
        travel=overrides.get("travel"),
    )


# --- H1 ------------------------------------------------------------------------------------------


def test_h1_moving_keeps_one_placement_and_place_refuses_a_placed_student(
    session: Session, program: Program
) -> None:
    """H1: a move replaces the student's placement; `place` refuses a student already placed."""
    doc = make_doc([student(id="s1")], [opportunity(id="o1", slots=[slot(id="a"), slot(id="b")])])
    rnd = _setup(session, program, doc)
    held = _slot_of(session, rnd, "s1")
    other = "b" if held == "a" else "a"
    with pytest.raises(MoveRefused, match="H1: student s1 already holds a placement") as caught:
        actions.place(session, rnd, _st(session, rnd, "s1"), _sl(session, rnd, other), user=None)
    assert caught.value.rule == "H1"
    _accepted(session, rnd, "s1", other)
    count = select(func.count()).select_from(Assignment)
    assert session.scalar(count.where(Assignment.run_id == rnd.chosen_run_id)) == 1


# --- H2 ------------------------------------------------------------------------------------------


def test_h2_a_full_slot_refuses_and_a_free_seat_accepts(session: Session, program: Program) -> None:
    """H2 slot capacity: the last seat taken refuses the move; a free seat elsewhere accepts."""
    doc = make_doc(
        [student(id="s1"), student(id="s2")],
        [
            opportunity(id="o1", slots=[slot(id="a")]),
            opportunity(id="o2", slots=[slot(id="b"), slot(id="c")]),
        ],
        pins=[{"student": "s1", "opportunity": "o1", "slot": "a"}],
    )
    rnd = _setup(session, program, doc)
    assert _slot_of(session, rnd, "s1") == "a"
    error = _refused(session, rnd, "s2", "a", "H2")
    assert "slot a of opportunity o1 is full (1 of 1 seats taken)" in str(error)
    _accepted(session, rnd, "s2", "c" if _slot_of(session, rnd, "s2") == "b" else "b")


@pytest.mark.parametrize("capacity", [1, 2])
def test_h2_opportunity_capacity_counts_over_its_slots(
    session: Session, program: Program, capacity: int
) -> None:
    """H2 opportunity capacity: a free slot of a full opportunity refuses; with room, accepts."""
    doc = make_doc(
        [student(id="s1"), student(id="s2")],
        [
            opportunity(id="o1", capacity=capacity, slots=[slot(id="a"), slot(id="b")]),
            opportunity(id="o2", slots=[slot(id="c")]),
        ],
        pins=[
            {"student": "s1", "opportunity": "o1", "slot": "a"},
            {"student": "s2", "opportunity": "o2"},
        ],
    )
    rnd = _setup(session, program, doc)
    actions.unpin(session, rnd, _st(session, rnd, "s2"), user=None)
    if capacity == 1:
        error = _refused(session, rnd, "s2", "b", "H2")
        assert "opportunity o1 is full (1 of its capacity 1" in str(error)
    else:
        _accepted(session, rnd, "s2", "b")


# --- H3 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refused", "accepted", "code"),
    [
        pytest.param(
            {"s_clusters": ["IT"]},
            {"s_clusters": ["IT"], "s_preferences": ["o1"]},
            "no_cluster_match",
            id="cluster",
        ),
        pytest.param({"o_min_age": 18}, {"o_min_age": 16}, "too_young", id="age"),
        pytest.param(
            {"s_birth_date": "2013-03-01"},
            {"s_birth_date": "2013-03-01", "o_kind": "job_shadow"},
            "too_young",
            id="working-age",
        ),
        pytest.param({"o_min_grade": 12}, {"o_min_grade": 11}, "grade", id="grade"),
        pytest.param(
            {"o_required_credentials": ["osha10"]},
            {"o_required_credentials": ["osha10"], "s_credentials": ["osha10"]},
            "missing_credential",
            id="credential",
        ),
        pytest.param({"o_accepts": []}, {"o_accepts": ["s1"]}, "not_accepted", id="accepts"),
        pytest.param(
            {"o_hazardous": True},
            {"o_hazardous": True, "o_kind": "apprenticeship"},
            "hazardous_minor",
            id="hazardous",
        ),
        pytest.param(
            {"forbidden": [{"student": "s1", "opportunity": "o1"}]}, {}, "forbidden", id="forbidden"
        ),
    ],
)
def test_h3_eligibility(
    session: Session,
    make_program: Callable[..., Program],
    refused: dict[str, Any],
    accepted: dict[str, Any],
    code: str,
) -> None:
    """H3 (cluster, age, grade, credential, accepts, hazardous, forbidden): refused by code."""
    bad = _setup(session, make_program(), _one_opp(**refused))
    assert _slot_of(session, bad, "s1") is None
    _refused(session, bad, "s1", "a", "H3", code)
    good = _setup(session, make_program(), _one_opp(**accepted))
    actions.unplace(session, good, _st(session, good, "s1"), user=None)
    _accepted(session, good, "s1", "a")


# --- H4-H7 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refused", "accepted", "rule", "code"),
    [
        # NEAR is a 10-minute walk from the school.
        pytest.param(
            {"s_max_commute_minutes": 9},
            {"s_max_commute_minutes": 10},
            "H4",
            "commute_too_long",
            id="H4-commute",
        ),
        pytest.param(
            {"s_travel_modes": ["transit"], "o_transit_accessible": False},
            {"s_travel_modes": ["transit"]},
            "H4",
            "no_transport_mode",
            id="H4-mode",
        ),
        # The shift ends at 17:00; with 10 minutes of travel, busy from 17:10 is just clear.
        pytest.param(
            {"s_busy": [weekly("tue", "17:09", "18:00")]},
            {"s_busy": [weekly("tue", "17:10", "18:00")]},
            "H5",
            "schedule_conflict",
            id="H5-schedule",
        ),
        pytest.param(
            {"s_max_weekly_hours": 1.5},
            {"s_max_weekly_hours": 2},
            "H6",
            "over_weekly_hours",
            id="H6-hours",
        ),
        pytest.param(
            {
                "s_birth_date": AGE_15,
                "o_slots": [slot(id="a", blocks=[weekly("tue", "18:00", "20:00")])],
            },
            {
                "s_birth_date": AGE_15,
                "o_slots": [slot(id="a", blocks=[weekly("tue", "16:00", "19:00")])],
            },
            "H7",
            "child_labour_hours",
            id="H7-child-labour",
        ),
    ],
)
def test_h4_to_h7_pair_and_slot_rules(
    session: Session,
    make_program: Callable[..., Program],
    refused: dict[str, Any],
    accepted: dict[str, Any],
    rule: str,
    code: str,
) -> None:
    """H4 commute, H5 schedule, H6 hours, H7 child labour: refused past the limit, not at it."""
    bad = _setup(session, make_program(), _one_opp(**refused))
    _refused(session, bad, "s1", "a", rule, code)
    good = _setup(session, make_program(), _one_opp(**accepted))
    actions.unplace(session, good, _st(session, good, "s1"), user=None)
    _accepted(session, good, "s1", "a")


def test_h4_travel_and_preference_rank_are_recomputed(session: Session, program: Program) -> None:
    """H4: a moved placement carries the solver's mode and minutes (overrides win) and rank."""
    doc = make_doc(
        [student(id="s1", travel_modes=["walk", "car"], preferences=["o2", "o1"])],
        [
            opportunity(id="o1", location=dict(FAR), slots=[slot(id="a")]),
            opportunity(id="o2", slots=[slot(id="b")]),
        ],
        travel=[{"student": "s1", "opportunity": "o1", "mode": "walk", "minutes": 7}],
    )
    rnd = _setup(session, program, doc)
    outcome = _accepted(session, rnd, "s1", "a")
    assert outcome.after["travel_mode"] == "walk"
    assert outcome.after["travel_minutes"] == 7
    assert outcome.after["preference_rank"] == 2
    a = _assignment(session, rnd, "s1")
    assert a is not None
    assert (a.travel_mode, a.travel_minutes, a.preference_rank) == ("walk", 7, 2)


# --- H8 ------------------------------------------------------------------------------------------


def _mentored_doc(capacity: int) -> Doc:
    return make_doc(
        [student(id="s1"), student(id="s2")],
        [
            opportunity(
                id="o1", requires_mentor=True, slots=[slot(id="a", capacity=2)], cluster="HLTH"
            ),
            opportunity(id="o2", slots=[slot(id="b")]),
        ],
        [
            mentor(id="m1", employer="emp1", clusters=["HLTH"], capacity=capacity),
            mentor(id="m2", employer="emp2", capacity=5),
            mentor(id="c1", capacity=5, available=[weekly("mon", "16:00", "17:00")]),
        ],
        pins=[
            {"student": "s1", "opportunity": "o1", "slot": "a"},
            {"student": "s2", "opportunity": "o2"},
        ],
    )


def test_h8_workplace_mentor_is_picked_when_one_is_free(session: Session, program: Program) -> None:
    """H8: moving into an opportunity requiring a mentor picks a workplace mentor with room."""
    rnd = _setup(session, program, _mentored_doc(capacity=2))
    actions.unpin(session, rnd, _st(session, rnd, "s2"), user=None)
    outcome = _accepted(session, rnd, "s2", "a")
    assert outcome.after["mentor"] == "m1"


def test_h8_full_workplace_mentors_refuse(session: Session, program: Program) -> None:
    """H8: every workplace mentor of the employer is full, so the move is refused."""
    rnd = _setup(session, program, _mentored_doc(capacity=1))
    actions.unpin(session, rnd, _st(session, rnd, "s2"), user=None)
    error = _refused(session, rnd, "s2", "a", "H8")
    assert "every workplace mentor that fits is full (m1 1/1)" in str(error)


def test_h8_a_required_mentor_must_exist(session: Session, program: Program) -> None:
    """H8: an opportunity requiring a mentor, with no workplace mentor, refuses the move."""
    rnd = _setup(session, program, _one_opp(o_requires_mentor=True))
    error = _refused(session, rnd, "s1", "a", "H8")
    assert "has no workplace mentor" in str(error)


def test_h8_the_named_mentor_must_fit(session: Session, program: Program) -> None:
    """H8: a mentor of another employer, or any mentor where none is required, is refused."""
    rnd = _setup(session, program, _mentored_doc(capacity=2))
    actions.unpin(session, rnd, _st(session, rnd, "s2"), user=None)
    m2 = _mentor(session, rnd, "m2")
    error = _refused(session, rnd, "s2", "a", "H8", mentor=m2)
    assert "not a workplace mentor of employer emp1" in str(error)
    m1 = _mentor(session, rnd, "m1")
    actions.unplace(session, rnd, _st(session, rnd, "s2"), user=None)
    error = _refused(session, rnd, "s2", "b", "H8", mentor=m1)
    assert "does not require a mentor" in str(error)


def test_h8_a_community_meeting_that_clashes_is_dropped(session: Session, program: Program) -> None:
    """H8: a community meeting clashing with the new slot is dropped, with a note."""
    doc = make_doc(
        [student(id="s1", wants_mentor=True)],
        [
            opportunity(id="o1", slots=[slot(id="w", blocks=[weekly("wed", "15:00", "17:00")])]),
            opportunity(id="o2", slots=[slot(id="t", blocks=[weekly("tue", "15:00", "17:00")])]),
        ],
        [mentor(id="c1", available=[weekly("tue", "15:00", "16:00")])],
    )
    rnd = _setup(session, program, doc)
    assert _slot_of(session, rnd, "s1") == "w"
    run = session.get_one(SolveRun, rnd.chosen_run_id)
    assert run.metrics is not None
    assert run.metrics["mentored"] == 1
    outcome = _accepted(session, rnd, "s1", "t")
    assert any("community mentorship with c1 dropped" in note for note in outcome.notes)
    assert session.scalar(select(func.count()).select_from(Mentorship)) == 0
    assert run.metrics["mentored"] == 0
    assert outcome.event.detail["notes"] == list(outcome.notes)


# --- H9 ------------------------------------------------------------------------------------------


def test_h9_a_pin_elsewhere_refuses_and_a_pin_to_the_opportunity_allows(
    session: Session, program: Program
) -> None:
    """H9: a pin elsewhere refuses the move; another slot of the pinned opportunity is fine."""
    doc = make_doc(
        [student(id="s1")],
        [
            opportunity(id="o1", slots=[slot(id="a"), slot(id="b")]),
            opportunity(id="o2", slots=[slot(id="c")]),
        ],
        pins=[{"student": "s1", "opportunity": "o1"}],
    )
    rnd = _setup(session, program, doc)
    error = _refused(session, rnd, "s1", "c", "H9")
    assert "pinned to opportunity o1" in str(error)
    _accepted(session, rnd, "s1", "b" if _slot_of(session, rnd, "s1") == "a" else "a")


def test_h9_free_seats_held_for_pinned_students_refuse(session: Session, program: Program) -> None:
    """H9: the last free seat of a slot that another student is pinned to is not free."""
    doc = make_doc(
        [student(id="s1"), student(id="s2")],
        [opportunity(id="o1", slots=[slot(id="a")]), opportunity(id="o2", slots=[slot(id="b")])],
    )
    rnd = _setup(session, program, doc)
    # Whoever holds `a` leaves it; the other is pinned to it without being moved yet.
    leaver = "s1" if _slot_of(session, rnd, "s1") == "a" else "s2"
    waiter = "s2" if leaver == "s1" else "s1"
    actions.unplace(session, rnd, _st(session, rnd, leaver), user=None)
    outcome = actions.pin(
        session,
        rnd,
        _st(session, rnd, waiter),
        _opp(session, rnd, "o1"),
        _sl(session, rnd, "a"),
        user=None,
    )
    assert any("does not place the student there yet" in note for note in outcome.notes)
    error = _refused(session, rnd, leaver, "a", "H9")
    assert f"held for pinned students {waiter}" in str(error)
    _accepted(session, rnd, waiter, "a")


def test_h9_a_pin_without_slot_holds_a_seat_of_an_opportunity_without_capacity(
    session: Session, program: Program
) -> None:
    """H9: o1 (no capacity of its own) has slots a and b of one seat; s1 holds a, s3 is pinned
    to o1 with no slot and not placed yet: b is held for s3, so s2 cannot take it, and s3
    can."""
    doc = make_doc(
        [student(id="s1", priority=2), student(id="s2"), student(id="s3")],
        [
            opportunity(id="o1", slots=[slot(id="a"), slot(id="b")]),
            opportunity(id="o2", slots=[slot(id="c", capacity=2)]),
        ],
        pins=[{"student": "s1", "opportunity": "o1", "slot": "a"}],
    )
    rnd = _setup(session, program, doc)
    for who in ("s2", "s3"):  # both out of o1, into o2's two seats, not pinned
        if _slot_of(session, rnd, who) != "c":
            _accepted(session, rnd, who, "c", pin=False)
    actions.pin(session, rnd, _st(session, rnd, "s3"), _opp(session, rnd, "o1"), user=None)
    error = _refused(session, rnd, "s2", "b", "H9")
    assert "held for pinned students s3" in str(error)
    _accepted(session, rnd, "s3", "b")


def _mentor_pin_round(session: Session, program: Program, capacities: dict[str, int]) -> Round:
    """s2 and s3 at o2; o1 requires a workplace mentor (`capacities` by mentor id, emp1); s3 is
    pinned to o1 with m1 but not moved there yet, so one place of m1 waits for s3."""
    doc = make_doc(
        [student(id="s2"), student(id="s3")],
        [
            opportunity(id="o1", requires_mentor=True, slots=[slot(id="a", capacity=3)]),
            opportunity(id="o2", slots=[slot(id="b", capacity=2)]),
        ],
        [
            mentor(id=ident, employer="emp1", clusters=["HLTH"], capacity=capacity)
            for ident, capacity in capacities.items()
        ],
        pins=[{"student": "s2", "opportunity": "o2"}, {"student": "s3", "opportunity": "o2"}],
    )
    rnd = _setup(session, program, doc)
    for who in ("s2", "s3"):
        actions.unpin(session, rnd, _st(session, rnd, who), user=None)
    s3, o1 = _st(session, rnd, "s3"), _opp(session, rnd, "o1")
    outcome = actions.pin(session, rnd, s3, o1, mentor=_mentor(session, rnd, "m1"), user=None)
    assert any("does not place the student there yet" in note for note in outcome.notes)
    assert _slot_of(session, rnd, "s3") == "b"
    return rnd


def _mentor_of(session: Session, rnd: Round, who: str) -> str | None:
    a = _assignment(session, rnd, who)
    assert a is not None
    return None if a.mentor_id is None else session.get_one(Mentor, a.mentor_id).external_id


def test_h9_a_mentor_place_held_for_a_pinned_student_is_not_picked(
    session: Session, program: Program
) -> None:
    """H9: a move picks a mentor whose places no waiting pin of another student holds."""
    rnd = _mentor_pin_round(session, program, {"m1": 1, "m2": 1})
    error = _refused(session, rnd, "s2", "a", "H9", mentor=_mentor(session, rnd, "m1"))
    assert "m1 0/1 held for s3" in str(error)
    outcome = _move(session, rnd, "s2", "a", user=None)
    assert (outcome.after["mentor"], _mentor_of(session, rnd, "s2")) == ("m2", "m2")
    _accepted(session, rnd, "s3", "a")
    assert _mentor_of(session, rnd, "s3") == "m1"


def test_h9_the_last_mentor_place_held_for_a_pin_refuses_the_move(
    session: Session, program: Program
) -> None:
    """H9: the only fitting mentor's last place waits for a pinned student: refused; once that
    student holds it, the mentor is full (H8)."""
    rnd = _mentor_pin_round(session, program, {"m1": 1})
    error = _refused(session, rnd, "s2", "a", "H9")
    assert "held for pinned students (m1 0/1 held for s3)" in str(error)
    with pytest.raises(PinRefused, match="H8: mentor m1 has 1 places and pins of other") as caught:
        actions.pin(
            session,
            rnd,
            _st(session, rnd, "s2"),
            _opp(session, rnd, "o1"),
            mentor=_mentor(session, rnd, "m1"),
            user=None,
        )
    assert caught.value.rule == "H8"
    _accepted(session, rnd, "s3", "a")
    error = _refused(session, rnd, "s2", "a", "H8")
    assert "every workplace mentor that fits is full (m1 1/1)" in str(error)


def test_h9_a_mentor_pin_once_honoured_is_counted_once(session: Session, program: Program) -> None:
    """H9/H8: a pinned student holding their mentor takes one place, not a held one as well."""
    rnd = _mentor_pin_round(session, program, {"m1": 2})
    _accepted(session, rnd, "s3", "a")
    assert _mentor_of(session, rnd, "s3") == "m1"
    _accepted(session, rnd, "s2", "a")
    assert _mentor_of(session, rnd, "s2") == "m1"


# --- Pins, forbidden pairs ----------------------------------------------------------------------


def test_pin_and_unpin(session: Session, program: Program, coordinator: User) -> None:
    """H9 pins: a pin matching the chosen run marks the assignment pinned; unpinning reverts."""
    rnd = _setup(session, program, _one_opp())
    s1, o1, a = _st(session, rnd, "s1"), _opp(session, rnd, "o1"), _sl(session, rnd, "a")
    assignment = _assignment(session, rnd, "s1")
    assert assignment is not None
    assert _status(session, rnd, "s1") == AssignmentStatus.proposed
    outcome = actions.pin(session, rnd, s1, o1, a, user=coordinator)
    assert outcome.after == [{"opportunity": "o1", "slot": "a", "mentor": None}]
    assert _status(session, rnd, "s1") == AssignmentStatus.pinned
    assert session.scalar(select(func.count()).select_from(Pin)) == 1
    again = actions.pin(session, rnd, s1, o1, a, user=coordinator)
    assert "already exists" in again.notes[0]
    assert session.scalar(select(func.count()).select_from(Pin)) == 1
    _valid(session, rnd)
    actions.unpin(session, rnd, s1, user=coordinator)
    assert _status(session, rnd, "s1") == AssignmentStatus.proposed
    assert session.scalar(select(func.count()).select_from(Pin)) == 0
    with pytest.raises(PinRefused, match="has no pin"):
        actions.unpin(session, rnd, s1, user=coordinator)


@pytest.mark.parametrize(
    ("overrides", "rule", "text"),
    [
        pytest.param({"o_min_age": 18}, "H3", "H3 too_young", id="H3-age"),
        pytest.param(
            {"forbidden": [{"student": "s1", "opportunity": "o1"}]},
            "H3",
            "H3 forbidden",
            id="H3-forbidden",
        ),
        pytest.param(
            {"s_busy": [weekly("tue", "14:00", "16:00")]},
            "H5",
            "H5 schedule_conflict",
            id="H5-schedule",
        ),
        pytest.param({"o_requires_mentor": True}, "H8", "no workplace mentor", id="H8-none"),
    ],
)
def test_a_pin_that_cannot_hold_is_refused(
    session: Session, program: Program, overrides: dict[str, Any], rule: str, text: str
) -> None:
    """H3-H8: a pin that cannot hold on its own is refused with the rule, and not stored."""
    rnd = _setup(session, program, _one_opp(**overrides))
    with pytest.raises(PinRefused) as caught:
        actions.pin(session, rnd, _st(session, rnd, "s1"), _opp(session, rnd, "o1"), user=None)
    assert caught.value.rule == rule
    assert text in str(caught.value)
    assert session.scalar(select(func.count()).select_from(Pin)) == 0


def test_pin_mentor_rules_and_conflicting_pins(session: Session, program: Program) -> None:
    """H8/H1/H2 pins: wrong kind of mentor, a second pin elsewhere, a slot other pins fill."""
    doc = make_doc(
        [student(id="s1"), student(id="s2")],
        [opportunity(id="o1", slots=[slot(id="a")]), opportunity(id="o2", slots=[slot(id="b")])],
        [
            mentor(id="m1", employer="emp1"),
            mentor(id="c1", available=[weekly("mon", "16:00", "17:00")]),
        ],
    )
    rnd = _setup(session, program, doc)
    s1, s2 = _st(session, rnd, "s1"), _st(session, rnd, "s2")
    o1, o2, a = _opp(session, rnd, "o1"), _opp(session, rnd, "o2"), _sl(session, rnd, "a")
    m1, c1 = _mentor(session, rnd, "m1"), _mentor(session, rnd, "c1")
    with pytest.raises(PinRefused, match=r"H8: .* is a workplace mentor"):
        actions.pin(session, rnd, s1, o1, mentor=m1, user=None)
    with pytest.raises(PinRefused, match=r"H8: .* does not want a mentor"):
        actions.pin(session, rnd, s1, o1, mentor=c1, user=None)
    actions.pin(session, rnd, s1, o1, a, user=None)
    with pytest.raises(PinRefused, match="H1: student s1 is already pinned to opportunity o1"):
        actions.pin(session, rnd, s1, o2, user=None)
    with pytest.raises(PinRefused, match="H2: slot a has 1 seats and pins of other students"):
        actions.pin(session, rnd, s2, o1, a, user=None)


def test_pin_community_mentor_needs_a_meeting_time(session: Session, program: Program) -> None:
    """H8 pins: a community mentor free only while the student is busy (or in the slot's
    shift) is refused; one free after it is accepted."""
    doc = make_doc(
        [student(id="s1", wants_mentor=True, busy=[weekly("mon", "15:00", "16:30")])],
        [opportunity(id="o1", slots=[slot(id="a", blocks=[weekly("tue", "15:00", "17:00")])])],
        [
            mentor(id="busy", available=[weekly("mon", "15:00", "16:30")]),
            mentor(id="shift", available=[weekly("tue", "16:00", "17:00")]),
            mentor(id="free", available=[weekly("mon", "16:15", "17:00")]),
        ],
    )
    rnd = _setup(session, program, doc)
    s1, o1, a = _st(session, rnd, "s1"), _opp(session, rnd, "o1"), _sl(session, rnd, "a")
    for who in ("busy", "shift"):
        with pytest.raises(PinRefused, match="has no free 30-minute meeting time") as caught:
            actions.pin(session, rnd, s1, o1, a, mentor=_mentor(session, rnd, who), user=None)
        assert caught.value.rule == "H8"
    actions.pin(session, rnd, s1, o1, a, mentor=_mentor(session, rnd, "free"), user=None)


def test_forbid_adds_the_pair_and_unplaces_the_student(
    session: Session, program: Program, coordinator: User
) -> None:
    """H3 forbidden: forbid stores the pair and unplaces the chosen run's student there."""
    rnd = _setup(session, program, _one_opp())
    s1, o1 = _st(session, rnd, "s1"), _opp(session, rnd, "o1")
    outcome = actions.forbid(session, rnd, s1, o1, user=coordinator)
    assert outcome.before["placement"]["slot"] == "a"
    assert session.scalar(select(func.count()).select_from(Forbidden)) == 1
    assert _assignment(session, rnd, "s1") is None
    reasons = session.scalars(select(Unplaced.reasons)).one()
    assert reasons[0]["code"] == "forbidden"
    _valid(session, rnd)
    _refused(session, rnd, "s1", "a", "H3", "forbidden")


@pytest.mark.parametrize("other_seat", [False, True], ids=["only-option", "another-option"])
def test_forbid_keeps_an_unplaced_students_reasons_true(
    session: Session, program: Program, other_seat: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reasons: s2 is unplaced because s1 holds the one seat (capacity_taken). Forbidding s2's
    only option makes "eligible somewhere, but the seats went to others" false: the reason
    becomes `forbidden`. With another full opportunity s2 could take, capacity_taken stays."""
    opps = [opportunity(id="o1", slots=[slot(id="a")])]
    if other_seat:
        opps.append(opportunity(id="o2", slots=[slot(id="b")]))
    students = [student(id="s1", priority=1), student(id="s2")]
    if other_seat:
        students.append(student(id="s3", priority=1))
    rnd = _setup(session, program, make_doc(students, opps))
    s2 = _st(session, rnd, "s2")
    assert _assignment(session, rnd, "s2") is None
    codes = {r["code"] for r in session.scalars(select(Unplaced.reasons)).one()}
    assert "capacity_taken" in codes
    held = "o1" if _slot_of(session, rnd, "s1") == "a" else "o2"
    # One opportunity per block: the loop runs.
    monkeypatch.setattr(pin_actions, "_RECHECK_BLOCK", 1)
    outcome = actions.forbid(session, rnd, s2, _opp(session, rnd, held), user=None)
    codes = {r["code"] for r in session.scalars(select(Unplaced.reasons)).one()}
    assert "forbidden" in codes
    assert ("capacity_taken" in codes) == other_seat
    assert any("reasons" in note for note in outcome.notes) != other_seat
    _valid(session, rnd)


def test_forbid_is_refused_when_a_pin_requires_the_pair(session: Session, program: Program) -> None:
    """H9: a pair that a pin requires cannot be forbidden."""
    doc = _one_opp()
    doc["pins"] = [{"student": "s1", "opportunity": "o1"}]
    rnd = _setup(session, program, doc)
    with pytest.raises(PinRefused, match="H9: student s1 is pinned to opportunity o1") as caught:
        actions.forbid(session, rnd, _st(session, rnd, "s1"), _opp(session, rnd, "o1"), user=None)
    assert caught.value.rule == "H9"
    assert session.scalar(select(func.count()).select_from(Forbidden)) == 0


def test_unplace_refuses_a_pinned_student_unless_unpinned(
    session: Session, program: Program
) -> None:
    """H9: unplacing a pinned student is refused, unless the pins go too."""
    rnd = _setup(session, program, _one_opp())
    _accepted(session, rnd, "s1", "a")  # a manual move pins
    s1 = _st(session, rnd, "s1")
    with pytest.raises(MoveRefused, match="H9: student s1 is pinned to opportunity o1 slot a"):
        actions.unplace(session, rnd, s1, user=None)
    outcome = actions.unplace(session, rnd, s1, user=None, unpin=True)
    assert outcome.after is None
    assert session.scalar(select(func.count()).select_from(Pin)) == 0
    _valid(session, rnd)


def test_a_manual_move_is_pinned_unless_asked_not_to(session: Session, program: Program) -> None:
    """H9: a move pins the student there (so a re-solve keeps it); pin=False does not."""
    doc = make_doc([student(id="s1")], [opportunity(id="o1", slots=[slot(id="a"), slot(id="b")])])
    rnd = _setup(session, program, doc)
    first = _slot_of(session, rnd, "s1")
    other = "b" if first == "a" else "a"
    _accepted(session, rnd, "s1", other, pin=False)
    assert session.scalar(select(func.count()).select_from(Pin)) == 0
    a = _assignment(session, rnd, "s1")
    assert a is not None
    assert _status(session, rnd, "s1") == AssignmentStatus.proposed
    _accepted(session, rnd, "s1", first or "a")
    assert _status(session, rnd, "s1") == AssignmentStatus.pinned
    pins = session.scalars(select(Pin)).all()
    assert [(p.opportunity_id, p.slot_id) for p in pins] == [(a.opportunity_id, a.slot_id)]


# --- One pair, the same answer as the whole round ------------------------------------------------


@pytest.mark.parametrize("grouped", [False, True], ids=["overrides", "travel-groups"])
def test_pair_refusals_match_the_whole_round(
    session: Session, program: Program, grouped: bool
) -> None:
    """H3-H7: the one-pair problem gives the whole round's reason codes, pair by pair; with
    transit times per school (travel groups) too."""
    doc = generate_round(400, seed=11)
    if grouped:
        doc = school_transit_groups(doc, seed=11)
    rnd = import_round(session, doc, program)
    full = Instance(load_problem(export_round(session, rnd)))
    students = {s.external_id: s for s in session.scalars(select(Student))}
    opps = {o.external_id: o for o in session.scalars(select(Opportunity))}
    slots = {s.external_id: s for s in session.scalars(select(Slot))}
    rng = random.Random(7)
    pairs = [
        (rng.choice(doc["students"])["id"], rng.choice(doc["opportunities"])) for _ in range(300)
    ]
    by_id = {o["id"]: o for o in doc["opportunities"]}
    named = [
        *((t["student"], t["opportunity"]) for t in doc["travel"]),
        *((f["student"], f["opportunity"]) for f in doc["forbidden"]),
        *((p["student"], p["opportunity"]) for p in doc["pins"]),
        *((s, o["id"]) for o in doc["opportunities"] for s in o.get("accepts") or ()),
        # Ranked choices: the cluster rule lets them in.
        *((s["id"], s["preferences"][-1]) for s in doc["students"][:50] if s["preferences"]),
        # Members and their group's times, unreachable ones among them.
        *(
            (sid, t["opportunity"])
            for g in doc.get("travel_groups") or ()
            for sid in g["students"][:10]
            for t in g["travel"][:12]
        ),
    ]
    pairs += [(s, by_id[o]) for s, o in named]
    refused = total = no_transit = 0
    for sid, o in pairs:
        for sl in [None, *(x["id"] for x in o["slots"])]:
            expected = refusal_codes(
                full,
                full.student_ix[sid],
                full.opp_ix[o["id"]],
                None if sl is None else full.slot_ix[sl],
            )
            got = actions.pair_refusals(
                session, rnd, students[sid], opps[o["id"]], None if sl is None else slots[sl]
            )
            assert got == expected, (sid, o["id"], sl)
            refused += bool(expected)
            no_transit += "no_transport_mode" in expected
            total += 1
    assert 0 < refused < total  # both answers occur
    assert no_transit > 0 or not grouped


# --- The round's lifecycle --------------------------------------------------------------------


@pytest.mark.parametrize("change", ["forbid", "pin"])
def test_choose_refuses_a_run_solved_before_a_forbid_or_pin(
    session: Session, program: Program, change: str
) -> None:
    """H9: a run solved before a pair was forbidden, or before a pin was added, no longer fits
    the round and cannot be chosen; a run that still fits can."""
    doc = make_doc(
        [student(id="s1")],
        [opportunity(id="o1", slots=[slot(id="a")]), opportunity(id="o2", slots=[slot(id="b")])],
    )
    rnd = _setup(session, program, doc, choose=False)
    run = session.scalars(select(SolveRun).where(SolveRun.round_id == rnd.id)).one()
    s1 = _st(session, rnd, "s1")
    held = session.scalars(select(Assignment).where(Assignment.student_id == s1.id)).one()
    other = _opp(session, rnd, "o2" if _opp(session, rnd, "o1").id == held.opportunity_id else "o1")
    if change == "forbid":
        actions.forbid(
            session, rnd, s1, session.get_one(Opportunity, held.opportunity_id), user=None
        )
    else:
        actions.pin(session, rnd, s1, other, user=None)
    with pytest.raises(ActionRefused, match=f"H9: run {run.id} no longer fits the round") as caught:
        actions.choose_run(session, rnd, run, user=None)
    assert caught.value.rule == "H9"
    assert session.get_one(Round, rnd.id).chosen_run_id is None
    if change == "pin":  # the pin that held it back is gone: the run fits again
        actions.unpin(session, rnd, s1, user=None)
        actions.choose_run(session, rnd, run, user=None)
        assert session.get_one(Round, rnd.id).chosen_run_id == run.id


def test_choose_publish_close(session: Session, program: Program, coordinator: User) -> None:
    """Lifecycle: choose -> review, publish -> published, close -> closed, then all refused."""
    rnd = _setup(session, program, _one_opp(), choose=False)
    assert (rnd.status, rnd.chosen_run_id) == (RoundStatus.draft, None)
    with pytest.raises(ActionRefused, match="has no chosen run") as caught:
        actions.publish(session, rnd, user=coordinator)
    assert caught.value.rule == "state"
    run = session.scalars(select(SolveRun)).one()
    version = rnd.version
    actions.choose_run(session, rnd, run, user=coordinator)
    assert (rnd.chosen_run_id, rnd.status) == (run.id, RoundStatus.review)
    assert rnd.version == version + 1
    outcome = actions.publish(session, rnd, user=coordinator, expected_version=rnd.version)
    assert (rnd.status, rnd.chosen_run) == (RoundStatus.published, run)
    assert outcome.before["assignments"] == {"proposed": 1}
    assert outcome.after["assignments"] == {"published": 1}
    assert {a.status for a in session.scalars(select(Assignment))} == {AssignmentStatus.published}
    actions.close(session, rnd, user=coordinator)
    assert rnd.status == RoundStatus.closed
    s1, o1, a = _st(session, rnd, "s1"), _opp(session, rnd, "o1"), _sl(session, rnd, "a")
    attempts: list[Callable[[], object]] = [
        lambda: actions.move(session, rnd, s1, a, user=None),
        lambda: actions.pin(session, rnd, s1, o1, user=None),
        lambda: actions.forbid(session, rnd, s1, o1, user=None),
        lambda: actions.publish(session, rnd, user=None),
        lambda: actions.close(session, rnd, user=None),
        lambda: actions.resolve(session, rnd, user=None),
    ]
    for attempt in attempts:
        with pytest.raises(ActionRefused, match="is closed") as caught:
            attempt()
        assert caught.value.rule == "state"


def test_only_a_succeeded_run_of_the_round_can_be_chosen(
    session: Session, make_program: Callable[..., Program]
) -> None:
    """Lifecycle: a failed run, or a run of another round, cannot be chosen."""
    rnd = _setup(session, make_program(), _one_opp(), choose=False)
    other = _setup(session, make_program(), _one_opp(), choose=False)
    failed = SolveRun(round_id=rnd.id, status=RunStatus.failed)
    session.add(failed)
    session.flush()
    with pytest.raises(ActionRefused, match="has not succeeded"):
        actions.choose_run(session, rnd, failed, user=None)
    foreign = session.scalars(select(SolveRun).where(SolveRun.round_id == other.id)).one()
    with pytest.raises(ActionRefused, match="belongs to another round"):
        actions.choose_run(session, rnd, foreign, user=None)
    assert rnd.chosen_run_id is None


def test_a_stale_round_is_refused(engine: Engine, session: Session, program: Program) -> None:
    """Round.version: an action against a round changed since it was loaded is refused."""
    rnd = _setup(session, program, _one_opp())
    session.commit()
    factory = make_session_factory(engine)
    with factory() as mine, factory() as theirs:
        my_round = mine.get_one(Round, rnd.id)
        their_round = theirs.get_one(Round, rnd.id)
        actions.publish(theirs, their_round, user=None)
        theirs.commit()
        s1, a = _st(mine, my_round, "s1"), _sl(mine, my_round, "a")
        with pytest.raises(RoundChanged, match="changed since it was loaded") as caught:
            actions.move(mine, my_round, s1, a, user=None)
        assert caught.value.rule == "version"
        mine.rollback()
        fresh = mine.get_one(Round, rnd.id)
        mine.refresh(fresh)
        with pytest.raises(RoundChanged):
            actions.close(mine, fresh, user=None, expected_version=fresh.version - 1)


# --- The audit trail ---------------------------------------------------------------------------


def test_every_action_is_audited(session: Session, program: Program, coordinator: User) -> None:
    """Audit: each action writes one event with the user, the target and before/after."""
    doc = make_doc(
        [student(id="s1"), student(id="s2")],
        [opportunity(id="o1", slots=[slot(id="a", capacity=2), slot(id="b", capacity=2)])],
    )
    rnd = _setup(session, program, doc, choose=False)
    run = session.scalars(select(SolveRun)).one()
    s1, s2, o1 = _st(session, rnd, "s1"), _st(session, rnd, "s2"), _opp(session, rnd, "o1")
    actions.choose_run(session, rnd, run, user=coordinator)
    held = _slot_of(session, rnd, "s1")
    target = "b" if held == "a" else "a"
    actions.move(session, rnd, s1, _sl(session, rnd, target), user=coordinator)
    actions.unpin(session, rnd, s1, user=coordinator)
    actions.pin(session, rnd, s1, o1, user=coordinator)
    actions.unplace(session, rnd, s2, user=coordinator)
    actions.forbid(session, rnd, s2, o1, user=coordinator)
    new_run = actions.resolve(session, rnd, user=coordinator, options={"time_limit": 5})
    actions.publish(session, rnd, user=coordinator)
    actions.close(session, rnd, user=coordinator)
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == [
        "round.choose_run",
        "assignment.move",
        "pin.remove",
        "pin.add",
        "assignment.unplace",
        "forbidden.add",
        "round.resolve",
        "round.publish",
        "round.close",
    ]
    for e in events:
        assert (e.program_id, e.round_id, e.user_id) == (program.id, rnd.id, coordinator.id)
        assert {"before", "after"} <= set(e.detail)
        assert e.detail["user"] == "coord@example.org"
        assert e.target_type
        assert e.target_id
    move, unplace = events[1], events[4]
    assert (move.target_type, move.target_id) == ("students", "s1")
    assert move.detail["before"]["slot"] == held
    assert move.detail["after"]["slot"] == target
    assert move.detail["after"]["status"] == "pinned"
    assert unplace.detail["before"]["opportunity"] == "o1"
    assert unplace.detail["after"] is None
    assert events[6].detail["after"]["options"] == {"time_limit": 5, "previous_run": run.id}
    assert new_run.options["previous_run"] == run.id
    assert events[8].detail == {
        "before": {"status": "published"},
        "after": {"status": "closed"},
        "version": rnd.version,
        "user": "coord@example.org",
    }


# --- Re-solving -------------------------------------------------------------------------------


def test_resolve_keeps_published_and_moved_placements(
    engine: Engine, program: Program, session: Session
) -> None:
    """Re-solve: previous_run keeps published placements and manual moves; statuses carry."""
    session.commit()
    factory = make_session_factory(engine)
    doc = generate_round(120, seed=5)
    with transaction(factory) as s:
        rnd = import_round(s, doc, s.get_one(Program, program.id))
        first = jobs.create_run(s, rnd, {"time_limit": 10, "workers": 1, "deterministic": True})
        round_id, first_id = rnd.id, first.id
    assert jobs.execute_run(factory, first_id) == RunStatus.succeeded
    with transaction(factory) as s:
        rnd = s.get_one(Round, round_id)
        actions.choose_run(s, rnd, s.get_one(SolveRun, first_id), user=None)
        actions.publish(s, rnd, user=None)
    # Move one published student to another seat they may take.
    with transaction(factory) as s:
        rnd = s.get_one(Round, round_id)
        placed = s.scalars(
            select(Assignment).where(Assignment.run_id == first_id).order_by(Assignment.id)
        ).all()
        moved: tuple[str, str] | None = None
        for a in placed:
            st = s.get_one(Student, a.student_id)
            if s.scalar(select(func.count()).select_from(Pin).where(Pin.student_id == st.id)):
                continue
            for sl in s.scalars(
                select(Slot).where(Slot.round_id == round_id, Slot.id != a.slot_id)
            ):
                try:
                    actions.move(s, rnd, st, sl, user=None)
                except MoveRefused:
                    continue
                moved = (st.external_id, sl.external_id)
                break
            if moved:
                break
        assert moved is not None
        # Everyone else is still published where the first run put them.
        published = {
            s.get_one(Student, a.student_id).external_id: s.get_one(Slot, a.slot_id).external_id
            for a in placed
            if a.status == AssignmentStatus.published
        }
        assert moved[0] not in published
        again = actions.resolve(
            s, rnd, user=None, options={"time_limit": 10, "workers": 1, "deterministic": True}
        )
        again_id = again.id
    assert jobs.execute_run(factory, again_id) == RunStatus.succeeded
    with transaction(factory) as s:
        rnd = s.get_one(Round, round_id)
        run = s.get_one(SolveRun, again_id)
        assert run.options["previous_run"] == first_id
        assert run.result is not None
        assert "changes" in run.result
        after = {
            s.get_one(Student, a.student_id).external_id: s.get_one(Slot, a.slot_id).external_id
            for a in s.scalars(select(Assignment).where(Assignment.run_id == again_id))
        }
        assert after[moved[0]] == moved[1]
        for who, where in published.items():
            if who != moved[0]:
                assert after.get(who) == where, who
        assert check_solution(export_round(s, rnd), solution_from_run(s, run)) == []
        # The round stays published (its chosen run is) while the re-solve awaits review.
        assert rnd.status == RoundStatus.published
        outcome = actions.choose_run(s, rnd, run, user=None)
        assert outcome.after["carried_over"] == len(published)
        statuses = s.scalars(
            select(Assignment.status).where(
                Assignment.run_id == again_id, Assignment.status == AssignmentStatus.published
            )
        ).all()
        assert len(statuses) == len(published)


# --- Concurrency -------------------------------------------------------------------------------


@pytest.fixture
def last_seat(engine: Engine, program: Program, session: Session) -> tuple[int, str]:
    """A committed round whose slot `x` (two seats) holds s0 and has one seat free; s1 and s2,
    unplaced, may both take it. Yields (round id, slot id)."""
    doc = make_doc(
        [student(id="s0"), student(id="s1"), student(id="s2")],
        [opportunity(id="o1", slots=[slot(id="x", capacity=2)])],
        pins=[{"student": "s0", "opportunity": "o1", "slot": "x"}],
    )
    rnd = _setup(session, program, doc)
    for who in ("s1", "s2"):
        if _assignment(session, rnd, who) is not None:
            actions.unplace(session, rnd, _st(session, rnd, who), user=None)
    assert _slot_of(session, rnd, "s0") == "x"
    session.commit()
    return rnd.id, "x"


def _race(
    factory: sessionmaker[Session], round_id: int, slot_ext: str, start: threading.Barrier | None
) -> list[str]:
    """Move s1 and s2 into the slot from two threads, each in its own transaction; returns
    "ok" or the refused rule for each."""

    def attempt(who: str) -> str:
        try:
            with transaction(factory) as s:
                rnd = s.get_one(Round, round_id)
                st, sl = _st(s, rnd, who), _sl(s, rnd, slot_ext)
                if start is not None:
                    start.wait()
                actions.move(s, rnd, st, sl, user=None)
            return "ok"
        except MoveRefused as exc:
            return exc.rule

    with ThreadPoolExecutor(max_workers=2) as pool:
        return sorted(pool.map(attempt, ["s1", "s2"]))


def _in_slot(factory: sessionmaker[Session], round_id: int, slot_ext: str) -> int:
    with transaction(factory) as s:
        rnd = s.get_one(Round, round_id)
        return (
            s.scalar(
                select(func.count())
                .select_from(Assignment)
                .where(
                    Assignment.run_id == rnd.chosen_run_id,
                    Assignment.slot_id == _sl(s, rnd, slot_ext).id,
                )
            )
            or 0
        )


def test_h2_two_moves_started_together_never_overbook(
    engine: Engine, last_seat: tuple[int, str]
) -> None:
    """H2 race (both backends): two moves into the last seat at once: one ok, one H2."""
    factory = make_session_factory(engine)
    results = _race(factory, *last_seat, threading.Barrier(2, timeout=30))
    assert results == ["H2", "ok"]
    assert _in_slot(factory, *last_seat) == 2


@on_postgres
def test_h2_row_locks_hold_when_both_have_read(
    engine: Engine, last_seat: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """H2 race (PostgreSQL): both have read the free seat; the row lock lets one in, H2 other."""
    factory = make_session_factory(engine)
    both_read = threading.Barrier(2, timeout=30)
    lock = checks.lock_capacity

    def read_then_lock(session: Session, opportunity: Opportunity, slot: Slot | None) -> None:
        free = slot is not None and (
            session.scalar(
                select(func.count()).select_from(Assignment).where(Assignment.slot_id == slot.id)
            )
            == 1
        )
        assert free  # each sees the one free seat before the other has written
        both_read.wait()
        lock(session, opportunity, slot)

    monkeypatch.setattr(checks, "lock_capacity", read_then_lock)
    assert _race(factory, *last_seat, None) == ["H2", "ok"]
    assert _in_slot(factory, *last_seat) == 2


@on_postgres
def test_h2_without_the_row_locks_the_race_overbooks(
    engine: Engine, last_seat: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """H2 race control: with the row locks taken out the same race overbooks the slot."""
    factory = make_session_factory(engine)
    both_read = threading.Barrier(2, timeout=30)

    def no_lock(session: Session, opportunity: Opportunity, slot: Slot | None) -> None:
        # Both wait for each other where the lock would have made one wait for the other.
        both_read.wait()

    monkeypatch.setattr(checks, "lock_capacity", no_lock)
    assert _race(factory, *last_seat, None) == ["ok", "ok"]
    assert _in_slot(factory, *last_seat) == 3


@on_postgres
def test_publish_waits_for_a_move_in_flight(engine: Engine, last_seat: tuple[int, str]) -> None:
    """Round lock: a publish waits for an uncommitted move and publishes it too."""
    factory = make_session_factory(engine)
    round_id, slot_ext = last_seat
    started = threading.Event()

    def publish() -> None:
        with transaction(factory) as other:
            rnd = other.get_one(Round, round_id)
            started.set()
            actions.publish(other, rnd, user=None)

    with factory() as s, ThreadPoolExecutor(max_workers=1) as pool:
        s.begin()
        rnd = s.get_one(Round, round_id)
        actions.move(s, rnd, _st(s, rnd, "s1"), _sl(s, rnd, slot_ext), user=None)
        s.flush()
        done = pool.submit(publish)
        assert started.wait(30)
        with pytest.raises(TimeoutError):
            done.result(timeout=0.5)  # waiting for the move's shared lock on the round
        s.commit()
        done.result(timeout=30)
    with transaction(factory) as s:
        statuses = set(
            s.scalars(
                select(Assignment.status).where(
                    Assignment.run_id == s.get_one(Round, round_id).chosen_run_id
                )
            )
        )
        assert statuses == {AssignmentStatus.published}


def test_an_edited_run_stays_feasible_not_optimal(session: Session, program: Program) -> None:
    """Metrics: an edited run's metrics follow its placements; optimal becomes feasible."""
    rnd = _setup(session, program, _one_opp())
    run = session.get_one(SolveRun, rnd.chosen_run_id)
    assert (run.solution_status, run.edited_at) == (SolutionStatus.optimal, None)
    assert "edited" not in solution_from_run(session, run)
    actions.unplace(session, rnd, _st(session, rnd, "s1"), user=None)
    assert run.solution_status == SolutionStatus.feasible
    first_edit = run.edited_at
    assert first_edit is not None
    assert solution_from_run(session, run)["edited"] is True
    assert run.metrics is not None
    assert (run.metrics["placed"], run.metrics["mean_travel_minutes"]) == (0, 0.0)
    _valid(session, rnd)
    actions.place(session, rnd, _st(session, rnd, "s1"), _sl(session, rnd, "a"), user=None)
    assert run.edited_at == first_edit  # the first edit is when the optimum was lost
    _valid(session, rnd)


def test_travel_total_kept_by_edits_and_counted_when_missing(
    session: Session, program: Program
) -> None:
    """Metrics: the run's exact travel total moves with each edit (the mean follows it); a run
    stored without it (before migration 0004) gets it counted on its first edit."""
    doc = make_doc(
        [student(id="s1"), student(id="s2", location=dict(FAR), travel_modes=["walk"])],
        [opportunity(id="o1", slots=[slot(id="a"), slot(id="b")])],
    )
    rnd = _setup(session, program, doc)
    run = session.get_one(SolveRun, rnd.chosen_run_id)
    minutes = {a.student_id: a.travel_minutes for a in session.scalars(select(Assignment))}
    assert run.travel_minutes_total == sum(minutes.values())
    run.travel_minutes_total = None  # as stored before the column existed
    held = _slot_of(session, rnd, "s1")
    assert held is not None
    actions.unplace(session, rnd, _st(session, rnd, "s1"), user=None)
    assert run.travel_minutes_total == minutes[_st(session, rnd, "s2").id]
    _valid(session, rnd)
    actions.place(session, rnd, _st(session, rnd, "s1"), _sl(session, rnd, held), user=None)
    assert run.travel_minutes_total == sum(minutes.values())
    _valid(session, rnd)
