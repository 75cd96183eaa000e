"""What a benchmark ran on, for its written results: CPU, memory, OS and library versions."""

from __future__ import annotations

import os
import platform
import sqlite3
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def machine(packages: Sequence[str] = ("sqlalchemy",)) -> dict[str, str]:
    """CPU, memory, OS, Python, SQLite and the versions of `packages`."""
    cpu = platform.processor() or platform.machine()
    memory = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "cpu": f"{cpu}, {os.cpu_count()} logical CPUs",
        "memory": memory or "unknown",
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        **{package: version(package) for package in packages},
    }
