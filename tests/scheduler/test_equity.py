"""The equity figures (`scheduler.equity`): equal to a direct count of the stored rows, counted
by a fixed number of statements whatever the round's size, fresh after a change, staff only;
and the transit lines read from a GTFS feed."""

from __future__ import annotations

import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

import scheduler.actions as actions
from models import Assignment, Opportunity, Program, RunStatus, School, Slot, SolveRun, Student
from scheduler import equity as eq
from scheduler.access import LinkHolder
from scheduler.errors import NotAllowed
from scheduler.generate import generate_round
from scheduler.rounds import import_round
from tests.scheduler.published_rounds import published_round

CAIRNS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cairns_gtfs.zip"


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on `engine` inside the block."""
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_figures_equal_a_direct_count(session: Session, program: Program) -> None:
    """Every figure of a published round equals a count of its rows made here in Python."""
    rnd = published_round(session, program)
    got = eq.round_equity(session, rnd, None, fresh=True)
    assert got.run_id == rnd.chosen_run_id
    assert got.chosen
    students = session.scalars(select(Student).where(Student.round_id == rnd.id)).all()
    placements = session.scalars(select(Assignment).where(Assignment.run_id == got.run_id)).all()
    placed = {a.student_id for a in placements}
    assert got.students == len(students) == 40
    assert got.placed == len(placements) > 0

    def rates(labels_of: object) -> dict[str, tuple[int, int]]:
        total: Counter[str] = Counter()
        hit: Counter[str] = Counter()
        for s in students:
            for label in set(labels_of(s)):  # type: ignore[operator]
                total[label] += 1
                hit[label] += s.id in placed
        return {k: (total[k], hit[k]) for k in total}

    assert {r.key: (r.students, r.placed) for r in got.by_group} == rates(lambda s: s.groups)
    assert {r.key: (r.students, r.placed) for r in got.by_cluster} == rates(lambda s: s.clusters)
    schools = {s.id: s.external_id for s in session.scalars(select(School))}
    by_school = rates(lambda s: [schools[s.school_id]] if s.school_id else [""])
    for school in schools.values():
        by_school.setdefault(school, (0, 0))
    assert {r.key: (r.students, r.placed) for r in got.by_school} == by_school

    opportunities = {
        o.id: o for o in session.scalars(select(Opportunity).where(Opportunity.round_id == rnd.id))
    }
    seats: Counter[str] = Counter()
    for sl in session.scalars(select(Slot).where(Slot.round_id == rnd.id)):
        seats[opportunities[sl.opportunity_id].kind.value] += sl.capacity
    kinds = Counter(o.kind.value for o in opportunities.values())
    filled = Counter(opportunities[a.opportunity_id].kind.value for a in placements)
    assert {k.kind: (k.opportunities, k.seats, k.placed) for k in got.by_kind} == {
        k: (kinds[k], seats[k], filled[k]) for k in kinds
    }
    ranks = Counter(a.preference_rank for a in placements)
    assert {r.rank: r.placed for r in got.ranks if r.placed} == dict(ranks)
    assert [r.rank for r in got.ranks if r.rank is not None] == list(
        range(1, max(k for k in ranks if k is not None) + 1)
    )
    assert dict(got.travel) == dict(Counter(a.travel_minutes for a in placements))
    assert sum(s.opportunities for s in got.sites) == len(opportunities)
    assert sum(s.placed for s in got.sites) == len(placements)
    assert {(p.external_id, p.students, p.placed) for p in got.schools} == {
        (ext, *by_school[ext]) for ext in schools.values()
    }


def test_histogram_bins_keep_every_placement() -> None:
    """The travel histogram puts each minute in its 10-minute bin, the open last bin included,
    and keeps empty bins inside the range."""
    bins = eq.travel_histogram([(0, 2), (9, 1), (25, 4), (130, 3), (200, 1)])
    assert [(b.low, b.high, b.placed) for b in bins][:4] == [
        (0, 10, 3),
        (10, 20, 0),
        (20, 30, 4),
        (30, 40, 0),
    ]
    assert (bins[-1].low, bins[-1].high, bins[-1].placed) == (120, None, 4)
    assert sum(b.placed for b in bins) == 11
    assert eq.travel_histogram([]) == ()


def test_statements_do_not_grow_with_the_round(
    session: Session, engine: Engine, make_program: Callable[..., Program]
) -> None:
    """Counting every figure runs the same statements for 40 and for 400 students."""
    counts = []
    for n in (40, 400):
        program = make_program()
        rnd = published_round(session, program, generate_round(n, seed=4), publish=False)
        with _statements(engine) as seen:
            got = eq.round_equity(session, rnd, None, fresh=True)
        assert got.students == n
        counts.append(len(seen))
    assert counts[0] == counts[1]
    assert counts[0] <= 10


def test_a_change_of_the_run_is_counted_again(session: Session, program: Program) -> None:
    """Figures kept for a run are counted again once a placement changes (no stale numbers)."""
    rnd = published_round(session, program, publish=False)
    session.commit()
    before = eq.round_equity(session, rnd, None)
    again = eq.round_equity(session, rnd, None)
    assert again == before
    a = session.scalars(select(Assignment).where(Assignment.run_id == rnd.chosen_run_id)).first()
    assert a is not None
    student = session.get_one(Student, a.student_id)
    actions.unplace(session, rnd, student, user=None, unpin=True)
    session.commit()
    after = eq.round_equity(session, rnd, None)
    assert after.placed == before.placed - 1
    assert sum(r.placed for r in after.ranks) == before.placed - 1
    assert sum(r.placed for r in after.by_school) == before.placed - 1


def test_latest_finished_run_without_a_chosen_one(
    session: Session, program: Program, make_program: Callable[..., Program]
) -> None:
    """Without a chosen run the figures are the latest finished run's; without one, empty."""
    rnd = import_round(session, generate_round(12, seed=2), program)
    session.flush()
    empty = eq.round_equity(session, rnd, None)
    assert (empty.run_id, empty.students, empty.placed, empty.by_group) == (None, 12, 0, ())
    session.add(SolveRun(round_id=rnd.id, status=RunStatus.failed))
    session.flush()
    assert eq.round_equity(session, rnd, None).run_id is None

    other = published_round(session, make_program(), generate_round(12, seed=2), publish=False)
    rnd2_run = other.chosen_run_id
    other.chosen_run_id = None
    session.flush()
    got = eq.round_equity(session, other, None, fresh=True)
    assert (got.run_id, got.chosen) == (rnd2_run, False)
    assert got.placed > 0


def test_a_private_link_reads_no_figures(session: Session, program: Program) -> None:
    """A student's private link may not read a round's equity figures."""
    rnd = published_round(session, program)
    student = session.scalars(select(Student).where(Student.round_id == rnd.id)).first()
    assert student is not None
    holder = LinkHolder(kind="student", round_id=rnd.id, row_id=student.id)
    with pytest.raises(NotAllowed):
        eq.round_equity(session, rnd, holder)


def test_unknown_parts_are_refused(session: Session, program: Program) -> None:
    """Asking for a figure that does not exist is a programming error, said at once."""
    rnd = published_round(session, program)
    with pytest.raises(ValueError, match="unknown equity parts"):
        eq.round_equity(session, rnd, None, parts={"nope"})


@pytest.mark.skipif(not CAIRNS.exists(), reason="the shared Cairns feed is not here")
def test_transit_lines_from_shapes() -> None:
    """The Cairns feed's shapes become route lines inside the feed's area, each once."""
    lines = eq.transit_lines(CAIRNS)
    assert len(lines) >= 10
    for line in lines:
        assert 2 <= len(line.points) <= eq.ROUTE_POINTS + 1
        for lat, lon in line.points:
            assert -17.2 < lat < -16.6
            assert 145.6 < lon < 145.9
    assert len({line.points for line in lines}) == len(lines)


def test_transit_lines_without_shapes(tmp_path: Path) -> None:
    """A feed without shapes.txt draws each route's longest trip through its stops."""
    feed = tmp_path / "feed.zip"
    with zipfile.ZipFile(feed, "w") as zf:
        zf.writestr("routes.txt", "route_id,route_short_name\nR1,1\n")
        zf.writestr("trips.txt", "route_id,service_id,trip_id\nR1,S,T1\nR1,S,T2\n")
        zf.writestr(
            "stops.txt",
            "stop_id,stop_name,stop_lat,stop_lon\nA,a,10.0,20.0\nB,b,10.1,20.1\nC,c,10.2,20.2\n",
        )
        zf.writestr(
            "stop_times.txt",
            "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
            "T1,08:00:00,08:00:00,A,1\nT1,08:05:00,08:05:00,B,2\n"
            "T2,09:00:00,09:00:00,C,3\nT2,09:05:00,09:05:00,B,2\nT2,09:10:00,09:10:00,A,1\n",
        )
    (line,) = eq.transit_lines(feed)
    assert line.route == "1"
    assert line.points == ((10.0, 20.0), (10.1, 20.1), (10.2, 20.2))


def test_an_unreadable_feed_leaves_the_map_without_routes(
    session: Session, program: Program, tmp_path: Path
) -> None:
    """A configured feed that is no zip is logged and the map has no routes, not an error."""
    bad = tmp_path / "feed.zip"
    bad.write_text("not a zip")
    rnd = published_round(session, program)
    got = eq.round_equity(session, rnd, None, parts={"map"}, transit=bad)
    assert got.lines == ()
    assert got.schools
