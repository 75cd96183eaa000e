"""Updating a stored round from a whole document (`update_round`, `wbl import-round --update`):
ids, pins and runs kept; the importer's checks and the re-check of pins and placements; what an
update does not apply refused; dry runs; the CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    Assignment,
    AuditEvent,
    Pin,
    Program,
    Round,
    Slot,
    SolveRun,
    Student,
    make_engine,
    make_session_factory,
)
from scheduler.breaks import AUDIT_ACTION
from scheduler.cli import main
from scheduler.round_update import RoundUpdateError, update_round
from scheduler.rounds import canonical, export_round
from scheduler.tables import TablesError
from tests.scheduler.test_import_breaks import _setup


def _ids(session: Session) -> dict[str, Any]:
    """The database ids an update must keep."""
    session.expire_all()
    return {
        "students": sorted(session.execute(select(Student.external_id, Student.id)).all()),
        "slots": sorted(session.execute(select(Slot.external_id, Slot.id)).all()),
        "pins": session.execute(select(Pin.id, Pin.slot_id).order_by(Pin.id)).all(),
        "runs": session.scalars(select(SolveRun.id)).all(),
        "assignments": session.execute(
            select(Assignment.id, Assignment.slot_id, Assignment.status).order_by(Assignment.id)
        ).all(),
    }


def _slot(doc: dict[str, Any], slot: str) -> dict[str, Any]:
    return next(sl for o in doc["opportunities"] for sl in o["slots"] if sl["id"] == slot)


@pytest.fixture
def rnd(session: Session, program: Program, tmp_path: Path) -> Round:
    return _setup(session, program, tmp_path)


def test_update_keeps_ids_pins_and_runs(session: Session, rnd: Round) -> None:
    """An update changes the data in place: every kept row keeps its id, pins and runs stay."""
    doc = export_round(session, rnd)
    before = _ids(session)
    doc["round"]["name"] = "Fall 2026 (final)"
    doc["students"][1]["email"] = "ben.okafor@students.example.org"
    report = update_round(session, rnd, doc)
    assert report.breaks == []
    assert _ids(session) == before
    assert canonical(export_round(session, rnd)) == canonical(doc)
    assert session.get_one(Round, rnd.id).name == "Fall 2026 (final)"


def test_update_adds_and_deletes_unplaced_rows(session: Session, rnd: Round) -> None:
    """Rows absent from the document are deleted (a run's placed rows are refused), new ids
    are inserted, the others keep their ids."""
    doc = export_round(session, rnd)
    new = copy.deepcopy(doc["students"][2])
    new.update(id="st-4", name="Dee Wu")
    new.pop("email", None)
    doc["students"].append(new)
    report = update_round(session, rnd, doc)
    assert report.breaks == []
    assert session.scalar(select(Student.id).where(Student.external_id == "st-4")) is not None
    gone = copy.deepcopy(doc)
    gone["students"] = [s for s in gone["students"] if s["id"] != "st-1"]
    with pytest.raises(TablesError, match='student "st-1" is not in the file, but cannot be'):
        update_round(session, rnd, gone)


def test_breaking_update_refused_then_accepted(session: Session, rnd: Round) -> None:
    """H2: an update lowering a slot's capacity under its placements is refused naming the
    placement, nothing written; with accept_breaks it is applied and the placement marked."""
    doc = export_round(session, rnd)
    _slot(doc, "sl-2")["capacity"] = 1
    before = _ids(session)
    with pytest.raises(TablesError) as info:
        update_round(session, rnd, doc)
    assert [(b.student, b.rule) for b in info.value.breaks] == [("st-3", "H2")]
    assert 'H2 proposed placement of student "st-3"' in str(info.value)
    assert _ids(session) == before
    assert _slot(export_round(session, rnd), "sl-2")["capacity"] == 3

    report = update_round(session, rnd, doc, accept_breaks=True)
    assert [(b.student, b.rule) for b in report.breaks] == [("st-3", "H2")]
    marked = session.scalars(select(Assignment.broken_rule).order_by(Assignment.id)).all()
    assert marked == [None, None, "H2"]
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == AUDIT_ACTION)).one()


def test_update_that_changes_pins_is_refused(session: Session, rnd: Round) -> None:
    """H9 aside: pins (like forbidden pairs and travel) are not applied by an update; a document
    that changes them is refused naming the part, and nothing is written."""
    doc = export_round(session, rnd)
    doc["pins"] = []
    doc["students"][0]["email"] = "changed@students.example.org"
    before = _ids(session)
    with pytest.raises(RoundUpdateError, match="the round's pins would not match the document"):
        update_round(session, rnd, doc)
    assert _ids(session) == before
    assert export_round(session, rnd)["students"][0]["email"] == "ana@students.example.org"


def test_update_of_another_round_is_refused(session: Session, rnd: Round) -> None:
    """The document must be the round's own (same id)."""
    doc = export_round(session, rnd)
    doc["round"]["id"] = "spring"
    with pytest.raises(RoundUpdateError, match="the document is round 'spring', not 'fall'"):
        update_round(session, rnd, doc)


def test_update_dry_run_lists_and_keeps_nothing(session: Session, rnd: Round) -> None:
    """A dry run lists what the update would break and writes nothing."""
    doc = export_round(session, rnd)
    doc["students"][0]["credentials"] = []
    before = canonical(export_round(session, rnd))
    report = update_round(session, rnd, doc, dry_run=True)
    assert report.dry_run
    assert [(b.student, b.rule) for b in report.breaks] == [("st-1", "H3")]
    assert canonical(export_round(session, rnd)) == before
    assert session.scalars(select(Assignment.broken_rule)).all() == [None, None, None]


def test_cli_import_round_update(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`wbl import-round --update`: exit 2 with the breaks and nothing written; with
    --accept-breaks exit 0 and the breaks printed; an existing round without --update is
    refused with the hint; --accept-breaks alone is a usage error."""
    url = f"sqlite:///{tmp_path / 'wbl.db'}"
    monkeypatch.setenv("WBL_DATABASE_URL", url)
    runner = CliRunner()
    engine = make_engine(url)
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        program = Program(slug="default", name="Default")
        session.add(program)
        session.flush()
        rnd = _setup(session, program, tmp_path)
        doc = export_round(session, rnd)
    _slot(doc, "sl-2")["capacity"] = 1
    path = tmp_path / "round.json"
    path.write_text(json.dumps(doc), encoding="utf-8")

    result = runner.invoke(main, ["import-round", str(path)])
    assert result.exit_code == 2
    assert "already has a round 'fall'" in result.stderr
    assert "--update" in result.stderr
    assert runner.invoke(main, ["import-round", str(path), "--accept-breaks"]).exit_code == 2

    result = runner.invoke(main, ["import-round", str(path), "--update"])
    assert result.exit_code == 2
    assert 'H2 proposed placement of student "st-3"' in result.stderr
    result = runner.invoke(main, ["import-round", str(path), "--update", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert 'H2 proposed placement of student "st-3"' in result.stdout
    with factory() as session:
        assert session.scalar(select(Slot.capacity).where(Slot.external_id == "sl-2")) == 3
    result = runner.invoke(main, ["import-round", str(path), "--update", "--accept-breaks"])
    assert result.exit_code == 0, result.output
    assert 'H2 proposed placement of student "st-3"' in result.stdout
    with factory() as session:
        assert session.scalar(select(Slot.capacity).where(Slot.external_id == "sl-2")) == 1
        assert "H2" in session.scalars(select(Assignment.broken_rule)).all()
    engine.dispose()
