"""The assignments page: pages followed to the end, every filter, sorts, search by name and
id kept out of URLs, CSV/XLSX downloads equal to the filtered listing, who may read it, and
a number of statements that does not grow with the round."""

from __future__ import annotations

import base64
import binascii
import csv
import html
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from models import (
    Assignment,
    Employer,
    Opportunity,
    Program,
    Round,
    School,
    SolveRun,
    Student,
    User,
)
from scheduler.assignment_filters import EXPORT_COLUMNS
from scheduler.generate import generate_round
from tests.scheduler.published_rounds import published_round
from tests.web.conftest import Published, form_token

_ROW = re.compile(
    r'<tr>\s*<th scope="row">(?:<a href="[^"]*">)?([^<]*)(?:</a>)?</th>\s*<td>([^<]*)</td>'
)
_NEXT = re.compile(r'<a href="([^"]+)" rel="next">')
_URLS = re.compile(r'(?:href|action|src)="([^"]*)"')


def _rows(body: str) -> list[tuple[str, str]]:
    return [(html.unescape(n), html.unescape(i)) for n, i in _ROW.findall(body)]


def _listing(client: FlaskClient, url: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Every (name, id) row of the listing at `url`, following "Next page" to the end, and
    every page's body."""
    rows: list[tuple[str, str]] = []
    bodies = []
    next_url: str | None = url
    while next_url is not None:
        page = client.get(next_url)
        assert page.status_code == 200, next_url
        body = page.get_data(as_text=True)
        bodies.append(body)
        rows += _rows(body)
        found = _NEXT.search(body)
        next_url = html.unescape(found.group(1)) if found else None
        assert len(bodies) < 100, "pages never end"
    return rows, bodies


def _ids(rows: list[tuple[str, str]]) -> list[str]:
    return [i for _, i in rows]


@pytest.fixture
def small_pages(app: Flask) -> None:
    app.config["ASSIGNMENTS_PAGE_SIZE"] = 7


@pytest.fixture
def coordinator(
    make_user: Callable[..., User], login: Callable[[User], FlaskClient]
) -> FlaskClient:
    return login(make_user())


def _students(session: Session, round_id: int) -> dict[str, Student]:
    return {
        s.external_id: s
        for s in session.scalars(select(Student).where(Student.round_id == round_id))
    }


def _placements(session: Session, rnd: Round) -> dict[str, tuple[Assignment, Opportunity]]:
    rows = session.execute(
        select(Student.external_id, Assignment, Opportunity)
        .join(Assignment, Assignment.student_id == Student.id)
        .join(Opportunity, Opportunity.id == Assignment.opportunity_id)
        .where(Assignment.run_id == rnd.chosen_run_id)
    ).all()
    return {sid: (a, o) for sid, a, o in rows}


def test_pages_follow_to_the_end_without_repeats(
    published: Published, coordinator: FlaskClient, session: Session, small_pages: None
) -> None:
    """Following "Next page" lists every student of the run exactly once, in name order."""
    rows, bodies = _listing(coordinator, f"/rounds/{published.round_id}/assignments")
    students = _students(session, published.round_id)
    assert len(bodies) == -(-len(students) // 7)
    assert len(_ids(rows)) == len(set(_ids(rows))) == len(students)
    assert set(_ids(rows)) == set(students)
    assert _ids(rows) == [
        s.external_id for s in sorted(students.values(), key=lambda s: (s.name, s.id))
    ]
    assert "First page" in bodies[-1]


def test_every_filter_lists_the_matching_students(
    published: Published, coordinator: FlaskClient, session: Session, small_pages: None
) -> None:
    """School, cluster, employer, group, status and placed/unplaced each list exactly the
    students they name, as read from the database."""
    rnd = session.get_one(Round, published.round_id)
    students = _students(session, rnd.id)
    placed = _placements(session, rnd)
    schools = {s.id: s.external_id for s in session.scalars(select(School))}
    employers = {e.id: e.external_id for e in session.scalars(select(Employer))}
    some = next(iter(placed.values()))
    school = next(s for s in students.values() if s.school_id is not None)
    group = next(g for s in students.values() for g in s.groups)
    cases: list[tuple[str, set[str]]] = [
        (
            f"school={schools[school.school_id]}",  # type: ignore[index]
            {i for i, s in students.items() if s.school_id == school.school_id},
        ),
        (
            f"cluster={some[1].cluster}",
            {
                i
                for i, s in students.items()
                if some[1].cluster in s.clusters
                or (i in placed and placed[i][1].cluster == some[1].cluster)
            },
        ),
        (
            f"employer={employers[some[1].employer_id]}",
            {i for i, (_, o) in placed.items() if o.employer_id == some[1].employer_id},
        ),
        (f"group={group}", {i for i, s in students.items() if group in s.groups}),
        ("status=published", {i for i, (a, _) in placed.items() if a.status == "published"}),
        ("status=unplaced", set(students) - set(placed)),
        ("placed=yes", set(placed)),
        ("placed=no", set(students) - set(placed)),
    ]
    url = f"/rounds/{rnd.id}/assignments"
    for query, expected in cases:
        assert expected, query
        rows, _ = _listing(coordinator, f"{url}?{query}")
        assert sorted(_ids(rows)) == sorted(expected), query
    rows, _ = _listing(coordinator, f"{url}?placed=no&status=confirmed")
    assert rows == []


def test_unknown_sort_and_status_are_ignored(
    published: Published, coordinator: FlaskClient, session: Session
) -> None:
    """A sort or status the page does not know lists every student by name, not an error."""
    rows, _ = _listing(
        coordinator, f"/rounds/{published.round_id}/assignments?sort=grade&status=lost&placed=x"
    )
    assert len(rows) == len(_students(session, published.round_id))


def test_filter_selects_offer_the_rounds_choices(
    published: Published, coordinator: FlaskClient, session: Session
) -> None:
    """The selects offer the round's schools, employers, clusters and groups, the chosen one
    selected."""
    school = session.scalars(select(School).where(School.round_id == published.round_id)).first()
    assert school is not None
    body = coordinator.get(
        f"/rounds/{published.round_id}/assignments?school={school.external_id}"
    ).get_data(as_text=True)
    assert (
        f'<option selected value="{school.external_id}">{html.escape(school.name)}</option>' in body
    )
    for e in session.scalars(select(Employer).where(Employer.round_id == published.round_id)):
        assert f'value="{e.external_id}"' in body
    for label in ("School", "Cluster", "Employer", "Group", "Status", "Placed", "Search"):
        assert f">{label}</label>" in body


def test_sorts_and_aria_sort(
    published: Published, coordinator: FlaskClient, session: Session, small_pages: None
) -> None:
    """Sorting by id, by name descending and by travel orders the whole listing so, and the
    sorted column's header says it with aria-sort."""
    rnd = session.get_one(Round, published.round_id)
    students = _students(session, rnd.id)
    placed = _placements(session, rnd)
    url = f"/rounds/{rnd.id}/assignments"
    rows, bodies = _listing(coordinator, f"{url}?sort=id")
    assert _ids(rows) == sorted(students)
    assert re.search(
        r'aria-sort="ascending"[^>]*>\s*<a class="sort" href="[^"]*sort=id&amp;desc=1', bodies[0]
    )
    rows, bodies = _listing(coordinator, f"{url}?sort=name&desc=1")
    assert _ids(rows) == [
        s.external_id for s in sorted(students.values(), key=lambda s: (s.name, s.id), reverse=True)
    ]
    assert bodies[0].count("aria-sort=") == 1
    assert 'aria-sort="descending"' in bodies[0]
    rows, _ = _listing(coordinator, f"{url}?sort=travel")
    minutes = [placed[i][0].travel_minutes for i in _ids(rows) if i in placed]
    assert minutes == sorted(minutes)
    assert _ids(rows)[: len(placed)] == [i for i in _ids(rows) if i in placed]
    assert len(rows) == len(students)


def _search(client: FlaskClient, round_id: int, text: str, *, clear: bool = False) -> str:
    token = form_token(client, f"/rounds/{round_id}/assignments")
    data = {"csrf_token": token, "search": text}
    data["clear" if clear else "submit"] = "Clear search" if clear else "Search"
    response = client.post(f"/rounds/{round_id}/assignments/search?placed=yes", data=data)
    assert response.status_code == 302
    location: str = response.headers["Location"]
    # The filters posted with the search come back; the text does not.
    assert dict(parse_qsl(urlsplit(location).query)) == {"placed": "yes"}
    return location


def _urls(bodies: list[str]) -> Iterator[str]:
    for body in bodies:
        for url in _URLS.findall(body):
            yield html.unescape(url)


def _readable(url: str) -> str:
    """The URL as anyone reading a log could read it: unquoted, and each query value
    base64-decoded where it decodes."""
    out = [unquote(url)]
    for _, value in parse_qsl(urlsplit(url).query):
        with suppress(binascii.Error, ValueError):
            out.append(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode())
    return " ".join(out)


def test_search_by_name_keeps_the_name_out_of_urls(
    published: Published, coordinator: FlaskClient, session: Session, small_pages: None
) -> None:
    """A name searched is posted, kept in the session and shown in the field; the listing has
    the students whose name holds it; no URL of any page (next pages included) shows it."""
    students = _students(session, published.round_id)
    name = sorted(s.name for s in students.values())[0]
    part = name.split()[-1][:4].lower()
    location = _search(coordinator, published.round_id, part)
    assert "placed=yes" in location
    rows, bodies = _listing(coordinator, location)
    placed = _placements(session, session.get_one(Round, published.round_id))
    expected = {i for i, s in students.items() if part in s.name.lower() and i in placed}
    assert expected
    assert set(_ids(rows)) == expected
    assert f'value="{part}"' in bodies[0]
    assert "Clear search" in bodies[0]
    for url in _urls(bodies):
        assert part not in _readable(url).lower(), url
    # Nor any student's name, by the cursors of a name sort.
    _, bodies = _listing(coordinator, f"/rounds/{published.round_id}/assignments")
    for url in _urls(bodies):
        readable = _readable(url)
        assert not any(s.name in readable for s in students.values()), url


def test_search_by_id_and_clear(
    published: Published, coordinator: FlaskClient, session: Session
) -> None:
    """An id searched lists that student alone; "Clear search" lists everyone again."""
    students = _students(session, published.round_id)
    placed = _placements(session, session.get_one(Round, published.round_id))
    sid = sorted(placed)[0]
    rows, _ = _listing(coordinator, _search(coordinator, published.round_id, sid))
    assert rows == [(students[sid].name, sid)]
    location = _search(coordinator, published.round_id, "xyz", clear=True)
    rows, bodies = _listing(coordinator, location.replace("placed=yes", ""))
    assert len(rows) == len(students)
    assert "Clear search" not in bodies[0]


def test_search_needs_csrf(published: Published, coordinator: FlaskClient) -> None:
    """A search posted without the CSRF token is refused."""
    response = coordinator.post(
        f"/rounds/{published.round_id}/assignments/search", data={"search": "x"}
    )
    assert response.status_code == 400


def test_exports_equal_the_filtered_listing(
    published: Published, coordinator: FlaskClient, session: Session
) -> None:
    """CSV and XLSX downloads hold the rows the page lists for the same filters, sort and
    search, in order, with unplaced students' reasons in words."""
    rid = published.round_id
    students = _students(session, rid)
    letter = "a"
    _search(coordinator, rid, letter)
    url = f"/rounds/{rid}/assignments?sort=school&desc=1"
    rows, _ = _listing(coordinator, url)
    expected = _ids(rows)
    assert expected
    assert all(letter in students[i].name.lower() for i in expected)

    got = coordinator.get(f"/rounds/{rid}/assignments/export.csv?sort=school&desc=1")
    assert got.status_code == 200
    assert got.is_streamed
    assert got.headers["Content-Disposition"].startswith("attachment;")
    raw = got.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["student_id"] for r in table] == expected
    assert [r["student_name"] for r in table] == [students[i].name for i in expected]
    unplaced = [r for r in table if r["status"] == "unplaced"]
    assert unplaced
    assert all(r["not_placed_because"] and "_" not in r["not_placed_because"] for r in unplaced)

    got = coordinator.get(f"/rounds/{rid}/assignments/export.xlsx?sort=school&desc=1")
    assert got.status_code == 200
    sheet = load_workbook(io.BytesIO(got.get_data()), read_only=True).active
    assert sheet is not None
    values: list[tuple[Any, ...]] = list(sheet.iter_rows(values_only=True))
    assert values[0][:2] == ("student_id", "student_name")
    assert [v[0] for v in values[1:]] == expected


def test_a_download_gives_its_connection_back(
    published: Published, coordinator: FlaskClient, engine: Engine
) -> None:
    """A streamed download closes its database session at its end: no connection is left
    checked out (in a transaction) once the body has been read."""
    coordinator.get(f"/rounds/{published.round_id}/assignments")
    before = engine.pool.checkedout()  # type: ignore[attr-defined]
    for fmt in ("csv", "xlsx"):
        got = coordinator.get(f"/rounds/{published.round_id}/assignments/export.{fmt}")
        assert got.get_data()
        assert engine.pool.checkedout() == before  # type: ignore[attr-defined]


def test_viewer_reads_the_page_and_downloads(
    published: Published, make_user: Callable[..., User], login: Callable[[User], FlaskClient]
) -> None:
    """A viewer of the program sees the page, searches and downloads."""
    client = login(make_user("viewer"))
    page = client.get(f"/rounds/{published.round_id}/assignments")
    assert page.status_code == 200
    assert "<h1>Assignments</h1>" in page.get_data(as_text=True)
    _search(client, published.round_id, "a")
    assert client.get(f"/rounds/{published.round_id}/assignments/export.csv").status_code == 200


def test_another_programs_user_gets_404(
    published: Published,
    make_program: Callable[..., Program],
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    session: Session,
) -> None:
    """A coordinator of another program finds neither the page, the search nor the downloads."""
    other = make_program()
    session.commit()
    client = login(make_user(program_slug=other.slug))
    rid = published.round_id
    assert client.get(f"/rounds/{rid}/assignments").status_code == 404
    assert client.get(f"/rounds/{rid}/assignments/export.csv").status_code == 404
    assert client.get(f"/rounds/{rid}/assignments/export.xlsx").status_code == 404
    token = form_token(client, "/rounds")
    response = client.post(
        f"/rounds/{rid}/assignments/search", data={"csrf_token": token, "search": "a"}
    )
    assert response.status_code == 404


def test_logged_out_is_sent_to_log_in(published: Published, client: FlaskClient) -> None:
    """Without a login the page redirects to the login page."""
    response = client.get(f"/rounds/{published.round_id}/assignments")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_a_round_without_runs_says_so(
    session: Session, program: Program, coordinator: FlaskClient
) -> None:
    """A round not solved yet says there is nothing to list, and its download is empty."""
    rnd = published_round(session, program, generate_round(5, seed=2), publish=False)
    rnd.chosen_run_id = None
    for run in rnd.runs:
        session.delete(run)
    session.commit()
    body = coordinator.get(f"/rounds/{rnd.id}/assignments").get_data(as_text=True)
    assert "no run to list yet" in body
    got = coordinator.get(f"/rounds/{rnd.id}/assignments/export.csv")
    assert got.get_data().decode("utf-8-sig").strip() == ",".join(EXPORT_COLUMNS)


@contextmanager
def _counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_statements_per_page_do_not_grow_with_the_round(
    published: Published,
    session: Session,
    program: Program,
    coordinator: FlaskClient,
    engine: Engine,
    app: Flask,
) -> None:
    """A page of a 400-student round takes as many SQL statements as one of a 40-student
    round, for each sort, filter and a next page."""
    app.config["ASSIGNMENTS_PAGE_SIZE"] = 5
    big = published_round(session, program, generate_round(400, seed=5), publish=False)
    session.commit()
    queries = ["", "?sort=school", "?sort=travel&desc=1", "?placed=no", "?sort=id&placed=yes"]
    counts: dict[int, list[int]] = {}
    for rid in (published.round_id, big.id):
        counts[rid] = []
        for query in queries:
            first = coordinator.get(f"/rounds/{rid}/assignments{query}")
            found = _NEXT.search(first.get_data(as_text=True))
            assert found is not None
            for url in (f"/rounds/{rid}/assignments{query}", html.unescape(found.group(1))):
                with _counting(engine) as statements:
                    assert coordinator.get(url).status_code == 200
                counts[rid].append(len(statements))
    assert counts[published.round_id] == counts[big.id]
    assert max(counts[big.id]) <= 10


def test_groups_are_read_from_students_when_the_run_lacks_them(
    published: Published, coordinator: FlaskClient, session: Session
) -> None:
    """A run stored without `by_group` in its metrics still offers every student group."""
    rnd = session.get_one(Round, published.round_id)
    run = session.get_one(SolveRun, rnd.chosen_run_id)
    groups = {g for s in _students(session, rnd.id).values() for g in s.groups}
    assert groups
    run.metrics = {k: v for k, v in (run.metrics or {}).items() if k != "by_group"}
    session.commit()
    body = coordinator.get(f"/rounds/{rnd.id}/assignments").get_data(as_text=True)
    offered = re.search(r'<select id="group"[^>]*>(.*?)</select>', body, re.S)
    assert offered is not None
    values = set(re.findall(r'value="([^"]*)"', offered.group(1))) - {""}
    assert values == groups


def test_many_employers_are_asked_by_id(
    published: Published,
    coordinator: FlaskClient,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    small_pages: None,
) -> None:
    """A round with more employers than a select should hold asks for the employer's id in a
    text field labelled "Employer", and the filter still works."""
    import scheduler.assignment_filters as af

    rnd = session.get_one(Round, published.round_id)
    placed = _placements(session, rnd)
    employers = {e.id: e.external_id for e in session.scalars(select(Employer))}
    monkeypatch.setattr(af, "MAX_EMPLOYER_CHOICES", len(employers) - 1)
    some = next(iter(placed.values()))[1]
    url = f"/rounds/{rnd.id}/assignments?employer={employers[some.employer_id]}"
    rows, bodies = _listing(coordinator, url)
    assert '<select id="employer"' not in bodies[0]
    assert re.search(
        rf'<input[^>]*id="employer"[^>]*name="employer"[^>]*value="{employers[some.employer_id]}"',
        bodies[0],
    )
    assert '<label for="employer">Employer</label>' in bodies[0]
    expected = {i for i, (_, o) in placed.items() if o.employer_id == some.employer_id}
    assert set(_ids(rows)) == expected
