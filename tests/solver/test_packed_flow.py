"""Packed flow stages (issue 13): levels packed into one 64-bit cost give the same
lexicographic optimum as one stage per level."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from scheduler.generate import generate_round
from solver.eligibility import compute_eligibility
from solver.flow import Network, pack_levels, solve_lexicographic
from solver.instance import Instance
from solver.objective import objective_levels
from solver.pins import pin_restrictions, pinned_network
from solver.problem import problem_from_dict
from solver.solve import lottery_tickets
from tests.solver.random_rounds import random_round


def _network(doc: dict[str, Any]) -> tuple[Network, list[Any]] | None:
    inst = Instance(problem_from_dict(doc))
    elig = compute_eligibility(inst)
    allowed, students, workplace, _, broken = pin_restrictions(inst, elig)
    if broken:
        return None
    net = pinned_network(inst, elig, allowed, students, workplace)
    tickets = lottery_tickets(inst.problem, 0)
    return net, objective_levels(inst, elig, net, tickets)


def _values(levels: list[Any], flow: np.ndarray) -> list[int]:
    return [int(level.cost @ flow) for level in levels]


def _same_optimum(doc: dict[str, Any], cost_limit: int | None = None) -> None:
    built = _network(doc)
    if built is None:
        return
    net, levels = built
    ok_staged, staged, n_staged = solve_lexicographic(net, levels, pack=False)
    net.faces.clear()  # the packed flow must find its optimum on its own
    kwargs = {} if cost_limit is None else {"cost_limit": cost_limit}
    ok_packed, packed, n_packed = solve_lexicographic(net, levels, pack=True, **kwargs)
    assert ok_staged == ok_packed
    if ok_staged:
        assert _values(levels, packed) == _values(levels, staged)
        assert n_packed <= n_staged


@pytest.mark.parametrize("seed", range(40))
def test_packed_optimum_equals_staged_on_random_rounds(seed: int) -> None:
    """Objective levels 1-4 and the lottery: the packed flow's optimum is the staged one."""
    _same_optimum(random_round(seed, community_mentors=seed % 2 == 0, pins=seed % 3 == 0))


@pytest.mark.parametrize("seed", range(3))
def test_packed_optimum_equals_staged_on_generated_rounds(seed: int) -> None:
    """Objective levels 1-4 and the lottery on 300-student generated rounds, with the cost
    limit both at its default and so low that every level needs a pack of its own or two."""
    doc = generate_round(300, seed=seed, summer=False)
    _same_optimum(doc)
    _same_optimum(doc, cost_limit=1 << 36)


def test_packs_are_fewer_and_within_the_cost_limit() -> None:
    """Objective levels: five levels pack into fewer stages, each below the cost limit."""
    built = _network(generate_round(300, seed=1, summer=False))
    assert built is not None
    net, levels = built
    packs = pack_levels(net, levels)
    assert len(packs) <= 2
    assert len(packs) < len(levels)
    for pack in packs:
        assert int(np.abs(pack.cost).max()) * (net.n_nodes + 1) < 1 << 60
    assert "+".join(p.name for p in packs) == "+".join(level.name for level in levels)


@pytest.mark.parametrize("seed", range(3))
def test_reused_face_gives_the_optimum_of_a_fresh_network(seed: int) -> None:
    """Objective levels: a second solve that changes the mentored level starts from the kept
    face of the placed level and still reaches the optimum a fresh network reaches."""
    doc = generate_round(300, seed=seed, summer=False)
    built, fresh = _network(doc), _network(doc)
    assert built is not None
    assert fresh is not None
    net, levels = built
    ok, _, first_stages = solve_lexicographic(net, levels)
    assert ok
    assert first_stages == len(levels)
    # Another mentored level (every pair arc counts), as a re-placement would bring.
    changed = list(levels)
    other = net.zeros()
    other[net.arcs("pair")] = -1
    changed[1] = type(levels[1])("mentored", other)
    ok, reused, stages = solve_lexicographic(net, changed)
    assert ok
    assert stages == len(levels) - 1
    fresh_net, _ = fresh
    ok, alone, _ = solve_lexicographic(fresh_net, changed)
    assert ok
    assert _values(changed, reused) == _values(changed, alone)
