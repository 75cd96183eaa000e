"""Explanations: the reasons of every unplaced student (the spec's reason codes, with counts and
the holders of the seats they could have had), and who moved in a re-solve and why."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from solver.eligibility import REASONS, Eligibility, refusal_codes
from solver.instance import Instance, IntArray
from solver.objective import PreviousPairs
from solver.solution import Change, Reason, Unplaced

# How many holders a `capacity_taken` reason names before it says "and N more".
NAMED_HOLDERS = 5


def explain_unplaced(
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


def explain_changes(
    inst: Instance, elig: Eligibility, pair: IntArray, previous: PreviousPairs
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
