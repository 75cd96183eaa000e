"""How fast a coordinator's manual actions are on a big round, and how many SQL statements each.

    python -m bench.moves --students 100000 --seed 1 --moves 200 [--database-url URL]
        [--time-limit 60] [--json FILE] [--keep]

A round of `scheduler.generate.generate_round(students, seed=seed)` (what `wbl generate` writes)
is imported with `scheduler.rounds.import_round` (what `wbl import-round` does) into a fresh
database: a SQLite file in a temporary folder by default, or, with `--database-url` (e.g.
`postgresql+psycopg://postgres@127.0.0.1:5432/bench`), a new schema of its own in that database,
dropped at the end. The schema is made by the Alembic migrations, as `wbl db upgrade` makes it.
On PostgreSQL every table is then ANALYZEd, as autovacuum would do after an import.
The round is solved in this process with `solver.solve` (the `SolveOptions` a worker uses:
`--time-limit`, 2 workers, seed 0), stored into a succeeded run with
`scheduler.rounds.store_solution` (the last transaction of `scheduler.jobs.execute_run`), and
that run is chosen with `scheduler.actions.choose_run`.

Then a series of coordinator actions, `user=None`, each one timed as its own transaction, commit
(or rollback) included: open a session, load the round and the action's rows by primary key,
call the action, commit, close. Targets are chosen with the solver's own allowed pairs
(`solver.eligibility.compute_eligibility` on the round, H3-H7) and the seats and workplace
mentors' places as stored; each series uses students no other series touched, none pinned.
Per series, `--moves` actions, in this order:

- `pin` of a placed student to the placement they hold;
- `unplace` of a placed student;
- `move` of a placed student to a random other slot where the move is allowed (an allowed pair,
  a free seat, a workplace mentor with a free place where one is required). A solved round has
  few such seats (the solver fills what it can), so the moves come after `unplace` and use the
  seats it left; each planned move frees a seat the next ones may take;
- `place` of the students `unplace` took out, each at a random allowed slot still free (fewer
  than asked when the moves took those seats: reported as a shortfall);
- `move` refused: half to a slot of an opportunity the student ranked or whose cluster they
  hold, that the solver's rules refuse them (H3-H7), half to a full slot of an allowed pair
  (H2); each refusal is checked, outside the timing, to have changed nothing (the student's
  assignment and pins, the round's audit events and forbidden pairs);
- `forbid` of a placed student's own opportunity (the placement is removed), and of another
  opportunity a student ranked or whose cluster they hold (the pair is only recorded).

Choosing targets happens before each series and is not timed. Each action lands in a row by
what happened (accepted, or refused with its rule; a planned move can still be refused for a
rule the planner does not model, e.g. H9): the table gives count, median, p90 and max
milliseconds, and the SQL statements the transaction ran, counted by a `before_cursor_execute`
listener (a statement run by `executemany` counts once). The same statement counts at 5,000 and
100,000 students show that no action runs a statement per row of the round. The statements
that took the most time in all are listed too (time in the driver's execute: fetching and
converting the rows is not in it). Python's garbage collector is frozen after the set-up
(`gc.freeze`), so that the generated round's millions of objects are not traversed by
collections during the timed actions, as they would not be in a web worker.

With at most 5,000 students, the edited run is finally checked with `solver.check_solution`
against the exported round. Markdown goes to stdout, and the whole result (every sample, every
statement's timings) to `--json`. Exit status 1 when a refused move changed something or the
check found a broken rule (both are bugs), else 0. Results: bench/MOVES.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Engine, event, func, make_url, select, text
from sqlalchemy.orm import Session, sessionmaker

import scheduler.actions as actions
from bench.machine import machine
from models import (
    Assignment,
    AuditEvent,
    Base,
    Forbidden,
    Mentor,
    Mentorship,
    Opportunity,
    Pin,
    Preference,
    Program,
    Round,
    RunStatus,
    Slot,
    SolveRun,
    Student,
    make_engine,
    make_session_factory,
)
from models.migrate import upgrade
from scheduler.actions import ActionRefused
from scheduler.generate import generate_round
from scheduler.jobs import create_run, now
from scheduler.rounds import export_round, import_round, solution_from_run, store_solution
from solver import Problem, SolveOptions, check_solution, load_problem, solve
from solver.eligibility import compute_eligibility
from solver.instance import Instance

ROOT = Path(__file__).resolve().parents[1]
PAIR_RULES = frozenset({"H3", "H4", "H5", "H6", "H7"})
# Rounds up to this size have their edited run checked by the independent checker.
CHECK_MAX = 5000

Result = actions.Outcome | ActionRefused


# --- Counting and timing statements --------------------------------------------------------------


class Statements:
    """A `before_cursor_execute` / `after_cursor_execute` listener: while `on`, counts the
    statements of the current action and keeps each statement's execute time by its text."""

    def __init__(self, engine: Engine) -> None:
        self.on = False
        self.count = 0
        self.seconds = 0.0  # the current action's statements, in the driver's execute
        self.label = ""
        self.times: dict[tuple[str, str], list[float]] = defaultdict(list)
        self._started = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *args: Any) -> None:
        if self.on:
            self.count += 1
            self._started = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on:
            took = time.perf_counter() - self._started
            self.seconds += took
            self.times[(self.label, " ".join(statement.split()))].append(took)

    @contextmanager
    def counting(self, label: str) -> Iterator[None]:
        self.count, self.seconds, self.label, self.on = 0, 0.0, label, True
        try:
            yield
        finally:
            self.on = False


@dataclass(slots=True)
class Sample:
    """One timed action."""

    action: str
    outcome: str  # "accepted", "refused H2", "refused H3-H7"... (see _outcome)
    ms: float
    statements: int
    sql_ms: float  # of `ms`, in the driver's execute of the statements
    student: str
    target: str | None = None
    rule: str | None = None
    codes: list[str] = field(default_factory=list)
    changed: bool | None = None  # refused moves: whether anything changed (must be False)


def _outcome(result: Result) -> str:
    if isinstance(result, ActionRefused):
        return "refused H3-H7" if result.rule in PAIR_RULES else f"refused {result.rule}"
    return "accepted"


# --- The round as the planner sees it ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Allowed:
    """The solver's allowed (student, slot) pairs (H3-H7, `solver.eligibility`), grouped by
    student (the slots of student `i` are `by_student[student_at[i]:student_at[i + 1]]`, solver
    indices) and by slot (`by_slot`, `slot_at`)."""

    students: list[str]
    slots: list[str]
    student_at: np.ndarray
    by_student: np.ndarray
    slot_at: np.ndarray
    by_slot: np.ndarray

    @classmethod
    def of(cls, problem: Problem) -> Allowed:
        inst = Instance(problem)
        elig = compute_eligibility(inst)
        by_student = np.argsort(elig.student, kind="stable")
        by_slot = np.argsort(elig.slot, kind="stable")
        return cls(
            students=[st.id for st in problem.students],
            slots=[sl.id for sl in inst.slots],
            student_at=np.searchsorted(elig.student[by_student], np.arange(inst.n_students + 1)),
            by_student=elig.slot[by_student].astype(np.int32),
            slot_at=np.searchsorted(elig.slot[by_slot], np.arange(inst.n_slots + 1)),
            by_slot=elig.student[by_slot].astype(np.int32),
        )


class Held(NamedTuple):
    """A student's placement in the chosen run."""

    opp: int
    slot: int
    mentor: int | None


@dataclass(slots=True)
class World:
    """What choosing targets needs, read from the database once (ids are surrogate ids)."""

    student_ext: dict[int, str]
    student_clusters: dict[int, list[str]]
    preferences: dict[int, list[int]]  # ranked opportunities, in rank order
    by_cluster: dict[str, list[int]]  # opportunities of each cluster
    opp_ext: dict[int, str]
    opp_capacity: dict[int, int | None]
    opp_slots: dict[int, list[int]]
    slot_ext: dict[int, str]
    slot_capacity: dict[int, int]
    slot_opp: dict[int, int]
    # Workplace mentors (H8): the opportunity's employer, cluster and whether it needs one;
    # each employer's mentors (id, clusters, capacity) in the order a move picks them.
    opp_employer: dict[int, int]
    opp_cluster: dict[int, str]
    opp_needs_mentor: dict[int, bool]
    employer_mentors: dict[int, list[tuple[int, list[str], int]]]
    # The solver's allowed pairs, in surrogate ids.
    student_index: dict[int, int]
    student_of_index: np.ndarray
    slot_index: dict[int, int]
    slot_of_index: np.ndarray
    allowed: Allowed
    placement: dict[int, Held] = field(default_factory=dict)
    slot_used: Counter[int] = field(default_factory=Counter)
    opp_used: Counter[int] = field(default_factory=Counter)
    pinned: set[int] = field(default_factory=set)
    mentor_load: Counter[int] = field(default_factory=Counter)

    def seat(self, slot: int) -> bool:
        """A free seat in the slot and in its opportunity."""
        opp = self.slot_opp[slot]
        cap = self.opp_capacity[opp]
        return self.slot_used[slot] < self.slot_capacity[slot] and (
            cap is None or self.opp_used[opp] < cap
        )

    def free(self, slot: int) -> bool:
        """A free seat, and a workplace mentor with a free place where one is needed."""
        opp = self.slot_opp[slot]
        return self.seat(slot) and (
            not self.opp_needs_mentor[opp] or self.free_mentor(opp) is not None
        )

    def free_mentor(self, opp: int, current: int | None = None) -> int | None:
        """The workplace mentor a move picks: `current` (the student's mentor) if it can
        serve the opportunity with a free place, else the first such mentor."""
        cluster = self.opp_cluster[opp]
        fits = [
            m
            for m, clusters, capacity in self.employer_mentors.get(self.opp_employer[opp], ())
            if (not clusters or cluster in clusters) and self.mentor_load[m] < capacity
        ]
        return current if current in fits else (fits[0] if fits else None)

    def current_slot(self, student: int) -> int | None:
        held = self.placement.get(student)
        return None if held is None else held.slot

    def allowed_slots(self, student: int) -> list[int]:
        """Slots the solver's rules allow the student (H3-H7), their own excluded."""
        i = self.student_index[student]
        lo, hi = self.allowed.student_at[i], self.allowed.student_at[i + 1]
        current = self.current_slot(student)
        slots = self.slot_of_index[self.allowed.by_student[lo:hi]]
        return [int(sl) for sl in slots if sl != current]

    def allowed_students(self, slot: int) -> list[int]:
        """Students the solver's rules allow at the slot (H3-H7)."""
        j = self.slot_index[slot]
        lo, hi = self.allowed.slot_at[j], self.allowed.slot_at[j + 1]
        return [int(s) for s in self.student_of_index[self.allowed.by_slot[lo:hi]]]

    def book(self, student: int, slot: int | None) -> None:
        """Plan the student's move (or placement, or unplacement with None): the seat and
        workplace mentor's place they hold are freed, the new ones taken, as the action will."""
        held = self.placement.pop(student, None)
        if held is not None:
            self.slot_used[held.slot] -= 1
            self.opp_used[held.opp] -= 1
            if held.mentor is not None:
                self.mentor_load[held.mentor] -= 1
        if slot is None:
            return
        opp = self.slot_opp[slot]
        mentor = None
        if self.opp_needs_mentor[opp]:
            mentor = self.free_mentor(opp, held.mentor if held is not None else None)
            if mentor is not None:
                self.mentor_load[mentor] += 1
        self.slot_used[slot] += 1
        self.opp_used[opp] += 1
        self.placement[student] = Held(opp, slot, mentor)

    def candidate_opps(self, student: int) -> list[int]:
        """The opportunities the student ranked, then those of their clusters (all of them for
        a student naming none, as in `solver.eligibility`)."""
        clusters = self.student_clusters[student]
        ranked = self.preferences.get(student, [])
        if not clusters:
            return ranked + sorted(self.opp_ext)
        return ranked + [o for c in clusters for o in self.by_cluster.get(c, ())]

    def refused_slot(self, student: int, rng: random.Random) -> int | None:
        """A slot of an opportunity the student ranked or whose cluster they hold that the
        solver's rules refuse them (H3-H7): a plausible wrong move, not a cluster mismatch."""
        opps = self.candidate_opps(student)
        if not opps:
            return None
        allowed = set(self.allowed_slots(student))
        for _ in range(30):
            slot = rng.choice(self.opp_slots[rng.choice(opps)])
            if slot not in allowed and slot != self.current_slot(student):
                return slot
        return None


def _load_world(session: Session, rnd: Round, allowed: Allowed) -> World:
    rid = rnd.id
    st_, op_, sl_, pr_, me_ = (
        Student.__table__.c,
        Opportunity.__table__.c,
        Slot.__table__.c,
        Preference.__table__.c,
        Mentor.__table__.c,
    )
    student_ext: dict[int, str] = {}
    clusters: dict[int, list[str]] = {}
    for i, ext, cl in session.execute(
        select(st_.id, st_.external_id, st_.clusters).where(st_.round_id == rid)
    ):
        student_ext[i], clusters[i] = ext, list(cl or ())
    opp_ext: dict[int, str] = {}
    opp_capacity: dict[int, int | None] = {}
    opp_employer: dict[int, int] = {}
    opp_cluster: dict[int, str] = {}
    opp_needs_mentor: dict[int, bool] = {}
    by_cluster: dict[str, list[int]] = defaultdict(list)
    for i, ext, cluster, cap, employer, needs in session.execute(
        select(
            op_.id, op_.external_id, op_.cluster, op_.capacity, op_.employer_id, op_.requires_mentor
        ).where(op_.round_id == rid)
    ):
        opp_ext[i], opp_capacity[i] = ext, cap
        opp_employer[i], opp_cluster[i], opp_needs_mentor[i] = employer, cluster, needs
        by_cluster[cluster].append(i)
    preferences: dict[int, list[int]] = defaultdict(list)
    for s, o in session.execute(
        select(pr_.student_id, pr_.opportunity_id).where(pr_.round_id == rid).order_by(pr_.rank)
    ):
        preferences[s].append(o)
    opp_slots: dict[int, list[int]] = defaultdict(list)
    slot_ext: dict[int, str] = {}
    slot_capacity: dict[int, int] = {}
    slot_opp: dict[int, int] = {}
    for i, ext, o, cap in session.execute(
        select(sl_.id, sl_.external_id, sl_.opportunity_id, sl_.capacity)
        .where(sl_.round_id == rid)
        .order_by(sl_.id)
    ):
        slot_ext[i], slot_capacity[i], slot_opp[i] = ext, cap, o
        opp_slots[o].append(i)
    employer_mentors: dict[int, list[tuple[int, list[str], int]]] = defaultdict(list)
    for i, employer, served, capacity in session.execute(
        select(me_.id, me_.employer_id, me_.clusters, me_.capacity)
        .where(me_.round_id == rid, me_.employer_id.is_not(None))
        .order_by(me_.external_id)
    ):
        employer_mentors[employer].append((i, list(served or ()), capacity))
    student_id = {ext: i for i, ext in student_ext.items()}
    slot_id = {ext: i for i, ext in slot_ext.items()}
    slot_of_index = np.array([slot_id[ext] for ext in allowed.slots], dtype=np.int64)
    world = World(
        student_ext=student_ext,
        student_clusters=clusters,
        preferences=dict(preferences),
        by_cluster=dict(by_cluster),
        opp_ext=opp_ext,
        opp_capacity=opp_capacity,
        opp_slots=dict(opp_slots),
        slot_ext=slot_ext,
        slot_capacity=slot_capacity,
        slot_opp=slot_opp,
        opp_employer=opp_employer,
        opp_cluster=opp_cluster,
        opp_needs_mentor=opp_needs_mentor,
        employer_mentors=dict(employer_mentors),
        student_index={student_id[ext]: i for i, ext in enumerate(allowed.students)},
        student_of_index=np.array([student_id[ext] for ext in allowed.students], dtype=np.int64),
        slot_index={int(sl): j for j, sl in enumerate(slot_of_index)},
        slot_of_index=slot_of_index,
        allowed=allowed,
    )
    _sync(session, rnd, world)
    return world


def _sync(session: Session, rnd: Round, world: World) -> None:
    """Placements, seat counts, mentor loads and pinned students as stored now."""
    a_ = Assignment.__table__.c
    world.placement = {
        s: Held(o, sl, m)
        for s, o, sl, m in session.execute(
            select(a_.student_id, a_.opportunity_id, a_.slot_id, a_.mentor_id).where(
                a_.run_id == rnd.chosen_run_id
            )
        )
    }
    world.slot_used = Counter(held.slot for held in world.placement.values())
    world.opp_used = Counter(held.opp for held in world.placement.values())
    world.pinned = set(session.scalars(select(Pin.student_id).where(Pin.round_id == rnd.id)))
    world.mentor_load = Counter()
    for model in (Assignment, Mentorship):
        t = model.__table__.c
        world.mentor_load.update(
            dict(
                session.execute(
                    select(t.mentor_id, func.count())
                    .where(t.run_id == rnd.chosen_run_id, t.mentor_id.is_not(None))
                    .group_by(t.mentor_id)
                ).all()
            )
        )


# --- The benchmark -------------------------------------------------------------------------------


class Bench:
    """The chosen round in a database, the planner's view of it, and the timed actions."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        statements: Statements,
        round_id: int,
        allowed: Allowed,
        seed: int,
    ) -> None:
        self.factory = factory
        self.statements = statements
        self.round_id = round_id
        self.rng = random.Random(f"moves/{seed}")
        self.samples: list[Sample] = []
        self.used: set[int] = set()  # students some series has taken already
        self.unplaced: list[int] = []  # by `unplace`, for `place`
        self.shortfalls: list[str] = []
        with factory() as session:
            self.world = _load_world(session, session.get_one(Round, round_id), allowed)

    # -- timing --

    def timed(
        self,
        action: str,
        student: int,
        target: str | None,
        body: Callable[[Session, Round], actions.Outcome],
    ) -> Sample:
        """Run `body` as one transaction (loading the round first), timed and counted."""
        result: Result
        with self.statements.counting(action):
            started = time.perf_counter()
            try:
                with self.factory() as session, session.begin():
                    rnd = session.get_one(Round, self.round_id)
                    result = body(session, rnd)
            except ActionRefused as exc:
                result = exc
            ms = (time.perf_counter() - started) * 1000
            count, sql_ms = self.statements.count, self.statements.seconds * 1000
        sample = Sample(
            action=action,
            outcome=_outcome(result),
            ms=ms,
            statements=count,
            sql_ms=sql_ms,
            student=self.world.student_ext[student],
            target=target,
        )
        if isinstance(result, ActionRefused):
            sample.rule, sample.codes = result.rule, list(result.codes)
        self.samples.append(sample)
        return sample

    # -- choosing targets (not timed) --

    def _students(self, *, placed: bool | None) -> Iterator[int]:
        """Students no series has used, unpinned, in random order (placed or not, or any)."""
        ids = sorted(self.world.student_ext)
        self.rng.shuffle(ids)
        for s in ids:
            if s in self.used or s in self.world.pinned:
                continue
            if placed is None or (s in self.world.placement) == placed:
                yield s

    def _resync(self) -> None:
        with self.factory() as session:
            _sync(session, session.get_one(Round, self.round_id), self.world)

    def _short(self, what: str, got: int, wanted: int) -> None:
        if got < wanted:
            self.shortfalls.append(f"{what}: {got} of {wanted} found")

    # -- the series --

    def moves(self, n: int) -> None:
        """Placed students to another slot where the move is allowed.

        In a solved round few seats are free, and those mostly at opportunities whose workplace
        mentors are all taken (the solver fills every other seat it can): a random free slot
        first, then a random student it allows; each planned move frees a seat (and mentor's
        place) that the next ones may take."""
        w = self.world
        plans: list[tuple[int, int]] = []
        while len(plans) < n:
            free = [sl for sl in w.slot_ext if w.free(sl)]
            self.rng.shuffle(free)
            for slot in free:
                who = [
                    s
                    for s in w.allowed_students(slot)
                    if s in w.placement
                    and s not in self.used
                    and s not in w.pinned
                    and w.current_slot(s) != slot
                ]
                if who:
                    s = self.rng.choice(who)
                    plans.append((s, slot))
                    self.used.add(s)
                    w.book(s, slot)
                    break
            else:
                break  # no free slot allows any student left
        self._short("allowed moves", len(plans), n)
        for s, slot in plans:
            self._move(s, slot, "move")
        self._resync()

    def refused_moves(self, n: int) -> None:
        """Half to a slot the pair rules refuse (H3-H7), half to a full slot of an allowed pair
        (H2); each checked to have changed nothing."""
        want = {"pair": n - n // 2, "full": n // 2}
        plans: list[tuple[int, int]] = []
        for s in self._students(placed=None):
            if not any(want.values()):
                break
            slot: int | None = None
            if want["full"] and (len(plans) % 2 or not want["pair"]):
                full = [sl for sl in self.world.allowed_slots(s) if not self.world.seat(sl)]
                if full:
                    slot = self.rng.choice(full)
                    want["full"] -= 1
            elif want["pair"]:
                slot = self.world.refused_slot(s, self.rng)
                if slot is not None:
                    want["pair"] -= 1
            if slot is not None:
                plans.append((s, slot))
                self.used.add(s)
        self._short("refused moves", len(plans), n)
        for s, slot in plans:
            before = self._state(s)
            sample = self._move(s, slot, "move")
            sample.changed = self._state(s) != before
        self._resync()

    def _move(self, s: int, slot: int, action: str) -> Sample:
        fn = actions.place if action == "place" else actions.move

        def body(session: Session, rnd: Round) -> actions.Outcome:
            st, sl = session.get_one(Student, s), session.get_one(Slot, slot)
            return fn(session, rnd, st, sl, user=None)

        return self.timed(action, s, self.world.slot_ext[slot], body)

    def _state(self, s: int) -> tuple[Any, ...]:
        """What a refused move must leave as it was: the student's assignment and pins, and
        the round's audit events and forbidden pairs."""
        with self.factory() as session:
            rnd = session.get_one(Round, self.round_id)
            a = session.execute(
                select(
                    Assignment.opportunity_id,
                    Assignment.slot_id,
                    Assignment.mentor_id,
                    Assignment.status,
                ).where(Assignment.run_id == rnd.chosen_run_id, Assignment.student_id == s)
            ).one_or_none()
            pins = session.execute(
                select(Pin.opportunity_id, Pin.slot_id, Pin.mentor_id).where(Pin.student_id == s)
            ).all()
            events = session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.round_id == rnd.id)
            )
            forbidden = session.scalar(
                select(func.count()).select_from(Forbidden).where(Forbidden.round_id == rnd.id)
            )
            return (tuple(a) if a else None, sorted(map(tuple, pins)), events, forbidden)

    def pins(self, n: int) -> None:
        """Placed students pinned where they are."""
        plans = [s for s, _ in zip(self._students(placed=True), range(n), strict=False)]
        self._short("pins", len(plans), n)
        self.used.update(plans)
        for s in plans:
            opp, slot, _ = self.world.placement[s]

            def body(session: Session, rnd: Round, s: int = s, o: int = opp, sl: int = slot) -> Any:
                return actions.pin(
                    session,
                    rnd,
                    session.get_one(Student, s),
                    session.get_one(Opportunity, o),
                    session.get_one(Slot, sl),
                    user=None,
                )

            self.timed("pin", s, self.world.slot_ext[slot], body)
        self._resync()

    def unplace(self, n: int) -> None:
        """Placed students unplaced (placed again by `place`, after `moves` has used the seats
        they left)."""
        plans = [s for s, _ in zip(self._students(placed=True), range(n), strict=False)]
        self._short("unplacements", len(plans), n)
        self.used.update(plans)
        for s in plans:

            def body(session: Session, rnd: Round, s: int = s) -> actions.Outcome:
                return actions.unplace(session, rnd, session.get_one(Student, s), user=None)

            self.timed("unplace", s, None, body)
        self._resync()
        self.unplaced = [s for s in plans if s not in self.world.placement]

    def place(self, n: int) -> None:
        """The students `unplace` took out, each placed at a random allowed slot with a free
        seat."""
        w = self.world
        placements: list[tuple[int, int]] = []
        for s in self.unplaced[:n]:
            free = [sl for sl in w.allowed_slots(s) if w.free(sl)]
            if free:
                slot = self.rng.choice(free)
                placements.append((s, slot))
                w.book(s, slot)
        self._short("placements", len(placements), n)
        for s, slot in placements:
            self._move(s, slot, "place")
        self._resync()

    def forbids(self, n: int) -> None:
        """A placed student's own opportunity forbidden (the placement goes), and another
        opportunity of a student's (ranked or of their cluster) forbidden (the pair is only
        recorded)."""
        own = [s for s, _ in zip(self._students(placed=True), range(n), strict=False)]
        self._short("forbid, own placement", len(own), n)
        self.used.update(own)
        other: list[tuple[int, int]] = []
        for s in self._students(placed=None):
            if len(other) >= n:
                break
            held = self.world.placement.get(s)
            opps = [o for o in self.world.candidate_opps(s) if held is None or o != held.opp]
            if opps:
                other.append((s, self.rng.choice(opps)))
                self.used.add(s)
        self._short("forbid, other pair", len(other), n)
        for label, plans in (
            ("forbid (own placement)", [(s, self.world.placement[s].opp) for s in own]),
            ("forbid (other pair)", other),
        ):
            for s, opp in plans:

                def body(session: Session, rnd: Round, s: int = s, o: int = opp) -> Any:
                    return actions.forbid(
                        session,
                        rnd,
                        session.get_one(Student, s),
                        session.get_one(Opportunity, o),
                        user=None,
                    )

                self.timed(label, s, self.world.opp_ext[opp], body)
        self._resync()


# --- Setting up ----------------------------------------------------------------------------------


@contextmanager
def database(url: str | None, keep: bool) -> Iterator[tuple[Engine, str]]:
    """A fresh, migrated database: a SQLite file in a temporary folder, or a new schema in the
    PostgreSQL database `url` (dropped afterwards unless `keep`). Yields the engine and a
    description."""
    if url is None:
        tmp = Path(tempfile.mkdtemp(prefix="wbl-moves-bench-"))
        engine = make_engine(f"sqlite:///{tmp / 'wbl.db'}")
        try:
            upgrade(engine)
            yield engine, f"SQLite {sqlite3.sqlite_version}, file {tmp / 'wbl.db'}"
        finally:
            engine.dispose()
            if not keep:
                shutil.rmtree(tmp, ignore_errors=True)
        return
    if make_url(url).get_backend_name() == "sqlite":
        raise SystemExit("--database-url is for PostgreSQL; SQLite is the default")
    schema = f"wbl_moves_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        server = conn.execute(text("SHOW server_version")).scalar_one()
    engine = make_engine(url, connect_args={"options": f"-c search_path={schema}"})
    try:
        upgrade(engine)
        shown = make_url(url).render_as_string(hide_password=True)
        yield engine, f"PostgreSQL {server}, {shown}, schema {schema}"
    finally:
        engine.dispose()
        if not keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def set_up(
    factory: sessionmaker[Session], students: int, seed: int, time_limit: float
) -> tuple[int, Allowed, dict[str, Any]]:
    """Generate, import, solve, store and choose; returns the round's id, the solver's allowed
    pairs and what each step took."""
    info: dict[str, Any] = {}
    started = time.perf_counter()
    doc = generate_round(students, seed=seed)
    info["generate_seconds"] = time.perf_counter() - started
    info["round"] = {
        "students": len(doc["students"]),
        "opportunities": len(doc["opportunities"]),
        "slots": sum(len(o["slots"]) for o in doc["opportunities"]),
        "mentors": len(doc["mentors"]),
        "pins": len(doc.get("pins") or ()),
    }

    started = time.perf_counter()
    with factory() as session, session.begin():
        program = Program(slug="bench", name="Benchmark")
        rnd = import_round(session, doc, program)
        round_id = rnd.id
    info["import_seconds"] = time.perf_counter() - started

    started = time.perf_counter()
    problem = load_problem(doc)
    del doc
    options = SolveOptions(time_limit=time_limit, workers=2, seed=0)
    solution = solve(problem, options).to_dict()
    info["solve_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    allowed = Allowed.of(problem)
    info["eligibility_seconds"] = time.perf_counter() - started
    del problem

    started = time.perf_counter()
    with factory() as session, session.begin():
        rnd = session.get_one(Round, round_id)
        run = create_run(session, rnd, {"time_limit": time_limit, "workers": 2, "seed": 0})
        run.started_at = now()
        store_solution(session, rnd, run, solution)
        run.status = RunStatus.succeeded
        run.progress = 1.0
        run.stage = "done"
        run.finished_at = now()
        run_id = run.id
    info["store_seconds"] = time.perf_counter() - started
    info["solution_status"] = solution["status"]
    info["placed"] = solution["metrics"]["placed"]
    info["result_json_bytes"] = len(
        json.dumps({k: v for k, v in solution.items() if k not in _RUN_COLUMNS})
    )
    del solution

    started = time.perf_counter()
    with factory() as session, session.begin():
        rnd = session.get_one(Round, round_id)
        actions.choose_run(session, rnd, session.get_one(SolveRun, run_id), user=None)
    info["choose_seconds"] = time.perf_counter() - started
    return round_id, allowed, info


# Keys of a solution stored in columns or tables of their own (the rest goes to
# SolveRun.result): see scheduler.rounds.store_solution.
_RUN_COLUMNS = frozenset(
    {"format", "status", "gap", "wall_seconds", "assignments", "mentorships", "unplaced", "metrics"}
)


def _check(factory: sessionmaker[Session], round_id: int) -> list[str]:
    with factory() as session:
        rnd = session.get_one(Round, round_id)
        run = session.get_one(SolveRun, rnd.chosen_run_id)
        return check_solution(export_round(session, rnd), solution_from_run(session, run))


# --- Summaries -----------------------------------------------------------------------------------


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarise(samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """One row per (action, outcome), in the order they first happened."""
    groups: dict[tuple[str, str], list[Sample]] = {}
    for s in samples:
        groups.setdefault((s.action, s.outcome), []).append(s)
    rows = []
    for (action, outcome), group in groups.items():
        ms = [s.ms for s in group]
        stmts = [s.statements for s in group]
        codes = Counter(c for s in group for c in s.codes)
        rows.append(
            {
                "action": action,
                "outcome": outcome,
                "count": len(group),
                "median_ms": statistics.median(ms),
                "p90_ms": _percentile(ms, 0.9),
                "max_ms": max(ms),
                "sql_median_ms": statistics.median(s.sql_ms for s in group),
                "statements_median": statistics.median(stmts),
                "statements_min": min(stmts),
                "statements_max": max(stmts),
                "codes": dict(codes.most_common()),
                "changed": sum(1 for s in group if s.changed),
            }
        )
    return rows


def by_statement(statements: Statements, samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """Every statement of the timed actions by action, most execute time first."""
    per_action = Counter(s.action for s in samples)
    rows: list[dict[str, Any]] = []
    for (action, sql), times in statements.times.items():
        rows.append(
            {
                "action": action,
                "sql": sql,
                "runs": len(times),
                "per_action": len(times) / per_action[action] if per_action[action] else 0,
                "total_ms": sum(times) * 1000,
                "mean_ms": statistics.fmean(times) * 1000,
                "max_ms": max(times) * 1000,
            }
        )
    rows.sort(key=lambda r: -r["total_ms"])
    return rows


def _git() -> dict[str, Any]:
    git = shutil.which("git")
    if git is None:
        return {"commit": "unknown", "dirty": []}

    def out(*args: str) -> str:
        done = subprocess.run([git, *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout

    measured = ("scheduler", "models", "solver")
    dirty = out("status", "--porcelain", "--", *measured)
    return {
        "commit": out("rev-parse", "--short", "HEAD").strip() or "unknown",
        # The committed trees of the measured packages: a commit elsewhere does not change them.
        "trees": out("rev-parse", *(f"HEAD:{d}" for d in measured)).split(),
        "dirty": [line[3:] for line in dirty.splitlines() if line.strip()],
    }


def run(
    students: int,
    seed: int,
    moves: int,
    *,
    database_url: str | None = None,
    time_limit: float = 60.0,
    keep: bool = False,
    on_ready: Callable[[sessionmaker[Session], int, list[Sample]], None] | None = None,
) -> dict[str, Any]:
    """The whole benchmark; the results as a dict (see `report`). `on_ready(factory,
    round_id, samples)`, when given, is called after the actions, before the database goes
    away (the tests look at it)."""
    git = _git()  # as the modules were imported, near enough; compared again at the end
    with database(database_url, keep) as (engine, where):
        factory = make_session_factory(engine)
        round_id, allowed, info = set_up(factory, students, seed, time_limit)
        if engine.dialect.name == "postgresql":
            # Statistics for the planner, as autovacuum would gather them after the import (it
            # may be off, as on the machine these results were measured on).
            with engine.begin() as conn:
                for table in Base.metadata.sorted_tables:
                    conn.execute(text(f'ANALYZE "{table.name}"'))
        statements = Statements(engine)
        bench = Bench(factory, statements, round_id, allowed, seed)
        del allowed
        gc.collect()
        gc.freeze()
        loads = [os.getloadavg()[0]]
        started = time.perf_counter()
        try:
            # Unplacing first frees seats in demand, which the allowed moves then use.
            for step in (
                bench.pins,
                bench.unplace,
                bench.moves,
                bench.place,
                bench.refused_moves,
                bench.forbids,
            ):
                step(moves)
                loads.append(os.getloadavg()[0])
        finally:
            gc.unfreeze()
        actions_seconds = time.perf_counter() - started
        problems: list[str] | None = None
        if students <= CHECK_MAX:
            problems = _check(factory, round_id)
        if on_ready is not None:
            on_ready(factory, round_id, bench.samples)
    return {
        "students": students,
        "seed": seed,
        "moves": moves,
        "time_limit": time_limit,
        "database": where,
        "dialect": engine.dialect.name,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git,
        "git_at_end": _git(),
        "machine": machine(),
        "setup": info,
        "actions_seconds": actions_seconds,
        "load": {"min": min(loads), "max": max(loads)},
        "rows": summarise(bench.samples),
        "statements": by_statement(statements, bench.samples),
        "shortfalls": bench.shortfalls,
        "check": problems,
        "samples": [asdict(s) for s in bench.samples],
    }


def _ms(x: float) -> str:
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def report(result: dict[str, Any], command: str) -> str:
    """The results as Markdown."""
    s, r = result["setup"], result["setup"]["round"]
    git = result["git"]
    dirty = f" (uncommitted changes in {', '.join(git['dirty'])})" if git["dirty"] else ""
    end = result.get("git_at_end", git)
    if (end.get("trees"), end["dirty"]) != (git.get("trees"), git["dirty"]):
        dirty += " **(scheduler/, models/ or solver/ changed during the run: measure again)**"
    lines = [
        f"### {result['students']:,} students, {result['dialect']}",
        "",
        f"- command: `{command}`",
        f"- date: {result['date']}; code: commit {git['commit']}{dirty}",
        f"- database: {result['database']}",
        "- machine: "
        + "; ".join(f"{k} {v}" for k, v in result["machine"].items())
        + f"; 1-minute load {result['load']['min']:.1f}-{result['load']['max']:.1f} while timing",
        f"- round: seed {result['seed']}, {r['students']:,} students, {r['opportunities']:,}"
        f" opportunities, {r['slots']:,} slots, {r['mentors']:,} mentors, {r['pins']} pins;"
        f" {s['placed']:,} placed ({s['solution_status']})",
        f"- set-up (s): generate {s['generate_seconds']:.1f}, import {s['import_seconds']:.1f},"
        f" solve {s['solve_seconds']:.1f}, eligibility {s['eligibility_seconds']:.1f}, store"
        f" {s['store_seconds']:.1f}, choose"
        f" {s['choose_seconds']:.1f}; the run's `result` JSON is"
        f" {s['result_json_bytes'] / 1e6:.2f} MB",
        f"- {sum(row['count'] for row in result['rows'])} actions in"
        f" {result['actions_seconds']:.1f} s (choosing targets included)",
        "",
        "| action | outcome | count | median ms | p90 ms | max ms | of which SQL execute, median"
        " ms | statements (median, min-max) | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        notes = ", ".join(f"{c} {n}" for c, n in row["codes"].items())
        if row["outcome"].startswith("refused") and row["action"] == "move":
            changed = row["changed"]
            notes += ("; " if notes else "") + (
                f"**{changed} left a change**" if changed else "none changed anything"
            )
        lo, hi = row["statements_min"], row["statements_max"]
        span = f"{lo}" if lo == hi else f"{lo}-{hi}"
        lines.append(
            f"| {row['action']} | {row['outcome']} | {row['count']} | {_ms(row['median_ms'])}"
            f" | {_ms(row['p90_ms'])} | {_ms(row['max_ms'])} | {_ms(row['sql_median_ms'])}"
            f" | {row['statements_median']:g} ({span}) | {notes} |"
        )
    lines += [
        "",
        "Statements that took the most time in the driver's execute, over all timed actions:",
        "",
        "| action | runs per action | total ms | mean ms | max ms | statement |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["statements"][:8]:
        sql = row["sql"] if len(row["sql"]) <= 300 else row["sql"][:300] + " ..."
        sql = sql.replace("|", "\\|")
        lines.append(
            f"| {row['action']} | {row['per_action']:.2f} | {row['total_ms']:.0f}"
            f" | {row['mean_ms']:.2f} | {row['max_ms']:.1f} | `{sql}` |"
        )
    lines.append("")
    for short in result["shortfalls"]:
        lines.append(f"- fewer targets than asked: {short}")
    if result["check"] is None:
        lines.append(f"- edited run not checked (only rounds up to {CHECK_MAX:,} students)")
    elif result["check"]:
        lines.append(f"- **the edited run breaks rules**: {'; '.join(result['check'][:5])}")
    else:
        lines.append("- the edited run passes `solver.check_solution` after every action")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--moves", type=int, default=200, help="actions per series")
    parser.add_argument("--database-url", help="PostgreSQL (default: a temporary SQLite file)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="of the solve (s)")
    parser.add_argument("--json", type=Path, help="write the whole result here")
    parser.add_argument("--keep", action="store_true", help="keep the database (or schema)")
    args = parser.parse_args(argv)
    result = run(
        args.students,
        args.seed,
        args.moves,
        database_url=args.database_url,
        time_limit=args.time_limit,
        keep=args.keep,
    )
    command = f"python -m bench.moves --students {args.students} --seed {args.seed}"
    command += f" --moves {args.moves}"
    if args.database_url:
        command += f" --database-url {make_url(args.database_url).render_as_string()}"
    if args.time_limit != 60.0:
        command += f" --time-limit {args.time_limit:g}"
    text_ = report(result, command)
    sys.stdout.write(text_)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    refused_changed = sum(1 for s in result["samples"] if s["changed"])
    return 1 if refused_changed or result["check"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
