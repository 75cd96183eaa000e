"""The assignments page's services: which run it lists, the choices of its filters, a page of
its listing, and the filtered listing as a table to download.

The listing itself (filters, sorts, keyset cursors) is `scheduler.queries.assignments_page`;
this module adds what the page needs around it:

- `filter_choices`: the round's schools, employers and clusters (one SELECT each, on the
  round's small tables) and the run's student groups (read off the run's metrics, `by_group`,
  which lists every label the run's students carry; one SELECT over the students only for a
  run stored without them), plus the statuses. Nothing grows with the number of students.
- `assignments_view`: the chosen run, else the latest succeeded one (`tables.choose_run`, as
  the exports pick it), its filter choices and one page: the one call the page's view makes.
- `export_rows`: every row of the filtered, sorted listing as `EXPORT_COLUMNS` (unplaced
  students' reason codes in words, `explain.label`), read page by page with the same service
  and cursors, so a download shows exactly what the page lists. `csv_chunks` and
  `xlsx_chunks` write them with the exporter's neutralising writers (`tables.exporting`):
  CSV a chunk per page of rows; XLSX through openpyxl's write-only workbook, spooled to a
  temporary file (a zip is written whole) and then sent in chunks.

Staff only (a viewer too): every function checks `access.require_staff` before reading.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import AssignmentStatus, Employer, Opportunity, Round, School, SolveRun, Student
from scheduler import explain as ex
from scheduler.access import Actor, require_staff
from scheduler.queries import (
    MAX_PAGE,
    UNPLACED,
    AssignmentFilter,
    AssignmentPage,
    AssignmentRow,
    assignments_page,
)

# The exporter's writers: the same neutralising of formulas and the same XLSX cells as every
# other download of the project (private there; reused here rather than written twice).
from scheduler.tables.exporting import NoRunError, _CsvSink, _XlsxBook, choose_run

__all__ = [
    "EXPORT_COLUMNS",
    "MAX_EMPLOYER_CHOICES",
    "STATUSES",
    "AssignmentsView",
    "Choice",
    "FilterChoices",
    "assignments_view",
    "csv_chunks",
    "export_cells",
    "export_rows",
    "filter_choices",
    "listing_run",
    "xlsx_chunks",
]

# A download's columns: what the page's table shows, ids and names apart. Never grades,
# groups, emails or addresses (the page does not show them either).
EXPORT_COLUMNS: Final = (
    "student_id",
    "student_name",
    "school",
    "status",
    "not_placed_because",
    "opportunity_id",
    "opportunity",
    "employer_id",
    "employer",
    "slot_id",
    "preference_rank",
    "travel_mode",
    "travel_minutes",
    "mentor_id",
    "mentor",
    "broken_rule",
)
_CHUNK_BYTES: Final = 64 * 1024
# Employers offered in a select at most: a big round has thousands (a select of them is a
# page of its own, slow to send and to use); beyond this the page asks for an employer's id.
MAX_EMPLOYER_CHOICES: Final = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """One option of a filter's select: the value sent (an id) and what is shown."""

    value: str
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterChoices:
    schools: tuple[Choice, ...]
    clusters: tuple[Choice, ...]
    employers: tuple[Choice, ...]  # empty when the round has too many (`employers_listed`)
    employers_listed: bool
    groups: tuple[Choice, ...]
    statuses: tuple[Choice, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignmentsView:
    """What the page shows: the run listed (None: the round has no run to list, and `page` is
    empty), whether it is the chosen one, the filter choices and a page of rows."""

    run_id: int | None
    chosen: bool
    choices: FilterChoices
    page: AssignmentPage


def listing_run(session: Session, rnd: Round, actor: Actor) -> SolveRun | None:
    """The run the page lists: the chosen one, else the latest succeeded one; None without."""
    require_staff(session, rnd, actor)
    return _listing_run(session, rnd)


def _listing_run(session: Session, rnd: Round) -> SolveRun | None:
    try:
        return choose_run(session, rnd)
    except NoRunError:
        return None


_STATUS_CHOICES: Final = (
    *(Choice(value=str(s), label=str(s).replace("_", " ")) for s in AssignmentStatus),
    Choice(value=UNPLACED, label="unplaced"),
)
# The values the status filter takes.
STATUSES: Final = tuple(c.value for c in _STATUS_CHOICES)


def filter_choices(
    session: Session, rnd: Round, actor: Actor, run: SolveRun | None
) -> FilterChoices:
    """The values the page's filters offer: the round's schools and employers (id, name; the
    employers only up to `MAX_EMPLOYER_CHOICES`, else none and `employers_listed` False),
    the clusters of its opportunities, the groups of the run's students, and the statuses.
    Three statements (four for a run without `by_group` in its metrics), by name."""
    require_staff(session, rnd, actor)
    return _choices(session, rnd, run)


def _choices(session: Session, rnd: Round, run: SolveRun | None) -> FilterChoices:
    schools = session.execute(
        select(School.external_id, School.name)
        .where(School.round_id == rnd.id)
        .order_by(School.name, School.external_id)
    ).all()
    employers = session.execute(
        select(Employer.external_id, Employer.name)
        .where(Employer.round_id == rnd.id)
        .order_by(Employer.name, Employer.external_id)
        .limit(MAX_EMPLOYER_CHOICES + 1)
    ).all()
    listed = len(employers) <= MAX_EMPLOYER_CHOICES
    clusters = session.scalars(
        select(Opportunity.cluster)
        .where(Opportunity.round_id == rnd.id)
        .distinct()
        .order_by(Opportunity.cluster)
    ).all()
    return FilterChoices(
        schools=tuple(Choice(value=i, label=n) for i, n in schools),
        clusters=tuple(Choice(value=c, label=c) for c in clusters),
        employers=tuple(Choice(value=i, label=n) for i, n in employers) if listed else (),
        employers_listed=listed,
        groups=tuple(Choice(value=g, label=g) for g in _groups(session, rnd, run)),
        statuses=_STATUS_CHOICES,
    )


def _groups(session: Session, rnd: Round, run: SolveRun | None) -> list[str]:
    """The group labels of the run's students: its metrics' `by_group` (the spec's metric,
    every label any student carries), else read from the round's students."""
    by_group = (run.metrics or {}).get("by_group") if run is not None else None
    if isinstance(by_group, dict):
        return sorted(str(g) for g in by_group)
    if session.get_bind().dialect.name == "postgresql":
        element = func.json_array_elements_text(Student.groups).table_valued("value")
        label: Any = element.c.value
    else:
        element = func.json_each(Student.groups).table_valued("value")
        label = element.c.value
    found = session.scalars(
        select(label)
        .select_from(Student)
        .join(element, label.is_not(None))
        .where(Student.round_id == rnd.id)
        .distinct()
    ).all()
    return sorted(str(g) for g in found)


def assignments_view(
    session: Session,
    rnd: Round,
    actor: Actor,
    *,
    filters: AssignmentFilter | None = None,
    sort: str = "name",
    descending: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> AssignmentsView:
    """The page: its run (`listing_run`), filter choices, and a page of the run's students
    (`queries.assignments_page`; `cursor` a page's `next_cursor`). A constant number of
    statements, whatever the round's size: access is checked once here (and once by the
    listing), not again by each part."""
    require_staff(session, rnd, actor)
    run = _listing_run(session, rnd)
    choices = _choices(session, rnd, run)
    if run is None:
        page = AssignmentPage(
            run_id=None, sort=sort, descending=descending, rows=(), next_cursor=None
        )
    else:
        page = assignments_page(
            session,
            rnd,
            actor,
            run=run,
            filters=filters,
            sort=sort,
            descending=descending,
            cursor=cursor,
            limit=limit,
        )
    return AssignmentsView(
        run_id=None if run is None else run.id,
        chosen=run is not None and run.id == rnd.chosen_run_id,
        choices=choices,
        page=page,
    )


def export_cells(row: AssignmentRow) -> tuple[Any, ...]:
    """A listing row as the cells of `EXPORT_COLUMNS`."""
    return (
        row.student,
        row.name,
        row.school,
        row.status,
        "; ".join(ex.label(c) for c in row.reasons) or None,
        row.opportunity,
        row.opportunity_title,
        row.employer,
        row.employer_name,
        row.slot,
        row.preference_rank,
        row.travel_mode,
        row.travel_minutes,
        row.mentor,
        row.mentor_name,
        row.broken_rule,
    )


def export_rows(
    session: Session,
    rnd: Round,
    actor: Actor,
    *,
    filters: AssignmentFilter | None = None,
    sort: str = "name",
    descending: bool = False,
) -> tuple[int | None, Iterator[tuple[Any, ...]]]:
    """The run listed (None: no run) and every row of its filtered, sorted listing as cells of
    `EXPORT_COLUMNS`. Access and the run are checked now; the rows are read as the iterator is
    consumed, `MAX_PAGE` at a time (one statement or so per page)."""
    run = listing_run(session, rnd, actor)

    def rows() -> Iterator[tuple[Any, ...]]:
        if run is None:
            return
        cursor: str | None = None
        while True:
            page = assignments_page(
                session,
                rnd,
                actor,
                run=run,
                filters=filters,
                sort=sort,
                descending=descending,
                cursor=cursor,
                limit=MAX_PAGE,
            )
            for row in page.rows:
                yield export_cells(row)
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    return (None if run is None else run.id), rows()


def csv_chunks(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[bytes]:
    """A CSV file (UTF-8 with a byte-order mark, for Excel) in chunks of about 64 KiB, cells
    neutralised as every export's are."""
    buffer = io.StringIO()
    sink = _CsvSink(buffer, header)
    first = True
    for row in rows:
        sink.row(row)
        if buffer.tell() >= _CHUNK_BYTES:
            yield _take(buffer, first)
            first = False
    yield _take(buffer, first)


def _take(buffer: io.StringIO, first: bool) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8-sig" if first else "utf-8")


def xlsx_chunks(
    header: Iterable[str], rows: Iterable[Iterable[Any]], *, title: str = "assignments"
) -> Iterator[bytes]:
    """An XLSX workbook of one sheet, written by openpyxl's write-only mode into a spooled
    temporary file, then read out in chunks."""
    book = _XlsxBook()
    book.new_sheet(title, header)
    for row in rows:
        book.row(row)
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        book.save(spool)
        spool.seek(0)
        while chunk := spool.read(_CHUNK_BYTES):
            yield chunk
