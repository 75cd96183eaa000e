"""The solver's public surface and its purity."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import solver
from solver.problem import Location
from solver.travel import estimate_matrix, estimate_minutes, haversine_km, haversine_pairs


def test_public_api_is_exported() -> None:
    """Public API: every name in __all__ exists, and nothing public is missing from it."""
    for name in solver.__all__:
        assert hasattr(solver, name), name
    assert sorted(solver.__all__) == sorted(
        [
            "Previous",
            "Problem",
            "ProblemError",
            "Progress",
            "Solution",
            "SolveOptions",
            "check_solution",
            "load_problem",
            "read_problem",
            "refusal_codes",
            "solve",
        ]
    )


def test_solver_loads_no_database_or_web_code() -> None:
    """Layering: importing and using solver/ loads neither sqlalchemy nor flask."""
    code = (
        "import sys, solver, solver.solve, solver.check, solver.mentoring\n"
        "names = ('sqlalchemy', 'flask', 'scheduler', 'models', 'web')\n"
        "bad = [m for m in names if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_vectorised_estimate_equals_scalar_formula() -> None:
    """H4 travel: the numpy estimate is the spec's scalar formula, minute for minute."""
    rng = np.random.default_rng(7)
    lat1 = rng.uniform(41.5, 42.2, 5000)
    lon1 = rng.uniform(-88.2, -87.3, 5000)
    lat2 = rng.uniform(41.5, 42.2, 5000)
    lon2 = rng.uniform(-88.2, -87.3, 5000)
    distances = haversine_pairs(lat1, lon1, lat2, lon2)
    for mode in ("walk", "bike", "transit", "car"):
        vector = estimate_matrix(distances, mode)
        for i in range(0, 5000, 7):
            scalar_d = haversine_km(
                Location(lat=lat1[i], lon=lon1[i]), Location(lat=lat2[i], lon=lon2[i])
            )
            assert vector[i] == estimate_minutes(scalar_d, mode)


def test_estimate_known_distance() -> None:
    """H4 travel: 4.8 km on foot is 60 * 1.3 * 4.8 / 4.8 = 78 minutes; by car 5 + 78*4.8/35."""
    assert estimate_minutes(4.8, "walk") == 78
    # 5 + 60 * 1.3 * 4.8 / 35 = 5 + 10.697... -> 16
    assert estimate_minutes(4.8, "car") == 16
    # Exactly on a whole minute stays there: 10 + 60 * 1.3 * 0 / 18 = 10.
    assert estimate_minutes(0.0, "transit") == 10
