"""The publish page: what publishing will send, and every person's private links after it.

- `publish_preview`: the chosen run and how many students, employers and mentors the round
  has, how many of the run's placements publishing sends (proposed and pinned ones), how many
  are published, confirmed or declined already, and the published or confirmed placements of
  the run last published that the chosen run moves or drops (`actions.protect`: publishing
  refuses them unless the changes are accepted, naming every student). Staff only; a
  constant number of statements.
- `link_page`: a page of one kind's links (students, employers or mentors), by id, keyset
  paginated (`scheduler.links.link_rows` with `after`/`limit`). A coordinator of the round
  only: the links are credentials to hand out, not data to read.
- `link_csv`: every link as CSV text, streamed in chunks (never the whole round in memory),
  cells neutralised against spreadsheet formulas. A coordinator of the round only.

Publishing itself is `actions.publish` (it makes the links, `links.ensure_links`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Assignment, AssignmentStatus, Employer, Mentor, PrivateLink, Round, Student
from scheduler.access import Actor, require_edit, require_staff
from scheduler.actions.protect import PlacementChange, last_published_run, protected_changes
from scheduler.links import KINDS, LinkRow, link_rows
from scheduler.run_progress import may_edit
from scheduler.tables.exporting import neutralise

__all__ = [
    "LINK_COLUMNS",
    "LINK_PAGE",
    "SHOWN_CHANGES",
    "LinkPage",
    "PublishPreview",
    "link_csv",
    "link_page",
    "publish_preview",
]

# The CSV's columns (those of `wbl round links`).
LINK_COLUMNS: Final = ("kind", "id", "name", "email", "feed_url", "page_url")
# Links per page of the publish page.
LINK_PAGE: Final = 100
# Changed placements named on the page (all of them are named in a refusal and the audit).
SHOWN_CHANGES: Final = 200
# Rows written per chunk of the streamed CSV.
_CHUNK: Final = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishPreview:
    """What "Publish" will do now. `run_id` None: no chosen run (nothing to publish)."""

    round_status: str
    version: int
    run_id: int | None
    last_published_run: int | None
    students: int
    employers: int
    mentors: int
    links: int
    to_publish: int
    published: int
    confirmed: int
    declined: int
    changes: tuple[PlacementChange, ...]  # the first SHOWN_CHANGES
    changed: int  # all of them
    can_edit: bool


def _count(model: type[Student] | type[Employer] | type[Mentor], rnd: Round) -> Any:
    return select(func.count()).select_from(model).where(model.round_id == rnd.id).scalar_subquery()


def publish_preview(session: Session, rnd: Round, actor: Actor) -> PublishPreview:
    """What publishing the chosen run sends, and what it changes of what was sent. Staff
    only; five statements, whatever the round's size."""
    require_staff(session, rnd, actor)
    students, employers, mentors, links = session.execute(
        select(
            _count(Student, rnd),
            _count(Employer, rnd),
            _count(Mentor, rnd),
            select(func.count())
            .select_from(PrivateLink)
            .where(PrivateLink.round_id == rnd.id)
            .scalar_subquery(),
        )
    ).one()
    run_id = rnd.chosen_run_id
    counts = dict.fromkeys((str(s) for s in AssignmentStatus), 0)
    changes: list[PlacementChange] = []
    last = last_published_run(session, rnd)
    if run_id is not None:
        for status, n in session.execute(
            select(Assignment.status, func.count())
            .where(Assignment.run_id == run_id)
            .group_by(Assignment.status)
        ):
            counts[str(status)] = int(n)
        if last is not None and last != run_id:
            changes = protected_changes(session, last, run_id)
    return PublishPreview(
        round_status=str(rnd.status),
        version=rnd.version,
        run_id=run_id,
        last_published_run=last,
        students=int(students),
        employers=int(employers),
        mentors=int(mentors),
        links=int(links),
        to_publish=counts["proposed"] + counts["pinned"],
        published=counts["published"],
        confirmed=counts["confirmed"],
        declined=counts["declined"],
        changes=tuple(changes[:SHOWN_CHANGES]),
        changed=len(changes),
        can_edit=may_edit(session, rnd, actor),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkPage:
    """A page of one kind's links; `next_after` the id to continue after (None: the last)."""

    kind: str
    rows: tuple[LinkRow, ...]
    next_after: str | None

    @property
    def has_pages(self) -> bool:
        return any(r.page_url for r in self.rows)


def link_page(
    session: Session,
    rnd: Round,
    actor: Actor,
    *,
    base_url: str,
    kind: str = "student",
    after: str | None = None,
    limit: int | None = None,
) -> LinkPage:
    """A page of the round's `kind` links (ids after `after`). A coordinator of the round
    only (`limit` default `LINK_PAGE`). One statement."""
    require_edit(session, rnd, actor)
    limit = LINK_PAGE if limit is None else limit
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    rows = tuple(
        link_rows(session, rnd, base_url=base_url, kinds=(kind,), after=after, limit=limit + 1)
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return LinkPage(kind=kind, rows=rows, next_after=rows[-1].id if more and rows else None)


def link_csv(session: Session, rnd: Round, actor: Actor, *, base_url: str) -> Iterator[str]:
    """Every link of the round as CSV text in chunks (header first). Access is checked now,
    before the first chunk is asked for: a coordinator of the round only."""
    require_edit(session, rnd, actor)
    return _csv_chunks(link_rows(session, rnd, base_url=base_url))


def _csv_chunks(rows: Iterator[LinkRow]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(LINK_COLUMNS)
    for n, row in enumerate(rows, start=1):
        writer.writerow(
            [neutralise(v) for v in (row.kind, row.id, row.name, row.email, row.feed_url)]
            + [neutralise(row.page_url)]
        )
        if n % _CHUNK == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
