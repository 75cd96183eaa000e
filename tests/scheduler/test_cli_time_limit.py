"""`wbl solve --time-limit` is the whole command's (issue 13): a limit too short for the round
is refused before any work, in one line with exit status 2, unless `--force`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import scheduler.cli as cli
from scheduler.cli import main
from solver import check_solution


@pytest.fixture
def round_file(tmp_path: Path) -> Path:
    path = tmp_path / "round.json"
    result = CliRunner().invoke(
        main, ["generate", "--students", "150", "--seed", "4", "-o", str(path)]
    )
    assert result.exit_code == 0, result.output
    return path


def test_too_short_limit_is_refused_before_solving(
    tmp_path: Path, round_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time limit: a round estimated at 100 s with --time-limit 5 exits 2 with one line and
    writes nothing."""
    monkeypatch.setattr(cli, "estimate_seconds", lambda students: 100.0)
    out = tmp_path / "solution.json"
    result = CliRunner().invoke(
        main, ["solve", str(round_file), "-o", str(out), "--time-limit", "5"]
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--time-limit 5 is too short for 150 students" in lines[0]
    assert "--force" in lines[0]
    assert not out.exists()


def test_force_solves_anyway(
    tmp_path: Path, round_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time limit: with --force the too-short limit is overrun, and the answer is valid."""
    monkeypatch.setattr(cli, "estimate_seconds", lambda students: 100.0)
    out = tmp_path / "solution.json"
    result = CliRunner().invoke(
        main, ["solve", str(round_file), "-o", str(out), "--time-limit", "5", "--force", "-q"]
    )
    assert result.exit_code == 0, result.output
    solution = json.loads(out.read_text())
    assert check_solution(json.loads(round_file.read_text()), solution) == []


def test_limit_passed_to_the_solver_leaves_time_for_reading_and_writing(
    tmp_path: Path, round_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time limit: the solver gets the command's limit minus reading and writing."""
    seen: list[float] = []
    real = cli.solve

    def spy(problem, options):  # type: ignore[no-untyped-def]
        seen.append(options.time_limit)
        return real(problem, options)

    monkeypatch.setattr(cli, "solve", spy)
    out = tmp_path / "solution.json"
    result = CliRunner().invoke(
        main, ["solve", str(round_file), "-o", str(out), "--time-limit", "30", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert len(seen) == 1
    assert 0 < seen[0] < 30
