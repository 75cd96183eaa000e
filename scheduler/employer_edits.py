"""An employer's answers before solving, by private link: confirm an opportunity as it stands,
edit it (capacity, shifts and dates, requirements, site, contact), withdraw it, add one; and
what the coordinator sees of those answers (`confirmation_progress`, the round's
"solve with confirmed opportunities only" setting).

Every change takes the locks of `scheduler.actions.locks` in their one order (the round shared,
then the opportunity, then its slots by id): a coordinator's move counting a slot's seats and
an employer's edit of that slot's capacity queue behind each other, so neither sees the other
half-done. `Opportunity.employer_version` counts the employer's changes; an edit posted from a
page showing an older version is refused (`version`) instead of overwriting what a colleague
saved meanwhile (no lost update). Edits are checked field by field as imports are (every error
next to its field, nothing written), then against the round's pins and chosen-run placements
(`scheduler.breaks.find_breaks`): an edit that would break one is refused, inside a savepoint,
so nothing of it stays; the coordinator decides such changes. Each change writes one audit
event (`opportunity.confirm|edit|withdraw|add`, by the employer).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Assignment,
    Employer,
    Opportunity,
    OpportunityKind,
    Pin,
    Round,
    RoundStatus,
    Slot,
    Student,
    utcnow,
)
from scheduler.access import Actor, LinkHolder, require_edit, require_employer, require_staff
from scheduler.actions.answers import accept, decline
from scheduler.actions.audit import record
from scheduler.actions.locks import lock_round
from scheduler.breaks import find_breaks
from scheduler.calendars import short_name
from scheduler.errors import ActionRefused, NotAllowed
from scheduler.mail import queue_decline
from solver.problem import DAYS

__all__ = [
    "ConfirmationProgress",
    "EditRefused",
    "OpportunityEdit",
    "OpportunityRow",
    "SlotRow",
    "add_opportunity",
    "answer_placement",
    "confirm_opportunity",
    "confirmation_progress",
    "employer_opportunities",
    "format_blocks",
    "parse_blocks",
    "set_confirmed_only",
    "withdraw_opportunity",
]

_TIME: Final = re.compile(r"^([01]\d|2[0-4]):[0-5]\d$")
_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class EditRefused(ActionRefused):
    """An edit with field errors (`fields`: field name -> message); nothing was written."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__("fields", "fields: " + "; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = dict(fields)


# --- Reading ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotRow:
    id: int
    slot: str
    capacity: int
    blocks: str  # the editable text: one "mon 15:00-18:00" or "2026-10-02 09:00-12:00" a line
    lines: tuple[str, ...]  # the same, for display


@dataclass(frozen=True, slots=True, kw_only=True)
class OpportunityRow:
    """An opportunity as its employer sees and edits it."""

    id: int
    opportunity: str
    title: str
    cluster: str
    capacity: int | None
    address: str | None
    transit_accessible: bool
    min_age: int | None
    min_grade: int | None
    required_credentials: tuple[str, ...]
    requires_mentor: bool
    hazardous: bool
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    confirmed: bool
    withdrawn: bool
    version: int
    slots: tuple[SlotRow, ...]

    @property
    def seats(self) -> int:
        total = sum(s.capacity for s in self.slots)
        return total if self.capacity is None else min(total, self.capacity)


def format_blocks(blocks: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """A slot's blocks as lines: `mon 15:00-18:00`, `2026-10-02 09:00-12:00`."""
    return tuple(f"{b.get('day') or b.get('date')} {b['start']}-{b['end']}" for b in blocks)


def employer_opportunities(
    session: Session, rnd: Round, actor: Actor, employer_id: int
) -> tuple[OpportunityRow, ...]:
    """The employer's opportunities with their slots, by external id. Two queries."""
    require_employer(session, rnd, actor, employer_id)
    opportunities = list(
        session.scalars(
            select(Opportunity)
            .where(Opportunity.employer_id == employer_id, Opportunity.round_id == rnd.id)
            .order_by(Opportunity.external_id)
        )
    )
    slots: dict[int, list[SlotRow]] = defaultdict(list)
    if opportunities:
        for sl in session.scalars(
            select(Slot)
            .where(Slot.opportunity_id.in_([o.id for o in opportunities]))
            .order_by(Slot.id)
        ):
            lines = format_blocks(sl.blocks)
            slots[sl.opportunity_id].append(
                SlotRow(
                    id=sl.id,
                    slot=sl.external_id,
                    capacity=sl.capacity,
                    blocks="\n".join(lines),
                    lines=lines,
                )
            )
    return tuple(
        OpportunityRow(
            id=o.id,
            opportunity=o.external_id,
            title=o.title,
            cluster=o.cluster,
            capacity=o.capacity,
            address=o.address,
            transit_accessible=o.transit_accessible,
            min_age=o.min_age,
            min_grade=o.min_grade,
            required_credentials=tuple(o.required_credentials),
            requires_mentor=o.requires_mentor,
            hazardous=o.hazardous,
            contact_name=o.contact_name,
            contact_email=o.contact_email,
            contact_phone=o.contact_phone,
            confirmed=o.confirmed_at is not None,
            withdrawn=o.withdrawn_at is not None,
            version=o.employer_version,
            slots=tuple(slots[o.id]),
        )
        for o in opportunities
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmationProgress:
    """How many opportunities (and their seats) employers have confirmed, of those not
    withdrawn; `withdrawn` counts the others."""

    confirmed: int
    total: int
    confirmed_seats: int
    total_seats: int
    withdrawn: int
    confirmed_only: bool


def confirmation_progress(session: Session, rnd: Round, actor: Actor) -> ConfirmationProgress:
    """The round's confirmation progress for the coordinator's dashboard. One query whatever
    the round's size (seats: the smaller of an opportunity's capacity and its slots' sum)."""
    require_staff(session, rnd, actor)
    seats = (
        select(Slot.opportunity_id, func.sum(Slot.capacity).label("seats"))
        .where(Slot.round_id == rnd.id)
        .group_by(Slot.opportunity_id)
        .subquery()
    )
    slot_seats = func.coalesce(seats.c.seats, 0)
    per_opp = func.coalesce(
        func.min(Opportunity.capacity, slot_seats)
        if session.get_bind().dialect.name == "sqlite"
        else func.least(Opportunity.capacity, slot_seats),
        slot_seats,
    )
    live = Opportunity.withdrawn_at.is_(None)
    confirmed = live & Opportunity.confirmed_at.is_not(None)
    row = session.execute(
        select(
            func.count().filter(confirmed),
            func.count().filter(live),
            func.coalesce(func.sum(per_opp).filter(confirmed), 0),
            func.coalesce(func.sum(per_opp).filter(live), 0),
            func.count().filter(~live),
        )
        .select_from(Opportunity)
        .outerjoin(seats, seats.c.opportunity_id == Opportunity.id)
        .where(Opportunity.round_id == rnd.id)
    ).one()
    return ConfirmationProgress(
        confirmed=int(row[0]),
        total=int(row[1]),
        confirmed_seats=int(row[2]),
        total_seats=int(row[3]),
        withdrawn=int(row[4]),
        confirmed_only=rnd.confirmed_only,
    )


def set_confirmed_only(session: Session, rnd: Round, actor: Actor, value: bool) -> None:
    """The coordinator's round setting: solve with confirmed opportunities only."""
    require_edit(session, rnd, actor)
    before = rnd.confirmed_only
    rnd.confirmed_only = value
    record(
        session,
        rnd,
        actor if not isinstance(actor, LinkHolder) else None,
        "round.confirmed_only",
        ("rounds", rnd.external_id),
        before=before,
        after=value,
    )
    session.flush()


# --- Changing -----------------------------------------------------------------------------------


def _employer_of(session: Session, actor: Actor, rnd: Round) -> LinkHolder:
    if not isinstance(actor, LinkHolder) or actor.kind != "employer":
        raise NotAllowed("access: only the employer's own link changes its opportunities")
    if actor.round_id != rnd.id:
        raise NotAllowed(f"access: this link is not one of round {rnd.external_id!r}")
    return actor


def _lock_opportunity(
    session: Session, rnd: Round, holder: LinkHolder, opportunity_id: int
) -> Opportunity:
    """Lock the round (shared) and the employer's opportunity, read as stored now."""
    state = lock_round(session, rnd, whole=False)
    if state.status == RoundStatus.solving:
        raise ActionRefused(
            "state", "state: the round is being solved right now: try again in a few minutes"
        )
    opp = session.execute(
        select(Opportunity)
        .where(Opportunity.id == opportunity_id, Opportunity.round_id == rnd.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if opp is None or opp.employer_id != holder.row_id:
        raise NotAllowed(
            f"access: this employer's link does not change opportunity {opportunity_id}"
        )
    return opp


def _state_doc(opp: Opportunity, slots: Sequence[Slot]) -> dict[str, Any]:
    return {
        "capacity": opp.capacity,
        "address": opp.address,
        "transit_accessible": opp.transit_accessible,
        "min_age": opp.min_age,
        "min_grade": opp.min_grade,
        "required_credentials": list(opp.required_credentials),
        "contact_name": opp.contact_name,
        "contact_email": opp.contact_email,
        "contact_phone": opp.contact_phone,
        "confirmed": opp.confirmed_at is not None,
        "withdrawn": opp.withdrawn_at is not None,
        "slots": {s.external_id: {"capacity": s.capacity, "blocks": list(s.blocks)} for s in slots},
    }


def _slots_locked(session: Session, opp: Opportunity) -> list[Slot]:
    return list(
        session.scalars(
            select(Slot)
            .where(Slot.opportunity_id == opp.id)
            .order_by(Slot.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    )


def _employer_ext(session: Session, holder: LinkHolder) -> str:
    return session.get_one(Employer, holder.row_id).external_id


def _check_version(opp: Opportunity, version: int | None) -> None:
    if version is not None and version != opp.employer_version:
        raise ActionRefused(
            "version",
            f"version: opportunity {opp.title!r} was changed by someone else since this page"
            " was loaded: reload the page to see the change, then try again",
        )


def confirm_opportunity(
    session: Session, rnd: Round, actor: Actor, opportunity_id: int, *, version: int | None = None
) -> None:
    """The employer confirms the opportunity as it stands (idempotent)."""
    holder = _employer_of(session, actor, rnd)
    opp = _lock_opportunity(session, rnd, holder, opportunity_id)
    _check_version(opp, version)
    if opp.withdrawn_at is not None:
        raise ActionRefused("state", "state: this opportunity was withdrawn: ask the coordinator")
    before = opp.confirmed_at is not None
    if opp.confirmed_at is None:
        opp.confirmed_at = utcnow()
        opp.employer_version += 1
    employer = _employer_ext(session, holder)
    record(
        session,
        rnd,
        None,
        "opportunity.confirm",
        ("opportunities", opp.external_id),
        before={"confirmed": before},
        after={"confirmed": True},
        by=f"employer {employer}",
    )
    session.flush()


def withdraw_opportunity(
    session: Session, rnd: Round, actor: Actor, opportunity_id: int, *, version: int | None = None
) -> None:
    """The employer withdraws the opportunity: no seats in any later solve. Refused while a
    pin or a placement of the chosen run holds a seat there (the coordinator moves them)."""
    holder = _employer_of(session, actor, rnd)
    opp = _lock_opportunity(session, rnd, holder, opportunity_id)
    _check_version(opp, version)
    held = (
        session.scalar(select(func.count()).select_from(Pin).where(Pin.opportunity_id == opp.id))
        or 0
    )
    if rnd.chosen_run_id is not None:
        held += (
            session.scalar(
                select(func.count())
                .select_from(Assignment)
                .where(Assignment.run_id == rnd.chosen_run_id, Assignment.opportunity_id == opp.id)
            )
            or 0
        )
    if held:
        raise ActionRefused(
            "H2",
            f"H2: {held} student{'s are' if held != 1 else ' is'} placed in or held for"
            f" {opp.title!r}: ask the coordinator"
            " to withdraw it, so that they can be placed elsewhere first",
        )
    if opp.withdrawn_at is None:
        opp.withdrawn_at = utcnow()
        opp.confirmed_at = None
        opp.employer_version += 1
    record(
        session,
        rnd,
        None,
        "opportunity.withdraw",
        ("opportunities", opp.external_id),
        before=None,
        after={"withdrawn": True},
        by=f"employer {_employer_ext(session, holder)}",
    )
    session.flush()


@dataclass(frozen=True, slots=True, kw_only=True)
class OpportunityEdit:
    """The fields of the edit (and add) form, as typed: checked by `validate`. `slots` maps a
    slot's id (0 for the new one of an added opportunity) to (capacity, blocks) text."""

    capacity: str = ""
    address: str = ""
    transit_accessible: bool = True
    min_age: str = ""
    min_grade: str = ""
    required_credentials: str = ""
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    slots: Mapping[int, tuple[str, str]] = field(default_factory=dict)
    title: str = ""  # add only
    cluster: str = ""  # add only


def _int(text: str, name: str, errors: dict[str, str], *, low: int = 0) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        errors[name] = "Enter a whole number."
        return None
    if value < low:
        errors[name] = f"Enter a number of at least {low}."
        return None
    return value


def parse_blocks(text: str, rnd: Round) -> tuple[list[dict[str, str]], str | None]:
    """Shift lines (`mon 15:00-18:00`, `2026-10-02 09:00-12:00`; one a line or `;`-separated)
    as the format's blocks, or an error naming the first bad line."""
    blocks: list[dict[str, str]] = []
    for raw in re.split(r"[;\n]", text):
        line = raw.strip()
        if not line:
            continue
        parts = line.replace("\u2013", "-").split()  # an en dash typed on a phone
        if len(parts) != 2 or parts[1].count("-") != 1:
            return (
                [],
                f"Write each shift as 'mon 15:00-18:00' or '2026-10-02 09:00-12:00': {line!r}",
            )
        when, times = parts[0].lower(), parts[1]
        start, end = times.split("-")
        if not _TIME.match(start) or not _TIME.match(end) or start >= end:
            return [], f"Times must be HH:MM, the start before the end: {line!r}"
        if when in DAYS:
            blocks.append({"day": when, "start": start, "end": end})
            continue
        if not _DATE.match(when):
            return [], f"A shift starts with a day (mon...sun) or a date (YYYY-MM-DD): {line!r}"
        try:
            day = dt.date.fromisoformat(when)
        except ValueError:
            return [], f"Not a date: {line!r}"
        if not rnd.start_date <= day <= rnd.end_date:
            return [], (
                f"The date must fall within the round ({rnd.start_date.isoformat()} to"
                f" {rnd.end_date.isoformat()}): {line!r}"
            )
        blocks.append({"date": when, "start": start, "end": end})
    if not blocks:
        return [], "Give at least one shift."
    return blocks, None


def _validate(
    edit: OpportunityEdit, rnd: Round, slot_ids: Sequence[int]
) -> tuple[dict[str, Any], dict[int, tuple[int, list[dict[str, str]]]]]:
    """The edit's values, or `EditRefused` with every field's error."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "capacity": _int(edit.capacity, "capacity", errors),
        "min_age": _int(edit.min_age, "min_age", errors),
        "min_grade": _int(edit.min_grade, "min_grade", errors),
        "address": edit.address.strip() or None,
        "transit_accessible": edit.transit_accessible,
        "required_credentials": sorted(
            {c.strip() for c in edit.required_credentials.split(",") if c.strip()}
        ),
        "contact_name": edit.contact_name.strip() or None,
        "contact_email": edit.contact_email.strip() or None,
        "contact_phone": edit.contact_phone.strip() or None,
    }
    if values["contact_email"] and not _EMAIL.match(values["contact_email"]):
        errors["contact_email"] = "Enter an email address like name@example.org."
    if values["contact_phone"] and len(values["contact_phone"]) > 40:
        errors["contact_phone"] = "At most 40 characters."
    slots: dict[int, tuple[int, list[dict[str, str]]]] = {}
    for sid in slot_ids:
        capacity_text, blocks_text = edit.slots.get(sid, ("", ""))
        cap = _int(capacity_text, f"slot-{sid}-capacity", errors)
        if cap is None and f"slot-{sid}-capacity" not in errors:
            errors[f"slot-{sid}-capacity"] = "Enter the number of students this shift takes."
        blocks, problem = parse_blocks(blocks_text, rnd)
        if problem:
            errors[f"slot-{sid}-blocks"] = problem
        if cap is not None and not problem:
            slots[sid] = (cap, blocks)
    if errors:
        raise EditRefused(errors)
    return values, slots


def edit_opportunity(
    session: Session,
    rnd: Round,
    actor: Actor,
    opportunity_id: int,
    edit: OpportunityEdit,
    *,
    version: int,
) -> None:
    """Apply the employer's edit: every field checked first (`EditRefused`, nothing written),
    then refused (`ActionRefused` with the broken rule) when it breaks a pin or a placement of
    the chosen run. The opportunity stays confirmed only if it was (an edit is an answer)."""
    holder = _employer_of(session, actor, rnd)
    opp = _lock_opportunity(session, rnd, holder, opportunity_id)
    slots = _slots_locked(session, opp)
    values, slot_values = _validate(edit, rnd, [s.id for s in slots])
    _check_version(opp, version)
    before = _state_doc(opp, slots)
    savepoint = session.begin_nested()
    for key, value in values.items():
        setattr(opp, key, value)
    for s in slots:
        s.capacity, s.blocks = slot_values[s.id]
    session.flush()
    breaks = [b for b in find_breaks(session, rnd) if b.new]
    if breaks:
        savepoint.rollback()
        session.expire_all()
        first = breaks[0]
        more = f" (and {len(breaks) - 1} more)" if len(breaks) > 1 else ""
        raise ActionRefused(
            first.rule,
            f"{first.rule}: this change would break a placement already made ({first.reason})"
            f"{more}: ask the coordinator to make it",
        )
    savepoint.commit()
    opp.employer_version += 1
    record(
        session,
        rnd,
        None,
        "opportunity.edit",
        ("opportunities", opp.external_id),
        before=before,
        after=_state_doc(opp, slots),
        by=f"employer {_employer_ext(session, holder)}",
    )
    session.flush()


def add_opportunity(session: Session, rnd: Round, actor: Actor, edit: OpportunityEdit) -> int:
    """A new opportunity of the employer with one shift pattern (`edit.slots[0]`), located at
    the employer's first opportunity (its coordinates; the coordinator geocodes a new address);
    confirmed at once. Returns its id."""
    holder = _employer_of(session, actor, rnd)
    state = lock_round(session, rnd, whole=False)
    if state.status not in (RoundStatus.draft, RoundStatus.review):
        raise ActionRefused(
            "state", "state: placements are published: ask the coordinator to add an opportunity"
        )
    errors: dict[str, str] = {}
    title = edit.title.strip()
    if not title:
        errors["title"] = "Give the opportunity a title."
    cluster = edit.cluster.strip()
    if not cluster:
        errors["cluster"] = "Choose a career cluster."
    try:
        values, slots = _validate(edit, rnd, [0])
    except EditRefused as refused:
        errors |= refused.fields
    if errors:
        raise EditRefused(errors)
    employer = session.get_one(Employer, holder.row_id)
    first = session.scalars(
        select(Opportunity)
        .where(Opportunity.employer_id == employer.id)
        .order_by(Opportunity.id)
        .limit(1)
    ).first()
    if first is None:
        raise ActionRefused(
            "state", "state: the employer has no site on record yet: ask the coordinator"
        )
    n = (
        session.scalar(
            select(func.count()).select_from(Opportunity).where(Opportunity.round_id == rnd.id)
        )
        or 0
    )
    ext = f"{employer.external_id}-new-{n + 1}"
    while session.scalar(
        select(Opportunity.id).where(Opportunity.round_id == rnd.id, Opportunity.external_id == ext)
    ):
        n += 1
        ext = f"{employer.external_id}-new-{n + 1}"
    capacity, blocks = slots[0]
    opp = Opportunity(
        round_id=rnd.id,
        employer_id=employer.id,
        external_id=ext,
        title=title,
        kind=OpportunityKind.internship,
        cluster=cluster,
        lat=first.lat,
        lon=first.lon,
        requires_mentor=False,
        hazardous=False,
        restricted=False,
        confirmed_at=utcnow(),
        employer_version=1,
        **values,
    )
    session.add(opp)
    session.flush()
    session.add(
        Slot(
            round_id=rnd.id,
            opportunity_id=opp.id,
            external_id=f"{ext}-s1",
            capacity=capacity,
            blocks=blocks,
        )
    )
    record(
        session,
        rnd,
        None,
        "opportunity.add",
        ("opportunities", ext),
        before=None,
        after={"title": title, "cluster": cluster, **values, "slots": {f"{ext}-s1": capacity}},
        by=f"employer {employer.external_id}",
    )
    session.flush()
    return opp.id


def answer_placement(
    session: Session,
    rnd: Round,
    actor: Actor,
    student_external_id: str,
    *,
    accepted: bool,
    reason: str = "",
) -> tuple[str, list[int]]:
    """The employer's "Accept" or "Decline" (with its reason, required) of a student placed
    with it (`scheduler.actions.accept|decline`); a decline queues a message to the round's
    coordinators (`scheduler.mail.queue_decline`). Returns the student's first name and last
    initial for the page to say so, and the messages to enqueue once committed. A student not
    placed with this employer is `NotAllowed`, the same as one who does not exist."""
    holder = _employer_of(session, actor, rnd)
    reason = reason.strip()
    if not accepted and not reason:
        raise EditRefused({"reason": "Say why, so the coordinator can find a better match."})
    if len(reason) > 1000:
        raise EditRefused({"reason": "At most 1000 characters."})
    student = session.scalar(
        select(Student).where(
            Student.round_id == rnd.id, Student.external_id == student_external_id
        )
    )
    if student is None:
        raise NotAllowed("access: this employer's link does not answer for that student")
    if accepted:
        accept(session, rnd, student, user=actor)
        return short_name(student.name), []
    decline(session, rnd, student, user=actor, reason=reason)
    employer = session.get_one(Employer, holder.row_id)
    mail = queue_decline(
        session,
        rnd,
        employer=employer.name,
        student=f"{student.external_id} ({short_name(student.name)})",
        reason=reason,
    )
    return short_name(student.name), mail
