"""`travel_groups`, the format extension for measured times shared by students who travel from
the same place: a round with groups is the round with every group entry copied to its members
(`expand_travel_groups`), for validation, eligibility, the solver, the checker and one-pair
checks alike."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from scheduler.generate import generate_round
from solver import check_solution, load_problem, solve
from solver.eligibility import _Estimates, compute_eligibility, refusal_codes
from solver.instance import Instance
from solver.io import expand_travel_groups
from solver.solution import SolveOptions
from solver.validate import validate_problem
from tests.solver.random_rounds import random_round, school_transit_groups, with_travel_groups
from tests.solver.test_validate import make_doc


def _same(a: Any, b: Any) -> None:
    for name in ("student", "slot", "minutes", "mode", "refusals", "candidates"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def _eligibility(doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch, *, table: bool) -> Any:
    with monkeypatch.context() as m:
        if not table:
            m.setattr(_Estimates, "MAX_CELLS", 0)
        return compute_eligibility(Instance(load_problem(doc)))


@pytest.mark.parametrize("seed", range(80))
def test_groups_equal_their_expansion_on_random_rounds(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every allowed pair, its minutes and mode, and every refusal count are those of the round
    with each group entry written out per member; with the origin table and without."""
    doc = with_travel_groups(random_round(seed), seed)
    assert validate_problem(doc) == []
    plain = expand_travel_groups(doc)
    assert "travel_groups" not in plain
    want = _eligibility(plain, monkeypatch, table=False)
    _same(_eligibility(doc, monkeypatch, table=True), want)
    _same(_eligibility(doc, monkeypatch, table=False), want)


@pytest.mark.parametrize("seed", range(40))
def test_refusal_codes_read_the_group(seed: int) -> None:
    """One-pair checks (manual moves) see the group's times: allowed exactly when the pass
    allows a slot of the pair."""
    doc = with_travel_groups(random_round(seed), seed)
    inst = Instance(load_problem(doc))
    elig = compute_eligibility(inst)
    allowed = {
        (int(s), int(inst.slot_opp[sl])) for s, sl in zip(elig.student, elig.slot, strict=True)
    }
    for s in range(inst.n_students):
        for o in range(inst.n_opps):
            codes = refusal_codes(inst, s, o)
            assert (codes == []) == ((s, o) in allowed), (s, o, codes)


def test_generated_round_with_school_groups_solves_as_its_expansion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A generated term-time round with transit times per school: eligibility (both paths) and
    the whole solve equal those of the expanded round, and the checker accepts the solution
    against either document."""
    doc = school_transit_groups(generate_round(600, seed=3), seed=3)
    assert doc["travel_groups"]
    assert validate_problem(doc) == []
    plain = expand_travel_groups(doc)
    assert len(plain["travel"]) > 100 * sum(len(g["travel"]) for g in doc["travel_groups"])
    want = _eligibility(plain, monkeypatch, table=False)
    _same(_eligibility(doc, monkeypatch, table=True), want)
    _same(_eligibility(doc, monkeypatch, table=False), want)

    options = SolveOptions(time_limit=30, seed=1, deterministic=True)
    grouped = solve(load_problem(doc), options).to_dict()
    expanded = solve(load_problem(plain), options).to_dict()
    assert grouped["status"] in ("optimal", "feasible")
    assert grouped["assignments"] == expanded["assignments"]
    assert grouped["metrics"] == expanded["metrics"]
    assert check_solution(doc, grouped) == []
    assert check_solution(plain, grouped) == []
    # The group's times are used (where a student has no entry of its own).
    measured = {
        (sid, t["opportunity"]): t["minutes"]
        for g in doc["travel_groups"]
        for t in g["travel"]
        for sid in g["students"]
    }
    own = {(t["student"], t["opportunity"]) for t in doc["travel"]}
    by_transit = [
        a
        for a in grouped["assignments"]
        if a["travel_mode"] == "transit" and (a["student"], a["opportunity"]) not in own
    ]
    assert by_transit
    assert all(a["travel_minutes"] == measured[a["student"], a["opportunity"]] for a in by_transit)


def _one_pair(group_minutes: int | None, own: int | str | None) -> dict[str, Any]:
    doc = make_doc(pins=[], forbidden=[], travel=[])
    student = doc["students"][0]
    student["travel_modes"] = ["transit"]
    student["busy"] = []
    doc["travel_groups"] = [
        {
            "id": "north",
            "students": ["s1"],
            "travel": [{"opportunity": "o1", "mode": "transit", "minutes": group_minutes}],
        }
    ]
    if own != "none":
        doc["travel"] = [{"student": "s1", "opportunity": "o1", "mode": "transit", "minutes": own}]
    return doc


@pytest.mark.parametrize(
    ("group_minutes", "own", "expected"),
    [
        (20, "none", 20),
        (None, "none", None),
        (20, 35, 35),  # the student's own entry wins over the group's
        (None, 12, 12),
        (20, None, None),
    ],
)
def test_own_entry_wins_over_the_group(
    group_minutes: int | None, own: int | str | None, expected: int | None
) -> None:
    doc = _one_pair(group_minutes, own)
    assert validate_problem(doc) == []
    inst = Instance(load_problem(doc))
    elig = compute_eligibility(inst)
    o1 = inst.opp_ix["o1"]
    minutes = {
        int(t)
        for s, sl, t in zip(elig.student, elig.slot, elig.minutes, strict=True)
        if s == 0 and inst.slot_opp[sl] == o1
    }
    if expected is None:
        assert minutes == set()
        assert "no_transport_mode" in refusal_codes(inst, 0, o1)
    else:
        assert minutes == {expected}


def test_checker_uses_the_group_times() -> None:
    """A solution that reports the estimate where the group measured another time is wrong."""
    doc = _one_pair(20, "none")
    solution = solve(load_problem(doc), SolveOptions(time_limit=10, deterministic=True)).to_dict()
    placed = [a for a in solution["assignments"] if a["student"] == "s1"]
    assert placed, solution
    assert placed[0]["travel_minutes"] == 20
    assert check_solution(doc, solution) == []
    wrong = copy.deepcopy(solution)
    for a in wrong["assignments"]:
        if a["student"] == "s1":
            a["travel_minutes"] = 21
    assert any("s1" in v for v in check_solution(doc, wrong))


# --- validation -----------------------------------------------------------------------------------


def _issues(groups: Any) -> list[str]:
    return [str(i) for i in validate_problem(make_doc(travel_groups=groups))]


def test_valid_groups_have_no_issues() -> None:
    groups = [
        {
            "id": "a",
            "students": ["s1"],
            "travel": [{"opportunity": "o1", "mode": "transit", "minutes": 5}],
        },
        {"id": "b", "students": ["s2"], "travel": []},
    ]
    assert _issues(groups) == []


@pytest.mark.parametrize(
    ("groups", "fragment"),
    [
        ({"id": "a"}, "travel_groups: must be a list"),
        (
            [{"id": "a", "students": ["s1"]}, {"id": "a", "students": []}],
            'travel_groups[1].id: duplicate id "a"',
        ),
        ([{"id": "", "students": []}], "travel_groups[0].id"),
        ([{"id": "a"}], "travel_groups[0].students"),
        ([{"id": "a", "students": "s1"}], "travel_groups[0].students: must be a list"),
        (
            [{"id": "a", "students": ["nobody"]}],
            'travel_groups[0].students[0]: unknown student "nobody"',
        ),
        (
            [{"id": "a", "students": ["s1"]}, {"id": "b", "students": ["s1"]}],
            'travel_groups[1].students[0]: student "s1" is already in travel group "a"',
        ),
        (
            [
                {
                    "id": "a",
                    "students": ["s1"],
                    "travel": [{"opportunity": "zz", "mode": "walk", "minutes": 1}],
                }
            ],
            'travel_groups[0].travel[0].opportunity: unknown opportunity "zz"',
        ),
        (
            [
                {
                    "id": "a",
                    "students": ["s1"],
                    "travel": [{"opportunity": "o1", "mode": "boat", "minutes": 1}],
                }
            ],
            "travel_groups[0].travel[0].mode: unknown travel mode",
        ),
        (
            [
                {
                    "id": "a",
                    "students": ["s1"],
                    "travel": [{"opportunity": "o1", "mode": "walk", "minutes": -1}],
                }
            ],
            "travel_groups[0].travel[0].minutes: must be >= 0",
        ),
        (
            [{"id": "a", "students": ["s1"], "travel": [{"opportunity": "o1", "mode": "walk"}]}],
            "travel_groups[0].travel[0].minutes",
        ),
        (
            [
                {
                    "id": "a",
                    "students": ["s1"],
                    "travel": [
                        {"opportunity": "o1", "mode": "walk", "minutes": 1},
                        {"opportunity": "o1", "mode": "walk", "minutes": 2},
                    ],
                }
            ],
            "travel_groups[0].travel[1]: repeats the entry for opportunity",
        ),
    ],
)
def test_group_defects_are_named_by_path(groups: Any, fragment: str) -> None:
    issues = _issues(groups)
    assert issues, groups
    assert any(fragment in i for i in issues), issues
