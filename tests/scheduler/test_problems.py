"""The one mapping from rows to a problem (`scheduler.problems`): the whole round and the
one-student problem write every row the same way, and the one-student problem reads a fixed
number of rows whatever the round's size."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from models import Employer, Mentor, Opportunity, Preference, Program, Round, Student
from scheduler.generate import generate_round
from scheduler.problems import mentor_objects, opportunity_rows, round_problem, student_problem
from scheduler.rounds import canonical, import_round
from solver import load_problem
from solver.problem import Problem
from tests.scheduler.test_actions_auth import _statements
from tests.scheduler.test_rounds import _full_doc
from tests.solver.random_rounds import school_transit_groups


def _round(session: Session, program: Program, students: int, seed: int) -> tuple[int, Problem]:
    doc = school_transit_groups(generate_round(students, seed=seed), seed=seed)
    rnd = import_round(session, doc, program)
    session.flush()
    return rnd.id, load_problem(round_problem(session, rnd))


def test_round_problem_is_the_imported_document(session: Session, program: Program) -> None:
    """problems: the whole round comes out as it was imported (every field of the format)."""
    doc = _full_doc()
    rnd = import_round(session, doc, program)
    assert canonical(round_problem(session, rnd)) == canonical(doc)


def test_the_student_problem_writes_rows_as_the_round_problem_does(
    session: Session, program: Program
) -> None:
    """problems: a student, the opportunities, their slots and employers read the same in the
    one-student problem (given ORM objects or `opportunity_rows`) as in the whole round;
    accepts, preferences, travel and forbidden pairs are the round's, reduced to this student;
    mentors read the same as objects."""
    round_id, full = _round(session, program, 200, seed=5)
    rnd = session.get_one(Round, round_id)
    opps = list(session.scalars(select(Opportunity).order_by(Opportunity.id)))
    rows = opportunity_rows(session, Opportunity.round_id == round_id)
    assert [r.id for r in rows] == [o.id for o in opps]
    mentors = list(session.scalars(select(Mentor).order_by(Mentor.id)))
    full_opps = {o.id: o for o in full.opportunities}
    full_mentors = {m.id: m for m in full.mentors}
    checked = 0
    for st in session.scalars(select(Student).order_by(Student.id).limit(40)):
        ranked = set(
            session.scalars(select(Preference.opportunity_id).where(Preference.student_id == st.id))
        )
        one = student_problem(session, rnd, st, opps, ranked=ranked)
        # Columns or ORM objects, one mapping: the same problem.
        assert student_problem(session, rnd, st, rows, ranked=ranked) == one
        (me,) = [s for s in full.students if s.id == st.external_id]
        (got,) = one.students
        assert replace(got, preferences=()) == replace(me, preferences=())
        assert set(got.preferences) == set(me.preferences)
        assert one.round == full.round
        assert [o.id for o in one.opportunities] == [o.id for o in full.opportunities]
        for o in one.opportunities:
            whole = full_opps[o.id]
            accepts = (
                None if whole.accepts is None else tuple(a for a in whole.accepts if a == me.id)
            )
            assert o == replace(whole, accepts=accepts)
        assert set(one.travel) == {t for t in full.travel if t.student == me.id}
        assert set(one.forbidden) == {f for f in full.forbidden if f.student == me.id}
        groups = [g for g in full.travel_groups if me.id in g.students]
        want = {t for g in groups for t in g.travel}
        assert {t for g in one.travel_groups for t in g.travel} == want
        assert one.pins == ()
        checked += 1
    assert checked == 40
    employer_ext = {e.id: e.external_id for e in session.scalars(select(Employer))}
    objects = mentor_objects(rnd, mentors, employer_ext)
    assert [m.id for m in objects] == [m.external_id for m in mentors]
    assert all(m == full_mentors[m.id] for m in objects)
    assert any(m.employer is None for m in objects)
    assert any(m.employer is not None for m in objects)


def test_the_student_problem_reads_a_fixed_number_of_rows(
    engine: Engine, session: Session, program: Program, make_program: Callable[..., Program]
) -> None:
    """problems: the one-student problem takes at most seven statements (school, accepts,
    forbidden, travel, group times, employers, slots), in a round ten times the size too: no
    query per opportunity or student."""
    counts = []
    for students, owner in ((60, program), (600, make_program())):
        round_id, _ = _round(session, owner, students, seed=3)
        rnd = session.get_one(Round, round_id)
        st = session.scalars(select(Student).where(Student.round_id == round_id).limit(1)).one()
        opps = list(session.scalars(select(Opportunity).where(Opportunity.round_id == round_id)))
        with _statements(engine) as seen:
            student_problem(session, rnd, st, opps, ranked=())
        counts.append(len(seen))
    assert max(counts) <= 7
