"""Exports of student data check access (`access.require_staff`): any member of the round's
program may export (viewers too) and the system may; an outsider, a member of another
program, an inactive account or a link holder is refused before anything is read or written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from models import Membership, Program, Role, Round, SolveRun, User
from scheduler.access import Actor, LinkHolder
from scheduler.errors import NotAllowed
from scheduler.rounds import canonical, export_round
from scheduler.tables import assignment_rows, export_assignments
from tests.scheduler.test_access import _doc
from tests.scheduler.test_actions import _mentor, _opp, _setup, _st


@pytest.fixture
def rnd(session: Session, program: Program) -> Round:
    """A solved round whose run is chosen."""
    return _setup(session, program, _doc())


def _user(session: Session, email: str, program: Program | None, role: Role, **kw: bool) -> User:
    user = User(email=email, name=email.split("@")[0].title(), **kw)
    session.add(user)
    if program is not None:
        session.add(Membership(user=user, program=program, role=role))
    session.flush()
    return user


def _exports(session: Session, rnd: Round, actor: Actor, dest: Path) -> list[object]:
    """Every export of student data, by `actor`: the round's document, the assignment lists
    by school and by employer (a file), and the streamed rows."""
    run = session.get_one(SolveRun, rnd.chosen_run_id)
    return [
        canonical(export_round(session, rnd, actor)),
        export_assignments(session, rnd, dest / "by-school.csv", by="school", actor=actor).rows,
        export_assignments(
            session, rnd, dest / "by-employer.xlsx", by="employer", actor=actor
        ).rows,
        len(list(assignment_rows(session, run, by="school", actor=actor))),
    ]


@pytest.mark.parametrize("role", [Role.viewer, Role.coordinator, Role.admin])
def test_members_of_the_program_export(
    session: Session, program: Program, rnd: Round, tmp_path: Path, role: Role
) -> None:
    """access: a viewer, coordinator or admin exports what the system exports."""
    user = _user(session, "member@example.org", program, role)
    (tmp_path / "system").mkdir()
    (tmp_path / "user").mkdir()
    system = _exports(session, rnd, None, tmp_path / "system")
    assert system[1] == system[3] == 5
    assert _exports(session, rnd, user, tmp_path / "user") == system


def test_others_may_not_export(
    session: Session,
    program: Program,
    make_program: Callable[..., Program],
    rnd: Round,
    tmp_path: Path,
) -> None:
    """access: an outsider, another program's coordinator, an inactive viewer and every link
    holder of the round are refused every export, and no file is written."""
    refused: list[Actor] = [
        _user(session, "outsider@example.org", None, Role.viewer),
        _user(session, "other@example.org", make_program(), Role.coordinator),
        _user(session, "gone@example.org", program, Role.viewer, active=False),
        LinkHolder(kind="employer", round_id=rnd.id, row_id=_opp(session, rnd, "o1").employer_id),
        LinkHolder(kind="student", round_id=rnd.id, row_id=_st(session, rnd, "s1").id),
        LinkHolder(kind="mentor", round_id=rnd.id, row_id=_mentor(session, rnd, "m1").id),
    ]
    run = session.get_one(SolveRun, rnd.chosen_run_id)
    out = tmp_path / "out"
    out.mkdir()
    for actor in refused:
        with pytest.raises(NotAllowed) as caught:
            export_round(session, rnd, actor)
        assert caught.value.rule == "access"
        with pytest.raises(NotAllowed):
            export_assignments(session, rnd, out / "a.csv", by="school", actor=actor)
        with pytest.raises(NotAllowed):
            export_assignments(session, rnd, out / "b.zip", by="employer", actor=actor)
        with pytest.raises(NotAllowed):
            assignment_rows(session, run, by="employer", actor=actor)
    assert list(out.iterdir()) == []


def test_a_run_of_another_round_is_refused(
    session: Session, rnd: Round, make_program: Callable[..., Program], tmp_path: Path
) -> None:
    """access: exporting a round with a run of another round (another program's) is refused."""
    other = _setup(session, make_program(), _doc("r2"))
    foreign = session.get_one(SolveRun, other.chosen_run_id)
    with pytest.raises(NotAllowed, match="belongs to another round"):
        export_assignments(session, rnd, tmp_path / "x.csv", by="school", run=foreign)
    assert not (tmp_path / "x.csv").exists()
