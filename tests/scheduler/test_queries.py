"""The read queries of the pages (`scheduler.queries`): what each returns, checked against the
stored rows read independently; pagination walks that see every row once and in order; and who
may read what."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, update
from sqlalchemy.orm import Session

import scheduler.actions as actions
from models import (
    Assignment,
    AssignmentStatus,
    Employer,
    Membership,
    Mentor,
    Opportunity,
    Preference,
    Program,
    Role,
    Round,
    RunStatus,
    School,
    Slot,
    SolveRun,
    Student,
    Unplaced,
    User,
)
from scheduler import explain as ex
from scheduler import queries as q
from scheduler.access import LinkHolder
from scheduler.errors import ActionRefused, NotAllowed
from scheduler.generate import generate_round
from scheduler.rounds import solution_from_run, store_solution
from tests.scheduler.test_actions import _opp, _setup, _sl, _st
from tests.solver.factories import make_doc, opportunity, slot, student, weekly

F = q.AssignmentFilter


# --- Rounds --------------------------------------------------------------------------------------


def _generated(session: Session, program: Program, students: int = 160) -> Round:
    """A generated round, solved and chosen, made untidy on purpose: ten students share one
    name, three have no school, and placements hold every status (so every sort has ties and
    empty keys)."""
    rnd = _setup(session, program, generate_round(students, seed=5))
    ids = list(
        session.scalars(select(Student.id).where(Student.round_id == rnd.id).order_by(Student.id))
    )
    session.execute(update(Student).where(Student.id.in_(ids[5:15])).values(name="Sam Same"))
    session.execute(update(Student).where(Student.id.in_(ids[20:23])).values(school_id=None))
    placed = list(
        session.scalars(
            select(Assignment.id)
            .where(Assignment.run_id == rnd.chosen_run_id)
            .order_by(Assignment.id)
        )
    )
    for i, status in enumerate(AssignmentStatus):
        session.execute(
            update(Assignment).where(Assignment.id.in_(placed[i::7][:6])).values(status=status)
        )
    session.flush()
    session.expire_all()
    return rnd


# An independent reading of a run's students: what every listing must return, in Python.
Item = dict[str, Any]


def _items(session: Session, rnd: Round, run_id: int | None = None) -> list[Item]:
    run_id = run_id or rnd.chosen_run_id
    school = {s.id: s for s in session.scalars(select(School))}
    opps = {o.id: o for o in session.scalars(select(Opportunity))}
    employers = {e.id: e for e in session.scalars(select(Employer))}
    students = {s.id: s for s in session.scalars(select(Student).where(Student.round_id == rnd.id))}
    out = []
    for a in session.scalars(
        select(Assignment).where(Assignment.run_id == run_id).order_by(Assignment.id)
    ):
        st, o = students[a.student_id], opps[a.opportunity_id]
        out.append(
            {
                "id": st.id,
                "student": st,
                "school": None if st.school_id is None else school[st.school_id],
                "placed": True,
                "opp": o,
                "employer": employers[o.employer_id],
                "a": a,
            }
        )
    for u in session.scalars(
        select(Unplaced).where(Unplaced.run_id == run_id).order_by(Unplaced.id)
    ):
        st = students[u.student_id]
        out.append(
            {
                "id": st.id,
                "student": st,
                "school": None if st.school_id is None else school[st.school_id],
                "placed": False,
                "opp": None,
                "employer": None,
                "a": None,
            }
        )
    return out


def _key(sort: str, it: Item) -> Any:
    a = it["a"]
    if sort == "name":
        return it["student"].name
    if sort == "id":
        return it["student"].external_id
    if sort == "school":
        return None if it["school"] is None else it["school"].name
    if a is None:
        return None
    return {
        "opportunity": it["opp"].title,
        "employer": it["employer"].name,
        "travel": a.travel_minutes,
        "rank": a.preference_rank,
        "status": str(a.status),
    }[sort]


def _expected(items: list[Item], sort: str, descending: bool) -> list[int]:
    """The documented order: placed before unplaced for placement sorts, empty keys last, then
    the key (reversed when descending), ties by student id (reversed too)."""

    def group(it: Item) -> tuple[int, int]:
        placement_sort = sort in ("opportunity", "employer", "travel", "rank", "status")
        return (int(placement_sort and not it["placed"]), int(_key(sort, it) is None))

    groups: dict[tuple[int, int], list[Item]] = {}
    for it in items:
        groups.setdefault(group(it), []).append(it)
    out: list[int] = []
    for g in sorted(groups):
        members = groups[g]
        members.sort(
            key=lambda it: (_key(sort, it) if g[1] == 0 else 0, it["id"]), reverse=descending
        )
        out += [it["id"] for it in members]
    return out


def _walk(session: Session, rnd: Round, limit: int, **kw: Any) -> list[q.AssignmentRow]:
    rows: list[q.AssignmentRow] = []
    cursor = None
    for _ in range(10_000):
        page = q.assignments_page(session, rnd, None, cursor=cursor, limit=limit, **kw)
        assert len(page.rows) <= limit
        rows += page.rows
        cursor = page.next_cursor
        if cursor is None:
            return rows
        assert len(page.rows) == limit  # only the last page is short
    raise AssertionError("the walk did not end")


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


# --- The assignments page: sorts, pages, filters -------------------------------------------------


def test_walk_every_sort_both_ways_sees_every_student_once_in_order(
    session: Session, program: Program
) -> None:
    """Keyset pagination: in every sort, both directions, pages of 7 list each of the run's
    students exactly once, in the documented order (ties by student id, empty keys last)."""
    rnd = _generated(session, program)
    items = _items(session, rnd)
    assert {it["placed"] for it in items} == {True, False}
    for sort in q.SORTS:
        for descending in (False, True):
            rows = _walk(session, rnd, 7, sort=sort, descending=descending)
            got = [r.student_id for r in rows]
            assert got == _expected(items, sort, descending), (sort, descending)


def test_rows_carry_what_the_table_shows(session: Session, program: Program) -> None:
    """A row holds the student, school, clusters, placement (opportunity, employer, slot,
    status, travel, rank, mentor) or, unplaced, the reason codes stored for the student."""
    rnd = _generated(session, program, 60)
    rows = {r.student_id: r for r in _walk(session, rnd, 50)}
    for it in _items(session, rnd):
        r, st, a = rows[it["id"]], it["student"], it["a"]
        assert (r.student, r.name, r.clusters, r.groups) == (
            st.external_id,
            st.name,
            tuple(st.clusters),
            tuple(st.groups),
        )
        assert r.school == (None if it["school"] is None else it["school"].name)
        if a is None:
            assert r.status == q.UNPLACED
            assert r.opportunity is None
            assert r.slot is None
            assert r.travel_minutes is None
            stored = session.scalars(
                select(Unplaced.reasons).where(
                    Unplaced.run_id == rnd.chosen_run_id, Unplaced.student_id == st.id
                )
            ).one()
            assert r.reasons == tuple(x["code"] for x in stored)
            assert r.reasons
        else:
            slot_ = session.get_one(Slot, a.slot_id)
            mentor = None if a.mentor_id is None else session.get_one(Mentor, a.mentor_id)
            assert (r.opportunity, r.opportunity_title, r.employer, r.employer_name) == (
                it["opp"].external_id,
                it["opp"].title,
                it["employer"].external_id,
                it["employer"].name,
            )
            assert (r.slot, r.status, r.travel_mode, r.travel_minutes, r.preference_rank) == (
                slot_.external_id,
                str(a.status),
                str(a.travel_mode),
                a.travel_minutes,
                a.preference_rank,
            )
            assert r.mentor == (None if mentor is None else mentor.external_id)
            assert r.reasons == ()


def _filters(
    session: Session, rnd: Round, items: list[Item]
) -> list[tuple[q.AssignmentFilter, Callable[[Item], bool]]]:
    """Each filter with the test it stands for, on values the round has."""
    placed = next(it for it in items if it["placed"])
    st = items[len(items) // 2]["student"]
    school = next(it["school"] for it in items if it["school"] is not None)
    cluster = placed["opp"].cluster
    group = next(g for it in items for g in it["student"].groups)
    word = st.name.split()[-1]
    prefix = st.external_id[:-1]
    lone = next(it for it in items if not it["placed"] and it["school"] and it["student"].groups)
    lone_group = lone["student"].groups[0]

    def status_is(s: str) -> Callable[[Item], bool]:
        return lambda it: (str(it["a"].status) if it["placed"] else q.UNPLACED) == s

    out: list[tuple[q.AssignmentFilter, Callable[[Item], bool]]] = [
        (F(school=school.external_id), lambda it: it["school"] is school),
        (
            F(cluster=cluster),
            lambda it: (
                cluster in it["student"].clusters or (it["placed"] and it["opp"].cluster == cluster)
            ),
        ),
        (
            F(employer=placed["employer"].external_id),
            lambda it: it["employer"] is placed["employer"],
        ),
        (F(opportunity=placed["opp"].external_id), lambda it: it["opp"] is placed["opp"]),
        (F(group=group), lambda it: group in it["student"].groups),
        (F(placed=True), lambda it: it["placed"]),
        (F(placed=False), lambda it: not it["placed"]),
        (F(search=word.upper()), lambda it: word.lower() in it["student"].name.lower()),
        (F(search=prefix), lambda it: it["student"].external_id.startswith(prefix)),
        (
            F(school=lone["school"].external_id, placed=False, group=lone_group),
            lambda it: (
                it["school"] is lone["school"]
                and not it["placed"]
                and lone_group in it["student"].groups
            ),
        ),
    ]
    out += [(F(status=s), status_is(s)) for s in [*map(str, AssignmentStatus), q.UNPLACED]]
    return out


def test_every_filter_alone_and_combined_walks_exactly_its_rows(
    session: Session, program: Program
) -> None:
    """Filters (school, cluster, employer, opportunity, group, status, placed, search by name
    or id, and several at once: AND) list exactly the matching students, in order, page by
    page, in a student sort and in a placement sort."""
    rnd = _generated(session, program)
    items = _items(session, rnd)
    for f, test in _filters(session, rnd, items):
        wanted = [it for it in items if test(it)]
        assert wanted, f  # each filter matches something in this round
        for sort in ("name", "travel", "school"):
            rows = _walk(session, rnd, 5, sort=sort, filters=f)
            assert [r.student_id for r in rows] == _expected(wanted, sort, False), (f, sort)


def test_contradicting_filters_list_nothing(session: Session, program: Program) -> None:
    """Placed only in status unplaced, or unplaced at an employer: no row, no cursor."""
    rnd = _generated(session, program, 40)
    emp = session.scalars(select(Employer.external_id)).first()
    for f in (F(placed=True, status="unplaced"), F(placed=False, employer=emp)):
        page = q.assignments_page(session, rnd, None, filters=f)
        assert page.rows == ()
        assert page.next_cursor is None


def test_cursor_of_another_sort_or_garbage_is_refused(session: Session, program: Program) -> None:
    """A cursor is bound to its sort and direction; garbage is refused, not misread (rule
    `cursor`); a sort, status or page size outside the lists is a ValueError."""
    rnd = _generated(session, program, 40)
    cursor = q.assignments_page(session, rnd, None, sort="name", limit=3).next_cursor
    assert cursor is not None
    for bad in (
        {"sort": "travel", "cursor": cursor},
        {"sort": "name", "descending": True, "cursor": cursor},
        {"cursor": "not a cursor"},
        {"cursor": "WzEsMl0"},  # [1,2]: JSON, not this listing's
        # The travel sort's own shape with a text where its minutes go.
        {"sort": "travel", "cursor": q._encode(["travel", False, 0, "ten", 1])},
        {"sort": "status", "cursor": q._encode(["status", False, 0, "lost", 1])},
    ):
        with pytest.raises(ActionRefused) as caught:
            q.assignments_page(session, rnd, None, **bad)
        assert caught.value.rule == "cursor"
    for kw in ({"sort": "age"}, {"limit": 0}, {"limit": q.MAX_PAGE + 1}):
        with pytest.raises(ValueError, match="must be"):
            q.assignments_page(session, rnd, None, **kw)
    with pytest.raises(ValueError, match="status must be"):
        q.assignments_page(session, rnd, None, filters=F(status="lost"))


def test_a_page_is_a_few_statements_whatever_its_size(
    session: Session, program: Program, engine: Engine
) -> None:
    """No N+1: a page of 5 or of 100 rows, first or deep, runs one SELECT per part of the
    listing it reaches (at most three: placed, placed with an empty key, unplaced)."""
    rnd = _generated(session, program)
    run = session.get_one(SolveRun, rnd.chosen_run_id)  # held: the page reads it from the session
    for sort in q.SORTS:
        counts = set()
        for limit in (5, 100):
            cursor = q.assignments_page(session, rnd, None, sort=sort, limit=limit).next_cursor
            for c in (None, cursor):
                with _statements(engine) as seen:
                    q.assignments_page(session, rnd, None, sort=sort, limit=limit, cursor=c)
                counts.add(len(seen))
        assert run is not None
        assert max(counts) <= 3, (sort, counts)


def test_another_run_of_the_round_is_listed_when_asked(session: Session, program: Program) -> None:
    """`run=`: the listing reads that run's placements, not the chosen run's; a run of another
    round is refused."""
    rnd = _generated(session, program, 40)
    chosen = session.get_one(SolveRun, rnd.chosen_run_id)
    other = SolveRun(round_id=rnd.id, status=RunStatus.succeeded)
    session.add(other)
    session.flush()
    solution = solution_from_run(session, chosen)
    dropped = solution["assignments"].pop()
    solution["unplaced"].append({"student": dropped["student"], "reasons": [{"code": "forbidden"}]})
    store_solution(session, rnd, other, solution)
    rows = _walk(session, rnd, 50, run=other)
    by_ext = {r.student: r for r in rows}
    assert by_ext[dropped["student"]].status == q.UNPLACED
    assert by_ext[dropped["student"]].reasons == ("forbidden",)
    assert len(rows) == len(_items(session, rnd))
    rnd2 = _generated(session, program, 20)
    with pytest.raises(NotAllowed):
        q.assignments_page(session, rnd2, None, run=other)


# --- The dashboard -------------------------------------------------------------------------------


def test_dashboard_counts_match_the_stored_rows(session: Session, program: Program) -> None:
    """Counts of the round's rows and of the chosen run's placements by status, the run's
    metrics, and (`unplaced_reasons`) unplaced students by reason code, each counted once."""
    rnd = _generated(session, program)
    d = q.round_dashboard(session, rnd, None)
    items = _items(session, rnd)
    placed = [it for it in items if it["placed"]]
    assert d.students == len(items)
    assert d.placed == len(placed)
    assert d.unplaced == len(items) - len(placed)
    assert dict(d.by_status) == {
        str(s): sum(1 for it in placed if it["a"].status == s) for s in AssignmentStatus
    }
    assert d.opportunities == len(session.scalars(select(Opportunity.id)).all())
    assert d.seats == sum(session.scalars(select(Slot.capacity)))
    assert [r.id for r in d.runs] == [rnd.chosen_run_id]
    assert d.runs[0].chosen
    run = session.get_one(SolveRun, rnd.chosen_run_id)
    assert run.metrics is not None
    assert (d.first_choice, d.top3, d.mean_travel_minutes) == (
        run.metrics["first_choice"],
        run.metrics["top3"],
        run.metrics["mean_travel_minutes"],
    )
    codes: dict[str, int] = {}
    for (raw,) in session.execute(select(Unplaced.reasons)):
        for code in {r["code"] for r in raw}:
            codes[code] = codes.get(code, 0) + 1
    reasons = q.unplaced_reasons(session, rnd, None)
    assert {r.code: r.students for r in reasons} == codes
    assert all(r.label == ex.label(r.code) for r in reasons)
    assert [r.students for r in reasons] == sorted(codes.values(), reverse=True)


def _reason_counts(session: Session, run_id: int) -> dict[str, int]:
    """The run's unplaced students by reason code, counted here from the stored lists."""
    codes: dict[str, int] = {}
    for (raw,) in session.execute(select(Unplaced.reasons).where(Unplaced.run_id == run_id)):
        for code in {r["code"] for r in raw}:
            codes[code] = codes.get(code, 0) + 1
    return codes


def test_unplaced_reasons_are_kept_on_the_run_and_counted_again_after_each_edit(
    session: Session, program: Program
) -> None:
    """unplaced_reasons: the counts are kept on the succeeded run and read from it while
    nothing changes; every manual edit after the first (unplace, place, forbid: the run's
    edited_at is set once) makes the next call count again, so the counts stay true."""
    doc = make_doc(
        [
            student(id="s1", preferences=["o1"]),
            student(id="s2", preferences=["o2"]),
            student(id="s3", birth_date="2013-03-01"),
        ],
        [
            opportunity(id="o1", slots=[slot(id="a")]),
            opportunity(id="o2", employer="emp2", slots=[slot(id="b")]),
        ],
    )
    rnd = _setup(session, program, doc)
    run = session.get_one(SolveRun, rnd.chosen_run_id)
    assert run.status == RunStatus.succeeded

    def check() -> dict[str, int]:
        got = {r.code: r.students for r in q.unplaced_reasons(session, rnd, None)}
        assert got == _reason_counts(session, run.id)
        assert run.reason_counts is not None
        assert dict(map(tuple, run.reason_counts["counts"])) == got
        return got

    assert check() == {"too_young": 1}
    # Kept: a view reads the run's counts, not the stored lists (tampered here to show it).
    assert run.reason_counts is not None
    run.reason_counts = {**run.reason_counts, "counts": [["too_young", 99]]}
    assert [(r.code, r.students) for r in q.unplaced_reasons(session, rnd, None)] == [
        ("too_young", 99)
    ]
    s1, s2 = _st(session, rnd, "s1"), _st(session, rnd, "s2")
    held = session.scalars(
        select(Assignment.slot_id).where(
            Assignment.run_id == run.id, Assignment.student_id == s1.id
        )
    ).one()
    actions.unplace(session, rnd, s1, user=None, unpin=True)
    edited = run.edited_at
    assert check() == {"too_young": 1, "capacity_taken": 1}
    actions.place(session, rnd, s1, session.get_one(Slot, held), user=None, pin=False)
    assert run.edited_at == edited
    assert check() == {"too_young": 1}
    actions.unplace(session, rnd, s2, user=None, unpin=True)
    assert check() == {"too_young": 1, "capacity_taken": 1}
    actions.forbid(session, rnd, s2, _opp(session, rnd, "o2"), user=None)
    after_forbid = check()
    assert after_forbid["forbidden"] == 1


def test_unplaced_reasons_of_an_unfinished_run_are_not_kept(
    session: Session, program: Program
) -> None:
    """unplaced_reasons: a run that has not succeeded (its rows may still be written) is
    counted, never kept."""
    rnd = _generated(session, program, 40)
    run = session.get_one(SolveRun, rnd.chosen_run_id)
    run.status = RunStatus.running
    counts = q.unplaced_reasons(session, rnd, None, run=run)
    assert {r.code: r.students for r in counts} == _reason_counts(session, run.id)
    assert run.reason_counts is None


# --- A student's story ---------------------------------------------------------------------------


def _two_opps() -> dict[str, Any]:
    """s1 ranks o1 then o2 (both open); s2 ranks o1 only; o1 has one seat on Tuesdays, o2 one
    seat on Wednesdays and one on Thursdays; s3 is too young for anything but the job shadow
    o3 (from 14), whose only seat s4 takes."""
    return make_doc(
        [
            student(
                id="s1",
                name="Ann",
                preferences=["o1", "o2"],
                busy=[weekly("mon", "08:00", "15:00")],
            ),
            student(id="s2", name="Bo", preferences=["o1"], priority=2),
            student(id="s3", name="Cy", birth_date="2013-03-01"),
            student(id="s4", name="Di", preferences=["o3"]),
        ],
        [
            opportunity(id="o1", title="Cairns Hospital", slots=[slot(id="a")]),
            opportunity(
                id="o2",
                employer="emp2",
                slots=[
                    slot(id="b", blocks=[weekly("wed", "15:00", "17:00")]),
                    slot(id="c", blocks=[weekly("thu", "15:00", "17:00")]),
                ],
            ),
            opportunity(id="o3", kind="job_shadow", min_age=14, slots=[slot(id="d")]),
        ],
    )


def test_story_of_a_placed_student(session: Session, program: Program) -> None:
    """Placement (slot blocks, travel, rank), busy blocks, ranked preferences marked where
    placed, pins, forbidden pairs and the audit events about the student, latest first."""
    rnd = _setup(session, program, _two_opps())
    s1 = _st(session, rnd, "s1")
    actions.move(session, rnd, s1, _sl(session, rnd, "c"), user=None)
    actions.forbid(session, rnd, s1, _opp(session, rnd, "o1"), user=None)
    story = q.student_story(session, rnd, s1, None)
    assert story.placed
    assert story.placement is not None
    p = story.placement
    assert (p.opportunity, p.slot, p.status, p.preference_rank, p.travel_mode) == (
        "o2",
        "c",
        "pinned",
        2,
        "walk",
    )
    assert p.blocks == (q.TimeBlock(day="thu", date=None, start="15:00", end="17:00"),)
    assert (
        p.travel_minutes
        == session.scalars(
            select(Assignment.travel_minutes).where(Assignment.student_id == s1.id)
        ).one()
    )
    assert story.busy == (q.TimeBlock(day="mon", date=None, start="08:00", end="15:00"),)
    assert [(c.rank, c.opportunity, c.placed_here) for c in story.preferences] == [
        (1, "o1", False),
        (2, "o2", True),
    ]
    assert [(x.opportunity, x.slot) for x in story.pins] == [("o2", "c")]
    assert story.forbidden == ("o1",)
    assert [e.action for e in story.events] == ["forbidden.add", "assignment.move"]
    assert all(e.user is None for e in story.events)
    assert story.reasons == ()


def test_story_of_an_unplaced_student_says_why_in_words(session: Session, program: Program) -> None:
    """Reasons as stored, each with its sentence and label from `scheduler.explain`."""
    rnd = _setup(session, program, _two_opps())
    s3 = _st(session, rnd, "s3")
    story = q.student_story(session, rnd, s3, None)
    assert not story.placed
    assert story.placement is None
    stored = session.scalars(select(Unplaced.reasons).where(Unplaced.student_id == s3.id)).one()
    assert [r.code for r in story.reasons] == [r["code"] for r in stored]
    for r, raw in zip(story.reasons, stored, strict=True):
        assert r.sentence == ex.explain(raw["code"], raw.get("count"), raw.get("detail"))
        assert r.label == ex.label(raw["code"])
    assert "too_young" in [r.code for r in story.reasons]


# --- Where a student could move ------------------------------------------------------------------


def test_move_targets_are_exactly_the_allowed_slots_and_open_ones_accept_a_move(
    session: Session, program: Program
) -> None:
    """Every slot of the student's candidate opportunities is listed iff the actions' own pair
    rules allow it (H3-H7); a target listed open is a move `actions.move` accepts, one listed
    blocked is a move it refuses for the rule named."""
    rnd = _generated(session, program, 120)
    students = session.scalars(
        select(Student).where(Student.round_id == rnd.id).order_by(Student.id).limit(12)
    ).all()
    checked_open = checked_blocked = 0
    for st in students:
        targets = q.move_targets(session, rnd, st, None)
        listed = {t.slot: t for t in targets.targets}
        ranks = dict(
            session.execute(
                select(Preference.opportunity_id, Preference.rank).where(
                    Preference.student_id == st.id
                )
            ).all()
        )
        opps = session.scalars(select(Opportunity).where(Opportunity.round_id == rnd.id)).all()
        candidates = [
            o for o in opps if not st.clusters or o.cluster in st.clusters or o.id in ranks
        ]
        assert targets.candidates == len(candidates)
        for o in candidates:
            for sl in session.scalars(select(Slot).where(Slot.opportunity_id == o.id)):
                allowed = actions.pair_refusals(session, rnd, st, o, sl) == []
                assert (sl.external_id in listed) == allowed, (st.external_id, sl.external_id)
                if allowed:
                    assert listed[sl.external_id].preference_rank == ranks.get(o.id)
        for t in list(listed.values())[:3]:
            nested = session.begin_nested()
            rule = None
            try:
                actions.move(session, rnd, st, _sl(session, rnd, t.slot), user=None)
            except ActionRefused as refused:
                rule = refused.rule
            nested.rollback()
            accepted = rule is None
            assert accepted == t.open, (st.external_id, t)
            if rule is not None:
                assert t.blocked is not None
                assert t.blocked.startswith(rule)
            checked_open += accepted
            checked_blocked += not accepted
    assert checked_open
    assert checked_blocked


def test_move_targets_cost_rank_travel_and_seats(session: Session, program: Program) -> None:
    """Each target says its rank, travel and the change from now, and the seats others hold:
    a full slot is listed, not open (a move never displaces anyone)."""
    rnd = _setup(session, program, _two_opps())
    s2 = _st(session, rnd, "s2")  # priority: holds o1's only seat
    s1 = _st(session, rnd, "s1")
    assert q.student_story(session, rnd, s2, None).placement is not None
    t = q.move_targets(session, rnd, s1, None)
    by_slot = {x.slot: x for x in t.targets}
    assert set(by_slot) == {"a", "b", "c", "d"} - {"d"} | ({"d"} & set(by_slot))
    a = by_slot["a"]
    assert (a.preference_rank, a.seats, a.taken, a.open) == (1, 1, 1, False)
    assert a.blocked is not None
    assert a.blocked.startswith("H2")
    current = t.current_slot
    assert current in {"b", "c"}
    assert by_slot[current].current
    assert by_slot[current].travel_change == 0
    assert [x.slot for x in t.targets][:1] == ["a"]  # rank 1 first


# --- An employer's view --------------------------------------------------------------------------


def test_employer_view_for_staff_and_for_its_own_link(session: Session, program: Program) -> None:
    """Staff see the employer's opportunities, slots and every placement; its link sees the
    placements published to it only; another employer's link is refused."""
    rnd = _setup(session, program, _two_opps())
    emp1 = session.scalars(select(Employer).where(Employer.external_id == "emp1")).one()
    emp2 = session.scalars(select(Employer).where(Employer.external_id == "emp2")).one()
    view = q.employer_view(session, rnd, emp1, None)
    assert [o.opportunity for o in view.opportunities] == ["o1", "o3"]
    assert {p.student for p in view.placed} == {"s2", "s4"}
    assert sum(s.taken for o in view.opportunities for s in o.slots) == 2
    link = LinkHolder(kind="employer", round_id=rnd.id, row_id=emp1.id)
    assert q.employer_view(session, rnd, emp1, link).placed == ()
    actions.publish(session, rnd, user=None)
    assert {p.student for p in q.employer_view(session, rnd, emp1, link).placed} == {"s2", "s4"}
    with pytest.raises(NotAllowed):
        q.employer_view(session, rnd, emp2, link)
    with pytest.raises(NotAllowed):
        q.employer_view(session, rnd, emp1, LinkHolder(kind="student", round_id=rnd.id, row_id=1))


# --- Two runs ------------------------------------------------------------------------------------


def test_compare_runs_pages_the_changed_students(session: Session, program: Program) -> None:
    """Metric deltas, and every student whose slot differs, once, by id, page by page: moved
    (placed in both), placed (only in b), unplaced (only in a)."""
    rnd = _generated(session, program)
    a = session.get_one(SolveRun, rnd.chosen_run_id)
    b = SolveRun(round_id=rnd.id, status=RunStatus.succeeded)
    session.add(b)
    session.flush()
    solution = solution_from_run(session, a)
    dropped = solution["assignments"][::9]
    kept = [x for x in solution["assignments"] if x not in dropped]
    moved = kept[0]
    other_slot = next(
        s.external_id
        for s in session.scalars(select(Slot).where(Slot.round_id == rnd.id))
        if s.external_id != moved["slot"]
    )
    kept[0] = dict(moved, slot=other_slot)
    newly = solution["unplaced"][0]["student"]
    kept.append(dict(kept[1], student=newly))
    solution["assignments"] = kept
    solution["unplaced"] = [u for u in solution["unplaced"] if u["student"] != newly] + [
        {"student": x["student"], "reasons": [{"code": "capacity_taken"}]} for x in dropped
    ]
    solution["metrics"] = dict(solution["metrics"], placed=len(kept))
    store_solution(session, rnd, b, solution)
    changes: list[q.Change] = []
    cursor = None
    while True:
        page = q.compare_runs(session, rnd, a, b, None, cursor=cursor, limit=4)
        changes += page.changes
        cursor = page.next_cursor
        if cursor is None:
            break
    kinds = {c.student: c.kind for c in changes}
    assert kinds == {
        **{x["student"]: "unplaced" for x in dropped},
        moved["student"]: "moved",
        newly: "placed",
    }
    assert [c.student_id for c in changes] == sorted(c.student_id for c in changes)
    deltas = {m.name: m.delta for m in page.metrics}
    assert deltas["placed"] == len(kept) - len(solution_from_run(session, a)["assignments"])
    with pytest.raises(ActionRefused):
        q.compare_runs(
            session,
            rnd,
            a,
            b,
            None,
            cursor=q.assignments_page(session, rnd, None, limit=1).next_cursor,
        )


# --- Lookups -------------------------------------------------------------------------------------


def test_lookups_find_rows_by_the_rounds_ids_and_refuse_unknown_ones(
    session: Session, program: Program
) -> None:
    """Every external id of the round resolves to its row; an unknown id, or one of another
    round, is an `UnknownId` (a LookupError, rule `lookup`) naming it."""
    rnd = _setup(session, program, _two_opps())
    assert q.find_student(session, rnd, "s1", None).name == "Ann"
    assert q.find_opportunity(session, rnd, "o1", None).title == "Cairns Hospital"
    assert q.find_slot(session, rnd, "b", None).capacity == 1
    assert q.find_employer(session, rnd, "emp2", None).name == "Beta Works"
    assert q.find_school(session, rnd, "sch1", None).name == "Central High"
    assert q.find_run(session, rnd, rnd.chosen_run_id or 0, None).id == rnd.chosen_run_id
    other = _setup(session, program, make_doc([student(id="x1")], [opportunity(id="y1")], id="r2"))
    for find, ident in (
        (q.find_student, "x1"),
        (q.find_opportunity, "nope"),
        (q.find_slot, "zz"),
        (q.find_mentor, "m"),
        (q.find_employer, "e9"),
        (q.find_school, "s"),
    ):
        with pytest.raises(q.UnknownId) as caught:
            find(session, rnd, ident, None)
        assert isinstance(caught.value, LookupError)
        assert caught.value.rule == "lookup"
        assert repr(ident) in str(caught.value)
    with pytest.raises(LookupError):
        q.find_run(session, rnd, other.chosen_run_id or 0, None)


# --- Access --------------------------------------------------------------------------------------


def _user(session: Session, program: Program | None, email: str, role: Role | None = None) -> User:
    user = User(email=email, name=email)
    session.add(user)
    session.flush()
    if program is not None and role is not None:
        session.add(Membership(user=user, program=program, role=role))
        session.flush()
    return user


def _staff_queries(session: Session, rnd: Round) -> dict[str, Callable[[Any], object]]:
    s1 = _st(session, rnd, "s1")
    run = session.get_one(SolveRun, rnd.chosen_run_id)
    return {
        "dashboard": lambda u: q.round_dashboard(session, rnd, u),
        "reasons": lambda u: q.unplaced_reasons(session, rnd, u),
        "page": lambda u: q.assignments_page(session, rnd, u),
        "targets": lambda u: q.move_targets(session, rnd, s1, u),
        "compare": lambda u: q.compare_runs(session, rnd, run, run, u),
        "story": lambda u: q.student_story(session, rnd, s1, u),
        "run": lambda u: q.find_run(session, rnd, run.id, u),
        "employer": lambda u: q.employer_view(
            session, rnd, q.find_employer(session, rnd, "emp1", None), u
        ),
    }


def test_staff_queries_refuse_outsiders_and_other_programs_and_allow_viewers(
    session: Session, program: Program, make_program: Callable[..., Program]
) -> None:
    """A user with no membership, a member of another program, and an inactive member are
    refused (rule `access`); a viewer of the program reads."""
    rnd = _setup(session, program, _two_opps())
    outsider = _user(session, None, "out@x.org")
    other = _user(session, make_program(), "other@x.org", Role.admin)
    inactive = _user(session, program, "gone@x.org", Role.coordinator)
    inactive.active = False
    viewer = _user(session, program, "view@x.org", Role.viewer)
    for name, call in _staff_queries(session, rnd).items():
        for who in (outsider, other, inactive):
            with pytest.raises(NotAllowed) as caught:
                call(who)
            assert caught.value.rule == "access", name
        call(viewer)


def test_links_see_only_their_own(session: Session, program: Program) -> None:
    """Link holders never read staff lists; a student's link reads its own story without the
    coordinators' side, not another student's; an employer's link reads a student placed with
    it once published; lookups for a link refuse unknown ids as not allowed."""
    rnd = _setup(session, program, _two_opps())
    s1, s2 = _st(session, rnd, "s1"), _st(session, rnd, "s2")
    own = LinkHolder(kind="student", round_id=rnd.id, row_id=s1.id)
    emp1 = q.find_employer(session, rnd, "emp1", None)
    emp_link = LinkHolder(kind="employer", round_id=rnd.id, row_id=emp1.id)
    queries = _staff_queries(session, rnd)
    for name in ("dashboard", "reasons", "page", "targets", "compare", "run"):
        for link in (own, emp_link):
            with pytest.raises(NotAllowed):
                queries[name](link)
    actions.pin(session, rnd, s1, _opp(session, rnd, "o2"), user=None)
    story = q.student_story(session, rnd, s1, own)
    assert story.pins == ()
    assert story.events == ()
    assert story.forbidden == ()
    assert [c.opportunity for c in story.preferences] == ["o1", "o2"]
    assert story.placement is None  # not published yet
    with pytest.raises(NotAllowed):
        q.student_story(session, rnd, s2, own)
    with pytest.raises(NotAllowed):
        q.student_story(session, rnd, s2, emp_link)
    actions.publish(session, rnd, user=None)
    seen = q.student_story(session, rnd, s2, emp_link)
    assert seen.placement is not None
    assert seen.placement.opportunity == "o1"
    assert seen.preferences == ()
    assert seen.reasons == ()
    assert seen.busy == ()
    assert q.student_story(session, rnd, s1, own).placement is not None
    assert q.find_student(session, rnd, "s1", own).id == s1.id
    for find, ident in (
        (q.find_student, "s2"),
        (q.find_student, "nobody"),
        (q.find_school, "sch1"),
    ):
        with pytest.raises(NotAllowed):
            find(session, rnd, ident, own)
    other_round = LinkHolder(kind="student", round_id=rnd.id + 1000, row_id=s1.id)
    with pytest.raises(NotAllowed):
        q.student_story(session, rnd, s1, other_round)
