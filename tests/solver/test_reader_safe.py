"""`objective` and `bound` (issue 13): numbers every JSON reader reads the same, while the
exact values stay in `objective_levels` / `bound_levels`."""

from __future__ import annotations

import json

from solver.solution import SAFE_INTEGER, Solution, reader_safe
from tests.solver.factories import make_doc, opportunity, solve_and_check, student


def test_small_objective_is_written_as_the_exact_integer() -> None:
    """Objective: at most 2^53 it is the integer itself."""
    assert reader_safe(SAFE_INTEGER) == SAFE_INTEGER
    assert isinstance(reader_safe(SAFE_INTEGER), int)
    assert reader_safe(-12345) == -12345


def test_large_objective_is_written_as_the_nearest_double() -> None:
    """Objective: above 2^53 it is the nearest double, whose shortest decimal reads back to
    the same double (as JavaScript's JSON.parse reads it)."""
    value = (1 << 70) + 12345
    written = reader_safe(value)
    assert isinstance(written, float)
    assert written == float(value)
    text = json.dumps({"objective": written})
    assert json.loads(text)["objective"] == float(value)
    assert text == '{"objective": 1.1805916207174113e+21}'


def test_solution_document_uses_reader_safe_numbers() -> None:
    """Objective: the document carries the safe numbers and the exact levels beside them."""
    sol = Solution(
        status="feasible",
        objective=(1 << 64) + 1,
        bound=(1 << 64) + 3,
        gap=0.5,
        wall_seconds=1.0,
        objective_levels=(1, 2, 3, 4),
        bound_levels=(2, 2, 3, 4),
    ).to_dict()
    assert sol["objective"] == float(1 << 64)
    assert sol["bound"] == float(1 << 64)
    assert sol["objective_levels"]["placed_weighted"] == 1


def test_solved_round_passes_the_checker() -> None:
    """Objective: a solved round's document is accepted by the checker as before."""
    doc = make_doc([student(id="s1")], [opportunity(id="o1")])
    out = solve_and_check(doc)
    assert isinstance(out["objective"], int)
