"""Transit from a real timetable at scale: a round laid on a GTFS city, measured, solved, checked.

    python -m bench.transit --feed ../shared/data/cairns_gtfs.zip --sizes 20000,100000 \\
        [--seed 4] [--time-limit 600] [--out bench/out] [--json FILE]

For each size it runs, each in its own process (so that peak memory is the phase's own, see
`bench.measure`):

1. `wbl generate --gtfs FEED`: the generated round moved onto the city, with its transit times
   measured on the timetable (the time includes generating and the measuring);
2. the measuring alone (`transit_groups` on the generated round: one timetable search per
   origin, then the per-group entries), with how many origins, sites and entries;
3. `wbl solve` of the round (the solver reads the `travel_groups`);
4. the solution against the round with the independent checker, in this process.

It prints a Markdown table per size and the counts that matter for size: groups, riders,
entries, and how many per-student `travel` entries the same times would take written out
(members x group entries), which is what the format without groups would need.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from solver import check_solution

HERE = Path(__file__).resolve().parent


def _measured(command: list[str], timeout: float) -> dict[str, Any]:
    """Run `command` under bench.measure; its exit code, seconds and peak RSS."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        report = Path(f.name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.measure",
            "--report",
            str(report),
            "--timeout",
            str(timeout),
            "--",
            *command,
        ],
        check=False,
        cwd=HERE.parent,
    )
    result: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    report.unlink()
    return result


def measure_only(problem: Path, feed: Path, result: Path) -> None:
    """Phase 2, in its own process: the timetable measurement alone on an existing round."""
    from scheduler.transit import load_feed, transit_groups

    doc = json.loads(problem.read_text(encoding="utf-8"))
    started = time.perf_counter()
    loaded = load_feed(feed)
    load_seconds = time.perf_counter() - started
    bare = {**doc, "travel_groups": []}
    started = time.perf_counter()
    groups = transit_groups(bare, loaded)
    seconds = time.perf_counter() - started
    sites = {(o["location"]["lat"], o["location"]["lon"]) for o in doc["opportunities"]}
    result.write_text(
        json.dumps(
            {
                "feed_load_seconds": round(load_seconds, 2),
                "measure_seconds": round(seconds, 2),
                "origins": len(groups),
                "sites": len(sites),
                "same_as_generated": groups == doc["travel_groups"],
            }
        ),
        encoding="utf-8",
    )


def run_size(
    students: int, *, feed: Path, seed: int, time_limit: float, out: Path
) -> dict[str, Any]:
    wbl = str(Path(sys.executable).with_name("wbl"))
    problem = out / f"transit-{students}.json"
    solution = out / f"transit-{students}-solution.json"
    row: dict[str, Any] = {"students": students}
    gen = _measured(
        [
            wbl,
            "generate",
            "--students",
            str(students),
            "--seed",
            str(seed),
            "--gtfs",
            str(feed),
            "-o",
            str(problem),
        ],
        timeout=3600,
    )
    row["generate"] = gen
    if gen["returncode"] != 0:
        return row
    doc = json.loads(problem.read_text(encoding="utf-8"))
    groups = doc.get("travel_groups") or []
    row["groups"] = len(groups)
    row["school_groups"] = sum(1 for g in groups if "," not in g["id"])
    row["riders"] = sum(len(g["students"]) for g in groups)
    row["entries"] = sum(len(g["travel"]) for g in groups)
    row["entries_written_out"] = sum(len(g["students"]) * len(g["travel"]) for g in groups)
    row["unreachable_entries"] = sum(1 for g in groups for t in g["travel"] if t["minutes"] is None)
    row["round_mb"] = round(problem.stat().st_size / 1e6, 1)

    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        phase = Path(f.name)
    row["measure"] = _measured(
        [
            sys.executable,
            "-m",
            "bench.transit",
            "--measure-only",
            str(problem),
            "--feed",
            str(feed),
            "--result",
            str(phase),
        ],
        timeout=3600,
    )
    if row["measure"]["returncode"] == 0:
        row["measure"].update(json.loads(phase.read_text(encoding="utf-8")))
    phase.unlink()

    row["solve"] = _measured(
        [
            wbl,
            "solve",
            str(problem),
            "-o",
            str(solution),
            "--time-limit",
            str(time_limit),
            "-q",
        ],
        timeout=time_limit * 3 + 600,
    )
    if row["solve"]["returncode"] != 0:
        return row
    sol = json.loads(solution.read_text(encoding="utf-8"))
    started = time.perf_counter()
    violations = check_solution(doc, sol)
    row["check_seconds"] = round(time.perf_counter() - started, 1)
    row["violations"] = len(violations)
    row["status"] = sol["status"]
    row["placed"] = sol["metrics"]["placed"]
    transit = [a["travel_minutes"] for a in sol["assignments"] if a["travel_mode"] == "transit"]
    row["by_transit"] = len(transit)
    row["median_transit_minutes"] = statistics.median(transit) if transit else None
    return row


def _gb(kb: int) -> str:
    return f"{kb / 1e6:.2f} GB"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| students | generate (with measuring) | measuring alone | solve | check | groups"
        " (schools) | riders | group entries | written out per student | placed | by transit"
        " | violations |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gen, meas, sol = r.get("generate", {}), r.get("measure", {}), r.get("solve", {})
        lines.append(
            f"| {r['students']:,} | {gen.get('seconds', '-')} s / {_gb(gen.get('maxrss_kb', 0))}"
            f" | {meas.get('measure_seconds', '-')} s ({meas.get('origins', '-')} origins x"
            f" {meas.get('sites', '-')} sites) / {_gb(meas.get('maxrss_kb', 0))}"
            f" | {sol.get('seconds', '-')} s / {_gb(sol.get('maxrss_kb', 0))}"
            f" | {r.get('check_seconds', '-')} s"
            f" | {r.get('groups', '-')} ({r.get('school_groups', '-')})"
            f" | {r.get('riders', 0):,} | {r.get('entries', 0):,}"
            f" | {r.get('entries_written_out', 0):,} | {r.get('placed', '-')}"
            f" | {r.get('by_transit', '-')} | {r.get('violations', '-')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transit", description=__doc__)
    parser.add_argument("--feed", type=Path, required=True)
    parser.add_argument("--sizes", default="20000")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--measure-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    feed = args.feed.resolve()
    if args.measure_only is not None:
        measure_only(args.measure_only, feed, args.result)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        row = run_size(
            size, feed=feed, seed=args.seed, time_limit=args.time_limit, out=args.out.resolve()
        )
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    print(table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    failed = any(r.get("violations", 1) != 0 for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
