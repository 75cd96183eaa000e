"""The audit trail: the event every action writes, and how rows read in it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy.orm import Session

from models import Assignment, AuditEvent, Employer, Mentor, Opportunity, Pin, Round, Slot, User


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What an action changed: its audit `event` and the JSON `before` and `after` the event
    holds (a placement, pins, the round's status...), and `notes` on side effects (a dropped
    mentorship, a published placement not carried over...)."""

    action: str
    before: Any
    after: Any
    notes: tuple[str, ...] = ()
    event: AuditEvent = field(repr=False)


def record(
    session: Session,
    rnd: Round,
    user: User | None,
    action: str,
    target: tuple[str, str | int],
    *,
    before: Any,
    after: Any,
    notes: Sequence[str] = (),
    **extra: Any,
) -> Outcome:
    detail: dict[str, Any] = {"before": before, "after": after, **extra}
    if notes:
        detail["notes"] = list(notes)
    # The event outlives the account (user_id is set null on delete): keep who it was.
    detail["user"] = user.email if user is not None else None
    event = AuditEvent(
        program_id=rnd.program_id,
        round_id=rnd.id,
        user=user,
        action=action,
        target_type=target[0],
        target_id=str(target[1]),
        detail=detail,
    )
    session.add(event)
    return Outcome(action=action, before=before, after=after, notes=tuple(notes), event=event)


def ext_of(
    session: Session, model: type[Opportunity] | type[Slot] | type[Mentor], ident: int | None
) -> str | None:
    """The document id of a row (from the identity map when loaded already)."""
    if ident is None:
        return None
    # get_one's type is lost on a union of models; every one of them has an external id.
    row = cast("Opportunity | Slot | Mentor", session.get_one(model, ident))
    return row.external_id


def employer_ext_of(session: Session, opportunity: Opportunity) -> str:
    return session.get_one(Employer, opportunity.employer_id).external_id


def where_of(session: Session, opportunity_id: int, slot_id: int | None) -> str:
    out = f"opportunity {ext_of(session, Opportunity, opportunity_id)}"
    return out + (f" slot {ext_of(session, Slot, slot_id)}" if slot_id is not None else "")


def placement_doc(session: Session, a: Assignment | None) -> dict[str, Any] | None:
    """An assignment as the audit trail keeps it: the document's ids and the travel."""
    if a is None:
        return None
    return {
        "opportunity": ext_of(session, Opportunity, a.opportunity_id),
        "slot": ext_of(session, Slot, a.slot_id),
        "mentor": ext_of(session, Mentor, a.mentor_id),
        "status": str(a.status),
        "travel_mode": str(a.travel_mode),
        "travel_minutes": a.travel_minutes,
        "preference_rank": a.preference_rank,
    }


def pin_doc(session: Session, p: Pin) -> dict[str, Any]:
    return {
        "opportunity": ext_of(session, Opportunity, p.opportunity_id),
        "slot": ext_of(session, Slot, p.slot_id),
        "mentor": ext_of(session, Mentor, p.mentor_id),
    }
