"""Updating a stored round from a whole `wbl-problem/1` document (`wbl import-round --update`).

`scheduler.rounds.import_round` creates rounds; a round that already has pins, solve runs and
published placements must keep them, with their database ids, when the district sends the
data again. `update_round` applies the document through the spreadsheet importer's write path
(`scheduler.tables.import_tables` with `replace=True`: every table of the document is the whole
list of its kind, rows matched by id, rows absent deleted unless a run needs them), so it gets
the same checks, the same all-or-nothing savepoint and the same re-check of pins and placements
(`scheduler.breaks`): an update that breaks a pin or a placement is refused naming each, or
applied with `accept_breaks` and marked.

What tables do not carry is not applied: `accepts` lists, travel overrides, travel groups, pins,
forbidden pairs (coordinator actions and measured data have their own commands), and slots
without blocks. The round header (name, dates, time zone, holidays, summer, meeting minutes) is.
After writing, the round is exported and compared with the document in `rounds.canonical` form:
any difference (the document changes something an update does not apply) refuses the update,
naming the parts, so an update never half-applies a document silently.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy.orm import Session

from models import Round, User
from scheduler.access import require_edit
from scheduler.rounds import canonical, export_round
from scheduler.tables import (
    ImportReport,
    TableFile,
    TablesError,
    document_tables,
    import_tables,
    write_table,
)
from solver import load_problem

__all__ = ["NOT_APPLIED", "RoundUpdateError", "update_round"]

# What an update does not apply, in the words of its refusal.
NOT_APPLIED: Final = (
    "an update applies what tables carry and the round header; accepts lists, travel"
    " overrides, travel groups, pins, forbidden pairs and slots without blocks are changed by"
    " their own commands"
)
_SINGULAR: Final = {
    "schools": "school",
    "students": "student",
    "employers": "employer",
    "opportunities": "opportunity",
    "mentors": "mentor",
    "travel_groups": "travel group",
}


class RoundUpdateError(ValueError):
    """A document that cannot update the round; `problems` lists why. Nothing was written."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def update_round(
    session: Session,
    rnd: Round,
    doc: Mapping[str, Any],
    *,
    accept_breaks: bool = False,
    dry_run: bool = False,
    user: User | None = None,
) -> ImportReport:
    """Apply `doc` (a `wbl-problem/1` document with `rnd`'s id) to the stored round `rnd`,
    keeping the database ids of every row it keeps, its pins and its solve runs.

    Raises `solver.ProblemError` for an invalid document, `TablesError` when the importer
    refuses (a row a run needs, a pin or placement it would break without `accept_breaks`:
    `breaks` on it), `RoundUpdateError` for another round's document or one that changes what
    an update does not apply; nothing is written then. `dry_run`: everything is checked and
    rolled back; the report lists what the update would break. Never commits."""
    require_edit(session, rnd, user)
    load_problem(doc)
    header = doc["round"]
    if header["id"] != rnd.external_id:
        raise RoundUpdateError([f"the document is round {header['id']!r}, not {rnd.external_id!r}"])
    files = [
        (kind, TableFile(f"{rnd.external_id}.json {kind}", _csv(head, rows)))
        for kind, (head, rows) in document_tables(doc).items()
        # With replace an empty table is refused (it would empty the round); an empty part of
        # the document that the round has is caught by the comparison below instead.
        if rows
    ]
    session.flush()
    outer = session.begin_nested()
    try:
        _set_header(rnd, header)
        report = import_tables(
            session,
            rnd,
            files,
            replace=True,
            user=user,
            accept_breaks=accept_breaks or dry_run,
        )
        problems = _differences(canonical(export_round(session, rnd)), canonical(doc))
    except (TablesError, RoundUpdateError):
        outer.rollback()
        session.expire_all()
        raise
    except BaseException:
        outer.rollback()
        raise
    if problems:
        outer.rollback()
        session.expire_all()
        raise RoundUpdateError([*problems, NOT_APPLIED])
    if dry_run:
        outer.rollback()
        session.expire_all()
        report.dry_run = True
        report.marks_cleared = 0
    else:
        outer.commit()
    return report


def _csv(header: Sequence[str], rows: list[list[Any]]) -> bytes:
    buffer = io.BytesIO()
    write_table(buffer, header, rows, fmt="csv")
    return buffer.getvalue()


def _set_header(rnd: Round, header: Mapping[str, Any]) -> None:
    """The round's own fields as the document gives them (validated already)."""
    rnd.name = header["name"]
    rnd.start_date = dt.date.fromisoformat(header["start_date"])
    rnd.end_date = dt.date.fromisoformat(header["end_date"])
    rnd.timezone = header["timezone"]
    rnd.holidays = sorted(header.get("holidays") or ())
    rnd.summer = bool(header.get("summer", False))
    rnd.mentor_meeting_minutes = int(header.get("mentor_meeting_minutes", 30))


def _differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Where the round as written differs from the document, by part and id (five at most per
    part)."""
    out: list[str] = []
    for key, want in wanted.items():
        have = stored.get(key)
        if have == want:
            continue
        if key in _SINGULAR:
            mine = {item["id"]: item for item in have or ()}
            theirs = {item["id"]: item for item in want}
            ids = sorted(i for i in mine.keys() | theirs.keys() if mine.get(i) != theirs.get(i))
            shown = ", ".join(f'"{i}"' for i in ids[:5]) + (" ..." if len(ids) > 5 else "")
            out.append(f"{_SINGULAR[key]} {shown} would not match the document")
        else:
            out.append(f"the round's {key.replace('_', ' ')} would not match the document")
    return out
