"""The two baselines the solver is measured against, held to the same hard rules (H1-H9).

* `random_serial_dictatorship`: what a spreadsheet does. Students in a seeded random order each
  take their highest-ranked preference that still has a free seat they are eligible for.
* `stable_allocation`: the student-optimal stable matching of the `matching` library's
  `HospitalResident` game, over slots, with each slot ranking the students who ranked it by
  priority and then by the solver's seeded lottery. The game cannot say "at most N students over
  these slots" (opportunity capacity) nor "needs a free workplace mentor", so its matching is
  post-processed: assignments that break either are dropped, and counted.

Both use the solver's eligibility (`compute_eligibility`), so "eligible" means exactly what it
means to the solver, and both honour pins first (a spreadsheet pre-fills confirmed placements).
Students with no feasible ranked choice stay unplaced: a spreadsheet does not place unranked.
The answers are `wbl-solution/1` documents with status `feasible`, so `check_solution` can judge
them like any other answer.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from solver.eligibility import REASONS, Eligibility, compute_eligibility
from solver.instance import Instance, IntArray
from solver.problem import MODES, Problem
from solver.solution import Assignment
from solver.solve import compute_metrics, lottery_tickets

log = logging.getLogger(__name__)

T = TypeVar("T")

# The `matching` library deep-copies its game recursively; give that copy room to recurse.
DEEP_STACK_BYTES = 1 << 30  # reserved address space, touched only as deep as the copy goes
DEEP_RECURSION = 10**7


@dataclass(slots=True)
class Seats:
    """What is left: seats per slot and per opportunity, and workplace-mentor places."""

    slot: IntArray
    opp: IntArray
    mentor: IntArray

    @classmethod
    def of(cls, inst: Instance) -> Seats:
        return cls(
            slot=inst.slot_capacity.copy(),
            opp=inst.opp_capacity.copy(),
            mentor=inst.mentor_capacity.copy(),
        )

    def free_mentor(self, inst: Instance, opp: int) -> int | None:
        """The first workplace mentor able to serve `opp` with room left (None if none)."""
        for m in inst.workplace_mentors[opp]:
            if self.mentor[m] > 0:
                return m
        return None

    def take(self, inst: Instance, slot: int, mentor: int | None) -> None:
        self.slot[slot] -= 1
        self.opp[inst.slot_opp[slot]] -= 1
        if mentor is not None:
            self.mentor[mentor] -= 1


@dataclass(slots=True)
class Placement:
    """One student's seat: the allowed pair (index into the eligibility arrays) and mentor."""

    pair: int
    mentor: int | None


@dataclass(slots=True)
class Outcome:
    """A baseline's placements, what blocked the rest, and notes for the results table."""

    placed: dict[int, Placement] = field(default_factory=dict)
    # Per unplaced student: opportunities where a seat was eligible but every mentor was taken.
    no_mentor: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    notes: list[str] = field(default_factory=list)


def ranked_pairs(inst: Instance, elig: Eligibility) -> tuple[IntArray, IntArray]:
    """Allowed pairs at opportunities the student ranked, ordered by (student, rank, slot).

    Returns the pair indices and, per student, where its run starts (length n_students + 1).
    """
    n_opps = inst.n_opps
    keys = np.fromiter(inst.pref_rank.keys(), dtype=np.int64, count=len(inst.pref_rank))
    ranks = np.fromiter(inst.pref_rank.values(), dtype=np.int64, count=len(inst.pref_rank))
    order = np.argsort(keys)
    keys, ranks = keys[order], ranks[order]
    pair_keys = elig.student * n_opps + inst.slot_opp[elig.slot]
    pos = np.searchsorted(keys, pair_keys).clip(max=max(keys.size - 1, 0))
    hit = keys[pos] == pair_keys if keys.size else np.zeros(elig.size, dtype=np.bool_)
    chosen = np.nonzero(hit)[0]
    rank = ranks[pos[chosen]]
    chosen = chosen[np.lexsort((elig.slot[chosen], rank, elig.student[chosen]))]
    starts = np.searchsorted(elig.student[chosen], np.arange(inst.n_students + 1))
    return chosen, starts


def place_pins(inst: Instance, elig: Eligibility, seats: Seats, outcome: Outcome) -> None:
    """Confirmed placements first: each pinned student takes the first free pinned seat."""
    p = inst.problem
    first = np.searchsorted(elig.student, np.arange(inst.n_students + 1))
    by_student: dict[int, list[int]] = defaultdict(list)
    for k, pin in enumerate(p.pins):
        by_student[inst.student_ix[pin.student]].append(k)
    for s, pins in by_student.items():
        opps = {inst.opp_ix[p.pins[k].opportunity] for k in pins}
        slots = {inst.slot_ix[sid] for k in pins if (sid := p.pins[k].slot) is not None}
        mentors = {inst.mentor_ix[mid] for k in pins if (mid := p.pins[k].mentor) is not None}
        placed = False
        for pi in range(first[s], first[s + 1]):
            sl = int(elig.slot[pi])
            o = int(inst.slot_opp[sl])
            if o not in opps or len(opps) > 1 or (slots and sl not in slots):
                continue
            if seats.slot[sl] <= 0 or seats.opp[o] <= 0:
                continue
            mentor: int | None = None
            if inst.requires_mentor[o]:
                mentor = next(iter(mentors)) if mentors else seats.free_mentor(inst, o)
                if mentor is None or seats.mentor[mentor] <= 0:
                    continue
            elif mentors:
                outcome.notes.append(
                    f"pin of {p.students[s].id} names a community mentor: baselines schedule no "
                    "meetings, so that pin is broken"
                )
            seats.take(inst, sl, mentor)
            outcome.placed[s] = Placement(pair=pi, mentor=mentor)
            placed = True
            break
        if not placed:
            outcome.notes.append(f"pin of {p.students[s].id} could not be honoured")


def random_serial_dictatorship(
    inst: Instance, elig: Eligibility, seed: int
) -> tuple[Outcome, Seats]:
    """Students in a seeded random order take their best ranked choice with a free seat."""
    outcome = Outcome()
    seats = Seats.of(inst)
    place_pins(inst, elig, seats, outcome)
    pairs, starts = ranked_pairs(inst, elig)
    order = list(range(inst.n_students))
    random.Random(seed).shuffle(order)
    slot_opp, requires = inst.slot_opp, inst.requires_mentor
    for s in order:
        if s in outcome.placed:
            continue
        for pi in pairs[starts[s] : starts[s + 1]]:
            sl = int(elig.slot[pi])
            o = int(slot_opp[sl])
            if seats.slot[sl] <= 0 or seats.opp[o] <= 0:
                continue
            mentor: int | None = None
            if requires[o]:
                mentor = seats.free_mentor(inst, o)
                if mentor is None:
                    outcome.no_mentor[s].add(o)
                    continue
            seats.take(inst, sl, mentor)
            outcome.placed[s] = Placement(pair=int(pi), mentor=mentor)
            break
    return outcome, seats


def _deep(work: Callable[[], T]) -> T:
    """Run `work` in a thread with a deep stack: the library deep-copies its players, whose
    preference lists point at each other, so the copy recurses about as deep as the game is big."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)

    limit = sys.getrecursionlimit()
    size = threading.stack_size(DEEP_STACK_BYTES)
    sys.setrecursionlimit(max(limit, DEEP_RECURSION))
    try:
        thread = threading.Thread(target=target, name="matching")
        thread.start()
        thread.join()
    finally:
        threading.stack_size(size)
        sys.setrecursionlimit(limit)
    if failure:
        raise failure[0]
    return result[0]


def stable_allocation(
    inst: Instance, elig: Eligibility, seed: int
) -> tuple[Outcome, Seats, dict[str, Any]]:
    """The `matching` library's student-optimal stable matching over slots, post-processed."""
    from matching.games import HospitalResident

    outcome = Outcome()
    seats = Seats.of(inst)
    place_pins(inst, elig, seats, outcome)
    pairs, starts = ranked_pairs(inst, elig)
    tickets = lottery_tickets(inst.problem, seed)
    # Every slot ranks its applicants the same way: higher priority first, then the lottery.
    standing = np.lexsort((tickets, -inst.priority))
    position = np.empty(inst.n_students, dtype=np.int64)
    position[standing] = np.arange(inst.n_students)

    resident_prefs: dict[int, list[int]] = {}
    pair_of: dict[tuple[int, int], int] = {}
    applicants: dict[int, list[int]] = defaultdict(list)
    for s in range(inst.n_students):
        if s in outcome.placed:
            continue
        prefs: list[int] = []
        for pi in pairs[starts[s] : starts[s + 1]]:
            sl = int(elig.slot[pi])
            if seats.slot[sl] <= 0 or (sl in prefs):
                continue
            prefs.append(sl)
            pair_of[s, sl] = int(pi)
            applicants[sl].append(s)
        if prefs:
            resident_prefs[s] = prefs
    hospital_prefs = {
        sl: sorted(students, key=position.__getitem__) for sl, students in applicants.items()
    }
    capacities = {sl: int(seats.slot[sl]) for sl in hospital_prefs}

    started = time.perf_counter()
    game = _deep(
        lambda: HospitalResident.create_from_dictionaries(
            resident_prefs, hospital_prefs, capacities
        )
    )
    built = time.perf_counter()
    matching = _deep(lambda: game.solve(optimal="resident"))
    solved = time.perf_counter()
    stats = {
        "residents": len(resident_prefs),
        "hospitals": len(hospital_prefs),
        "build_seconds": round(built - started, 3),
        "solve_seconds": round(solved - built, 3),
    }

    # Post-process in the slots' own order of students: opportunity capacity, workplace mentor.
    matched = sorted(
        ((int(r.name), int(h.name)) for h, rs in matching.items() for r in rs),
        key=lambda x: int(position[x[0]]),
    )
    dropped_capacity = dropped_mentor = 0
    for s, sl in matched:
        o = int(inst.slot_opp[sl])
        if seats.slot[sl] <= 0 or seats.opp[o] <= 0:
            dropped_capacity += 1
            continue
        mentor: int | None = None
        if inst.requires_mentor[o]:
            mentor = seats.free_mentor(inst, o)
            if mentor is None:
                dropped_mentor += 1
                outcome.no_mentor[s].add(o)
                continue
        seats.take(inst, sl, mentor)
        outcome.placed[s] = Placement(pair=pair_of[s, sl], mentor=mentor)
    stats["dropped_opportunity_capacity"] = dropped_capacity
    stats["dropped_no_mentor"] = dropped_mentor
    outcome.notes.append(
        f"post-processing dropped {dropped_capacity} over opportunity capacity and "
        f"{dropped_mentor} without a free workplace mentor"
    )
    return outcome, seats, stats


def _reasons(
    inst: Instance,
    elig: Eligibility,
    s: int,
    eligible_anywhere: bool,
    no_mentor: set[int],
) -> list[dict[str, Any]]:
    """Reason codes for an unplaced student: the rules that refuse it, and what blocked it."""
    reasons: list[dict[str, Any]] = []
    if elig.candidates[s] == 0:
        reasons.append({"code": "no_opportunities"})
        if inst.n_opps:
            reasons.append({"code": "no_cluster_match", "count": inst.n_opps})
    for col, code in enumerate(REASONS):
        count = int(elig.refusals[s, col])
        if count:
            reasons.append({"code": code, "count": count})
    if no_mentor:
        reasons.append({"code": "no_mentor", "count": len(no_mentor)})
    if eligible_anywhere:
        reasons.append(
            {
                "code": "capacity_taken",
                "detail": "no free seat at an eligible ranked choice "
                "(the baseline does not place outside the ranked list)",
            }
        )
    if not reasons:
        reasons.append({"code": "capacity_taken", "detail": "no seats offered where eligible"})
    return reasons


def solution_document(
    inst: Instance, elig: Eligibility, outcome: Outcome, wall_seconds: float
) -> dict[str, Any]:
    """A `wbl-solution/1` document of a baseline's placements (status `feasible`)."""
    p = inst.problem
    assignments: list[Assignment] = []
    for s in sorted(outcome.placed):
        placement = outcome.placed[s]
        pi = placement.pair
        sl = int(elig.slot[pi])
        o = int(inst.slot_opp[sl])
        assignments.append(
            Assignment(
                student=p.students[s].id,
                opportunity=p.opportunities[o].id,
                slot=inst.slots[sl].id,
                travel_mode=MODES[int(elig.mode[pi])],
                travel_minutes=int(elig.minutes[pi]),
                mentor=p.mentors[placement.mentor].id if placement.mentor is not None else None,
                preference_rank=inst.preference_rank(s, o),
            )
        )
    eligible = np.zeros(inst.n_students, dtype=np.bool_)
    eligible[elig.student] = True
    unplaced = [
        {
            "student": p.students[s].id,
            "reasons": _reasons(inst, elig, s, bool(eligible[s]), outcome.no_mentor.get(s, set())),
        }
        for s in range(inst.n_students)
        if s not in outcome.placed
    ]
    metrics = compute_metrics(p, assignments, set())
    return {
        "format": "wbl-solution/1",
        "status": "feasible",
        "objective": metrics.placed_weighted,
        "bound": metrics.placed_weighted,
        "gap": 0.0,
        "wall_seconds": round(wall_seconds, 3),
        "assignments": [a.to_dict() for a in assignments],
        "mentorships": [],
        "unplaced": unplaced,
        "metrics": metrics.to_dict(),
        "notes": outcome.notes,
    }


def run_baseline(problem: Problem, method: str, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run `rsd` or `matching` on a problem: its solution document and method statistics."""
    started = time.perf_counter()
    inst = Instance(problem)
    elig = compute_eligibility(inst)
    stats: dict[str, Any] = {"eligible_pairs": elig.size}
    log.info("%.1fs eligibility: %d allowed pairs", time.perf_counter() - started, elig.size)
    if method == "rsd":
        outcome, _ = random_serial_dictatorship(inst, elig, seed)
    elif method == "matching":
        outcome, _, more = stable_allocation(inst, elig, seed)
        stats.update(more)
    else:
        raise ValueError(f"unknown baseline {method!r}")
    doc = solution_document(inst, elig, outcome, time.perf_counter() - started)
    return doc, stats
