"""The assignments page: the listed run's students, filtered, sorted, page by page, and the
same listing as CSV or XLSX.

Nothing a person typed, and no student's name, goes into a URL (query strings end up in
logs). The filters are ids and go in the query string; the search text is posted (with
CSRF) and kept in the signed session cookie, per round, until "Clear search". A keyset
cursor holds the last row's sort key (a name, when sorted by name), so it is kept in the
session too, and the "Next page" link carries a random token that names it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from flask import (
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from wtforms import SelectField, StringField, SubmitField
from wtforms.fields import SelectChoice
from wtforms.validators import Length

from scheduler import explain
from scheduler.assignment_filters import (
    EXPORT_COLUMNS,
    STATUSES,
    Choice,
    assignments_view,
    csv_chunks,
    export_rows,
    xlsx_chunks,
)
from scheduler.errors import ActionRefused
from scheduler.queries import SORTS, AssignmentFilter
from web.coordinator import bp
from web.coordinator.common import actor, round_of
from web.db import get_session

# Session keys: the search text per round, and the remembered cursors (token -> cursor).
SEARCH_KEY: Final = "assignments_search"
PAGES_KEY: Final = "assignments_pages"
# Cursors remembered: enough for the back button over a few pages, small enough for a cookie.
KEPT_PAGES: Final = 12
# Rows per page; the app's config `ASSIGNMENTS_PAGE_SIZE` may set another (tests: a few).
PAGE_SIZE: Final = 50
# The query-string parameters that are filters (ids and fixed words, never typed text).
FILTERS: Final = ("school", "cluster", "employer", "group", "status", "placed")
PLACED: Final = (
    SelectChoice("", "Placed and unplaced"),
    SelectChoice("yes", "Placed only"),
    SelectChoice("no", "Unplaced only"),
)
# The columns a header sorts by, in the table's order: (sort, header).
SORT_COLUMNS: Final = (
    ("name", "Student"),
    ("id", "Id"),
    ("school", "School"),
    ("status", "Status"),
    ("opportunity", "Opportunity"),
    ("employer", "Employer"),
    ("rank", "Rank"),
    ("travel", "Travel"),
)


class FilterForm(FlaskForm):
    """The filters, read from the query string (a GET form: no CSRF, nothing changes)."""

    class Meta:
        csrf = False

    school = SelectField("School", validate_choice=False)
    cluster = SelectField("Cluster", validate_choice=False)
    employer = SelectField("Employer", validate_choice=False)
    # The same filter as a text field, for a round with too many employers to list.
    employer_id = StringField("Employer", id="employer", validators=[Length(max=100)])
    group = SelectField("Group", validate_choice=False)
    status = SelectField("Status", validate_choice=False)
    placed = SelectField("Placed", choices=list(PLACED), validate_choice=False)


class SearchForm(FlaskForm):
    """The search, posted: its text is kept in the session, never in a URL."""

    search = StringField("Search", validators=[Length(max=100)])
    submit = SubmitField("Search")
    clear = SubmitField("Clear search")


def _filter_args(args: Mapping[str, str]) -> dict[str, Any]:
    """The filters and sort of a query string, without empty values or anything else."""
    keep = {k: args[k] for k in (*FILTERS, "sort", "desc") if args.get(k)}
    if keep.get("sort") not in SORTS:
        keep.pop("sort", None)
    if keep.get("desc") != "1":
        keep.pop("desc", None)
    if keep.get("status") not in STATUSES:
        keep.pop("status", None)
    if keep.get("placed") not in ("yes", "no"):
        keep.pop("placed", None)
    return keep


def _filters(args: Mapping[str, str], search: str | None) -> AssignmentFilter:
    placed = args.get("placed")
    status = args.get("status") or None
    return AssignmentFilter(
        school=args.get("school") or None,
        cluster=args.get("cluster") or None,
        employer=args.get("employer") or None,
        group=args.get("group") or None,
        status=status,
        placed=True if placed == "yes" else (False if placed == "no" else None),
        search=search or None,
    )


def _search_of(round_id: int) -> str:
    text: str = session.get(SEARCH_KEY, {}).get(str(round_id), "")
    return text


def _cursor_of(round_id: int, token: str | None) -> str | None:
    if not token:
        return None
    kept = session.get(PAGES_KEY, {}).get(token)
    if not isinstance(kept, list) or len(kept) != 2 or kept[0] != round_id:
        return None
    cursor: str = kept[1]
    return cursor


def _remember(round_id: int, cursor: str) -> str:
    """A token for `cursor`, kept in the session with the latest few."""
    pages: dict[str, Any] = dict(session.get(PAGES_KEY, {}))
    for token, kept in pages.items():
        if kept == [round_id, cursor]:
            return token
    token = secrets.token_urlsafe(6)
    pages[token] = [round_id, cursor]
    session[PAGES_KEY] = dict(list(pages.items())[-KEPT_PAGES:])
    return token


@dataclass(frozen=True, slots=True)
class Header:
    """A sortable column's header: its link sorts by it (or reverses the order it is in)."""

    key: str
    label: str
    url: str
    aria_sort: str | None


def _headers(round_id: int, args: Mapping[str, str], sort: str, descending: bool) -> list[Header]:
    out = []
    for key, label in SORT_COLUMNS:
        current = key == sort
        link: dict[str, Any] = {k: v for k, v in args.items() if k != "desc"}
        link["sort"] = key
        if current and not descending:
            link["desc"] = "1"
        out.append(
            Header(
                key=key,
                label=label,
                url=url_for("coordinator.assignments", round_id=round_id, **link),
                aria_sort=("descending" if descending else "ascending") if current else None,
            )
        )
    return out


def _choices(first: str, options: tuple[Choice, ...]) -> list[SelectChoice]:
    return [SelectChoice("", first), *(SelectChoice(c.value, c.label) for c in options)]


@bp.get("/rounds/<int:round_id>/assignments")
def assignments(round_id: int) -> ResponseReturnValue:
    """The listed run's students: filters, search, sort by column, next page."""
    rnd = round_of(round_id)
    args = _filter_args(request.args)
    sort = args.get("sort", "name")
    descending = args.get("desc") == "1"
    search = _search_of(round_id)
    token = request.args.get("page")
    cursor = _cursor_of(round_id, token)
    lost = bool(token) and cursor is None
    limit = int(current_app.config.get("ASSIGNMENTS_PAGE_SIZE", PAGE_SIZE))
    try:
        view = assignments_view(
            get_session(),
            rnd,
            actor(),
            filters=_filters(args, search),
            sort=sort,
            descending=descending,
            cursor=cursor,
            limit=limit,
        )
    except ActionRefused as refused:
        if refused.rule != "cursor":
            raise
        # A token replayed with another sort: the first page of this one.
        lost = True
        view = assignments_view(
            get_session(),
            rnd,
            actor(),
            filters=_filters(args, search),
            sort=sort,
            descending=descending,
            limit=limit,
        )
    form = FilterForm(MultiDict({**args, "employer_id": args.get("employer", "")}))
    form.employer_id.name = "employer"
    form.school.choices = _choices("All schools", view.choices.schools)
    form.cluster.choices = _choices("All clusters", view.choices.clusters)
    form.employer.choices = _choices("All employers", view.choices.employers)
    form.group.choices = _choices("All groups", view.choices.groups)
    form.status.choices = _choices("Any status", view.choices.statuses)
    search_form = SearchForm(MultiDict({"search": search}))
    next_url = None
    if view.page.next_cursor is not None:
        next_url = url_for(
            "coordinator.assignments",
            round_id=round_id,
            **args,
            page=_remember(round_id, view.page.next_cursor),
        )
    return render_template(
        "coordinator/assignments.html",
        rnd=rnd,
        view=view,
        form=form,
        search_form=search_form,
        search=search,
        args=args,
        sort=sort,
        descending=descending,
        headers=_headers(round_id, args, sort, descending),
        reason_label=explain.label,
        next_url=next_url,
        first_url=url_for("coordinator.assignments", round_id=round_id, **args)
        if cursor is not None
        else None,
        lost=lost,
        student_links="coordinator.student" in current_app.view_functions,
    )


@bp.post("/rounds/<int:round_id>/assignments/search")
def assignments_search(round_id: int) -> ResponseReturnValue:
    """Keep (or clear) the round's search text in the session, then show the first page."""
    round_of(round_id)
    form = SearchForm()
    searches: dict[str, str] = dict(session.get(SEARCH_KEY, {}))
    if form.validate_on_submit():
        text = (form.search.data or "").strip()
        if form.clear.data or not text:
            searches.pop(str(round_id), None)
        else:
            searches[str(round_id)] = text
        session[SEARCH_KEY] = searches
        session.pop(PAGES_KEY, None)
    args = _filter_args(request.args)
    return redirect(url_for("coordinator.assignments", round_id=round_id, **args))


def _closing(body: Iterator[bytes], db: Session) -> Iterator[bytes]:
    """The body, then the database session closed. The request's teardown closes the session
    when the view returns, before a streamed body is read; the body's rows then read through
    the same session again, which nothing else would close (a connection left in a
    transaction), so it is closed here when the body ends or the client goes away."""
    try:
        yield from body
    finally:
        db.close()


@bp.get("/rounds/<int:round_id>/assignments/export.<any(csv, xlsx):fmt>")
def assignments_export(round_id: int, fmt: str) -> ResponseReturnValue:
    """The filtered, sorted listing (the search included) as a CSV or XLSX download, streamed."""
    rnd = round_of(round_id)
    args = _filter_args(request.args)
    run_id, rows = export_rows(
        get_session(),
        rnd,
        actor(),
        filters=_filters(args, _search_of(round_id)),
        sort=args.get("sort", "name"),
        descending=args.get("desc") == "1",
    )
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{rnd.external_id}-run{run_id or 0}-assignments")
    if fmt == "csv":
        body = csv_chunks(EXPORT_COLUMNS, rows)
        mimetype = "text/csv"
    else:
        body = xlsx_chunks(EXPORT_COLUMNS, rows)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = Response(_closing(body, get_session()), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    return response
