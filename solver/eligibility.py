"""Which (student, slot) pairs are allowed (H3-H7), computed before any model is built.

Only opportunities in a student's clusters (all of them when the student names none) or in the
student's preferences are candidates; the rest refuse the student for `no_cluster_match`.
Candidates are checked in vectorised blocks of pairs, rule by rule, and each refused pair is
counted under its reason code so that every unplaced student can be explained without a
second pass. The rules are one vectorised function each, named after the spec's rule; each
decides what its one-pair function in `solver.rules` decides (a test keeps them equal), and
`refusal_codes` answers for one pair with those functions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from solver.instance import BoolArray, Instance, IntArray
from solver.problem import MODES, Problem, Slot, Trips
from solver.rules import (
    ADULT_AGE,
    CHILD_LABOUR_AGE,
    LEARNER_AGE,
    WORKING_AGE,
    opportunity_refusals,
    slot_commute_refusals,
    slot_refusals,
)
from solver.travel import (
    UNREACHABLE,
    SlotTrip,
    estimate_matrix,
    haversine_pairs,
    origin,
    slot_trip,
    trip,
)

# Reason codes of the spec; the position is the column in `Eligibility.refusals`.
OPPORTUNITY_REASONS: tuple[str, ...] = (
    "too_young",
    "grade",
    "missing_credential",
    "not_accepted",
    "hazardous_minor",
    "forbidden",
    "no_transport_mode",
    "commute_too_long",
)
SLOT_REASONS: tuple[str, ...] = ("schedule_conflict", "over_weekly_hours", "child_labour_hours")
REASONS: tuple[str, ...] = OPPORTUNITY_REASONS + SLOT_REASONS

# Pairs evaluated per vectorised block: bounds memory to a few hundred MB at any round size.
CHUNK_PAIRS = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Eligibility:
    """Allowed pairs (parallel arrays) and, per student, how many opportunities refuse them."""

    student: IntArray  # student index of each allowed pair
    slot: IntArray  # slot index
    minutes: IntArray  # t(s, o)
    mode: IntArray  # index into MODES
    refusals: IntArray  # (students, len(REASONS)): opportunities refusing for each reason
    candidates: IntArray  # (students,): opportunities in the student's clusters or preferences

    @property
    def size(self) -> int:
        return int(self.student.shape[0])


# --- H3: eligibility rules on (student, opportunity) pairs -------------------------------------


def too_young(inst: Instance, s: IntArray, o: IntArray) -> BoolArray:
    """H3: under the opportunity's min_age, or under 14 for anything but job shadowing
    (`rules.old_enough`)."""
    age = inst.age[s]
    return (age < inst.min_age[o]) | ((age < WORKING_AGE) & ~inst.job_shadow[o])


def grade_too_low(inst: Instance, s: IntArray, o: IntArray) -> BoolArray:
    """H3: below min_grade, a student without a grade failing any (`rules.grade_ok`)."""
    return inst.grade[s] < inst.min_grade[o]


def missing_credential(inst: Instance, s: IntArray, o: IntArray) -> BoolArray:
    """H3: the student lacks a required credential (`rules.has_credentials`)."""
    result: BoolArray = ((inst.req_bits[o] & ~inst.cred_bits[s]) != 0).any(axis=1)
    return result


def not_accepted(inst: Instance, s: IntArray, o: IntArray) -> BoolArray:
    """H3: the opportunity lists whom it accepts, not the student (`rules.accepted`)."""
    keys = s * inst.n_opps + o
    return inst.has_accepts[o] & ~np.isin(keys, inst.accepted_keys)


def hazardous_minor(inst: Instance, s: IntArray, o: IntArray) -> BoolArray:
    """H3: hazardous work under 18, except student-learners of 16+ in apprenticeships or co-ops
    (`rules.hazardous_ok`)."""
    age = inst.age[s]
    exempt = inst.learner_kind[o] & (age >= LEARNER_AGE)
    return inst.hazardous[o] & (age < ADULT_AGE) & ~exempt


def forbidden_pair(inst: Instance, s: IntArray, o: IntArray) -> BoolArray:
    """H3/H9: the coordinator forbade this pair (`rules.not_forbidden`)."""
    return np.isin(s * inst.n_opps + o, inst.forbidden_keys)


# The H3 rules in the order of OPPORTUNITY_REASONS (the pass and one-pair checks share them).
H3_RULES = (
    too_young,
    grade_too_low,
    missing_credential,
    not_accepted,
    hazardous_minor,
    forbidden_pair,
)


# --- H4: commute --------------------------------------------------------------------------------


class _Keyed:
    """Travel entries as sorted integer keys with one minutes column per mode (-1 absent, -2
    null: the mode cannot make the trip)."""

    def __init__(self, keys: IntArray, modes: IntArray, minutes: IntArray) -> None:
        self.keys, row = np.unique(keys, return_inverse=True)
        self.minutes = np.full((self.keys.size, len(MODES)), -1, dtype=np.int64)
        self.minutes[row.reshape(-1), modes] = minutes

    def lookup(self, keys: IntArray) -> IntArray:
        """Per key and mode: the entry's minutes, -1 for none, -2 for 'cannot make the trip'."""
        out = np.full((keys.shape[0], len(MODES)), -1, dtype=np.int64)
        if self.keys.size:
            pos = np.searchsorted(self.keys, keys).clip(max=self.keys.size - 1)
            hit = self.keys[pos] == keys
            out[hit] = self.minutes[pos[hit]]
        return out


def _entry_arrays(
    entries: list[tuple[int, str, int | None]],
) -> tuple[IntArray, IntArray, IntArray]:
    keys = np.array([k for k, _, _ in entries], dtype=np.int64)
    modes = np.array([MODES.index(m) for _, m, _ in entries], dtype=np.int64)
    minutes = np.array([-2 if t is None else t for _, _, t in entries], dtype=np.int64)
    return keys, modes, minutes


def student_overrides(inst: Instance) -> _Keyed:
    """The `travel` entries, keyed by student * opportunities + opportunity."""
    n_opps = inst.n_opps
    return _Keyed(
        *_entry_arrays(
            [
                (
                    inst.student_ix[t.student] * n_opps + inst.opp_ix[t.opportunity],
                    t.mode,
                    t.minutes,
                )
                for t in inst.problem.travel
            ]
        )
    )


def group_overrides(inst: Instance) -> _Keyed:
    """The `travel_groups` entries, keyed by group * opportunities + opportunity. An entry
    measured by day type and time (`trips`) gives the least time any of its blocks can take:
    pairs are pruned by it, and their slots then judged by their own trips."""
    n_opps = inst.n_opps
    return _Keyed(
        *_entry_arrays(
            [
                (
                    gi * n_opps + inst.opp_ix[t.opportunity],
                    t.mode,
                    t.minutes if t.trips is None else t.trips.lower_bound(t.minutes),
                )
                for gi, g in enumerate(inst.problem.travel_groups)
                for t in g.travel
            ]
        )
    )


def _apply(minutes: list[IntArray], forced: IntArray) -> list[IntArray]:
    """Entries win over the estimate; 'cannot make the trip' is UNREACHABLE."""
    out = []
    for m, t in enumerate(minutes):
        t = np.where(forced[:, m] >= 0, forced[:, m], t)
        out.append(np.where(forced[:, m] == -2, UNREACHABLE, t))
    return out


class _Estimates:
    """What every student of an origin shares, per mode: the spec's estimate from the origin
    (transit only to transit-accessible sites), or the travel group's measured time. Computed
    once per (distinct origin, opportunity) when origins are few (term time: the schools, one
    per travel group); otherwise per pair (summer: homes)."""

    MAX_CELLS = 30_000_000

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.groups = group_overrides(inst)
        self.table: list[npt.NDArray[np.int32]] | None = None
        n_origins, n_opps = inst.origin_lat.size, inst.n_opps
        if 0 < n_origins * n_opps <= self.MAX_CELLS:
            distance = haversine_pairs(
                inst.origin_lat[:, None],
                inst.origin_lon[:, None],
                inst.opp_lat[None, :],
                inst.opp_lon[None, :],
            )
            table = [estimate_matrix(distance, mode).astype(np.int32) for mode in MODES]
            transit = MODES.index("transit")
            table[transit][:, ~inst.transit_ok] = UNREACHABLE
            # Each group entry, at every origin of its group (one, in term time).
            grouped = np.flatnonzero(inst.origin_group >= 0)
            if grouped.size and self.groups.keys.size:
                by_group = grouped[np.argsort(inst.origin_group[grouped], kind="stable")]
                starts = np.searchsorted(
                    inst.origin_group[by_group], np.arange(len(inst.group_ix) + 1)
                )
                g, o = np.divmod(self.groups.keys, n_opps)
                count = starts[g + 1] - starts[g]
                entry = np.repeat(np.arange(g.size), count)
                offsets = np.arange(entry.size) - np.repeat(np.cumsum(count) - count, count)
                rows = by_group[starts[g][entry] + offsets]
                for m in range(len(MODES)):
                    forced = self.groups.minutes[entry, m]
                    at = forced != -1
                    value = np.where(forced[at] == -2, UNREACHABLE, forced[at])
                    table[m][rows[at], o[entry][at]] = value
            self.table = table

    def minutes(self, s: IntArray, o: IntArray) -> list[IntArray]:
        """Minutes per mode for each (student, opportunity) pair (UNREACHABLE: cannot go)."""
        inst = self.inst
        origins = inst.origin_of[s]
        if self.table is not None:
            return [t[origins, o].astype(np.int64) for t in self.table]
        distance = haversine_pairs(
            inst.origin_lat[origins], inst.origin_lon[origins], inst.opp_lat[o], inst.opp_lon[o]
        )
        estimate = [estimate_matrix(distance, mode) for mode in MODES]
        transit = MODES.index("transit")
        estimate[transit] = np.where(inst.transit_ok[o], estimate[transit], UNREACHABLE)
        group = inst.origin_group[origins]
        keys = np.where(group >= 0, group * inst.n_opps + o, -1)
        return _apply(estimate, self.groups.lookup(keys))


def commute(
    inst: Instance, estimates: _Estimates, overrides: _Keyed, s: IntArray, o: IntArray
) -> tuple[IntArray, IntArray]:
    """See `commute_by_mode`; without the minutes per mode."""
    best, best_mode, _ = commute_by_mode(inst, estimates, overrides, s, o)
    return best, best_mode


def commute_by_mode(
    inst: Instance, estimates: _Estimates, overrides: _Keyed, s: IntArray, o: IntArray
) -> tuple[IntArray, IntArray, list[IntArray]]:
    """H4: fastest usable mode and its minutes per pair (UNREACHABLE when no mode can go), as
    `solver.travel.trip` finds it for one pair; within the limit is `rules.commute_within_limit`.

    A student's own `travel` entry wins over the group's and the estimate. Ties go to the
    earlier mode of MODES (walk, bike, transit, car), as the spec orders them.
    """
    minutes_by_mode = _apply(estimates.minutes(s, o), overrides.lookup(s * inst.n_opps + o))
    best = np.full(s.shape[0], UNREACHABLE, dtype=np.int64)
    best_mode = np.full(s.shape[0], -1, dtype=np.int64)
    for m, minutes in enumerate(minutes_by_mode):
        has_mode = (inst.mode_mask[s] >> m) & 1 == 1
        minutes = np.where(has_mode, minutes, UNREACHABLE)
        minutes_by_mode[m] = minutes
        better = minutes < best
        best = np.where(better, minutes, best)
        best_mode = np.where(better, m, best_mode)
    return best, best_mode, minutes_by_mode


def slot_commute(
    inst: Instance,
    overrides: _Keyed,
    s: IntArray,
    o: IntArray,
    slot: IntArray,
    minutes_by_mode: list[IntArray],
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """H4 per slot, for (student, slot) rows whose pair has minutes per usable mode (UNREACHABLE
    where unusable): where the student's travel group measured a mode by day type and time
    (`trips`) and the student has no own entry for it, the slot takes that entry's time
    (its longest trip there or back, UNREACHABLE without one each way for every block);
    other modes keep the pair's minutes. Returns the slot's minutes, mode (ties as
    `commute`), and per weekly block the minutes there and back of that mode, as
    `solver.travel.slot_trip` finds them for one slot (`rules.slot_commute_refusals`)."""
    width = inst.slot_day.shape[1]
    rows = s.shape[0]
    best = np.full(rows, UNREACHABLE, dtype=np.int64)
    best_mode = np.full(rows, -1, dtype=np.int64)
    there = np.zeros((rows, width), dtype=np.int64)
    back = np.zeros((rows, width), dtype=np.int64)
    group = inst.group_of[s]
    own = overrides.lookup(s * inst.n_opps + o)
    offset = slot - inst.opp_slot_start[o]
    for m, minutes in enumerate(minutes_by_mode):
        at = np.full(rows, -1, dtype=np.int64)
        if inst.trip_keys.size:
            key = np.where(group >= 0, (group * inst.n_opps + o) * len(MODES) + m, -1)
            pos = np.searchsorted(inst.trip_keys, key).clip(max=inst.trip_keys.size - 1)
            hit = (inst.trip_keys[pos] == key) & (own[:, m] == -1) & (minutes != UNREACHABLE)
            at = np.where(hit, inst.trip_first[pos] + offset, -1)
        measured = at >= 0
        t = np.where(measured, inst.trip_time[np.where(measured, at, 0)], minutes)
        better = t < best
        best = np.where(better, t, best)
        best_mode = np.where(better, m, best_mode)
        if inst.trip_keys.size:
            row_there = np.where(
                measured[:, None], inst.trip_there[np.where(measured, at, 0)], t[:, None]
            )
            row_back = np.where(
                measured[:, None], inst.trip_back[np.where(measured, at, 0)], t[:, None]
            )
        else:
            row_there = row_back = np.broadcast_to(t[:, None], (rows, width))
        there = np.where(better[:, None], row_there, there)
        back = np.where(better[:, None], row_back, back)
    return best, best_mode, there, back


# --- H5-H7: rules on (student, slot) pairs ----------------------------------------------------


def schedule_conflict(
    inst: Instance,
    s: IntArray,
    slot: IntArray,
    t: IntArray,
    before: IntArray | None = None,
    after: IntArray | None = None,
) -> BoolArray:
    """H5: a weekly shift overlaps a busy block on its weekday once travel both ways is added:
    `t` each way, or per weekly block (columns as `Instance.slot_day`) `before` there and
    `after` back (`rules.schedule_clear` with its legs)."""
    conflict = np.zeros(s.shape[0], dtype=np.bool_)
    for j in range(inst.slot_day.shape[1]):
        day = inst.slot_day[slot, j]
        valid = day >= 0
        if not valid.any():
            continue
        d = np.where(valid, day, 0)
        cs, ce = inst.busy_start[s, d], inst.busy_end[s, d]  # (pairs, k)
        bs = (inst.slot_start[slot, j] - (t if before is None else before[:, j]))[:, None]
        be = (inst.slot_end[slot, j] + (t if after is None else after[:, j]))[:, None]
        conflict |= valid & ((bs < ce) & (cs < be)).any(axis=1)
    return conflict


def over_weekly_hours(inst: Instance, s: IntArray, slot: IntArray) -> BoolArray:
    """H6: the slot's weekly hours exceed the student's own limit
    (`rules.weekly_hours_within`)."""
    return inst.slot_weekly_minutes[slot] > inst.max_weekly_minutes[s]


def child_labour_hours(inst: Instance, s: IntArray, slot: IntArray) -> BoolArray:
    """H7: under 16, every kind but job shadowing keeps to the FLSA window and hour limits
    (`rules.child_labour_ok`)."""
    return (
        (inst.age[s] < CHILD_LABOUR_AGE)
        & ~inst.job_shadow[inst.slot_opp[slot]]
        & ~inst.slot_minor_ok[slot]
    )


# --- Candidate pairs and the whole pass ----------------------------------------------------------


def _cluster_groups(inst: Instance) -> Iterator[tuple[IntArray, IntArray]]:
    """Students with the same clusters, and the opportunities of those clusters (all of them
    for a student open to every cluster)."""
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, st in enumerate(inst.problem.students):
        groups[tuple(sorted(set(st.clusters)))].append(i)
    all_opps = np.arange(inst.n_opps, dtype=np.int64)
    for clusters, members in groups.items():
        if clusters:
            parts = [inst.cluster_opps[c] for c in clusters if c in inst.cluster_opps]
            cand = np.unique(np.concatenate(parts)) if parts else all_opps[:0]
        else:
            cand = all_opps
        if cand.size:
            yield np.array(members, dtype=np.int64), cand


def _preference_extras(inst: Instance) -> tuple[IntArray, IntArray]:
    """Ranked opportunities outside the student's clusters: chosen, so candidates too."""
    s_extra: list[int] = []
    o_extra: list[int] = []
    for i, st in enumerate(inst.problem.students):
        wanted = set(st.clusters)
        if not wanted:
            continue
        for oid in dict.fromkeys(st.preferences):
            o = inst.opp_ix[oid]
            if inst.problem.opportunities[o].cluster not in wanted:
                s_extra.append(i)
                o_extra.append(o)
    return np.array(s_extra, dtype=np.int64), np.array(o_extra, dtype=np.int64)


def _all_pairs(students: IntArray, cand: IntArray) -> Iterator[tuple[IntArray, IntArray]]:
    per_chunk = max(1, CHUNK_PAIRS // max(1, cand.size))
    for a in range(0, students.size, per_chunk):
        chunk = students[a : a + per_chunk]
        yield np.repeat(chunk, cand.size), np.tile(cand, chunk.size)


class _Pass:
    """One eligibility pass: evaluates blocks of pairs, keeps the allowed (student, slot) pairs
    and adds up refusals per student and reason."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.overrides = student_overrides(inst)
        # Students with their own `travel` entries take the pair-by-pair path.
        self.own_entries = np.zeros(inst.n_students, dtype=np.bool_)
        self.own_entries[self.overrides.keys // max(1, inst.n_opps)] = True
        self.estimates = _Estimates(inst)
        n = inst.n_students
        self.refusals = np.zeros((n, len(REASONS)), dtype=np.int64)
        self.candidates = np.zeros(n, dtype=np.int64)
        self.parts: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []
        # Reachable pairs wait here until a block is big enough to evaluate efficiently.
        self.pending: list[tuple[IntArray, IntArray]] = []
        self.pending_size = 0

    def count(self, column: int, students: IntArray) -> None:
        self.refusals[:, column] += np.bincount(students, minlength=self.inst.n_students)

    def evaluate(self, s: IntArray, o: IntArray, *, count_opportunity_rules: bool = True) -> None:
        """Check every rule on the (student, opportunity) pairs; keep the allowed slots.

        `count_opportunity_rules` False: H3-H4 refusals of these pairs were already counted."""
        inst = self.inst
        minutes, mode, by_mode = commute_by_mode(inst, self.estimates, self.overrides, s, o)
        fails = [
            *(rule(inst, s, o) for rule in H3_RULES),
            minutes == UNREACHABLE,
            (minutes != UNREACHABLE) & (minutes > inst.max_commute[s]),
        ]
        refused = np.zeros(s.shape[0], dtype=np.bool_)
        for col, fail in enumerate(fails):
            if count_opportunity_rules:
                self.count(col, s[fail])
            refused |= fail
        keep = ~refused
        s, o, minutes, mode = s[keep], o[keep], minutes[keep], mode[keep]
        by_mode = [m[keep] for m in by_mode]
        # Expand each surviving (student, opportunity) pair to the opportunity's slots.
        counts = inst.opp_slot_start[o + 1] - inst.opp_slot_start[o]
        pair_id = np.repeat(np.arange(s.shape[0]), counts)
        offsets = np.arange(pair_id.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
        ps, pslot = s[pair_id], inst.opp_slot_start[o][pair_id] + offsets
        pt, pmode = minutes[pair_id], mode[pair_id]
        before = after = None
        no_mode = too_long = np.zeros(ps.shape[0], dtype=np.bool_)
        if inst.trip_keys.size:
            # Trips measured by day type and time: each slot its own H4 and H5 buffers.
            pt, pmode, before, after = slot_commute(
                inst, self.overrides, ps, o[pair_id], pslot, [m[pair_id] for m in by_mode]
            )
            no_mode = pt == UNREACHABLE
            too_long = ~no_mode & (pt > inst.max_commute[ps])
        slot_fails = [
            no_mode,
            too_long,
            schedule_conflict(inst, ps, pslot, pt, before, after) & ~no_mode,
            over_weekly_hours(inst, ps, pslot),
            child_labour_hours(inst, ps, pslot),
        ]
        ok = ~np.logical_or.reduce(slot_fails)
        # An opportunity refuses for a slot rule when none of its slots is allowed.
        opp_ok = np.bincount(pair_id, weights=ok, minlength=s.shape[0]) > 0
        columns = (_NO_MODE, _TOO_LONG, *range(len(OPPORTUNITY_REASONS), len(REASONS)))
        for col, fail in zip(columns, slot_fails, strict=True):
            if not fail.any():
                continue
            opp_fail = (np.bincount(pair_id, weights=fail, minlength=s.shape[0]) > 0) & ~opp_ok
            self.count(col, s[opp_fail])
        self.parts.append((ps[ok], pslot[ok], pt[ok], pmode[ok]))

    def group(self, students: IntArray, cand: IntArray) -> None:
        """Students of one cluster group against the group's opportunities.

        With the origin table, only pairs within commuting reach are evaluated pair by pair;
        refusals of the others are counted from sorted thresholds and credential patterns, so
        the counts stay exact while the work follows the reachable pairs, not the metro area."""
        inst = self.inst
        self.candidates[students] += cand.size
        if self.estimates.table is None:
            for s, o in _all_pairs(students, cand):
                self.evaluate(s, o)
            return
        fast = ~self.own_entries[students]
        for s, o in _all_pairs(students[~fast], cand):
            self.evaluate(s, o)
        students = students[fast]
        if students.size == 0:
            return
        self.refusals[students, : len(_COUNTED_RULES)] += _rule_counts(inst, students, cand)
        for s, o in self._reachable(students, cand):
            self.pending.append((s, o))
            self.pending_size += s.size
            if self.pending_size >= CHUNK_PAIRS:
                self.flush()

    def flush(self) -> None:
        """Evaluate the waiting reachable pairs (their H3-H4 refusals are counted already)."""
        if self.pending:
            s = np.concatenate([p[0] for p in self.pending])
            o = np.concatenate([p[1] for p in self.pending])
            self.pending, self.pending_size = [], 0
            self.evaluate(s, o, count_opportunity_rules=False)

    def _reachable(self, students: IntArray, cand: IntArray) -> Iterator[tuple[IntArray, IntArray]]:
        """Pairs whose estimated commute is within the student's limit; the rest are counted as
        `no_transport_mode` or `commute_too_long` here."""
        inst = self.inst
        table = self.estimates.table
        assert table is not None
        keys = inst.origin_of[students] * 16 + inst.mode_mask[students]
        order = np.argsort(keys, kind="stable")
        bounds = np.flatnonzero(np.diff(keys[order])) + 1
        for members in np.split(students[order], bounds):
            g, mask = int(inst.origin_of[members[0]]), int(inst.mode_mask[members[0]])
            best = np.full(cand.size, UNREACHABLE, dtype=np.int64)
            for m in range(len(MODES)):
                if mask >> m & 1:
                    best = np.minimum(best, table[m][g, cand].astype(np.int64))
            no_mode = int((best == UNREACHABLE).sum())
            per_chunk = max(1, CHUNK_PAIRS // max(1, cand.size))
            for a in range(0, members.size, per_chunk):
                chunk = members[a : a + per_chunk]
                within = best[None, :] <= inst.max_commute[chunk][:, None]
                reach = within.sum(axis=1)
                self.refusals[chunk, _NO_MODE] += no_mode
                self.refusals[chunk, _TOO_LONG] += cand.size - no_mode - reach
                rows, cols = np.nonzero(within)
                yield chunk[rows], cand[cols]

    def result(self) -> Eligibility:
        self.flush()

        def cat(k: int) -> IntArray:
            parts = [part[k] for part in self.parts]
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

        student, slot = cat(0), cat(1)
        order = np.lexsort((slot, student))
        return Eligibility(
            student=student[order],
            slot=slot[order],
            minutes=cat(2)[order],
            mode=cat(3)[order],
            refusals=self.refusals,
            candidates=self.candidates,
        )


_COUNTED_RULES = OPPORTUNITY_REASONS[:6]  # the H3 rules, counted by _rule_counts
_NO_MODE = OPPORTUNITY_REASONS.index("no_transport_mode")
_TOO_LONG = OPPORTUNITY_REASONS.index("commute_too_long")


def _rule_counts(inst: Instance, students: IntArray, cand: IntArray) -> IntArray:
    """For each student, how many of `cand` refuse them under each H3 rule (columns as in
    `_COUNTED_RULES`), the same numbers pair-by-pair evaluation gives, without pairs."""
    out = np.zeros((students.size, len(_COUNTED_RULES)), dtype=np.int64)
    age, grade = inst.age[students], inst.grade[students]
    # too_young: under min_age, or under 14 outside job shadowing (WORKING_AGE).
    min_age = np.sort(inst.min_age[cand])
    out[:, 0] = cand.size - np.searchsorted(min_age, age, side="right")
    working = np.sort(inst.min_age[cand[~inst.job_shadow[cand]]])
    out[:, 0] += np.where(age < WORKING_AGE, np.searchsorted(working, age, side="right"), 0)
    # grade: below min_grade.
    min_grade = np.sort(inst.min_grade[cand])
    out[:, 1] = cand.size - np.searchsorted(min_grade, grade, side="right")
    # missing_credential: one count per distinct set of credentials held.
    held, inverse = np.unique(inst.cred_bits[students], axis=0, return_inverse=True)
    required = inst.req_bits[cand]
    missing = np.array(
        [int(((required & ~row) != 0).any(axis=1).sum()) for row in held], dtype=np.int64
    )
    out[:, 2] = missing[inverse.reshape(-1)]
    # not_accepted and forbidden: few named pairs, counted where they fall in the group.
    position = np.full(inst.n_students, -1, dtype=np.int64)
    position[students] = np.arange(students.size)
    in_cand = np.zeros(inst.n_opps, dtype=np.bool_)
    in_cand[cand] = True
    out[:, 3] = int(inst.has_accepts[cand].sum())
    for column, keys, sign in ((3, inst.accepted_keys, -1), (5, inst.forbidden_keys, 1)):
        ks, ko = np.divmod(keys, inst.n_opps)
        hit = (position[ks] >= 0) & in_cand[ko] & (inst.has_accepts[ko] if column == 3 else True)
        np.add.at(out[:, column], position[ks[hit]], sign)
    # hazardous_minor: by age band (the student-learner exemption needs 16+ and a learner kind).
    hazardous = inst.hazardous[cand]
    all_hazardous = int(hazardous.sum())
    not_exempt = int((hazardous & ~inst.learner_kind[cand]).sum())
    out[:, 4] = np.where(
        age >= ADULT_AGE, 0, np.where(age >= LEARNER_AGE, not_exempt, all_hazardous)
    )
    return out


def compute_eligibility(inst: Instance) -> Eligibility:
    """Every allowed (student, slot) pair with its travel, and refusal counts per reason."""
    run = _Pass(inst)
    for students, cand in _cluster_groups(inst):
        run.group(students, cand)
    s_extra, o_extra = _preference_extras(inst)
    if s_extra.size:
        run.candidates += np.bincount(s_extra, minlength=inst.n_students)
        for a in range(0, s_extra.size, CHUNK_PAIRS):
            run.evaluate(s_extra[a : a + CHUNK_PAIRS], o_extra[a : a + CHUNK_PAIRS])
    return run.result()


def pair_travel(
    p: Problem, student: str, opportunity: str, *, group: int = -1
) -> dict[str, int | None]:
    """The measured minutes per mode of one pair: the student's travel group's entries, then
    the student's own `travel` entries, which win. `group` is the group's index, -1 for none."""
    out: dict[str, int | None] = {}
    if group >= 0:
        out.update(
            (t.mode, t.minutes)
            for t in p.travel_groups[group].travel
            if t.opportunity == opportunity
        )
    out.update(
        (t.mode, t.minutes)
        for t in p.travel
        if t.student == student and t.opportunity == opportunity
    )
    return out


def pair_trips(p: Problem, student: str, opportunity: str, *, group: int = -1) -> dict[str, Trips]:
    """The trips measured by day type and time (`trips`) of one pair, by mode: its travel
    group's, for the modes the student has no own `travel` entry for (which wins)."""
    if group < 0:
        return {}
    own = {t.mode for t in p.travel if t.student == student and t.opportunity == opportunity}
    return {
        t.mode: t.trips
        for t in p.travel_groups[group].travel
        if t.opportunity == opportunity and t.trips is not None and t.mode not in own
    }


def pair_trip(inst: Instance, student: int, opp: int) -> tuple[str, int] | None:
    """The fastest usable mode and its minutes for one pair, by the same rules as the pass (the
    student's own `travel` entries, then its group's, then the estimate); None: no mode goes.
    A mode measured by day type and time counts its least time (its slots may take longer:
    `pair_slot_trip`)."""
    p = inst.problem
    st, op = p.students[student], p.opportunities[opp]
    group = int(inst.group_of[student])
    overrides = pair_travel(p, st.id, op.id, group=group)
    for mode, trips in pair_trips(p, st.id, op.id, group=group).items():
        overrides[mode] = trips.lower_bound(overrides.get(mode))
    schools = {sc.id: sc for sc in p.schools}
    return trip(st, op, origin(st, schools, p.round.summer), overrides)


def pair_slot_trip(inst: Instance, student: int, opp: int, slot: Slot) -> SlotTrip | None:
    """The fastest usable mode for one slot of the pair, its time and each block's trips there
    and back (`solver.travel.slot_trip`), on the same travel as `pair_trip`; None: no mode
    makes the slot's trips."""
    p = inst.problem
    st, op = p.students[student], p.opportunities[opp]
    group = int(inst.group_of[student])
    overrides = pair_travel(p, st.id, op.id, group=group)
    trips = pair_trips(p, st.id, op.id, group=group)
    schools = {sc.id: sc for sc in p.schools}
    return slot_trip(st, op, slot, origin(st, schools, p.round.summer), overrides, trips)


def refusal_codes(inst: Instance, student: int, opp: int, slot: int | None = None) -> list[str]:
    """Why `student` may not take `opp` (at `slot`, or at any of its slots): the reason codes
    of every rule it breaks, [] when allowed. The one-pair functions of `solver.rules` on the
    same travel as the pass above: manual moves and pins are checked with it."""
    p = inst.problem
    st, op = p.students[student], p.opportunities[opp]
    age = int(inst.age[student])
    best = pair_trip(inst, student, opp)
    codes = opportunity_refusals(st, op, age=age, trip=best, forbidden=inst.forbidden)
    if codes:
        return codes
    slots = [inst.slots[slot]] if slot is not None else list(op.slots)
    per_slot = []
    for sl in slots:
        way = pair_slot_trip(inst, student, opp, sl)
        fails = slot_commute_refusals(st, way)
        if way is not None:
            fails += slot_refusals(
                st, op, sl, age=age, minutes=way.minutes, summer=p.round.summer, legs=way.legs
            )
        if not fails:
            return []
        per_slot.append(fails)
    return sorted({code for fails in per_slot for code in fails}) or ["capacity_taken"]
