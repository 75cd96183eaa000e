"""Who may see and do what, per object: the one place that decides it.

Actions, queries, exports, importers and the pages call these functions; none of them decides
access on its own. Every check reads what is stored now (an account deactivated or a member
demoted since a page loaded is refused at once) and refuses with `NotAllowed` (rule `access`),
before anything of the round is read or locked.

Who is acting (an `Actor`):
- `None`: the system or the command line, run by whoever holds the database: may do anything.
- a `User` (an account): acts through a `Membership` of a program. `coordinator` and `admin`
  read and change the program's rounds; a `viewer` reads only; an inactive account, or one
  without a membership of the round's program, neither.
- a `LinkHolder`: someone without an account who holds a private link of one round (an
  employer contact, a student, a mentor). They see their own rows only:
  - an employer its opportunities (and their slots), and the students placed with it once
    placements are visible (published, confirmed or declined in the round's chosen run);
  - a student themselves, and the opportunity of their own visible placement;
  - a mentor themselves, and the students they mentor in the chosen run (a workplace mentor
    named on a visible placement, or a community mentor's meeting once the round is published).
  A link holder never reads a round's lists, exports or other people's rows, and changes only
  through the services built for them (confirm a slot, accept or decline a student).

Rows of another round are refused too (`same_round`): access is checked for the round's program,
and a row of another round may be another program's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from sqlalchemy import ColumnElement, Select, and_, exists, select
from sqlalchemy.orm import Session

from models import (
    Assignment,
    AssignmentStatus,
    Employer,
    Membership,
    Mentor,
    Mentorship,
    Opportunity,
    Program,
    Role,
    Round,
    RoundStatus,
    Slot,
    SolveRun,
    Student,
    User,
)
from scheduler.errors import NotAllowed

__all__ = [
    "EDITORS",
    "READERS",
    "VISIBLE_STATUSES",
    "Actor",
    "LinkHolder",
    "program_role",
    "readable_programs",
    "require_edit",
    "require_employer",
    "require_opportunity",
    "require_read",
    "require_staff",
    "require_student",
    "same_round",
]

# Roles whose members may change a program's rounds, and those who may read them.
EDITORS: Final = (Role.coordinator, Role.admin)
READERS: Final = (Role.viewer, Role.coordinator, Role.admin)
# Placements that employers, students and mentors see: what was published to them.
VISIBLE_STATUSES: Final = (
    AssignmentStatus.published,
    AssignmentStatus.confirmed,
    AssignmentStatus.declined,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkHolder:
    """The holder of a private link of one round: `kind` says whose, `row_id` is the database
    id of that employer, student or mentor (resolved from the link's token by its service)."""

    kind: Literal["employer", "student", "mentor"]
    round_id: int
    row_id: int


Actor = User | LinkHolder | None


def _membership(session: Session, program_id: int, user: User) -> tuple[Role | None, str]:
    """The user's role in the program as stored now (None: not a member) and the program's
    slug; `NotAllowed` for an account that is not stored or is inactive. One query."""
    member = and_(Membership.user_id == User.id, Membership.program_id == Program.id)
    row = session.execute(
        select(User.email, User.active, Membership.role, Program.slug)
        .select_from(User)
        .join(Program, Program.id == program_id)
        .outerjoin(Membership, member)
        .where(User.id == user.id)
    ).one_or_none()
    if row is None:
        raise NotAllowed(f"access: user {user.email} is not a stored account")
    email, active, role, program = row
    if not active:
        raise NotAllowed(f"access: user {email} is inactive")
    return (None if role is None else Role(role)), program


def program_role(session: Session, program_id: int, user: User) -> Role:
    """The user's role in the program as stored now; `NotAllowed` for an account that is not
    stored, inactive, or not a member. One query."""
    role, slug = _membership(session, program_id, user)
    if role is None:
        raise NotAllowed(f"access: user {user.email} is not a member of program {slug}")
    return role


def _staff_role(session: Session, rnd: Round, user: User, allowed: tuple[Role, ...]) -> None:
    role, slug = _membership(session, rnd.program_id, user)
    if role not in allowed:
        viewer = " (a viewer only reads)" if role == Role.viewer else ""
        what = "a coordinator" if allowed == EDITORS else "a member"
        raise NotAllowed(f"access: user {user.email} is not {what} of program {slug}{viewer}")


def require_edit(session: Session, rnd: Round, actor: Actor) -> None:
    """May `actor` change the round (solve, move, pin, publish, import)? The system may; a
    coordinator or admin of the round's program may; nobody else, link holders included."""
    if actor is None:
        return
    if isinstance(actor, LinkHolder):
        raise NotAllowed(f"access: a {actor.kind}'s link does not change round {rnd.external_id!r}")
    _staff_role(session, rnd, actor, EDITORS)


def require_staff(session: Session, rnd: Round, actor: Actor) -> None:
    """May `actor` read the whole round (its lists, dashboards, exports of student data)? The
    system and any member of the round's program (viewers included); no link holder."""
    if actor is None:
        return
    if isinstance(actor, LinkHolder):
        raise NotAllowed(f"access: a {actor.kind}'s link does not read round {rnd.external_id!r}")
    _staff_role(session, rnd, actor, READERS)


def require_read(session: Session, rnd: Round, actor: Actor) -> None:
    """May `actor` read anything of the round at all? Staff as `require_staff`; a link holder
    of this round (what they then see is decided per row by the functions below)."""
    if isinstance(actor, LinkHolder):
        if actor.round_id != rnd.id:
            raise NotAllowed(f"access: this link is not one of round {rnd.external_id!r}")
        return
    require_staff(session, rnd, actor)


def readable_programs(user: User) -> Select[int]:
    """The ids of the programs whose rounds `user` may read, as a subquery to filter lists by
    (an inactive account reads none)."""
    return (
        select(Membership.program_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.user_id == user.id, User.active.is_(True))
    )


def same_round(rnd: Round, *rows: Student | Opportunity | Slot | Mentor | SolveRun | None) -> None:
    """Refuse (`NotAllowed`) a row of another round: access was checked for this round's
    program only, and a row of another round may belong to another program."""
    for row in rows:
        if row is not None and row.round_id != rnd.id:
            name = (
                f"solve run {row.id}"
                if isinstance(row, SolveRun)
                else f"{type(row).__name__.lower()} {row.external_id!r}"
            )
            raise NotAllowed(f"access: {name} belongs to another round, not {rnd.external_id!r}")


def _visible(rnd: Round) -> list[ColumnElement[bool]]:
    """Conditions on `Assignment` for a placement that its people may see."""
    return [
        Assignment.run_id == rnd.chosen_run_id,
        Assignment.status.in_(VISIBLE_STATUSES),
    ]


def _in_round(
    session: Session,
    rnd: Round,
    model: type[Student] | type[Opportunity] | type[Employer],
    row_id: int,
) -> None:
    """Refuse an id of a row of another round (or of none): staff were checked for this
    round's program only. One query."""
    found = session.scalar(select(exists().where(model.id == row_id, model.round_id == rnd.id)))
    if not found:
        raise NotAllowed(
            f"access: {model.__name__.lower()} {row_id} belongs to another round,"
            f" not {rnd.external_id!r}"
        )


def require_student(session: Session, rnd: Round, actor: Actor, student_id: int) -> None:
    """May `actor` see this student of the round? Staff of the program (a student of another
    round is refused); the student's own link; the employer the student is visibly placed
    with; the student's mentor (workplace on a visible placement, community once the round is
    published). One query besides the staff check."""
    require_read(session, rnd, actor)
    if not isinstance(actor, LinkHolder):
        _in_round(session, rnd, Student, student_id)
        return
    if actor.kind == "student":
        allowed = actor.row_id == student_id
    elif rnd.chosen_run_id is None:
        allowed = False
    elif actor.kind == "employer":
        allowed = bool(
            session.scalar(
                select(
                    exists().where(
                        Assignment.student_id == student_id,
                        Assignment.opportunity_id == Opportunity.id,
                        Opportunity.employer_id == actor.row_id,
                        *_visible(rnd),
                    )
                )
            )
        )
    else:
        workplace = exists().where(
            Assignment.student_id == student_id,
            Assignment.mentor_id == actor.row_id,
            *_visible(rnd),
        )
        community = exists().where(
            Mentorship.run_id == rnd.chosen_run_id,
            Mentorship.student_id == student_id,
            Mentorship.mentor_id == actor.row_id,
        )
        published = rnd.status in (RoundStatus.published, RoundStatus.closed)
        allowed = bool(session.scalar(select(workplace | (community & published))))
    if not allowed:
        raise NotAllowed(f"access: this {actor.kind}'s link does not show student {student_id}")


def require_opportunity(session: Session, rnd: Round, actor: Actor, opportunity_id: int) -> None:
    """May `actor` see this opportunity (and its slots)? Staff of the program (an opportunity
    of another round is refused); the employer that offers it; a student visibly placed in it;
    a workplace mentor of its employer. One query besides the staff check."""
    require_read(session, rnd, actor)
    if not isinstance(actor, LinkHolder):
        _in_round(session, rnd, Opportunity, opportunity_id)
        return
    owner = select(Opportunity.employer_id).where(
        Opportunity.id == opportunity_id, Opportunity.round_id == rnd.id
    )
    if actor.kind == "employer":
        allowed = session.scalar(owner) == actor.row_id
    elif actor.kind == "mentor":
        allowed = bool(
            session.scalar(
                select(
                    exists().where(
                        Mentor.id == actor.row_id,
                        Mentor.employer_id.is_not(None),
                        Mentor.employer_id == owner.scalar_subquery(),
                    )
                )
            )
        )
    else:
        allowed = rnd.chosen_run_id is not None and bool(
            session.scalar(
                select(
                    exists().where(
                        Assignment.student_id == actor.row_id,
                        Assignment.opportunity_id == opportunity_id,
                        *_visible(rnd),
                    )
                )
            )
        )
    if not allowed:
        raise NotAllowed(
            f"access: this {actor.kind}'s link does not show opportunity {opportunity_id}"
        )


def require_employer(session: Session, rnd: Round, actor: Actor, employer_id: int) -> None:
    """May `actor` see this employer of the round (its opportunities, slots, and the students
    placed with it)? Staff of the program (an employer of another round is refused, one query);
    the employer's own link; no other link (a student's or a mentor's link is refused even for
    the employer they are placed with or work for: they see their own rows only)."""
    require_read(session, rnd, actor)
    if not isinstance(actor, LinkHolder):
        _in_round(session, rnd, Employer, employer_id)
        return
    if actor.kind != "employer" or actor.row_id != employer_id:
        raise NotAllowed(f"access: this {actor.kind}'s link does not show employer {employer_id}")
