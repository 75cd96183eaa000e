"""The round as a lexicographic min-cost flow: exact for everything but community-mentor meetings.

Network (every arc capacity in brackets):

    source -[1]-> student -[1]-> slot -[slot cap]-> opportunity -[opp cap]-> opportunity'
    opportunity' -[∞]-> sink                      (no workplace mentor required)
    opportunity' -[∞]-> mentor -[mentor cap]-> sink (a workplace mentor required: H8)
    source -[students]-> sink                     (the unplaced)

Pinned students carry their own unit of supply and only their pinned arcs (H9).

The four objective levels (and the seeded lottery that breaks the remaining ties) are costs on
arcs. Consecutive levels whose ranges allow it are packed into one 64-bit cost (see
`pack_levels`, which proves the packing exact), one min-cost-flow stage per pack. Between
stages, node potentials from the residual graph fix every arc whose reduced cost is non-zero to
its only optimal value, which restricts the next stage to the optimal face of the previous
ones. That is exact lexicographic optimisation: a pack never exceeds what the cost-scaling
algorithm accepts, whatever the size of the round, and each stage runs on a network the
previous ones have pruned. Typically two stages instead of five.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from solver.eligibility import Eligibility
from solver.instance import Instance, IntArray

log = logging.getLogger(__name__)

# Keep max |arc cost| * (nodes + 1) below this: the cost-scaling algorithm multiplies costs by
# the node count, and OR-Tools refuses larger ranges (BAD_COST_RANGE).
COST_LIMIT = 1 << 60


@dataclass(frozen=True, slots=True)
class Level:
    """One objective level: a cost per arc, to minimise."""

    name: str
    cost: IntArray


@dataclass(frozen=True, slots=True)
class Face:
    """The optimal face of some levels: per arc 0 free, 1 fixed at zero, 2 fixed at capacity
    (one byte per arc, so keeping a few is cheap even at millions of arcs)."""

    state: npt.NDArray[np.int8]
    supply: IntArray


class Network:
    """Arcs of the layered network as parallel arrays, built once per solve."""

    def __init__(
        self,
        inst: Instance,
        elig: Eligibility,
        pair_allowed: IntArray,
        pinned: IntArray,
        pinned_mentor: dict[int, int],
    ) -> None:
        n, n_slot, n_opp, n_mentor = (
            inst.n_students,
            inst.n_slots,
            inst.n_opps,
            len(inst.problem.mentors),
        )
        self.source, self.sink = 0, 1
        self.student0 = 2
        self.slot0 = self.student0 + n
        self.opp0 = self.slot0 + n_slot
        self.oppout0 = self.opp0 + n_opp
        self.mentor0 = self.oppout0 + n_opp
        self.n_nodes = self.mentor0 + n_mentor
        tails: list[IntArray] = []
        heads: list[IntArray] = []
        caps: list[IntArray] = []
        kinds: list[str] = []

        def add(kind: str, t: npt.ArrayLike, h: npt.ArrayLike, c: npt.ArrayLike) -> None:
            tails.append(np.asarray(t, dtype=np.int64))
            heads.append(np.asarray(h, dtype=np.int64))
            caps.append(np.asarray(c, dtype=np.int64))
            kinds.append(kind)

        # Pairs the student may take (eligibility, then pins); each is a student->slot arc.
        self.pair_index = np.nonzero(pair_allowed)[0]
        ps, pslot = elig.student[self.pair_index], elig.slot[self.pair_index]
        has_pair = np.zeros(n, dtype=np.bool_)
        has_pair[ps] = True
        self.is_pinned = np.zeros(n, dtype=np.bool_)
        self.is_pinned[pinned] = True
        free = np.nonzero(has_pair & ~self.is_pinned)[0]
        self.free_students = free
        add("source", np.zeros(free.size), self.student0 + free, np.ones(free.size))
        add("bypass", np.array([self.source]), np.array([self.sink]), np.array([free.size]))
        add("pair", self.student0 + ps, self.slot0 + pslot, np.ones(ps.size))
        add("slot", self.slot0 + np.arange(n_slot), self.opp0 + inst.slot_opp, inst.slot_capacity)
        add("opp", self.opp0 + np.arange(n_opp), self.oppout0 + np.arange(n_opp), inst.opp_capacity)
        plain = np.nonzero(~inst.requires_mentor)[0]
        add("exit", self.oppout0 + plain, np.full(plain.size, self.sink), inst.opp_capacity[plain])
        om_o = [o for o in range(n_opp) for _ in inst.workplace_mentors[o]]
        om_m = [m for o in range(n_opp) for m in inst.workplace_mentors[o]]
        add(
            "opp_mentor",
            self.oppout0 + np.array(om_o, dtype=np.int64),
            self.mentor0 + np.array(om_m, dtype=np.int64),
            inst.opp_capacity[np.array(om_o, dtype=np.int64)],
        )
        # Students pinned with a named workplace mentor hold a seat reserved for them.
        reserved = np.zeros(n_mentor, dtype=np.int64)
        by_opp = np.zeros(n_opp, dtype=np.int64)
        for s, m in pinned_mentor.items():
            reserved[m] += 1
            by_opp[int(inst.slot_opp[elig.slot[self.pair_index[ps == s][0]]])] += 1
        self.reserved_ok = bool((reserved <= inst.mentor_capacity).all())
        reserved_opps = np.nonzero(by_opp)[0]
        add(
            "pinned_mentor",
            self.oppout0 + reserved_opps,
            np.full(reserved_opps.size, self.sink),
            by_opp[reserved_opps],
        )
        add(
            "mentor",
            self.mentor0 + np.arange(n_mentor),
            np.full(n_mentor, self.sink),
            np.maximum(inst.mentor_capacity - reserved, 0),
        )
        sizes = [t.size for t in tails]
        starts = np.concatenate([[0], np.cumsum(sizes)])
        self.range = {k: (int(starts[i]), int(starts[i + 1])) for i, k in enumerate(kinds)}
        self.tail = np.concatenate(tails)
        self.head = np.concatenate(heads)
        self.cap = np.concatenate(caps)
        self.supply = np.zeros(self.n_nodes, dtype=np.int64)
        self.supply[self.source] = free.size
        self.supply[self.student0 + pinned] = 1
        self.supply[self.sink] = -(free.size + pinned.size)
        # The optimal face after each prefix of levels solved so far (see `solve_lexicographic`).
        self.faces: dict[bytes, Face] = {}

    def arcs(self, kind: str) -> slice:
        a, b = self.range[kind]
        return slice(a, b)

    def zeros(self) -> IntArray:
        return np.zeros(self.tail.size, dtype=np.int64)


def level_span(net: Network, cost: IntArray) -> int:
    """How far the level's total cost can vary over all flows of the network: max - min.

    Arcs from a student to a slot carry at most one unit per student (the student's supply),
    so each student adds at most its dearest pair arc (or nothing) and at least its cheapest
    (or nothing); every other arc adds between 0 and cost x capacity."""
    pairs = net.arcs("pair")
    other = np.ones(cost.size, dtype=np.bool_)
    other[pairs] = False
    c, u = cost[other], net.cap[other]
    span = int((np.maximum(c, 0) * u).sum()) - int((np.minimum(c, 0) * u).sum())
    pc = cost[pairs]
    if pc.size:
        who = net.tail[pairs] - net.student0
        hi = np.zeros(net.n_nodes, dtype=np.int64)
        lo = np.zeros(net.n_nodes, dtype=np.int64)
        np.maximum.at(hi, who, pc)
        np.minimum.at(lo, who, pc)
        span += int(hi.sum()) - int(lo.sum())
    return span


def pack_levels(net: Network, levels: Sequence[Level], cost_limit: int = COST_LIMIT) -> list[Level]:
    """Consecutive levels packed into single costs, most important first, each pack as large
    as the cost-scaling algorithm accepts (max |arc cost| x (nodes + 1) < `cost_limit`).

    Why a pack is exact: let levels 1..k of a pack have integer totals T_i over a flow, each
    varying over a range of width D_i = `level_span` (so two flows' T_i differ by at most D_i).
    Weigh level k by w_k = 1 and level i by w_i = w_(i+1) x (D_(i+1) + 1). Between two flows,
    if T_1..T_(i-1) are equal and T_i is smaller by at least 1, the packed total is smaller by
    at least w_i - sum over j > i of w_j x D_j = w_i - (w_i - 1) = 1 (the sum telescopes:
    w_j x D_j = w_(j-1) - w_j). So the packed minimum is the lexicographic minimum of the
    levels in it, and the pack's face restriction is the staged one's. Weights are Python
    integers and the limit is checked before any 64-bit array is formed, so nothing overflows.
    Built from the least important level up, so small levels pack together."""
    packs: list[list[Level]] = []
    weights: list[list[int]] = []
    for level in reversed(levels):
        top = int(np.abs(level.cost).max(initial=0))
        if packs:
            group, ws = packs[-1], weights[-1]
            w = ws[-1] * (level_span(net, group[-1].cost) + 1)
            reach = sum(
                wj * int(np.abs(lj.cost).max(initial=0)) for wj, lj in zip(ws, group, strict=True)
            )
            if (reach + w * top) * (net.n_nodes + 1) < cost_limit:
                group.append(level)
                ws.append(w)
                continue
        packs.append([level])
        weights.append([1])
    out = []
    for group, ws in zip(reversed(packs), reversed(weights), strict=True):
        if len(group) == 1:
            out.append(group[0])
            continue
        cost = np.zeros_like(group[0].cost)
        for w, level in zip(ws, group, strict=True):
            cost += np.int64(w) * level.cost
        out.append(Level("+".join(lv.name for lv in reversed(group)), cost))
    return out


def shortest_distances(n_nodes: int, tail: IntArray, head: IntArray, cost: IntArray) -> IntArray:
    """Bellman-Ford from a virtual root joined to every node at cost 0 (frontier-driven).

    Called on the residual graph of an optimal flow, which has no negative cycle.
    """
    dist = np.zeros(n_nodes, dtype=np.int64)
    changed = np.ones(n_nodes, dtype=np.bool_)
    for _ in range(n_nodes + 1):
        active = changed[tail]
        if not active.any():
            return dist
        t, h, c = tail[active], head[active], cost[active]
        before = dist.copy()
        np.minimum.at(dist, h, dist[t] + c)
        changed = dist < before
    raise RuntimeError("negative cycle in the residual graph: the flow was not optimal")


def solve_lexicographic(
    net: Network,
    levels: Sequence[Level],
    progress: Callable[[str], None] | None = None,
    *,
    pack: bool = False,
    cost_limit: int = COST_LIMIT,
) -> tuple[bool, IntArray, int]:
    """Minimise `levels` in order over the network; returns (feasible, flow per arc, stages).

    `pack` True packs consecutive levels into single costs (`pack_levels`): exact, but not
    the default, since on this machine the cost-scaling algorithm took as long or longer on a
    packed cost as on its levels one by one (bench/RESULTS.md, issue 13).

    Each stage starts from the optimal face of the levels before it; faces are kept on the
    network, so a later call whose first levels are the same (re-placements around mentor
    meetings change the mentored level only, the bounds drop it) starts where the earlier
    call had got, instead of solving those levels again."""
    n_arcs = net.tail.size
    active = np.ones(n_arcs, dtype=np.bool_)
    fixed = np.zeros(n_arcs, dtype=np.int64)  # flow of arcs fixed at capacity
    supply = net.supply.copy()
    flow = np.zeros(n_arcs, dtype=np.int64)
    # A level with no cost anywhere changes nothing: skip its stage (but always solve once).
    levels = [level for level in levels if level.cost.any()] or list(levels[:1])
    if pack:
        levels = pack_levels(net, levels, cost_limit)
    keys: list[bytes] = []
    digest = hashlib.sha256()
    for level in levels:
        digest.update(level.name.encode())
        digest.update(np.ascontiguousarray(level.cost).tobytes())
        keys.append(digest.copy().digest())
    first = 0
    for k in range(len(levels) - 1, 0, -1):
        face = net.faces.get(keys[k - 1])
        if face is not None:
            active = face.state == 0
            fixed = np.where(face.state == 2, net.cap, 0)
            supply = face.supply.copy()
            first = k
            log.info("levels %s: optimal face reused", "+".join(lv.name for lv in levels[:k]))
            break
    for number, level in enumerate(levels, start=1):
        if number <= first:
            continue
        cost, names = level.cost, level.name
        if int(np.abs(cost).max(initial=0)) * (net.n_nodes + 1) >= cost_limit:
            raise ValueError(f"level {names} has costs too large for a 64-bit flow")
        if progress is not None:
            progress(f"flow stage {number}/{len(levels)}: {names}")
        idx = np.nonzero(active)[0]
        mcf = min_cost_flow.SimpleMinCostFlow()
        if idx.size:
            mcf.add_arcs_with_capacity_and_unit_cost(
                net.tail[idx], net.head[idx], net.cap[idx], cost[idx]
            )
        # Nodes without arcs still need to exist for their (zero) supply.
        mcf.set_nodes_supplies(np.arange(net.n_nodes), supply)
        started = time.perf_counter()
        status = mcf.solve()
        if status == mcf.INFEASIBLE:
            return False, flow, number
        if status != mcf.OPTIMAL:
            raise RuntimeError(f"min-cost flow stage {names} ended with status {status}")
        flow = fixed.copy()
        flow[idx] = mcf.flows(np.arange(idx.size))
        log.info(
            "stage %s: %d arcs, cost %d, %.1fs",
            names,
            idx.size,
            mcf.optimal_cost(),
            time.perf_counter() - started,
        )
        if number == len(levels):
            break
        # Restrict the next stage to the optimal face: reduced costs via residual potentials.
        solved = time.perf_counter()
        t, h, c, f, u = net.tail[idx], net.head[idx], cost[idx], flow[idx], net.cap[idx]
        fwd, back = f < u, f > 0
        dist = shortest_distances(
            net.n_nodes,
            np.concatenate([t[fwd], h[back]]),
            np.concatenate([h[fwd], t[back]]),
            np.concatenate([c[fwd], -c[back]]),
        )
        log.info("stage %s: potentials %.1fs", names, time.perf_counter() - solved)
        reduced = c + dist[t] - dist[h]
        to_zero = idx[reduced > 0]
        to_full = idx[reduced < 0]
        active[to_zero] = False
        active[to_full] = False
        fixed[to_full] = net.cap[to_full]
        np.subtract.at(supply, net.tail[to_full], net.cap[to_full])
        np.add.at(supply, net.head[to_full], net.cap[to_full])
        state = np.where(active, 0, np.where(fixed > 0, 2, 1)).astype(np.int8)
        net.faces[keys[number - 1]] = Face(state=state, supply=supply.copy())
    return True, flow, len(levels) - first
