"""Coordinators' pins (H9) and what they leave of the round.

`pin_restrictions` narrows the eligible pairs to the pinned places before the flow is built and
finds pins that cannot hold on their own; when the pins cannot hold together, a deletion filter
(`smallest_infeasible_pins`, `smallest_infeasible_mentor_pins`) names a smallest set that shows
it. One placement's agreement with a pin is `solver.rules.pin_allows`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from solver.eligibility import Eligibility
from solver.flow import Level, Network, solve_lexicographic
from solver.instance import BoolArray, Instance, IntArray
from solver.mentoring import Meeting, MentoringResult
from solver.rules import community_mentor_matches, meeting_times


def pin_restrictions(
    inst: Instance, elig: Eligibility
) -> tuple[np.ndarray, list[int], dict[int, int], dict[int, int], list[list[int]]]:
    """Pairs left once pins hold (H9), pinned students, their workplace / community mentors, and
    for each pin that cannot hold on its own, the pins (indices) that show it."""
    p = inst.problem
    allowed = np.ones(elig.size, dtype=np.bool_)
    first = np.searchsorted(elig.student, np.arange(inst.n_students + 1))
    workplace: dict[int, int] = {}
    community: dict[int, int] = {}
    broken: list[list[int]] = []
    by_student: dict[int, list[int]] = defaultdict(list)
    for k, pin in enumerate(p.pins):
        by_student[inst.student_ix[pin.student]].append(k)
    for s, pins in by_student.items():
        rng = np.arange(first[s], first[s + 1])
        keep = np.zeros(elig.size, dtype=np.bool_)
        keep[rng] = True
        for k in pins:
            pin = p.pins[k]
            o = inst.opp_ix[pin.opportunity]
            mask = inst.slot_opp[elig.slot[rng]] == o
            if pin.slot is not None:
                mask &= elig.slot[rng] == inst.slot_ix[pin.slot]
            if not mask.any():
                broken.append([k])  # the pinned opportunity or slot refuses the student
            keep[rng] &= mask
            if pin.mentor is not None:
                mi = inst.mentor_ix[pin.mentor]
                opp = p.opportunities[o]
                table = workplace if opp.requires_mentor else community
                if opp.requires_mentor and mi not in inst.workplace_mentors[o]:
                    broken.append([k])  # that mentor cannot serve this opportunity (H8)
                elif not opp.requires_mentor and not p.students[s].wants_mentor:
                    broken.append([k])  # community mentors go to students who want one (H8)
                elif not opp.requires_mentor and not community_mentor_matches(
                    p.students[s], p.mentors[mi]
                ):
                    broken.append([k])  # the mentor's clusters and the student's do not meet
                elif not opp.requires_mentor and not _meeting_slots(inst, elig, s, mi, rng, keep):
                    broken.append([k])  # no allowed slot leaves the mentor a meeting time
                elif table.get(s, mi) != mi:
                    broken.append([j for j in pins if p.pins[j].mentor is not None])
                table[s] = mi
        if (
            not keep[rng].any()
            and len(pins) > 1
            and not any(len(b) == 1 and b[0] in pins for b in broken)
        ):
            broken.append(list(pins))  # pins of one student that name different places
        allowed[rng] = keep[rng]
    return allowed, list(by_student), workplace, community, broken


def _meeting_slots(
    inst: Instance, elig: Eligibility, s: int, mi: int, rng: IntArray, keep: BoolArray
) -> bool:
    """Keep only the student's pairs whose slot leaves community mentor `mi` a meeting time
    (H8: inside the mentor's hours, off the student's busy blocks and the slot's shifts): the
    flow knows nothing of meetings, and would otherwise seat a pinned student where the pinned
    mentor cannot meet them. False when no such pair is left."""
    p = inst.problem
    mentor, student, length = p.mentors[mi], p.students[s], p.round.mentor_meeting_minutes
    for j in rng[keep[rng]]:
        if not meeting_times(mentor, student, inst.slots[int(elig.slot[j])], length):
            keep[j] = False
    return bool(keep[rng].any())


def pinned_network(
    inst: Instance,
    elig: Eligibility,
    allowed: np.ndarray,
    pinned: list[int],
    workplace: dict[int, int],
) -> Network:
    """The flow network over the `allowed` pairs, where the `pinned` students must be placed
    and the workplace mentors pinned for them hold a seat each."""
    return Network(inst, elig, allowed, np.array(pinned, dtype=np.int64), workplace)


def smallest_infeasible_pins(inst: Instance, elig: Eligibility, allowed: np.ndarray) -> list[int]:
    """A deletion filter over the pins: drop each pin whose removal leaves the rest infeasible."""
    pins = list(range(len(inst.problem.pins)))

    def feasible(subset: list[int]) -> bool:
        pins = [inst.problem.pins[k] for k in subset]
        students = {inst.student_ix[pin.student] for pin in pins}
        mask = allowed & np.isin(elig.student, np.array(sorted(students), dtype=np.int64))
        workplace = {
            inst.student_ix[pin.student]: inst.mentor_ix[pin.mentor]
            for pin in pins
            if pin.mentor is not None
            and inst.problem.opportunities[inst.opp_ix[pin.opportunity]].requires_mentor
        }
        net = pinned_network(inst, elig, mask, sorted(students), workplace)
        if not net.reserved_ok:
            return False
        ok, _, _ = solve_lexicographic(net, [Level("placed", net.zeros())])
        return ok

    return _deletion_filter(pins, feasible)


def _deletion_filter(items: list[int], feasible: Callable[[list[int]], bool]) -> list[int]:
    """From an infeasible set, drop each item whose removal leaves the rest still infeasible:
    what remains is infeasible and minimal (every item in it is needed)."""
    for k in list(items):
        trial = [j for j in items if j != k]
        if not feasible(trial):
            items = trial
    return items


def smallest_infeasible_mentor_pins(
    inst: Instance,
    pinned_community: dict[int, int],
    meet: Callable[[IntArray, IntArray, dict[int, Meeting], dict[int, int]], MentoringResult],
    pair: IntArray,
) -> list[int]:
    """A deletion filter over the pins that name community mentors (H8-H9): meetings are
    searched for the students of the remaining pins only."""
    p = inst.problem
    pins = [
        k
        for k, pin in enumerate(p.pins)
        if pin.mentor is not None and inst.student_ix[pin.student] in pinned_community
    ]

    def feasible(subset: list[int]) -> bool:
        students = {inst.student_ix[p.pins[k].student] for k in subset}
        others = np.ones(inst.n_students, dtype=np.int64)  # "has a workplace mentor": left out
        others[list(students)] = -1
        pinned = {s: pinned_community[s] for s in students}
        return meet(pair, others, {}, pinned).feasible

    return _deletion_filter(pins, feasible)
