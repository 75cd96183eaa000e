"""Solve a round: eligibility, the exact lexicographic flow, community-mentor meetings, then the
explanations and metrics of the answer."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solver.eligibility import REASONS, Eligibility, compute_eligibility, refusal_codes
from solver.flow import Level, Network, solve_lexicographic
from solver.instance import BoolArray, Instance, IntArray
from solver.mentoring import (
    Meeting,
    MentoringResult,
    assign_community_mentors,
    mentoring_bound,
)
from solver.problem import DAYS, MODES, Problem, format_time
from solver.rules import (
    DAY,
    community_mentor_matches,
    meeting_avoids,
    meeting_starts,
    week_intervals,
)
from solver.solution import (
    Assignment,
    Change,
    GroupMetrics,
    Mentorship,
    Metrics,
    Progress,
    Reason,
    Solution,
    SolveOptions,
    Unplaced,
)

log = logging.getLogger(__name__)

# The meeting search gets what the time limit leaves after the exact flow, but at least this.
MIN_MEETING_SECONDS = 10.0
# Re-placements around community-mentor meetings, each kept only when it improves the levels.
IMPROVEMENT_ROUNDS = 3
# How many holders a `capacity_taken` reason names before it says "and N more".
NAMED_HOLDERS = 5


def lottery_tickets(problem: Problem, seed: int) -> IntArray:
    """Each student's position in the seeded lottery (0 = first): students sorted by
    sha256("<seed>:<student id>"), so anyone can redraw it without this program."""
    digests = [hashlib.sha256(f"{seed}:{s.id}".encode()).hexdigest() for s in problem.students]
    order = sorted(range(len(digests)), key=digests.__getitem__)
    position = np.empty(len(order), dtype=np.int64)
    position[np.array(order, dtype=np.int64)] = np.arange(len(order))
    return position


class _Clock:
    def __init__(self, callback: Callable[[Progress], None] | None) -> None:
        self.start = time.perf_counter()
        self.callback = callback

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def report(self, stage: str, fraction: float) -> None:
        log.info("%.1fs %s", self.elapsed(), stage)
        if self.callback is not None:
            self.callback(Progress(stage=stage, fraction=fraction, elapsed=self.elapsed()))


def _pin_restrictions(
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
    mentor, length = p.mentors[mi], p.round.mentor_meeting_minutes
    busy = week_intervals(p.students[s].busy)
    for j in rng[keep[rng]]:
        blocks = week_intervals(inst.slots[int(elig.slot[j])].blocks)
        if not meeting_starts(mentor, busy + blocks, length):
            keep[j] = False
    return bool(keep[rng].any())


@dataclass(frozen=True, slots=True)
class _PreviousPairs:
    """An earlier run's placements as eligible-pair indices (-1: none, or no longer allowed)."""

    pair: IntArray
    keep: BoolArray
    place: dict[int, tuple[str, str]]  # student -> (opportunity id, slot id) as given


def _previous(inst: Instance, elig: Eligibility, options: SolveOptions) -> _PreviousPairs | None:
    if not options.previous:
        return None
    pair = np.full(inst.n_students, -1, dtype=np.int64)
    keep = np.zeros(inst.n_students, dtype=np.bool_)
    place: dict[int, tuple[str, str]] = {}
    first = np.searchsorted(elig.student, np.arange(inst.n_students + 1))
    for pv in options.previous:
        s = inst.student_ix.get(pv.student)
        if s is None:
            continue  # the student left the round
        place[s] = (pv.opportunity, pv.slot)
        keep[s] = pv.keep
        sl = inst.slot_ix.get(pv.slot)
        if sl is None or inst.opp(sl).id != pv.opportunity:
            continue
        slots = elig.slot[first[s] : first[s + 1]]
        k = int(np.searchsorted(slots, sl))
        if k < slots.size and slots[k] == sl:
            pair[s] = first[s] + k
    return _PreviousPairs(pair=pair, keep=keep, place=place)


def _changes(
    inst: Instance, elig: Eligibility, pair: IntArray, previous: _PreviousPairs
) -> tuple[Change, ...]:
    """Who moved relative to the earlier run, who is new, and why."""
    p = inst.problem
    pinned = {inst.student_ix[pin.student] for pin in p.pins}
    before_count: dict[str, int] = defaultdict(int)
    for _, slot_id in previous.place.values():
        before_count[slot_id] += 1
    out: list[Change] = []
    for s in range(inst.n_students):
        now = int(pair[s])
        after = (
            (inst.opp(int(elig.slot[now])).id, inst.slots[int(elig.slot[now])].id)
            if now >= 0
            else None
        )
        before = previous.place.get(s)
        if before is None:
            if after is not None:
                out.append(
                    Change(
                        student=p.students[s].id, before=None, after=after, reason="newly placed"
                    )
                )
            continue
        if now >= 0 and now == previous.pair[s]:
            continue
        opp_id, slot_id = before
        if opp_id not in inst.opp_ix or slot_id not in inst.slot_ix:
            reason = "that slot is no longer offered"
        elif previous.pair[s] < 0:
            codes = refusal_codes(inst, s, inst.opp_ix[opp_id], inst.slot_ix[slot_id])
            reason = "no longer eligible there: " + ", ".join(codes)
        elif s in pinned:
            reason = "pinned elsewhere"
        elif inst.slot_capacity[inst.slot_ix[slot_id]] < before_count[slot_id]:
            reason = "the slot's capacity went down"
        else:
            reason = "moved so that more students (or kept placements) could be placed"
        out.append(Change(student=p.students[s].id, before=before, after=after, reason=reason))
    return tuple(out)


def _levels(
    inst: Instance,
    elig: Eligibility,
    net: Network,
    tickets: IntArray,
    credit: tuple[BoolArray, BoolArray] | None = None,
    *,
    previous: _PreviousPairs | None = None,
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
    ranks = np.array([inst.pref_rank.get(int(k), 0) for k in keys], dtype=np.int64)
    pref = net.zeros()
    pref[pairs] = -np.where(ranks > 0, inst.longest_preferences + 1 - ranks, 0)
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


def _workplace_mentors(
    inst: Instance,
    elig: Eligibility,
    net: Network,
    flow: IntArray,
    pair: IntArray,
    pinned: dict[int, int],
) -> IntArray:
    """Hand out each opportunity's mentor flow to its students (pinned mentors first)."""
    mentor = np.full(inst.n_students, -1, dtype=np.int64)
    seats: dict[int, list[int]] = defaultdict(list)
    sl = net.arcs("opp_mentor")
    for t, h, f in zip(net.tail[sl], net.head[sl], flow[sl], strict=True):
        seats[int(t - net.oppout0)] += [int(h - net.mentor0)] * int(f)
    by_opp: dict[int, list[int]] = defaultdict(list)
    for s in np.nonzero(pair >= 0)[0]:
        by_opp[int(inst.slot_opp[elig.slot[pair[s]]])].append(int(s))
    for o, students in by_opp.items():
        if not inst.requires_mentor[o]:
            continue
        rest = [st for st in students if st not in pinned]
        for st in students:
            if st in pinned:
                mentor[st] = pinned[st]
        for st, m in zip(rest, seats[o], strict=False):
            mentor[st] = m
    return mentor


def solve(problem: Problem, options: SolveOptions | None = None) -> Solution:
    """The best placement of the round under H1-H9 (see the spec), with every unplaced student
    explained. Infeasible pins are an answer (`status` "infeasible"), not an exception."""
    options = options or SolveOptions()
    clock = _Clock(options.progress)
    clock.report("eligibility", 0.0)
    inst = Instance(problem)
    elig = compute_eligibility(inst)
    clock.report(f"eligibility: {elig.size} allowed pairs", 0.2)
    tickets = lottery_tickets(problem, options.seed)
    lottery = {
        "seed": options.seed,
        "method": 'students in ascending order of sha256("<seed>:<student id>")',
        "order": [problem.students[int(i)].id for i in np.argsort(tickets)],
    }

    allowed, pinned_students, pinned_workplace, pinned_community, broken = _pin_restrictions(
        inst, elig
    )
    if broken:
        return _infeasible(problem, broken[0], clock, lottery)
    net = _network(inst, elig, allowed, pinned_students, pinned_workplace)
    previous = _previous(inst, elig, options)
    levels = _levels(inst, elig, net, tickets, previous=previous)
    feasible, flow, stages = solve_lexicographic(
        net, levels, progress=lambda msg: clock.report(msg, 0.3)
    )
    if not feasible or not net.reserved_ok:
        pins = _smallest_infeasible_pins(inst, elig, allowed)
        return _infeasible(problem, pins, clock, lottery)
    pair, workplace = _placement(inst, elig, net, flow, pinned_workplace)
    clock.report("flow done", 0.6)

    def meet(
        pair: IntArray,
        workplace: IntArray,
        hint: dict[int, Meeting],
        pinned: dict[int, int] = pinned_community,
    ) -> MentoringResult:
        if not options.community_mentors and not pinned:
            # Meetings skipped, unless a pin names a community mentor: pins always hold (H9).
            return MentoringResult(pair=pair, meetings=(), proven=False, feasible=True, touched=0)
        movable = allowed
        if previous is not None:
            # A student still where the earlier run put them stays there (moves cost more).
            staying = (previous.pair >= 0) & (pair == previous.pair)
            if staying.any():
                movable = allowed & ~staying[elig.student]
                movable[previous.pair[staying]] = True
        return assign_community_mentors(
            inst,
            elig,
            pair,
            workplace >= 0,
            pinned,
            allowed_pairs=movable,
            # Deterministic runs budget work, not the clock, so the budget cannot shrink with it.
            time_limit=options.time_limit
            if options.deterministic
            else max(
                min(MIN_MEETING_SECONDS, options.time_limit), options.time_limit - clock.elapsed()
            ),
            workers=options.workers,
            seed=options.seed,
            lottery=tickets,
            deterministic=options.deterministic,
            log_search=options.log,
            mentor_candidates=options.mentor_candidates,
            hint=hint,
            progress=lambda msg: clock.report(msg, 0.8),
        )

    flow_values = _level_values(
        inst,
        elig,
        pair,
        workplace,
        MentoringResult(pair=pair, meetings=(), proven=True, feasible=True, touched=0),
    )
    mentoring = meet(pair, workplace, {})
    if not mentoring.feasible:
        return _infeasible(
            problem,
            _smallest_infeasible_mentor_pins(inst, pinned_community, meet, pair),
            clock,
            lottery,
        )
    best = _level_values(inst, elig, mentoring.pair, workplace, mentoring)
    # The flow above counted workplace mentors only. Solve it again counting community meetings
    # too: first wherever some meeting could fit a shift (optimistic, so seats go where a mentor
    # can follow), then wherever the meetings found still fit (so met students free workplace
    # mentors and seats for others). A re-placement is kept only when it betters the levels.
    # Bounds hold whether or not meetings were searched for (the flow alone is not an optimum).
    possible_at_all = _community_possible(inst)
    community = options.community_mentors and possible_at_all
    bound_levels = _bounds(inst, elig, net, levels, flow_values, best) if possible_at_all else best
    for attempt in range(1, IMPROVEMENT_ROUNDS + 1):
        if best == bound_levels:
            break  # proven optimal: nothing to improve
        if clock.elapsed() > options.time_limit and not options.deterministic:
            break
        possible = _possible_meetings(inst, elig) if attempt == 1 and community else None
        if possible is not None:
            credit = possible
        elif mentoring.meetings:
            credit = _met_credit(inst, elig, mentoring.meetings)
        else:
            break
        clock.report(f"re-placing around mentor meetings ({attempt})", 0.85)
        ok, flow2, _ = solve_lexicographic(
            net, _levels(inst, elig, net, tickets, credit, previous=previous)
        )
        assert ok, "the same network was feasible a moment ago"
        pair2, workplace2 = _placement(inst, elig, net, flow2, pinned_workplace)
        keep = {
            m.student: m
            for m in mentoring.meetings
            if workplace2[m.student] < 0 and _meeting_fits(inst, elig, int(pair2[m.student]), m)
        }
        mentoring2 = meet(pair2, workplace2, keep)
        if not mentoring2.feasible or len(mentoring2.meetings) < len(keep):
            mentoring2 = MentoringResult(
                pair=pair2,
                meetings=tuple(keep.values()),
                proven=False,
                feasible=True,
                touched=mentoring.touched,
            )
        values = _level_values(inst, elig, mentoring2.pair, workplace2, mentoring2)
        if _key(values) > _key(best):
            best, mentoring, workplace = values, mentoring2, workplace2
            clock.report("bounds", 0.85)
            bound_levels = _bounds(inst, elig, net, levels, flow_values, best)
        elif attempt > 1:
            break
    pair = mentoring.pair
    clock.report("explaining", 0.9)
    changes = _changes(inst, elig, pair, previous) if previous is not None else None
    return _answer(
        inst, elig, pair, workplace, mentoring, bound_levels, clock, lottery, stages, changes
    )


def _bounds(
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


def _placement(
    inst: Instance, elig: Eligibility, net: Network, flow: IntArray, pinned: dict[int, int]
) -> tuple[IntArray, IntArray]:
    """Per student: the chosen pair (-1 unplaced) and workplace mentor (-1 none)."""
    pair = np.full(inst.n_students, -1, dtype=np.int64)
    chosen = net.pair_index[flow[net.arcs("pair")] > 0]
    pair[elig.student[chosen]] = chosen
    return pair, _workplace_mentors(inst, elig, net, flow, pair, pinned)


def _community_possible(inst: Instance) -> bool:
    """Some student wants a mentor and some community mentor has room."""
    return bool(inst.wants_mentor.any()) and any(
        m.is_community and m.capacity > 0 for m in inst.problem.mentors
    )


def _met_credit(
    inst: Instance, elig: Eligibility, meetings: tuple[Meeting, ...]
) -> tuple[BoolArray, BoolArray]:
    """Credit for the meetings found: kept when unplaced, or placed where the meeting fits."""
    unplaced = np.zeros(inst.n_students, dtype=np.bool_)
    pair_credit = np.zeros(elig.size, dtype=np.bool_)
    first = np.searchsorted(elig.student, np.arange(inst.n_students + 1))
    for m in meetings:
        unplaced[m.student] = True
        for k in range(first[m.student], first[m.student + 1]):
            pair_credit[k] = _meeting_fits(inst, elig, k, m)
    return pair_credit, unplaced


def _possible_meetings(
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
    options: dict[tuple[tuple[str, ...], tuple[tuple[int, int], ...]], list[tuple[int, int]]] = {}
    unplaced = np.zeros(inst.n_students, dtype=np.bool_)
    student_key: dict[int, tuple[tuple[str, ...], tuple[tuple[int, int], ...]]] = {}
    for s in np.nonzero(inst.wants_mentor)[0]:
        st = p.students[int(s)]
        busy = tuple(sorted(week_intervals(st.busy)))
        key = (tuple(sorted(set(st.clusters))), busy)
        if key not in options:
            found: set[tuple[int, int]] = set()
            for m in community:
                if community_mentor_matches(st, m):
                    found.update((a, a + length) for a in meeting_starts(m, list(busy), length))
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
            blocks = week_intervals(inst.slots[slot].blocks)
            hit = any(all(b <= c or d <= a for c, d in blocks) for a, b in options[key])
            cache[(key, slot)] = hit
        pair_credit[k] = hit
    return pair_credit, unplaced


def _meeting_fits(inst: Instance, elig: Eligibility, pair: int, meeting: Meeting) -> bool:
    """The meeting overlaps none of the weekly blocks of the pair's slot (H8)."""
    if pair < 0:
        return True
    length = inst.problem.round.mentor_meeting_minutes
    return meeting_avoids(
        inst.slots[int(elig.slot[pair])].blocks, start=meeting.start, length=length
    )


def _level_values(
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
    ranks = [inst.preference_rank(int(s), int(o)) for s, o in zip(students, opps, strict=True)]
    mentored = inst.wants_mentor & (workplace >= 0)
    for m in mentoring.meetings:
        mentored[m.student] |= bool(inst.wants_mentor[m.student])
    return (
        int(inst.weight[placed].sum()),
        int(mentored.sum()),
        sum(inst.longest_preferences + 1 - r for r in ranks if r is not None),
        int(elig.minutes[pi].sum()),
    )


def _key(levels: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Levels as a tuple to maximise lexicographically."""
    return (levels[0], levels[1], levels[2], -levels[3])


def _network(
    inst: Instance,
    elig: Eligibility,
    allowed: np.ndarray,
    pinned: list[int],
    workplace: dict[int, int],
) -> Network:
    return Network(inst, elig, allowed, np.array(pinned, dtype=np.int64), workplace)


def _smallest_infeasible_pins(inst: Instance, elig: Eligibility, allowed: np.ndarray) -> list[int]:
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
        net = _network(inst, elig, mask, sorted(students), workplace)
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


def _smallest_infeasible_mentor_pins(
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


def _infeasible(
    problem: Problem, pins: list[int], clock: _Clock, lottery: dict[str, object]
) -> Solution:
    clock.report("infeasible pins", 1.0)
    return Solution(
        status="infeasible",
        objective=0,
        bound=0,
        gap=0.0,
        wall_seconds=clock.elapsed(),
        metrics=None,
        infeasible_pins=tuple(sorted(set(pins))),
        lottery=lottery,
    )


def _answer(
    inst: Instance,
    elig: Eligibility,
    pair: IntArray,
    workplace: IntArray,
    mentoring: MentoringResult,
    bound_levels: tuple[int, int, int, int],
    clock: _Clock,
    lottery: dict[str, object],
    stages: int,
    changes: tuple[Change, ...] | None = None,
) -> Solution:
    p = inst.problem
    length = p.round.mentor_meeting_minutes
    assignments: list[Assignment] = []
    for s in np.nonzero(pair >= 0)[0]:
        pi = int(pair[s])
        slot = int(elig.slot[pi])
        o = int(inst.slot_opp[slot])
        m = int(workplace[s])
        assignments.append(
            Assignment(
                student=p.students[s].id,
                opportunity=p.opportunities[o].id,
                slot=inst.slots[slot].id,
                travel_mode=MODES[int(elig.mode[pi])],
                travel_minutes=int(elig.minutes[pi]),
                mentor=p.mentors[m].id if m >= 0 else None,
                preference_rank=inst.preference_rank(int(s), o),
            )
        )
    mentorships = tuple(
        Mentorship(
            student=p.students[mt.student].id,
            mentor=p.mentors[mt.mentor].id,
            day=DAYS[mt.day],
            start=format_time(mt.start % DAY),
            end=format_time(mt.start % DAY + length),
        )
        for mt in sorted(mentoring.meetings, key=lambda x: x.student)
    )
    unplaced = _explain(inst, elig, pair, workplace)
    metrics = compute_metrics(p, assignments, {m.student for m in mentorships})

    # The four levels achieved (recomputed from the answer itself).
    levels = (
        metrics.placed_weighted,
        metrics.mentored,
        sum(
            inst.longest_preferences + 1 - a.preference_rank
            for a in assignments
            if a.preference_rank is not None
        ),
        sum(a.travel_minutes for a in assignments),
    )
    assert levels[:2] == bound_levels[:2] or bound_levels[1] > levels[1]
    status = "optimal" if bound_levels == levels else "feasible"
    objective, bound = _scalar(inst, levels), _scalar(inst, bound_levels)
    gap = 0.0
    for got, best in zip(levels, bound_levels, strict=True):
        if got != best:
            gap = round(abs(best - got) / max(1, abs(best)), 6)
            break
    clock.report("done", 1.0)
    return Solution(
        status=status,
        objective=objective,
        bound=bound,
        gap=gap,
        wall_seconds=clock.elapsed(),
        assignments=tuple(assignments),
        mentorships=mentorships,
        unplaced=tuple(unplaced),
        metrics=metrics,
        objective_levels=levels,
        bound_levels=bound_levels,
        lottery=lottery,
        changes=changes,
        stats={
            "eligible_pairs": elig.size,
            "flow_stages": stages,
            "mentoring_students": mentoring.touched,
            "mentoring_proven": mentoring.proven,
        },
    )


def _scalar(inst: Instance, levels: tuple[int, ...]) -> int:
    """Weigh the levels into one number that orders solutions exactly as the levels do."""
    p = inst.problem
    travel_span = 1 + sum(int(s.max_commute_minutes) + 1 for s in p.students)
    pref_span = 1 + (inst.longest_preferences + 1) * len(p.students)
    mentor_span = 1 + len(p.students)
    placed, mentored, pref, travel = levels
    return ((placed * mentor_span + mentored) * pref_span + pref) * travel_span - travel


def _explain(
    inst: Instance, elig: Eligibility, pair: IntArray, workplace: IntArray
) -> list[Unplaced]:
    """Reason codes, with counts, for every student left unplaced; `capacity_taken` names
    who holds the seats the student could have had."""
    p = inst.problem
    unplaced = np.nonzero(pair < 0)[0]
    if unplaced.size == 0:
        return []
    placed = np.nonzero(pair >= 0)[0]
    held_slot = elig.slot[pair[placed]]
    held_opp = inst.slot_opp[held_slot]
    slot_count = np.bincount(held_slot, minlength=inst.n_slots)
    opp_count = np.bincount(held_opp, minlength=inst.n_opps)
    slot_full = slot_count >= inst.slot_capacity
    opp_full = opp_count >= inst.opp_capacity
    mentor_load = np.bincount(workplace[workplace >= 0], minlength=len(p.mentors))
    mentors_full = np.array(
        [
            bool(inst.requires_mentor[o])
            and all(mentor_load[m] >= inst.mentor_capacity[m] for m in inst.workplace_mentors[o])
            for o in range(inst.n_opps)
        ],
        dtype=np.bool_,
    )
    # Eligible pairs of unplaced students, and what stands in the way at each.
    pi = np.nonzero(pair[elig.student] < 0)[0]
    ps, psl = elig.student[pi], elig.slot[pi]
    po = inst.slot_opp[psl]
    taken = slot_full[psl] | opp_full[po]
    mentorless = ~taken & mentors_full[po]
    n_opp = max(1, inst.n_opps)

    def per_student(mask: np.ndarray) -> IntArray:
        """How many distinct opportunities per student among the masked pairs."""
        keys = np.unique(ps[mask] * n_opp + po[mask])
        return np.bincount(keys // n_opp, minlength=inst.n_students)

    taken_opps, mentor_opps = per_student(taken), per_student(mentorless)
    # Distinct holders: a full opportunity's holders, plus full slots' in opportunities not full.
    opp_keys = np.unique(ps[taken & opp_full[po]] * n_opp + po[taken & opp_full[po]])
    holders = np.bincount(
        opp_keys // n_opp, weights=opp_count[opp_keys % n_opp], minlength=inst.n_students
    ).astype(np.int64)
    n_slot = max(1, inst.n_slots)
    slot_mask = taken & ~opp_full[po]
    slot_keys = np.unique(ps[slot_mask] * n_slot + psl[slot_mask])
    holders += np.bincount(
        slot_keys // n_slot, weights=slot_count[slot_keys % n_slot], minlength=inst.n_students
    ).astype(np.int64)
    # Who holds each seat, for naming a few.
    order = np.argsort(held_slot, kind="stable")
    slot_start = np.searchsorted(held_slot[order], np.arange(inst.n_slots + 1))
    by_opp = np.argsort(held_opp, kind="stable")
    opp_start = np.searchsorted(held_opp[by_opp], np.arange(inst.n_opps + 1))
    first = np.searchsorted(ps, np.arange(inst.n_students + 1))

    def names(s: int) -> list[str]:
        found: dict[str, None] = {}
        for k in range(first[s], first[s + 1]):
            if not taken[k]:
                continue
            sl, o = int(psl[k]), int(po[k])
            seat = (
                placed[order[slot_start[sl] : slot_start[sl + 1]]]
                if slot_full[sl]
                else placed[by_opp[opp_start[o] : opp_start[o + 1]]]
            )
            for h in seat[:NAMED_HOLDERS]:
                found.setdefault(p.students[int(h)].id, None)
            if len(found) >= NAMED_HOLDERS:
                break
        return list(found)[:NAMED_HOLDERS]

    out: list[Unplaced] = []
    for s in (int(x) for x in unplaced):
        reasons: list[Reason] = []
        if elig.candidates[s] == 0:
            reasons.append(Reason(code="no_opportunities"))
            if inst.n_opps:
                reasons.append(Reason(code="no_cluster_match", count=inst.n_opps))
        for col in np.nonzero(elig.refusals[s])[0]:
            reasons.append(Reason(code=REASONS[col], count=int(elig.refusals[s, col])))
        if taken_opps[s]:
            named = names(s)
            more = int(holders[s]) - len(named)
            reasons.append(
                Reason(
                    code="capacity_taken",
                    count=int(taken_opps[s]),
                    detail="seats held by "
                    + ", ".join(named)
                    + (f" and {more} more" if more > 0 else ""),
                )
            )
        if mentor_opps[s]:
            reasons.append(Reason(code="no_mentor", count=int(mentor_opps[s])))
        if not reasons:
            reasons.append(Reason(code="capacity_taken", detail="no seats offered where eligible"))
        out.append(Unplaced(student=p.students[s].id, reasons=tuple(reasons)))
    return out


def compute_metrics(
    problem: Problem, assignments: list[Assignment], community: set[str]
) -> Metrics:
    """The spec's metrics of a set of assignments (and the students with community mentors)."""
    students = {s.id: s for s in problem.students}
    placed_ids = {a.student for a in assignments}
    with_workplace = {a.student for a in assignments if a.mentor is not None}
    mentored = sum(
        1
        for s in problem.students
        if s.wants_mentor and (s.id in community or s.id in with_workplace)
    )
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in problem.students:
        for g in dict.fromkeys(s.groups):
            groups[g][0] += 1
            groups[g][1] += s.id in placed_ids
    travel = [a.travel_minutes for a in assignments]
    return Metrics(
        students=len(problem.students),
        placed=len(assignments),
        placed_weighted=sum(1 + students[a.student].priority for a in assignments),
        first_choice=sum(1 for a in assignments if a.preference_rank == 1),
        top3=sum(
            1 for a in assignments if a.preference_rank is not None and a.preference_rank <= 3
        ),
        unranked=sum(1 for a in assignments if a.preference_rank is None),
        mentored=mentored,
        mean_travel_minutes=round(sum(travel) / len(travel), 2) if travel else 0.0,
        by_group={g: GroupMetrics(students=a, placed=b) for g, (a, b) in groups.items()},
    )
