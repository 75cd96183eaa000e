"""The equity page and its SVG charts: tables with the service's numbers, charts that are
self-contained SVG (no script, nothing fetched from elsewhere) under a policy of their own,
who may read them, and statements that do not grow with the round."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from models import Program, Round, User
from scheduler import equity as eq
from scheduler.generate import generate_round
from scheduler.rounds import import_round
from tests.scheduler.published_rounds import published_round
from tests.web.conftest import Published
from web import charts
from web.coordinator.equity import SVG_CSP

SVG = "{http://www.w3.org/2000/svg}"
CAIRNS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cairns_gtfs.zip"
NAMES = [c.name for c in charts.CHARTS]


def _page(client: FlaskClient, round_id: int) -> str:
    response = client.get(f"/rounds/{round_id}/equity")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_page_lists_every_table_with_the_services_numbers(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    published: Published,
    session: Session,
) -> None:
    """The page has one h1, a chart image with alt text and a table per figure, and the
    tables hold the service's numbers."""
    login(make_user())
    html = _page(client, published.round_id)
    assert html.count("<h1") == 1
    for heading in (
        "By student group",
        "By school",
        "By career cluster",
        "By opportunity kind",
        "Preference rank",
        "Travel time",
        "Map",
    ):
        assert f">{heading}</h2>" in html
    assert html.count("<table") == 7
    for name in NAMES:
        src = f"/rounds/{published.round_id}/equity/{name}.svg"
        found = re.search(rf'<img src="{re.escape(src)}" alt="([^"]+)"', html)
        assert found, name
        assert len(found.group(1)) > 20
    figures = eq.round_equity(session, session.get_one(Round, published.round_id), None)
    for rate in figures.by_group + figures.by_school:
        cells = (
            f'<th scope="row">{rate.label}</th><td class="num">{rate.students}</td>\n'
            f'    <td class="num">{rate.placed}</td>'
        )
        assert cells in html, rate
    assert f"<dd>{figures.placed}</dd>" in html
    assert 'aria-current="page"' in html


@pytest.mark.parametrize("name", NAMES)
def test_charts_are_self_contained_svg_under_their_own_policy(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    published: Published,
    name: str,
) -> None:
    """Each chart is valid SVG with a title and description, no script, no external URL,
    served with a policy that allows its inline styles only."""
    login(make_user())
    response = client.get(f"/rounds/{published.round_id}/equity/{name}.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Content-Security-Policy"] == SVG_CSP
    assert "script-src 'none'" in SVG_CSP
    assert "style-src 'unsafe-inline'" in SVG_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    text = response.get_data(as_text=True)
    root = ET.fromstring(text)  # noqa: S314 (our own response, in a test)
    assert root.tag == f"{SVG}svg"
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    assert "<script" not in text.lower()
    assert "javascript:" not in text.lower()
    # The only URL is the SVG namespace.
    assert set(re.findall(r"(?:https?:)?//[^\s\"'<>)]+", text)) == {"http://www.w3.org/2000/svg"}
    assert "@import" not in text
    assert "url(" not in text
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None
    assert title.text == next(c.title for c in charts.CHARTS if c.name == name)
    assert desc is not None
    assert desc.text
    again = client.get(
        f"/rounds/{published.round_id}/equity/{name}.svg",
        headers={"If-None-Match": response.headers["ETag"]},
    )
    assert again.status_code == 304


def test_unknown_chart_is_not_found(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    published: Published,
) -> None:
    """A chart name that is no chart answers 404."""
    login(make_user())
    assert client.get(f"/rounds/{published.round_id}/equity/nope.svg").status_code == 404


def test_viewer_reads_outsider_does_not(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    make_program: Callable[..., Program],
    published: Published,
) -> None:
    """A viewer of the program reads the page and charts; a member of another program gets
    404 for both; without a login, the login page."""
    rid = published.round_id
    assert client.get(f"/rounds/{rid}/equity").status_code == 302
    assert client.get(f"/rounds/{rid}/equity/map.svg").status_code == 302
    login(make_user("viewer"))
    assert client.get(f"/rounds/{rid}/equity").status_code == 200
    assert client.get(f"/rounds/{rid}/equity/groups.svg").status_code == 200
    other = make_program()
    login(make_user("coordinator", program_slug=other.slug))
    assert client.get(f"/rounds/{rid}/equity").status_code == 404
    assert client.get(f"/rounds/{rid}/equity/groups.svg").status_code == 404
    assert client.get("/rounds/999999/equity").status_code == 404


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_page_statements_do_not_grow_with_the_round(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    make_program: Callable[..., Program],
    session: Session,
    engine: Engine,
) -> None:
    """The page and the map run as many statements for 40 students as for 400."""
    counts = []
    for n in (40, 400):
        program = make_program()
        rnd = published_round(session, program, generate_round(n, seed=6))
        session.commit()
        login(make_user(program_slug=program.slug))
        with _statements(engine) as seen:
            _page(client, rnd.id)
            assert client.get(f"/rounds/{rnd.id}/equity/map.svg").status_code == 200
        counts.append(len(seen))
    assert counts[0] == counts[1]


def test_map_draws_the_feeds_routes(
    app: Flask,
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    published: Published,
) -> None:
    """With a GTFS feed configured, the map's SVG carries a transit-routes series with paths."""
    if not CAIRNS.exists():
        pytest.skip("the shared Cairns feed is not here")
    app.config["GTFS_PATH"] = str(CAIRNS)
    login(make_user())
    text = client.get(f"/rounds/{published.round_id}/equity/map.svg").get_data(as_text=True)
    assert "Transit routes" in text
    assert "transit route lines" in text
    page = _page(client, published.round_id)
    assert "over the routes of the configured transit feed" in page


@pytest.mark.parametrize("name", NAMES)
def test_charts_of_a_round_without_a_run_say_so(name: str) -> None:
    """Before any run finishes, each chart still draws (no data) and says there is nothing."""
    empty = eq.Equity(
        round_id=1,
        run_id=None,
        chosen=False,
        students=5,
        placed=0,
        by_group=(),
        by_school=(),
        by_cluster=(),
        by_kind=(),
        ranks=(),
        travel=(),
        schools=(),
        sites=(),
    )
    svg = charts.render(name, empty)
    root = ET.fromstring(svg)  # noqa: S314 (drawn here, in a test)
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    assert desc.text == "No finished run yet: nothing to show."
    assert "<script" not in svg


def test_page_of_a_round_without_a_run(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    session: Session,
    program: Program,
) -> None:
    """A round that was never solved shows its students and says the figures come later."""
    rnd = import_round(session, generate_round(8, seed=1), program)
    session.commit()
    login(make_user())
    html = _page(client, rnd.id)
    assert "No run of this round has finished yet" in html
    assert "<dd>8</dd>" in html
    assert "<img" not in html
