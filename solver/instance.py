"""A problem compiled to integer indices and numpy arrays, shared by eligibility, the flow model,
the mentoring model and the explanations so each of them looks ids up once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from solver.problem import MODES, Block, Opportunity, Problem, Slot
from solver.rules import (
    LEARNER_KINDS,
    age_of,
    max_weekly_minutes,
    minor_hours_ok,
    opportunity_capacity,
    slot_capacity,
    slot_weekly_minutes,
    workplace_mentor_serves,
)
from solver.travel import block_legs, origin

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

# Padding for busy blocks that never conflicts: it starts after any slot could end.
NO_BLOCK = 10**6
# A slot's time by a measured entry when some block has no trip one way (UNREACHABLE's value).
NEVER = int(np.iinfo(np.int32).max)


def preference_score(rank: int | None, longest: int) -> int:
    """Objective level 3: a placement at rank r (1 = first) scores R + 1 - r, with R the length
    of the longest preference list of the round; a placement outside the list scores 0."""
    return longest + 1 - rank if rank is not None else 0


def _bits(codes: tuple[str, ...], index: dict[str, int], words: int) -> list[int]:
    out = [0] * words
    for code in codes:
        bit = index[code]
        out[bit // 63] |= 1 << (bit % 63)
    return out


@dataclass(eq=False)
class Instance:
    """Index arrays of one problem; students, opportunities, slots and mentors by position."""

    problem: Problem
    student_ix: dict[str, int] = field(init=False)
    opp_ix: dict[str, int] = field(init=False)
    slot_ix: dict[str, int] = field(init=False)
    mentor_ix: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        p = self.problem
        students, opps, mentors = p.students, p.opportunities, p.mentors
        self.student_ix = {s.id: i for i, s in enumerate(students)}
        self.opp_ix = {o.id: i for i, o in enumerate(opps)}
        self.slots: list[Slot] = [sl for o in opps for sl in o.slots]
        self.slot_ix = {sl.id: i for i, sl in enumerate(self.slots)}
        self.mentor_ix = {m.id: i for i, m in enumerate(mentors)}
        n, n_opp = len(students), len(opps)
        schools = {s.id: s for s in p.schools}

        # Students.
        self.age = np.array([age_of(s, p.round) for s in students], dtype=np.int64)
        self.grade = np.array(
            [s.grade if s.grade is not None else -(10**6) for s in students], dtype=np.int64
        )
        self.priority = np.array([s.priority for s in students], dtype=np.int64)
        self.weight = 1 + self.priority
        self.max_commute = np.array([s.max_commute_minutes for s in students], dtype=np.float64)
        self.max_weekly_minutes = np.array(
            [max_weekly_minutes(s) for s in students], dtype=np.float64
        )
        self.wants_mentor = np.array([s.wants_mentor for s in students], dtype=np.bool_)
        self.mode_mask = np.array(
            [sum(1 << MODES.index(m) for m in set(s.travel_modes)) for s in students],
            dtype=np.int64,
        )
        # Travel groups (shared measured times): the group of each student, -1 for none.
        self.group_ix = {g.id: i for i, g in enumerate(p.travel_groups)}
        self.group_of = np.full(n, -1, dtype=np.int64)
        for gi, g in enumerate(p.travel_groups):
            self.group_of[[self.student_ix[sid] for sid in g.students]] = gi
        # Origins repeat (a school's students share it in term time): index the distinct ones.
        # An origin is a place and a travel group, so all its students share every travel time.
        origin_ix: dict[tuple[float, float, int], int] = {}
        self.origin_of = np.array(
            [
                origin_ix.setdefault((o.lat, o.lon, int(g)), len(origin_ix))
                for o, g in zip(
                    (origin(s, schools, p.round.summer) for s in students),
                    self.group_of.tolist(),
                    strict=True,
                )
            ],
            dtype=np.int64,
        )
        self.origin_lat = np.array([k[0] for k in origin_ix], dtype=np.float64)
        self.origin_lon = np.array([k[1] for k in origin_ix], dtype=np.float64)
        self.origin_group = np.array([k[2] for k in origin_ix], dtype=np.int64)

        # Credentials as bit words, so "holds every required credential" is a mask test.
        codes = sorted(
            {c for s in students for c in s.credentials}
            | {c for o in opps for c in o.required_credentials}
        )
        cred_ix = {c: i for i, c in enumerate(codes)}
        words = max(1, -(-len(codes) // 63))
        self.cred_bits = np.array(
            [_bits(s.credentials, cred_ix, words) for s in students], dtype=np.int64
        ).reshape(n, words)
        self.req_bits = np.array(
            [_bits(o.required_credentials, cred_ix, words) for o in opps], dtype=np.int64
        ).reshape(n_opp, words)

        # Busy blocks per student and weekday, padded to the busiest day.
        per_day: list[list[list[Block]]] = [[[] for _ in range(7)] for _ in students]
        for i, s in enumerate(students):
            for b in s.busy:
                per_day[i][b.weekday].append(b)
        k = max([len(d) for days in per_day for d in days], default=0) or 1
        self.busy_start = np.full((n, 7, k), NO_BLOCK, dtype=np.int64)
        self.busy_end = np.full((n, 7, k), NO_BLOCK, dtype=np.int64)
        for i, days in enumerate(per_day):
            for d, blocks in enumerate(days):
                for j, b in enumerate(blocks):
                    self.busy_start[i, d, j] = b.start
                    self.busy_end[i, d, j] = b.end

        # Opportunities.
        self.opp_lat = np.array([o.location.lat for o in opps], dtype=np.float64)
        self.opp_lon = np.array([o.location.lon for o in opps], dtype=np.float64)
        self.transit_ok = np.array([o.transit_accessible for o in opps], dtype=np.bool_)
        self.min_age = np.array([o.min_age or 0 for o in opps], dtype=np.int64)
        self.min_grade = np.array(
            [o.min_grade if o.min_grade is not None else -(10**7) for o in opps], dtype=np.int64
        )
        self.job_shadow = np.array([o.kind == "job_shadow" for o in opps], dtype=np.bool_)
        self.hazardous = np.array([o.hazardous for o in opps], dtype=np.bool_)
        self.learner_kind = np.array([o.kind in LEARNER_KINDS for o in opps], dtype=np.bool_)
        self.has_accepts = np.array([o.accepts is not None for o in opps], dtype=np.bool_)
        self.requires_mentor = np.array([o.requires_mentor for o in opps], dtype=np.bool_)
        self.opp_capacity = np.array([opportunity_capacity(o) for o in opps], dtype=np.int64)
        clusters = sorted({o.cluster for o in opps})
        self.cluster_opps: dict[str, IntArray] = {
            c: np.array([i for i, o in enumerate(opps) if o.cluster == c], dtype=np.int64)
            for c in clusters
        }
        self.accepted_keys = np.unique(
            np.array(
                [
                    self.student_ix[s] * n_opp + oi
                    for oi, o in enumerate(opps)
                    for s in o.accepts or ()
                ],
                dtype=np.int64,
            )
        )
        self.forbidden = frozenset(p.forbidden)  # for the one-pair rules
        self.forbidden_keys = np.unique(
            np.array(
                [
                    self.student_ix[f.student] * n_opp + self.opp_ix[f.opportunity]
                    for f in p.forbidden
                ],
                dtype=np.int64,
            )
        )

        # Preferences: rank (1 = first) by (student, opportunity) key.
        self.longest_preferences = max((len(s.preferences) for s in students), default=0)
        self.pref_rank: dict[int, int] = {}
        for i, s in enumerate(students):
            for r, oid in enumerate(s.preferences, start=1):
                self.pref_rank.setdefault(i * n_opp + self.opp_ix[oid], r)

        # Slots: owning opportunity, capacity, weekly blocks (padded), hours and H7 fitness.
        self.slot_opp = np.array([oi for oi, o in enumerate(opps) for _ in o.slots], dtype=np.int64)
        self.opp_slot_start = np.zeros(n_opp + 1, dtype=np.int64)
        np.cumsum([len(o.slots) for o in opps], out=self.opp_slot_start[1:])
        self.slot_capacity = np.array([slot_capacity(sl) for sl in self.slots], dtype=np.int64)
        self.slot_weekly_minutes = np.array(
            [slot_weekly_minutes(sl) for sl in self.slots], dtype=np.float64
        )
        self.slot_minor_ok = np.array(
            [minor_hours_ok(sl, p.round.summer) for sl in self.slots], dtype=np.bool_
        )
        weekly = [[b for b in sl.blocks if b.day is not None] for sl in self.slots]
        width = max((len(w) for w in weekly), default=0) or 1
        self.slot_day = np.full((len(self.slots), width), -1, dtype=np.int64)
        self.slot_start = np.zeros((len(self.slots), width), dtype=np.int64)
        self.slot_end = np.zeros((len(self.slots), width), dtype=np.int64)
        for si, blocks in enumerate(weekly):
            for j, b in enumerate(blocks):
                self.slot_day[si, j] = b.weekday
                self.slot_start[si, j] = b.start
                self.slot_end[si, j] = b.end

        self._trips()

        # Workplace mentors able to serve each opportunity (H8), looked for among the mentors
        # of its employer only: every mentor against every opportunity would not scale.
        by_employer: dict[str, list[int]] = defaultdict(list)
        for mi, m in enumerate(mentors):
            if m.employer is not None:
                by_employer[m.employer].append(mi)
        self.workplace_mentors: list[list[int]] = [
            [
                mi
                for mi in by_employer.get(o.employer, ())
                if workplace_mentor_serves(mentors[mi], o)
            ]
            if o.requires_mentor
            else []
            for o in opps
        ]
        self.mentor_capacity = np.array([m.capacity for m in mentors], dtype=np.int64)

    def _trips(self) -> None:
        """Travel group entries measured by day type and time (`trips`), per slot of their
        opportunity: the slot's time by the entry (its longest trip there or back, NEVER when
        some block has no trip one way) and the minutes there and back of each weekly block
        (padded like `slot_day`), as flat rows found by `trip_keys`."""
        p, n_opps = self.problem, self.n_opps
        width = self.slot_day.shape[1]
        keys: list[int] = []
        first: list[int] = []
        times: list[int] = []
        there: list[list[int]] = []
        back: list[list[int]] = []
        for gi, g in enumerate(p.travel_groups):
            for t in g.travel:
                if t.trips is None:
                    continue
                o = self.opp_ix[t.opportunity]
                keys.append((gi * n_opps + o) * len(MODES) + MODES.index(t.mode))
                first.append(len(times))
                for sl in p.opportunities[o].slots:
                    legs = block_legs(t.minutes, t.trips, sl)
                    row_there, row_back = [0] * width, [0] * width
                    if legs is None:
                        times.append(NEVER)
                    else:
                        times.append(max((max(leg) for leg in legs), default=t.minutes or 0))
                        weekly = [
                            leg for b, leg in zip(sl.blocks, legs, strict=True) if b.day is not None
                        ]
                        for j, (a, z) in enumerate(weekly):
                            row_there[j], row_back[j] = a, z
                    there.append(row_there)
                    back.append(row_back)
        order = np.argsort(np.array(keys, dtype=np.int64), kind="stable")
        self.trip_keys = np.array(keys, dtype=np.int64)[order]
        self.trip_first = np.array(first, dtype=np.int64)[order]
        self.trip_time = np.array(times, dtype=np.int64)
        self.trip_there = np.array(there, dtype=np.int64).reshape(-1, width)
        self.trip_back = np.array(back, dtype=np.int64).reshape(-1, width)

    @property
    def n_students(self) -> int:
        return len(self.problem.students)

    @property
    def n_opps(self) -> int:
        return len(self.problem.opportunities)

    @property
    def n_slots(self) -> int:
        return len(self.slots)

    def opp(self, slot: int) -> Opportunity:
        return self.problem.opportunities[int(self.slot_opp[slot])]

    def preference_rank(self, student: int, opp: int) -> int | None:
        return self.pref_rank.get(student * self.n_opps + opp)

    def preference_score(self, student: int, opp: int) -> int:
        """`preference_score` of the student's rank of the opportunity."""
        return preference_score(self.preference_rank(student, opp), self.longest_preferences)
