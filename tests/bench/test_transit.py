"""The transit benchmark runs end to end on a small round, so it cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.transit import main
from tests.gtfs_data import CAIRNS_EXTRACT

GTFS = CAIRNS_EXTRACT


def test_transit_benchmark_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rows.json"
    code = main(
        [
            "--feed",
            str(GTFS),
            "--sizes",
            "150",
            # Room for a loaded machine: `wbl solve` refuses a limit below its estimate.
            "--time-limit",
            "120",
            "--out",
            str(tmp_path),
            "--json",
            str(out),
        ]
    )
    assert code == 0
    (row,) = json.loads(out.read_text())
    assert row["violations"] == 0
    assert row["groups"] > 0
    assert row["entries"] > 0
    assert row["riders"] > row["groups"]  # groups are shared: fewer groups than riders
    assert row["by_transit"] > 0
    # Measuring again on the generated round gives the generated groups: deterministic.
    assert row["measure"]["same_as_generated"] is True
    assert row["measure"]["origins"] == row["groups"]
    assert "| 150 |" in capsys.readouterr().out
    # The round measured as before block trips is solved and checked too, and its placements
    # judged on the round measured now.
    assert row["violations_before"] == 0
    assert row["placements_before"] == row["placed_before"]
    assert 0 <= row["refused_now"] <= row["placements_before"]
    assert sum(row["refused_by_code"].values()) >= row["refused_now"]
    assert row["measure"]["numbers"] > row["measure"]["numbers_before"]
