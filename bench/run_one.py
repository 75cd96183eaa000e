"""Run one method on one round, alone in this process, so that its peak memory is its own.

    python -m bench.run_one --method solver --problem bench/out/round-5000.json \\
        --result /tmp/result.json [--solution /tmp/solution.json] [--time-limit 60]

The parent (`bench.compare`) reads this process's peak RSS when it exits; this process writes
a small JSON result: the metrics, how long the method took (excluding reading and validating
the round), the solver's phase timings, and notes. Methods: `solver` (the full solve), `flow`
(the exact flow alone, no community-mentor meetings), `rsd` (random serial dictatorship) and
`matching` (the `matching` library's student-optimal stable allocation).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from bench.baselines import run_baseline
from solver import Problem, Progress, SolveOptions, load_problem, solve

METHODS: tuple[str, ...] = ("solver", "flow", "rsd", "matching")

log = logging.getLogger("bench.run_one")


def run_solver(
    problem: Problem, *, community_mentors: bool, time_limit: float, workers: int, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The project's solver; its solution document and its phases (stage, seconds since start)."""
    phases: list[tuple[str, float]] = []

    def progress(p: Progress) -> None:
        phases.append((p.stage, round(p.elapsed, 3)))
        log.info("%7.1fs %s", p.elapsed, p.stage)

    options = SolveOptions(
        time_limit=time_limit,
        workers=workers,
        seed=seed,
        community_mentors=community_mentors,
        progress=progress,
    )
    solution = solve(problem, options)
    stats = dict(solution.stats)
    stats["phases"] = phases
    return solution.to_dict(), stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_one", description=__doc__)
    parser.add_argument("--method", choices=METHODS, required=True)
    parser.add_argument("--problem", type=Path, required=True, help="A wbl-problem/1 file.")
    parser.add_argument("--result", type=Path, help="Where to write the result (default stdout).")
    parser.add_argument("--solution", type=Path, help="Where to write the solution document.")
    parser.add_argument("--time-limit", type=float, default=60.0, help="Solver seconds.")
    parser.add_argument("--workers", type=int, default=2, help="Solver workers.")
    parser.add_argument("--seed", type=int, default=0, help="Lottery / random-order seed.")
    args = parser.parse_args(argv)
    # This module's lines only: the solver's own INFO log says the same stages again.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)

    started = time.perf_counter()
    doc = json.loads(args.problem.read_text(encoding="utf-8"))
    read = time.perf_counter()
    problem = load_problem(doc)
    del doc  # the method works from the typed problem only
    loaded = time.perf_counter()
    log.info("read %.1fs, validated %.1fs", read - started, loaded - read)

    if args.method in ("solver", "flow"):
        solution, stats = run_solver(
            problem,
            community_mentors=args.method == "solver",
            time_limit=args.time_limit,
            workers=args.workers,
            seed=args.seed,
        )
    else:
        solution, stats = run_baseline(problem, args.method, args.seed)
    finished = time.perf_counter()

    result = {
        "method": args.method,
        "status": solution["status"],
        "metrics": solution["metrics"],
        "method_seconds": round(finished - loaded, 3),
        "read_seconds": round(read - started, 3),
        "validate_seconds": round(loaded - read, 3),
        "stats": stats,
        "notes": solution.get("notes", []),
    }
    if args.solution is not None:
        args.solution.parent.mkdir(parents=True, exist_ok=True)
        args.solution.write_text(json.dumps(solution, separators=(",", ":")), encoding="utf-8")
    text = json.dumps(result, indent=2)
    if args.result is None:
        sys.stdout.write(text + "\n")
    else:
        args.result.parent.mkdir(parents=True, exist_ok=True)
        args.result.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
