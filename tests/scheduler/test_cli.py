"""The `wbl` command line: solve, check, generate, their exit codes and their files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from scheduler.cli import main
from scheduler.rounds import canonical
from solver import check_solution
from solver.io import expand_travel_groups
from tests.gtfs_data import CAIRNS_EXTRACT
from tests.solver.factories import make_doc, opportunity, slot, student, weekly


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def round_file(tmp_path: Path, runner: CliRunner) -> Path:
    path = tmp_path / "round.json"
    result = runner.invoke(main, ["generate", "--students", "150", "--seed", "4", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_generate_writes_a_valid_round(round_file: Path) -> None:
    """generate: a wbl-problem/1 document with the requested number of students."""
    doc = json.loads(round_file.read_text())
    assert doc["format"] == "wbl-problem/1"
    assert len(doc["students"]) == 150


def test_solve_then_check(tmp_path: Path, runner: CliRunner, round_file: Path) -> None:
    """solve writes a solution that check accepts; the summary names placed and reasons."""
    out = tmp_path / "solution.json"
    result = runner.invoke(main, ["solve", str(round_file), "-o", str(out), "--time-limit", "10"])
    assert result.exit_code == 0, result.output
    assert "placed" in result.output
    solution = json.loads(out.read_text())
    assert solution["format"] == "wbl-solution/1"
    assert check_solution(json.loads(round_file.read_text()), solution) == []
    checked = runner.invoke(main, ["check", str(round_file), str(out)])
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("ok")


def test_check_lists_violations_and_exits_1(
    tmp_path: Path, runner: CliRunner, round_file: Path
) -> None:
    """check: a solution that overfills a slot is refused with exit status 1."""
    out = tmp_path / "solution.json"
    runner.invoke(main, ["solve", str(round_file), "-o", str(out), "-q"])
    solution = json.loads(out.read_text())
    doc = json.loads(round_file.read_text())
    first = solution["assignments"][0]
    slot = next(sl for o in doc["opportunities"] for sl in o["slots"] if sl["id"] == first["slot"])
    slot["capacity"] = 0
    bad_round = tmp_path / "shrunk.json"
    bad_round.write_text(json.dumps(doc))
    result = runner.invoke(main, ["check", str(bad_round), str(out)])
    assert result.exit_code == 1
    assert "H2" in result.output


def test_invalid_problem_exit_2_lists_every_path(tmp_path: Path, runner: CliRunner) -> None:
    """Bad input: every defect with its JSON path, exit status 2, no output file, no traceback."""
    doc = make_doc(
        [
            student(
                id="a",
                travel_modes=["walk", "teleport"],
                busy=[weekly("mon", "15:00", "14:00")],
            )
        ],
        [],
    )
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "never.json"
    result = runner.invoke(main, ["solve", str(path), "-o", str(out)])
    assert result.exit_code == 2
    assert "students[0].busy[0].end" in result.output
    assert "students[0].travel_modes[1]" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_invalid_json_exit_2(tmp_path: Path, runner: CliRunner) -> None:
    """Bad input: text that is not JSON is refused with its position, exit status 2."""
    path = tmp_path / "broken.json"
    path.write_text('{"format": "wbl-problem/1",')
    result = runner.invoke(main, ["solve", str(path), "-o", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert "invalid JSON" in result.output


def test_missing_file_exit_2(tmp_path: Path, runner: CliRunner) -> None:
    """Bad input: a missing problem file is a clear message, not a traceback."""
    result = runner.invoke(
        main, ["solve", str(tmp_path / "nope.json"), "-o", str(tmp_path / "x.json")]
    )
    assert result.exit_code == 2
    assert "nope.json" in result.output


def test_infeasible_pins_exit_3(tmp_path: Path, runner: CliRunner) -> None:
    """H9: pins that cannot hold give status infeasible, the pins named, exit status 3."""
    doc = make_doc(
        [student(id=s, travel_modes=["car"]) for s in ("a", "b")],
        [opportunity(id="o", slots=[slot(id="s1", capacity=1)])],
        pins=[{"student": "a", "opportunity": "o"}, {"student": "b", "opportunity": "o"}],
    )
    path = tmp_path / "pins.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "sol.json"
    result = runner.invoke(main, ["solve", str(path), "-o", str(out)])
    assert result.exit_code == 3, result.output
    solution = json.loads(out.read_text())
    assert solution["status"] == "infeasible"
    assert solution["infeasible_pins"] == [0, 1]
    assert check_solution(doc, solution) == []


def test_resolve_with_previous_lists_changes(
    tmp_path: Path, runner: CliRunner, round_file: Path
) -> None:
    """solve --previous: the same round re-solved keeps every placement and says so."""
    first = tmp_path / "first.json"
    runner.invoke(main, ["solve", str(round_file), "-o", str(first), "-q"])
    again = tmp_path / "again.json"
    result = runner.invoke(
        main, ["solve", str(round_file), "-o", str(again), "--previous", str(first), "--seed", "7"]
    )
    assert result.exit_code == 0, result.output
    assert "0 moved or unplaced" in result.output
    doc = json.loads(again.read_text())
    assert doc["changes"] == []
    before = {a["student"]: a["slot"] for a in json.loads(first.read_text())["assignments"]}
    assert {a["student"]: a["slot"] for a in doc["assignments"]} == before


GTFS = CAIRNS_EXTRACT


def test_generate_and_solve_on_a_real_timetable(tmp_path: Path, runner: CliRunner) -> None:
    """H4 with a GTFS feed: a round laid on Cairns, solved with measured transit minutes."""
    path = tmp_path / "cairns.json"
    result = runner.invoke(
        main, ["generate", "--students", "120", "--seed", "2", "--gtfs", str(GTFS), "-o", str(path)]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(path.read_text())
    assert doc["round"]["timezone"] == "Australia/Brisbane"
    overrides = {
        (t["student"], t["opportunity"]): t["minutes"] for t in expand_travel_groups(doc)["travel"]
    }
    assert overrides
    out = tmp_path / "sol.json"
    result = runner.invoke(main, ["solve", str(path), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    solution = json.loads(out.read_text())
    assert check_solution(doc, solution) == []
    measured = [
        a
        for a in solution["assignments"]
        if a["travel_mode"] == "transit" and (a["student"], a["opportunity"]) in overrides
    ]
    assert measured  # some placements travel at a timetable's time
    entries = {
        (sid, t["opportunity"]): t
        for g in doc["travel_groups"]
        for sid in g["students"]
        for t in g["travel"]
    }
    for a in measured:
        # The slot's longest trip by block (`trips`), or the entry's minutes where none listed.
        t = entries[a["student"], a["opportunity"]]
        times = {t["minutes"]} | {
            m for legs in t.get("trips", {}).values() for d in legs.values() for m in d.values()
        }
        assert a["travel_minutes"] in times


def test_bad_gtfs_feed_exit_2(tmp_path: Path, runner: CliRunner, round_file: Path) -> None:
    """Bad input: a file that is not a GTFS feed is refused with a message, exit status 2."""
    bogus = tmp_path / "feed.zip"
    bogus.write_text("not a zip")
    result = runner.invoke(
        main, ["solve", str(round_file), "-o", str(tmp_path / "x.json"), "--gtfs", str(bogus)]
    )
    assert result.exit_code == 2
    assert "not a GTFS feed" in result.output


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    """make demo: database, import, a worker solving through the queue, check, summary."""
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scheduler.cli",
            "demo",
            "--students",
            "200",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: the solution satisfies H1-H9" in result.stdout
    assert "placed" in result.stdout
    assert (tmp_path / "wbl.db").exists()


def test_round_transit_measures_a_stored_round(tmp_path: Path) -> None:
    """`wbl round transit`: a round in the database gets the timetable's groups, as generated;
    a second measurement replaces them; an unknown round is refused (exit 2)."""
    from scheduler.gtfs_round import generate_round_on_feed

    doc = generate_round_on_feed(150, GTFS, seed=2)
    bare = {**doc, "travel_groups": []}
    path = tmp_path / "round.json"
    path.write_text(json.dumps(bare))
    env = {**os.environ, "WBL_DATABASE_URL": f"sqlite:///{tmp_path / 'wbl.db'}"}
    env.pop("WBL_GTFS_PATH", None)
    wbl = str(Path(sys.executable).with_name("wbl"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [wbl, *args], env=env, capture_output=True, text=True, check=False, timeout=300
        )

    assert run("db", "upgrade").returncode == 0
    assert run("import-round", str(path), "--program", "cairns").returncode == 0
    rid = doc["round"]["id"]
    for _ in range(2):
        measured = run("round", "transit", rid, "--program", "cairns", "--gtfs", str(GTFS))
        assert measured.returncode == 0, measured.stderr
        groups = len(doc["travel_groups"])
        assert f"in {groups} groups" in measured.stdout
        assert "the upper median of 12 departures" in measured.stdout  # which median
        assert f"measuring on {GTFS.name}" in measured.stderr  # progress while it works
    exported = run("export-round", rid, "--program", "cairns")
    assert exported.returncode == 0, exported.stderr
    assert canonical(json.loads(exported.stdout)) == canonical(doc)
    plain = run("export-round", rid, "--program", "cairns", "--plain")
    assert plain.returncode == 0, plain.stderr
    assert "travel_groups" not in json.loads(plain.stdout)
    assert canonical(json.loads(plain.stdout)) == canonical(expand_travel_groups(doc))
    missing = run("round", "transit", "nope", "--program", "cairns", "--gtfs", str(GTFS))
    assert missing.returncode == 2
    assert "no round 'nope'" in missing.stderr


# --- Issue 9: messages a coordinator can act on -----------------------------------------------


def _write_doc(tmp_path: Path, doc: dict[str, object], name: str = "round.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_infeasible_pins_name_student_opportunity_and_rule(
    tmp_path: Path, runner: CliRunner
) -> None:
    """H9: each conflicting pin is named by student and opportunity, with the rule it breaks."""
    doc = make_doc(
        [student(id=s, travel_modes=["car"]) for s in ("a", "b")],
        [opportunity(id="o", slots=[slot(id="s1", capacity=1)])],
        pins=[{"student": "a", "opportunity": "o"}, {"student": "b", "opportunity": "o"}],
    )
    result = runner.invoke(
        main, ["solve", str(_write_doc(tmp_path, doc)), "-o", str(tmp_path / "s.json")]
    )
    assert result.exit_code == 3
    assert "pins[0]: student a at opportunity o: H2 seats: 2 of these pins share" in result.output
    assert "pins[1]: student b at opportunity o" in result.output


def test_summary_separates_seats_taken_from_eligible_nowhere(
    tmp_path: Path, runner: CliRunner
) -> None:
    """Summary: 'eligible, seats went to others' apart from 'eligible nowhere', in words."""
    doc = make_doc(
        [
            student(id="a", travel_modes=["car"], priority=1),
            student(id="b", travel_modes=["car"]),
            student(id="c", travel_modes=["walk"], max_commute_minutes=1),
        ],
        [opportunity(id="o", slots=[slot(id="s1", capacity=1)])],
    )
    result = runner.invoke(
        main, ["solve", str(_write_doc(tmp_path, doc)), "-o", str(tmp_path / "s.json")]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    crowded = next(i for i, x in enumerate(lines) if "seats went to others" in x)
    nowhere = next(i for i, x in enumerate(lines) if "eligible nowhere" in x)
    assert lines[crowded].split()[0] == "1"
    assert "Seats taken" in lines[crowded + 1]
    assert lines[nowhere].split()[0] == "1"
    assert "Commute too long" in lines[nowhere + 1]
    assert "(commute_too_long)" in lines[nowhere + 1]


def test_solution_given_as_problem_is_one_line(
    tmp_path: Path, runner: CliRunner, round_file: Path
) -> None:
    """Swapped documents: a solution where a problem goes (and the reverse) is one line."""
    sol = tmp_path / "sol.json"
    assert runner.invoke(main, ["solve", str(round_file), "-o", str(sol), "-q"]).exit_code == 0
    result = runner.invoke(main, ["solve", str(sol), "-o", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"{sol}: this is a wbl-solution/1 document; a wbl-problem/1 document goes here"
    )
    for args in (
        ["check", str(round_file), str(round_file)],
        ["solve", str(round_file), "-o", str(tmp_path / "y.json"), "--previous", str(round_file)],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 2
        assert result.output.strip() == (
            f"{round_file}: this is a wbl-problem/1 document; a wbl-solution/1 document goes here"
        )


def test_one_problem_is_singular(tmp_path: Path, runner: CliRunner) -> None:
    """Bad input: '1 problem', not '1 problems'."""
    doc = make_doc([student(id="a", busy=[weekly("mon", "15:00", "14:00")])], [])
    result = runner.invoke(
        main, ["solve", str(_write_doc(tmp_path, doc)), "-o", str(tmp_path / "x.json")]
    )
    assert result.exit_code == 2
    assert "(1 problem):" in result.output
    assert 'students[0].busy[0].end (student "a"): must be after start' in result.output


def test_holiday_outside_the_round_is_warned(tmp_path: Path, runner: CliRunner) -> None:
    """Holidays: one outside the round's dates is said (it would change nothing)."""
    doc = make_doc([student(id="a")], [opportunity(id="o")], holidays=["2025-11-26"])
    result = runner.invoke(
        main, ["solve", str(_write_doc(tmp_path, doc)), "-o", str(tmp_path / "x.json")]
    )
    assert result.exit_code == 0, result.output
    assert "warning: holiday 2025-11-26 is outside the round" in result.output


def test_round_of_no_students_says_so(tmp_path: Path, runner: CliRunner) -> None:
    """Solve: a round without students says there is nothing to place."""
    doc = make_doc([], [opportunity(id="o")])
    result = runner.invoke(
        main, ["solve", str(_write_doc(tmp_path, doc)), "-o", str(tmp_path / "x.json")]
    )
    assert result.exit_code == 0, result.output
    assert "the round has no students: nothing to place" in result.output


def test_export_round_says_what_it_wrote(tmp_path: Path, round_file: Path) -> None:
    """export-round -o FILE: one line naming the file, the round and its size."""
    env = {**os.environ, "WBL_DATABASE_URL": f"sqlite:///{tmp_path / 'wbl.db'}"}
    wbl = str(Path(sys.executable).with_name("wbl"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [wbl, *args], env=env, capture_output=True, text=True, check=False, timeout=300
        )

    assert run("import-round", str(round_file), "--program", "x").returncode == 0
    rid = json.loads(round_file.read_text())["round"]["id"]
    out = tmp_path / "back.json"
    result = run("export-round", rid, "--program", "x", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{out}: round {rid!r} of program 'x', 150 students")


@pytest.mark.slow
def test_demo_places_most_students(tmp_path: Path) -> None:
    """Demo: most of the district is placed, and the summary says what to do next."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scheduler.cli",
            "demo",
            "--students",
            "400",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    solution = json.loads((tmp_path / "solution.json").read_text())
    assert solution["metrics"]["placed"] > 0.55 * solution["metrics"]["students"]
    assert "eligible somewhere, but the seats went to others" in result.stdout
    assert "next steps for the coordinator:" in result.stdout
    assert "wbl round unplaced" in result.stdout
