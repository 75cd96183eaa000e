"""Coordinators' tables in and out of a round: CSV and XLSX imports, templates, exports.

Imports (`import_tables`) read the files a coordinator has (an SIS export of students, class
schedules, schools and bell schedules, employers, opportunities and their slots, mentors and
their availability, preferences) into an existing round, all or nothing, reporting every
problem with its file, row and column; re-importing a file updates by external id. A round to
import into comes from `create_round` (or `scheduler.rounds.import_round`).

Exports (`export_assignments`) write a run's placements per school or per employer as CSV or
XLSX, streamed, with only what each reader may see and with formulas neutralised. Templates
(`write_template`, `template_bytes`) are the empty tables with their documented headers.

The columns of every kind are in `KINDS` and in docs/imports.md.
"""

from scheduler.tables.exporting import (
    EMPLOYER_COLUMNS,
    SCHOOL_COLUMNS,
    ExportReport,
    NoRunError,
    assignment_rows,
    choose_run,
    document_tables,
    export_assignments,
    neutralise,
    template_bytes,
    write_table,
    write_template,
)
from scheduler.tables.importing import (
    BELLS_SOURCE,
    FileReport,
    ImportReport,
    create_round,
    import_tables,
)
from scheduler.tables.reading import TableFile, TableIssue, TablesError
from scheduler.tables.spec import KIND_ORDER, KINDS, columns_markdown

__all__ = [
    "BELLS_SOURCE",
    "EMPLOYER_COLUMNS",
    "KINDS",
    "KIND_ORDER",
    "SCHOOL_COLUMNS",
    "ExportReport",
    "FileReport",
    "ImportReport",
    "NoRunError",
    "TableFile",
    "TableIssue",
    "TablesError",
    "assignment_rows",
    "choose_run",
    "columns_markdown",
    "create_round",
    "document_tables",
    "export_assignments",
    "import_tables",
    "neutralise",
    "template_bytes",
    "write_table",
    "write_template",
]
