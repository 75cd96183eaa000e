"""A small launcher that runs a command and reports that command's own peak memory and time.

    python -m bench.measure --report FILE --timeout SECONDS -- COMMAND...

Why a launcher: Linux carries a process's max RSS across fork and exec, so a child started by
the benchmark's parent (which holds rounds and checks solutions, hundreds of MB) would report at
least the parent's size. This process imports almost nothing, so what it starts reports its own
peak. It kills the command (its whole process group) after `--timeout` seconds and still reads
its usage. The report is JSON: exit code, whether it timed out, seconds, peak RSS in kB.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.measure", description=__doc__)
    parser.add_argument("--report", type=Path, required=True, help="Where to write the JSON.")
    parser.add_argument("--timeout", type=float, required=True, help="Seconds before a kill.")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command.")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")

    started = time.perf_counter()
    child = subprocess.Popen(command, start_new_session=True)
    timed_out = False
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid == child.pid:
            break
        if time.perf_counter() - started > args.timeout:
            os.killpg(child.pid, signal.SIGKILL)
            _, status, usage = os.wait4(child.pid, 0)
            timed_out = True
            break
        time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    child.returncode = code = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    report = {
        "returncode": code,
        "timed_out": timed_out,
        "seconds": round(seconds, 3),
        "maxrss_kb": usage.ru_maxrss,  # Linux: kilobytes
    }
    args.report.write_text(json.dumps(report), encoding="utf-8")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
