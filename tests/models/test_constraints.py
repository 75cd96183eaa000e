"""The database enforces what the models declare, on SQLite as on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from models import (
    Assignment,
    AuditEvent,
    Employer,
    Membership,
    Opportunity,
    OpportunityKind,
    Program,
    Round,
    RoundStatus,
    School,
    Slot,
    SolveRun,
    Student,
    TravelMode,
    User,
    make_session_factory,
)


@pytest.fixture
def make_round(session: Session, program: Program) -> Callable[..., Round]:
    """Make a round of `program` (flushed); keyword arguments override the defaults."""
    count = 0

    def make(**overrides: Any) -> Round:
        nonlocal count
        count += 1
        fields: dict[str, Any] = {
            "program": program,
            "external_id": f"round-{count}",
            "name": f"Round {count}",
            "start_date": dt.date(2026, 9, 8),
            "end_date": dt.date(2026, 12, 18),
            "timezone": "America/Chicago",
        }
        fields.update(overrides)
        rnd = Round(**fields)
        session.add(rnd)
        session.flush()
        return rnd

    return make


def _student(rnd: Round, external_id: str = "st-1", **overrides: Any) -> Student:
    fields: dict[str, Any] = {
        "round": rnd,
        "external_id": external_id,
        "name": "Ada",
        "birth_date": dt.date(2010, 3, 1),
        "lat": 41.9,
        "lon": -87.6,
        "travel_modes": ["walk"],
    }
    fields.update(overrides)
    return Student(**fields)


def _opportunity(rnd: Round, employer: Employer, external_id: str = "op-1") -> Opportunity:
    return Opportunity(
        round=rnd,
        employer=employer,
        external_id=external_id,
        title="Lab assistant",
        kind=OpportunityKind.internship,
        cluster="health",
        lat=41.9,
        lon=-87.6,
    )


def test_defaults_are_filled(session: Session, make_round: Callable[..., Round]) -> None:
    """A new round is a draft at version 1; a student's defaults match the format's."""
    rnd = make_round()
    student = _student(rnd)
    session.add(student)
    session.flush()
    assert (rnd.status, rnd.version, rnd.summer, rnd.mentor_meeting_minutes) == (
        RoundStatus.draft,
        1,
        False,
        30,
    )
    assert rnd.created_at.tzinfo is not None
    assert (student.max_commute_minutes, student.priority, student.clusters) == (60, 0, [])


def test_student_external_id_unique_per_round(
    session: Session, make_round: Callable[..., Round]
) -> None:
    """Two students of one round cannot share an id; another round may reuse it."""
    first, second = make_round(), make_round()
    session.add_all([_student(first), _student(second)])
    session.flush()
    session.add(_student(first))
    with pytest.raises(IntegrityError):
        session.flush()


def test_slot_ids_unique_across_the_round(
    session: Session, make_round: Callable[..., Round]
) -> None:
    """Slot ids are unique across the round, not only within their opportunity."""
    rnd = make_round()
    employer = Employer(round=rnd, external_id="em-1", name="Acme")
    a, b = _opportunity(rnd, employer, "op-1"), _opportunity(rnd, employer, "op-2")
    session.add_all([a, b])
    session.flush()
    session.add(Slot(round=rnd, opportunity=a, external_id="sl-1", capacity=1))
    session.flush()
    session.add(Slot(round=rnd, opportunity=b, external_id="sl-1", capacity=1))
    with pytest.raises(IntegrityError):
        session.flush()


def test_round_external_id_unique_per_program(
    session: Session, make_round: Callable[..., Round], make_program: Callable[..., Program]
) -> None:
    """A program has one round per external id; another program may use the same id."""
    make_round(external_id="fall")
    make_round(external_id="fall", program=make_program())
    with pytest.raises(IntegrityError):
        make_round(external_id="fall")


def test_foreign_keys_are_enforced(session: Session) -> None:
    """A row pointing at a round that does not exist is refused (SQLite too: foreign keys on)."""
    with pytest.raises(IntegrityError):
        session.execute(
            insert(Student),
            [
                {
                    "round_id": 12345,
                    "external_id": "st-1",
                    "name": "Ada",
                    "birth_date": dt.date(2010, 3, 1),
                    "travel_modes": ["walk"],
                }
            ],
        )


def test_negative_capacity_is_refused(session: Session, make_round: Callable[..., Round]) -> None:
    """A slot with a negative capacity is refused by a CHECK constraint."""
    rnd = make_round()
    opp = _opportunity(rnd, Employer(round=rnd, external_id="em-1", name="Acme"))
    session.add(Slot(round=rnd, opportunity=opp, external_id="sl-1", capacity=-1))
    with pytest.raises(IntegrityError):
        session.flush()


def test_reversed_round_dates_are_refused(make_round: Callable[..., Round]) -> None:
    """A round that ends before it starts is refused by a CHECK constraint."""
    with pytest.raises(IntegrityError):
        make_round(start_date=dt.date(2026, 12, 1), end_date=dt.date(2026, 9, 1))


def test_unknown_status_is_refused(session: Session, make_round: Callable[..., Round]) -> None:
    """Enums are CHECK-constrained strings: a status outside the list is refused by SQL too."""
    rnd = make_round()
    with pytest.raises(IntegrityError):
        session.execute(text("UPDATE rounds SET status = 'bogus' WHERE id = :id"), {"id": rnd.id})


def test_deleting_a_round_removes_all_its_rows(
    session: Session, make_round: Callable[..., Round]
) -> None:
    """Deleting a round removes its students, slots, runs and assignments, nothing else."""
    rnd, other = make_round(), make_round()
    employer = Employer(round=rnd, external_id="em-1", name="Acme")
    school = School(round=rnd, external_id="sc-1", name="Central", lat=41.9, lon=-87.6)
    opp = _opportunity(rnd, employer)
    slot = Slot(round=rnd, opportunity=opp, external_id="sl-1", capacity=1)
    student = _student(rnd, school=school)
    run = SolveRun(round=rnd)
    session.add_all([slot, student, run, _student(other)])
    session.flush()
    session.add(
        Assignment(
            run=run,
            student=student,
            opportunity=opp,
            slot=slot,
            travel_mode=TravelMode.walk,
            travel_minutes=10,
        )
    )
    rnd.chosen_run = run
    session.flush()
    session.delete(rnd)
    session.flush()
    for model in (Student, School, Employer, Opportunity, Slot, SolveRun, Assignment):
        remaining = session.scalar(select(func.count()).select_from(model))
        assert remaining == (1 if model is Student else 0), model.__name__


def test_deleting_the_chosen_run_unchooses_it(
    session: Session, make_round: Callable[..., Round]
) -> None:
    """Deleting a round's chosen run leaves the round with no chosen run (SET NULL)."""
    rnd = make_round()
    run = SolveRun(round=rnd)
    session.add(run)
    session.flush()
    rnd.chosen_run = run
    session.flush()
    session.execute(text("DELETE FROM solve_runs WHERE id = :id"), {"id": run.id})
    session.expire_all()
    assert session.get_one(Round, rnd.id).chosen_run_id is None


def test_deleting_a_school_with_students_is_refused(
    session: Session, make_round: Callable[..., Round]
) -> None:
    """A school cannot be deleted while students belong to it (no silent null)."""
    rnd = make_round()
    school = School(round=rnd, external_id="sc-1", name="Central", lat=41.9, lon=-87.6)
    session.add(_student(rnd, school=school))
    session.flush()
    session.delete(school)
    with pytest.raises(IntegrityError):
        session.flush()


def test_round_version_counter_refuses_a_stale_write(
    engine: Engine, session: Session, make_round: Callable[..., Round]
) -> None:
    """Two coordinators editing one round: the later write of an old version fails."""
    rnd = make_round()
    session.commit()
    factory = make_session_factory(engine)
    with factory() as first, factory() as second:
        mine, theirs = first.get_one(Round, rnd.id), second.get_one(Round, rnd.id)
        mine.status = RoundStatus.review
        first.commit()
        assert mine.version == 2
        theirs.name = "Renamed"
        with pytest.raises(StaleDataError):
            second.commit()


def test_datetimes_are_aware_utc(session: Session, program: Program) -> None:
    """Timestamps come back timezone-aware in UTC; naive datetimes are refused."""
    local = dt.datetime(2026, 9, 8, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    session.add(AuditEvent(program=program, action="round.import", at=local))
    session.commit()
    session.expire_all()
    event = session.scalars(select(AuditEvent)).one()
    assert event.at == local
    assert event.at.utcoffset() == dt.timedelta(0)
    session.add(AuditEvent(program=program, action="round.import", at=dt.datetime(2026, 9, 8)))
    with pytest.raises(Exception, match="naive datetime"):
        session.flush()


def test_user_email_unique_and_membership(session: Session, program: Program) -> None:
    """A user joins programs through memberships; emails are unique."""
    user = User(email="coord@example.org", name="Coordinator")
    session.add(Membership(user=user, program=program))
    session.flush()
    assert [m.program for m in user.memberships] == [program]
    session.add(User(email="coord@example.org", name="Twin"))
    with pytest.raises(IntegrityError):
        session.flush()
