"""The manual-actions benchmark runs end to end on a tiny round: a row for every action, SQL
statements counted, and refused moves that leave the round as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.moves import Sample, main, report, run
from models import Assignment, AuditEvent, Pin, Round, Slot, Student

SERIES = ("pin", "unplace", "move", "place", "forbid (own placement)", "forbid (other pair)")


def _trace(session: Session, rnd: Round, student: str, slot: str) -> dict[str, int | None]:
    """What a refused move of `student` to `slot` could have left behind."""
    st = session.scalars(
        select(Student).where(Student.round_id == rnd.id, Student.external_id == student)
    ).one()
    sl = session.scalars(
        select(Slot).where(Slot.round_id == rnd.id, Slot.external_id == slot)
    ).one()
    at_target = session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(
            Assignment.run_id == rnd.chosen_run_id,
            Assignment.student_id == st.id,
            Assignment.slot_id == sl.id,
        )
    )
    events = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.target_id == student)
    )
    pins = session.scalar(select(func.count()).select_from(Pin).where(Pin.student_id == st.id))
    return {"at_target": at_target, "events": events, "pins": pins}


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    """The benchmark at 300 students, 5 actions a series, on SQLite; with, for each refused
    move, what the database holds of it afterwards."""
    traces: list[dict[str, int | None]] = []

    def inspect(factory: sessionmaker[Session], round_id: int, samples: list[Sample]) -> None:
        with factory() as session:
            rnd = session.get_one(Round, round_id)
            for s in samples:
                if s.action == "move" and s.outcome.startswith("refused"):
                    assert s.target is not None
                    traces.append(_trace(session, rnd, s.student, s.target))

    out = run(300, 1, 5, time_limit=10, on_ready=inspect)
    out["refused_traces"] = traces
    return out


def test_every_action_has_a_row(result: dict[str, Any]) -> None:
    """Each series produced accepted actions, timed, with their statements counted."""
    accepted = {r["action"]: r for r in result["rows"] if r["outcome"] == "accepted"}
    assert set(SERIES) <= accepted.keys()
    for row in result["rows"]:
        assert row["count"] > 0
        assert 0 < row["median_ms"] <= row["p90_ms"] <= row["max_ms"]
        assert 0 < row["statements_min"] <= row["statements_median"] <= row["statements_max"]
    text = report(result, "python -m bench.moves --students 300 --moves 5")
    for action in SERIES:
        assert f"| {action} | accepted |" in text


def test_a_refused_move_changes_nothing(result: dict[str, Any]) -> None:
    """Refused moves get rows of their own, by rule, and none left a trace: the student is
    not at the slot and has no audit event and no pin (no other series touches them)."""
    refused = [r for r in result["rows"] if r["action"] == "move" and r["outcome"] != "accepted"]
    assert refused
    assert all(r["outcome"].startswith("refused H") for r in refused)
    samples = [s for s in result["samples"] if s["outcome"].startswith("refused")]
    assert samples
    assert all(s["rule"] and s["changed"] is False for s in samples)
    assert len(result["refused_traces"]) == sum(r["count"] for r in refused)
    assert all(t == {"at_target": 0, "events": 0, "pins": 0} for t in result["refused_traces"])


def test_command_line_prints_the_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bench.moves` prints the Markdown table and writes every sample as JSON."""
    out = tmp_path / "moves.json"
    main(["--students", "60", "--moves", "2", "--time-limit", "5", "--json", str(out)])
    assert "| action | outcome | count | median ms |" in capsys.readouterr().out
    assert '"samples"' in out.read_text(encoding="utf-8")
