"""Community mentors (H8) with CP-SAT: weekly meetings on the 15-minute grid.

A flow cannot place meetings in time, so after the flow has fixed every other placement this
model decides, for the students it touches (wanting a mentor, without a workplace mentor, with
a community mentor whose clusters meet theirs), which mentor they meet and when. A student whose
shift leaves no common free time with any candidate mentor may move to another allowed slot
with a free seat (never out of a placement). Mentors and slots tie students together; each
connected component is its own small model, with the flow's answer as the hint.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import max_flow
from ortools.sat.python import cp_model

from solver.eligibility import Eligibility
from solver.instance import BoolArray, Instance, IntArray
from solver.problem import Mentor, Slot
from solver.rules import (
    DAY,
    community_mentor_matches,
    meeting_grid,
    meeting_times,
    meetings_apart,
)
from solver.rules import meeting_starts as meeting_starts  # callers outside solver/ use it here
from solver.rules import week_intervals as week_intervals

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Meeting:
    student: int
    mentor: int
    start: int  # minutes since Monday 00:00

    @property
    def day(self) -> int:
        return self.start // DAY


@dataclass(frozen=True, slots=True, kw_only=True)
class MentoringResult:
    pair: IntArray  # per student, the eligible pair chosen (updated by moves), -1 if unplaced
    meetings: tuple[Meeting, ...]
    proven: bool  # every component solved to optimality
    feasible: bool  # False when a pinned community mentor cannot be met
    touched: int  # students the model considered
    components: int = 0  # independent models (connected components) solved
    # Components whose answer reached their own upper bound (greedy first answer or a CP-SAT
    # solution), so the search stopped there, proven optimal, before its time ran out.
    at_bound: int = 0


def meeting_capacity(mentor: Mentor, length: int) -> int:
    """Capacity, or fewer: how many meetings fit side by side in the availability (H8)."""
    fits = 0
    for a, b in week_intervals(mentor.available):
        first = meeting_grid(a, b, length).start
        fits += max(0, (b - first) // length)
    return min(mentor.capacity, fits)


class _Parent:
    """Union-find over hashable keys, to split the model into independent components."""

    def __init__(self) -> None:
        self.up: dict[object, object] = {}

    def find(self, x: object) -> object:
        self.up.setdefault(x, x)
        while self.up[x] != x:
            self.up[x] = self.up[self.up[x]]
            x = self.up[x]
        return x

    def union(self, a: object, b: object) -> None:
        self.up[self.find(a)] = self.find(b)


def mentoring_bound(
    inst: Instance,
    students: IntArray,
    workplace_capable: BoolArray,
    workplace_max: int,
    *,
    max_checks: int = 2_000_000,
) -> tuple[int, int]:
    """Most of `students` (those wanting a mentor) who could have one: at most `workplace_max`
    through workplace mentors (the flow's proven optimum), the rest through community mentors
    with matching clusters, capacity and a free meeting time against the student's busy blocks
    (a shift can only take times away).

    Students alike in clusters, busy blocks and workplace access form one group, so this is a
    small max flow, exact for that relaxation. Past `max_checks` group-mentor time checks the
    time test is dropped (looser, still valid). Returns the bound, and the same bound with no
    workplace mentors at all (what community mentors alone could take).
    """
    p = inst.problem
    length = p.round.mentor_meeting_minutes
    mentors = [mi for mi, m in enumerate(p.mentors) if m.is_community and m.capacity > 0]
    if students.size == 0:
        return 0, 0
    Key = tuple[tuple[str, ...], tuple[tuple[int, int], ...], bool]
    groups: dict[Key, int] = defaultdict(int)
    # Which mentors each distinct set of clusters meets (H8), decided once per set.
    meets: dict[tuple[str, ...], list[bool]] = {}
    for s in students:
        st = p.students[int(s)]
        clusters = tuple(sorted(set(st.clusters)))
        if clusters not in meets:
            meets[clusters] = [community_mentor_matches(st, p.mentors[mi]) for mi in mentors]
        groups[(clusters, tuple(sorted(week_intervals(st.busy))), bool(workplace_capable[s]))] += 1
    with_time = len(groups) * len(mentors) <= max_checks
    # Every mentor's grid starts in one array, so "some start is free" is one numpy test per
    # busy pattern for all mentors at once.
    per_mentor = [meeting_starts(p.mentors[mi], (), length) for mi in mentors]
    grid = np.array([t for ts in per_mentor for t in ts], dtype=np.int64)
    owner = np.repeat(np.arange(len(mentors)), [len(ts) for ts in per_mentor])
    free_by_busy: dict[tuple[tuple[int, int], ...], BoolArray] = {}

    def free_mentors(busy: tuple[tuple[int, int], ...]) -> BoolArray:
        if busy not in free_by_busy:
            ok = np.ones(grid.size, dtype=np.bool_)
            for c, d in busy:
                ok &= ~((grid < d) & (c < grid + length))
            free_by_busy[busy] = np.bincount(owner[ok], minlength=len(mentors)) > 0
        return free_by_busy[busy]

    keys = list(groups)
    g = max_flow.SimpleMaxFlow()
    source, sink, workplace, first_mentor = 0, 1, 2, 3 + len(keys)
    workplace_arc = g.add_arc_with_capacity(workplace, sink, workplace_max)
    for gi, (clusters, busy, capable) in enumerate(keys):
        count = groups[(clusters, busy, capable)]
        g.add_arc_with_capacity(source, 3 + gi, count)
        if capable:
            g.add_arc_with_capacity(3 + gi, workplace, count)
        free = free_mentors(busy) if with_time else np.ones(len(mentors), dtype=np.bool_)
        for j in (int(x) for x in np.nonzero(free)[0]):
            if not meets[clusters][j]:
                continue
            g.add_arc_with_capacity(3 + gi, first_mentor + j, count)
    for k, mi in enumerate(mentors):
        g.add_arc_with_capacity(first_mentor + k, sink, meeting_capacity(p.mentors[mi], length))
    g.solve(source, sink)
    both = int(g.optimal_flow())
    g.set_arc_capacity(workplace_arc, 0)
    g.solve(source, sink)
    return both, int(g.optimal_flow())


def assign_community_mentors(
    inst: Instance,
    elig: Eligibility,
    pair: IntArray,
    has_workplace_mentor: BoolArray,
    pinned_mentor: dict[int, int],
    *,
    allowed_pairs: BoolArray | None = None,
    time_limit: float,
    workers: int,
    seed: int,
    lottery: IntArray,
    deterministic: bool = False,
    log_search: bool = False,
    mentor_candidates: int = 3,
    per_seat: int = 3,
    alternatives: int = 3,
    hint: dict[int, Meeting] | None = None,
    progress: Callable[[str], None] | None = None,
) -> MentoringResult:
    """Meet as many wanting students as possible, then keep preferences and short trips,
    within `time_limit` seconds from the call (work units when `deterministic`)."""
    began = time.perf_counter()
    p = inst.problem
    length = p.round.mentor_meeting_minutes
    community = [mi for mi, m in enumerate(p.mentors) if m.is_community and m.capacity > 0]
    pair = pair.copy()
    if not community:
        return MentoringResult(
            pair=pair, meetings=(), proven=True, feasible=not pinned_mentor, touched=0
        )

    placed = pair >= 0
    slot_used = np.bincount(elig.slot[pair[placed]], minlength=inst.n_slots)
    opp_used = np.bincount(inst.slot_opp[elig.slot[pair[placed]]], minlength=inst.n_opps)
    slot_free = inst.slot_capacity - slot_used
    opp_free = inst.opp_capacity - opp_used
    first_pair = np.searchsorted(elig.student, np.arange(inst.n_students + 1))

    def score(pi: int) -> int:
        return inst.preference_score(int(elig.student[pi]), int(inst.slot_opp[elig.slot[pi]]))

    def slot_of(pi: int) -> Slot | None:
        return inst.slots[int(elig.slot[pi])] if pi >= 0 else None

    # Per touched student: alternatives (pair indices, -1 = unplaced) and candidate mentors with
    # the meeting starts each alternative leaves open. Students are taken in lottery order and
    # offered the mentors with the fewest candidates per seat so far, a few each: every seat
    # gets several contenders while the model stays small at any round size.
    alts: dict[int, list[int]] = {}
    starts: dict[tuple[int, int], dict[int, list[int]]] = {}
    offered: dict[int, int] = defaultdict(int)
    limit = {mi: per_seat * meeting_capacity(p.mentors[mi], length) + 2 for mi in community}
    order = np.argsort(lottery)
    for s in (int(x) for x in order):
        st = p.students[s]
        if not st.wants_mentor or has_workplace_mentor[s]:
            continue
        pinned = pinned_mentor.get(s)
        hinted = hint[s].mentor if hint and s in hint else None
        cands = [
            mi
            for mi in community
            if offered[mi] < limit[mi] and community_mentor_matches(st, p.mentors[mi])
        ]
        cands.sort(key=lambda mi: offered[mi] / p.mentors[mi].capacity)
        for first in (hinted, pinned):
            if first is not None:
                cands = [first] + [mi for mi in cands if mi != first]
        if not cands:
            continue
        current = int(pair[s])
        options = [current]
        if current >= 0:
            # Other allowed slots with a free seat (within the student's pins: H9), in case a
            # shift elsewhere opens a mentor's hours; the model moves the student only if the
            # objective gains by it.
            rng = np.arange(first_pair[s], first_pair[s + 1])
            sl, o = elig.slot[rng], inst.slot_opp[elig.slot[rng]]
            o_cur = inst.slot_opp[elig.slot[current]]
            ok = (rng != current) & ~inst.requires_mentor[o] & (slot_free[sl] > 0)
            ok &= (opp_free[o] > 0) | (o == o_cur)
            if allowed_pairs is not None:
                ok &= allowed_pairs[rng]
            extra = [int(pi) for pi in rng[ok]]
            extra.sort(key=lambda pi: (-score(pi), int(elig.minutes[pi])))
            options += extra[:alternatives]
        chosen: dict[int, dict[int, list[int]]] = {}
        for mi in cands:
            per_alt = {}
            for pi in options:
                free = meeting_times(p.mentors[mi], st, slot_of(pi), length)
                if free:
                    per_alt[pi] = free
            if per_alt:
                chosen[mi] = per_alt
            if len(chosen) >= mentor_candidates:
                break
        for mi in chosen:
            offered[mi] += 1
        if pinned is not None and pinned not in chosen:
            return MentoringResult(pair=pair, meetings=(), proven=True, feasible=False, touched=0)
        if not chosen:
            continue
        alts[s] = options
        for mi, per_alt in chosen.items():
            starts[(s, mi)] = per_alt

    if not alts:
        return MentoringResult(pair=pair, meetings=(), proven=True, feasible=True, touched=0)

    # Components: students sharing a mentor or a slot they might move into.
    uf = _Parent()
    for s, mi in starts:
        uf.union(("s", s), ("m", mi))
    for s, options in alts.items():
        for pi in options:
            if pi >= 0:
                uf.union(("s", s), ("slot", int(elig.slot[pi])))
    components: dict[object, list[int]] = defaultdict(list)
    for s in alts:
        components[uf.find(("s", s))].append(s)
    by_student: dict[int, list[int]] = defaultdict(list)
    for s, mi in starts:
        by_student[s].append(mi)

    total = sum(len(by_student[s]) for s in alts)
    meetings: list[Meeting] = []
    proven = True
    done = 0
    at_bound = 0
    for number, members in enumerate(sorted(components.values(), key=len, reverse=True), start=1):
        size = sum(len(by_student[s]) for s in members)
        budget = max(0.5, time_limit * size / total)
        if not deterministic:
            # The components share one clock: the last ones get what is left, not more.
            budget = max(0.05, min(budget, time_limit - (time.perf_counter() - began)))
        found, optimal, moved, reached = _solve_component(
            inst,
            elig,
            members,
            alts,
            by_student,
            starts,
            slot_free,
            opp_free,
            score,
            pinned_mentor,
            hint or {},
            length,
            budget,
            workers,
            seed,
            deterministic,
            log_search,
        )
        if found is None:
            return MentoringResult(
                pair=pair, meetings=(), proven=True, feasible=False, touched=len(alts)
            )
        at_bound += reached
        meetings += found
        for s, pi in moved.items():
            pair[s] = pi
        proven &= optimal
        done += size
        if progress is not None:
            progress(
                f"community mentors: component {number}/{len(components)}, {done}/{total} pairs"
            )
    return MentoringResult(
        pair=pair,
        meetings=tuple(meetings),
        proven=proven,
        feasible=True,
        touched=len(alts),
        components=len(components),
        at_bound=at_bound,
    )


def _component_bound(
    inst: Instance,
    elig: Eligibility,
    members: list[int],
    alts: dict[int, list[int]],
    by_student: dict[int, list[int]],
    score: Callable[[int], int],
    length: int,
    travel_span: int,
) -> tuple[int, int]:
    """Upper bounds on what one component can reach: students met (a max flow from students
    to their candidate mentors, each mentor holding at most the meetings that fit side by side
    in its hours, times otherwise ignored: a relaxation, so a bound), and the preference and
    travel term of the model's objective (each student at its own best option, which no
    choice of the others can beat, since that term is a sum over students)."""
    p = inst.problem
    mentors = sorted({mi for s in members for mi in by_student[s]})
    at = {mi: 2 + len(members) + k for k, mi in enumerate(mentors)}
    g = max_flow.SimpleMaxFlow()
    for k, s in enumerate(members):
        g.add_arc_with_capacity(0, 2 + k, 1)
        for mi in by_student[s]:
            g.add_arc_with_capacity(2 + k, at[mi], 1)
    for mi in mentors:
        g.add_arc_with_capacity(at[mi], 1, meeting_capacity(p.mentors[mi], length))
    g.solve(0, 1)
    rest = sum(
        max(score(pi) * travel_span - int(elig.minutes[pi]) if pi >= 0 else 0 for pi in alts[s])
        for s in members
    )
    return int(g.optimal_flow()), rest


class _StopAtBound(cp_model.CpSolverSolutionCallback):
    """Stops the search at the first solution whose objective reaches a known upper bound:
    nothing better exists, so waiting for CP-SAT to prove it itself only spends the time."""

    def __init__(self, bound: int) -> None:
        super().__init__()
        self.bound = bound
        self.reached = False

    def on_solution_callback(self) -> None:
        if self.objective_value >= self.bound:
            self.reached = True
            self.stop_search()


def _greedy_meetings(
    inst: Instance,
    members: list[int],
    alts: dict[int, list[int]],
    by_student: dict[int, list[int]],
    starts: dict[tuple[int, int], dict[int, list[int]]],
    hint: dict[int, Meeting],
    length: int,
) -> dict[int, tuple[int, int]]:
    """A first answer for CP-SAT to improve on: the given meetings, then each student in turn
    (nobody moving) takes the first free meeting time with one of their candidate mentors."""
    p = inst.problem
    booked: dict[int, list[int]] = defaultdict(list)
    out: dict[int, tuple[int, int]] = {}

    def fits(mi: int, start: int) -> bool:
        taken = booked[mi]
        return len(taken) < p.mentors[mi].capacity and all(
            meetings_apart(start, t, length) for t in taken
        )

    for s in members:
        given = hint.get(s)
        if given is None:
            continue
        allowed = starts.get((s, given.mentor), {}).get(alts[s][0], ())
        if given.start in allowed and fits(given.mentor, given.start):
            booked[given.mentor].append(given.start)
            out[s] = (given.mentor, given.start)
    for s in members:
        if s in out:
            continue
        for mi in by_student[s]:
            start = next((t for t in starts[(s, mi)].get(alts[s][0], ()) if fits(mi, t)), None)
            if start is not None:
                booked[mi].append(start)
                out[s] = (mi, start)
                break
    return out


def _solve_component(
    inst: Instance,
    elig: Eligibility,
    members: list[int],
    alts: dict[int, list[int]],
    by_student: dict[int, list[int]],
    starts: dict[tuple[int, int], dict[int, list[int]]],
    slot_free: IntArray,
    opp_free: IntArray,
    score: Callable[[int], int],
    pinned_mentor: dict[int, int],
    hint: dict[int, Meeting],
    length: int,
    time_limit: float,
    workers: int,
    seed: int,
    deterministic: bool,
    log_search: bool,
) -> tuple[list[Meeting] | None, bool, dict[int, int], bool]:
    """One component's meetings and moves: (meetings or None if a pin cannot hold, proven
    optimal, moves, stopped at the component's upper bound)."""
    p = inst.problem
    model = cp_model.CpModel()
    choose: dict[tuple[int, int], cp_model.IntVar] = {}
    present: dict[tuple[int, int], cp_model.IntVar] = {}
    start_of: dict[tuple[int, int], cp_model.IntVar] = {}
    by_mentor: dict[int, list[tuple[int, int]]] = defaultdict(list)
    slot_load: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    slot_held: dict[int, int] = defaultdict(int)
    opp_load: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    opp_held: dict[int, int] = defaultdict(int)
    travel_span = 1 + sum(int(elig.minutes[pi]) for s in members for pi in alts[s] if pi >= 0)
    pref_span = 1 + (inst.longest_preferences + 1) * len(members)

    start_hint = _greedy_meetings(inst, members, alts, by_student, starts, hint, length)
    met_max, rest_max = _component_bound(
        inst, elig, members, alts, by_student, score, length, travel_span
    )
    bound = met_max * pref_span * travel_span + rest_max
    if len(start_hint) == met_max and not any(
        s in pinned_mentor and start_hint.get(s, (None, 0))[0] != pinned_mentor[s] for s in members
    ):
        # The first answer (nobody moving) meets as many as can be met; if nobody moving is
        # also every student's own best option, it reaches the bound: no search needed.
        rest = sum(
            score(alts[s][0]) * travel_span - int(elig.minutes[alts[s][0]])
            if alts[s][0] >= 0
            else 0
            for s in members
        )
        if rest == rest_max:
            greedy = [Meeting(student=s, mentor=mi, start=t) for s, (mi, t) in start_hint.items()]
            return greedy, True, {}, True
    for s in members:
        sid = p.students[s].id
        # A student keeps exactly one of its options: never out of, or into, a placement (H1).
        for pi in alts[s]:
            v = model.new_bool_var(f"{sid}@{pi}")
            choose[(s, pi)] = v
            v_slot = int(elig.slot[pi]) if pi >= 0 else -1
            if v_slot >= 0:
                slot_load[v_slot].append(v)
                opp_load[int(inst.slot_opp[v_slot])].append(v)
        if alts[s][0] >= 0:
            held = int(elig.slot[alts[s][0]])
            slot_held[held] += 1
            opp_held[int(inst.slot_opp[held])] += 1
        model.add_exactly_one(choose[(s, pi)] for pi in alts[s])
        model.add_hint(choose[(s, alts[s][0])], 1)
        for mi in by_student[s]:
            key = (s, mi)
            mid = p.mentors[mi].id
            per_alt = starts[key]
            domain = sorted({x for xs in per_alt.values() for x in xs})
            present[key] = model.new_bool_var(f"{sid}~{mid}")
            start_of[key] = model.new_int_var_from_domain(
                cp_model.Domain.from_values(domain), f"{sid}~{mid}.start"
            )
            if start_hint.get(s, (None, 0))[0] == mi:
                model.add_hint(present[key], 1)
                model.add_hint(start_of[key], start_hint[s][1])
            else:
                model.add_hint(present[key], 0)
            # H8: the meeting avoids the shift the student ends up with.
            for pi in alts[s]:
                allowed = per_alt.get(pi)
                if allowed is None:
                    model.add_implication(choose[(s, pi)], present[key].Not())
                elif len(allowed) < len(domain):
                    model.add_linear_expression_in_domain(
                        start_of[key], cp_model.Domain.from_values(allowed)
                    ).only_enforce_if([present[key], choose[(s, pi)]])
            by_mentor[mi].append(key)
        # H8: at most one mentor per student; a pinned community mentor is a must (H9).
        model.add_at_most_one(present[(s, mi)] for mi in by_student[s])
        if s in pinned_mentor:
            model.add(present[(s, pinned_mentor[s])] == 1)

    # H2: moves only into seats that are free or that another mover leaves.
    for sl, load in slot_load.items():
        model.add(sum(load) <= int(slot_free[sl]) + slot_held[sl])
    for o, load in opp_load.items():
        model.add(sum(load) <= int(opp_free[o]) + opp_held[o])

    # H8: a mentor's meetings do not overlap, and the mentor keeps to capacity.
    for mi, keys in by_mentor.items():
        intervals = [
            model.new_optional_fixed_size_interval_var(
                start_of[k], length, present[k], f"{p.mentors[mi].id}.meeting.{p.students[k[0]].id}"
            )
            for k in keys
        ]
        model.add_no_overlap(intervals)
        model.add(sum(present[k] for k in keys) <= p.mentors[mi].capacity)

    # Objective, in the spec's order: mentored, then preferences, then less travel.
    mentored = sum(present.values())
    pref = sum(score(pi) * v for (s, pi), v in choose.items() if pi >= 0)
    travel = sum(int(elig.minutes[pi]) * v for (s, pi), v in choose.items() if pi >= 0)
    model.maximize(mentored * pref_span * travel_span + pref * travel_span - travel)

    solver = cp_model.CpSolver()
    if deterministic:
        # One worker and a work budget instead of a clock: the same answer on any machine.
        solver.parameters.max_deterministic_time = time_limit
        solver.parameters.num_workers = 1
    else:
        solver.parameters.max_time_in_seconds = time_limit
        solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    solver.parameters.log_search_progress = log_search
    stop = _StopAtBound(bound)
    status = solver.solve(model, stop)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if status == cp_model.INFEASIBLE:
            return None, True, {}, False
        # No answer within the time: keep the flow's placements and meet nobody here.
        if any(s in pinned_mentor for s in members):
            return None, False, {}, False
        return [], False, {}, False
    meetings = [
        Meeting(student=s, mentor=mi, start=int(solver.value(start_of[(s, mi)])))
        for (s, mi), v in present.items()
        if solver.value(v)
    ]
    moved = {s: pi for (s, pi), v in choose.items() if solver.value(v) and pi != alts[s][0]}
    return meetings, status == cp_model.OPTIMAL or stop.reached, moved, stop.reached
