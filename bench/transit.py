"""Transit from a real timetable at scale: a round laid on a GTFS city, measured, solved, checked.

    python -m bench.transit --feed ../shared/data/cairns_gtfs.zip --sizes 20000,100000 \\
        [--seed 4] [--summer] [--time-limit 600] [--out bench/out] [--json FILE]

For each size it runs, each in its own process (so that peak memory is the phase's own, see
`bench.measure`):

1. `wbl generate --gtfs FEED`: the generated round moved onto the city, with its transit times
   measured on the timetable, trips by block included (the time includes generating);
2. the measuring alone (`transit_groups` on the generated round): as now (per block: the trip
   there and back of every block time of every site, on the weekday, Saturday and Sunday
   services) and as before block trips (`by_block=False`, walking only 800 m: one median time
   per pair), with how many origins, sites, entries and stored numbers; it writes the round
   measured as before beside the generated one;
3. `wbl solve` of both rounds;
4. both solutions against their rounds with the independent checker, in this process; then
   every placement of the solution measured as before judged by the solver's own one-pair
   rules (`refusal_codes`) on the round measured now: the placements the old measurement
   made that the new one refuses, by reason (and how many for want of a bus back).

It prints a Markdown table per size and the counts that matter for size.
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


def _numbers(groups: list[dict[str, Any]]) -> int:
    """Times stored: each entry's minutes and every time of its trips."""
    return sum(
        1 + sum(len(times) for legs in t.get("trips", {}).values() for times in legs.values())
        for g in groups
        for t in g["travel"]
    )


def measure_only(problem: Path, feed: Path, result: Path) -> None:
    """Phase 2, in its own process: the timetable measurement alone on an existing round, as
    now and as before block trips; writes the round measured as before beside it."""
    from scheduler.transit import load_feed, transit_groups

    doc = json.loads(problem.read_text(encoding="utf-8"))
    started = time.perf_counter()
    loaded = load_feed(feed)
    load_seconds = time.perf_counter() - started
    bare = {**doc, "travel_groups": []}
    started = time.perf_counter()
    groups = transit_groups(bare, loaded)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    before = transit_groups(bare, loaded, by_block=False, walk_whole_way=False)
    seconds_before = time.perf_counter() - started
    before_path = problem.with_name(problem.stem + "-before.json")
    before_path.write_text(json.dumps({**doc, "travel_groups": before}), encoding="utf-8")
    sites = {(o["location"]["lat"], o["location"]["lon"]) for o in doc["opportunities"]}
    result.write_text(
        json.dumps(
            {
                "feed_load_seconds": round(load_seconds, 2),
                "measure_seconds": round(seconds, 2),
                "measure_seconds_before": round(seconds_before, 2),
                "origins": len(groups),
                "sites": len(sites),
                "entries_before": sum(len(g["travel"]) for g in before),
                "numbers": _numbers(groups),
                "numbers_before": _numbers(before),
                "groups_mb": round(len(json.dumps(groups)) / 1e6, 1),
                "groups_mb_before": round(len(json.dumps(before)) / 1e6, 1),
                "same_as_generated": groups == doc["travel_groups"],
            }
        ),
        encoding="utf-8",
    )


def _solve(problem: Path, solution: Path, time_limit: float) -> dict[str, Any]:
    return _measured(
        [
            str(Path(sys.executable).with_name("wbl")),
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


def refused_now(doc: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """The placements of `before` (a solution of the round measured as before) that the
    solver's one-pair rules refuse on `doc` (the round measured now), by reason code, and how
    many of them for want of a bus back after the shift."""
    from scheduler.explain import pair_facts
    from solver import load_problem
    from solver.eligibility import compute_eligibility, refusal_codes
    from solver.instance import Instance

    inst = Instance(load_problem(doc))
    # The pass's allowed pairs first (vectorised); the one-pair rules say why for the rest.
    elig = compute_eligibility(inst)
    allowed = set(zip(elig.student.tolist(), elig.slot.tolist(), strict=True))
    by_code: dict[str, int] = {}
    refused = no_bus_back = back_too_long = 0
    for a in before["assignments"]:
        s, o = inst.student_ix[a["student"]], inst.opp_ix[a["opportunity"]]
        if (s, inst.slot_ix[a["slot"]]) in allowed:
            continue
        codes = refusal_codes(inst, s, o, inst.slot_ix[a["slot"]])
        if not codes:
            continue
        refused += 1
        for code in codes:
            by_code[code] = by_code.get(code, 0) + 1
        facts = pair_facts(inst, s, o, inst.slot_ix[a["slot"]])
        if facts.shift_end is not None:
            no_bus_back += facts.back_minutes is None
            back_too_long += facts.back_minutes is not None
    return {
        "placements_before": len(before["assignments"]),
        "refused_now": refused,
        "refused_by_code": dict(sorted(by_code.items())),
        "no_bus_back": no_bus_back,
        "bus_back_too_long": back_too_long,
    }


def run_size(
    students: int, *, feed: Path, seed: int, time_limit: float, out: Path, summer: bool = False
) -> dict[str, Any]:
    wbl = str(Path(sys.executable).with_name("wbl"))
    name = f"transit-{'summer-' if summer else ''}{students}"
    problem = out / f"{name}.json"
    solution = out / f"{name}-solution.json"
    row: dict[str, Any] = {"students": students, "summer": summer}
    gen = _measured(
        [
            wbl,
            "generate",
            "--students",
            str(students),
            "--seed",
            str(seed),
            *(["--summer"] if summer else []),
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

    row["solve"] = _solve(problem, solution, time_limit)
    if row["solve"]["returncode"] != 0:
        return row
    sol = json.loads(solution.read_text(encoding="utf-8"))
    before_problem = problem.with_name(problem.stem + "-before.json")
    before_solution = out / f"{name}-before-solution.json"
    if before_problem.exists():
        row["solve_before"] = _solve(before_problem, before_solution, time_limit)
        if row["solve_before"]["returncode"] == 0:
            before_doc = json.loads(before_problem.read_text(encoding="utf-8"))
            before_sol = json.loads(before_solution.read_text(encoding="utf-8"))
            row["violations_before"] = len(check_solution(before_doc, before_sol))
            row["placed_before"] = before_sol["metrics"]["placed"]
            started = time.perf_counter()
            row.update(refused_now(doc, before_sol))
            row["compare_seconds"] = round(time.perf_counter() - started, 1)
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
        " (schools) | riders | group entries / numbers (JSON) | written out per student | placed"
        " | by transit | violations |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gen, meas, sol = r.get("generate", {}), r.get("measure", {}), r.get("solve", {})
        lines.append(
            f"| {r['students']:,}{' summer' if r.get('summer') else ''}"
            f" | {gen.get('seconds', '-')} s / {_gb(gen.get('maxrss_kb', 0))}"
            f" | {meas.get('measure_seconds', '-')} s ({meas.get('origins', '-')} origins x"
            f" {meas.get('sites', '-')} sites) / {_gb(meas.get('maxrss_kb', 0))}"
            f" | {sol.get('seconds', '-')} s / {_gb(sol.get('maxrss_kb', 0))}"
            f" | {r.get('check_seconds', '-')} s"
            f" | {r.get('groups', '-')} ({r.get('school_groups', '-')})"
            f" | {r.get('riders', 0):,} | {r.get('entries', 0):,}"
            f" / {meas.get('numbers', 0):,} ({meas.get('groups_mb', '-')} MB)"
            f" | {r.get('entries_written_out', 0):,} | {r.get('placed', '-')}"
            f" | {r.get('by_transit', '-')} | {r.get('violations', '-')} |"
        )
    lines += [
        "",
        "| students | measuring before | entries / numbers before | groups before | solve before"
        " | placed before | placed now | placements before refused now (by code) | of which no"
        " bus back / bus back too long |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        meas, sol = r.get("measure", {}), r.get("solve_before", {})
        lines.append(
            f"| {r['students']:,}{' summer' if r.get('summer') else ''}"
            f" | {meas.get('measure_seconds_before', '-')} s"
            f" | {meas.get('entries_before', 0):,} / {meas.get('numbers_before', 0):,}"
            f" | {meas.get('groups_mb_before', '-')} MB"
            f" | {sol.get('seconds', '-')} s / {_gb(sol.get('maxrss_kb', 0))}"
            f" | {r.get('placed_before', '-')} | {r.get('placed', '-')}"
            f" | {r.get('refused_now', '-')} of {r.get('placements_before', '-')}"
            f" {r.get('refused_by_code', {})}"
            f" | {r.get('no_bus_back', '-')} / {r.get('bus_back_too_long', '-')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transit", description=__doc__)
    parser.add_argument("--feed", type=Path, required=True)
    parser.add_argument("--sizes", default="20000")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--summer", action="store_true", help="summer rounds (origin: home)")
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
            size,
            feed=feed,
            seed=args.seed,
            time_limit=args.time_limit,
            out=args.out.resolve(),
            summer=args.summer,
        )
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    print(table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    failed = any(r.get("violations", 1) != 0 or r.get("violations_before", 1) != 0 for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
