"""What the coordinator's page of one student reads: the round's student by database id, their
story (`queries.student_story`), who holds the seats they could have had, and whether the acting
account may change them.

The pages address a student by the database id of the URL (ids only in URLs), and a student of
another round under this round's URL must be "not found" rather than "not allowed": it is not
this round's student at all. `round_student` gives that answer (`UnknownId`); `student_page`
puts the story, the seats' holders and the account's right to act together, so the page's view
makes one call.

The holders: the solver's `capacity_taken` reason names up to five students holding the seats
an unplaced student could have had ("seats held by s2, s7 and 3 more", `solver.reasons`), by
their round ids; a coordinator's page names them and links to them, so they are read back as
students of the round (their database id and name). Staff only, as the detail itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Round, Student
from scheduler.access import EDITORS, Actor, LinkHolder, program_role, require_staff
from scheduler.queries import StudentStory, UnknownId, student_story

__all__ = ["Holder", "StudentPage", "may_edit", "round_student", "student_page"]

# The solver's wording of a `capacity_taken` detail that names holders (`solver.reasons`).
_HELD_BY: Final = "seats held by "
_MORE: Final = re.compile(r" and (\d+) more$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Holder:
    """A student holding a seat an unplaced student could have had."""

    student_id: int
    student: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StudentPage:
    """One student's story as staff see it, and whether `actor` may act on the student."""

    story: StudentStory
    editable: bool
    holders: tuple[Holder, ...]  # named by the `capacity_taken` reason, in its order
    more_holders: int  # holders the reason counts but does not name


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
    the round's size (`student_story`'s and three; four for an unplaced student)."""
    student = round_student(session, rnd, student_id, actor)
    story = student_story(session, rnd, student, actor)
    named: list[str] = []
    more = 0
    for r in story.reasons:
        if r.code == "capacity_taken" and r.detail and r.detail.startswith(_HELD_BY):
            text = r.detail.removeprefix(_HELD_BY)
            found = _MORE.search(text)
            if found is not None:
                more, text = int(found.group(1)), text[: found.start()]
            named = [x for x in text.split(", ") if x]
    holders: tuple[Holder, ...] = ()
    if story.run_id is not None and not story.placed:
        # Read for every unplaced student, named holders or not: one path, one count.
        rows = {
            ext: Holder(student_id=sid, student=ext, name=name)
            for sid, ext, name in session.execute(
                select(Student.id, Student.external_id, Student.name).where(
                    Student.round_id == rnd.id, Student.external_id.in_(named)
                )
            )
        }
        holders = tuple(rows[x] for x in named if x in rows)
    return StudentPage(
        story=story,
        editable=may_edit(session, rnd, actor),
        holders=holders,
        more_holders=more,
    )
