"""What the pages without accounts show: an employer's page, a student's, a mentor's, each
read for the holder of a private link (`scheduler.access.LinkHolder`) and no one else.

Minimum data (FERPA): an employer and a mentor see a student's first name and last initial,
the school, the shifts and the start date; a student sees their own placement, their own
classes, and the contact of their coordinator; an unplaced student is told that, and whom to
ask, never the solver's reasons (which may name other students). The calendars' own reading
of a person's placements (`scheduler.feeds.calendar_data`: published and confirmed
placements of the chosen run, one person's rows through indexes) is what the student and
mentor pages show, so a page and its feed never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    Employer,
    Membership,
    Mentor,
    Opportunity,
    Program,
    Role,
    Round,
    RoundStatus,
    Student,
    User,
)
from scheduler.access import LinkHolder, require_employer, require_read
from scheduler.calendars import KIND_LABELS, MODE_LABELS, short_name
from scheduler.employer_edits import OpportunityRow, employer_opportunities
from scheduler.errors import NotAllowed
from scheduler.feeds import calendar_data
from scheduler.queries import employer_view
from solver.problem import DAYS, format_time, parse_time

__all__ = [
    "Contact",
    "EmployerPage",
    "MentorPage",
    "PlacedRow",
    "ShiftPlace",
    "StudentPage",
    "coordinator_contact",
    "employer_page",
    "first_date",
    "holder_round",
    "mentor_page",
    "student_page",
]

DAY_LABELS: Final = dict(zip(DAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
_PUBLISHED: Final = (RoundStatus.published, RoundStatus.closed)


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    """Whom to ask: the program and a coordinator's name and email (None if none)."""

    program: str
    name: str | None
    email: str | None


def coordinator_contact(session: Session, round_id: int) -> Contact:
    """The round's program and its first active coordinator (or admin). One query."""
    row = session.execute(
        select(Program.name, User.name, User.email)
        .select_from(Round)
        .join(Program, Program.id == Round.program_id)
        .outerjoin(
            Membership,
            (Membership.program_id == Program.id)
            & Membership.role.in_((Role.coordinator, Role.admin)),
        )
        .outerjoin(User, (User.id == Membership.user_id) & User.active.is_(True))
        .where(Round.id == round_id)
        .order_by(User.id.is_(None), Membership.role != Role.coordinator, Membership.id)
        .limit(1)
    ).one()
    return Contact(program=row[0], name=row[1], email=row[2])


def holder_round(session: Session, holder: LinkHolder) -> Round:
    """The round of a link (the link was resolved just now, so it exists)."""
    rnd = session.get_one(Round, holder.round_id)
    require_read(session, rnd, holder)
    return rnd


def _block_key(b: Mapping[str, Any]) -> tuple[int, str, int]:
    day = b.get("day")
    when = DAYS.index(day) if day in DAYS else 7
    return (when, str(b.get("date") or ""), parse_time(str(b["start"])))


def shift_text(b: Mapping[str, Any]) -> str:
    """A block in words: `Mon 15:00-18:00`, `2026-10-02 09:00-12:00`."""
    day = b.get("day")
    when = DAY_LABELS.get(str(day), str(day)) if day else str(b.get("date"))
    return f"{when} {b['start']}\u2013{b['end']}"


def first_date(rnd: Round, blocks: Iterable[Mapping[str, Any]]) -> dt.date | None:
    """The first day a shift falls on in the round (holidays skipped), None if none does."""
    holidays = {dt.date.fromisoformat(h) for h in rnd.holidays}
    found: list[dt.date] = []
    for b in blocks:
        if b.get("date"):
            found.append(dt.date.fromisoformat(str(b["date"])))
            continue
        weekday = DAYS.index(str(b["day"]))
        day = rnd.start_date + dt.timedelta(days=(weekday - rnd.start_date.weekday()) % 7)
        while day <= rnd.end_date and day in holidays:
            day += dt.timedelta(days=7)
        if day <= rnd.end_date:
            found.append(day)
    return min(found) if found else None


# --- Employer ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PlacedRow:
    """A student placed with the employer, as the employer sees them."""

    student: str  # the document id (posted back with Accept or Decline)
    name: str  # first name and last initial
    school: str | None
    opportunity: str
    start_date: dt.date | None
    shifts: tuple[str, ...]
    mentor: str | None
    status: str

    @property
    def answerable(self) -> bool:
        return self.status == "published"


@dataclass(frozen=True, slots=True, kw_only=True)
class EmployerPage:
    round_name: str
    employer: str
    published: bool  # placements are out: the page shows students instead of edits
    editable: bool  # before solving results are published: confirm, edit, withdraw, add
    opportunities: tuple[OpportunityRow, ...]
    placed: tuple[PlacedRow, ...]
    clusters: tuple[str, ...]
    contact: Contact


def employer_page(session: Session, holder: LinkHolder) -> EmployerPage:
    """The employer's page: its opportunities, and once published its placed students."""
    if holder.kind != "employer":
        raise NotAllowed(f"access: a {holder.kind}'s link does not show an employer's page")
    rnd = holder_round(session, holder)
    employer = session.get_one(Employer, holder.row_id)
    require_employer(session, rnd, holder, employer.id)
    opportunities = employer_opportunities(session, rnd, holder, employer.id)
    published = rnd.status in _PUBLISHED
    placed: list[PlacedRow] = []
    if published:
        view = employer_view(session, rnd, employer, holder)
        blocks = {
            s.slot: [
                {"day": b.day, "date": b.date, "start": b.start, "end": b.end} for b in s.blocks
            ]
            for o in view.opportunities
            for s in o.slots
        }
        titles = {o.opportunity: o.title for o in view.opportunities}
        for p in view.placed:
            slot_blocks = sorted(blocks.get(p.slot, []), key=_block_key)
            placed.append(
                PlacedRow(
                    student=p.student,
                    name=short_name(p.name),
                    school=p.school,
                    opportunity=titles.get(p.opportunity, p.opportunity),
                    start_date=first_date(rnd, slot_blocks),
                    shifts=tuple(shift_text(b) for b in slot_blocks),
                    mentor=p.mentor_name,
                    status=p.status,
                )
            )
    clusters = tuple(
        sorted(
            set(
                session.scalars(
                    select(Opportunity.cluster).where(Opportunity.round_id == rnd.id).distinct()
                )
            )
        )
    )
    return EmployerPage(
        round_name=rnd.name,
        employer=employer.name,
        published=published,
        editable=rnd.status in (RoundStatus.draft, RoundStatus.review),
        opportunities=opportunities,
        placed=tuple(placed),
        clusters=clusters,
        contact=coordinator_contact(session, rnd.id),
    )


def student_row(session: Session, rnd: Round, holder: LinkHolder, external_id: str) -> Student:
    """The round's student of that document id, if the employer's link may see them (else
    `NotAllowed`, the same for a student who does not exist)."""
    student = session.scalar(
        select(Student).where(Student.round_id == rnd.id, Student.external_id == external_id)
    )
    if student is None:
        raise NotAllowed("access: this employer's link does not show that student")
    return student


# --- Student -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ShiftPlace:
    """One line of the student's week: a class or a shift (with when to leave for it)."""

    day: str
    start: str
    end: str
    what: str  # "Class" or "Placement"
    leave: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StudentPage:
    round_name: str
    name: str
    published: bool
    placed: bool
    title: str | None = None
    kind: str | None = None
    employer: str | None = None
    site_address: str | None = None
    transit_accessible: bool | None = None
    employer_contact: str | None = None
    start_date: dt.date | None = None
    travel: str | None = None  # "25 min by transit from school"
    week: tuple[ShiftPlace, ...] = ()
    dated: tuple[ShiftPlace, ...] = ()
    mentor: str | None = None
    meetings: tuple[str, ...] = ()
    bring: tuple[str, ...] = ()
    contact: Contact | None = None


def _leave(start: str, minutes: int | None, origin: str | None) -> str | None:
    if minutes is None:
        return None
    at = parse_time(start) - minutes
    return f"leave {origin or 'school'} by {format_time(at)}" if at >= 0 else None


def student_page(session: Session, holder: LinkHolder) -> StudentPage:
    """The student's own page: their placement (or that they are not placed, and whom to
    ask), their week of classes and shifts, travel, mentor and meetings."""
    if holder.kind != "student":
        raise NotAllowed(f"access: a {holder.kind}'s link does not show a student's page")
    rnd = holder_round(session, holder)
    student = session.get_one(Student, holder.row_id)
    contact = coordinator_contact(session, rnd.id)
    published = rnd.status in _PUBLISHED
    data = calendar_data(session, rnd, kind="student", row_id=student.id)
    weekly = [b for b in student.busy if b.get("day")]
    classes = [
        ShiftPlace(day=str(b["day"]), start=b["start"], end=b["end"], what="Class or commitment")
        for b in weekly
    ]
    if not data.placements:
        week = sorted(classes, key=lambda s: _block_key({"day": s.day, "start": s.start}))
        return StudentPage(
            round_name=rnd.name,
            name=short_name(student.name),
            published=published,
            placed=False,
            week=tuple(_labelled(week)),
            contact=contact,
        )
    p = data.placements[0]
    transit = session.scalar(
        select(Opportunity.transit_accessible).where(
            Opportunity.round_id == rnd.id, Opportunity.external_id == p.opportunity
        )
    )
    blocks = [
        {
            "day": DAYS[b.day] if b.day is not None else None,
            "date": b.date.isoformat() if b.date else None,
            "start": format_time(b.start),
            "end": format_time(b.end),
        }
        for b in p.blocks
    ]
    shifts = [
        ShiftPlace(
            day=str(b["day"] or b["date"]),
            start=str(b["start"]),
            end=str(b["end"]),
            what="Placement",
            leave=_leave(str(b["start"]), p.travel_minutes, p.origin),
        )
        for b in blocks
    ]
    week = sorted(
        [*classes, *(s for s in shifts if s.day in DAYS)],
        key=lambda s: _block_key({"day": s.day, "start": s.start}),
    )
    dated = sorted((s for s in shifts if s.day not in DAYS), key=lambda s: (s.day, s.start))
    travel = None
    if p.travel_minutes is not None and p.travel_mode is not None:
        how = MODE_LABELS.get(p.travel_mode, p.travel_mode)
        travel = f"{p.travel_minutes} min {how} from {p.origin or 'school'}"
    meetings = tuple(
        f"{DAY_LABELS[DAYS[m.day]]} {format_time(m.start)}\u2013{format_time(m.end)}"
        f" with {m.mentor_name} ({m.place})"
        for m in data.meetings
    )
    return StudentPage(
        round_name=rnd.name,
        name=short_name(student.name),
        published=published,
        placed=True,
        title=p.title,
        kind=KIND_LABELS.get(p.kind, p.kind),
        employer=p.employer_name,
        site_address=p.site_address,
        transit_accessible=transit,
        employer_contact=p.employer_contact,
        start_date=first_date(rnd, blocks),
        travel=travel,
        week=tuple(_labelled(week)),
        dated=tuple(dated),
        mentor=p.mentor_name or (data.meetings[0].mentor_name if data.meetings else None),
        meetings=meetings,
        bring=p.required_credentials,
        contact=contact,
    )


def _labelled(rows: Sequence[ShiftPlace]) -> list[ShiftPlace]:
    """Weekday codes as labels (`mon` -> `Mon`)."""
    return [
        ShiftPlace(
            day=DAY_LABELS.get(s.day, s.day), start=s.start, end=s.end, what=s.what, leave=s.leave
        )
        for s in rows
    ]


# --- Mentor ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MentoredRow:
    name: str  # first name and last initial
    where: str
    shifts: tuple[str, ...]
    meeting: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MentorPage:
    round_name: str
    name: str
    published: bool
    students: tuple[MentoredRow, ...]
    contact: Contact


def mentor_page(session: Session, holder: LinkHolder) -> MentorPage:
    """The mentor's page: their students (first name, last initial), shifts and meetings."""
    if holder.kind != "mentor":
        raise NotAllowed(f"access: a {holder.kind}'s link does not show a mentor's page")
    rnd = holder_round(session, holder)
    mentor = session.get_one(Mentor, holder.row_id)
    data = calendar_data(session, rnd, kind="mentor", row_id=mentor.id)
    names: dict[str, str] = dict(
        session.execute(
            select(Student.external_id, Student.name).where(
                Student.round_id == rnd.id,
                Student.external_id.in_(
                    [p.student for p in data.placements] + [m.student for m in data.meetings]
                ),
            )
        ).all()
    )
    rows: list[MentoredRow] = []
    meetings = {m.student: m for m in data.meetings}
    for p in data.placements:
        m = meetings.pop(p.student, None)
        rows.append(
            MentoredRow(
                name=short_name(names.get(p.student, p.student_first)),
                where=f"{p.title}, {p.employer_name}",
                shifts=tuple(
                    f"{DAY_LABELS[DAYS[b.day]] if b.day is not None else b.date}"
                    f" {format_time(b.start)}\u2013{format_time(b.end)}"
                    for b in p.blocks
                ),
                meeting=None
                if m is None
                else f"{DAY_LABELS[DAYS[m.day]]} {format_time(m.start)}\u2013{format_time(m.end)}"
                f" ({m.place})",
            )
        )
    for m in meetings.values():
        rows.append(
            MentoredRow(
                name=short_name(names.get(m.student, m.student_first)),
                where=m.place,
                shifts=(),
                meeting=f"{DAY_LABELS[DAYS[m.day]]} {format_time(m.start)}\u2013"
                f"{format_time(m.end)} ({m.place})",
            )
        )
    return MentorPage(
        round_name=rnd.name,
        name=mentor.name,
        published=rnd.status in _PUBLISHED,
        students=tuple(sorted(rows, key=lambda r: r.name)),
        contact=coordinator_contact(session, rnd.id),
    )
