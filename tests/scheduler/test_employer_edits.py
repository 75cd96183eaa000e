"""Employers' answers as services: confirmation progress, the solve's view of confirmed,
withdrawn and declined (the export unchanged), edits that would break a placement refused with
nothing saved, and who may change what."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import scheduler.actions as actions
from models import Assignment, DeclinedPair, Opportunity, Pin, Program, Round, Slot, utcnow
from scheduler.access import LinkHolder
from scheduler.employer_edits import (
    OpportunityEdit,
    confirm_opportunity,
    confirmation_progress,
    edit_opportunity,
    format_blocks,
    parse_blocks,
    set_confirmed_only,
)
from scheduler.errors import ActionRefused, NotAllowed
from scheduler.generate import generate_round
from scheduler.problems import round_problem
from scheduler.rounds import import_round
from tests.scheduler.published_rounds import published_round


@pytest.fixture
def draft(session: Session, program: Program) -> Round:
    return import_round(session, generate_round(20, seed=7), program)


def _employer(opp: Opportunity) -> LinkHolder:
    return LinkHolder(kind="employer", round_id=opp.round_id, row_id=opp.employer_id)


def _opps(session: Session, rnd: Round) -> list[Opportunity]:
    return list(
        session.scalars(
            select(Opportunity).where(Opportunity.round_id == rnd.id).order_by(Opportunity.id)
        )
    )


def test_confirmation_progress_counts_opportunities_and_seats(
    session: Session, draft: Round
) -> None:
    """Confirmed of not-withdrawn opportunities, and their seats (min of cap and slots)."""
    opps = _opps(session, draft)
    first, second = opps[0], opps[1]
    confirm_opportunity(session, draft, _employer(first), first.id)
    second.withdrawn_at = utcnow()
    session.flush()
    progress = confirmation_progress(session, draft, None)

    def seats(o: Opportunity) -> int:
        total = sum(s.capacity for s in o.slots)
        return total if o.capacity is None else min(total, o.capacity)

    assert (progress.confirmed, progress.total, progress.withdrawn) == (1, len(opps) - 1, 1)
    assert progress.confirmed_seats == seats(first)
    assert progress.total_seats == sum(seats(o) for o in opps if o.id != second.id)


def test_progress_is_staff_only(session: Session, draft: Round) -> None:
    """An employer's link does not read the round's progress, nor set the solve setting."""
    opp = _opps(session, draft)[0]
    with pytest.raises(NotAllowed):
        confirmation_progress(session, draft, _employer(opp))
    with pytest.raises(NotAllowed):
        set_confirmed_only(session, draft, _employer(opp), True)


def test_solve_document_applies_answers_and_export_does_not(session: Session, draft: Round) -> None:
    """Withdrawn (always) and unconfirmed (with confirmed_only) opportunities get capacity 0 in
    the solve's document; the export is the imported document."""
    opps = _opps(session, draft)
    confirm_opportunity(session, draft, _employer(opps[0]), opps[0].id)
    opps[1].withdrawn_at = utcnow()
    session.flush()
    exported = {o["id"]: o for o in round_problem(session, draft)["opportunities"]}
    solve = {o["id"]: o for o in round_problem(session, draft, for_solve=True)["opportunities"]}
    assert solve[opps[1].external_id]["capacity"] == 0
    assert solve[opps[2].external_id].get("capacity") == exported[opps[2].external_id].get(
        "capacity"
    )
    assert exported[opps[1].external_id].get("capacity") != 0 or opps[1].capacity == 0
    set_confirmed_only(session, draft, None, True)
    solve = {o["id"]: o for o in round_problem(session, draft, for_solve=True)["opportunities"]}
    assert solve[opps[0].external_id].get("capacity") == exported[opps[0].external_id].get(
        "capacity"
    )
    assert all(solve[o.external_id]["capacity"] == 0 for o in opps[1:])


def test_a_decline_is_forbidden_in_every_later_solve(session: Session, program: Program) -> None:
    """A declined pair is a forbidden pair of the solve's document (not of the export), unless
    the coordinator pinned the student there since."""
    rnd = published_round(session, program)
    a = session.scalars(
        select(Assignment).where(Assignment.run_id == rnd.chosen_run_id).order_by(Assignment.id)
    ).first()
    assert a is not None
    opp = session.get_one(Opportunity, a.opportunity_id)
    actions.decline(session, rnd, a.student, user=_employer(opp), reason="too far")
    pair = {"student": a.student.external_id, "opportunity": opp.external_id}
    assert session.scalars(select(DeclinedPair)).one().reason == "too far"
    assert pair in round_problem(session, rnd, for_solve=True)["forbidden"]
    assert pair not in round_problem(session, rnd)["forbidden"]
    session.add(Pin(round_id=rnd.id, student_id=a.student_id, opportunity_id=opp.id))
    session.flush()
    assert pair not in round_problem(session, rnd, for_solve=True)["forbidden"]


def test_an_edit_that_breaks_a_placement_is_refused_and_nothing_stays(
    session: Session, program: Program
) -> None:
    """Cutting a slot's capacity below its published placements is refused (H2); the slot
    and the opportunity keep their values."""
    rnd = published_round(session, program)
    a = session.scalars(
        select(Assignment).where(Assignment.run_id == rnd.chosen_run_id).order_by(Assignment.id)
    ).first()
    assert a is not None
    opp = session.get_one(Opportunity, a.opportunity_id)
    slots = list(session.scalars(select(Slot).where(Slot.opportunity_id == opp.id)))
    before = {s.id: (s.capacity, list(s.blocks)) for s in slots}
    edit = OpportunityEdit(
        contact_name="New Name",
        slots={s.id: ("0", "\n".join(format_blocks(s.blocks))) for s in slots},
    )
    with pytest.raises(ActionRefused) as refused:
        edit_opportunity(session, rnd, _employer(opp), opp.id, edit, version=0)
    assert refused.value.rule == "H2"
    session.expire_all()
    assert {s.id: (s.capacity, list(s.blocks)) for s in slots} == before
    assert session.get_one(Opportunity, opp.id).contact_name is None
    assert session.get_one(Opportunity, opp.id).employer_version == 0


def test_parse_blocks_reads_days_and_dates_in_the_round(session: Session, draft: Round) -> None:
    """Weekly and dated shifts are read; a date outside the round or a bad time is refused."""
    day = draft.start_date.isoformat()
    blocks, problem = parse_blocks(f"mon 15:00-18:00; {day} 09:00-12:00", draft)
    assert problem is None
    assert blocks == [
        {"day": "mon", "start": "15:00", "end": "18:00"},
        {"date": day, "start": "09:00", "end": "12:00"},
    ]
    assert parse_blocks("2001-01-01 09:00-12:00", draft)[1] is not None
    assert parse_blocks("mon 18:00-15:00", draft)[1] is not None
    assert parse_blocks("", draft)[1] == "Give at least one shift."
