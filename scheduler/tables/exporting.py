"""Tables out: assignment lists per school or per employer, templates, and a round as tables.

Assignment exports stream: the query runs with `yield_per` (a server-side cursor on
PostgreSQL) and each row is written as it arrives, CSV through `csv.writer` and XLSX through
openpyxl's write-only mode, so a 100,000-student run never sits in memory as objects.

What an export shows depends on who reads it. A school's list has what a counsellor needs
(grade, placement, travel, mentor). An employer's list has only what the employer needs to
host the student: name and email, the slot and its times, the mentor. Never grades, groups,
IEP status, birth dates or home addresses (FERPA: `EMPLOYER_COLUMNS` is the whole list, and a
test holds it to that).

Spreadsheet formula injection is neutralised: a text cell that starts with `=`, `+`, `-`, `@`,
a tab or a carriage return would be run as a formula by Excel or LibreOffice when a CSV is
opened, so CSV cells get a leading `'` (which spreadsheets show as "this is text"); XLSX cells
are written as text cells, which are never evaluated.

Files that people open in Excel are written as UTF-8 with a byte-order mark: without one,
Excel reads UTF-8 as the local code page and "José" becomes "JosÃ©".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from models import (
    Assignment,
    Employer,
    Mentor,
    Mentorship,
    Opportunity,
    Round,
    RunStatus,
    School,
    Slot,
    SolveRun,
    Student,
)
from scheduler.access import Actor, require_staff, same_round
from scheduler.tables.spec import DAYS, KINDS, if_empty

__all__ = [
    "EMPLOYER_COLUMNS",
    "SCHOOL_COLUMNS",
    "ExportReport",
    "NoRunError",
    "assignment_rows",
    "atomic_write",
    "choose_run",
    "document_tables",
    "export_assignments",
    "neutralise",
    "template_bytes",
    "write_table",
    "write_template",
]

By = Literal["school", "employer"]

# Text that a spreadsheet would take for a formula (OWASP's list: tab and CR too, since some
# programs strip them and then see the "=" behind).
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
# Control characters XML (hence XLSX) cannot hold at all.
_ILLEGAL_XML: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_YIELD_PER: Final = 2000

SCHOOL_COLUMNS: Final = (
    "school_id",
    "school",
    "student_id",
    "student_name",
    "grade",
    "student_email",
    "opportunity_id",
    "opportunity",
    "kind",
    "employer",
    "employer_email",
    "site_address",
    "slot_id",
    "schedule",
    "first_day",
    "last_day",
    "workplace_mentor",
    "community_mentor",
    "mentor_meeting",
    "travel_mode",
    "travel_minutes",
    "preference_rank",
    "status",
)
# Everything an employer receives: FERPA's "only what it needs to host the student".
EMPLOYER_COLUMNS: Final = (
    "employer_id",
    "employer",
    "opportunity_id",
    "opportunity",
    "site_address",
    "slot_id",
    "schedule",
    "first_day",
    "last_day",
    "student_name",
    "student_email",
    "mentor",
    "status",
)


class NoRunError(LookupError):
    """The round has no run to export (none chosen, none succeeded), or not the one named."""


@dataclass(slots=True)
class ExportReport:
    """What an export wrote: the run, the rows, and the groups (schools or employers)."""

    path: Path
    run_id: int
    rows: int = 0
    groups: list[str] = field(default_factory=list)


def neutralise(value: str) -> str:
    """A CSV cell that no spreadsheet will run as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def choose_run(session: Session, rnd: Round, run_id: int | None = None) -> SolveRun:
    """The run to export: `run_id` (a run of this round), else the round's chosen run, else
    its latest succeeded run."""
    if run_id is not None:
        run = session.get(SolveRun, run_id)
        if run is None or run.round_id != rnd.id:
            raise NoRunError(f"round {rnd.external_id!r} has no solve run {run_id}")
        return run
    if rnd.chosen_run_id is not None:
        chosen = session.get(SolveRun, rnd.chosen_run_id)
        if chosen is not None:
            return chosen
    latest = session.scalars(
        select(SolveRun)
        .where(SolveRun.round_id == rnd.id, SolveRun.status == RunStatus.succeeded)
        .order_by(SolveRun.created_at.desc(), SolveRun.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        raise NoRunError(
            f"round {rnd.external_id!r} has no chosen run and no succeeded run to export"
        )
    return latest


def _schedule(blocks: Iterable[Mapping[str, str]]) -> str:
    """A slot's blocks as one cell: "mon 15:30-18:30; 2026-10-06 13:00-15:30"."""

    def key(b: Mapping[str, str]) -> tuple[Any, ...]:
        if "day" in b:
            return (0, DAYS.index(b["day"]), b["start"])
        return (1, b["date"], b["start"])

    return "; ".join(
        f"{b.get('day') or b.get('date')} {b['start']}-{b['end']}" for b in sorted(blocks, key=key)
    )


def assignment_rows(
    session: Session, run: SolveRun, *, by: By, only: str | None = None, actor: Actor = None
) -> Iterator[tuple[str, str, tuple[Any, ...]]]:
    """(group id, group name, row) for each assignment of `run`, grouped by school or by
    employer (`only`: one school's or employer's id), streamed from the database.

    Rows follow `SCHOOL_COLUMNS` or `EMPLOYER_COLUMNS`. Students without a school are the
    group "" ("no school"). Student data: `actor` must read the whole round
    (`access.require_staff`); None is the system or the command line."""
    rnd = session.get(Round, run.round_id)
    assert rnd is not None
    require_staff(session, rnd, actor)
    # Dates, not text: an XLSX cell holds a date a spreadsheet sorts and formats; CSV writes
    # it as YYYY-MM-DD.
    days = (rnd.start_date, rnd.end_date)
    if by == "employer":
        return _employer_rows(session, run, days, only)
    return _school_rows(session, run, days, only)


def _employer_rows(
    session: Session, run: SolveRun, days: tuple[dt.date, dt.date], only: str | None
) -> Iterator[tuple[str, str, tuple[Any, ...]]]:
    a, st, o, e, sl = Assignment, Student, Opportunity, Employer, Slot
    mentor = aliased(Mentor)
    stmt = (
        select(
            e.external_id,
            e.name,
            o.external_id,
            o.title,
            o.address,
            sl.external_id,
            sl.blocks,
            st.name,
            st.email,
            mentor.name,
            a.status,
        )
        .join_from(a, st, a.student_id == st.id)
        .join(o, a.opportunity_id == o.id)
        .join(e, o.employer_id == e.id)
        .join(sl, a.slot_id == sl.id)
        .outerjoin(mentor, a.mentor_id == mentor.id)
        .where(a.run_id == run.id)
        .order_by(e.external_id, o.external_id, sl.external_id, st.name, st.external_id)
    )
    if only is not None:
        stmt = stmt.where(e.external_id == only)
    # `with`: a reader that stops early closes the server-side cursor at once.
    with session.execute(stmt.execution_options(yield_per=_YIELD_PER)) as result:
        for row in result:
            emp_id, emp, opp_id, title, address, slot_id, blocks, name, email, men, status = row
            cells = (emp_id, emp, opp_id, title, address, slot_id, _schedule(blocks), *days)
            yield emp_id, emp, (*cells, name, email, men, str(status))


def _school_rows(
    session: Session, run: SolveRun, days: tuple[dt.date, dt.date], only: str | None
) -> Iterator[tuple[str, str, tuple[Any, ...]]]:
    a, st, o, e, sl, ms = Assignment, Student, Opportunity, Employer, Slot, Mentorship
    mentor, community = aliased(Mentor), aliased(Mentor)
    group = func.coalesce(School.external_id, "")
    stmt = (
        select(
            group,
            School.name,
            st.external_id,
            st.name,
            st.grade,
            st.email,
            o.external_id,
            o.title,
            o.kind,
            e.name,
            e.contact_email,
            o.address,
            sl.external_id,
            sl.blocks,
            mentor.name,
            community.name,
            ms.day,
            ms.start_time,
            ms.end_time,
            a.travel_mode,
            a.travel_minutes,
            a.preference_rank,
            a.status,
        )
        .join_from(a, st, a.student_id == st.id)
        .outerjoin(School, st.school_id == School.id)
        .join(o, a.opportunity_id == o.id)
        .join(e, o.employer_id == e.id)
        .join(sl, a.slot_id == sl.id)
        .outerjoin(mentor, a.mentor_id == mentor.id)
        .outerjoin(ms, (ms.run_id == a.run_id) & (ms.student_id == a.student_id))
        .outerjoin(community, ms.mentor_id == community.id)
        .where(a.run_id == run.id)
        .order_by(group, st.name, st.external_id)
    )
    if only is not None:
        stmt = stmt.where(group == only)
    # `with`: a reader that stops early closes the server-side cursor at once.
    with session.execute(stmt.execution_options(yield_per=_YIELD_PER)) as result:
        for row in result:
            # The typed row of 23 columns, untyped: positions are the select list's above.
            values: tuple[Any, ...] = tuple(row)
            school_id, school, *student, kind, emp, emp_email, address, slot_id, blocks = values[
                :14
            ]
            men, com, day, start, end, mode, minutes, rank, status = values[14:]
            meeting = f"{day} {start}-{end}" if day is not None else None
            cells = (school_id or None, school, *student, str(kind), emp, emp_email, address)
            yield (
                school_id,
                school or "(no school)",
                (
                    *cells,
                    slot_id,
                    _schedule(blocks),
                    *days,
                    men,
                    com,
                    meeting,
                    str(mode),
                    minutes,
                    rank,
                    str(status),
                ),
            )


# --- Writers -------------------------------------------------------------------------------------


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


class _CsvSink:
    """Rows into one CSV text stream, neutralised."""

    def __init__(self, stream: IO[str], header: Iterable[str]) -> None:
        self.writer = csv.writer(stream)
        self.writer.writerow(header)

    def row(self, values: Iterable[Any]) -> None:
        self.writer.writerow([_csv_cell(v) for v in values])


class _XlsxBook:
    """A write-only workbook: sheets are written one after the other, rows streamed."""

    def __init__(self) -> None:
        # Imported here: openpyxl is a quarter of a second that CSV exports do not need.
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        self._cell = WriteOnlyCell
        self._bold = Font(bold=True)
        self.book = Workbook(write_only=True)
        self.sheet: Any = None
        self.titles: set[str] = set()

    def new_sheet(self, title: str, header: Iterable[str]) -> None:
        name = re.sub(r"[\[\]:*?/\\]", "_", title).strip("'")[:31] or "sheet"
        unique, n = name, 1
        while unique.lower() in self.titles:
            n += 1
            suffix = f" ({n})"
            unique = name[: 31 - len(suffix)] + suffix
        self.titles.add(unique.lower())
        self.sheet = self.book.create_sheet(unique)
        cells = []
        for text in header:
            cell = self._cell(self.sheet, value=text)
            cell.font = self._bold
            cells.append(cell)
        self.sheet.append(cells)

    def row(self, values: Iterable[Any]) -> None:
        self.sheet.append([self._value(v) for v in values])

    def _value(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = _ILLEGAL_XML.sub("", value)
        if value.startswith("="):
            # openpyxl stores any "=..." text as a formula; a text cell is never evaluated.
            cell = self._cell(self.sheet, value=value)
            cell.data_type = "s"
            return cell
        # Other text is written as text already: "+1", "-x", "@x" are not formulas in XLSX.
        return value

    def save(self, stream: IO[bytes]) -> None:
        if not self.book.worksheets:
            raise ValueError("a workbook needs a sheet")
        self.book.save(stream)


def _umask() -> int:
    """The process's umask (read by setting it: there is no other portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path: Path) -> Iterator[IO[bytes]]:
    """Write `path` through a temporary file: readers never see half an export."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600 whatever the umask; an export is an ordinary file, so it
        # gets the mode `open()` would give it (0666 less the umask).
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as stream:
            yield stream
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _text(stream: IO[bytes]) -> io.TextIOWrapper:
    return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", write_through=False)


def _file_name(group: str, used: set[str], by: By) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", group).strip("._") or f"no-{by}"
    name, n = f"{stem}.csv", 1
    while name.lower() in used:
        n += 1
        name = f"{stem}-{n}.csv"
    used.add(name.lower())
    return name


def export_assignments(
    session: Session,
    rnd: Round,
    dest: Path,
    *,
    by: By,
    run: SolveRun | None = None,
    only: str | None = None,
    actor: Actor = None,
) -> ExportReport:
    """Write the assignments of `run` (default: `choose_run`) grouped `by` school or employer.

    The layout follows `dest`: `.xlsx`, one sheet per group; `.csv`, one file with every
    group (or the one group named by `only`); `.zip`, one CSV per group inside; a directory
    (existing, or a path without a suffix), one CSV per group in it. Raises `NoRunError`.

    Student data: `actor` must read the whole round (`access.require_staff`: a member of its
    program, viewers included; no link holder), else `NotAllowed` before anything is read or
    written; None is the system or the command line. A run of another round is refused too."""
    if by not in ("school", "employer"):
        raise ValueError(f"by must be school or employer, not {by!r}")
    require_staff(session, rnd, actor)
    same_round(rnd, run)
    run = run if run is not None else choose_run(session, rnd)
    header = EMPLOYER_COLUMNS if by == "employer" else SCHOOL_COLUMNS
    report = ExportReport(dest, run.id)
    rows = assignment_rows(session, run, by=by, only=only)
    suffix = dest.suffix.lower()

    def new_group(group: str) -> None:
        report.groups.append(group)

    if suffix == ".csv":
        with atomic_write(dest) as raw, _text(raw) as stream:
            sink = _CsvSink(stream, header)
            last: str | None = None
            for group, _label, row in rows:
                if group != last:
                    new_group(group)
                    last = group
                sink.row(row)
                report.rows += 1
    elif suffix == ".xlsx":
        book = _XlsxBook()
        last = None
        for group, label, row in rows:
            if group != last:
                new_group(group)
                book.new_sheet(f"{group} {label}" if group else label, header)
                last = group
            book.row(row)
            report.rows += 1
        if not report.groups:
            book.new_sheet("assignments", header)
        with atomic_write(dest) as raw:
            book.save(raw)
    elif suffix == ".zip":
        with atomic_write(dest) as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            _write_groups(rows, header, by, report, lambda name: zf.open(name, "w"))
    elif suffix == "" or dest.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        _write_groups(rows, header, by, report, lambda name: (dest / name).open("wb"))
    else:
        raise ValueError(f"{dest}: export to .csv, .xlsx, .zip or a directory")
    return report


def _write_groups(
    rows: Iterator[tuple[str, str, tuple[Any, ...]]],
    header: tuple[str, ...],
    by: By,
    report: ExportReport,
    opener: Callable[[str], IO[bytes]],
) -> None:
    """One CSV per group, each opened when its first row arrives and closed at the next."""
    used: set[str] = set()
    last: str | None = None
    raw: IO[bytes] | None = None
    stream: io.TextIOWrapper | None = None
    sink: _CsvSink | None = None
    try:
        for group, _label, row in rows:
            if group != last or sink is None:
                if stream is not None:
                    stream.close()
                raw = opener(_file_name(group, used, by))
                stream = _text(raw)
                sink = _CsvSink(stream, header)
                report.groups.append(group)
                last = group
            sink.row(row)
            report.rows += 1
    finally:
        if stream is not None:
            stream.close()


# --- Templates and tables ----------------------------------------------------------------------


def write_table(
    dest: Path | IO[bytes],
    header: Iterable[str],
    rows: Iterable[Iterable[Any]],
    *,
    fmt: Literal["csv", "xlsx"] | None = None,
    title: str = "data",
    help_rows: Iterable[Iterable[Any]] = (),
) -> None:
    """Write a table as CSV (UTF-8 with BOM) or XLSX (sheet `title`, then a "help" sheet
    when `help_rows` has any), neutralised like every export. The format is `fmt`, else the
    suffix of `dest`."""
    if fmt is None:
        if not isinstance(dest, Path):
            raise ValueError("give fmt when writing to a stream")
        suffix = dest.suffix.lower().lstrip(".")
        if suffix not in ("csv", "xlsx"):
            raise ValueError(f"{dest}: write .csv or .xlsx")
        fmt = "csv" if suffix == "csv" else "xlsx"
    header = list(header)

    def emit(stream: IO[bytes]) -> None:
        if fmt == "csv":
            text = _text(stream)
            sink = _CsvSink(text, header)
            for row in rows:
                sink.row(row)
            text.flush()
            text.detach()  # the caller owns the byte stream: do not close it
            return
        book = _XlsxBook()
        book.new_sheet(title, header)
        for row in rows:
            book.row(row)
        help_list = list(help_rows)
        if help_list:
            book.new_sheet("help", help_list[0])
            for row in help_list[1:]:
                book.row(row)
        book.save(stream)

    if isinstance(dest, Path):
        with atomic_write(dest) as stream:
            emit(stream)
    else:
        emit(dest)


def _help_rows(kind: str) -> list[list[str]]:
    spec = KINDS[kind]
    rows = [["column", "required", "type", "example", "if empty", "meaning"]]
    for c in spec.columns:
        required = "yes" if c.required else ("column" if c.in_header else "no")
        rows.append([c.name, required, c.type, c.example, if_empty(c), c.doc])
    rows += [
        [],
        ["about", spec.summary],
        ["lists", 'several values in one cell separated by ";", e.g. "health;it"'],
        ["dates", "YYYY-MM-DD; times HH:MM (24-hour); true/false also yes/no, 1/0"],
        ["format", "see docs/imports.md"],
    ]
    return rows


def write_template(kind: str, dest: Path) -> None:
    """An empty table of `kind`: the header row; an XLSX also has a "help" sheet describing
    each column."""
    spec = KINDS[kind]
    write_table(dest, spec.headers, (), title=kind, help_rows=_help_rows(kind))


def template_bytes(kind: str, fmt: Literal["csv", "xlsx"]) -> bytes:
    """The template of `kind` as file content (for a download)."""
    buffer = io.BytesIO()
    write_table(buffer, KINDS[kind].headers, (), fmt=fmt, title=kind, help_rows=_help_rows(kind))
    return buffer.getvalue()


# --- A round document as tables ----------------------------------------------------------------


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


def document_tables(doc: Mapping[str, Any]) -> dict[str, tuple[tuple[str, ...], list[list[Any]]]]:
    """The tables (kind -> (header, rows)) that import a `wbl-problem/1` document's schools,
    employers, students (with their busy blocks as schedules), opportunities, slots, mentors
    (with availability) and preferences.

    Not carried by tables: the round header (create the round first), `accepts` lists, travel
    overrides, pins and forbidden pairs, and slots without blocks (a slot is its block rows)."""

    def rows(kind: str, items: Iterable[Mapping[str, Any]]) -> tuple[tuple[str, ...], list[Any]]:
        header = KINDS[kind].headers
        return header, [[_cell(item.get(h)) for h in header] for item in items]

    def located(item: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        loc = item.get("location") or {}
        return {f"{prefix}lat": loc.get("lat"), f"{prefix}lon": loc.get("lon")}

    out: dict[str, tuple[tuple[str, ...], list[list[Any]]]] = {}
    out["schools"] = rows(
        "schools", ({"school_id": s["id"], **s, **located(s)} for s in doc["schools"])
    )
    out["employers"] = rows("employers", ({"employer_id": e["id"], **e} for e in doc["employers"]))
    students = doc["students"]
    out["students"] = rows(
        "students",
        (
            {
                **s,
                "student_id": s["id"],
                "school_id": s.get("school"),
                "travel_modes": s["travel_modes"] or "none",
                **located(s, "home_"),
            }
            for s in students
        ),
    )
    out["schedules"] = rows(
        "schedules",
        ({"student_id": s["id"], **b} for s in students for b in s.get("busy") or ()),
    )
    opportunities = doc["opportunities"]
    out["opportunities"] = rows(
        "opportunities",
        (
            {**o, "opportunity_id": o["id"], "employer_id": o["employer"], **located(o)}
            for o in opportunities
        ),
    )
    out["slots"] = rows(
        "slots",
        (
            {"opportunity_id": o["id"], "slot_id": sl["id"], "capacity": sl["capacity"], **b}
            for o in opportunities
            for sl in o["slots"]
            for b in sl.get("blocks") or ()
        ),
    )
    mentors = doc["mentors"]
    out["mentors"] = rows(
        "mentors", ({**m, "mentor_id": m["id"], "employer_id": m.get("employer")} for m in mentors)
    )
    out["availability"] = rows(
        "availability",
        ({"mentor_id": m["id"], **b} for m in mentors for b in m.get("available") or ()),
    )
    out["preferences"] = rows(
        "preferences",
        (
            {"student_id": s["id"], "rank": rank, "opportunity_id": opp}
            for s in students
            for rank, opp in enumerate(s.get("preferences") or (), start=1)
        ),
    )
    return out
