"""CSV/XLSX tables: imports (every error kind, all or nothing, upserts, bells), templates,
exports per school and per employer (privacy, formula neutralisation) and the CLI group."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import stat
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from bench import import_tables as import_bench
from models import (
    AuditEvent,
    Mentor,
    Opportunity,
    Preference,
    Program,
    Round,
    RoundStatus,
    RunStatus,
    School,
    Slot,
    SolveRun,
    Student,
    make_session_factory,
)
from models.base import Base
from scheduler.cli_tables import tables
from scheduler.generate import generate_round
from scheduler.rounds import canonical, export_round, store_solution
from scheduler.tables import (
    BELLS_SOURCE,
    EMPLOYER_COLUMNS,
    KIND_ORDER,
    KINDS,
    SCHOOL_COLUMNS,
    NoRunError,
    TableFile,
    TablesError,
    assignment_rows,
    choose_run,
    columns_markdown,
    create_round,
    document_tables,
    export_assignments,
    import_tables,
    neutralise,
    template_bytes,
    write_table,
    write_template,
)
from solver import load_problem

DOCS = Path(__file__).resolve().parents[2] / "docs" / "imports.md"

# A small district, one table per kind, as a coordinator would write it.
TABLES: dict[str, str] = {
    "schools": """school_id,name,lat,lon,address
sc-1,North High,39.10,-94.58,1 North St
sc-2,South High,39.00,-94.60,
""",
    "employers": """employer_id,name,contact_email
em-1,Acme Clinic,jobs@acme.example.com
em-2,Byte Shop,
""",
    "students": """student_id,first_name,last_name,school_id,grade,birth_date,home_lat,home_lon,\
travel_modes,max_commute_minutes,clusters,credentials,priority,groups,wants_mentor,\
max_weekly_hours,email
st-1,Ana,Lopez,sc-1,11,2009-03-01,39.11,-94.57,walk;transit,45,health,cpr,0,\
iep;english_learner,yes,15,ana@students.example.org
st-2,Ben,Okafor,sc-1,12,2008-07-15,,,car,,it,,1,,no,,ben@students.example.org
st-3,Cleo,Park,,10,2010-01-20,39.05,-94.59,bike,,,,,,true,,
""",
    "schedules": """student_id,day,start,end
st-2,mon,08:00,15:00
st-2,Tuesday,8:00,15:00
""",
    "opportunities": """opportunity_id,employer_id,title,kind,cluster,lat,lon,address,\
transit_accessible,capacity,min_age,min_grade,required_credentials,hazardous,requires_mentor
op-1,em-1,Clinic intern,internship,health,39.09,-94.57,9 Main St,true,,14,,cpr,false,true
op-2,em-2,Repair shadow,Job shadow,it,39.02,-94.61,,yes,5,,,,no,no
""",
    "slots": """opportunity_id,slot_id,capacity,day,date,start,end
op-1,sl-1,2,tue,,15:30,18:30
op-1,sl-1,2,thu,,15:30,18:30
op-2,sl-2,3,,2026-10-06,13:00,15:30
""",
    "mentors": """mentor_id,name,employer_id,clusters,capacity,virtual
me-1,Dana Reyes,em-1,health,2,false
me-2,Eli Stone,,,3,true
""",
    "availability": """mentor_id,day,start,end
me-2,wed,16:00,18:00
""",
    "preferences": """student_id,rank,opportunity_id
st-1,1,op-1
st-1,3,op-2
st-2,1,op-2
""",
}


@pytest.fixture
def rnd(session: Session, program: Program) -> Round:
    """An empty round to import into."""
    return create_round(
        session,
        program,
        "fall",
        name="Fall 2026",
        start_date="2026-09-08",
        end_date="2026-12-18",
        timezone="America/Chicago",
        holidays=["2026-11-26"],
    )


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _files(tmp_path: Path, **overrides: str) -> dict[str, Path]:
    texts = TABLES | overrides
    return {kind: _write(tmp_path, f"{kind}.csv", texts[kind]) for kind in texts}


def _import_all(session: Session, rnd: Round, tmp_path: Path) -> None:
    import_tables(session, rnd, _files(tmp_path))


def _count(session: Session, model: type[Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _student(session: Session, ext: str) -> Student:
    return session.scalars(select(Student).where(Student.external_id == ext)).one()


def _errors(
    session: Session, rnd: Round, kind: str, path: Path | TableFile, *, replace: bool = False
) -> list[str]:
    """The problems an import of one file reports; asserts that it wrote nothing."""
    before = {m: _count(session, m) for m in (School, Student, Opportunity, Slot, Mentor)}
    with pytest.raises(TablesError) as info:
        import_tables(session, rnd, {kind: path}, replace=replace)
    assert {m: _count(session, m) for m in before} == before
    return [str(issue) for issue in info.value.issues]


# --- Import errors ---------------------------------------------------------------------------


def test_missing_required_column(session: Session, rnd: Round, tmp_path: Path) -> None:
    """A required column absent from the header is reported on row 1 with its name."""
    text = "school_id,name,lat\nsc-1,North,39.1\n"
    errors = _errors(session, rnd, "schools", _write(tmp_path, "schools.csv", text))
    assert errors == ["schools.csv row 1, column lon: required column is missing"]


def test_bad_number(session: Session, rnd: Round, tmp_path: Path) -> None:
    """A cell of the wrong type names its row, column and value."""
    _import_all(session, rnd, tmp_path)
    text = TABLES["students"].replace(",11,2009-03-01", ",eleven,2009-03-01")
    errors = _errors(session, rnd, "students", _write(tmp_path, "s.csv", text))
    assert errors == ['s.csv row 2, column grade: not a whole number: "eleven"']


def test_bad_date(session: Session, rnd: Round, tmp_path: Path) -> None:
    """A date that is not YYYY-MM-DD is refused as the spreadsheet shows it."""
    import_tables(session, rnd, {"schools": _write(tmp_path, "sc.csv", TABLES["schools"])})
    text = TABLES["students"].replace("2008-07-15", "13/02/2009")
    errors = _errors(session, rnd, "students", _write(tmp_path, "students.csv", text))
    assert errors == [
        'students.csv row 3, column birth_date: not a date (YYYY-MM-DD): "13/02/2009"'
    ]


def test_bad_times(session: Session, rnd: Round, tmp_path: Path) -> None:
    """Times must be HH:MM, ends after starts, and 24:00 only an end."""
    _import_all(session, rnd, tmp_path)
    text = (
        "student_id,day,start,end\n"
        "st-1,mon,25:00,26:00\n"
        "st-1,tue,15:00,14:00\n"
        "st-1,wed,24:00,24:00\n"
    )
    errors = _errors(session, rnd, "schedules", _write(tmp_path, "sched.csv", text))
    assert errors == [
        'sched.csv row 2, column start: not a time (HH:MM, 00:00 to 24:00): "25:00"',
        'sched.csv row 2, column end: not a time (HH:MM, 00:00 to 24:00): "26:00"',
        'sched.csv row 3, column end: must be after start (15:00), not "14:00"',
        "sched.csv row 4, column start: 24:00 is only an end (the end of the day)",
    ]


def test_dated_block_outside_round_or_on_holiday(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """A slot's dated block lies within the round and on no holiday."""
    _import_all(session, rnd, tmp_path)
    text = (
        "opportunity_id,slot_id,capacity,day,date,start,end\n"
        "op-2,sl-2,3,,2027-01-05,13:00,15:30\n"
        "op-2,sl-2,3,,2026-11-26,13:00,15:30\n"
        "op-2,sl-2,3,mon,2026-10-05,13:00,15:30\n"
    )
    errors = _errors(session, rnd, "slots", _write(tmp_path, "slots.csv", text))
    assert errors == [
        "slots.csv row 2, column date: 2027-01-05 is outside the round (2026-09-08 to 2026-12-18)",
        "slots.csv row 3, column date: 2026-11-26 is a holiday of the round",
        "slots.csv row 4, column date: a block has a day (weekly) or a date, not both",
    ]


def test_unknown_reference(session: Session, rnd: Round, tmp_path: Path) -> None:
    """A reference to an id neither the round nor an earlier file has is reported."""
    import_tables(session, rnd, {"schools": _write(tmp_path, "sc.csv", TABLES["schools"])})
    text = TABLES["students"].replace(",sc-1,12,", ",sc-9,12,")
    errors = _errors(session, rnd, "students", _write(tmp_path, "students.csv", text))
    assert errors == [
        'students.csv row 3, column school_id: unknown school "sc-9" (not in the round)'
    ]


def test_unknown_reference_within_a_batch(session: Session, rnd: Round, tmp_path: Path) -> None:
    """In a batch, references resolve against the earlier files and say which one."""
    files = _files(tmp_path, preferences="student_id,rank,opportunity_id\nst-1,1,op-7\n")
    with pytest.raises(TablesError) as info:
        import_tables(session, rnd, files)
    assert [str(i) for i in info.value.issues] == [
        'preferences.csv row 2, column opportunity_id: unknown opportunity "op-7"'
        " (not in the round nor in opportunities.csv)"
    ]
    assert _count(session, School) == 0


def test_duplicate_id(session: Session, rnd: Round, tmp_path: Path) -> None:
    """An id given twice in a file is reported on the second row, naming the first."""
    text = TABLES["schools"] + "sc-1,North again,39.1,-94.5,\n"
    errors = _errors(session, rnd, "schools", _write(tmp_path, "schools.csv", text))
    assert errors == ['schools.csv row 4, column school_id: duplicate id "sc-1" (first at row 2)']


def test_bad_enums(session: Session, rnd: Round, tmp_path: Path) -> None:
    """Days, travel modes and kinds must be among the documented values."""
    _import_all(session, rnd, tmp_path)
    sched = _write(tmp_path, "sched.csv", "student_id,day,start,end\nst-1,someday,08:00,09:00\n")
    assert _errors(session, rnd, "schedules", sched) == [
        'sched.csv row 2, column day: not a day (mon, tue, wed, thu, fri, sat, sun): "someday"'
    ]
    students = _write(tmp_path, "st.csv", TABLES["students"].replace("bike", "jetpack"))
    assert _errors(session, rnd, "students", students) == [
        "st.csv row 4, column travel_modes: not a list of travel modes"
        ' (walk, bike, transit, car): "jetpack"'
    ]
    opps = _write(tmp_path, "op.csv", TABLES["opportunities"].replace("internship", "volunteer"))
    assert _errors(session, rnd, "opportunities", opps) == [
        "op.csv row 2, column kind: not a kind (internship, apprenticeship, pre_apprenticeship,"
        ' job_shadow, co_op): "volunteer"'
    ]


def test_required_cell_empty_and_row_rules(session: Session, rnd: Round, tmp_path: Path) -> None:
    """Empty required cells, a lone home coordinate and a student with no origin are refused."""
    import_tables(session, rnd, {"schools": _write(tmp_path, "sc.csv", TABLES["schools"])})
    header = TABLES["students"].splitlines()[0]
    text = (
        header + "\n"
        "st-1,Ana,Lopez,sc-1,11,,,,walk,,,,,,,,\n"
        "st-2,Ben,Okafor,sc-1,12,2008-07-15,39.1,,car,,,,,,,,\n"
        "st-3,Cleo,Park,,10,2010-01-20,,,bike,,,,,,,,\n"
        "st-4,,,sc-1,10,2010-01-20,,,bike,,,,,,,,\n"
    )
    errors = _errors(session, rnd, "students", _write(tmp_path, "st.csv", text))
    assert errors == [
        "st.csv row 2, column birth_date: required, but empty",
        "st.csv row 3, column home_lon: required when the other home coordinate is given",
        "st.csv row 4, column school_id: a student needs a school_id or a home location"
        " (home_lat, home_lon): commutes start from one of them",
        "st.csv row 5, column first_name: required, but empty (give name, or first_name and"
        " last_name)",
    ]


def test_empty_file(session: Session, rnd: Round, tmp_path: Path) -> None:
    """An empty file is refused with a message naming it."""
    assert _errors(session, rnd, "schools", _write(tmp_path, "schools.csv", "")) == [
        "schools.csv: the file is empty (it needs at least a header row)"
    ]
    empty_sheet = tmp_path / "schools.xlsx"
    write_table(empty_sheet, [], [])
    assert _errors(session, rnd, "schools", empty_sheet) == [
        "schools.xlsx: the first sheet is empty (no header row)"
    ]


def test_non_utf8_file(session: Session, rnd: Round, tmp_path: Path) -> None:
    """A Windows-1252 file is refused with the line of the first bad byte, unless its
    encoding is named."""
    path = tmp_path / "schools.csv"
    path.write_bytes(TABLES["schools"].replace("North", "Jos\u00e9").encode("cp1252"))
    (error,) = _errors(session, rnd, "schools", path)
    assert error.startswith("schools.csv: not UTF-8 text: byte 0xe9 on line 2 is not valid UTF-8")
    assert "--encoding cp1252" in error
    import_tables(session, rnd, {"schools": path}, encoding="cp1252")
    assert (
        session.scalar(select(School.name).where(School.external_id == "sc-1")) == "Jos\u00e9 High"
    )


def test_bom_semicolons_and_header_spelling(session: Session, rnd: Round) -> None:
    """A BOM, semicolon delimiters and "School ID"-style headers are read as intended."""
    text = "\ufeffSchool ID;Name;LAT;Lon;address\nsc-1;North;39,1;-94,5;\n"
    # A decimal comma is not a number: the semicolon file must still say so, cell by cell.
    errors = _errors(session, rnd, "schools", TableFile("s.csv", text.encode("utf-8")))
    assert errors == [
        's.csv row 2, column lat: not a number: "39,1"',
        's.csv row 2, column lon: not a number: "-94,5"',
    ]
    good = text.replace("39,1", "39.1").replace("-94,5", "-94.5")
    import_tables(session, rnd, {"schools": TableFile("s.csv", good.encode("utf-8"))})
    assert session.scalar(select(School.lat)) == 39.1


def test_every_error_reported_at_once(session: Session, rnd: Round, tmp_path: Path) -> None:
    """All problems of all files come back together, in file and row order."""
    files = _files(
        tmp_path,
        schools=TABLES["schools"].replace("39.10", "91"),
        employers=TABLES["employers"].replace("jobs@acme.example.com", "not an email"),
        slots=TABLES["slots"].replace("op-1,sl-1,2,thu", "op-1,sl-1,4,thu"),
    )
    with pytest.raises(TablesError) as info:
        import_tables(session, rnd, files)
    assert [str(i) for i in info.value.issues] == [
        'schools.csv row 2, column lat: must be between -90 and 90, not "91"',
        'employers.csv row 2, column contact_email: not an email address: "not an email"',
        'slots.csv row 3, column capacity: 4 differs from 2 on row 2 (same slot "sl-1")',
    ]
    assert "nothing was imported" in str(info.value)
    assert _count(session, School) == 0


def test_ragged_rows_and_unknown_columns(session: Session, rnd: Round, tmp_path: Path) -> None:
    """Extra cells beyond the header are an error; unknown columns only a warning."""
    text = "school_id,name,lat,lon,notes\nsc-1,North,39.1,-94.5,ok\nsc-2,South,39,-94.6,x,y\n"
    assert _errors(session, rnd, "schools", _write(tmp_path, "s.csv", text)) == [
        "s.csv row 3: more cells than the header has columns (an unquoted comma in a cell?)"
    ]
    report = import_tables(
        session, rnd, {"schools": _write(tmp_path, "s.csv", text.replace(",x,y", ",x"))}
    )
    assert report.files[0].warnings == ["columns ignored (not schools columns): notes"]


def test_round_left_invalid_is_rolled_back(session: Session, rnd: Round, tmp_path: Path) -> None:
    """An import that would leave the round invalid is undone and reported by student id."""
    _import_all(session, rnd, tmp_path)
    # st-3 has no school: without the home columns' values it would have no origin. The row
    # check cannot see it (the school column is absent); the round check does.
    text = (
        "student_id,name,birth_date,home_lat,home_lon,travel_modes\nst-3,Cleo,2010-01-20,,,bike\n"
    )
    errors = _errors(session, rnd, "students", _write(tmp_path, "st.csv", text))
    assert errors == [
        "round 'fall' after the import: student \"st-3\": needs a school or a location"
        " (travel times start from one)"
    ]
    assert _student(session, "st-3").lat == 39.05


def test_unknown_kind_and_closed_round(session: Session, rnd: Round, tmp_path: Path) -> None:
    """Kinds are checked before anything is read; a closed round takes no imports."""
    path = _write(tmp_path, "x.csv", "a\n1\n")
    assert _errors(session, rnd, "pets", path)[0].startswith("x.csv: unknown kind 'pets'")
    rnd.status = RoundStatus.closed
    session.flush()
    assert _errors(session, rnd, "schools", path) == ["round 'fall': the round is closed"]


# --- What imports write ---------------------------------------------------------------------


def test_tables_fill_a_round(session: Session, rnd: Round, tmp_path: Path) -> None:
    """Every kind lands where the format expects it, defaults filled in."""
    version = rnd.version
    report = import_tables(session, rnd, _files(tmp_path))
    assert rnd.version == version + 1  # a change prepared on the old round is stale now
    event_ = session.scalars(select(AuditEvent)).one()
    assert (event_.action, event_.target_id) == ("round.import_tables", "fall")
    assert event_.detail["files"][2] == {
        "kind": "students",
        "file": "students.csv",
        "rows": 3,
        "inserted": 3,
        "updated": 0,
        "deleted": 0,
    }
    assert [f.kind for f in report.files] == list(KIND_ORDER[:2]) + ["students"] + [
        k for k in KIND_ORDER[3:] if k != "bells"
    ]
    doc = export_round(session, session.get_one(Round, rnd.id))
    load_problem(doc)
    students = {s["id"]: s for s in doc["students"]}
    assert students["st-1"] == {
        "id": "st-1",
        "name": "Ana Lopez",
        "school": "sc-1",
        "grade": 11,
        "birth_date": "2009-03-01",
        "location": {"lat": 39.11, "lon": -94.57},
        "travel_modes": ["walk", "transit"],
        "max_commute_minutes": 45,
        "clusters": ["health"],
        "credentials": ["cpr"],
        "busy": [],
        "preferences": ["op-1", "op-2"],  # ranks 1 and 3: the gap closes
        "priority": 0,
        "groups": ["iep", "english_learner"],
        "max_weekly_hours": 15,
        "wants_mentor": True,
        "email": "ana@students.example.org",
    }
    assert students["st-2"]["busy"] == [
        {"day": "mon", "start": "08:00", "end": "15:00"},
        {"day": "tue", "start": "08:00", "end": "15:00"},
    ]
    assert students["st-2"]["max_commute_minutes"] == 60
    op2 = next(o for o in doc["opportunities"] if o["id"] == "op-2")
    assert (op2["kind"], op2["capacity"], op2["transit_accessible"]) == ("job_shadow", 5, True)
    assert op2["slots"] == [
        {
            "id": "sl-2",
            "capacity": 3,
            "blocks": [{"date": "2026-10-06", "start": "13:00", "end": "15:30"}],
        }
    ]
    mentors = {m["id"]: m for m in doc["mentors"]}
    assert mentors["me-2"]["available"] == [{"day": "wed", "start": "16:00", "end": "18:00"}]
    assert mentors["me-2"]["employer"] is None


def _doc_for_tables(students: int, seed: int) -> dict[str, Any]:
    """A generated round without what tables do not carry (accepts, travel, pins...)."""
    doc = generate_round(students, seed=seed)
    for o in doc["opportunities"]:
        o.pop("accepts", None)
    doc.update(travel=[], pins=[], forbidden=[])
    return doc


def _tables_round(
    session: Session, program: Program, doc: dict[str, Any], tmp_path: Path, fmt: str
) -> dict[str, Any]:
    r = doc["round"]
    rnd = create_round(
        session,
        program,
        f"{r['id']}-{fmt}",
        name=r["name"],
        start_date=r["start_date"],
        end_date=r["end_date"],
        timezone=r["timezone"],
        holidays=r["holidays"],
        summer=r["summer"],
        mentor_meeting_minutes=r["mentor_meeting_minutes"],
    )
    files = {}
    for kind, (header, rows) in document_tables(doc).items():
        files[kind] = tmp_path / f"{kind}.{fmt}"
        write_table(files[kind], header, rows, title=kind)
    import_tables(session, rnd, files)
    session.commit()
    exported = export_round(session, session.get_one(Round, rnd.id))
    exported["round"]["id"] = r["id"]
    return exported


def test_generated_round_round_trips_through_csv(
    session: Session, program: Program, tmp_path: Path
) -> None:
    """CSV tables of a generated round, imported into an empty round, export the same round."""
    doc = _doc_for_tables(250, seed=3)
    assert canonical(_tables_round(session, program, doc, tmp_path, "csv")) == canonical(doc)


def test_xlsx_imports_like_csv(session: Session, program: Program, tmp_path: Path) -> None:
    """The same tables as XLSX sheets give the same round as CSV files."""
    doc = _doc_for_tables(120, seed=5)
    from_csv = _tables_round(session, program, doc, tmp_path, "csv")
    from_xlsx = _tables_round(session, program, doc, tmp_path, "xlsx")
    assert canonical(from_xlsx) == canonical(from_csv) == canonical(doc)


def test_xlsx_typed_cells(session: Session, rnd: Round, tmp_path: Path) -> None:
    """Native XLSX numbers, dates, times and booleans read like their CSV text."""
    _import_all(session, rnd, tmp_path)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        [
            "student_id",
            "name",
            "school_id",
            "grade",
            "birth_date",
            "travel_modes",
            "wants_mentor",
            "priority",
        ]
    )
    sheet.append([12345.0, "Dev Rao", "sc-2", 10.0, dt.datetime(2010, 5, 6), "walk", True, 2])
    sched = openpyxl.Workbook()
    ssheet = sched.active
    assert ssheet is not None
    ssheet.append(["student_id", "day", "start", "end"])
    ssheet.append([12345, "Fri", dt.time(9, 30), dt.time(11, 0)])
    book.save(tmp_path / "students.xlsx")
    sched.save(tmp_path / "schedules.xlsx")
    import_tables(
        session,
        rnd,
        {"students": tmp_path / "students.xlsx", "schedules": tmp_path / "schedules.xlsx"},
    )
    dev = _student(session, "12345")
    assert (dev.grade, dev.birth_date, dev.wants_mentor, dev.priority) == (
        10,
        dt.date(2010, 5, 6),
        True,
        2,
    )
    assert dev.busy == [{"day": "fri", "start": "09:30", "end": "11:00"}]


def test_reimport_updates_instead_of_duplicating(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """The same files twice leave the same rows; a changed cell updates its row."""
    _import_all(session, rnd, tmp_path)
    counts = {m: _count(session, m) for m in (School, Student, Opportunity, Slot, Mentor)}
    prefs = _count(session, Preference)
    files = _files(tmp_path, students=TABLES["students"].replace("Ana,Lopez", "Ana,Lopez-Diaz"))
    report = import_tables(session, rnd, files)
    assert {m: _count(session, m) for m in counts} == counts
    assert _count(session, Preference) == prefs
    students = next(f for f in report.files if f.kind == "students")
    assert (students.inserted, students.updated) == (0, 3)
    assert _student(session, "st-1").name == "Ana Lopez-Diaz"


def test_absent_columns_and_rows_are_kept(session: Session, rnd: Round, tmp_path: Path) -> None:
    """A file without a column leaves it alone; an empty cell clears it; absent rows stay."""
    _import_all(session, rnd, tmp_path)
    text = (
        "student_id,name,school_id,birth_date,travel_modes,email\n"
        "st-2,Ben O.,sc-2,2008-07-15,car,\n"
    )
    import_tables(session, rnd, {"students": _write(tmp_path, "st.csv", text)})
    ben = _student(session, "st-2")
    assert (ben.name, ben.email, ben.grade, ben.priority) == ("Ben O.", None, 12, 1)
    assert _count(session, Student) == 3


def test_replace_deletes_absent_rows(session: Session, rnd: Round, tmp_path: Path) -> None:
    """With replace, rows absent from the file are deleted, with what hangs on them."""
    _import_all(session, rnd, tmp_path)
    text = "\n".join(TABLES["students"].splitlines()[:2]) + "\n"  # st-1 only
    report = import_tables(
        session, rnd, {"students": _write(tmp_path, "st.csv", text)}, replace=True
    )
    assert report.files[0].deleted == 2
    assert set(session.scalars(select(Student.external_id))) == {"st-1"}
    assert _count(session, Preference) == 2  # st-2's choice went with st-2


def _run_with(session: Session, rnd: Round, solution: dict[str, Any]) -> SolveRun:
    run = SolveRun(round_id=rnd.id, status=RunStatus.succeeded)
    session.add(run)
    session.flush()
    store_solution(session, session.get_one(Round, rnd.id), run, solution)
    session.flush()
    return run


SOLUTION: dict[str, Any] = {
    "format": "wbl-solution/1",
    "status": "feasible",
    "assignments": [
        {
            "student": "st-1",
            "opportunity": "op-1",
            "slot": "sl-1",
            "mentor": "me-1",
            "travel_mode": "walk",
            "travel_minutes": 11,
            "preference_rank": 1,
        },
        {
            "student": "st-2",
            "opportunity": "op-2",
            "slot": "sl-2",
            "travel_mode": "car",
            "travel_minutes": 9,
            "preference_rank": 1,
        },
        {
            "student": "st-3",
            "opportunity": "op-2",
            "slot": "sl-2",
            "travel_mode": "bike",
            "travel_minutes": 14,
        },
    ],
    "mentorships": [
        {"student": "st-3", "mentor": "me-2", "day": "wed", "start": "16:00", "end": "16:30"}
    ],
    "unplaced": [],
}


def test_replace_refuses_to_delete_placed_students(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """A student a solve run placed cannot be deleted by replace; the import is refused."""
    _import_all(session, rnd, tmp_path)
    run = _run_with(session, rnd, SOLUTION)
    text = "\n".join(TABLES["students"].splitlines()[:2]) + "\n"
    errors = _errors(session, rnd, "students", _write(tmp_path, "st.csv", text), replace=True)
    assert errors == [
        f'st.csv: student "st-2" is not in the file, but cannot be deleted: solve run {run.id}'
        " placed the student",
        f'st.csv: student "st-3" is not in the file, but cannot be deleted: solve run {run.id}'
        " placed the student",
    ]
    assert _count(session, Student) == 3


def test_replace_with_empty_file_is_refused(session: Session, rnd: Round, tmp_path: Path) -> None:
    """A header-only file with replace would empty the round: refused."""
    _import_all(session, rnd, tmp_path)
    path = _write(tmp_path, "schools.csv", "school_id,name,lat,lon\n")
    with pytest.raises(TablesError, match="with replace this file would empty"):
        import_tables(session, rnd, {"schools": path}, replace=True)


def test_bells_follow_the_rule(session: Session, rnd: Round, tmp_path: Path) -> None:
    """Bells become the busy time of the school's students without an individual schedule;
    new bells replace old ones; later students of the school get them too."""
    _import_all(session, rnd, tmp_path)
    bells = "school_id,day,start,end\nsc-1,mon,07:30,14:30\nsc-1,tue,07:30,14:30\n"
    report = import_tables(session, rnd, {"bells": _write(tmp_path, "bells.csv", bells)})
    assert report.files[0].updated == 1  # st-1; st-2 has a schedule; st-3 has no school
    school_day = [
        {"day": "mon", "start": "07:30", "end": "14:30", "source": BELLS_SOURCE},
        {"day": "tue", "start": "07:30", "end": "14:30", "source": BELLS_SOURCE},
    ]
    assert _student(session, "st-1").busy == school_day
    assert _student(session, "st-2").busy[0] == {"day": "mon", "start": "08:00", "end": "15:00"}
    assert _student(session, "st-3").busy == []

    later = bells.replace("14:30", "15:00")
    import_tables(session, rnd, {"bells": _write(tmp_path, "bells.csv", later)})
    assert _student(session, "st-1").busy[0]["end"] == "15:00"

    header = TABLES["students"].splitlines()[0]
    new = f"{header}\nst-4,Dee,Ng,sc-1,9,2011-02-02,,,walk,,,,,,,,\n"
    import_tables(session, rnd, {"students": _write(tmp_path, "new.csv", new)})
    assert _student(session, "st-4").busy == _student(session, "st-1").busy
    load_problem(export_round(session, session.get_one(Round, rnd.id)))


def test_bells_in_a_batch_before_schedules(session: Session, rnd: Round, tmp_path: Path) -> None:
    """In one import, bells reach new students and individual schedules still win."""
    bells = "school_id,day,start,end\nsc-1,wed,08:00,15:00\n"
    files = _files(tmp_path, bells=bells)
    import_tables(session, rnd, files)
    assert _student(session, "st-1").busy[0]["source"] == BELLS_SOURCE
    assert "source" not in _student(session, "st-2").busy[0]


def test_schedules_replace_with_replace_flag(session: Session, rnd: Round, tmp_path: Path) -> None:
    """With replace, a student absent from the schedules goes back to the school day."""
    _import_all(session, rnd, tmp_path)
    bells = "school_id,day,start,end\nsc-1,mon,07:30,14:30\n"
    import_tables(session, rnd, {"bells": _write(tmp_path, "bells.csv", bells)})
    sched = "student_id,day,start,end\nst-3,fri,09:00,10:00\n"
    report = import_tables(
        session, rnd, {"schedules": _write(tmp_path, "sched.csv", sched)}, replace=True
    )
    assert report.files[0].deleted == 1
    assert _student(session, "st-2").busy == _student(session, "st-1").busy
    assert _student(session, "st-3").busy == [{"day": "fri", "start": "09:00", "end": "10:00"}]


def test_slot_ids_stay_with_their_opportunity(session: Session, rnd: Round, tmp_path: Path) -> None:
    """A slot id already used by another opportunity is refused (ids are round-wide)."""
    _import_all(session, rnd, tmp_path)
    text = "opportunity_id,slot_id,capacity,day,date,start,end\nop-2,sl-1,1,fri,,15:00,17:00\n"
    assert _errors(session, rnd, "slots", _write(tmp_path, "slots.csv", text)) == [
        'slots.csv row 2, column opportunity_id: slot "sl-1" belongs to opportunity "op-1";'
        " slot ids are unique across the round"
    ]


def test_availability_is_for_community_mentors(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """A workplace mentor's availability row is refused."""
    _import_all(session, rnd, tmp_path)
    path = _write(tmp_path, "av.csv", "mentor_id,day,start,end\nme-1,mon,16:00,17:00\n")
    assert _errors(session, rnd, "availability", path) == [
        'av.csv row 2, column mentor_id: mentor "me-1" is a workplace mentor (of an employer);'
        " availability is for community mentors"
    ]


def test_preference_duplicates(session: Session, rnd: Round, tmp_path: Path) -> None:
    """A rank or an opportunity given twice for one student is refused."""
    _import_all(session, rnd, tmp_path)
    text = "student_id,rank,opportunity_id\nst-1,1,op-1\nst-1,1,op-2\nst-1,2,op-1\n"
    assert _errors(session, rnd, "preferences", _write(tmp_path, "p.csv", text)) == [
        'p.csv row 3, column rank: student "st-1" has rank 1 on row 2 too',
        'p.csv row 4, column opportunity_id: student "st-1" chose "op-1" on row 2 too',
    ]


def test_import_runs_a_fixed_number_of_statements(
    session: Session, engine: Engine, program: Program, tmp_path: Path
) -> None:
    """No N+1: importing 10 or 200 students runs the same number of SQL statements."""

    def statements(count: int) -> int:
        rnd = create_round(
            session,
            program,
            f"r{count}",
            name="r",
            start_date="2026-09-08",
            end_date="2026-12-18",
            timezone="America/Chicago",
        )
        import_tables(session, rnd, {"schools": _write(tmp_path, "sc.csv", TABLES["schools"])})
        header = TABLES["students"].splitlines()[0]
        rows = [f"s{i},N {i},,sc-1,10,2010-01-01,,,walk,,,,,,,," for i in range(count)]
        sched = [f"s{i},mon,08:00,15:00" for i in range(count)]
        files = {
            "students": _write(tmp_path, "st.csv", "\n".join([header, *rows]) + "\n"),
            "schedules": _write(
                tmp_path, "sch.csv", "\n".join(["student_id,day,start,end", *sched]) + "\n"
            ),
        }
        seen: list[str] = []

        def count_statement(*args: Any) -> None:
            seen.append(args[2])

        event.listen(engine, "before_cursor_execute", count_statement)
        try:
            import_tables(session, rnd, files)
            import_tables(session, rnd, files)  # the update path too
        finally:
            event.remove(engine, "before_cursor_execute", count_statement)
        return len(seen)

    assert statements(10) == statements(200)


# --- Templates and docs ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KIND_ORDER)
def test_templates_have_the_documented_headers(kind: str, tmp_path: Path) -> None:
    """CSV and XLSX templates carry the kind's header; the XLSX has a help sheet; the docs
    show the same columns."""
    write_template(kind, tmp_path / f"{kind}.csv")
    raw = (tmp_path / f"{kind}.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, so that Excel reads UTF-8
    assert next(csv.reader(io.StringIO(raw.decode("utf-8-sig")))) == list(KINDS[kind].headers)
    book = openpyxl.load_workbook(io.BytesIO(template_bytes(kind, "xlsx")))
    assert book.sheetnames == [kind, "help"]
    assert [c.value for c in book[kind][1]] == list(KINDS[kind].headers)
    help_columns = [row[0] for row in book["help"].iter_rows(min_row=2, values_only=True)]
    assert help_columns[: len(KINDS[kind].columns)] == list(KINDS[kind].headers)
    assert columns_markdown(kind) in DOCS.read_text(encoding="utf-8")


def test_templates_import_as_empty_tables(session: Session, rnd: Round, tmp_path: Path) -> None:
    """A template, filled in, imports: its headers are the importer's."""
    write_template("schools", tmp_path / "schools.xlsx")
    book = openpyxl.load_workbook(tmp_path / "schools.xlsx")
    book["schools"].append(["sc-1", "North", 39.1, -94.5, None])
    book.save(tmp_path / "schools.xlsx")
    import_tables(session, rnd, {"schools": tmp_path / "schools.xlsx"})
    assert _count(session, School) == 1


def test_docs_examples_import(session: Session, rnd: Round, tmp_path: Path) -> None:
    """The example of every kind in docs/imports.md imports as written."""
    text = DOCS.read_text(encoding="utf-8")
    examples = dict(re.findall(r"### `(\w+)`.*?```csv\n(.*?)```", text, flags=re.DOTALL))
    assert sorted(examples) == sorted(KIND_ORDER)
    files = {kind: _write(tmp_path, f"{kind}.csv", body) for kind, body in examples.items()}
    import_tables(session, rnd, files)
    kai = _student(session, "st-000003")
    assert kai.school_id is None
    assert _student(session, "st-000001").busy[0]["source"] == BELLS_SOURCE
    assert _student(session, "st-000002").name == "Maria Lopez, Jr."


# --- Exports -----------------------------------------------------------------------------------


@pytest.fixture
def placed(session: Session, rnd: Round, tmp_path: Path) -> SolveRun:
    """The small district imported (with a formula for a name) and a run that placed all."""
    students = TABLES["students"].replace("Ana,Lopez", '"=HYPERLINK(""x"")",')
    import_tables(session, rnd, _files(tmp_path, students=students))
    return _run_with(session, rnd, SOLUTION)


def _csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_export_by_employer_keeps_to_what_employers_need(
    session: Session, rnd: Round, placed: SolveRun, tmp_path: Path
) -> None:
    """An employer's file has its own students only, and no grades, groups or homes."""
    out = tmp_path / "acme.csv"
    report = export_assignments(session, rnd, out, by="employer", only="em-1")
    assert (report.rows, report.groups, report.run_id) == (1, ["em-1"], placed.id)
    header, *rows = _csv_rows(out)
    assert tuple(header) == EMPLOYER_COLUMNS
    for private in ("grade", "groups", "iep", "birth_date", "home_lat", "home_lon", "priority"):
        assert not any(private in column for column in header)
    text = out.read_text(encoding="utf-8-sig")
    for value in ("iep", "english_learner", "2009-03-01", "39.11", "Okafor", "Park"):
        assert value not in text
    row = dict(zip(header, rows[0], strict=True))
    assert row["student_email"] == "ana@students.example.org"
    assert row["schedule"] == "tue 15:30-18:30; thu 15:30-18:30"
    assert (row["mentor"], row["first_day"], row["last_day"]) == (
        "Dana Reyes",
        "2026-09-08",
        "2026-12-18",
    )


def test_export_neutralises_formulas(
    session: Session, rnd: Round, placed: SolveRun, tmp_path: Path
) -> None:
    """A student named =HYPERLINK("x") is text in both CSV (quoted) and XLSX (a text cell)."""
    export_assignments(session, rnd, tmp_path / "all.csv", by="employer")
    names = [row[EMPLOYER_COLUMNS.index("student_name")] for row in _csv_rows(tmp_path / "all.csv")]
    assert '\'=HYPERLINK("x")' in names
    export_assignments(session, rnd, tmp_path / "all.xlsx", by="school")
    book = openpyxl.load_workbook(tmp_path / "all.xlsx")
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row]
    formula = [c for c in cells if c.value == '=HYPERLINK("x")']
    assert formula
    assert all(c.data_type == "s" for c in formula)
    assert not any(c.data_type == "f" for c in cells)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Ana", "Ana"),
        ("a=b", "a=b"),
    ],
)
def test_neutralise(value: str, expected: str) -> None:
    """Cells starting with =, +, -, @, tab or CR get a leading quote; others are unchanged."""
    assert neutralise(value) == expected


def test_export_by_school_one_sheet_each(
    session: Session, rnd: Round, placed: SolveRun, tmp_path: Path
) -> None:
    """An XLSX per school has a sheet per school (and one for students with none)."""
    report = export_assignments(session, rnd, tmp_path / "schools.xlsx", by="school")
    assert (report.rows, report.groups) == (3, ["", "sc-1"])
    book = openpyxl.load_workbook(tmp_path / "schools.xlsx")
    assert book.sheetnames == ["(no school)", "sc-1 North High"]
    rows = list(book["sc-1 North High"].iter_rows(values_only=True))
    assert rows[0] == SCHOOL_COLUMNS
    ben = dict(zip(SCHOOL_COLUMNS, next(r for r in rows if r[3] == "Ben Okafor"), strict=True))
    assert (ben["grade"], ben["travel_minutes"], ben["schedule"]) == (
        12,
        9,
        "2026-10-06 13:00-15:30",
    )
    nobody = list(book["(no school)"].iter_rows(values_only=True))[1]
    cleo_row = dict(zip(SCHOOL_COLUMNS, nobody, strict=True))
    assert (cleo_row["community_mentor"], cleo_row["mentor_meeting"]) == (
        "Eli Stone",
        "wed 16:00-16:30",
    )


def test_export_one_csv_per_group(
    session: Session, rnd: Round, placed: SolveRun, tmp_path: Path
) -> None:
    """A .zip or a directory gets one CSV per employer."""
    export_assignments(session, rnd, tmp_path / "employers.zip", by="employer")
    with zipfile.ZipFile(tmp_path / "employers.zip") as zf:
        assert sorted(zf.namelist()) == ["em-1.csv", "em-2.csv"]
        em2 = list(csv.reader(io.StringIO(zf.read("em-2.csv").decode("utf-8-sig"))))
    assert [r[EMPLOYER_COLUMNS.index("student_name")] for r in em2[1:]] == [
        "Ben Okafor",
        "Cleo Park",
    ]
    export_assignments(session, rnd, tmp_path / "by-employer", by="employer")
    assert sorted(p.name for p in (tmp_path / "by-employer").iterdir()) == ["em-1.csv", "em-2.csv"]


def test_export_streams_from_the_database(
    session: Session, rnd: Round, placed: SolveRun, tmp_path: Path
) -> None:
    """Export rows come from a query run with yield_per, one row at a time."""
    options: list[dict[str, Any]] = []

    def record(state: Any) -> None:
        options.append(dict(state.execution_options))

    event.listen(session, "do_orm_execute", record)
    try:
        rows = assignment_rows(session, placed, by="employer")
        assert not options  # nothing has run yet: the rows are a generator
        first = next(rows)
        assert first[0] == "em-1"
        assert any(o.get("yield_per") for o in options)
        assert len(list(rows)) == 2
    finally:
        event.remove(session, "do_orm_execute", record)


def test_import_benchmark_runs(tmp_path: Path) -> None:
    """bench/import_tables.py measures a small round and writes its report."""
    result = import_bench.run(150, 2, tmp_path)
    assert result["written"]["students"] == (150, 0)
    text = import_bench.report(result, "python -m bench.import_tables --students 150")
    assert "**150 students imported in" in text
    assert "## Machine" in text


def test_choose_run(session: Session, rnd: Round, tmp_path: Path) -> None:
    """The chosen run wins, else the latest succeeded; with neither there is nothing."""
    _import_all(session, rnd, tmp_path)
    with pytest.raises(NoRunError):
        choose_run(session, rnd)
    first = _run_with(session, rnd, SOLUTION)
    second = _run_with(session, rnd, SOLUTION)
    failed = SolveRun(round_id=rnd.id, status=RunStatus.failed)
    session.add(failed)
    session.flush()
    assert choose_run(session, rnd) == second
    rnd.chosen_run_id = first.id
    session.flush()
    assert choose_run(session, rnd) == first
    assert choose_run(session, rnd, second.id) == second
    with pytest.raises(NoRunError, match="has no solve run"):
        choose_run(session, rnd, 10**6)


# --- The CLI -----------------------------------------------------------------------------------


@pytest.fixture
def cli(engine: Engine) -> tuple[CliRunner, dict[str, Any]]:
    """A runner and the context object that points the commands at the test database."""
    return CliRunner(), {"session_factory": make_session_factory(engine)}


def test_cli_round_trip(cli: tuple[CliRunner, dict[str, Any]], tmp_path: Path) -> None:
    """template, create-round, import and export work end to end; bad input exits 2."""
    runner, obj = cli
    result = runner.invoke(
        tables, ["template", "students", "-o", str(tmp_path / "t.xlsx")], obj=obj
    )
    assert result.exit_code == 0, result.output
    create = [
        "create-round",
        "fall",
        "--program",
        "north",
        "--name",
        "Fall",
        "--start-date",
        "2026-09-08",
        "--end-date",
        "2026-12-18",
        "--timezone",
        "America/Chicago",
        "--holiday",
        "2026-11-26",
    ]
    result = runner.invoke(tables, create, obj=obj)
    assert result.exit_code == 0, result.output
    assert runner.invoke(tables, create, obj=obj).exit_code == 2  # the round exists

    args = ["import", "fall", "--program", "north"]
    for kind, path in _files(tmp_path).items():
        args += [kind, str(path)]
    result = runner.invoke(tables, args, obj=obj)
    assert result.exit_code == 0, result.output
    assert "students.csv (students): 3 rows; students: 3 inserted, 0 updated" in result.output

    bad = _write(tmp_path, "bad.csv", TABLES["students"].replace("2008-07-15", "13/02/2009"))
    result = runner.invoke(
        tables, ["import", "fall", "students", str(bad), "--program", "north"], obj=obj
    )
    assert result.exit_code == 2
    assert 'bad.csv row 3, column birth_date: not a date (YYYY-MM-DD): "13/02/2009"' in (
        result.stderr
    )
    result = runner.invoke(tables, ["import", "fall", "students"], obj=obj)
    assert result.exit_code == 2  # a kind without its file
    missing = ["import", "fall", "--program", "north", "students", str(tmp_path / "no.csv")]
    result = runner.invoke(tables, missing, obj=obj)
    assert result.exit_code == 2
    assert "no.csv: cannot read the file: No such file or directory" in result.stderr

    export = [
        "export",
        "fall",
        "--program",
        "north",
        "--by",
        "employer",
        "-o",
        str(tmp_path / "out.xlsx"),
    ]
    result = runner.invoke(tables, export, obj=obj)
    assert result.exit_code == 2
    assert "no chosen run and no succeeded run" in result.stderr
    with make_session_factory(obj["session_factory"].kw["bind"])() as session, session.begin():
        rnd = session.scalars(select(Round).where(Round.external_id == "fall")).one()
        _run_with(session, rnd, SOLUTION)
    result = runner.invoke(tables, export, obj=obj)
    assert result.exit_code == 0, result.output
    assert re.search(r"3 placements of run \d+, 2 employers", result.output)
    result = runner.invoke(tables, ["export", "nope", "--by", "school", "-o", "x.csv"], obj=obj)
    assert result.exit_code == 2
    assert "no round 'nope' in program 'default'" in result.stderr


def test_every_kind_has_a_parser(session: Session, rnd: Round) -> None:
    """Each kind of the spec is parsed by its own method (the dispatch names them all)."""
    from scheduler.tables.importing import _Import

    parsers = _Import(session, rnd, replace=False)._parsers
    assert set(parsers) == set(KINDS) == set(KIND_ORDER)
    assert all(p.__name__ == f"_parse_{kind}" for kind, p in parsers.items())


# --- Issue 9: wrong kinds, unknown --only, dates, file modes -------------------------------------


def test_wrong_kind_is_one_line(session: Session, rnd: Round, tmp_path: Path) -> None:
    """Import: a students file named as schools is said in one line, not an error per row."""
    errors = _errors(session, rnd, "schools", _write(tmp_path, "sis.csv", TABLES["students"]))
    assert len(errors) == 1
    assert errors[0].startswith("sis.csv row 1: this looks like a students file, not schools")
    assert errors[0].endswith("import it as students")


def test_xlsx_export_stores_dates_as_dates(
    session: Session, rnd: Round, placed: SolveRun, tmp_path: Path
) -> None:
    """Export: first_day and last_day are date cells in XLSX (text only in CSV)."""
    export_assignments(session, rnd, tmp_path / "e.xlsx", by="employer")
    book = openpyxl.load_workbook(tmp_path / "e.xlsx")
    header, first = list(next(iter(book)).iter_rows(values_only=True))[:2]
    row = dict(zip(header, first, strict=True))
    assert row["first_day"] == dt.datetime(2026, 9, 8)
    assert row["last_day"] == dt.datetime(2026, 12, 18)


def test_exports_honour_the_umask(
    session: Session, rnd: Round, placed: SolveRun, tmp_path: Path
) -> None:
    """Export: a file gets the mode the umask gives (not mkstemp's 0600)."""
    old = os.umask(0o022)
    try:
        export_assignments(session, rnd, tmp_path / "e.csv", by="employer")
        os.umask(0o027)
        export_assignments(session, rnd, tmp_path / "f.xlsx", by="school")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "e.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "f.xlsx").stat().st_mode) == 0o640


def test_cli_export_only_unknown_id_is_an_error(
    cli: tuple[CliRunner, dict[str, Any]],
    session: Session,
    rnd: Round,
    placed: SolveRun,
    tmp_path: Path,
) -> None:
    """Export: --only with an id the round does not have exits 2 and writes nothing."""
    runner, obj = cli
    session.commit()
    out = tmp_path / "x.csv"
    args = ["export", "fall", "--program", rnd.program.slug, "--by", "employer", "-o", str(out)]
    result = runner.invoke(tables, [*args, "--only", "em-99"], obj=obj)
    assert result.exit_code == 2
    assert "--only em-99: round 'fall' has no employer 'em-99'" in result.stderr
    assert not out.exists()
    result = runner.invoke(tables, [*args, "--only", "em-1"], obj=obj)
    assert result.exit_code == 0, result.output


def test_cli_create_round_refuses_a_holiday_outside(
    cli: tuple[CliRunner, dict[str, Any]],
) -> None:
    """create-round: a holiday outside the round's dates is refused, naming it."""
    runner, obj = cli
    result = runner.invoke(
        tables,
        [
            "create-round",
            "w",
            "--name",
            "W",
            "--start-date",
            "2026-09-08",
            "--end-date",
            "2026-12-18",
            "--timezone",
            "America/Chicago",
            "--holiday",
            "2025-11-26",
        ],
        obj=obj,
    )
    assert result.exit_code == 2
    assert "holiday 2025-11-26 is outside the round (2026-09-08 to 2026-12-18)" in result.stderr
