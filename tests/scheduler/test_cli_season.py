"""Issue 9 from the command line: the queue follows the database from any folder, the worker
logs its jobs, `round list|delete|unplaced`, and one line for a missing schema."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scheduler import jobs
from scheduler.explain import CODES
from scheduler.generate import generate_round

WBL = str(Path(sys.executable).with_name("wbl"))


def _env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WBL_")}
    env["WBL_DATABASE_URL"] = f"sqlite:///{db}"
    env["WBL_QUEUE_NAME"] = f"season-{os.getpid()}-{time.time_ns()}"
    return env


def _wbl(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WBL, *args], env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout
    )


class Season:
    """A database with one round solved by a worker started in another folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "data" / "wbl.db"
        self.db.parent.mkdir()
        self.env = _env(self.db)
        self.doc = generate_round(200, seed=5)
        self.round = self.doc["round"]["id"]
        self.problem = root / "round.json"
        self.problem.write_text(json.dumps(self.doc))
        self.worker_log = root / "worker.log"
        self.solve: subprocess.CompletedProcess[str] | None = None

    def wbl(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return _wbl(*args, env=self.env, cwd=cwd or self.root)


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> Season:
    s = Season(tmp_path_factory.mktemp("season"))
    here, there = s.root / "worker-folder", s.root / "coordinator-folder"
    here.mkdir()
    there.mkdir()
    assert s.wbl("db", "upgrade").returncode == 0
    assert s.wbl("import-round", str(s.problem), "--program", "p").returncode == 0
    with s.worker_log.open("wb") as log:
        worker = subprocess.Popen(
            [WBL, "worker"],
            env=s.env,
            cwd=here,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        s.solve = s.wbl(
            "round", "solve", s.round, "--program", "p", "--time-limit", "10", "--wait", cwd=there
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    return s


def test_queue_follows_the_database_from_another_folder(season: Season) -> None:
    """Queue: a worker started in one folder runs a solve queued from another (same database)."""
    assert season.solve is not None
    assert season.solve.returncode == 0, season.solve.stderr
    assert "succeeded" in season.solve.stderr
    assert (season.db.parent / "wbl-queue.db").exists()
    assert not (season.root / "coordinator-folder" / "instance").exists()


def test_worker_logs_each_job(season: Season) -> None:
    """Worker: it says which queue it serves, and when each job starts and how it ends."""
    log = season.worker_log.read_text()
    assert f"worker on the SQLite queue {season.env['WBL_QUEUE_NAME']!r}".replace("'", '"') in log
    assert "run 1: started" in log
    assert "run 1: succeeded in" in log


def test_queue_path_beside_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Queue: beside the SQLite file whatever the folder; WBL_QUEUE_PATH wins; it is named."""
    monkeypatch.delenv("WBL_QUEUE_PATH", raising=False)
    monkeypatch.delenv("WBL_REDIS_URL", raising=False)
    monkeypatch.setenv("WBL_DATABASE_URL", f"sqlite:///{tmp_path / 'db' / 'wbl.db'}")
    paths = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        paths.append(jobs.queue_path())
    assert paths == [tmp_path / "db" / "wbl-queue.db"] * 2
    assert str(paths[0]) in jobs.describe_queue()
    monkeypatch.setenv("WBL_QUEUE_PATH", str(tmp_path / "q.db"))
    assert jobs.queue_path() == tmp_path / "q.db"
    assert str(tmp_path / "q.db") in jobs.describe_queue()


def test_still_queued_names_the_queue(season: Season, tmp_path: Path) -> None:
    """Queue: `--wait` with no worker says which queue the run waits on."""
    db = tmp_path / "wbl.db"
    for name in ("wbl.db", "wbl.db-wal", "wbl.db-shm"):
        if (season.db.parent / name).exists():
            shutil.copy(season.db.parent / name, tmp_path / name)
    env = _env(db)
    proc = subprocess.Popen(
        [WBL, "round", "solve", season.round, "--program", "p", "--wait"],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        for line in proc.stderr:
            lines.append(line)
            if "still queued" in line or time.monotonic() > deadline:
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
    said = "".join(lines)
    assert "still queued: is a `wbl worker` running for this queue?" in said
    assert str(tmp_path / "wbl-queue.db") in said


def test_round_list(season: Season) -> None:
    """round list: every round with its program, status, students and runs."""
    listed = season.wbl("round", "list")
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if season.round in x)
    assert line.split()[:2] == ["p", season.round]
    assert " 200 " in line
    empty = season.wbl("round", "list", "--program", "nobody")
    assert "no rounds in program 'nobody'" in empty.stdout


def _unplaced_ids(season: Season) -> dict[str, str | None]:
    """The unplaced students of the latest run, with their school, from its solution."""
    out = season.wbl("round", "solution", season.round, "--program", "p")
    assert out.returncode == 0, out.stderr
    school = {s["id"]: s.get("school") for s in season.doc["students"]}
    return {u["student"]: school[u["student"]] for u in json.loads(out.stdout)["unplaced"]}


def test_round_unplaced_lists_every_student_with_reasons(season: Season) -> None:
    """round unplaced: every unplaced student, grouped by school, reasons in plain words."""
    unplaced = _unplaced_ids(season)
    assert unplaced
    listed = season.wbl("round", "unplaced", season.round, "--program", "p")
    assert listed.returncode == 0, listed.stderr
    assert f"{len(unplaced)} students not placed" in listed.stdout
    for student in unplaced:
        assert f"  {student}  " in listed.stdout
    assert "_" not in "".join(
        x.split(":")[0] for x in listed.stdout.splitlines() if x.startswith("    - ")
    )  # labels, not codes
    # A ranked choice's refusal gives the numbers behind it (minutes against the limit, ages...).
    assert "went to other students" in listed.stdout or "limit of" in listed.stdout


def test_round_unplaced_per_school_table(season: Season) -> None:
    """round unplaced --school S -o FILE.csv: that school's unplaced students, a row per reason."""
    unplaced = _unplaced_ids(season)
    school = next(s for s in unplaced.values() if s is not None)
    out = season.root / f"{school}.csv"
    made = season.wbl(
        "round", "unplaced", season.round, "--program", "p", "--school", school, "-o", str(out)
    )
    assert made.returncode == 0, made.stderr
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["student_id"] for r in rows} == {s for s, sc in unplaced.items() if sc == school}
    assert all(r["reason_in_plain_words"] for r in rows)
    assert {r["reason_code"] for r in rows} <= set(CODES)


def test_round_delete_refused_once_published(season: Season, tmp_path: Path) -> None:
    """round delete: a draft goes; a published round only with --force; both audited."""
    for name in ("wbl.db", "wbl.db-wal", "wbl.db-shm"):
        if (season.db.parent / name).exists():
            shutil.copy(season.db.parent / name, tmp_path / name)
    env = _env(tmp_path / "wbl.db")

    def wbl(*args: str) -> subprocess.CompletedProcess[str]:
        return _wbl(*args, env=env, cwd=tmp_path)

    assert wbl("import-round", str(season.problem), "--program", "q").returncode == 0
    draft = wbl("round", "delete", season.round, "--program", "q")
    assert draft.returncode == 0, draft.stderr
    assert wbl("round", "choose", season.round, "1", "--program", "p").returncode == 0
    assert wbl("round", "publish", season.round, "--program", "p").returncode == 0
    refused = wbl("round", "delete", season.round, "--program", "p")
    assert refused.returncode == 2
    assert "published" in refused.stderr
    assert "--force" in refused.stderr
    assert season.round in wbl("round", "list").stdout
    forced = wbl("round", "delete", season.round, "--program", "p", "--force")
    assert forced.returncode == 0, forced.stderr
    assert season.round not in wbl("round", "list").stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "wbl.db") as conn:
        events = conn.execute(
            "SELECT target_id, detail FROM audit_events WHERE action = 'round.delete'"
        ).fetchall()
    assert [(t, json.loads(d)["forced"]) for t, d in events] == [
        (season.round, False),
        (season.round, True),
    ]


def test_missing_schema_is_one_line(tmp_path: Path) -> None:
    """Schema: a command before `wbl db upgrade` says to run it, in one line, no traceback."""
    env = _env(tmp_path / "new.db")
    for args in (("round", "status", "fall"), ("round", "list")):
        result = _wbl(*args, env=env, cwd=tmp_path)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1
        assert "run `wbl db upgrade`" in result.stderr
        assert "Traceback" not in result.stderr


def test_format_doc_glossary_matches_explain() -> None:
    """Docs: the reason-code table of docs/format.md is explain.py's glossary, code for code."""
    from scheduler.cli_season import glossary_markdown

    text = (Path(__file__).parents[2] / "docs" / "format.md").read_text(encoding="utf-8")
    table = text.split("<!-- glossary:start -->")[1].split("<!-- glossary:end -->")[0]
    assert table.strip() == glossary_markdown().strip()


def test_readme_links_inside_the_repository() -> None:
    """Docs: the README links to docs/format.md, never outside the repository (../shared)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in readme
    assert "(docs/format.md)" in readme
    assert ".venv/bin/wbl" in readme or "source .venv/bin/activate" in readme


def test_demo_market_has_about_a_seat_per_student() -> None:
    """Demo: the district offers about as many seats as students (the default stays tight)."""
    from scheduler.cli import DEMO_SEATS_PER_STUDENT
    from solver import load_problem
    from solver.rules import opportunity_capacity

    def seats(**kw: float) -> float:
        problem = load_problem(generate_round(1500, seed=2026, **kw))
        return sum(opportunity_capacity(o) for o in problem.opportunities) / 1500

    assert 0.85 <= seats(seats_per_student=DEMO_SEATS_PER_STUDENT) <= 1.15
    assert seats() < 0.6
