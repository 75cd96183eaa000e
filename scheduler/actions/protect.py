"""Published and confirmed placements, protected: what a run would change of them.

Once placements are published, employers and students plan around them. A run that moves or
drops one (a fresh solve, a re-solve where a rule or a pin forced it) is refused by
`choose_run` and `publish` unless the coordinator accepts the changes, and the refusal names
every student affected with where they were and where they would go
(`ChangesRefused.changes`), so that the coordinator can tell each of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from models import Assignment, AssignmentStatus, AuditEvent, Opportunity, Round, Slot, Student
from scheduler.errors import ActionRefused

# Placements a later run must keep (or be accepted as changed).
PROTECTED: Final = (AssignmentStatus.published, AssignmentStatus.confirmed)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlacementChange:
    """A protected placement a run does not keep: the student, its status, and where the
    student was and would be (document ids; `to_*` None when the run leaves them unplaced)."""

    student: str
    status: str
    from_opportunity: str
    from_slot: str
    to_opportunity: str | None
    to_slot: str | None

    def __str__(self) -> str:
        where = (
            f"opportunity {self.to_opportunity} slot {self.to_slot}"
            if self.to_opportunity is not None
            else "unplaced"
        )
        return (
            f"{self.student}: {self.status} at opportunity {self.from_opportunity}"
            f" slot {self.from_slot} -> {where}"
        )


class ChangesRefused(ActionRefused):
    """A run that moves or drops published or confirmed placements, not accepted: rule
    `published`; `changes` lists every one."""

    def __init__(self, message: str, changes: Sequence[PlacementChange]) -> None:
        super().__init__("published", message)
        self.changes = tuple(changes)


def protected_changes(session: Session, old_run: int, new_run: int) -> list[PlacementChange]:
    """The published and confirmed placements of `old_run` that `new_run` does not hold in the
    same slot, by student id. One query, whatever the round's size."""
    old, new = aliased(Assignment), aliased(Assignment)
    st, o1, s1 = aliased(Student), aliased(Opportunity), aliased(Slot)
    o2, s2 = aliased(Opportunity), aliased(Slot)
    rows = session.execute(
        select(
            st.external_id,
            old.status,
            o1.external_id,
            s1.external_id,
            o2.external_id,
            s2.external_id,
        )
        .select_from(old)
        .join(st, st.id == old.student_id)
        .join(o1, o1.id == old.opportunity_id)
        .join(s1, s1.id == old.slot_id)
        .outerjoin(new, and_(new.run_id == new_run, new.student_id == old.student_id))
        .outerjoin(o2, o2.id == new.opportunity_id)
        .outerjoin(s2, s2.id == new.slot_id)
        .where(
            old.run_id == old_run,
            old.status.in_(PROTECTED),
            (new.id.is_(None)) | (new.slot_id != old.slot_id),
        )
        .order_by(st.external_id)
    )
    return [
        PlacementChange(
            student=s,
            status=str(status),
            from_opportunity=fo,
            from_slot=fs,
            to_opportunity=to,
            to_slot=ts,
        )
        for s, status, fo, fs, to, ts in rows
    ]


def refuse_changes(
    action: str, old_run: int, new_run: int, changes: Sequence[PlacementChange]
) -> ChangesRefused:
    """The refusal of `action` ("choose", "publish") for these changes, every student named."""
    lines = "\n".join(f"  {c}" for c in changes)
    return ChangesRefused(
        f"published: run {new_run} moves or drops {len(changes)} published or confirmed"
        f" placements of run {old_run}; to {action} it anyway, accept the changes"
        f" (`--accept-changes`) and tell each student and employer:\n{lines}",
        changes,
    )


def change_notes(old_run: int, new_run: int, changes: Sequence[PlacementChange]) -> list[str]:
    """The accepted changes as an outcome's notes: a count, then one line per student."""
    if not changes:
        return []
    head = (
        f"{len(changes)} published or confirmed placements of run {old_run} are changed in run"
        f" {new_run} (accepted): tell each student and employer"
    )
    return [head, *(str(c) for c in changes)]


def last_published_run(session: Session, rnd: Round) -> int | None:
    """The run whose placements were published last (the latest `round.publish` event's), or
    None when the round was never published."""
    detail = session.scalar(
        select(AuditEvent.detail)
        .where(AuditEvent.round_id == rnd.id, AuditEvent.action == "round.publish")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    run = (detail or {}).get("run")
    return run if isinstance(run, int) else None
