"""Reading a coordinator's file: CSV or XLSX to a header and rows of cells, or a clear refusal.

Files come from spreadsheets and student information systems, so the reader is lenient where
the intent is plain and strict where a guess could corrupt data:
- The format is told by the content, not the name: an XLSX is a zip file whatever it is
  called; an old binary `.xls` and UTF-16 "Unicode text" are refused with what to do instead.
- CSV text must be UTF-8, with or without the byte-order mark Excel writes. Anything else is
  refused with the line of the first offending byte (guessing Windows-1252 would turn an
  ISO-8859-2 or Mac Roman "é" into the wrong letter without a word); the caller may name the
  encoding instead (`encoding="cp1252"`, `--encoding cp1252`).
- The delimiter is a comma, or a semicolon or tab when the header row has no comma (Excel in
  many European locales writes semicolons).
- Header names are matched ignoring case, surrounding spaces, and spaces or hyphens
  standing for underscores ("Birth Date" is `birth_date`).
- Rows are numbered as a spreadsheet shows them (the header is row 1); blank rows are skipped
  but keep their numbers, so a message's row is the row the user sees.

XLSX sheets are read in openpyxl's read-only mode (rows streamed, not loaded as cell objects);
only the first sheet counts.
"""

from __future__ import annotations

import csv
import io
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from scheduler.breaks import Break

__all__ = ["RawTable", "TableFile", "TableIssue", "TablesError", "read_table"]

_ZIP_MAGIC: Final = b"PK\x03\x04"
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0"  # old binary Office files (.xls)
_UTF8_BOM: Final = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class TableIssue:
    """One problem of an import: the file, the row as a spreadsheet numbers it (header = 1)
    and the column, where they apply."""

    file: str
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f", column {self.column}" if self.row is not None else f" column {self.column}"
        return f"{where}: {self.message}"


class TablesError(ValueError):
    """An import refused as a whole; `issues` lists every problem found. Nothing was written.

    `breaks`: when the import was refused because it would break pins or placements
    (`scheduler.breaks.Break`), those breaks; `issues` names each of them too. `hint`: what the
    user can do, printed after the problems."""

    def __init__(
        self,
        issues: Sequence[TableIssue],
        *,
        breaks: Sequence[Break] = (),
        hint: str | None = None,
    ) -> None:
        self.issues = list(issues)
        self.breaks = list(breaks)
        self.hint = hint
        count = len(self.issues)
        head = f"{count} problem{'s' if count != 1 else ''}; nothing was imported"
        lines = [head, *(str(i) for i in self.issues)]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


@dataclass(frozen=True, slots=True)
class TableFile:
    """A file's name and content, for files that are not on disk (a web upload)."""

    name: str
    data: bytes


Source = Path | str | TableFile


@dataclass(slots=True)
class RawTable:
    """A file's header (normalised names, in file order) and its rows: (row number, cells),
    each cell stripped text (CSV) or a typed value (XLSX), None where empty."""

    name: str
    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]
    # Rows with more cells than the header, whose extra cells are not empty.
    ragged: list[int] = field(default_factory=list)


def normalise_header(cell: Any) -> str:
    text = "" if cell is None else str(cell)
    return text.strip().lstrip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")


def read_table(source: Source, *, encoding: str | None = None) -> RawTable:
    """Open a CSV or XLSX file (by content) as a `RawTable`; raise `TablesError` when the file
    cannot be read at all (empty, not text, not UTF-8, an old .xls)."""
    if isinstance(source, TableFile):
        name, data = source.name, source.data
    else:
        path = Path(source)
        name = path.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TablesError([TableIssue(name, f"cannot read the file: {exc.strerror}")]) from exc
    if not data.strip():
        raise TablesError([TableIssue(name, "the file is empty (it needs at least a header row)")])
    if data.startswith(_ZIP_MAGIC):
        return _read_xlsx(name, data)
    if data.startswith(_OLE_MAGIC):
        raise TablesError(
            [TableIssue(name, "an old Excel .xls file; save it as .xlsx or as CSV UTF-8")]
        )
    return _read_csv(name, _decode(name, data, encoding))


def _decode(name: str, data: bytes, encoding: str | None) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TablesError(
            [
                TableIssue(
                    name,
                    'UTF-16 text (Excel\'s "Unicode Text"); save the sheet as'
                    ' "CSV UTF-8 (comma delimited)" instead',
                )
            ]
        )
    if encoding is not None:
        try:
            return data.decode(encoding)
        except LookupError:
            raise TablesError([TableIssue(name, f"unknown encoding {encoding!r}")]) from None
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise TablesError(
                [
                    TableIssue(
                        name, f"not {encoding} text: byte {data[exc.start]:#04x} on line {line}"
                    )
                ]
            ) from None
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TablesError(
            [
                TableIssue(
                    name,
                    f"not UTF-8 text: byte {data[exc.start]:#04x} on line {line} is not valid"
                    ' UTF-8. Save the file as "CSV UTF-8 (comma delimited)", or name its encoding'
                    " (for Excel on Windows usually cp1252: --encoding cp1252)",
                )
            ]
        ) from None


def _delimiter(text: str) -> str:
    """Comma, unless the header row has none and has semicolons or tabs instead."""
    first = text.split("\n", 1)[0]
    if "," in first:
        return ","
    return max((";", "\t"), key=first.count) if (";" in first or "\t" in first) else ","


def _read_csv(name: str, text: str) -> RawTable:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header_cells = next(reader)
    except StopIteration:
        raise TablesError([TableIssue(name, "the file is empty (no header row)")]) from None
    except csv.Error as exc:
        raise TablesError([TableIssue(name, f"not a readable CSV file: {exc}", row=1)]) from None
    header = [normalise_header(c) for c in header_cells]
    table = RawTable(name, header, iter(()))
    table.rows = _csv_rows(reader, len(header), table)
    return table


def _csv_rows(reader: Any, width: int, table: RawTable) -> Iterator[tuple[int, list[Any]]]:
    number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # A stray quote runs to the end of the file; nothing after it can be trusted.
            raise TablesError(
                [TableIssue(table.name, f"not readable as CSV: {exc}", row=number + 1)]
            ) from None
        number += 1
        row: list[Any] = [c.strip() or None for c in cells]
        if not any(row):
            continue
        if len(row) < width:
            row.extend([None] * (width - len(row)))
        elif len(row) > width:
            if any(row[width:]):
                table.ragged.append(number)
            del row[width:]
        yield number, row


def _read_xlsx(name: str, data: bytes) -> RawTable:
    # Imported here: openpyxl takes a quarter of a second to import and CSV needs none of it.
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            # Files written by other programs lack openpyxl's default style; harmless here.
            warnings.filterwarnings("ignore", message=".*default style", category=UserWarning)
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise TablesError([TableIssue(name, f"not a readable XLSX workbook: {exc}")]) from None
    if not book.worksheets:
        raise TablesError([TableIssue(name, "the workbook has no sheet")])
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(min_row=1, values_only=True)
    header_cells: tuple[Any, ...] | None = None
    header_row = 0
    for number, cells in enumerate(rows, start=1):
        if any(_xlsx_cell(c) is not None for c in cells):
            header_cells, header_row = cells, number
            break
    if header_cells is None:
        book.close()
        raise TablesError([TableIssue(name, "the first sheet is empty (no header row)")])
    if header_row != 1:
        book.close()
        raise TablesError(
            [TableIssue(name, "the header must be the sheet's first row", row=header_row)]
        )
    header = [normalise_header(c) for c in header_cells]
    # Sheets often carry formatting far to the right of the data: trailing columns with no
    # header are not columns.
    while header and not header[-1]:
        header.pop()
    table = RawTable(name, header, iter(()))
    table.rows = _xlsx_rows(book, rows, len(header), table)
    return table


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    return value


def _xlsx_rows(
    book: Any, rows: Iterator[tuple[Any, ...]], width: int, table: RawTable
) -> Iterator[tuple[int, list[Any]]]:
    try:
        for number, cells in enumerate(rows, start=2):
            row = [_xlsx_cell(c) for c in cells]
            if not any(c is not None for c in row):
                continue
            if len(row) < width:
                row.extend([None] * (width - len(row)))
            elif len(row) > width:
                if any(c is not None for c in row[width:]):
                    table.ragged.append(number)
                del row[width:]
            yield number, row
    finally:
        book.close()
