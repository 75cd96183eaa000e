"""Coordinator actions, access: only an active coordinator or admin of the round's program
changes it, in one query, before anything is locked or written; rows of another round (and so
of another program) are refused too; the audit trail names the user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

import scheduler.actions as actions
from models import (
    Assignment,
    AuditEvent,
    Forbidden,
    Membership,
    Pin,
    Program,
    Role,
    Round,
    SolveRun,
    Unplaced,
    User,
)
from scheduler.actions import NotAllowed
from tests.scheduler.test_actions import _one_opp, _opp, _setup, _sl, _slot_of, _st
from tests.solver.factories import make_doc, opportunity, slot, student

# An action on the round `_two_students` builds, by the user given.
Action = Callable[[Session, Round, User | None], object]


def _two_students(session: Session, program: Program) -> Round:
    """s1 and s2 placed in o1 (slots a and b, two seats each), the run chosen."""
    doc = make_doc(
        [student(id="s1"), student(id="s2")],
        [opportunity(id="o1", slots=[slot(id="a", capacity=2), slot(id="b", capacity=2)])],
    )
    return _setup(session, program, doc)


def _other_slot(session: Session, rnd: Round, who: str) -> str:
    return "b" if _slot_of(session, rnd, who) == "a" else "a"


def _chosen(session: Session, rnd: Round) -> SolveRun:
    return session.get_one(SolveRun, rnd.chosen_run_id)


ACTIONS: dict[str, Action] = {
    "choose_run": lambda s, r, u: actions.choose_run(s, r, _chosen(s, r), user=u),
    "pin": lambda s, r, u: actions.pin(s, r, _st(s, r, "s1"), _opp(s, r, "o1"), user=u),
    "unpin": lambda s, r, u: actions.unpin(s, r, _st(s, r, "s1"), user=u),
    "move": lambda s, r, u: actions.move(
        s, r, _st(s, r, "s1"), _sl(s, r, _other_slot(s, r, "s1")), user=u
    ),
    # Not pinned, so that `forbid` may take the pair away again.
    "place": lambda s, r, u: actions.place(
        s, r, _st(s, r, "s2"), _sl(s, r, "a"), user=u, pin=False
    ),
    "unplace": lambda s, r, u: actions.unplace(s, r, _st(s, r, "s2"), user=u),
    "forbid": lambda s, r, u: actions.forbid(s, r, _st(s, r, "s2"), _opp(s, r, "o1"), user=u),
    "resolve": lambda s, r, u: actions.resolve(s, r, user=u),
    "publish": lambda s, r, u: actions.publish(s, r, user=u),
    "close": lambda s, r, u: actions.close(s, r, user=u),
}


def _user(session: Session, email: str, *, active: bool = True) -> User:
    user = User(email=email, name=email.split("@")[0].title(), active=active)
    session.add(user)
    session.flush()
    return user


def _member(session: Session, program: Program, email: str, role: Role, **kw: Any) -> User:
    user = _user(session, email, **kw)
    session.add(Membership(user=user, program=program, role=role))
    session.flush()
    return user


def _stored(session: Session) -> dict[str, list[Any]]:
    """Everything an action could write, as stored (pending changes are flushed first)."""

    def rows(*columns: Any) -> list[Any]:
        return [tuple(r) for r in session.execute(select(*columns).order_by(*columns))]

    return {
        "events": rows(AuditEvent.id),
        "assignments": rows(
            Assignment.run_id,
            Assignment.student_id,
            Assignment.slot_id,
            Assignment.mentor_id,
            Assignment.status,
        ),
        "unplaced": rows(Unplaced.run_id, Unplaced.student_id),
        "pins": rows(Pin.id, Pin.student_id, Pin.opportunity_id, Pin.slot_id, Pin.mentor_id),
        "forbidden": rows(Forbidden.student_id, Forbidden.opportunity_id),
        "runs": rows(SolveRun.id, SolveRun.status, SolveRun.solution_status),
        "rounds": rows(Round.id, Round.status, Round.version, Round.chosen_run_id),
    }


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on `engine` inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _refuses(session: Session, rnd: Round, act: Action, user: User | None, text: str) -> None:
    """The action is refused for `access` with `text`, and nothing is written."""
    before = _stored(session)
    with pytest.raises(NotAllowed) as caught:
        act(session, rnd, user)
    assert caught.value.rule == "access"
    assert str(caught.value) == caught.value.message
    assert str(caught.value).startswith("access: ")
    assert text in str(caught.value)
    assert _stored(session) == before


# --- Who may act ---------------------------------------------------------------------------------


@pytest.fixture(params=["viewer", "non-member", "inactive", "other-program"])
def outsider(
    request: pytest.FixtureRequest,
    session: Session,
    program: Program,
    make_program: Callable[..., Program],
) -> tuple[User, str]:
    """A user who may not change the program's rounds, and the refusal's expected text."""
    kind: str = request.param
    email = f"{kind}@example.org"
    not_coordinator = f"user {email} is not a coordinator of program {program.slug}"
    if kind == "viewer":
        user = _member(session, program, email, Role.viewer)
        return user, f"{not_coordinator} (a viewer only reads)"
    if kind == "non-member":
        return _user(session, email), not_coordinator
    if kind == "inactive":
        user = _member(session, program, email, Role.admin, active=False)
        return user, f"user {email} is inactive"
    return _member(session, make_program(), email, Role.coordinator), not_coordinator


@pytest.mark.parametrize("name", list(ACTIONS))
def test_access_an_outsider_is_refused_and_nothing_is_written(
    session: Session, program: Program, outsider: tuple[User, str], name: str
) -> None:
    """Access: a viewer, a non-member, an inactive user, another program's coordinator: refused."""
    rnd = _two_students(session, program)
    user, text = outsider
    _refuses(session, rnd, ACTIONS[name], user, text)


@pytest.mark.parametrize("role", [Role.coordinator, Role.admin])
def test_access_a_coordinator_or_admin_acts_and_the_audit_names_them(
    session: Session, program: Program, role: Role
) -> None:
    """Access: a coordinator and an admin may take every action; each event records the user."""
    user = _member(session, program, f"{role}@example.org", role)
    rnd = _two_students(session, program)
    for name in ("choose_run", "move", "unpin", "pin", "unplace", "place", "forbid"):
        ACTIONS[name](session, rnd, user)
    run = actions.resolve(session, rnd, user=user)
    assert run.created_by_id == user.id
    for name in ("publish", "close"):
        ACTIONS[name](session, rnd, user)
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.round_id == rnd.id).order_by(AuditEvent.id)
    ).all()
    mine = [e for e in events if e.user_id == user.id]
    assert [e.action for e in mine] == [
        "round.choose_run",
        "assignment.move",
        "pin.remove",
        "pin.add",
        "assignment.unplace",
        "assignment.place",
        "forbidden.add",
        "round.resolve",
        "round.publish",
        "round.close",
    ]
    assert {e.detail["user"] for e in mine} == {user.email}


def test_access_is_read_as_stored_now(session: Session, program: Program) -> None:
    """Access: demoting or deactivating a coordinator takes effect on their next action."""
    user = _member(session, program, "casey@example.org", Role.coordinator)
    rnd = _two_students(session, program)
    actions.pin(session, rnd, _st(session, rnd, "s1"), _opp(session, rnd, "o1"), user=user)
    membership = session.scalars(select(Membership).where(Membership.user_id == user.id)).one()
    membership.role = Role.viewer
    _refuses(session, rnd, ACTIONS["unpin"], user, "(a viewer only reads)")
    membership.role = Role.admin
    user.active = False
    _refuses(session, rnd, ACTIONS["unpin"], user, "is inactive")
    user.active = True
    actions.unpin(session, rnd, _st(session, rnd, "s1"), user=user)


def test_access_is_one_query_before_any_lock(
    engine: Engine, session: Session, program: Program
) -> None:
    """Access: one query decides; a refused user runs nothing else (no lock, no write)."""
    viewer = _member(session, program, "viewer@example.org", Role.viewer)
    coordinator = _member(session, program, "coord@example.org", Role.coordinator)
    rnd = _two_students(session, program)
    s1, target = _st(session, rnd, "s1"), _sl(session, rnd, _other_slot(session, rnd, "s1"))
    session.flush()
    with _statements(engine) as seen, pytest.raises(NotAllowed):
        actions.move(session, rnd, s1, target, user=viewer)
    assert len(seen) == 1
    assert seen[0].lstrip().upper().startswith("SELECT")
    assert "FOR " not in seen[0].upper()
    with _statements(engine) as seen:
        actions.move(session, rnd, s1, target, user=coordinator)
    assert sum("memberships" in statement for statement in seen) == 1


def test_access_the_system_needs_no_user(session: Session, program: Program) -> None:
    """Access: None (the system, the command line) may act, and the event names no user."""
    rnd = _two_students(session, program)
    outcome = actions.pin(
        session, rnd, _st(session, rnd, "s1"), _opp(session, rnd, "o1"), user=None
    )
    assert (outcome.event.user_id, outcome.event.detail["user"]) == (None, None)


# --- Rows of another round -----------------------------------------------------------------------


def test_access_rows_of_another_programs_round_are_refused(
    session: Session, make_program: Callable[..., Program]
) -> None:
    """Access: a coordinator of program B cannot reach program A's rows through B's round, nor
    act on A's round; nothing is written."""
    program_a, program_b = make_program(), make_program()
    theirs = _setup(session, program_a, _one_opp())
    mine = _setup(session, program_b, _one_opp())
    user = _member(session, program_b, "b@example.org", Role.coordinator)
    student_a, opp_a, slot_a = (
        _st(session, theirs, "s1"),
        _opp(session, theirs, "o1"),
        _sl(session, theirs, "a"),
    )
    student_b, opp_b, slot_b = (
        _st(session, mine, "s1"),
        _opp(session, mine, "o1"),
        _sl(session, mine, "a"),
    )
    run_a = _chosen(session, theirs)
    elsewhere = "belongs to another round, not 'r1'"
    attempts: dict[str, Action] = {
        "move a's student": lambda s, r, u: actions.move(s, r, student_a, slot_b, user=u),
        "move into a's slot": lambda s, r, u: actions.move(s, r, student_b, slot_a, user=u),
        "place a's student": lambda s, r, u: actions.place(s, r, student_a, slot_b, user=u),
        "pin a's student": lambda s, r, u: actions.pin(s, r, student_a, opp_b, user=u),
        "pin to a's opportunity": lambda s, r, u: actions.pin(s, r, student_b, opp_a, user=u),
        "unpin a's student": lambda s, r, u: actions.unpin(s, r, student_a, user=u),
        "unplace a's student": lambda s, r, u: actions.unplace(s, r, student_a, user=u),
        "forbid a's student": lambda s, r, u: actions.forbid(s, r, student_a, opp_b, user=u),
        "forbid a's opportunity": lambda s, r, u: actions.forbid(s, r, student_b, opp_a, user=u),
        "choose a's run": lambda s, r, u: actions.choose_run(s, r, run_a, user=u),
        "re-solve from a's run": lambda s, r, u: actions.resolve(
            s, r, user=u, options={"previous_run": run_a.id}
        ),
    }
    for label, act in attempts.items():
        for who in (user, None):  # the row check holds for the system too
            before = _stored(session)
            with pytest.raises(NotAllowed, match=elsewhere) as caught:
                act(session, mine, who)
            assert caught.value.rule == "access", label
            assert _stored(session) == before, label
    text = f"user b@example.org is not a coordinator of program {program_a.slug}"
    _refuses(session, theirs, lambda s, r, u: actions.unplace(s, r, student_a, user=u), user, text)
    _refuses(session, theirs, ACTIONS["publish"], user, text)


def test_resolve_previous_run_must_be_the_chosen_run(session: Session, program: Program) -> None:
    """Re-solve: a previous_run that is not the chosen run is refused, not silently replaced."""
    rnd = _setup(session, program, _one_opp())
    chosen = _chosen(session, rnd)
    other = SolveRun(round_id=rnd.id)
    session.add(other)
    session.flush()
    with pytest.raises(actions.ActionRefused, match=f"from the chosen run {chosen.id}") as caught:
        actions.resolve(session, rnd, user=None, options={"previous_run": other.id})
    assert caught.value.rule == "state"
    with pytest.raises(NotAllowed, match="is not a solve run of round"):
        actions.resolve(session, rnd, user=None, options={"previous_run": other.id + 100})
    run = actions.resolve(session, rnd, user=None, options={"previous_run": chosen.id})
    assert run.options["previous_run"] == chosen.id
    assert session.scalar(select(func.count()).select_from(SolveRun)) == 3
