"""Imports that break pins or placements: refused naming each, or applied with
`accept_breaks` (marked, audited, listed); one case per hard rule, marks cleared again, dry runs,
the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Membership,
    Opportunity,
    Pin,
    Program,
    Role,
    Round,
    Slot,
    SolveRun,
    Student,
    User,
    make_session_factory,
)
from scheduler.breaks import AUDIT_ACTION, find_breaks
from scheduler.cli_tables import tables
from scheduler.errors import NotAllowed
from scheduler.rounds import export_round
from scheduler.tables import TablesError, create_round, import_tables
from tests.scheduler.test_tables import SOLUTION, TABLES, _files, _run_with, _write

# The district of test_tables with one more slot of op-2 (for a pin that waits on a re-solve).
SLOTS = TABLES["slots"] + "op-2,sl-3,2,,2026-10-13,13:00,15:30\n"


def _setup(session: Session, program: Program, tmp_path: Path, slug: str = "fall") -> Round:
    """A round with a chosen run: st-1 published at op-1/sl-1 with workplace mentor me-1,
    st-2 pinned at op-2/sl-2, st-3 proposed at op-2/sl-2 with community mentor me-2 (wed
    16:00-16:30); pins: st-2 at op-2/sl-2, and st-3 at op-2/sl-3 (not yet re-solved)."""
    rnd = create_round(
        session,
        program,
        slug,
        name="Fall 2026",
        start_date="2026-09-08",
        end_date="2026-12-18",
        timezone="America/Chicago",
        holidays=["2026-11-26"],
    )
    import_tables(session, rnd, _files(tmp_path, slots=SLOTS))
    ids = dict(session.execute(select(Student.external_id, Student.id)).all())
    ops = dict(session.execute(select(Opportunity.external_id, Opportunity.id)).all())
    slots = dict(session.execute(select(Slot.external_id, Slot.id)).all())
    session.add(
        Pin(
            round_id=rnd.id,
            student_id=ids["st-2"],
            opportunity_id=ops["op-2"],
            slot_id=slots["sl-2"],
        )
    )
    session.flush()
    run = _run_with(session, rnd, SOLUTION)
    session.add(
        Pin(
            round_id=rnd.id,
            student_id=ids["st-3"],
            opportunity_id=ops["op-2"],
            slot_id=slots["sl-3"],
        )
    )
    rnd = session.get_one(Round, rnd.id)
    rnd.chosen_run_id = run.id
    first = session.scalars(
        select(Assignment).where(Assignment.run_id == run.id, Assignment.student_id == ids["st-1"])
    ).one()
    first.status = AssignmentStatus.published
    session.flush()
    return rnd


@pytest.fixture
def rnd(session: Session, program: Program, tmp_path: Path) -> Round:
    return _setup(session, program, tmp_path)


def _student_row(student: str, old: str, new: str) -> str:
    """The students table with one cell of `student`'s row changed."""
    lines = TABLES["students"].splitlines(keepends=True)
    out = []
    for line in lines:
        if line.startswith(f"{student},"):
            assert old in line
            line = line.replace(old, new, 1)
        out.append(line)
    return "".join(out)


def _table(kind: str, old: str, new: str) -> str:
    text = SLOTS if kind == "slots" else TABLES[kind]
    assert old in text
    return text.replace(old, new)


# kind -> new text of the files, the student and row kind expected broken, rule, words.
CASES: list[Any] = [
    pytest.param(
        {"slots": _table("slots", "op-2,sl-2,3,", "op-2,sl-2,1,")},
        ("st-3", "assignment", "H2", 'slot "sl-2" has 1 seat for 2 students'),
        id="H2-lowered-slot-capacity-proposed-loses",
    ),
    pytest.param(
        {"slots": _table("slots", "op-1,sl-1,2,", "op-1,sl-1,0,")},
        ("st-1", "assignment", "H2", 'slot "sl-1" has 0 seats for 1 student ('),
        id="H2-published-placement",
    ),
    pytest.param(
        {"students": _student_row("st-1", ",health,cpr,", ",health,,")},
        ("st-1", "assignment", "H3", "requires cpr, which you do not hold yet"),
        id="H3-dropped-credential",
    ),
    pytest.param(
        {
            "opportunities": _table(
                "opportunities",
                "op-2,em-2,Repair shadow,Job shadow,it,39.02",
                "op-2,em-2,Repair shadow,Job shadow,it,41.02",
            )
        },
        ("st-2", "pin", "H4", "longer than your limit of 60 minutes"),
        id="H4-site-moved-too-far",
    ),
    pytest.param(
        {"schedules": TABLES["schedules"] + "st-1,thu,16:00,17:00\n"},
        ("st-1", "assignment", "H5", "clashes with your classes once the"),
        id="H5-added-class-block",
    ),
    pytest.param(
        {"students": _student_row("st-1", ",yes,15,", ",yes,5,")},
        ("st-1", "assignment", "H6", "asks for 6 hours a week; you may work 5"),
        id="H6-max-hours",
    ),
    pytest.param(
        {
            "students": _student_row("st-1", "2009-03-01", "2011-06-01"),
            "slots": _table(
                "slots", "op-1,sl-1,2,thu,,15:30,18:30", "op-1,sl-1,2,thu,,15:30,19:30"
            ).replace("op-1,sl-1,2,tue,,15:30,18:30", "op-1,sl-1,2,tue,,15:30,19:30"),
        },
        ("st-1", "assignment", "H7", "allows for students under 16; you are 15"),
        id="H7-age-and-hours",
    ),
    pytest.param(
        {"mentors": _table("mentors", "me-1,Dana Reyes,em-1,", "me-1,Dana Reyes,em-2,")},
        ("st-1", "assignment", "H8", 'mentor "me-1" is now of employer "em-2"'),
        id="H8-mentor-moved-employer",
    ),
    pytest.param(
        {"mentors": _table("mentors", "em-1,health,2,", "em-1,health,0,")},
        ("st-1", "assignment", "H8", 'mentor "me-1" has 0 places for 1 student ('),
        id="H8-mentor-capacity-lowered",
    ),
    pytest.param(
        {"availability": "mentor_id,day,start,end\nme-2,thu,16:00,18:00\n"},
        ("st-3", "assignment", "H8", "the meeting wed 16:00-16:30 no longer fits"),
        id="H8-community-availability-removed",
    ),
]


def _state(session: Session, rnd: Round) -> tuple[Any, ...]:
    """What an import writes: the round's document, version, marks and audit events."""
    session.expire_all()
    version = session.get_one(Round, rnd.id).version
    marks = session.execute(
        select(Assignment.id, Assignment.broken_rule).order_by(Assignment.id)
    ).all()
    pins = session.execute(select(Pin.id, Pin.slot_id, Pin.broken_rule).order_by(Pin.id)).all()
    events = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    return export_round(session, rnd), version, marks, pins, events


def _row(session: Session, kind: str, student: str) -> Assignment | Pin:
    model = Assignment if kind == "assignment" else Pin
    rows = session.scalars(
        select(model)
        .join(Student, Student.id == model.student_id)
        .where(Student.external_id == student)
    ).all()
    return rows[0]


def _paths(tmp_path: Path, texts: dict[str, str]) -> dict[str, Path]:
    return {kind: _write(tmp_path, f"new-{kind}.csv", text) for kind, text in texts.items()}


def test_the_setup_breaks_nothing(session: Session, rnd: Round) -> None:
    """The fixture's run and pins hold every rule: each case's break is the import's doing."""
    assert find_breaks(session, rnd) == []


@pytest.mark.parametrize(("texts", "expected"), CASES)
def test_breaking_import_is_refused_naming_the_row(
    session: Session, rnd: Round, tmp_path: Path, texts: dict[str, str], expected: Any
) -> None:
    """H2-H8: an import that breaks a placement or pin is refused, each named with its rule,
    and nothing is written."""
    student, kind, rule, words = expected
    before = _state(session, rnd)
    with pytest.raises(TablesError) as info:
        import_tables(session, rnd, _paths(tmp_path, texts))
    hits = [b for b in info.value.breaks if b.student == student and b.kind == kind]
    assert hits, info.value
    assert hits[0].rule == rule
    assert words in hits[0].reason
    assert f'student "{student}"' in str(info.value)
    assert f"{rule} " in str(info.value)
    assert "--accept-breaks" in str(info.value)
    assert _state(session, rnd) == before


@pytest.mark.parametrize(("texts", "expected"), CASES)
def test_breaking_import_applies_with_accept_breaks(
    session: Session, rnd: Round, tmp_path: Path, texts: dict[str, str], expected: Any
) -> None:
    """H2-H8: with accept_breaks the import is applied, the broken row marked with the rule
    and reason, one audit event lists the breaks, and the report returns them."""
    student, kind, rule, words = expected
    before = _state(session, rnd)
    report = import_tables(session, rnd, _paths(tmp_path, texts), accept_breaks=True)
    hits = [b for b in report.breaks if b.student == student and b.kind == kind]
    assert hits
    assert hits[0].rule == rule
    after = _state(session, rnd)
    assert after[0] != before[0]  # the data changed
    assert after[1] == before[1] + 1
    row = _row(session, kind, student)
    assert row.broken_rule == rule
    assert row.broken_reason is not None
    assert words in row.broken_reason
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == AUDIT_ACTION)).one()
    listed = [(b["student"], b["kind"], b["rule"]) for b in event.detail["breaks"]]
    assert (student, kind, rule) in listed
    assert event.detail["kind"] == "tables"


def test_h2_keeps_the_published_and_pinned_seats(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """H2: when a slot loses seats, the proposed placement is marked, the pinned one kept."""
    texts = {"slots": _table("slots", "op-2,sl-2,3,", "op-2,sl-2,1,")}
    report = import_tables(session, rnd, _paths(tmp_path, texts), accept_breaks=True)
    assert [(b.student, b.kind, b.rule) for b in report.breaks] == [("st-3", "assignment", "H2")]
    assert _row(session, "assignment", "st-2").broken_rule is None


def test_h9_deleted_pinned_slot_refused_then_pin_kept_without_it(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """H9: replacing the slots without a pinned slot is refused naming the pin; accepted, the
    pin keeps its student and opportunity without the slot, marked H9."""
    texts = {"slots": TABLES["slots"]}  # no sl-3
    before = _state(session, rnd)
    with pytest.raises(TablesError) as info:
        import_tables(session, rnd, _paths(tmp_path, texts), replace=True)
    assert [(b.student, b.kind, b.rule) for b in info.value.breaks] == [("st-3", "pin", "H9")]
    assert 'slot "sl-3" is not in new-slots.csv and is deleted' in str(info.value)
    assert _state(session, rnd) == before

    report = import_tables(session, rnd, _paths(tmp_path, texts), replace=True, accept_breaks=True)
    assert [(b.student, b.kind, b.rule) for b in report.breaks] == [("st-3", "pin", "H9")]
    pin = _row(session, "pin", "st-3")
    assert pin.slot_id is None
    assert pin.broken_rule == "H9"
    assert session.scalar(select(Slot.id).where(Slot.external_id == "sl-3")) is None


def test_h9_unhooked_pin_that_breaks_more_is_one_break(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """H9 with H3: a pin that loses its slot and whose opportunity now requires a credential
    the student lacks is listed once, with both rules."""
    texts = {
        "slots": TABLES["slots"],
        "opportunities": _table(
            "opportunities",
            "op-2,em-2,Repair shadow,Job shadow,it,39.02,-94.61,,yes,5,,,,",
            "op-2,em-2,Repair shadow,Job shadow,it,39.02,-94.61,,yes,5,,,osha10,",
        ),
    }
    report = import_tables(session, rnd, _paths(tmp_path, texts), replace=True, accept_breaks=True)
    pins = [b for b in report.breaks if b.kind == "pin" and b.student == "st-3"]
    assert len(pins) == 1
    assert pins[0].rule == "H3"
    assert pins[0].reason.startswith('H9 slot "sl-3" is not in new-slots.csv')
    assert "H3 Repair shadow requires osha10" in pins[0].reason


def test_h9_deleted_pinned_opportunity_is_listed(
    session: Session, program: Program, tmp_path: Path
) -> None:
    """H9: deleting an opportunity that only a pin names removes the pin with it, listed and
    audited, never silently."""
    rnd = create_round(
        session,
        program,
        "small",
        name="Small",
        start_date="2026-09-08",
        end_date="2026-12-18",
        timezone="America/Chicago",
    )
    import_tables(session, rnd, _files(tmp_path))
    student = session.scalars(select(Student).where(Student.external_id == "st-2")).one()
    opp = session.scalars(select(Opportunity).where(Opportunity.external_id == "op-2")).one()
    session.add(Pin(round_id=rnd.id, student_id=student.id, opportunity_id=opp.id))
    session.flush()
    texts = {
        "opportunities": "\n".join(TABLES["opportunities"].splitlines()[:2]) + "\n",
        "slots": "\n".join(TABLES["slots"].splitlines()[:3]) + "\n",
        "preferences": "student_id,rank,opportunity_id\nst-1,1,op-1\n",
    }
    with pytest.raises(TablesError, match='H9 pin of student "st-2" at opportunity "op-2"'):
        import_tables(session, rnd, _paths(tmp_path, texts), replace=True)
    report = import_tables(session, rnd, _paths(tmp_path, texts), replace=True, accept_breaks=True)
    assert [(b.student, b.kind, b.rule) for b in report.breaks] == [("st-2", "pin", "H9")]
    assert "the pin is removed with it" in report.breaks[0].reason
    assert session.scalars(select(Pin)).all() == []
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == AUDIT_ACTION)).one()
    assert event.detail["breaks"][0]["rule"] == "H9"


def test_h9_deleted_pinned_student_is_listed(
    session: Session, program: Program, tmp_path: Path
) -> None:
    """H9: replacing the students without a pinned one (a round not solved yet) is refused
    naming the pin; accepted, the pin goes with the student, listed."""
    rnd = create_round(
        session,
        program,
        "small",
        name="Small",
        start_date="2026-09-08",
        end_date="2026-12-18",
        timezone="America/Chicago",
    )
    import_tables(session, rnd, _files(tmp_path))
    student = session.scalars(select(Student).where(Student.external_id == "st-2")).one()
    opp = session.scalars(select(Opportunity).where(Opportunity.external_id == "op-2")).one()
    session.add(Pin(round_id=rnd.id, student_id=student.id, opportunity_id=opp.id))
    session.flush()
    texts = {"students": _student_row("st-2", "st-2,", "st-9,")}
    with pytest.raises(TablesError) as info:
        import_tables(session, rnd, _paths(tmp_path, texts), replace=True)
    assert [(b.student, b.kind, b.rule) for b in info.value.breaks] == [("st-2", "pin", "H9")]
    assert 'student "st-2" is not in new-students.csv and is deleted' in str(info.value)
    assert session.scalars(select(Pin)).all() != []
    report = import_tables(session, rnd, _paths(tmp_path, texts), replace=True, accept_breaks=True)
    assert [(b.student, b.rule) for b in report.breaks] == [("st-2", "H9")]
    assert session.scalars(select(Pin)).all() == []


def test_h3_pins_broken_by_a_new_required_credential(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """H3 on a pin: the pinned pair itself no longer holds (a required credential added)."""
    texts = {
        "opportunities": _table(
            "opportunities",
            "op-2,em-2,Repair shadow,Job shadow,it,39.02,-94.61,,yes,5,,,,",
            "op-2,em-2,Repair shadow,Job shadow,it,39.02,-94.61,,yes,5,,,osha10,",
        )
    }
    with pytest.raises(TablesError) as info:
        import_tables(session, rnd, _paths(tmp_path, texts))
    pins = [b for b in info.value.breaks if b.kind == "pin"]
    assert {(b.student, b.rule) for b in pins} == {("st-2", "H3"), ("st-3", "H3")}


def test_import_that_breaks_nothing_behaves_as_before(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """A re-import into a round with pins and a chosen run that breaks nothing goes through:
    no breaks, no marks, no breaks event."""
    texts = {"students": _student_row("st-2", "ben@students", "benny@students")}
    report = import_tables(session, rnd, _paths(tmp_path, texts))
    assert report.breaks == []
    assert report.marks_cleared == 0
    events = session.scalars(select(AuditEvent.action)).all()
    assert AUDIT_ACTION not in events
    assert events[-1] == "round.import_tables"
    assert session.scalars(select(Student.email).where(Student.external_id == "st-2")).one() == (
        "benny@students.example.org"
    )


def test_marks_clear_when_a_later_import_fixes_them(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """A mark stays through unrelated imports (which are not refused for it) and is cleared by
    the import that makes the placement hold again."""
    broken = {"students": _student_row("st-1", ",health,cpr,", ",health,,")}
    import_tables(session, rnd, _paths(tmp_path, broken), accept_breaks=True)
    assert _row(session, "assignment", "st-1").broken_rule == "H3"

    unrelated = {"employers": TABLES["employers"].replace("Byte Shop", "Byte Shop Inc")}
    report = import_tables(session, rnd, _paths(tmp_path, unrelated))
    assert [(b.student, b.rule, b.new) for b in report.breaks] == [("st-1", "H3", False)]
    assert _row(session, "assignment", "st-1").broken_rule == "H3"

    report = import_tables(session, rnd, _paths(tmp_path, {"students": TABLES["students"]}))
    assert report.breaks == []
    assert report.marks_cleared == 1
    assert _row(session, "assignment", "st-1").broken_rule is None
    last = session.scalars(
        select(AuditEvent).where(AuditEvent.action == AUDIT_ACTION).order_by(AuditEvent.id.desc())
    ).first()
    assert last is not None
    assert last.detail["marks_cleared"] == 1


def test_dry_run_lists_breaks_and_writes_nothing(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """A dry run returns what the import would break and keeps nothing."""
    before = _state(session, rnd)
    texts = {"students": _student_row("st-1", ",health,cpr,", ",health,,")}
    report = import_tables(session, rnd, _paths(tmp_path, texts), dry_run=True)
    assert report.dry_run
    assert [(b.student, b.rule) for b in report.breaks] == [("st-1", "H3")]
    assert _state(session, rnd) == before


def test_viewer_may_not_import(session: Session, rnd: Round, tmp_path: Path) -> None:
    """access: importing changes the round, so a viewer is refused before anything is read."""
    user = User(email="v@example.org", name="V")
    session.add(user)
    session.flush()
    session.add(Membership(user=user, program_id=rnd.program_id, role=Role.viewer))
    session.flush()
    with pytest.raises(NotAllowed):
        import_tables(session, rnd, _files(tmp_path), user=user)


def test_cli_refuses_then_accepts(engine: Engine, tmp_path: Path) -> None:
    """`wbl tables import`: exit 2 with the breaks on stderr and nothing written; with
    --accept-breaks exit 0 and the breaks printed; --dry-run prints them and keeps nothing."""
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        program = Program(slug="default", name="Default")
        session.add(program)
        session.flush()
        _setup(session, program, tmp_path)
    path = _write(tmp_path, "st.csv", _student_row("st-1", ",health,cpr,", ",health,,"))
    runner, obj = CliRunner(), {"session_factory": factory}
    args = ["import", "fall", "students", str(path)]
    result = runner.invoke(tables, args, obj=obj)
    assert result.exit_code == 2
    assert 'H3 published placement of student "st-1" at opportunity "op-1"' in result.stderr
    assert "--accept-breaks" in result.stderr
    result = runner.invoke(tables, [*args, "--dry-run"], obj=obj)
    assert result.exit_code == 0, result.output
    assert "would break" in result.output
    assert 'H3 published placement of student "st-1"' in result.output
    with factory() as session:
        assert session.scalars(select(Assignment.broken_rule)).all() == [None, None, None]
    result = runner.invoke(tables, [*args, "--accept-breaks"], obj=obj)
    assert result.exit_code == 0, result.output
    assert 'H3 published placement of student "st-1"' in result.output
    with factory() as session:
        assert "H3" in session.scalars(select(Assignment.broken_rule)).all()
        run = session.scalars(select(SolveRun)).one()
        assert run.round.chosen_run_id == run.id
