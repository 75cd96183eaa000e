"""What the coordinator's page of one student reads: the round's student by database id, their
story (`queries.student_story`) and whether the acting account may change them.

The pages address a student by the database id of the URL (ids only in URLs), and a student of
another round under this round's URL must be "not found" rather than "not allowed": it is not
this round's student at all. `round_student` gives that answer (`UnknownId`); `student_page`
puts the story and the account's right to act together, so the page's view makes one call.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Round, Student
from scheduler.access import EDITORS, Actor, LinkHolder, program_role, require_staff
from scheduler.queries import StudentStory, UnknownId, student_story

__all__ = ["StudentPage", "may_edit", "round_student", "student_page"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StudentPage:
    """One student's story as staff see it, and whether `actor` may act on the student."""

    story: StudentStory
    editable: bool


def round_student(session: Session, rnd: Round, student_id: int, actor: Actor) -> Student:
    """The round's student with this database id, for staff of the round (`require_staff`);
    `UnknownId` when the round has no such student (none at all, or another round's). Two
    statements: the access check and the student."""
    require_staff(session, rnd, actor)
    student = session.scalars(
        select(Student).where(Student.id == student_id, Student.round_id == rnd.id)
    ).one_or_none()
    if student is None:
        raise UnknownId(f"lookup: round {rnd.external_id!r} has no student {student_id}")
    return student


def may_edit(session: Session, rnd: Round, actor: Actor) -> bool:
    """Whether `actor` may change the round (`access.require_edit` would let them): the system,
    a coordinator or an admin of the round's program. A page shows its action buttons only
    then; the actions check again when they run. One statement for an account."""
    if actor is None:
        return True
    if isinstance(actor, LinkHolder):
        return False
    return program_role(session, rnd.program_id, actor) in EDITORS


def student_page(session: Session, rnd: Round, student_id: int, actor: Actor) -> StudentPage:
    """The student of the round with this database id (`round_student`), their story in the
    chosen run and whether `actor` may act on them; a constant number of statements whatever
    the round's size (`student_story`'s and three)."""
    student = round_student(session, rnd, student_id, actor)
    return StudentPage(
        story=student_story(session, rnd, student, actor),
        editable=may_edit(session, rnd, actor),
    )
