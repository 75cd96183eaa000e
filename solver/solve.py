"""Solve a round: the orchestration. Eligibility (`solver.eligibility`, H3-H7), pins
(`solver.pins`, H9), the exact lexicographic flow (`solver.flow`) over the objective's levels
(`solver.objective`), community-mentor meetings (`solver.mentoring`), re-placements around
them, then the answer with its bounds, metrics and explanations (`solver.reasons`)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from solver.eligibility import Eligibility, compute_eligibility
from solver.flow import Network, solve_lexicographic
from solver.instance import Instance, IntArray
from solver.mentoring import Meeting, MentoringResult, assign_community_mentors
from solver.objective import (
    PreviousPairs,
    answer_levels,
    community_possible,
    level_bounds,
    level_key,
    level_values,
    meeting_still_fits,
    met_credit,
    objective_levels,
    possible_meetings,
    previous_pairs,
    summarise,
)
from solver.pins import (
    pin_restrictions,
    pinned_network,
    smallest_infeasible_mentor_pins,
    smallest_infeasible_pins,
)
from solver.problem import DAYS, MODES, Problem, format_time
from solver.reasons import explain_changes, explain_unplaced
from solver.rules import DAY
from solver.solution import (
    KEPT_STATUSES,
    Assignment,
    Change,
    GroupMetrics,
    Mentorship,
    Metrics,
    Progress,
    Solution,
    SolveOptions,
)

log = logging.getLogger(__name__)

# The time model (issue 13), calibrated on the project's 2-core benchmark machine from
# generated spring rounds (bench/RESULTS.md, 2026-12-02): per allowed pair, eligibility took
# about 2.5 us and the exact flow about 9 us (5,000: 167,323 pairs, 1.9 s; 20,000: 1.44 million
# pairs, 12.7 s; 100,000: 11.0 million pairs, 94 s); explaining and building the answer about
# 0.3 ms per student. Before eligibility only the size is known: pairs per student grew with
# the generated city (33 at 5,000, 72 at 20,000, 110 at 100,000), so the work that always runs
# (reading, eligibility, flow, explaining, writing) is estimated as 6 s x (students / 5,000) **
# 1.12: through 5,000 (6 s) and 100,000 (169 s: issue 13's 669 s command less its 500 s
# meeting search), 16 % above 20,000 (24.5 s: its 102 s command less a ~77 s search). On a
# busier machine everything slows: `solve` compares eligibility's measured time with its
# estimate and scales the flow's by it (capped), `wbl solve` scales by the load.
FLOW_SECONDS_PER_PAIR = 9e-6
MAX_SLOWDOWN = 2.5
ELIGIBILITY_SECONDS_PER_PAIR = 2.5e-6
ANSWER_SECONDS_PER_STUDENT = 3e-4
# The meeting search is skipped when less than this is left of the time limit (pins naming a
# community mentor still get it: they always hold).
MIN_MEETING_SECONDS = 0.5
# Re-placements around community-mentor meetings, each kept only when it improves the levels.
IMPROVEMENT_ROUNDS = 3


def estimate_seconds(students: int) -> float:
    """Seconds the work that always runs (reading, eligibility, the exact flow, explaining,
    writing) takes for a round of this many students on the calibration machine (see above).
    A `time_limit` below it cannot hold: `wbl solve` says so before starting."""
    return float(6.0 * (max(students, 1) / 5000) ** 1.12)


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
    # How much slower than the calibration machine this run goes (never assumed faster; capped,
    # since eligibility slows more under load than the flow: 3.8x against 2.3x measured at
    # 20,000 students on the shared machine).
    slowdown = min(
        MAX_SLOWDOWN,
        max(1.0, clock.elapsed() / max(1e-3, ELIGIBILITY_SECONDS_PER_PAIR * elig.size)),
    )
    flow_seconds = FLOW_SECONDS_PER_PAIR * elig.size * slowdown
    tail_seconds = ANSWER_SECONDS_PER_STUDENT * inst.n_students
    if not options.deterministic and clock.elapsed() + flow_seconds > options.time_limit:
        log.warning(
            "the time limit of %.0f s is too short: the exact flow alone needs about %.0f s"
            " here; it runs to its end, and the meeting search gets what is left, if anything",
            options.time_limit,
            flow_seconds,
        )
    tickets = lottery_tickets(problem, options.seed)
    lottery = {
        "seed": options.seed,
        "method": 'students in ascending order of sha256("<seed>:<student id>")',
        "order": [problem.students[int(i)].id for i in np.argsort(tickets)],
    }

    allowed, pinned_students, pinned_workplace, pinned_community, broken = pin_restrictions(
        inst, elig
    )
    if broken:
        return _infeasible(problem, broken[0], clock, lottery)
    previous = previous_pairs(inst, elig, options)
    if previous is not None and previous.declined.any():
        # An employer's decline is not undone by the re-solve; a pin still wins (H9).
        pinned_mask = np.zeros(inst.n_students, dtype=np.bool_)
        pinned_mask[list(pinned_students)] = True
        allowed = allowed & ~(previous.declined & ~pinned_mask[elig.student])
    net = pinned_network(inst, elig, allowed, pinned_students, pinned_workplace)
    levels = objective_levels(inst, elig, net, tickets, previous=previous)
    feasible, flow, stages = solve_lexicographic(
        net, levels, progress=lambda msg: clock.report(msg, 0.3)
    )
    if not feasible or not net.reserved_ok:
        pins = smallest_infeasible_pins(inst, elig, allowed)
        return _infeasible(problem, pins, clock, lottery)
    pair, workplace = _placement(inst, elig, net, flow, pinned_workplace)
    clock.report("flow done", 0.6)

    out_of_time: list[bool] = []  # the time limit cut the meeting search or the re-placements

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
        # Deterministic runs budget work, not the clock, so the budget cannot shrink with it.
        budget = options.time_limit - clock.elapsed() - tail_seconds
        if not options.deterministic and budget < MIN_MEETING_SECONDS:
            out_of_time.append(True)
            if not pinned:
                return MentoringResult(
                    pair=pair, meetings=(), proven=False, feasible=True, touched=0
                )
            budget = MIN_MEETING_SECONDS
        return assign_community_mentors(
            inst,
            elig,
            pair,
            workplace >= 0,
            pinned,
            allowed_pairs=movable,
            time_limit=options.time_limit if options.deterministic else budget,
            workers=options.workers,
            seed=options.seed,
            lottery=tickets,
            deterministic=options.deterministic,
            log_search=options.log,
            mentor_candidates=options.mentor_candidates,
            hint=hint,
            progress=lambda msg: clock.report(msg, 0.8),
        )

    flow_values = level_values(
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
            smallest_infeasible_mentor_pins(inst, pinned_community, meet, pair),
            clock,
            lottery,
        )
    best = level_values(inst, elig, mentoring.pair, workplace, mentoring)
    # The flow above counted workplace mentors only. Solve it again counting community meetings
    # too: first wherever some meeting could fit a shift (optimistic, so seats go where a mentor
    # can follow), then wherever the meetings found still fit (so met students free workplace
    # mentors and seats for others). A re-placement is kept only when it betters the levels.
    # Bounds hold whether or not meetings were searched for (the flow alone is not an optimum).
    possible_at_all = community_possible(inst)
    community = options.community_mentors and possible_at_all
    bound_levels = (
        level_bounds(inst, elig, net, levels, flow_values, best) if possible_at_all else best
    )
    for attempt in range(1, IMPROVEMENT_ROUNDS + 1):
        if best == bound_levels:
            break  # proven optimal: nothing to improve
        if not community and not mentoring.meetings:
            break  # nothing to re-place around
        if not options.deterministic and (
            clock.elapsed() + flow_seconds + MIN_MEETING_SECONDS + tail_seconds > options.time_limit
        ):
            out_of_time.append(True)
            break  # no time left for another flow and search: answer with the gap
        possible = possible_meetings(inst, elig) if attempt == 1 and community else None
        if possible is not None:
            credit = possible
        elif mentoring.meetings:
            credit = met_credit(inst, elig, mentoring.meetings)
        else:
            break
        clock.report(f"re-placing around mentor meetings ({attempt})", 0.85)
        ok, flow2, _ = solve_lexicographic(
            net, objective_levels(inst, elig, net, tickets, credit, previous=previous)
        )
        assert ok, "the same network was feasible a moment ago"
        pair2, workplace2 = _placement(inst, elig, net, flow2, pinned_workplace)
        keep = {
            m.student: m
            for m in mentoring.meetings
            if workplace2[m.student] < 0
            and meeting_still_fits(inst, elig, int(pair2[m.student]), m)
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
        values = level_values(inst, elig, mentoring2.pair, workplace2, mentoring2)
        if level_key(values) > level_key(best):
            best, mentoring, workplace = values, mentoring2, workplace2
            clock.report("bounds", 0.85)
            bound_levels = level_bounds(inst, elig, net, levels, flow_values, best)
        elif attempt > 1:
            break
    pair = mentoring.pair
    clock.report("explaining", 0.9)
    changes = _changes(inst, elig, pair, previous) if previous is not None else None
    solution = _answer(
        inst,
        elig,
        pair,
        workplace,
        mentoring,
        bound_levels,
        clock,
        lottery,
        stages,
        changes,
        _statuses(inst, pair, previous),
    )
    solution.stats["stopped_by_time_limit"] = bool(out_of_time)
    return solution


def _changes(
    inst: Instance, elig: Eligibility, pair: IntArray, previous: PreviousPairs
) -> tuple[Change, ...]:
    """The re-solve's changes, a published or confirmed placement that could not be kept and a
    declined one said as such (the coordinator must see them apart from ordinary moves)."""
    out = []
    for c in explain_changes(inst, elig, pair, previous):
        status = previous.status.get(inst.student_ix[c.student])
        if status in KEPT_STATUSES:
            c = replace(c, reason=f"{status} placement could not be kept: {c.reason}")
        elif status == "declined":
            c = replace(c, reason="declined by the employer")
        out.append(c)
    return tuple(out)


def _statuses(inst: Instance, pair: IntArray, previous: PreviousPairs | None) -> dict[int, str]:
    """Each placed student's assignment status: a kept published or confirmed placement keeps
    its status, a pinned student's is `pinned`, the others `proposed` (the default)."""
    out = {inst.student_ix[pin.student]: "pinned" for pin in inst.problem.pins}
    if previous is not None:
        for s, status in previous.status.items():
            if status in KEPT_STATUSES and pair[s] >= 0 and pair[s] == previous.pair[s]:
                out[s] = status
    return out


def _placement(
    inst: Instance, elig: Eligibility, net: Network, flow: IntArray, pinned: dict[int, int]
) -> tuple[IntArray, IntArray]:
    """Per student: the chosen pair (-1 unplaced) and workplace mentor (-1 none)."""
    pair = np.full(inst.n_students, -1, dtype=np.int64)
    chosen = net.pair_index[flow[net.arcs("pair")] > 0]
    pair[elig.student[chosen]] = chosen
    return pair, _workplace_mentors(inst, elig, net, flow, pair, pinned)


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
    statuses: dict[int, str] | None = None,
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
                status=(statuses or {}).get(int(s), "proposed"),
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
    unplaced = explain_unplaced(inst, elig, pair, workplace)
    metrics = compute_metrics(p, assignments, {m.student for m in mentorships})

    levels = answer_levels(inst, assignments, metrics)
    status, objective, bound, gap = summarise(inst, levels, bound_levels)
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
            "mentoring_components": mentoring.components,
            "mentoring_at_bound": mentoring.at_bound,
        },
    )


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
