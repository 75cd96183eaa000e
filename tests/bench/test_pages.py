"""The pages benchmark runs end to end on tiny rounds: a row for every page (absent ones
named), each present page answered 200 with its statements counted, the same statements at two
round sizes, and the Markdown table."""

from __future__ import annotations

from typing import Any

import pytest

from bench.pages import report, run
from web import create_app

# Pages about one student: their statements follow that student (school, travel group,
# mentors...), never the round's size.
PER_STUDENT = ("coordinator.student", "coordinator.move_targets")


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    """The benchmark at 300 students (statements compared at 200), 2 requests a page."""
    return run(300, 1, 2, small=200, time_limit=10)


def test_every_page_has_a_row(result: dict[str, Any]) -> None:
    """The pages that exist are timed and answer 200; the others are listed as absent."""
    views = create_app({"SECRET_KEY": "x", "DATABASE_URL": "sqlite://"}).view_functions
    rows = result["big"]["rows"]
    assert {"rounds list", "dashboard", "a student's calendar feed"} <= {r["page"] for r in rows}
    for r in rows:
        if r["endpoint"] not in views:
            assert r["absent"], r
            continue
        if r["absent"]:  # present, but the page offers nothing to follow (a tiny round)
            assert r["note"].startswith("not measured"), r
            continue
        assert r["calls"] == 2, r
        assert r["statuses"] == [200], r
        assert 0 < r["median_ms"] <= r["p95_ms"] <= r["max_ms"], r
        assert 0 < r["statements_min"] <= r["statements"], r


def test_statements_do_not_grow_with_the_round(result: dict[str, Any]) -> None:
    """Every page that is not about one student runs the same statements at both sizes."""
    small = {r["page"]: r for r in result["little"]["rows"] if "statements" in r}
    compared = 0
    for r in result["big"]["rows"]:
        if "statements" not in r or r["endpoint"] in PER_STUDENT or r["page"] not in small:
            continue
        compared += 1
        assert r["statements"] == small[r["page"]]["statements"], r["page"]
    assert compared >= 3


def test_report_has_a_line_per_page(result: dict[str, Any]) -> None:
    """The Markdown table has one line per page, absent ones included."""
    text = report(result, "python -m bench.pages --students 300 --repeat 2")
    assert text.count("\n| ") == len(result["big"]["rows"]) + 1  # and the header
    assert "absent" in text or all(not r["absent"] for r in result["big"]["rows"])
