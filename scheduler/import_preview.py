"""Importing a round's files from the web: what an upload would change and break, then apply it.

The coordinator's import pages upload spreadsheets (CSV or XLSX, one file per kind of table:
`scheduler.tables`) or a whole `wbl-problem/1` document, look at a preview, and apply it. This
module is the service behind them; it decides nothing the importers do not already decide:

- `preview_import` checks the upload's files (extension and content must agree: `sort_upload`),
  tells each table's kind by its name or its header, then runs the importer as a dry run
  (`scheduler.tables.import_tables(dry_run=True)`, or `scheduler.round_update.update_round` for a
  document): every problem with its file, row and column, else how many rows of each kind are
  added, updated and removed, and every pin or placement the change would break with its rule
  (`scheduler.breaks`). A clean upload is kept (`UploadStore`) under a random token bound to
  the user and the round, for the apply.
- `apply_import` reads the kept upload back (never the client's copy), checks that the round
  has not changed since the preview, and runs the importer for real: it re-validates everything,
  and an upload that breaks pins or placements is refused unless the breaks are accepted (the
  `--accept-breaks` of `wbl tables import`). The importer writes its audit events.
- `preview_new_round` and `create_round_from_upload` do the same for a new round of a program:
  the round's header from a form (or the document's own), then the tables into it; the preview
  builds the round inside a savepoint and rolls it back.

Nothing here solves. Functions take a `Session` and never commit: the caller owns the
transaction. Access: `require_edit` for a round, an editing membership of the program for a new
round (`scheduler.access`).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import secrets
import shutil
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AuditEvent, Membership, Program, Round, User
from scheduler.access import EDITORS, program_role, require_edit
from scheduler.breaks import Break
from scheduler.errors import ActionRefused, NotAllowed
from scheduler.round_update import RoundUpdateError, update_round
from scheduler.rounds import PROBLEM_FORMAT, RoundExistsError, import_round
from scheduler.tables import (
    KIND_ORDER,
    KINDS,
    FileReport,
    ImportReport,
    TableFile,
    TableIssue,
    TablesError,
    create_round,
    import_tables,
)
from scheduler.tables.reading import read_table
from solver import ProblemError

__all__ = [
    "EXTENSIONS",
    "MAX_AGE",
    "MAX_FILES",
    "ImportApplied",
    "ImportPage",
    "ImportPreview",
    "ImportRefused",
    "KindChange",
    "KindInfo",
    "ProgramChoice",
    "RoundHeader",
    "Staged",
    "Upload",
    "UploadExpired",
    "UploadStore",
    "apply_import",
    "create_round_from_upload",
    "editable_programs",
    "import_page",
    "new_round_programs",
    "preview_import",
    "preview_new_round",
    "sort_upload",
    "table_kinds",
]

# What an upload may be, by extension: spreadsheets, or a problem document.
EXTENSIONS: Final = {".csv": "csv", ".xlsx": "xlsx", ".json": "json"}
# At most this many files in one upload: a round has ten kinds of table.
MAX_FILES: Final = 20
# How long a previewed upload waits for its apply.
MAX_AGE: Final = dt.timedelta(hours=3)
# The audit event of a round created from an upload (the tables' own import is audited too).
CREATE_ACTION: Final = "round.create"

_ZIP_MAGIC: Final = b"PK\x03\x04"
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0"
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")
_TOKEN: Final = re.compile(r"^[0-9a-f]{32}$")
# What a new round's document counts, in the words of the preview.
_DOC_PARTS: Final = ("schools", "employers", "students", "opportunities", "mentors")
# What a file's counts count where it is not its kind (the importer's `FileReport` says so).
_COUNTED: Final = {
    "bells": "students following the bells",
    "schedules": "students",
    "availability": "mentors",
    "preferences": "students",
}


# --- What comes in -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """The files of one upload as the browser sent them, and the import's options.

    `replace`: each table is the whole list of its kind (rows absent from it are removed, the
    `--replace` of `wbl tables import`). `encoding`: of CSV files that are not UTF-8."""

    files: tuple[TableFile, ...]
    replace: bool = False
    encoding: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundHeader:
    """A new round's own fields, for a round built from tables (a document carries its own)."""

    external_id: str
    name: str
    start_date: dt.date
    end_date: dt.date
    timezone: str
    holidays: tuple[dt.date, ...] = ()
    summer: bool = False
    mentor_meeting_minutes: int = 30


# --- What goes out ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class KindChange:
    """What an upload does to one kind of row: `counted` says what the counts count (a
    schedule file's rows are blocks; its counts are students)."""

    kind: str
    file: str
    rows: int
    added: int
    updated: int
    removed: int
    counted: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportPreview:
    """What an upload would do: the problems that stop it (`issues`, each with its file, row and
    column), else the changes per kind and the pins and placements it would break. `token`
    names the kept upload when it can be applied (no issues)."""

    source: Literal["tables", "document"]
    files: tuple[str, ...]
    changes: tuple[KindChange, ...] = ()
    breaks: tuple[Break, ...] = ()
    issues: tuple[TableIssue, ...] = ()
    warnings: tuple[str, ...] = ()
    replace: bool = False
    token: str | None = None

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def new_breaks(self) -> tuple[Break, ...]:
        """The breaks this upload makes (not marked by an earlier import): applying needs them
        accepted."""
        return tuple(b for b in self.breaks if b.new)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportApplied:
    """An upload applied: the round (database id), what changed, what it broke (marked on the
    rows), and how many earlier marks it cleared."""

    round_id: int
    round_name: str
    created: bool
    changes: tuple[KindChange, ...]
    breaks: tuple[Break, ...]
    marks_cleared: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramChoice:
    """A program the user may create rounds in."""

    id: int
    slug: str
    name: str


class ImportRefused(ActionRefused):
    """An apply refused (nothing written): `preview` is the upload's preview as of now, for the
    page to show again. Rule: the first new break's rule (`H2`..`H9`) when breaks were not
    accepted, `version` when the round changed since the preview, `data` for problems of the
    files themselves."""

    def __init__(self, rule: str, message: str, *, preview: ImportPreview) -> None:
        super().__init__(rule, message)
        self.preview = preview


class UploadExpired(ActionRefused):
    """The kept upload is gone (applied, replaced by a newer one, or older than `MAX_AGE`) or
    is not this user's and round's: rule `state`."""

    def __init__(self) -> None:
        super().__init__(
            "state",
            "state: this preview has expired or was replaced by a newer upload; upload the"
            " files again",
        )


# --- Keeping an upload between the preview and the apply ------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Staged:
    """A kept upload: whose it is (`owner`), when it was kept, the round's version at the
    preview (None for a new round) and a new round's header."""

    owner: str
    created: float
    upload: Upload
    version: int | None = None
    program_id: int | None = None
    header: RoundHeader | None = None


class UploadStore:
    """Uploads kept on the server between a preview and its apply, one folder per upload under
    `folder` (the web app's instance folder), named by a random token. The client holds only
    the token; the files it applies are the ones kept here, and only their `owner` (a user and
    a round, or a user and a program) may apply them. Uploads older than `max_age` are deleted
    whenever another is kept."""

    def __init__(
        self,
        folder: Path,
        *,
        max_age: dt.timedelta = MAX_AGE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.max_age = max_age.total_seconds()
        self.clock = clock

    def save(self, staged: Staged) -> str:
        self.sweep()
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = secrets.token_hex(16)
        where = self.folder / token
        where.mkdir(mode=0o700)
        names = []
        for number, file in enumerate(staged.upload.files):
            (where / f"file-{number}").write_bytes(file.data)
            names.append(file.name)
        header = staged.header
        meta = {
            "owner": staged.owner,
            "created": staged.created,
            "version": staged.version,
            "program_id": staged.program_id,
            "names": names,
            "replace": staged.upload.replace,
            "encoding": staged.upload.encoding,
            "header": None
            if header is None
            else {
                "external_id": header.external_id,
                "name": header.name,
                "start_date": header.start_date.isoformat(),
                "end_date": header.end_date.isoformat(),
                "timezone": header.timezone,
                "holidays": [h.isoformat() for h in header.holidays],
                "summer": header.summer,
                "mentor_meeting_minutes": header.mentor_meeting_minutes,
            },
        }
        (where / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        return token

    def load(self, token: str | None, owner: str) -> Staged:
        """The kept upload of `token` if `owner`'s and not expired, else `UploadExpired`."""
        where = self._where(token)
        try:
            meta = json.loads((where / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UploadExpired() from exc
        if meta["owner"] != owner or self.clock() - meta["created"] > self.max_age:
            raise UploadExpired()
        try:
            files = tuple(
                TableFile(name, (where / f"file-{n}").read_bytes())
                for n, name in enumerate(meta["names"])
            )
        except OSError as exc:
            raise UploadExpired() from exc
        raw = meta["header"]
        header = (
            None
            if raw is None
            else RoundHeader(
                external_id=raw["external_id"],
                name=raw["name"],
                start_date=dt.date.fromisoformat(raw["start_date"]),
                end_date=dt.date.fromisoformat(raw["end_date"]),
                timezone=raw["timezone"],
                holidays=tuple(dt.date.fromisoformat(h) for h in raw["holidays"]),
                summer=raw["summer"],
                mentor_meeting_minutes=raw["mentor_meeting_minutes"],
            )
        )
        return Staged(
            owner=meta["owner"],
            created=meta["created"],
            upload=Upload(files=files, replace=meta["replace"], encoding=meta["encoding"]),
            version=meta["version"],
            program_id=meta["program_id"],
            header=header,
        )

    def discard(self, token: str | None) -> None:
        if token is not None and _TOKEN.match(token):
            shutil.rmtree(self.folder / token, ignore_errors=True)

    def sweep(self) -> int:
        """Delete the uploads older than `max_age`; how many."""
        if not self.folder.is_dir():
            return 0
        now, gone = self.clock(), 0
        for where in self.folder.iterdir():
            if not _TOKEN.match(where.name):
                continue
            try:
                created = json.loads((where / "meta.json").read_text(encoding="utf-8"))["created"]
            except (OSError, ValueError, KeyError):
                created = where.stat().st_mtime
            if now - created > self.max_age:
                shutil.rmtree(where, ignore_errors=True)
                gone += 1
        return gone

    def _where(self, token: str | None) -> Path:
        if token is None or not _TOKEN.match(token):
            raise UploadExpired()
        return self.folder / token


def _round_owner(user: User, rnd: Round) -> str:
    return f"user {user.id} round {rnd.id}"


def _program_owner(user: User, program_id: int) -> str:
    return f"user {user.id} program {program_id}"


# --- Telling the files apart -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Sorted:
    """An upload's files by what they are: tables by kind, or one document; and the problems
    that stop it."""

    tables: tuple[tuple[str, TableFile], ...] = ()
    document: Mapping[str, Any] | None = None
    document_name: str | None = None
    issues: tuple[TableIssue, ...] = ()


def sort_upload(upload: Upload) -> Sorted:
    """Check each file's type (its extension, and its content agreeing with it) and tell what it
    is: a `wbl-problem/1` document, or a table whose kind is its name (`students.csv`,
    `Slots fall.xlsx`) or, failing that, the one kind whose required columns its header has."""
    issues: list[TableIssue] = []
    tables: list[tuple[str, TableFile]] = []
    documents: list[tuple[str, Mapping[str, Any]]] = []
    if not upload.files:
        issues.append(TableIssue("upload", "choose at least one file"))
    if len(upload.files) > MAX_FILES:
        count = len(upload.files)
        issues.append(TableIssue("upload", f"{count} files; upload at most {MAX_FILES} at once"))
        return Sorted(issues=tuple(issues))
    for file in upload.files:
        ext = Path(file.name).suffix.lower()
        fmt = EXTENSIONS.get(ext)
        if fmt is None:
            issues.append(
                TableIssue(file.name, "not a CSV, XLSX or JSON file (name ends .csv, .xlsx, .json)")
            )
            continue
        problem = _content_problem(fmt, file.data)
        if problem is not None:
            issues.append(TableIssue(file.name, problem))
            continue
        if fmt == "json":
            doc, issue = _document(file)
            if issue is not None:
                issues.append(issue)
            elif doc is not None:
                documents.append((file.name, doc))
            continue
        kind, issue = _kind(file, upload.encoding)
        if issue is not None:
            issues.append(issue)
        elif kind is not None:
            tables.append((kind, file))
    if documents and (tables or len(documents) > 1):
        issues.append(
            TableIssue(
                documents[0][0],
                "a wbl-problem/1 document is the whole round: upload it alone, without tables"
                " or another document",
            )
        )
    if issues:
        return Sorted(issues=tuple(issues))
    if documents:
        return Sorted(document=documents[0][1], document_name=documents[0][0])
    order = {k: n for n, k in enumerate(KIND_ORDER)}
    return Sorted(tables=tuple(sorted(tables, key=lambda pair: order[pair[0]])))


def _content_problem(fmt: str, data: bytes) -> str | None:
    """Why the content is not what the extension says, or None."""
    if not data.strip():
        return "the file is empty"
    if fmt == "xlsx":
        if not data.startswith(_ZIP_MAGIC):
            if data.startswith(_OLE_MAGIC):
                return "an old Excel .xls workbook renamed .xlsx; save it as .xlsx or CSV UTF-8"
            return "named .xlsx but is not an Excel workbook"
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            return "named .xlsx but is not a readable Excel workbook (a damaged zip file)"
        if "xl/workbook.xml" not in names:
            return "named .xlsx but is a zip file of something else, not an Excel workbook"
        return None
    if data.startswith(_ZIP_MAGIC):
        return f"named .{fmt} but is a zip file (an Excel workbook? name it .xlsx)"
    if data.startswith(_OLE_MAGIC):
        return f"named .{fmt} but is an old Excel .xls workbook; save it as .xlsx or CSV UTF-8"
    if fmt == "csv" and data.startswith(_UTF16_BOMS):
        return None  # the table reader says what to do with UTF-16 text
    if b"\x00" in data[:8192]:
        return f"named .{fmt} but is not text (a binary file)"
    return None


def _document(file: TableFile) -> tuple[Mapping[str, Any] | None, TableIssue | None]:
    try:
        doc = json.loads(file.data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return None, TableIssue(file.name, "not UTF-8 text")
    except ValueError as exc:
        return None, TableIssue(file.name, f"not JSON: {exc}")
    if not isinstance(doc, dict) or doc.get("format") != PROBLEM_FORMAT:
        return None, TableIssue(
            file.name, f"not a {PROBLEM_FORMAT} document (its format is not {PROBLEM_FORMAT!r})"
        )
    return doc, None


def _normal(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def _kind(file: TableFile, encoding: str | None) -> tuple[str | None, TableIssue | None]:
    """The kind of a table: its name's (the longest kind it starts with), else its header's."""
    stem = _normal(Path(file.name).stem)
    named = [k for k in KINDS if stem == k or re.match(rf"{k}(?![a-z])", stem)]
    if named:
        return max(named, key=len), None
    try:
        header = set(read_table(file, encoding=encoding).header)
    except TablesError as exc:
        return None, exc.issues[0]
    fits = [
        k
        for k, spec in KINDS.items()
        if all(c.name in header for c in spec.columns if c.header_required)
    ]
    if fits:
        return max(
            fits, key=lambda k: (len(header & set(KINDS[k].headers)), -len(KINDS[k].headers))
        ), None
    return None, TableIssue(
        file.name,
        "cannot tell which table this is: name the file after its kind ("
        + ", ".join(f"{k}.csv" for k in KIND_ORDER[:3])
        + " ...) or start it with a template's header row",
        row=1,
    )


# --- Previews ---------------------------------------------------------------------------------


def _changes(files: Iterable[FileReport]) -> tuple[KindChange, ...]:
    return tuple(
        KindChange(
            kind=r.kind,
            file=r.file,
            rows=r.rows,
            added=r.inserted,
            updated=r.updated,
            removed=r.deleted,
            counted=_COUNTED.get(r.kind, r.kind),
        )
        for r in files
    )


def _warnings(files: Iterable[FileReport]) -> tuple[str, ...]:
    return tuple(f"{r.file}: {w}" for r in files for w in r.warnings)


def _problem_issues(name: str, exc: ProblemError) -> tuple[TableIssue, ...]:
    return tuple(TableIssue(name, f"{i.path}: {i.message}") for i in exc.issues)


def _run(
    session: Session,
    rnd: Round,
    sorted_: Sorted,
    upload: Upload,
    user: User,
    *,
    accept_breaks: bool,
    dry_run: bool,
) -> ImportReport:
    """The importer on the upload: tables into the round, or the document over it."""
    if sorted_.document is not None:
        return update_round(
            session, rnd, sorted_.document, accept_breaks=accept_breaks, dry_run=dry_run, user=user
        )
    return import_tables(
        session,
        rnd,
        sorted_.tables,
        replace=upload.replace,
        encoding=upload.encoding,
        user=user,
        accept_breaks=accept_breaks,
        dry_run=dry_run,
    )


def _refusal_issues(sorted_: Sorted, exc: Exception) -> tuple[TableIssue, ...]:
    name = sorted_.document_name or "upload"
    if isinstance(exc, TablesError):
        return tuple(exc.issues) + ((TableIssue(name, exc.hint),) if exc.hint else ())
    if isinstance(exc, ProblemError):
        return _problem_issues(name, exc)
    if isinstance(exc, RoundUpdateError):
        return tuple(TableIssue(name, p) for p in exc.problems)
    raise exc


def _preview(session: Session, rnd: Round, upload: Upload, user: User) -> ImportPreview:
    sorted_ = sort_upload(upload)
    source: Literal["tables", "document"] = "document" if sorted_.document else "tables"
    base = ImportPreview(
        source=source, files=tuple(f.name for f in upload.files), replace=upload.replace
    )
    if sorted_.issues:
        return replace(base, issues=sorted_.issues)
    try:
        report = _run(session, rnd, sorted_, upload, user, accept_breaks=False, dry_run=True)
    except (TablesError, ProblemError, RoundUpdateError) as exc:
        return replace(base, issues=_refusal_issues(sorted_, exc))
    return replace(
        base,
        changes=_changes(report.files),
        breaks=tuple(report.breaks),
        warnings=_warnings(report.files),
        replace=upload.replace or source == "document",
    )


def preview_import(
    session: Session, rnd: Round, upload: Upload, *, user: User, store: UploadStore
) -> ImportPreview:
    """What `upload` would change in `rnd` and break, nothing written; a clean upload is kept in
    `store` for `apply_import` (its `token`). `NotAllowed` unless `user` edits the round."""
    require_edit(session, rnd, user)
    version = rnd.version
    preview = _preview(session, rnd, upload, user)
    if not preview.ok:
        return preview
    staged = Staged(
        owner=_round_owner(user, rnd), created=store.clock(), upload=upload, version=version
    )
    return replace(preview, token=store.save(staged))


def apply_import(
    session: Session,
    rnd: Round,
    token: str | None,
    *,
    user: User,
    store: UploadStore,
    accept_breaks: bool = False,
) -> ImportApplied:
    """Apply the upload kept under `token` (the user's, for this round) to `rnd`, re-checking
    everything. Refused with `ImportRefused` (nothing written; its `preview` as of now) when
    the round changed since the preview, the files no longer import, or the upload breaks pins
    or placements and `accept_breaks` is not given; `UploadExpired` for a token that is not
    this user's and round's or is gone. The kept upload is deleted once applied."""
    require_edit(session, rnd, user)
    staged = store.load(token, _round_owner(user, rnd))
    if staged.version != rnd.version:
        preview = _preview(session, rnd, staged.upload, user)
        store.discard(token)
        if preview.ok:
            restaged = replace(staged, created=store.clock(), version=rnd.version)
            preview = replace(preview, token=store.save(restaged))
        raise ImportRefused(
            "version",
            "version: the round changed since this preview; here is what the upload would do now",
            preview=preview,
        )
    sorted_ = sort_upload(staged.upload)
    try:
        report = _run(
            session, rnd, sorted_, staged.upload, user, accept_breaks=accept_breaks, dry_run=False
        )
    except (TablesError, ProblemError, RoundUpdateError) as exc:
        preview = _preview(session, rnd, staged.upload, user)
        if not preview.ok:
            store.discard(token)
            raise ImportRefused(
                "data", "data: the files no longer import; nothing was written", preview=preview
            ) from exc
        new = preview.new_breaks
        rule = new[0].rule if new else "data"
        count = len(new)
        raise ImportRefused(
            rule,
            f"{rule}: the upload breaks {count} pin{'s' if count != 1 else ''} or placement"
            f'{"s" if count != 1 else ""}; nothing was written. Tick "Accept the breaks" to'
            " apply it and mark them",
            preview=replace(preview, token=token),
        ) from exc
    store.discard(token)
    return ImportApplied(
        round_id=rnd.id,
        round_name=rnd.name,
        created=False,
        changes=_changes(report.files),
        breaks=tuple(report.breaks),
        marks_cleared=report.marks_cleared,
    )


# --- A new round ------------------------------------------------------------------------------


def editable_programs(session: Session, user: User) -> tuple[ProgramChoice, ...]:
    """The programs in which `user` may create rounds (a coordinator or admin membership of an
    active account), by name. One query."""
    if not user.active:
        return ()
    rows = session.execute(
        select(Program.id, Program.slug, Program.name)
        .join(Membership, Membership.program_id == Program.id)
        .where(Membership.user_id == user.id, Membership.role.in_(EDITORS))
        .order_by(Program.name, Program.id)
    )
    return tuple(ProgramChoice(id=i, slug=s, name=n) for i, s, n in rows)


def _require_program_edit(session: Session, program_id: int, user: User) -> Program:
    program = session.get(Program, program_id)
    if program is None:
        raise NotAllowed(f"access: user {user.email} is not a member of program {program_id}")
    role = program_role(session, program.id, user)
    if role not in EDITORS:
        raise NotAllowed(
            f"access: user {user.email} is not a coordinator of program {program.slug}"
            " (a viewer only reads)"
        )
    return program


def _build_round(
    session: Session,
    program: Program,
    header: RoundHeader | None,
    upload: Upload,
    user: User,
) -> tuple[Round | None, ImportPreview]:
    """The round built from the upload in the caller's transaction, and what it holds; None
    and the problems when it cannot be built."""
    sorted_ = sort_upload(upload)
    source: Literal["tables", "document"] = "document" if sorted_.document else "tables"
    base = ImportPreview(source=source, files=tuple(f.name for f in upload.files))
    if sorted_.issues:
        return None, replace(base, issues=sorted_.issues)
    if sorted_.document is not None:
        name = sorted_.document_name or "upload"
        doc = sorted_.document
        try:
            rnd = import_round(session, doc, program)
        except ProblemError as exc:
            return None, replace(base, issues=_problem_issues(name, exc))
        except RoundExistsError as exc:
            return None, replace(base, issues=(TableIssue(name, str(exc)),))
        changes = [
            KindChange(
                kind=part,
                file=name,
                rows=len(doc[part]),
                added=len(doc[part]),
                updated=0,
                removed=0,
                counted=part,
            )
            for part in _DOC_PARTS
        ]
        slots = sum(len(o.get("slots") or ()) for o in doc["opportunities"])
        changes.insert(
            4,
            KindChange(
                kind="slots",
                file=name,
                rows=slots,
                added=slots,
                updated=0,
                removed=0,
                counted="slots",
            ),
        )
        return rnd, replace(base, changes=tuple(changes))
    if header is None:
        issue = TableIssue(
            "round", "a round from spreadsheets needs its id, name, dates and time zone"
        )
        return None, replace(base, issues=(issue,))
    where = f"round {header.external_id!r}"
    try:
        rnd = create_round(
            session,
            program,
            header.external_id,
            name=header.name,
            start_date=header.start_date,
            end_date=header.end_date,
            timezone=header.timezone,
            holidays=header.holidays,
            summer=header.summer,
            mentor_meeting_minutes=header.mentor_meeting_minutes,
        )
    except ProblemError as exc:
        return None, replace(base, issues=_problem_issues(where, exc))
    except RoundExistsError as exc:
        return None, replace(base, issues=(TableIssue(where, str(exc)),))
    try:
        report = import_tables(session, rnd, sorted_.tables, encoding=upload.encoding, user=user)
    except TablesError as exc:
        return None, replace(base, issues=_refusal_issues(sorted_, exc))
    return rnd, replace(base, changes=_changes(report.files), warnings=_warnings(report.files))


def preview_new_round(
    session: Session,
    program_id: int,
    header: RoundHeader | None,
    upload: Upload,
    *,
    user: User,
    store: UploadStore,
) -> ImportPreview:
    """What a new round of the program built from `upload` would hold (tables into a round with
    `header`, or a whole document), nothing kept: the round is built inside a savepoint and
    rolled back. A clean upload is kept in `store` for `create_round_from_upload`.
    `NotAllowed` unless `user` is a coordinator or admin of the program."""
    program = _require_program_edit(session, program_id, user)
    session.flush()
    savepoint = session.begin_nested()
    try:
        _rnd, preview = _build_round(session, program, header, upload, user)
    finally:
        savepoint.rollback()
        session.expire_all()
    if not preview.ok:
        return preview
    staged = Staged(
        owner=_program_owner(user, program_id),
        created=store.clock(),
        upload=upload,
        program_id=program_id,
        header=header,
    )
    return replace(preview, token=store.save(staged))


def create_round_from_upload(
    session: Session, program_id: int, token: str | None, *, user: User, store: UploadStore
) -> ImportApplied:
    """Create the round previewed under `token` (the user's, for this program), re-checking
    everything: `ImportRefused` (rule `data`, with the preview as of now) when it no longer
    builds, `UploadExpired` when the token is not the user's or is gone. Writes an audit event
    `round.create` (the tables' import writes its own)."""
    program = _require_program_edit(session, program_id, user)
    staged = store.load(token, _program_owner(user, program_id))
    session.flush()
    savepoint = session.begin_nested()
    try:
        rnd, preview = _build_round(session, program, staged.header, staged.upload, user)
    except BaseException:
        savepoint.rollback()
        raise
    if rnd is None:
        savepoint.rollback()
        session.expire_all()
        store.discard(token)
        raise ImportRefused(
            "data", "data: the round can no longer be built; nothing was written", preview=preview
        )
    session.add(
        AuditEvent(
            program_id=program.id,
            round_id=rnd.id,
            user_id=user.id,
            action=CREATE_ACTION,
            target_type="round",
            target_id=rnd.external_id,
            detail={
                "source": preview.source,
                "files": list(preview.files),
                "added": {c.kind: c.added for c in preview.changes},
                "user": user.email,
            },
        )
    )
    savepoint.commit()
    store.discard(token)
    return ImportApplied(
        round_id=rnd.id,
        round_name=rnd.name,
        created=True,
        changes=preview.changes,
        breaks=(),
    )


# --- What the pages show besides a preview ----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class KindInfo:
    """A kind of table as the import page lists it: what a row is, its required columns."""

    kind: str
    summary: str
    required: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportPage:
    """The import page of a round: whether the user may import, and the kinds of table."""

    may_edit: bool
    kinds: tuple[KindInfo, ...]


def table_kinds() -> tuple[KindInfo, ...]:
    """Every kind of table, in import order."""
    return tuple(
        KindInfo(
            kind=k,
            # The first sentence: what a row is (docs/imports.md has the rest).
            summary=KINDS[k].summary.split(". ")[0].rstrip(".").replace("`", "") + ".",
            required=tuple(c.name for c in KINDS[k].columns if c.header_required),
        )
        for k in KIND_ORDER
    )


def import_page(session: Session, rnd: Round, *, user: User) -> ImportPage:
    """The import page: any member of the round's program reads it (`NotAllowed` otherwise);
    coordinators and admins may import. One query."""
    role = program_role(session, rnd.program_id, user)
    return ImportPage(may_edit=role in EDITORS, kinds=table_kinds())


def new_round_programs(session: Session, *, user: User) -> tuple[ProgramChoice, ...]:
    """The programs `user` may create a round in; `NotAllowed` when there is none (a viewer)."""
    programs = editable_programs(session, user)
    if not programs:
        raise NotAllowed(f"access: user {user.email} is not a coordinator of any program")
    return programs
