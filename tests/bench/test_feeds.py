"""The feeds benchmark runs end to end on a tiny round: a student's, the largest employer's
and a mentor's feed, built and served, and `wbl round calendars` writing every feed."""

from __future__ import annotations

import pytest

from bench.feeds import main, report, run


def test_feeds_benchmark_measures_every_feed_and_the_calendars_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each feed has a built, a served and a 304 row with medians and p95s; the command wrote
    one file per person (as many as the links publish made)."""
    result = run(60, 1, 3, time_limit=5)
    rows = {(r["feed"], r["what"]) for r in result["rows"]}
    assert rows == {
        (feed, what)
        for feed in ("student", "employer", "mentor")
        for what in ("built", "served", "served 304")
    }
    for r in result["rows"]:
        assert 0 < r["median_ms"] <= r["p95_ms"] <= r["max_ms"]
        assert r["bytes"] > 0
        assert len(r["samples"]) == 3
    employer = next(r for r in result["rows"] if r["feed"] == "employer")
    assert employer["events"] >= 1
    written = result["calendars"]
    assert written["files"] == result["setup"]["links"]
    assert written["bytes"] > 0
    text = report(result, "python -m bench.feeds --students 60")
    assert "| feed | what | median ms | p95 ms | max ms | events | bytes |" in text
    assert text.count("\n| student |") == 3
    assert main(["--students", "30", "--repeat", "1", "--time-limit", "5", "--no-calendars"]) == 0
    assert "30 students" in capsys.readouterr().out
