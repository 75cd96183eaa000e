"""The objective: the spec's levels as flow costs, their values for a placement, one scalar
that orders solutions as the levels do, and the provable bounds of each level.

Levels, most important first: students placed (each weighted 1 + priority), students with a
mentor among those who want one, preferences (`preference_score`), less travel; a re-solve adds
kept and stayed placements around them, and the lottery breaks ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from solver.eligibility import Eligibility
from solver.flow import Level, Network, solve_lexicographic
from solver.instance import BoolArray, Instance, IntArray, preference_score
from solver.mentoring import Meeting, MentoringResult, mentoring_bound
from solver.rules import community_mentor_matches, meeting_avoids, meeting_starts, week_intervals
from solver.solution import Assignment, Metrics, SolveOptions


@dataclass(frozen=True, slots=True)
class PreviousPairs:
    """An earlier run's placements as eligible-pair indices (-1: none, no longer allowed, or
    declined), with each student's earlier status and the pairs the employer declined."""

    pair: IntArray
    keep: BoolArray
    place: dict[int, tuple[str, str]]  # student -> (opportunity id, slot id) as given
    status: dict[int, str]  # student -> the earlier assignment's status
    declined: BoolArray  # per eligible pair: at an opportunity that declined the student


def previous_pairs(
    inst: Instance, elig: Eligibility, options: SolveOptions
) -> PreviousPairs | None:
    """The earlier run of a re-solve (`options.previous`) on this round's eligible pairs; None
    when there is none."""
    if not options.previous:
        return None
    pair = np.full(inst.n_students, -1, dtype=np.int64)
    keep = np.zeros(inst.n_students, dtype=np.bool_)
    declined = np.zeros(elig.size, dtype=np.bool_)
    place: dict[int, tuple[str, str]] = {}
    status: dict[int, str] = {}
    first = np.searchsorted(elig.student, np.arange(inst.n_students + 1))
    for pv in options.previous:
        s = inst.student_ix.get(pv.student)
        if s is None:
            continue  # the student left the round
        place[s] = (pv.opportunity, pv.slot)
        status[s] = pv.status
        if pv.declined:
            # The employer said no: none of that opportunity's slots is offered again.
            o = inst.opp_ix.get(pv.opportunity)
            if o is not None:
                rng = slice(first[s], first[s + 1])
                declined[rng] = inst.slot_opp[elig.slot[rng]] == o
            continue
        keep[s] = pv.keep
        sl = inst.slot_ix.get(pv.slot)
        if sl is None or inst.opp(sl).id != pv.opportunity:
            continue
        slots = elig.slot[first[s] : first[s + 1]]
        k = int(np.searchsorted(slots, sl))
        if k < slots.size and slots[k] == sl:
            pair[s] = first[s] + k
    return PreviousPairs(pair=pair, keep=keep, place=place, status=status, declined=declined)


def objective_levels(
    inst: Instance,
    elig: Eligibility,
    net: Network,
    tickets: IntArray,
    credit: tuple[BoolArray, BoolArray] | None = None,
    *,
    previous: PreviousPairs | None = None,
) -> list[Level]:
    """The spec's objective levels, most important first, then the lottery, as arc costs.

    `credit` (per eligible pair, per student): where a community meeting counts a wanting
    student as mentored when placed on that pair, and when left unplaced. Without it, level 2
    counts workplace mentors only."""
    src = net.arcs("source")
    pairs = net.arcs("pair")
    pi = net.pair_index
    ps, popp = elig.student[pi], inst.slot_opp[elig.slot[pi]]
    free = net.free_students

    # 1. Students placed, each weighted 1 + priority.
    placed = net.zeros()
    placed[src] = -inst.weight[free]
    # 2. Students who want a mentor and get a workplace mentor (community mentors come later).
    mentored = net.zeros()
    mentored[pairs] = -(inst.wants_mentor[ps] & inst.requires_mentor[popp]).astype(np.int64)
    if credit is not None:
        # Constant offset aside: a wanting student gains by a placement that brings a mentor
        # (workplace, or a meeting that fits) and loses by one that costs a meeting.
        pair_credit, unplaced_credit = credit
        gains = inst.requires_mentor[popp] | pair_credit[pi]
        delta = gains.astype(np.int64) - unplaced_credit[ps].astype(np.int64)
        mentored[pairs] = -np.where(inst.wants_mentor[ps], delta, 0)
    # 3. Preferences: rank r scores R + 1 - r.
    keys = ps * inst.n_opps + popp
    longest = inst.longest_preferences
    pref = net.zeros()
    pref[pairs] = -np.array(
        [preference_score(inst.pref_rank.get(int(k)), longest) for k in keys], dtype=np.int64
    )
    # 4. Less travel.
    travel = net.zeros()
    travel[pairs] = elig.minutes[pi]
    # 5. Ties: earlier lottery tickets are placed first.
    lottery = net.zeros()
    lottery[src] = -(inst.n_students - tickets[free])

    out = [
        Level("placed", placed),
        Level("mentored", mentored),
        Level("preferences", pref),
        Level("travel", travel),
        Level("lottery", lottery),
    ]
    if previous is not None:
        # A re-solve: published and confirmed placements first (kept unless impossible), then
        # as many students as possible, then as few moves as possible, then the rest.
        same = previous.pair[ps] == pi
        kept, stayed = net.zeros(), net.zeros()
        kept[pairs] = -(same & previous.keep[ps]).astype(np.int64)
        stayed[pairs] = -(same & ~previous.keep[ps]).astype(np.int64)
        out = [Level("kept", kept), out[0], Level("stayed", stayed), *out[1:]]
    return out


def level_values(
    inst: Instance,
    elig: Eligibility,
    pair: IntArray,
    workplace: IntArray,
    mentoring: MentoringResult,
) -> tuple[int, int, int, int]:
    """The four objective levels of a placement (travel last, to be minimised)."""
    placed = pair >= 0
    pi = pair[placed]
    students = np.nonzero(placed)[0]
    opps = inst.slot_opp[elig.slot[pi]]
    mentored = inst.wants_mentor & (workplace >= 0)
    for m in mentoring.meetings:
        mentored[m.student] |= bool(inst.wants_mentor[m.student])
    return (
        int(inst.weight[placed].sum()),
        int(mentored.sum()),
        sum(inst.preference_score(int(s), int(o)) for s, o in zip(students, opps, strict=True)),
        int(elig.minutes[pi].sum()),
    )


def level_key(levels: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Levels as a tuple to maximise lexicographically."""
    return (levels[0], levels[1], levels[2], -levels[3])


def scalar_objective(inst: Instance, levels: tuple[int, ...]) -> int:
    """Weigh the levels into one number that orders solutions exactly as the levels do."""
    p = inst.problem
    travel_span = 1 + sum(int(s.max_commute_minutes) + 1 for s in p.students)
    pref_span = 1 + (inst.longest_preferences + 1) * len(p.students)
    mentor_span = 1 + len(p.students)
    placed, mentored, pref, travel = levels
    return ((placed * mentor_span + mentored) * pref_span + pref) * travel_span - travel


def level_bounds(
    inst: Instance,
    elig: Eligibility,
    net: Network,
    levels: list[Level],
    flow_values: tuple[int, int, int, int],
    achieved: tuple[int, int, int, int],
) -> tuple[int, int, int, int]:
    """What each objective level could at best be, given the levels above it at their best.

    Level 1 is the flow's, exact. Level 2: at most the flow's workplace optimum W* plus what
    community mentors could take (capacity, clusters, free time). Levels 3-4: when every
    solution as mentored as ours needs W* workplace mentors, the first flow (which maximised
    preferences and then travel given W*) bounds them; otherwise a flow that ignores mentoring.
    """
    placed, workplace_max = flow_values[0], flow_values[1]
    wanting = np.nonzero(inst.wants_mentor)[0]
    capable = np.zeros(inst.n_students, dtype=np.bool_)
    capable[elig.student[inst.requires_mentor[inst.slot_opp[elig.slot]]]] = True
    mentored, community_max = mentoring_bound(inst, wanting, capable, workplace_max)
    mentored = max(achieved[1], mentored)
    if mentored > achieved[1]:
        return (placed, mentored, achieved[2], achieved[3])  # the gap is at level 2
    if mentored - community_max >= workplace_max:
        return (placed, mentored, flow_values[2], flow_values[3])
    by_name = {level.name: level for level in levels}
    ok, free_flow, _ = solve_lexicographic(
        net, [level for level in levels if level.name not in ("mentored", "lottery")]
    )
    assert ok, "the same network was feasible a moment ago"
    return (
        placed,
        mentored,
        -int(by_name["preferences"].cost @ free_flow),
        int(by_name["travel"].cost @ free_flow),
    )


def community_possible(inst: Instance) -> bool:
    """Some student wants a mentor and some community mentor has room."""
    return bool(inst.wants_mentor.any()) and any(
        m.is_community and m.capacity > 0 for m in inst.problem.mentors
    )


def met_credit(
    inst: Instance, elig: Eligibility, meetings: tuple[Meeting, ...]
) -> tuple[BoolArray, BoolArray]:
    """Credit for the meetings found: kept when unplaced, or placed where the meeting fits."""
    unplaced = np.zeros(inst.n_students, dtype=np.bool_)
    pair_credit = np.zeros(elig.size, dtype=np.bool_)
    first = np.searchsorted(elig.student, np.arange(inst.n_students + 1))
    for m in meetings:
        unplaced[m.student] = True
        for k in range(first[m.student], first[m.student + 1]):
            pair_credit[k] = meeting_still_fits(inst, elig, k, m)
    return pair_credit, unplaced


def possible_meetings(
    inst: Instance, elig: Eligibility, *, max_checks: int = 3_000_000
) -> tuple[BoolArray, BoolArray] | None:
    """Where some community meeting could fit at all (capacity aside): per eligible pair of a
    wanting student, and per wanting student left unplaced. None when too large to check."""
    p = inst.problem
    length = p.round.mentor_meeting_minutes
    community = [m for m in p.mentors if m.is_community and m.capacity > 0]
    wanting = inst.wants_mentor[elig.student]
    if not community or int(wanting.sum()) * 4 > max_checks:
        return None
    options: dict[tuple[tuple[str, ...], tuple[tuple[int, int], ...]], list[int]] = {}
    unplaced = np.zeros(inst.n_students, dtype=np.bool_)
    student_key: dict[int, tuple[tuple[str, ...], tuple[tuple[int, int], ...]]] = {}
    for s in np.nonzero(inst.wants_mentor)[0]:
        st = p.students[int(s)]
        busy = tuple(sorted(week_intervals(st.busy)))
        key = (tuple(sorted(set(st.clusters))), busy)
        if key not in options:
            found: set[int] = set()
            for m in community:
                if community_mentor_matches(st, m):
                    found.update(meeting_starts(m, busy, length))
            options[key] = sorted(found)
        student_key[int(s)] = key
        unplaced[s] = bool(options[key])
    pair_credit = np.zeros(elig.size, dtype=np.bool_)
    cache: dict[tuple[object, int], bool] = {}
    for k in np.nonzero(wanting)[0]:
        key = student_key[int(elig.student[k])]
        slot = int(elig.slot[k])
        hit = cache.get((key, slot))
        if hit is None:
            blocks = inst.slots[slot].blocks
            hit = any(meeting_avoids(blocks, start=a, length=length) for a in options[key])
            cache[(key, slot)] = hit
        pair_credit[k] = hit
    return pair_credit, unplaced


def meeting_still_fits(inst: Instance, elig: Eligibility, pair: int, meeting: Meeting) -> bool:
    """The meeting overlaps none of the weekly blocks of the pair's slot (H8)."""
    if pair < 0:
        return True
    length = inst.problem.round.mentor_meeting_minutes
    return meeting_avoids(
        inst.slots[int(elig.slot[pair])].blocks, start=meeting.start, length=length
    )


def answer_levels(
    inst: Instance, assignments: Sequence[Assignment], metrics: Metrics
) -> tuple[int, int, int, int]:
    """The four levels achieved, recomputed from the answer itself (its assignments and
    metrics), not from the model that found it."""
    return (
        metrics.placed_weighted,
        metrics.mentored,
        sum(preference_score(a.preference_rank, inst.longest_preferences) for a in assignments),
        sum(a.travel_minutes for a in assignments),
    )


def summarise(
    inst: Instance, levels: tuple[int, int, int, int], bound_levels: tuple[int, int, int, int]
) -> tuple[str, int, int, float]:
    """Status ("optimal" when the levels reach their bounds, else "feasible"), objective and
    bound as scalars, and the relative gap at the first level that falls short."""
    assert levels[:2] == bound_levels[:2] or bound_levels[1] > levels[1]
    status = "optimal" if bound_levels == levels else "feasible"
    objective, bound = scalar_objective(inst, levels), scalar_objective(inst, bound_levels)
    gap = 0.0
    for got, best in zip(levels, bound_levels, strict=True):
        if got != best:
            gap = round(abs(best - got) / max(1, abs(best)), 6)
            break
    return status, objective, bound, gap
