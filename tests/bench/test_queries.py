"""The queries benchmark runs end to end on tiny rounds: a row for every query, SQL statements
counted, and the same statements per call at two round sizes (no N+1)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bench.queries import main, report, run
from scheduler import queries as q

QUERIES = (
    "round_dashboard",
    "unplaced_reasons",
    "assignments_page",
    "student_story",
    "move_targets",
    "employer_view",
    "compare_runs",
    "find_student",
)
# Queries whose statements depend on the one student asked about (a school, a travel group,
# opportunities that need a mentor...), never on the round's size: the most a call may run.
# A story is 10 statements plus the access check that the student belongs to the round.
PER_STUDENT_BOUND = {"student_story": 11, "move_targets": 20}


@pytest.fixture(scope="module")
def results() -> tuple[dict[str, Any], dict[str, Any]]:
    """The benchmark at 300 and at 1,000 students, 4 calls a row, on SQLite."""
    return run(300, 1, 4, time_limit=10), run(1000, 1, 4, time_limit=10)


def test_every_query_every_sort_and_filter_has_a_row(
    results: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Each query of scheduler.queries is timed, each sort and each filter of the page too,
    with a median, a p95 and the statements of every call."""
    small, _ = results
    rows = small["rows"]
    assert {r["query"] for r in rows} == set(QUERIES)
    whats = [r["what"] for r in rows if r["query"] == "assignments_page"]
    for sort in q.SORTS:
        assert f"first page, sort {sort}" in whats
    for word in ("school", "cluster", "employer", "opportunity", "group", "status", "search"):
        assert any(w.startswith(f"filter {word}") for w in whats), word
    for r in rows:
        assert r["calls"] == 4
        assert 0 < r["median_ms"] <= r["p95_ms"] <= r["max_ms"]
        assert 0 < r["statements_min"] <= r["statements"]
    text = report(small, "python -m bench.queries --students 300 --repeat 4")
    assert text.count("\n| `") == len(rows)


def test_statements_per_call_do_not_grow_with_the_round(
    results: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """No N+1: every row runs the same statements at 300 and at 1,000 students; the queries
    about one student stay within their bound at both sizes."""
    small, large = results
    assert [(r["query"], r["what"].split(" ")[0]) for r in small["rows"]] == [
        (r["query"], r["what"].split(" ")[0]) for r in large["rows"]
    ]
    for a, b in zip(small["rows"], large["rows"], strict=True):
        bound = PER_STUDENT_BOUND.get(a["query"])
        if bound is None:
            assert a["statements"] == b["statements"], (a, b)
            assert a["statements_min"] == a["statements"] == b["statements_min"], (a, b)
        else:
            assert max(a["statements"], b["statements"]) <= bound, (a, b)


def test_command_line_prints_the_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bench.queries` prints the Markdown table and writes every sample as JSON;
    `--keep` leaves the database, which `--reuse` measures again without the set-up."""
    out = tmp_path / "queries.json"
    main(["--students", "60", "--repeat", "1", "--time-limit", "5", "--json", str(out), "--keep"])
    captured = capsys.readouterr()
    assert "| query | what | median ms | p95 ms | statements |" in captured.out
    assert '"samples"' in out.read_text(encoding="utf-8")
    kept = Path(captured.err.split("kept: ")[1].split()[0])
    try:
        main(["--reuse", str(kept), "--repeat", "1"])
        again = capsys.readouterr().out
        assert "60 students" in again
        assert "(reused)" in again
    finally:
        shutil.rmtree(kept.parent)
