"""Re-solving with an earlier run's placements: kept where possible, moves minimal and explained."""

from __future__ import annotations

import copy
from typing import Any

from scheduler.generate import generate_round
from solver import check_solution, load_problem, solve
from solver.solution import Previous, Solution, SolveOptions
from tests.solver.factories import make_doc, opportunity, slot, student


def previous_of(solution: Solution, status: str = "proposed") -> tuple[Previous, ...]:
    return tuple(
        Previous(student=a.student, opportunity=a.opportunity, slot=a.slot, status=status)
        for a in solution.assignments
    )


def placements(solution: Solution) -> dict[str, tuple[str, str]]:
    return {a.student: (a.opportunity, a.slot) for a in solution.assignments}


def test_resolving_the_same_round_changes_nothing() -> None:
    """Minimal disruption: with nothing changed, every placement stays and no change is listed."""
    doc = generate_round(400, seed=11)
    first = solve(load_problem(doc), SolveOptions(seed=1))
    again = solve(load_problem(doc), SolveOptions(seed=2, previous=previous_of(first)))
    assert placements(again) == placements(first)
    assert again.changes == ()
    assert check_solution(doc, again.to_dict()) == []


def test_a_capacity_cut_moves_only_whom_it_must() -> None:
    """Minimal disruption: when an opportunity closes, fewer students move than from scratch."""
    doc = generate_round(600, seed=5)
    first = solve(load_problem(doc), SolveOptions(seed=1))
    held = placements(first)
    closing = max(
        {o for o, _ in held.values()}, key=lambda o: sum(1 for x in held.values() if x[0] == o)
    )
    changed = copy.deepcopy(doc)
    for o in changed["opportunities"]:
        if o["id"] == closing:
            for sl in o["slots"]:
                sl["capacity"] = 0
    displaced = {s for s, (o, _) in held.items() if o == closing}
    resolved = solve(load_problem(changed), SolveOptions(seed=1, previous=previous_of(first)))
    scratch = solve(load_problem(changed), SolveOptions(seed=99))
    assert check_solution(changed, resolved.to_dict()) == []
    after = placements(resolved)
    moved = {s for s, place in held.items() if after.get(s) != place}
    moved_scratch = {s for s, place in held.items() if placements(scratch).get(s) != place}
    assert displaced <= moved
    assert len(moved) < len(moved_scratch)
    # Level 1 is not given up for stability: as many placed as from scratch.
    assert resolved.objective_levels[0] == scratch.objective_levels[0]
    reasons = {c.student: c.reason for c in resolved.changes or ()}
    for s in displaced:
        assert "capacity went down" in reasons[s]


def test_kept_placement_outranks_placing_more() -> None:
    """A published placement is kept even when moving it would place one more student."""
    doc = make_doc(
        [
            student(id="A", clusters=["HLTH"]),
            student(id="B", clusters=["HLTH"], preferences=["o1"]),
        ],
        [
            opportunity(id="o1", cluster="HLTH", slots=[slot(id="x", capacity=1)]),
            opportunity(id="o2", cluster="HLTH", slots=[slot(id="y", capacity=1)], accepts=["A"]),
        ],
        [],
    )
    # Without history both are placed: A at o2 (only A is accepted there), B at o1.
    fresh = solve(load_problem(doc))
    assert placements(fresh) == {"A": ("o2", "y"), "B": ("o1", "x")}
    # A's placement at o1 was published: it stays, and B cannot be placed.
    kept = (Previous(student="A", opportunity="o1", slot="x", status="published"),)
    again = solve(load_problem(doc), SolveOptions(previous=kept))
    assert placements(again) == {"A": ("o1", "x")}
    assert check_solution(doc, again.to_dict()) == []


def test_ineligible_previous_placement_is_explained() -> None:
    """A placement broken by a new class schedule is moved, with the rule that broke it."""
    doc = make_doc(
        [student(id="A", clusters=["HLTH"])],
        [opportunity(id="o1", cluster="HLTH", slots=[slot(id="x", capacity=1)])],
        [],
    )
    first = solve(load_problem(doc))
    assert placements(first) == {"A": ("o1", "x")}
    shift = doc["opportunities"][0]["slots"][0]["blocks"][0]
    doc["students"][0]["busy"] = [
        {"day": shift["day"], "start": shift["start"], "end": shift["end"]}
    ]
    again = solve(load_problem(doc), SolveOptions(previous=previous_of(first)))
    assert placements(again) == {}
    (change,) = again.changes or ()
    assert change.student == "A"
    assert change.after is None
    assert "schedule_conflict" in change.reason


def _two_seats_doc() -> dict[str, Any]:
    """A wants o1 first; o2 is a seat A may also take."""
    return make_doc(
        [student(id="A", clusters=["HLTH"], preferences=["o1"])],
        [
            opportunity(id="o1", cluster="HLTH", slots=[slot(id="x", capacity=1)]),
            opportunity(id="o2", cluster="HLTH", slots=[slot(id="y", capacity=1)]),
        ],
        [],
    )


def test_a_re_solve_writes_every_status_and_kept_ones_keep_theirs() -> None:
    """Format extension: a re-solve's answer gives every assignment a `status` (a kept
    published or confirmed placement keeps its own, a pinned one is `pinned`, the rest
    `proposed`), which the checker accepts; a first answer writes `proposed` or `pinned` on
    every assignment too (issue 9), which the checker accepts."""
    doc = _two_seats_doc()
    fresh = solve(load_problem(doc))
    first = fresh.to_dict()
    assert [a.get("status") for a in first["assignments"]] == ["proposed"]
    assert check_solution(doc, first) == []
    pinned = {**doc, "pins": [{"student": "A", "opportunity": "o2"}]}
    pinned_answer = solve(load_problem(pinned))
    assert [a.status for a in pinned_answer.assignments] == ["pinned"]
    assert [a.get("status") for a in pinned_answer.to_dict()["assignments"]] == ["pinned"]
    assert check_solution(pinned, pinned_answer.to_dict()) == []
    for status in ("published", "confirmed", "proposed"):
        again = solve(load_problem(doc), SolveOptions(previous=previous_of(fresh, status)))
        written = again.to_dict()
        assert [(a["slot"], a["status"]) for a in written["assignments"]] == [("x", status)]
        assert check_solution(doc, written) == []
    moved = solve(load_problem(pinned), SolveOptions(previous=previous_of(fresh, "proposed")))
    assert [a["status"] for a in moved.to_dict()["assignments"]] == ["pinned"]


def test_a_declined_placement_is_not_offered_again() -> None:
    """Re-solve: a declined placement's opportunity is not offered to the student again (the
    employer said no), though it is her first choice and free; the change says why."""
    doc = _two_seats_doc()
    declined = (Previous(student="A", opportunity="o1", slot="x", status="declined"),)
    again = solve(load_problem(doc), SolveOptions(previous=declined))
    assert placements(again) == {"A": ("o2", "y")}
    (change,) = again.changes or ()
    assert (change.student, change.reason) == ("A", "declined by the employer")
    # A pin still wins over the decline (H9).
    pinned = {**doc, "pins": [{"student": "A", "opportunity": "o1"}]}
    assert placements(solve(load_problem(pinned), SolveOptions(previous=declined))) == {
        "A": ("o1", "x")
    }


def test_a_published_placement_that_cannot_hold_says_so() -> None:
    """Re-solve: a published placement whose seat is gone is moved with a change that says it
    was published and why it could not be kept."""
    doc = _two_seats_doc()
    kept = (Previous(student="A", opportunity="o1", slot="x", status="published"),)
    doc["opportunities"][0]["slots"][0]["capacity"] = 0
    again = solve(load_problem(doc), SolveOptions(previous=kept))
    assert placements(again) == {"A": ("o2", "y")}
    (change,) = again.changes or ()
    assert change.reason == "published placement could not be kept: the slot's capacity went down"
