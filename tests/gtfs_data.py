"""The transit tests' feed: a small extract of the Cairns GTFS feed shipped with the tests
(`tests/data/gtfs/README.md`), so they run on every clone; the full feed is for benchmarks."""

from __future__ import annotations

from pathlib import Path

CAIRNS_EXTRACT = Path(__file__).resolve().parent / "data" / "gtfs" / "cairns_extract.zip"
