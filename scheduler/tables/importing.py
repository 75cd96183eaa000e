"""Importing tables into a round: parse everything, check everything, then write it all at once.

`import_tables` takes one file per kind (`students`, `schedules`, ...; see `spec.KINDS`) and
works in three stages:

1. Parse and check every file in `KIND_ORDER`, reading only: cell types, required columns and
   cells, duplicate ids, times and dates, references. A reference resolves against the
   round's rows plus the rows that earlier files of the same import add, so one import can
   bring a whole round (schools, then the students who attend them, ...). Every problem is
   collected with its file, row and column; if there is any, `TablesError` lists them all
   and nothing has been written. Rows that give an address instead of coordinates get them
   from the program's geocode cache, else the configured geocoder (`scheduler.geocode`); an
   address left without coordinates is one more problem, listed like the others.
2. Write, inside a SAVEPOINT: one bulk INSERT for the new rows of each table and bulk UPDATEs
   by primary key for the rows that exist (matched by external id: re-importing a file
   updates, never duplicates). Rows absent from a file are kept, unless `replace=True`.
3. Export the round and validate it as a `wbl-problem/1` document with the solver's own
   validator. A round that would no longer be valid (a pin whose mentor changed employer, a
   student left with neither school nor home) is rolled back to the savepoint and refused.
4. When the round has pins or a chosen run, re-check them against the round as written
   (`scheduler.breaks.find_breaks`): a pin or placement the import breaks (a lowered
   capacity, a dropped credential, a new class block, a mentor moved to another employer, a
   pinned slot deleted...) refuses the import, each named with its rule, unless the caller
   accepts the breaks (`accept_breaks=True`): then the import is applied, the broken rows are
   marked (`broken_rule`, `broken_reason`), marks of rows that hold again are cleared, and an
   audit event (`round.import_breaks`) lists them. `dry_run=True` runs all of it and rolls
   back, returning what the import would break.

An update changes only the columns the file has: a students file without an `email` column
leaves every stored email as it was, while an empty `email` cell clears that student's email.

The school day (`bells`) has no table of its own: a student's busy time is one list of blocks.
Blocks written from bells carry `"source": "bells"` (an extra field, which the format allows
and the solver ignores), so that the next bells import can tell a student who only follows
the school day from one with an individual schedule, whose blocks have no such mark.

Functions take a `Session` and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from models import (
    Assignment,
    AuditEvent,
    Employer,
    Mentor,
    Mentorship,
    Opportunity,
    Pin,
    Preference,
    Program,
    Round,
    RoundStatus,
    School,
    Slot,
    Student,
    Unplaced,
    User,
)
from models.base import Base
from scheduler.access import require_edit
from scheduler.breaks import Break, breaks_issues, find_breaks, mark_breaks
from scheduler.geocode import Address, GeocodeError, Geocoder, configured, geocode
from scheduler.rounds import PROBLEM_FORMAT, _ids, chunks, export_round, import_round
from scheduler.tables.reading import RawTable, Source, TableIssue, TablesError, read_table
from scheduler.tables.spec import END_OF_DAY, KIND_ORDER, KINDS, TableKind, shown
from solver import Problem, ProblemError, load_problem

__all__ = [
    "BELLS_SOURCE",
    "AddressRow",
    "FileReport",
    "ImportReport",
    "create_round",
    "import_tables",
    "table_addresses",
]

# The mark on busy blocks that came from a school's bell schedule.
BELLS_SOURCE: Final = "bells"
# IN lists stay under every backend's parameter limit (SQLite's is 32,766 since 3.32).

_BAD: Final = object()  # a cell that did not parse: reported once, never checked further

Block = dict[str, str]

# The entity each kind keys by, with the model that stores it.
_ENTITY: Final[dict[str, type[Base]]] = {
    "schools": School,
    "employers": Employer,
    "students": Student,
    "opportunities": Opportunity,
    "slots": Slot,
    "mentors": Mentor,
}
_WHAT: Final[dict[type[Base], str]] = {
    School: "school",
    Employer: "employer",
    Student: "student",
    Opportunity: "opportunity",
    Slot: "slot",
    Mentor: "mentor",
}
# Table column -> stored field, for the columns copied as they are.
_FIELDS: Final[dict[str, dict[str, str]]] = {
    "schools": {"name": "name", "lat": "lat", "lon": "lon", "address": "address"},
    "employers": {"name": "name", "contact_email": "contact_email"},
    "students": {
        "school_id": "school_id",
        "grade": "grade",
        "birth_date": "birth_date",
        "home_lat": "lat",
        "home_lon": "lon",
        "travel_modes": "travel_modes",
        "max_commute_minutes": "max_commute_minutes",
        "clusters": "clusters",
        "credentials": "credentials",
        "priority": "priority",
        "groups": "groups",
        "wants_mentor": "wants_mentor",
        "max_weekly_hours": "max_weekly_hours",
        "email": "email",
    },
    "opportunities": {
        "employer_id": "employer_id",
        "title": "title",
        "kind": "kind",
        "cluster": "cluster",
        "lat": "lat",
        "lon": "lon",
        "address": "address",
        "transit_accessible": "transit_accessible",
        "capacity": "capacity",
        "min_age": "min_age",
        "min_grade": "min_grade",
        "required_credentials": "required_credentials",
        "hazardous": "hazardous",
        "requires_mentor": "requires_mentor",
    },
    "mentors": {
        "name": "name",
        "employer_id": "employer_id",
        "clusters": "clusters",
        "capacity": "capacity",
        "virtual": "virtual",
    },
}
# Stored fields that hold another row's external id until the write resolves it.
_REFS: Final[dict[type[Base], dict[str, type[Base]]]] = {
    Student: {"school_id": School},
    Opportunity: {"employer_id": Employer},
    Slot: {"opportunity_id": Opportunity},
    Mentor: {"employer_id": Employer},
}
# What a new row stores in the fields its file did not give.
_INSERT_DEFAULTS: Final[dict[type[Base], dict[str, Any]]] = {
    School: {"address": None},
    Employer: {"contact_email": None},
    Student: {
        "school_id": None,
        "grade": None,
        "lat": None,
        "lon": None,
        "max_commute_minutes": 60,
        "clusters": [],
        "credentials": [],
        "busy": [],
        "priority": 0,
        "groups": [],
        "max_weekly_hours": None,
        "wants_mentor": False,
        "email": None,
    },
    Opportunity: {
        "address": None,
        "transit_accessible": True,
        "capacity": None,
        "min_age": None,
        "min_grade": None,
        "required_credentials": [],
        "hazardous": False,
        "requires_mentor": False,
        "restricted": False,
    },
    Slot: {"blocks": []},
    Mentor: {"employer_id": None, "clusters": [], "available": [], "virtual": False},
}


@dataclass(slots=True)
class FileReport:
    """What one file did: rows read; rows (students, slots, ...) inserted, updated, deleted."""

    kind: str
    file: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        what = "row" if self.rows == 1 else "rows"
        # The counts are of students, slots, mentors...: a slot or a schedule has a row per
        # block, so rows and what they are rows of differ, and the line says which.
        counted = _COUNTED.get(self.kind, self.kind)
        text = f"{self.file} ({self.kind}): {self.rows} {what}"
        text += f"; {counted}: {self.inserted} inserted, {self.updated} updated"
        if self.deleted:
            text += f", {self.deleted} deleted"
        return text


# What a file's inserted / updated / deleted counts count, where it is not its kind.
_COUNTED: Final = {
    "bells": "students following the bells",
    "schedules": "students",
    "availability": "mentors",
    "preferences": "students",
}


@dataclass(slots=True)
class ImportReport:
    """The outcome of an import that went through (or, with `dry_run`, would): one report per
    file, in import order; the pins and placements that no longer hold (`breaks`, each marked
    unless `dry_run`), and how many earlier marks the import cleared."""

    round: str
    files: list[FileReport]
    seconds: float
    breaks: list[Break] = field(default_factory=list)
    dry_run: bool = False
    marks_cleared: int = 0


def create_round(
    session: Session,
    program: Program,
    external_id: str,
    *,
    name: str,
    start_date: dt.date | str,
    end_date: dt.date | str,
    timezone: str,
    holidays: Iterable[dt.date | str] = (),
    summer: bool = False,
    mentor_meeting_minutes: int = 30,
) -> Round:
    """An empty round (no schools, students, ...) for tables to be imported into.

    It goes through `import_round`, so the round header is checked by the same validator as
    a whole document (`solver.ProblemError` for a bad date or time zone) and a second round
    with the same id is refused (`RoundExistsError`)."""

    def iso(value: dt.date | str) -> str:
        return value.isoformat() if isinstance(value, dt.date) else value

    doc = {
        "format": PROBLEM_FORMAT,
        "round": {
            "id": external_id,
            "name": name,
            "start_date": iso(start_date),
            "end_date": iso(end_date),
            "timezone": timezone,
            "holidays": sorted(iso(h) for h in holidays),
            "summer": summer,
            "mentor_meeting_minutes": mentor_meeting_minutes,
        },
        "schools": [],
        "students": [],
        "employers": [],
        "opportunities": [],
        "mentors": [],
    }
    return import_round(session, doc, program)


def import_tables(
    session: Session,
    rnd: Round,
    files: Mapping[str, Source] | Iterable[tuple[str, Source]],
    *,
    replace: bool = False,
    encoding: str | None = None,
    user: User | None = None,
    accept_breaks: bool = False,
    dry_run: bool = False,
    geocoder: Geocoder | None = None,
) -> ImportReport:
    """Import `files` (kind -> path or `TableFile`) into `rnd`, all or nothing, as `user`
    (None: the system or the command line; else a coordinator or admin of the round's
    program, or `NotAllowed` is raised before anything is read).

    `replace`: each file is the whole list of its kind: rows of the round absent from it are
    deleted (students, schools, ...) or emptied (a schedule, a student's choices), unless a
    solve run or another row still needs them (then the import is refused, naming them).
    `encoding`: of CSV files that are not UTF-8 (`"cp1252"`).
    `accept_breaks`: apply an import that breaks pins or placements of the chosen run, marking
    them (`ImportReport.breaks`); without it such an import is refused, naming each.
    `dry_run`: check and write everything, then roll it back: the report says what the import
    would do and break (`breaks`), and nothing is kept.
    `geocoder`: where rows that give an address without coordinates get theirs, after the
    geocode cache (`scheduler.geocode.geocode`); None: the one `WBL_GEOCODER` configures, if
    any. An address left without coordinates refuses the import, each one listed.

    Raises `TablesError` listing every problem, with nothing written (`breaks` on it when the
    import was refused for them). On success the round's version is bumped (optimistic
    locking: a coordinator's change prepared on the old data fails instead of overwriting), an
    `AuditEvent` records the import, and the session's loaded objects are expired, since bulk
    writes bypass them."""
    require_edit(session, rnd, user)
    started = time.perf_counter()
    pairs = list(files.items() if isinstance(files, Mapping) else files)
    issues: list[TableIssue] = []
    seen: dict[str, str] = {}
    for kind, source in pairs:
        label = source.name if hasattr(source, "name") else str(source)
        if kind not in KINDS:
            issues.append(
                TableIssue(label, f"unknown kind {kind!r} (one of {', '.join(KIND_ORDER)})")
            )
        elif kind in seen:
            issues.append(TableIssue(label, f"a second {kind} file (the first is {seen[kind]})"))
        else:
            seen[kind] = label
    if rnd.status == RoundStatus.closed:
        issues.append(TableIssue(f"round {rnd.external_id!r}", "the round is closed"))
    if issues:
        raise TablesError(issues)
    if not pairs:
        return ImportReport(rnd.external_id, [], time.perf_counter() - started)

    session.flush()  # expire_all at the end must not discard the caller's pending changes
    # Serialise imports into one round (PostgreSQL row lock; SQLite has one writer anyway):
    # the id maps read below must still hold when the rows are written.
    session.execute(select(Round.id).where(Round.id == rnd.id).with_for_update())
    by_kind = dict(pairs)
    job = _Import(session, rnd, replace)
    for kind in KIND_ORDER:
        if kind not in by_kind:
            continue
        try:
            raw = read_table(by_kind[kind], encoding=encoding)
        except TablesError as exc:
            job.issues.extend(exc.issues)
            continue
        job.parse(kind, raw)
    if not job.issues and job.addresses:
        # Only a file that is otherwise good asks the geocoder: a server's answers are slow.
        job.locate(geocoder)
    if job.issues:
        raise TablesError(job.issues, hint=job.geocode_hint)

    savepoint = session.begin_nested()
    breaks: list[Break] = []
    cleared = 0
    hint = None
    try:
        # The round's version moves on: whatever a coordinator prepared against the old data
        # is stale now.
        session.execute(
            update(Round).where(Round.id == rnd.id).values(version=Round.version + 1),
            execution_options={"synchronize_session": False},
        )
        job.write()
        if not job.issues:
            problem = job.check_round()
            if problem is not None:
                breaks = find_breaks(session, rnd, problem, lost=job.lost.values())
        refused = [b for b in breaks if b.new and not accept_breaks and not dry_run]
        if refused and not job.issues:
            where = f"round {rnd.external_id!r} after the import"
            for b in breaks:
                job.bad(where, None, None, f"{b.rule} {b}")
            hint = breaks_issues(breaks)[0]
        if not job.issues and not dry_run:
            detail = {"kind": "tables", "files": [r.file for r in job.reports.values()]}
            cleared = mark_breaks(session, rnd, breaks, user=user, source=detail)
            session.add(_audit(rnd, job, replace, user, breaks))
            session.flush()
    except BaseException:
        savepoint.rollback()
        raise
    if job.issues:
        savepoint.rollback()
        raise TablesError(job.issues, breaks=breaks if hint else (), hint=hint)
    if dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    session.expire_all()
    return ImportReport(
        rnd.external_id,
        list(job.reports.values()),
        time.perf_counter() - started,
        breaks=breaks,
        dry_run=dry_run,
        marks_cleared=cleared,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressRow:
    """A row of a table that gives an address and no coordinates: where, and the address."""

    file: str
    row: int
    column: str
    address: Address


# The kinds whose rows may give a place by address, with their columns' prefix.
_ADDRESS_PREFIX: Final = {"schools": "", "opportunities": "", "students": "home_"}


def table_addresses(
    files: Mapping[str, Source] | Iterable[tuple[str, Source]], *, encoding: str | None = None
) -> list[AddressRow]:
    """The addresses that `import_tables` would geocode: rows of schools, opportunities and
    students files with an address and empty coordinates, in file and row order. Files of
    other kinds are skipped; only the cells concerned are read (`TablesError` for a file that
    cannot be read, or a cell of those columns that does not parse)."""
    out: list[AddressRow] = []
    issues: list[TableIssue] = []
    for kind, source in files.items() if isinstance(files, Mapping) else files:
        prefix = _ADDRESS_PREFIX.get(kind)
        if prefix is None:
            continue
        raw = read_table(source, encoding=encoding)
        names = ("lat", "lon", "address", "city", "state", "zip")
        columns = [KINDS[kind].column(f"{prefix}{name}") for name in names]
        positions = [raw.header.index(c.name) if c.name in raw.header else None for c in columns]
        for number, cells in raw.rows:
            values: list[Any] = []
            for column, position in zip(columns, positions, strict=True):
                cell = None if position is None else cells[position]
                try:
                    values.append(None if cell is None else column.parse(cell))
                except ValueError as exc:
                    issues.append(TableIssue(raw.name, str(exc), number, column.name))
                    values.append(_BAD)
            lat, lon, street, city, state, zip_ = values
            if street is None or _BAD in values or (lat is not None and lon is not None):
                continue
            address = Address(street=street, city=city or "", state=state or "", zip=zip_ or "")
            out.append(
                AddressRow(file=raw.name, row=number, column=columns[2].name, address=address)
            )
    if issues:
        raise TablesError(issues)
    return out


def _audit(
    rnd: Round, job: _Import, replace: bool, user: User | None, breaks: list[Break]
) -> AuditEvent:
    """The import as the audit log keeps it: per file, rows read, inserted, updated, deleted;
    how many pins and placements it left broken (the `round.import_breaks` event lists them)."""
    return AuditEvent(
        program_id=rnd.program_id,
        round_id=rnd.id,
        user_id=user.id if user is not None else None,
        action="round.import_tables",
        target_type="round",
        target_id=rnd.external_id,
        detail={
            "replace": replace,
            "breaks": len(breaks),
            "files": [
                {
                    "kind": r.kind,
                    "file": r.file,
                    "rows": r.rows,
                    "inserted": r.inserted,
                    "updated": r.updated,
                    "deleted": r.deleted,
                }
                for r in job.reports.values()
            ],
        },
    )


@functools.cache
def _place_columns(kind: str, prefix: str) -> tuple[int, ...]:
    """Positions of `prefix`lat, lon, address, city, state, zip among the kind's columns."""
    names = ("lat", "lon", "address", "city", "state", "zip")
    return tuple(KINDS[kind].headers.index(f"{prefix}{name}") for name in names)


def _follows_bells(busy: Iterable[Mapping[str, Any]]) -> bool:
    """No individual schedule: no busy time at all, or only the school day's."""
    return all(b.get("source") == BELLS_SOURCE for b in busy)


class _Import:
    """One import's state: what the database holds, what the files say, what went wrong."""

    def __init__(self, session: Session, rnd: Round, replace: bool) -> None:
        self.session = session
        self.rnd = rnd
        self.rid = rnd.id
        self.replace = replace
        self.holidays = frozenset(rnd.holidays)
        self.issues: list[TableIssue] = []
        self.reports: dict[str, FileReport] = {}
        self._db: dict[type[Base], dict[str, int]] = {}
        self._known: dict[str, Mapping[str, int] | set[str]] = {}
        # Entities the files define: kind -> external id -> row.
        self.defined: dict[str, dict[str, int]] = {}
        # What to write: model -> external id -> stored field -> value. References hold the
        # other row's external id until `write` resolves them.
        self.patches: dict[type[Base], dict[str, dict[str, Any]]] = defaultdict(dict)
        self.bells: dict[str, list[Block]] = {}
        self.scheduled: set[str] = set()  # students whose busy blocks a schedules file gives
        self.available: set[str] = set()  # mentors whose availability a file gives
        self.choices: dict[str, list[tuple[int, str]]] = {}  # student -> [(rank, opportunity)]
        # Pins that lose their slot, mentor or opportunity to a deletion (H9), by pin id.
        self.lost: dict[int, Break] = {}
        # Rows that give an address without coordinates: (file, row, column, patch, address).
        self.addresses: list[tuple[str, int, str, dict[str, Any], Address]] = []
        self.geocode_hint: str | None = None

    # --- Database state, read once per table ---------------------------------------------------

    def db_ids(self, model: type[Base]) -> dict[str, int]:
        if model not in self._db:
            self._db[model] = _ids(self.session, model, self.rid)
        return self._db[model]

    def known(self, kind: str) -> Mapping[str, int] | set[str]:
        """The ids a reference to `kind` may use once the import is done: the round's and the
        file's, or only the file's when `replace` makes it the whole list.

        Computed once per kind: references only point at kinds parsed earlier, whose ids
        are final by then."""
        known = self._known.get(kind)
        if known is None:
            defined = self.defined.get(kind)
            if defined is None:
                known = self.db_ids(_ENTITY[kind])
            elif self.replace:
                known = defined
            else:
                known = self.db_ids(_ENTITY[kind]).keys() | defined.keys()
            self._known[kind] = known
        return known

    # --- Parsing -------------------------------------------------------------------------------

    @property
    def _parsers(
        self,
    ) -> dict[str, Callable[[str, Iterator[tuple[int, list[Any]]], dict[str, int]], None]]:
        """The parser of each kind, named here so that a renamed method fails at once (a test
        checks every kind of the spec has one)."""
        return {
            "schools": self._parse_schools,
            "employers": self._parse_employers,
            "students": self._parse_students,
            "bells": self._parse_bells,
            "schedules": self._parse_schedules,
            "opportunities": self._parse_opportunities,
            "slots": self._parse_slots,
            "mentors": self._parse_mentors,
            "availability": self._parse_availability,
            "preferences": self._parse_preferences,
        }

    def bad(self, file: str, row: int | None, column: str | None, message: str) -> None:
        self.issues.append(TableIssue(file, message, row, column))

    def parse(self, kind: str, raw: RawTable) -> None:
        spec = KINDS[kind]
        report = FileReport(kind, raw.name)
        self.reports[kind] = report
        first = len(self.issues)
        present = self._header(spec, raw, report)
        other = _looks_like(kind, raw.header) if len(self.issues) > first else None
        if other is not None:
            # The wrong kind was named for this file: one line, not a problem per row.
            del self.issues[first:]
            report.warnings.clear()
            self.bad(
                raw.name,
                1,
                None,
                f"this looks like a {other} file, not {kind} (its header has"
                f" {', '.join(c for c in KINDS[other].headers if c in raw.header)}): import it"
                f" as {other}",
            )
            return
        rows = self._cells(spec, raw, present, report)
        self._parsers[kind](raw.name, rows, present)
        for number in raw.ragged:
            self.bad(
                raw.name,
                number,
                None,
                "more cells than the header has columns (an unquoted comma in a cell?)",
            )
        # Cell, row and file checks run at different times; the user reads the file top down.
        # (A stable sort: within a row, a cell's own problems come first, in column order,
        # then those that compare it with other rows or files.)
        self.issues[first:] = sorted(self.issues[first:], key=lambda i: i.row or 0)

    def _header(self, spec: TableKind, raw: RawTable, report: FileReport) -> dict[str, int]:
        """Column name -> position in the file, for the kind's columns the header has."""
        present: dict[str, int] = {}
        names = set(spec.headers)
        ignored = []
        for position, name in enumerate(raw.header):
            if name in present:
                self.bad(
                    raw.name, 1, name, f"the column appears twice (again in column {position + 1})"
                )
            elif name in names:
                present[name] = position
            elif name:
                ignored.append(name)
        if ignored:
            report.warnings.append(
                f"columns ignored (not {spec.name} columns): {', '.join(ignored)}"
            )
        for column in spec.columns:
            if column.header_required and column.name not in present:
                self.bad(raw.name, 1, column.name, "required column is missing")
        return present

    def _cells(
        self, spec: TableKind, raw: RawTable, present: dict[str, int], report: FileReport
    ) -> Iterator[tuple[int, list[Any]]]:
        """(row, values): one value per column of the kind, None where the column is absent,
        its default where the cell is empty, `_BAD` where the cell did not parse."""
        plan = [(i, present[c.name], c) for i, c in enumerate(spec.columns) if c.name in present]
        width = len(spec.columns)
        issues = self.issues
        for number, cells in raw.rows:
            report.rows += 1
            values: list[Any] = [None] * width
            for i, position, column in plan:
                cell = cells[position]
                if cell is None:
                    if column.required:
                        issues.append(
                            TableIssue(raw.name, "required, but empty", number, column.name)
                        )
                        values[i] = _BAD
                    else:
                        default = column.default
                        values[i] = [] if isinstance(default, list) else default
                    continue
                try:
                    values[i] = column.parse(cell)
                except ValueError as exc:
                    issues.append(TableIssue(raw.name, str(exc), number, column.name))
                    values[i] = _BAD
            yield number, values
        if report.rows == 0:
            report.warnings.append("no rows below the header")
            if self.replace:
                self.bad(
                    raw.name,
                    None,
                    None,
                    f"no rows: with replace this file would empty the round's {spec.name}; refused",
                )

    def _key(self, file: str, number: int, column: str, ext: Any, seen: dict[str, int]) -> bool:
        """Record an entity's id; False for a duplicate (reported) or an unreadable id."""
        if ext is None or ext is _BAD:
            return False
        first = seen.get(ext)
        if first is not None:
            self.bad(file, number, column, f"duplicate id {shown(ext)} (first at row {first})")
            return False
        seen[ext] = number
        return True

    def _ref(self, file: str, number: int, column: str, ext: Any, kind: str) -> bool:
        """Check a reference; False (reported) when it resolves to nothing."""
        if ext is None or ext is _BAD:
            return False
        if ext in self.known(kind):
            return True
        what = _WHAT[_ENTITY[kind]]
        if kind not in self.reports:
            where = "in the round"
        elif self.replace:
            where = f"in {self.reports[kind].file}, which replaces the round's {kind}"
        else:
            where = f"in the round nor in {self.reports[kind].file}"
        self.bad(file, number, column, f"unknown {what} {shown(ext)} (not {where})")
        return False

    def _entity(
        self,
        kind: str,
        file: str,
        rows: Iterator[tuple[int, list[Any]]],
        present: dict[str, int],
    ) -> Iterator[tuple[int, str, dict[str, Any], list[Any]]]:
        """The rows of an entity kind with a fresh id: (row, id, fields to store, values).
        Duplicates are reported and skipped; the copied fields are the ones the header has."""
        spec = KINDS[kind]
        key = spec.columns[0].name
        fields = [
            (i, _FIELDS[kind][c.name])
            for i, c in enumerate(spec.columns)
            if c.name in present and c.name in _FIELDS[kind]
        ]
        seen = self.defined.setdefault(kind, {})
        patches = self.patches[_ENTITY[kind]]
        for number, values in rows:
            ext = values[0]
            if not self._key(file, number, key, ext, seen):
                continue
            patch = {name: values[i] for i, name in fields}
            patches[ext] = patch
            yield number, ext, patch, values

    def _block(
        self, file: str, number: int, day: Any, start: Any, end: Any, *, date: Any = None
    ) -> Block | None:
        """A weekly block (or a dated one when `date` is given) from checked cells."""
        if _BAD in (day, start, end, date):
            return None
        if start == END_OF_DAY:
            self.bad(file, number, "start", "24:00 is only an end (the end of the day)")
            return None
        if start is None or end is None:
            return None
        if end <= start:
            self.bad(file, number, "end", f"must be after start ({start}), not {shown(end)}")
            return None
        if date is not None:
            rnd = self.rnd
            if not rnd.start_date <= date <= rnd.end_date:
                self.bad(
                    file,
                    number,
                    "date",
                    f"{date} is outside the round ({rnd.start_date} to {rnd.end_date})",
                )
                return None
            if date.isoformat() in self.holidays:
                self.bad(file, number, "date", f"{date} is a holiday of the round")
                return None
            return {"date": date.isoformat(), "start": start, "end": end}
        if day is None:
            return None
        return {"day": day, "start": start, "end": end}

    def _parse_schools(
        self, file: str, rows: Iterator[tuple[int, list[Any]]], present: dict[str, int]
    ) -> None:
        for _ in self._locations("schools", file, rows, present):
            pass

    def _locations(
        self, kind: str, file: str, rows: Iterator[tuple[int, list[Any]]], present: dict[str, int]
    ) -> Iterator[tuple[int, str, dict[str, Any], list[Any]]]:
        """The rows of a kind with a required place (schools, opportunities), each given by
        lat and lon or by an address to geocode (`locate`), passed on to the caller."""
        spec = KINDS[kind]
        # Without an address column, lat and lon are required columns as they always were.
        whole = "address" in present or ("lat" in present and "lon" in present)
        if not whole:
            for name in ("lat", "lon"):
                if name not in present:
                    self.bad(file, 1, name, "required column is missing")
        stored = self.db_ids(_ENTITY[kind])
        for number, ext, patch, v in self._entity(kind, file, rows, present):
            if whole:
                given = "lat" in present or "lon" in present or ext not in stored
                self._place(file, number, "", patch, v, spec, given=given)
            yield number, ext, patch, v

    def _place(
        self,
        file: str,
        number: int,
        prefix: str,
        patch: dict[str, Any],
        v: list[Any],
        spec: TableKind,
        *,
        given: bool,
    ) -> bool:
        """Check a row's coordinates (`prefix`lat, `prefix`lon) or queue its address to be
        geocoded; True when the row has a place or will have one. `given`: the row must give
        one (an update whose file has neither column keeps the stored place)."""
        lat_name, lon_name = f"{prefix}lat", f"{prefix}lon"
        lat, lon, street, city, state, zip_ = (v[i] for i in _place_columns(spec.name, prefix))
        if _BAD in (lat, lon, street, city, state, zip_):
            return True
        stored_address = "address" in patch
        if street is not None:
            address = Address(street=street, city=city or "", state=state or "", zip=zip_ or "")
            if stored_address:
                patch["address"] = address.one_line
        if lat is not None and lon is not None:
            return True
        if (lat is None) != (lon is None):
            if prefix:  # students: `_parse_students` reports a half home already
                return True
            column = lon_name if lon is None else lat_name
            self.bad(file, number, column, "required when the other coordinate is given")
            return True
        if street is not None:
            self.addresses.append((file, number, f"{prefix}address", patch, address))
            return True
        if given and not prefix:
            self.bad(
                file,
                number,
                lat_name,
                "required, but empty (give lat and lon, or an address to geocode)",
            )
            return True
        return False

    def locate(self, geocoder: Geocoder | None) -> None:
        """Coordinates for the rows that gave an address: the cache's, else the geocoder's
        (`WBL_GEOCODER` when none is given). Each address left without is reported."""
        try:
            if geocoder is None:
                geocoder = configured()
            found = geocode(
                self.session, self.rnd.program_id, (a for *_, a in self.addresses), geocoder
            )
        except GeocodeError as exc:
            for issue in exc.issues:
                self.bad("geocoder", None, None, issue)
            return
        missing = 0
        for file, number, column, patch, address in self.addresses:
            answer = found.get(address.key)
            if answer is not None and answer.located:
                # Students store their home as lat/lon too.
                patch["lat"], patch["lon"] = answer.lat, answer.lon
                continue
            missing += 1
            if answer is None:
                why = (
                    "not in the geocode cache, and no geocoder is configured (WBL_GEOCODER)"
                    if geocoder is None
                    else f"the geocoder ({geocoder.source}) has no answer for it"
                )
            elif answer.status == "tie":
                why = f"{answer.source} found several equally good matches (a tie)"
            else:
                why = f"{answer.source} found no match"
            self.bad(file, number, column, f"no coordinates for {shown(address.one_line)}: {why}")
        if missing:
            rnd = f"{self.rnd.external_id} --program {self.rnd.program.slug}"
            self.geocode_hint = (
                f"{missing} address{'es' if missing != 1 else ''} without coordinates: give"
                " lat and lon, set WBL_GEOCODER, or geocode them by hand: `wbl round geocode"
                f" {rnd} --export addresses.csv KIND FILE...` (the same files), send"
                " addresses.csv to the Census Bureau's batch geocoder, then `wbl round geocode"
                f" {rnd} --import results.csv` and import again"
            )

    def _parse_employers(
        self, file: str, rows: Iterator[tuple[int, list[Any]]], present: dict[str, int]
    ) -> None:
        for _ in self._entity("employers", file, rows, present):
            pass

    def _parse_students(
        self, file: str, rows: Iterator[tuple[int, list[Any]]], present: dict[str, int]
    ) -> None:
        has_name = "name" in present
        has_parts = "first_name" in present or "last_name" in present
        if not has_name and not has_parts:
            self.bad(file, 1, "name", "required column is missing (or first_name and last_name)")
        home_columns = ("home_lat" in present) + ("home_lon" in present)
        if home_columns == 1:
            missing = "home_lon" if "home_lat" in present else "home_lat"
            self.bad(
                file, 1, missing, "required column is missing (home_lat and home_lon go together)"
            )
        has_school = "school_id" in present
        stored = self.db_ids(Student)
        for number, ext, patch, v in self._entity("students", file, rows, present):
            # name, first_name, last_name are columns 1-3 of the kind.
            name = v[1] if v[1] is not None else " ".join(p for p in (v[2], v[3]) if p)
            if has_name or has_parts:
                if name:
                    patch["name"] = name
                else:
                    self.bad(
                        file,
                        number,
                        "name" if has_name else "first_name",
                        "required, but empty (give name, or first_name and last_name)",
                    )
            school = v[4]
            if school is not None:
                self._ref(file, number, "school_id", school, "schools")
            lat, lon = v[7], v[8]
            if home_columns == 2 and _BAD not in (lat, lon) and (lat is None) != (lon is None):
                column = "home_lon" if lon is None else "home_lat"
                self.bad(file, number, column, "required when the other home coordinate is given")
            new = ext not in stored
            no_school = school is None and (has_school or new)
            placed = "home_address" in present and self._place(
                file, number, "home_", patch, v, KINDS["students"], given=False
            )
            no_home = lat is None and (home_columns == 2 or new) and not placed
            if no_school and no_home:
                self.bad(
                    file,
                    number,
                    "school_id",
                    "a student needs a school_id or a home location (home_lat, home_lon):"
                    " commutes start from one of them",
                )

    def _parse_bells(
        self, file: str, rows: Iterator[tuple[int, list[Any]]], present: dict[str, int]
    ) -> None:
        seen: dict[tuple[Any, ...], int] = {}
        for number, (school, day, start, end) in rows:
            block = self._block(file, number, day, start, end)
            if not self._ref(file, number, "school_id", school, "schools") or block is None:
                continue
            if self._repeated(file, number, (school, day, start, end), seen):
                continue
            block["source"] = BELLS_SOURCE
            self.bells.setdefault(school, []).append(block)

    def _repeated(
        self, file: str, number: int, key: tuple[Any, ...], seen: dict[tuple[Any, ...], int]
    ) -> bool:
        first = seen.get(key)
        if first is not None:
            self.bad(file, number, None, f"repeats row {first}")
            return True
        seen[key] = number
        return False

    def _parse_schedules(
        self, file: str, rows: Iterator[tuple[int, list[Any]]], present: dict[str, int]
    ) -> None:
        busy: dict[str, list[Block]] = {}
        seen: dict[tuple[Any, ...], int] = {}
        for number, (student, day, start, end) in rows:
            block = self._block(file, number, day, start, end)
            if not self._ref(file, number, "student_id", student, "students") or block is None:
                continue
            if self._repeated(file, number, (student, day, start, end), seen):
                continue
            busy.setdefault(student, []).append(block)
        patches = self.patches[Student]
        for student, blocks in busy.items():
            patches.setdefault(student, {})["busy"] = blocks
        self.scheduled = set(busy)

    def _parse_opportunities(
        self, file: str, rows: Iterator[tuple[int, list[Any]]], present: dict[str, int]
    ) -> None:
        for number, _ext, _patch, v in self._locations("opportunities", file, rows, present):
            self._ref(file, number, "employer_id", v[1], "employers")

    def _parse_slots(
        self, file: str, rows: Iterator[tuple[int, list[Any]]], present: dict[str, int]
    ) -> None:
        if "day" not in present and "date" not in present:
            self.bad(
                file,
                1,
                "day",
                "required column is missing (day for weekly blocks, date for dated ones)",
            )
        stored_opportunity = dict(
            self.session.execute(
                select(Slot.external_id, Opportunity.external_id)
                .join(Opportunity, Slot.opportunity_id == Opportunity.id)
                .where(Slot.round_id == self.rid)
            ).all()
        )
        defined = self.defined.setdefault("slots", {})
        patches = self.patches[Slot]
        seen: dict[tuple[Any, ...], int] = {}
        for number, (opp, slot, capacity, day, date, start, end) in rows:
            if day is not None and date is not None and _BAD not in (day, date):
                self.bad(file, number, "date", "a block has a day (weekly) or a date, not both")
                continue
            if day is None and date is None:
                self.bad(file, number, "day", "required, but empty (give a day, or a date)")
                continue
            block = self._block(file, number, day, start, end, date=date)
            ok = self._ref(file, number, "opportunity_id", opp, "opportunities")
            if slot is None or slot is _BAD:
                continue
            first = defined.get(slot)
            if first is None:
                defined[slot] = number
                before = stored_opportunity.get(slot)
                if ok and before is not None and before != opp:
                    self.bad(
                        file,
                        number,
                        "opportunity_id",
                        f"slot {shown(slot)} belongs to opportunity {shown(before)};"
                        " slot ids are unique across the round",
                    )
                patches[slot] = {"opportunity_id": opp, "capacity": capacity, "blocks": []}
            else:
                patch = patches[slot]
                for column, value, kept in (
                    ("opportunity_id", opp, patch["opportunity_id"]),
                    ("capacity", capacity, patch["capacity"]),
                ):
                    if _BAD not in (value, kept) and value != kept:
                        self.bad(
                            file,
                            number,
                            column,
                            f"{shown(value)} differs from {shown(kept)} on row {first}"
                            f" (same slot {shown(slot)})",
                        )
            if block is None:
                continue
            key = (slot, day, date, start, end)
            if not self._repeated(file, number, key, seen):
                patches[slot]["blocks"].append(block)

    def _parse_mentors(
        self, file: str, rows: Iterator[tuple[int, list[Any]]], present: dict[str, int]
    ) -> None:
        for number, _ext, _patch, v in self._entity("mentors", file, rows, present):
            if v[2] is not None:
                self._ref(file, number, "employer_id", v[2], "employers")

    def _parse_availability(
        self, file: str, rows: Iterator[tuple[int, list[Any]]], present: dict[str, int]
    ) -> None:
        patches = self.patches[Mentor]
        stored_employer: dict[str, int | None] = dict(
            self.session.execute(
                select(Mentor.external_id, Mentor.employer_id).where(Mentor.round_id == self.rid)
            ).all()
        )
        available: dict[str, list[Block]] = {}
        seen: dict[tuple[Any, ...], int] = {}
        for number, (mentor, day, start, end) in rows:
            block = self._block(file, number, day, start, end)
            if not self._ref(file, number, "mentor_id", mentor, "mentors") or block is None:
                continue
            patch = patches.get(mentor, {})
            employer = (
                patch["employer_id"] if "employer_id" in patch else stored_employer.get(mentor)
            )
            if employer is not None and employer is not _BAD:
                self.bad(
                    file,
                    number,
                    "mentor_id",
                    f"mentor {shown(mentor)} is a workplace mentor (of an employer);"
                    " availability is for community mentors",
                )
                continue
            if not self._repeated(file, number, (mentor, day, start, end), seen):
                available.setdefault(mentor, []).append(block)
        for mentor, blocks in available.items():
            patches.setdefault(mentor, {})["available"] = blocks
        self.available = set(available)

    def _parse_preferences(
        self, file: str, rows: Iterator[tuple[int, list[Any]]], present: dict[str, int]
    ) -> None:
        ranks: dict[tuple[str, int], int] = {}
        chosen: dict[tuple[str, str], int] = {}
        for number, (student, rank, opp) in rows:
            ok = self._ref(file, number, "student_id", student, "students")
            ok = self._ref(file, number, "opportunity_id", opp, "opportunities") and ok
            if not ok or rank is _BAD or rank is None:
                continue
            first = ranks.setdefault((student, rank), number)
            if first != number:
                self.bad(
                    file,
                    number,
                    "rank",
                    f"student {shown(student)} has rank {rank} on row {first} too",
                )
                continue
            first = chosen.setdefault((student, opp), number)
            if first != number:
                self.bad(
                    file,
                    number,
                    "opportunity_id",
                    f"student {shown(student)} chose {shown(opp)} on row {first} too",
                )
                continue
            self.choices.setdefault(student, []).append((rank, opp))

    # --- Writing -------------------------------------------------------------------------------

    def write(self) -> None:
        self._upsert(School, "schools")
        self._upsert(Employer, "employers")
        self._write_students()
        self._upsert(Opportunity, "opportunities")
        self._upsert(Slot, "slots")
        self._upsert(Mentor, "mentors")
        if "availability" in self.reports:
            self.reports["availability"].updated = len(self.available)
        self._write_preferences()
        if self.replace:
            self._replace_lists()
            for kind in ("slots", "opportunities", "mentors", "students", "employers", "schools"):
                if kind in self.reports:
                    self._delete_absent(kind)

    def _upsert(self, model: type[Base], kind: str | None) -> None:
        """Insert the patches of new ids, update those of stored ones (by primary key)."""
        patches = self.patches.get(model)
        if not patches:
            return
        stored = self.db_ids(model)
        refs = {name: self.db_ids(target) for name, target in _REFS.get(model, {}).items()}
        defaults = _INSERT_DEFAULTS[model]
        inserts: list[dict[str, Any]] = []
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        listed = self.defined.get(kind, {}) if kind else {}
        inserted = updated = 0
        for ext, patch in patches.items():
            row = dict(patch)
            for name, ids in refs.items():
                value = row.get(name)
                if value is not None:
                    row[name] = ids[value]
            ident = stored.get(ext)
            if ident is None:
                inserts.append({**defaults, **row, "round_id": self.rid, "external_id": ext})
                inserted += 1
            else:
                row["id"] = ident
                # One executemany per set of columns: rows of one file share theirs.
                updates[tuple(row)].append(row)
                updated += ext in listed
        _insert(self.session, model, inserts)
        for rows in updates.values():
            _update(self.session, model, rows)
        if inserts:
            self._db[model] = _ids(self.session, model, self.rid)
        if kind in self.reports:
            self.reports[kind].inserted = inserted
            self.reports[kind].updated = updated

    def _school_bells(self) -> dict[int, list[Block]]:
        """Each school's bell blocks as its students hold them, overridden by this import's."""
        out: dict[int, list[Block]] = {}
        rows = self.session.execute(
            select(Student.school_id, Student.busy).where(
                Student.round_id == self.rid, Student.school_id.is_not(None)
            )
        )
        for school_id, busy in rows:
            if school_id is not None and school_id not in out and busy and _follows_bells(busy):
                out[school_id] = busy
        schools = self.db_ids(School)
        for ext, blocks in self.bells.items():
            out[schools[ext]] = blocks
        return out

    def _write_students(self) -> None:
        patches = self.patches.get(Student, {})
        stored = self.db_ids(Student)
        # New students without a schedule of their own follow their school's day.
        unscheduled = [
            patch
            for ext, patch in patches.items()
            if ext not in stored and "busy" not in patch and patch.get("school_id") is not None
        ]
        if unscheduled:
            schools = self.db_ids(School)
            bells = self._school_bells() if (self.bells or stored) else {}
            for patch in unscheduled:
                patch["busy"] = bells.get(schools[patch["school_id"]], [])
        self._upsert(Student, "students")
        if "schedules" in self.reports:
            self.reports["schedules"].updated = len(self.scheduled)
        if not self.bells:
            return
        # Students already in the round who follow their school's day get the new bells.
        schools = self.db_ids(School)
        bells = {schools[ext]: blocks for ext, blocks in self.bells.items()}
        changed: list[dict[str, Any]] = []
        followers = 0
        for ident, ext, school_id, busy in self.session.execute(
            select(Student.id, Student.external_id, Student.school_id, Student.busy).where(
                Student.round_id == self.rid, Student.school_id.in_(bells)
            )
        ):
            if school_id is None or ext in self.scheduled or not _follows_bells(busy):
                continue
            followers += 1
            if busy != bells[school_id]:
                changed.append({"id": ident, "busy": bells[school_id]})
        if changed:
            _update(self.session, Student, changed)
        report = self.reports["bells"]
        report.updated = followers
        empty = sorted(set(self.bells) - set(self._schools_with_students(bells)))
        if empty:
            report.warnings.append(
                "no students yet at " + ", ".join(empty) + ": these bells reach students"
                " imported later only if another student of the school follows them;"
                " import bells again after the students"
            )

    def _schools_with_students(self, bells: Mapping[int, Any]) -> list[str]:
        schools = {v: k for k, v in self.db_ids(School).items()}
        ids = self.session.scalars(
            select(Student.school_id)
            .where(Student.round_id == self.rid, Student.school_id.in_(bells))
            .distinct()
        )
        return [schools[i] for i in ids if i is not None]

    def _write_preferences(self) -> None:
        if not self.choices and not (self.replace and "preferences" in self.reports):
            return
        students = self.db_ids(Student)
        opportunities = self.db_ids(Opportunity)
        listed = {students[ext] for ext in self.choices}
        if self.replace:
            self.session.execute(
                delete(Preference).where(Preference.round_id == self.rid),
                execution_options={"synchronize_session": False},
            )
        else:
            having = set(
                self.session.scalars(
                    select(Preference.student_id).where(Preference.round_id == self.rid).distinct()
                )
            )
            for chunk in chunks(sorted(listed & having)):
                self.session.execute(
                    delete(Preference).where(Preference.student_id.in_(chunk)),
                    execution_options={"synchronize_session": False},
                )
        rows = [
            {
                "round_id": self.rid,
                "student_id": students[ext],
                "opportunity_id": opportunities[opp],
                "rank": position,
            }
            for ext, choices in self.choices.items()
            for position, (_rank, opp) in enumerate(sorted(choices), start=1)
        ]
        _insert(self.session, Preference, rows)
        self.reports["preferences"].updated = len(self.choices)

    def _replace_lists(self) -> None:
        """With replace, lists a file did not give are emptied: a student absent from the
        schedules goes back to the school day, a school absent from the bells loses it, a
        community mentor absent from the availability has none."""
        if "schedules" in self.reports:
            bells = self._school_bells()
            changed = []
            for ident, ext, school_id, busy in self.session.execute(
                select(Student.id, Student.external_id, Student.school_id, Student.busy).where(
                    Student.round_id == self.rid
                )
            ):
                if ext not in self.scheduled and not _follows_bells(busy):
                    blocks = bells.get(school_id, []) if school_id is not None else []
                    changed.append({"id": ident, "busy": blocks})
            if changed:
                _update(self.session, Student, changed)
            self.reports["schedules"].deleted = len(changed)
        if "bells" in self.reports:
            schools = self.db_ids(School)
            keep = {schools[ext] for ext in self.bells}
            changed = [
                {"id": ident, "busy": []}
                for ident, school_id, busy in self.session.execute(
                    select(Student.id, Student.school_id, Student.busy).where(
                        Student.round_id == self.rid
                    )
                )
                if busy and school_id not in keep and _follows_bells(busy)
            ]
            if changed:
                _update(self.session, Student, changed)
            self.reports["bells"].deleted = len(changed)
        if "availability" in self.reports:
            changed = [
                {"id": ident, "available": []}
                for ident, ext, available in self.session.execute(
                    select(Mentor.id, Mentor.external_id, Mentor.available).where(
                        Mentor.round_id == self.rid
                    )
                )
                if available and ext not in self.available
            ]
            if changed:
                _update(self.session, Mentor, changed)
            self.reports["availability"].deleted = len(changed)

    def _delete_absent(self, kind: str) -> None:
        """Delete the rows of `kind` its file does not list, unless something needs them."""
        model = _ENTITY[kind]
        report = self.reports[kind]
        listed = self.defined.get(kind, {})
        absent = {ext: ident for ext, ident in self.db_ids(model).items() if ext not in listed}
        if not absent:
            return
        ext_of = {ident: ext for ext, ident in absent.items()}
        blocked = self._needed(model, sorted(ext_of))
        for ident, why in sorted(blocked.items(), key=lambda item: ext_of[item[0]]):
            self.bad(
                report.file,
                None,
                None,
                f"{_WHAT[model]} {shown(ext_of[ident])} is not in the file, but cannot be"
                f" deleted: {why}",
            )
        if blocked:
            return
        if model in (Slot, Mentor, Opportunity, Student):
            self._unhook_pins(model, sorted(ext_of), report.file)
        table = model.__table__
        for chunk in chunks(sorted(ext_of)):
            self.session.execute(
                delete(model).where(table.c.id.in_(chunk)),
                execution_options={"synchronize_session": False},
            )
        report.deleted = len(ext_of)
        self._db.pop(model, None)

    def _unhook_pins(self, model: type[Base], ids: list[int], file: str) -> None:
        """Pins naming a slot, mentor, opportunity or student about to be deleted (H9): a pin
        keeps its student and opportunity without a deleted slot or mentor, and goes with a
        deleted opportunity or student. Either way it is reported as a break (refused unless
        accepted), never dropped silently by the foreign keys' cascade."""
        st, op = aliased(Student), aliased(Opportunity)
        sl, me = aliased(Slot), aliased(Mentor)
        column = {
            Slot: Pin.slot_id,
            Mentor: Pin.mentor_id,
            Opportunity: Pin.opportunity_id,
            Student: Pin.student_id,
        }[model]
        kept = model in (Slot, Mentor)
        for chunk in chunks(ids):
            rows = self.session.execute(
                select(Pin.id, st.external_id, op.external_id, sl.external_id, me.external_id)
                .join(st, st.id == Pin.student_id)
                .join(op, op.id == Pin.opportunity_id)
                .outerjoin(sl, sl.id == Pin.slot_id)
                .outerjoin(me, me.id == Pin.mentor_id)
                .where(column.in_(chunk))
            ).all()
            for ident, student, opp, slot, mentor in rows:
                gone = {Slot: slot, Mentor: mentor, Opportunity: opp, Student: student}[model]
                after = (
                    f"the pin keeps the student at opportunity {shown(opp)} without it"
                    if kept
                    else "the pin is removed with it"
                )
                self.lost[ident] = Break(
                    kind="pin",
                    ident=ident,
                    student=student,
                    opportunity=opp,
                    slot=slot,
                    mentor=mentor,
                    status="pin",
                    rule="H9",
                    reason=f"{_WHAT[model]} {shown(gone)} is not in {file} and is deleted; {after}",
                )
            if kept:
                self.session.execute(
                    update(Pin).where(column.in_(chunk)).values({column.key: None}),
                    execution_options={"synchronize_session": False},
                )

    def _needed(self, model: type[Base], ids: list[int]) -> dict[int, str]:
        """Which of `ids` other rows still point at, and why (the first reason found)."""
        # (referencing column, what to say) pairs; solve runs name their id.
        checks: list[tuple[Any, str]]
        if model is Student:
            checks = [
                (Assignment.student_id, "solve run {run} placed the student"),
                (Mentorship.student_id, "solve run {run} gave the student a mentor"),
                (Unplaced.student_id, "solve run {run} reports the student unplaced"),
            ]
        elif model is Opportunity:
            checks = [(Assignment.opportunity_id, "solve run {run} placed students there")]
        elif model is Slot:
            checks = [(Assignment.slot_id, "solve run {run} placed students in it")]
        elif model is Mentor:
            checks = [
                (Assignment.mentor_id, "solve run {run} assigned the mentor"),
                (Mentorship.mentor_id, "solve run {run} assigned the mentor"),
            ]
        elif model is School:
            checks = [(Student.school_id, "students still attend it ({ext})")]
        else:
            checks = [
                (Opportunity.employer_id, "its opportunities remain ({ext})"),
                (Mentor.employer_id, "its mentors remain ({ext})"),
            ]
        found: dict[int, str] = {}
        for column, why in checks:
            table = column.table
            for chunk in chunks(ids):
                if "run_id" in table.c:
                    stmt = select(column, func.min(table.c.run_id)).where(column.in_(chunk))
                else:
                    stmt = select(column, func.min(table.c.external_id)).where(column.in_(chunk))
                for ident, other in self.session.execute(stmt.group_by(column)):
                    found.setdefault(ident, why.format(run=other, ext=other))
        return found

    # --- The round as a whole --------------------------------------------------------------------

    def check_round(self) -> Problem | None:
        """The round must still be a valid `wbl-problem/1` document: the solver's problem, or
        None with the defects reported."""
        doc = export_round(self.session, self.rnd)
        try:
            return load_problem(doc)
        except ProblemError as exc:
            where = f"round {self.rnd.external_id!r} after the import"
            for issue in exc.issues:
                # _readable puts the ids in place of the positions: the path without its
                # subject (which would say the id twice).
                self.bad(where, None, None, _readable(f"{issue.path}: {issue.message}", doc))
        return None


def _looks_like(kind: str, header: Sequence[str]) -> str | None:
    """The kind a file is, when it lacks a required column of `kind` but has every required
    column of another kind (the one of most columns the header names), else None."""
    names = set(header)

    def fits(spec: TableKind) -> bool:
        return all(c.name in names for c in spec.columns if c.header_required)

    if fits(KINDS[kind]):
        return None
    candidates = [k for k, spec in KINDS.items() if k != kind and fits(spec)]
    if not candidates:
        return None
    return max(candidates, key=lambda k: len(names & set(KINDS[k].headers)))


_PATH_RE: Final = re.compile(
    r"^(schools|students|employers|opportunities|mentors)\[(\d+)\](?:\.slots\[(\d+)\])?"
)
_SINGULAR: Final = {
    "schools": "school",
    "students": "student",
    "employers": "employer",
    "opportunities": "opportunity",
    "mentors": "mentor",
}


def _readable(message: str, doc: Mapping[str, Any]) -> str:
    """`students[12].busy[0].end: ...` as `student "st-000013" busy[0].end: ...`: a
    coordinator knows the ids, not the positions in an exported document."""
    match = _PATH_RE.match(message)
    if match is None:
        return message
    items = doc[match[1]]
    item = items[int(match[2])]
    text = f"{_SINGULAR[match[1]]} {shown(item.get('id'))}"
    if match[3] is not None:
        text += f" slot {shown(item['slots'][int(match[3])].get('id'))}"
    rest = message[match.end() :]
    return text + (" " + rest.lstrip(".") if not rest.startswith(":") else rest)


def _table(model: type[Base]) -> Table:
    # Every model here is mapped to one Table; the declarative typing says only FromClause.
    return cast(Table, model.__table__)


def _insert(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """One executemany INSERT of `rows` (every row has the same keys).

    A Core insert, not the ORM's bulk insert that `scheduler.rounds` uses: the ORM spends
    about ten microseconds a row sorting out which columns each row has, which is seconds
    for the 300,000 preferences of a big round, and these rows need none of it."""
    if rows:
        session.execute(insert(_table(model)), rows)


def _update(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """One executemany UPDATE by primary key; every row has "id" and the same other keys.

    Core rather than the ORM's bulk update by primary key, for the reason `_insert` gives."""
    if not rows:
        return
    table = _table(model)
    # Bound names differ from the column names: Core keeps those for its own SET parameters.
    names = [key for key in rows[0] if key != "id"]
    stmt = (
        update(table)
        .where(table.c.id == bindparam("pk_"))
        .values({name: bindparam(f"v_{name}") for name in names})
    )
    session.execute(
        stmt, [{"pk_": row["id"], **{f"v_{name}": row[name] for name in names}} for row in rows]
    )
