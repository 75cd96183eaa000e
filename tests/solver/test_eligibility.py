"""Eligibility's fast path (commute reach first, H3 refusals counted from thresholds) gives
exactly what evaluating every candidate pair gives."""

from __future__ import annotations

import numpy as np
import pytest

from scheduler.generate import generate_round
from solver import load_problem
from solver.eligibility import _Estimates, compute_eligibility
from solver.instance import Instance
from tests.solver.random_rounds import random_round


def _both(doc: dict, monkeypatch: pytest.MonkeyPatch) -> tuple:
    inst = Instance(load_problem(doc))
    fast = compute_eligibility(inst)
    with monkeypatch.context() as m:
        m.setattr(_Estimates, "MAX_CELLS", 0)  # no origin table: every pair evaluated
        slow = compute_eligibility(inst)
    return fast, slow


def _assert_same(fast, slow) -> None:
    np.testing.assert_array_equal(fast.student, slow.student)
    np.testing.assert_array_equal(fast.slot, slow.slot)
    np.testing.assert_array_equal(fast.minutes, slow.minutes)
    np.testing.assert_array_equal(fast.mode, slow.mode)
    np.testing.assert_array_equal(fast.refusals, slow.refusals)
    np.testing.assert_array_equal(fast.candidates, slow.candidates)


@pytest.mark.parametrize(("students", "seed"), [(400, 1), (1500, 2)])
def test_fast_path_equals_pair_by_pair_on_generated_rounds(
    students: int, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H3-H7 eligibility and every refusal count: the pruned path equals the full one."""
    fast, slow = _both(generate_round(students, seed=seed), monkeypatch)
    assert fast.size > 0
    _assert_same(fast, slow)


@pytest.mark.parametrize("seed", range(60))
def test_fast_path_equals_pair_by_pair_on_random_rounds(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H3-H7 on small random rounds (minors, credentials, accepts, overrides, forbidden)."""
    _assert_same(*_both(random_round(seed), monkeypatch))


@pytest.mark.parametrize("seed", range(40))
def test_refusal_codes_agree_with_the_pass(seed: int) -> None:
    """H3-H7 for one pair (manual moves, pins): allowed exactly when the pass allows a slot."""
    from solver.eligibility import refusal_codes

    inst = Instance(load_problem(random_round(seed)))
    elig = compute_eligibility(inst)
    pairs = zip(elig.student, elig.slot, strict=True)
    allowed = {(int(s), int(inst.slot_opp[sl])) for s, sl in pairs}
    for s in range(inst.n_students):
        for o in range(inst.n_opps):
            codes = refusal_codes(inst, s, o)
            assert (codes == []) == ((s, o) in allowed), (s, o, codes)
