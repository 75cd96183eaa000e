"""Manual actions decide H2, H8 and H9 by the solver's own rule functions (`solver.rules`), on
the problem of one pair: the answers agree with the same functions on the whole round."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Mentor, Mentorship, Opportunity, Program, Round, Slot, Student, Weekday
from scheduler.actions import checks
from scheduler.actions.edits import pin_holds
from scheduler.generate import generate_round
from scheduler.problems import round_problem
from scheduler.rounds import import_round
from solver import load_problem
from solver.problem import Pin as SolverPin
from solver.rules import (
    community_mentor_matches,
    meeting_avoids,
    meeting_times,
    opportunity_capacity,
    pin_allows,
    slot_capacity,
    workplace_mentors_for,
)


def _round(session: Session, program: Program) -> tuple[Round, dict[str, Any]]:
    doc = generate_round(300, seed=4)
    # Some opportunities without a capacity of their own: they hold their slots' seats.
    for o in doc["opportunities"][::3]:
        o.pop("capacity", None)
    for o in doc["opportunities"][1::3]:
        o["capacity"] = 1
    rnd = import_round(session, doc, program)
    session.flush()
    return rnd, doc


def test_h2_and_h8_workplace_rules_agree_with_the_whole_round(
    session: Session, program: Program
) -> None:
    """H2 (`opportunity_capacity`, `slot_capacity`) and H8 (`workplace_mentors_for`) on the
    pair's problem give the whole round's answer, for every opportunity."""
    rnd, _ = _round(session, program)
    full = load_problem(round_problem(session, rnd))
    whole = {o.id: o for o in full.opportunities}
    student = session.scalars(select(Student).limit(1)).one()
    no_capacity = served = 0
    for opp in session.scalars(select(Opportunity).order_by(Opportunity.id)):
        mentors = checks.employer_mentors(session, opp)
        pair = checks.with_mentors(
            session, rnd, checks.pair_of(session, rnd, student, opp), opp, mentors
        )
        assert opportunity_capacity(pair.opportunity) == opportunity_capacity(
            whole[opp.external_id]
        )
        no_capacity += opp.capacity is None
        if opp.capacity is None:
            assert opportunity_capacity(pair.opportunity) == sum(s.capacity for s in opp.slots)
        for sl in opp.slots:
            assert slot_capacity(pair.slot(sl)) == sl.capacity
        got = [m.external_id for m in checks.workplace_candidates(pair, mentors)]
        want = [m.id for m in workplace_mentors_for(whole[opp.external_id], full.mentors)]
        assert sorted(got) == sorted(want)
        served += bool(want)
    assert no_capacity > 0
    assert served > 0


def test_h8_community_rules_agree_with_the_whole_round(session: Session, program: Program) -> None:
    """H8 (`community_mentor_matches`, `meeting_times`) on the pair's problem, with and
    without a slot, give the whole round's answer."""
    rnd, _ = _round(session, program)
    full = load_problem(round_problem(session, rnd))
    students = {s.id: s for s in full.students}
    mentors = {m.id: m for m in full.mentors}
    slots = {sl.id: sl for o in full.opportunities for sl in o.slots}
    length = full.round.mentor_meeting_minutes
    community = list(session.scalars(select(Mentor).where(Mentor.employer_id.is_(None))))
    rng = random.Random(3)
    all_students = list(session.scalars(select(Student)))
    all_slots = list(session.scalars(select(Slot)))
    fits = clashes = 0
    for _ in range(150):
        st, m, sl = rng.choice(all_students), rng.choice(community), rng.choice(all_slots)
        opp = session.get_one(Opportunity, sl.opportunity_id)
        pair = checks.with_mentors(session, rnd, checks.pair_of(session, rnd, st, opp), opp, [m])
        whole_st, whole_m = students[st.external_id], mentors[m.external_id]
        assert community_mentor_matches(pair.student, pair.mentor(m)) == (
            community_mentor_matches(whole_st, whole_m)
        )
        for at in (None, sl):
            want = bool(
                meeting_times(
                    whole_m, whole_st, None if at is None else slots[at.external_id], length
                )
            )
            assert checks._meeting_fits(pair, m, at) == want
            fits += want
        # A meeting at the mentor's first available start, against this slot's shifts.
        first = meeting_times(whole_m, whole_st, None, length)
        if first:
            day, start = divmod(first[0], 24 * 60)
            ms = Mentorship(
                day=list(Weekday)[day],
                start_time=f"{start // 60:02d}:{start % 60:02d}",
                end_time=f"{(start + length) // 60:02d}:{(start + length) % 60:02d}",
            )
            avoids = meeting_avoids(slots[sl.external_id].blocks, start=first[0], length=length)
            assert checks.meeting_clashes(pair, ms, sl) == (not avoids)
            clashes += not avoids
    assert 0 < fits < 300
    assert clashes > 0


def test_h9_pin_holds_is_pin_allows() -> None:
    """H9: a pin's row ids allow a placement exactly as `pin_allows` does on document ids."""
    for pinned_slot in (None, 7, 8):
        for opp, slot in ((1, 7), (1, 8), (2, 7)):
            want = pin_allows(
                SolverPin(
                    student="s",
                    opportunity="o1",
                    slot=None if pinned_slot is None else f"sl{pinned_slot}",
                ),
                f"o{opp}",
                f"sl{slot}",
            )
            assert pin_holds(1, pinned_slot, opp, slot) == want
    assert pin_holds(1, None, 1, 7)
    assert not pin_holds(1, 8, 1, 7)
