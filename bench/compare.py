"""The benchmark: the solver against a spreadsheet and a stable matching, side by side.

    python -m bench.compare --sizes 500,5000 [--seed 1] [--time-limit 60]
        [--methods solver,rsd,matching,flow] [--output bench/RESULTS.md]

For each size, a synthetic round is generated once (`scheduler.generate.generate_round`) into
`bench/out/round-<size>.json` and validated. Each method then runs on it in its own process
(`python -m bench.run_one`, started by the small launcher `bench.measure`), so that its peak
memory (the child's max RSS, from `os.wait4`) and its wall time are its own, and a method that
runs past its timeout is killed and reported as "did not finish". Solutions of rounds up to
`--check-max` students are verified with the independent checker (`solver.check_solution`); a
violation is printed loudly, since it would be a bug. Tables go to stdout and into `--output`,
where each size's section replaces the one from an earlier run of that size. Progress goes to
stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.machine import machine as describe_machine
from bench.run_one import METHODS
from scheduler.generate import generate_round
from solver import check_solution, load_problem

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
LABELS: dict[str, str] = {
    "solver": "solver",
    "rsd": "random serial dictatorship",
    "matching": "stable allocation (`matching`)",
    "flow": "flow bound (no community mentors)",
}
POLL_SECONDS = 0.2
# How long past a method's timeout the launcher itself may take to kill it and report.
LAUNCHER_GRACE = 60.0


def say(message: str) -> None:
    """Progress on stderr, with the time of day."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- rounds -----------------------------------------------------------------------------------


def ensure_round(size: int, seed: int, out: Path) -> tuple[Path, dict[str, Any]]:
    """The round of `size` students and `seed`, generated and validated once, then reused.

    A sidecar `.meta.json` records what the file was generated from, so a round of another seed
    (or a different generator output) is never silently reused.
    """
    path = out / f"round-{size}.json"
    meta_path = out / f"round-{size}.meta.json"
    wanted = {"students": size, "seed": seed, "summer": False}
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if {k: meta.get(k) for k in wanted} == wanted:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if meta.get("sha256") == digest:
                say(f"size {size}: reusing {path}")
                return path, meta
    say(f"size {size}: generating the round (seed {seed})")
    started = time.perf_counter()
    doc = generate_round(size, seed=seed, summer=False)
    generated = time.perf_counter()
    load_problem(doc)  # raises ProblemError listing every defect: a generator bug
    validated = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, separators=(",", ":"))
    path.write_text(text, encoding="utf-8")
    meta = {
        **wanted,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "schools": len(doc["schools"]),
        "employers": len(doc["employers"]),
        "opportunities": len(doc["opportunities"]),
        "slots": sum(len(o["slots"]) for o in doc["opportunities"]),
        "seats": sum(s["capacity"] for o in doc["opportunities"] for s in o["slots"]),
        "mentors": len(doc["mentors"]),
        "community_mentors": sum(1 for m in doc["mentors"] if m.get("employer") is None),
        "wants_mentor": sum(1 for s in doc["students"] if s.get("wants_mentor")),
        "pins": len(doc["pins"]),
        "generate_seconds": round(generated - started, 2),
        "validate_seconds": round(validated - generated, 2),
        "megabytes": round(len(text) / 1e6, 1),
    }
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    say(
        f"size {size}: {meta['opportunities']} opportunities, {meta['slots']} slots, "
        f"{meta['seats']} seats, {meta['mentors']} mentors; generated in "
        f"{meta['generate_seconds']} s, validated in {meta['validate_seconds']} s"
    )
    return path, meta


# --- one method in its own process -------------------------------------------------------------


@dataclass
class Run:
    """The outcome of one method on one round."""

    method: str
    size: int
    finished: bool = False
    timed_out: bool = False
    failed: str | None = None
    timeout: float = 0.0
    process_seconds: float = 0.0
    peak_mb: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)
    violations: list[str] | None = None  # None: not checked
    solution_path: Path | None = None
    code: str = ""  # the code it ran: the solver changes between runs while others work on it
    load: float = 0.0  # the highest 1-minute load average seen while it ran

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.result.get("metrics") or {})

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "size": self.size,
            "finished": self.finished,
            "timed_out": self.timed_out,
            "failed": self.failed,
            "timeout": self.timeout,
            "process_seconds": self.process_seconds,
            "peak_mb": self.peak_mb,
            "result": self.result,
            "violations": self.violations,
            "code": self.code,
            "load": self.load,
        }


def run_method(
    method: str,
    size: int,
    problem: Path,
    *,
    time_limit: float,
    seed: int,
    timeout: float,
    out: Path,
) -> Run:
    """`python -m bench.run_one` in a fresh process; its own max RSS, killed at `timeout`."""
    result_path = out / f"result-{method}-{size}.json"
    solution_path = out / f"solution-{method}-{size}.json"
    log_path = out / f"log-{method}-{size}.txt"
    for stale in (result_path, solution_path):
        stale.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "bench.run_one",
        "--method",
        method,
        "--problem",
        str(problem),
        "--result",
        str(result_path),
        "--solution",
        str(solution_path),
        "--time-limit",
        str(time_limit),
        "--workers",
        "2",
        "--seed",
        str(seed),
    ]
    report_path = out / f"measure-{method}-{size}.json"
    report_path.unlink(missing_ok=True)
    # Through the small launcher, so the peak RSS is the method's, not this process's (which
    # a forked child would inherit as its starting maximum).
    launcher = [
        sys.executable,
        "-m",
        "bench.measure",
        "--report",
        str(report_path),
        "--timeout",
        str(timeout),
        "--",
    ]
    run = Run(method=method, size=size, timeout=timeout, code=code_version())
    run.load = os.getloadavg()[0]
    with log_path.open("w", encoding="utf-8") as log:
        child = subprocess.Popen(
            launcher + command,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a stuck run can be killed
        )
        started = time.perf_counter()
        while child.poll() is None:
            if time.perf_counter() - started > timeout + LAUNCHER_GRACE:
                os.killpg(child.pid, signal.SIGKILL)  # the launcher itself is stuck
                child.wait()
                break
            time.sleep(POLL_SECONDS)
            run.load = max(run.load, os.getloadavg()[0])
    if not report_path.exists():
        run.failed = f"the launcher ended without a report (exit status {child.returncode})"
        return run
    report = json.loads(report_path.read_text(encoding="utf-8"))
    run.process_seconds = round(float(report["seconds"]), 2)
    run.peak_mb = round(int(report["maxrss_kb"]) / 1024, 1)
    run.timed_out = bool(report["timed_out"])
    if run.timed_out:
        return run
    if report["returncode"] != 0 or not result_path.exists():
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        run.failed = f"exit status {report['returncode']}: " + " / ".join(tail)
        return run
    run.finished = True
    run.result = json.loads(result_path.read_text(encoding="utf-8"))
    run.solution_path = solution_path
    return run


def check(run: Run, problem_doc: dict[str, Any]) -> None:
    """Verify a finished run's solution with the independent checker; shout about violations."""
    if not run.finished or run.solution_path is None:
        return
    solution = json.loads(run.solution_path.read_text(encoding="utf-8"))
    started = time.perf_counter()
    run.violations = check_solution(problem_doc, solution)
    seconds = time.perf_counter() - started
    if run.violations:
        banner = "!" * 78
        print(banner, file=sys.stderr)
        say(
            f"BUG: {run.method} on {run.size} students: {len(run.violations)} VIOLATIONS "
            "of the spec (check_solution):"
        )
        for v in run.violations[:20]:
            print(f"    {v}", file=sys.stderr)
        print(banner, file=sys.stderr)
    else:
        say(f"size {run.size}: {run.method} checked: valid ({seconds:.1f} s)")


# --- reporting --------------------------------------------------------------------------------


def machine() -> str:
    """CPU, memory, OS and the versions that matter, on one line."""
    about = describe_machine(("ortools", "numpy", "matching"))
    return "; ".join(f"{key} {value}" for key, value in about.items())


def code_version() -> str:
    """The commit, and which solver files differ from it (others edit the solver meanwhile)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.rstrip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", "solver", "scheduler/generate.py").splitlines()
    files = sorted(line[3:] for line in changed)
    digest = hashlib.sha256()
    for path in sorted((ROOT / "solver").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    tree = f"solver/*.py sha256 {digest.hexdigest()[:10]}"
    if not files:
        return f"commit {commit}, {tree}"
    return f"commit {commit} with uncommitted changes to {', '.join(files)}; {tree}"


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _check_cell(run: Run) -> str:
    if run.violations is None:
        return "not checked"
    if run.violations:
        rules = Counter(v.split(":", 1)[0] for v in run.violations)
        which = ", ".join(f"{rule} {n}" for rule, n in rules.most_common())
        return f"**{len(run.violations)} VIOLATIONS** ({which})"
    return "valid"


def _notes(run: Run) -> str:
    stats = run.result.get("stats", {})
    notes: list[str] = []
    if run.method == "matching":
        notes.append(
            f"dropped {stats.get('dropped_opportunity_capacity', 0)} over opportunity capacity, "
            f"{stats.get('dropped_no_mentor', 0)} without a free workplace mentor; "
            f"library build {stats.get('build_seconds', 0)} s, "
            f"solve {stats.get('solve_seconds', 0)} s"
        )
    if run.method in ("solver", "flow"):
        status = run.result.get("status")
        notes.append(f"status {status}")
        if stats.get("mentoring_students"):
            notes.append(f"{stats['mentoring_students']} students in the mentor model")
        if stats.get("mentoring_components"):
            notes.append(
                f"mentor model at its bound in {stats.get('mentoring_at_bound', 0)}"
                f"/{stats['mentoring_components']} components"
                + (", proven" if stats.get("mentoring_proven") else "")
            )
        if stats.get("stopped_by_time_limit"):
            notes.append("stopped by the time limit")
    if (
        run.method == "flow"
        and run.violations
        and all(v.startswith("optimality") for v in run.violations)
    ):
        notes.append(
            "the flow alone skips community mentors yet reports status optimal, so the checker "
            "finds wanting students a free community mentor could have met"
        )
    notes += [n for n in run.result.get("notes", []) if not n.startswith("post-processing")]
    return "; ".join(notes)


COLUMNS = (
    "method",
    "placed",
    "priority-weighted",
    "first choice",
    "top 3",
    "unranked",
    "mentored",
    "mean travel (min)",
    "wall (s)",
    "process (s)",
    "peak MB",
    "load",
    "check",
    "notes",
)


def table(runs: list[Run]) -> list[str]:
    """One markdown table: a row per method."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for run in runs:
        label = LABELS[run.method]
        if run.timed_out:
            cells = [
                label,
                *[""] * 8,
                _num(run.process_seconds),
                _num(run.peak_mb),
                f"{run.load:.1f}",
                "",
                "",
            ]
            cells[1] = f"did not finish in {run.timeout:.0f} s"
        elif run.failed is not None:
            cells = [label, f"failed: {run.failed}", *[""] * (len(COLUMNS) - 2)]
        else:
            m = run.metrics
            cells = [
                label,
                _num(m["placed"]),
                _num(m["placed_weighted"]),
                _num(m["first_choice"]),
                _num(m["top3"]),
                _num(m["unranked"]),
                _num(m["mentored"]),
                _num(float(m["mean_travel_minutes"])),
                _num(float(run.result["method_seconds"])),
                _num(run.process_seconds),
                _num(run.peak_mb),
                f"{run.load:.1f}",
                _check_cell(run),
                _notes(run),
            ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def ratios(runs: list[Run]) -> list[str]:
    """Solver time over the flow bound's, and the solver's placements over the spreadsheet's."""
    by = {r.method: r for r in runs if r.finished}
    lines: list[str] = []
    solver, flow, rsd = by.get("solver"), by.get("flow"), by.get("rsd")
    if solver and flow:
        st, ft = float(solver.result["method_seconds"]), float(flow.result["method_seconds"])
        ratio = f" = **{st / ft:.2f}x**" if ft > 0 else ""
        lines.append(f"- solver time / flow-bound time: {st:.2f} s / {ft:.2f} s{ratio}")
        sm, fm = solver.metrics, flow.metrics
        lines.append(
            f"- community-mentor meetings add {sm['mentored'] - fm['mentored']:+,} mentored "
            f"students over the flow alone ({fm['mentored']:,} -> {sm['mentored']:,}); placed "
            f"{fm['placed']:,} -> {sm['placed']:,}"
        )
    if solver and rsd:
        sp, rp = solver.metrics["placed"], rsd.metrics["placed"]
        sw, rw = solver.metrics["placed_weighted"], rsd.metrics["placed_weighted"]
        times = f" ({sp / rp:.2f}x)" if rp else ""
        weighted = f" ({sw / rw:.2f}x)" if rw else ""
        lines.append(
            f"- solver placed vs RSD placed: {sp:,} vs {rp:,} = **{sp - rp:+,}**{times}; "
            f"priority-weighted {sw:,} vs {rw:,}{weighted}"
        )
        ranked = sp - solver.metrics["unranked"]
        lines.append(
            f"- of the solver's placements, {ranked:,} are at a ranked choice and "
            f"{solver.metrics['unranked']:,} by cluster outside the list (RSD places ranked only)"
        )
    matching = by.get("matching")
    if solver and matching:
        sp, mp = solver.metrics["placed"], matching.metrics["placed"]
        lines.append(f"- solver placed vs stable allocation placed: {sp:,} vs {mp:,}")
    return lines


def phases(runs: list[Run]) -> list[str]:
    """Where the solver's time went, from its progress stages."""
    lines: list[str] = []
    for run in runs:
        stages = run.result.get("stats", {}).get("phases") if run.finished else None
        if not stages:
            continue
        parts = []
        for (stage, at), (_, nxt) in zip(stages, [*stages[1:], stages[-1]], strict=True):
            if stage == "done":
                continue
            label = " ".join(stage.split())
            parts.append(f"{label} {nxt - at:.2f}")
        lines.append(
            f"- {run.method}: read {run.result['read_seconds']:.2f} s, validate "
            f"{run.result['validate_seconds']:.2f} s; then (s) " + ", ".join(parts)
        )
    return lines


def _code_lines(runs: list[Run]) -> list[str]:
    """The code each method ran, once if the solver's code was the same for every row."""
    codes = {run.code for run in runs}
    trees = {run.code.rpartition("; ")[2].rpartition(", ")[2] for run in runs}
    if len(codes) == 1:
        return [f"- code: {codes.pop()}"]
    if len(trees) == 1:
        head = f"- code: the same solver code for every row ({trees.pop()}); the commit moved:"
    else:
        head = "- code (**the solver changed during the run**: rows ran different code):"
    return [head, *(f"  - {run.method}: {run.code}" for run in runs)]


def section(
    size: int, runs: list[Run], meta: dict[str, Any], command: str, check_max: int
) -> list[str]:
    """The markdown section of one size."""
    lines = [
        f"## {size:,} students",
        "",
        f"- command: `{command}`",
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {machine()}",
        *_code_lines(runs),
        f"- round: seed {meta.get('seed')}, {meta.get('schools')} schools, "
        f"{meta.get('employers')} employers, {meta.get('opportunities')} opportunities, "
        f"{meta.get('slots')} slots, {meta.get('seats')} seats, {meta.get('mentors')} mentors "
        f"({meta.get('community_mentors')} community), {meta.get('wants_mentor')} students "
        f"want a mentor, {meta.get('pins')} pins; {meta.get('megabytes')} MB of JSON",
        "- checked with `solver.check_solution`"
        + ("" if size <= check_max else f": no (only rounds up to {check_max:,} students)"),
        "",
        *table(runs),
        "",
        *ratios(runs),
    ]
    phase_lines = phases(runs)
    if phase_lines:
        lines += [
            "",
            "Where the time went: the progress stages of `solve`, each timed from its report to "
            "the next one (so the time after `flow done` is the community-mentor model):",
            "",
            *phase_lines,
        ]
    return lines


BEGIN = "<!-- size {} begin -->"
END = "<!-- size {} end -->"
NOTES_BEGIN = "<!-- notes begin -->"
NOTES_END = "<!-- notes end -->"
HEADER = """# Benchmark results

Written by `python -m bench.compare` (see `bench/README.md` for what each method is). Each
size's section is replaced when that size is run again, so sections may come from different
runs; each one says its command, date and machine. "wall (s)" is the method alone (after the
round is read and validated); "process (s)" is the whole child process, reading the round
included; "peak MB" is the child process's max RSS; "load" is the highest 1-minute load
average seen while the method ran (this machine may be shared: a load above its core count
means the times are inflated).
"""


def update_results(path: Path, sections: dict[int, list[str]]) -> None:
    """Replace (or add) the sections of the sizes just run; keep the others; order by size.
    Dated notes written by hand between NOTES_BEGIN and NOTES_END (before/after measurements of
    a change) are kept as they are, after the sizes."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    kept: dict[int, str] = {}
    for match in re.finditer(r"<!-- size (\d+) begin -->\n(.*?)<!-- size \1 end -->", old, re.S):
        kept[int(match.group(1))] = match.group(2)
    for size, lines in sections.items():
        kept[size] = "\n".join(lines) + "\n"
    body = [HEADER]
    for size in sorted(kept):
        body.append(f"{BEGIN.format(size)}\n{kept[size]}{END.format(size)}\n")
    notes = re.search(re.escape(NOTES_BEGIN) + ".*?" + re.escape(NOTES_END), old, re.S)
    if notes is not None:
        body.append(notes.group(0) + "\n")
    path.write_text("\n".join(body), encoding="utf-8")


# --- the command ------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive: {text!r}")
    return sizes


def _methods(text: str) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(f"methods are among {','.join(METHODS)}: {text!r}")
    return methods


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare",
        description="Compare the solver with RSD, a stable matching and the flow bound.",
    )
    parser.add_argument("--sizes", type=_sizes, default=[500, 5000], help="e.g. 500,5000")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the generated rounds.")
    parser.add_argument(
        "--lottery-seed", type=int, default=0, help="Seed of the solver's lottery and RSD's order."
    )
    parser.add_argument("--time-limit", type=float, default=60.0, help="Solver time limit (s).")
    parser.add_argument("--methods", type=_methods, default=["solver", "rsd", "matching", "flow"])
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument(
        "--matching-timeout",
        type=float,
        default=600.0,
        help="Seconds before the stable allocation is reported as not finished.",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="Seconds before any other method is reported as not finished.",
    )
    parser.add_argument(
        "--check-max", type=int, default=5000, help="Check solutions of rounds up to this size."
    )
    parser.add_argument("--out", type=Path, default=OUT, help="Rounds, solutions and logs.")
    args = parser.parse_args(argv)
    command = "python -m bench.compare " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    sections: dict[int, list[str]] = {}
    everything: dict[str, Any] = {"command": command, "machine": machine(), "sizes": {}}
    for size in args.sizes:
        problem_path, meta = ensure_round(size, args.seed, out)
        problem_doc = (
            json.loads(problem_path.read_text(encoding="utf-8")) if size <= args.check_max else None
        )
        runs: list[Run] = []
        for method in args.methods:
            timeout = args.matching_timeout if method == "matching" else args.timeout
            say(f"size {size}: running {method} (timeout {timeout:.0f} s)")
            run = run_method(
                method,
                size,
                problem_path,
                time_limit=args.time_limit,
                seed=args.lottery_seed,
                timeout=timeout,
                out=out,
            )
            if run.timed_out:
                say(f"size {size}: {method} did not finish in {timeout:.0f} s")
            elif run.failed is not None:
                say(f"size {size}: {method} FAILED: {run.failed}")
            else:
                m = run.metrics
                say(
                    f"size {size}: {method} placed {m['placed']:,} in "
                    f"{run.result['method_seconds']:.1f} s, peak {run.peak_mb:,.0f} MB"
                )
            if problem_doc is not None:
                check(run, problem_doc)
            runs.append(run)
        sections[size] = section(size, runs, meta, command, args.check_max)
        everything["sizes"][size] = {"round": meta, "runs": [r.to_dict() for r in runs]}
        print("\n".join(sections[size]) + "\n", flush=True)
        update_results(args.output, {size: sections[size]})  # keep what is done if later ones die
        (out / f"results-{size}.json").write_text(
            json.dumps(everything["sizes"][size], indent=2), encoding="utf-8"
        )
    say(f"results written to {args.output}")
    bad = [r for s in everything["sizes"].values() for r in s["runs"] if r["violations"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
