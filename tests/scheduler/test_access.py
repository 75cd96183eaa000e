"""Access (`scheduler.access`): who may see and do what, per object. Staff of a program by
role (inactive accounts, viewers, other programs), link holders of one round (an employer its
opportunities and visibly placed students, a student themselves, a mentor their mentees), and
rows or links of another round refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import (
    Assignment,
    AssignmentStatus,
    Membership,
    Mentor,
    Mentorship,
    Opportunity,
    Program,
    Role,
    Round,
    RoundStatus,
    SolveRun,
    Student,
    User,
)
from scheduler import access
from scheduler.access import LinkHolder
from scheduler.errors import NotAllowed
from tests.scheduler.test_actions import _get, _mentor, _mentor_of, _opp, _setup, _st
from tests.solver.factories import make_doc, mentor, opportunity, slot, student, weekly


def _doc(round_id: str = "r1") -> dict[str, object]:
    """s1 pinned to o1 (emp1, workplace mentor m1); s2 and s4 pinned to o2 (emp2); s3 pinned to
    o3 (emp2) with community mentor c1; s5 pinned to o4 (emp1, no mentor)."""
    return make_doc(
        [
            student(id="s1"),
            student(id="s2"),
            student(id="s3", wants_mentor=True),
            student(id="s4"),
            student(id="s5"),
        ],
        [
            opportunity(id="o1", requires_mentor=True, slots=[slot(id="a", capacity=2)]),
            opportunity(id="o2", employer="emp2", slots=[slot(id="b", capacity=2)]),
            opportunity(id="o3", employer="emp2", slots=[slot(id="c")]),
            opportunity(id="o4", slots=[slot(id="d")]),
        ],
        [
            mentor(id="m1", employer="emp1", capacity=2),
            mentor(id="c1", available=[weekly("mon", "16:00", "17:00")]),
        ],
        pins=[
            {"student": "s1", "opportunity": "o1"},
            {"student": "s2", "opportunity": "o2"},
            {"student": "s4", "opportunity": "o2"},
            {"student": "s3", "opportunity": "o3"},
            {"student": "s5", "opportunity": "o4"},
        ],
        id=round_id,
    )


def _status(session: Session, rnd: Round, who: str, status: AssignmentStatus) -> None:
    session.execute(
        update(Assignment)
        .where(
            Assignment.run_id == rnd.chosen_run_id,
            Assignment.student_id == _st(session, rnd, who).id,
        )
        .values(status=status),
        execution_options={"synchronize_session": False},
    )


@pytest.fixture
def rnd(session: Session, program: Program) -> Round:
    """The round of `_doc`, solved and chosen: s1 published (with m1), s2 confirmed, s3
    published (community mentor c1), s4 pinned (not yet visible), s5 declined."""
    rnd = _setup(session, program, _doc())
    _status(session, rnd, "s1", AssignmentStatus.published)
    _status(session, rnd, "s2", AssignmentStatus.confirmed)
    _status(session, rnd, "s3", AssignmentStatus.published)
    _status(session, rnd, "s5", AssignmentStatus.declined)
    assert _mentor_of(session, rnd, "s1") == "m1"
    mentorship = session.scalars(
        select(Mentorship).where(Mentorship.run_id == rnd.chosen_run_id)
    ).one()
    assert mentorship.student_id == _st(session, rnd, "s3").id
    assert mentorship.mentor_id == _mentor(session, rnd, "c1").id
    return rnd


def _user(
    session: Session, email: str, program: Program | None, role: Role, *, active: bool = True
) -> User:
    user = User(email=email, name=email.split("@")[0].title(), active=active)
    session.add(user)
    if program is not None:
        session.add(Membership(user=user, program=program, role=role))
    session.flush()
    return user


def _employer_id(session: Session, rnd: Round, opp: str) -> int:
    return _opp(session, rnd, opp).employer_id


def _link(session: Session, rnd: Round, kind: str, ext: str) -> LinkHolder:
    """The link holder of the student, mentor or (by one of its opportunities) employer."""
    if kind == "student":
        row_id = _st(session, rnd, ext).id
    elif kind == "mentor":
        row_id = _mentor(session, rnd, ext).id
    else:
        row_id = _employer_id(session, rnd, ext)
    return LinkHolder(kind=kind, round_id=rnd.id, row_id=row_id)  # type: ignore[arg-type]


def _sees(
    check: Callable[..., None], session: Session, rnd: Round, actor: access.Actor, row_id: int
) -> bool:
    """Whether `check` lets the actor see the row; a refusal must name the rule `access`."""
    try:
        check(session, rnd, actor, row_id)
    except NotAllowed as refused:
        refusal = refused
    else:
        return True
    assert refusal.rule == "access"
    return False


def _sees_student(session: Session, rnd: Round, actor: access.Actor, who: str) -> bool:
    return _sees(access.require_student, session, rnd, actor, _st(session, rnd, who).id)


def _sees_opportunity(session: Session, rnd: Round, actor: access.Actor, opp: str) -> bool:
    return _sees(access.require_opportunity, session, rnd, actor, _opp(session, rnd, opp).id)


STUDENTS = ("s1", "s2", "s3", "s4", "s5")
OPPORTUNITIES = ("o1", "o2", "o3", "o4")


# --- Staff ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.coordinator, Role.admin])
def test_editors_edit_read_and_see_every_row(
    session: Session, program: Program, rnd: Round, role: Role
) -> None:
    """access: a coordinator or admin of the round's program edits, reads and sees every row."""
    user = _user(session, f"{role}@example.org", program, role)
    access.require_edit(session, rnd, user)
    access.require_staff(session, rnd, user)
    access.require_read(session, rnd, user)
    assert all(_sees_student(session, rnd, user, s) for s in STUDENTS)
    assert all(_sees_opportunity(session, rnd, user, o) for o in OPPORTUNITIES)
    assert access.program_role(session, program.id, user) == role


def test_a_viewer_reads_but_does_not_edit(session: Session, program: Program, rnd: Round) -> None:
    """access: a viewer reads the whole round (lists, exports) but changes nothing."""
    viewer = _user(session, "viewer@example.org", program, Role.viewer)
    access.require_staff(session, rnd, viewer)
    access.require_read(session, rnd, viewer)
    assert _sees_student(session, rnd, viewer, "s4")
    with pytest.raises(NotAllowed, match=r"not a coordinator .*\(a viewer only reads\)"):
        access.require_edit(session, rnd, viewer)
    assert access.program_role(session, program.id, viewer) == Role.viewer


def test_the_system_may_do_anything(session: Session, rnd: Round) -> None:
    """access: no actor is the system or the command line, which may do anything."""
    access.require_edit(session, rnd, None)
    access.require_staff(session, rnd, None)
    access.require_read(session, rnd, None)
    assert _sees_student(session, rnd, None, "s4")
    assert _sees_opportunity(session, rnd, None, "o1")


@pytest.mark.parametrize("role", [Role.coordinator, Role.viewer])
def test_an_inactive_account_is_refused_everything(
    session: Session, program: Program, rnd: Round, role: Role
) -> None:
    """access: an inactive account neither reads nor edits, whatever its role."""
    user = _user(session, "gone@example.org", program, role, active=False)
    for check in (access.require_edit, access.require_staff, access.require_read):
        with pytest.raises(NotAllowed, match="is inactive"):
            check(session, rnd, user)
    assert not _sees_student(session, rnd, user, "s1")
    with pytest.raises(NotAllowed, match="is inactive"):
        access.program_role(session, program.id, user)


def test_a_member_of_another_program_is_refused(
    session: Session, program: Program, make_program: Callable[..., Program], rnd: Round
) -> None:
    """access: a coordinator of another program, or of none, neither reads nor edits."""
    other = _user(session, "other@example.org", make_program(), Role.coordinator)
    nobody = _user(session, "nobody@example.org", None, Role.coordinator)
    for user in (other, nobody):
        for check in (access.require_edit, access.require_staff, access.require_read):
            with pytest.raises(NotAllowed, match=r"is not a (coordinator|member) of program"):
                check(session, rnd, user)
        assert not _sees_student(session, rnd, user, "s1")
        assert not _sees_opportunity(session, rnd, user, "o1")
        with pytest.raises(NotAllowed, match="not a member of program"):
            access.program_role(session, program.id, user)


def test_an_account_not_stored_is_refused(session: Session, rnd: Round) -> None:
    """access: a `User` that is not in the database is no account at all."""
    ghost = User(id=987654, email="ghost@example.org", name="Ghost")
    with pytest.raises(NotAllowed, match="not a stored account"):
        access.require_staff(session, rnd, ghost)


def test_roles_are_read_as_stored_now(session: Session, program: Program, rnd: Round) -> None:
    """access: a coordinator demoted to viewer, or deactivated, is refused at once."""
    user = _user(session, "casey@example.org", program, Role.coordinator)
    access.require_edit(session, rnd, user)
    membership = session.scalars(select(Membership).where(Membership.user_id == user.id)).one()
    membership.role = Role.viewer
    session.flush()
    with pytest.raises(NotAllowed):
        access.require_edit(session, rnd, user)
    user.active = False
    session.flush()
    with pytest.raises(NotAllowed):
        access.require_staff(session, rnd, user)


def test_readable_programs_lists_the_members_programs(
    session: Session, program: Program, make_program: Callable[..., Program]
) -> None:
    """access: the programs a user reads are those of their memberships; inactive, none."""
    second, third = make_program(), make_program()
    user = _user(session, "two@example.org", program, Role.viewer)
    session.add(Membership(user=user, program=second, role=Role.coordinator))
    _user(session, "third@example.org", third, Role.admin)
    session.flush()
    readable = set(
        session.scalars(select(Program.id).where(Program.id.in_(access.readable_programs(user))))
    )
    assert readable == {program.id, second.id}
    user.active = False
    session.flush()
    assert list(session.scalars(access.readable_programs(user))) == []


# --- Link holders --------------------------------------------------------------------------------


def test_a_link_never_edits_nor_reads_the_whole_round(session: Session, rnd: Round) -> None:
    """access: a link holder neither changes the round nor reads its lists and exports."""
    for kind, ext in (("employer", "o1"), ("student", "s1"), ("mentor", "m1")):
        link = _link(session, rnd, kind, ext)
        access.require_read(session, rnd, link)
        with pytest.raises(NotAllowed, match=f"a {kind}'s link does not change"):
            access.require_edit(session, rnd, link)
        with pytest.raises(NotAllowed, match=f"a {kind}'s link does not read"):
            access.require_staff(session, rnd, link)


def test_an_employer_sees_its_opportunities_and_visibly_placed_students(
    session: Session, rnd: Round
) -> None:
    """access: an employer sees its own opportunities and the students placed with it whose
    placement is published, confirmed or declined in the chosen run; nobody else."""
    emp1 = _link(session, rnd, "employer", "o1")
    assert [o for o in OPPORTUNITIES if _sees_opportunity(session, rnd, emp1, o)] == ["o1", "o4"]
    # s1 published, s5 declined with emp1; the others are with emp2.
    assert [s for s in STUDENTS if _sees_student(session, rnd, emp1, s)] == ["s1", "s5"]
    emp2 = _link(session, rnd, "employer", "o2")
    assert [o for o in OPPORTUNITIES if _sees_opportunity(session, rnd, emp2, o)] == ["o2", "o3"]
    # s2 confirmed, s3 published; s4 is pinned, not published yet.
    assert [s for s in STUDENTS if _sees_student(session, rnd, emp2, s)] == ["s2", "s3"]
    _status(session, rnd, "s4", AssignmentStatus.published)
    assert _sees_student(session, rnd, emp2, "s4")


def test_an_employer_sees_no_student_of_another_run(session: Session, rnd: Round) -> None:
    """access: placements are visible in the round's chosen run only."""
    emp2 = _link(session, rnd, "employer", "o2")
    old = session.get_one(SolveRun, rnd.chosen_run_id)
    other = SolveRun(round_id=rnd.id, status=old.status)
    session.add(other)
    session.flush()
    rnd.chosen_run_id = other.id
    session.flush()
    assert not _sees_student(session, rnd, emp2, "s2")
    rnd.chosen_run_id = None
    session.flush()
    assert not _sees_student(session, rnd, emp2, "s2")
    assert _sees_opportunity(session, rnd, emp2, "o2")


def test_a_student_sees_only_themselves_and_their_visible_opportunity(
    session: Session, rnd: Round
) -> None:
    """access: a student's link shows the student and the opportunity of their own visible
    placement, and nothing of anyone else."""
    s1 = _link(session, rnd, "student", "s1")
    assert [s for s in STUDENTS if _sees_student(session, rnd, s1, s)] == ["s1"]
    assert [o for o in OPPORTUNITIES if _sees_opportunity(session, rnd, s1, o)] == ["o1"]
    s4 = _link(session, rnd, "student", "s4")
    assert _sees_student(session, rnd, s4, "s4")
    # Pinned in o2, not published yet: the opportunity is not shown.
    assert not any(_sees_opportunity(session, rnd, s4, o) for o in OPPORTUNITIES)


def test_a_mentor_sees_only_their_mentees(session: Session, rnd: Round) -> None:
    """access: a workplace mentor sees the students of their visible placements and their
    employer's opportunities; a community mentor their mentee once the round is published."""
    m1 = _link(session, rnd, "mentor", "m1")
    assert [s for s in STUDENTS if _sees_student(session, rnd, m1, s)] == ["s1"]
    assert [o for o in OPPORTUNITIES if _sees_opportunity(session, rnd, m1, o)] == ["o1", "o4"]
    c1 = _link(session, rnd, "mentor", "c1")
    assert not any(_sees_opportunity(session, rnd, c1, o) for o in OPPORTUNITIES)
    assert rnd.status == RoundStatus.review
    assert not any(_sees_student(session, rnd, c1, s) for s in STUDENTS)
    rnd.status = RoundStatus.published
    session.flush()
    assert [s for s in STUDENTS if _sees_student(session, rnd, c1, s)] == ["s3"]
    _status(session, rnd, "s1", AssignmentStatus.pinned)
    assert not _sees_student(session, rnd, m1, "s1")


def test_a_link_of_another_round_is_refused(
    session: Session, rnd: Round, make_program: Callable[..., Program]
) -> None:
    """access: a link of another round reads nothing of this one, even its own row's twin."""
    second = _setup(session, make_program(), _doc("r2"))
    for kind, ext in (("employer", "o1"), ("student", "s1"), ("mentor", "m1")):
        link = _link(session, second, kind, ext)
        with pytest.raises(NotAllowed, match="this link is not one of round 'r1'"):
            access.require_read(session, rnd, link)
        assert not _sees_student(session, rnd, link, "s1")
        assert not _sees_opportunity(session, rnd, link, "o1")


def test_rows_of_another_round_are_refused_even_to_staff(
    session: Session, program: Program, rnd: Round, make_program: Callable[..., Program]
) -> None:
    """access: a student or opportunity id of another round (another program's) is refused,
    whoever asks, and `same_round` refuses such rows by name."""
    second = _setup(session, make_program(), _doc("r2"))
    coordinator = _user(session, "c@example.org", program, Role.coordinator)
    for actor in (None, coordinator):
        with pytest.raises(NotAllowed, match=r"student .* belongs to another round"):
            access.require_student(session, rnd, actor, _st(session, second, "s1").id)
        with pytest.raises(NotAllowed, match=r"opportunity .* belongs to another round"):
            access.require_opportunity(session, rnd, actor, _opp(session, second, "o1").id)
    access.same_round(rnd, _st(session, rnd, "s1"), None, _opp(session, rnd, "o1"))
    rows: list[Student | Opportunity | Mentor | SolveRun] = [
        _st(session, second, "s1"),
        _get(session, second, Opportunity, "o1"),
        _mentor(session, second, "m1"),
        session.get_one(SolveRun, second.chosen_run_id),
    ]
    for row in rows:
        with pytest.raises(NotAllowed, match="belongs to another round, not 'r1'"):
            access.same_round(rnd, _st(session, rnd, "s1"), row)


def _sees_employer(session: Session, rnd: Round, actor: access.Actor, opp: str) -> bool:
    return _sees(access.require_employer, session, rnd, actor, _employer_id(session, rnd, opp))


def test_an_employer_is_seen_by_staff_and_its_own_link_only(
    session: Session, program: Program, rnd: Round
) -> None:
    """access: an employer is seen by the system and any member of the program (a viewer
    too) and by its own link; another employer's link, a student's (even one placed with it)
    and a mentor's (even its own workplace mentor) are refused."""
    viewer = _user(session, "v@example.org", program, Role.viewer)
    for actor in (None, viewer):
        assert _sees_employer(session, rnd, actor, "o1")
        assert _sees_employer(session, rnd, actor, "o2")
    emp1 = _link(session, rnd, "employer", "o1")
    assert _sees_employer(session, rnd, emp1, "o1")
    assert not _sees_employer(session, rnd, emp1, "o2")
    # s1 is visibly placed with emp1, m1 is emp1's workplace mentor: still refused.
    for kind, ext in (("student", "s1"), ("mentor", "m1")):
        link = _link(session, rnd, kind, ext)
        with pytest.raises(NotAllowed, match=f"this {kind}'s link does not show employer"):
            access.require_employer(session, rnd, link, _employer_id(session, rnd, "o1"))


def test_an_employer_of_another_round_is_refused(
    session: Session,
    program: Program,
    rnd: Round,
    make_program: Callable[..., Program],
) -> None:
    """access: an employer id of another round is refused to staff, and to a link of this
    round even if its own id were forged into it; an outsider of the program is refused."""
    second = _setup(session, make_program(), _doc("r2"))
    other = _employer_id(session, second, "o1")
    coordinator = _user(session, "c@example.org", program, Role.coordinator)
    for actor in (None, coordinator):
        with pytest.raises(NotAllowed, match=r"employer .* belongs to another round"):
            access.require_employer(session, rnd, actor, other)
    assert not _sees_employer(session, second, _link(session, rnd, "employer", "o1"), "o1")
    outsider = _user(session, "x@example.org", make_program(), Role.coordinator)
    assert not _sees_employer(session, rnd, outsider, "o1")
