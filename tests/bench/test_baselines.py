"""The benchmark's baselines give valid answers, and the solver does at least as well."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.baselines import run_baseline
from bench.compare import ensure_round, run_method, update_results
from scheduler.generate import generate_round
from solver import Problem, SolveOptions, check_solution, load_problem, solve


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return generate_round(200, seed=3)


@pytest.fixture(scope="module")
def problem(doc: dict[str, Any]) -> Problem:
    return load_problem(doc)


def test_rsd_is_valid(doc: dict[str, Any], problem: Problem) -> None:
    """Random serial dictatorship keeps H1-H9 and reports its metrics right."""
    solution, _ = run_baseline(problem, "rsd", seed=0)
    assert check_solution(doc, solution) == []
    assert solution["metrics"]["placed"] > 0


def test_rsd_places_ranked_choices_only(problem: Problem) -> None:
    """Like a spreadsheet, RSD never places a student outside the ranked list (pins aside)."""
    solution, _ = run_baseline(problem, "rsd", seed=0)
    pinned = {pin.student for pin in problem.pins}
    unranked = [
        a
        for a in solution["assignments"]
        if a.get("preference_rank") is None and a["student"] not in pinned
    ]
    assert unranked == []


def test_rsd_depends_only_on_its_seed(problem: Problem) -> None:
    """The random order is seeded: the same seed gives the same placements."""
    first, _ = run_baseline(problem, "rsd", seed=5)
    again, _ = run_baseline(problem, "rsd", seed=5)
    assert first["assignments"] == again["assignments"]


def test_solver_places_at_least_as_many_weighted_as_rsd(problem: Problem) -> None:
    """The solver maximises priority-weighted placements, so RSD cannot beat it."""
    rsd, _ = run_baseline(problem, "rsd", seed=0)
    solution = solve(problem, SolveOptions(time_limit=30, workers=2, seed=0))
    assert solution.metrics is not None
    assert solution.metrics.placed_weighted >= rsd["metrics"]["placed_weighted"]


def test_matching_is_valid_after_post_processing(doc: dict[str, Any], problem: Problem) -> None:
    """The stable allocation, with its capacity and mentor breaches dropped, keeps H1-H9."""
    solution, stats = run_baseline(problem, "matching", seed=0)
    assert check_solution(doc, solution) == []
    assert stats["residents"] > 0
    assert {"dropped_opportunity_capacity", "dropped_no_mentor"} <= stats.keys()


def test_run_method_measures_its_own_process(tmp_path: Path) -> None:
    """A method runs in its own process; its metrics and its peak memory come back."""
    path, meta = ensure_round(60, 3, tmp_path)
    assert meta["students"] == 60
    run = run_method("rsd", 60, path, time_limit=10, seed=0, timeout=120, out=tmp_path)
    assert run.finished, run.failed
    assert run.metrics["students"] == 60
    assert run.peak_mb > 10


def test_run_method_reports_a_timeout(tmp_path: Path) -> None:
    """A method that runs past its timeout is killed and reported as not finished."""
    path, _ = ensure_round(60, 3, tmp_path)
    run = run_method("solver", 60, path, time_limit=10, seed=0, timeout=0.01, out=tmp_path)
    assert run.timed_out
    assert not run.finished


def test_results_keep_other_sizes(tmp_path: Path) -> None:
    """Updating the results replaces the sizes just run and keeps the others, by size."""
    path = tmp_path / "RESULTS.md"
    update_results(path, {5000: ["## 5,000 old"], 500: ["## 500 old"]})
    update_results(path, {5000: ["## 5,000 new"]})
    text = path.read_text()
    assert "5,000 new" in text
    assert "5,000 old" not in text
    assert text.index("## 500 old") < text.index("## 5,000 new")


def test_measure_reports_the_commands_own_peak(tmp_path: Path) -> None:
    """The launcher's child does not inherit this (large) process's peak RSS as its own."""
    ballast = bytearray(256 << 20)
    ballast[:: 1 << 12] = b"\1" * len(ballast[:: 1 << 12])  # touch every page: 256 MB resident
    report = tmp_path / "measure.json"
    launcher = [sys.executable, "-m", "bench.measure", "--report", str(report), "--timeout", "60"]
    subprocess.run([*launcher, "--", sys.executable, "-c", "pass"], check=True)
    measured = json.loads(report.read_text())
    del ballast
    assert measured["returncode"] == 0
    assert measured["maxrss_kb"] < 128 * 1024
