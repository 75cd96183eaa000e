"""The publish page: what will be sent, "Publish" with its refusals (naming the students) and
accept-the-changes, every person's links page by page, and the streamed CSV of them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import scheduler.actions as actions
import scheduler.publishing as publishing
from models import (
    Employer,
    Mentor,
    PrivateLink,
    Program,
    Round,
    RoundStatus,
    SolveRun,
    Student,
    User,
)
from tests.scheduler.published_rounds import published_round
from tests.web.conftest import Published, form_token
from tests.web.runs_helpers import moving_run


def test_publish_page_says_what_will_be_sent_and_lists_links(
    session: Session,
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Publish: counts of people and placements, then every student's feed link, privately."""
    client = login(make_user())
    page = client.get(f"/rounds/{published.round_id}/publish")
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert '<meta name="referrer" content="no-referrer">' in html
    students = session.scalar(
        select(func.count()).select_from(Student).where(Student.round_id == published.round_id)
    )
    assert f"<dt>Students</dt><dd>{students}</dd>" in html
    assert "Placements to publish" in html
    assert "Download every link (CSV)" in html
    for (kind, _ext), path in published.paths.items():
        if kind == "student":
            assert path in html  # each student's feed, on the first page (40 < 100)


def test_links_are_paginated_by_id(
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Publish: links come a page at a time, by id; the next page starts after the last id."""
    monkeypatch.setattr(publishing, "LINK_PAGE", 15)
    client = login(make_user())
    ids = sorted(ext for kind, ext in published.paths if kind == "student")
    first = client.get(f"/rounds/{published.round_id}/publish").get_data(as_text=True)
    assert published.paths[("student", ids[14])] in first
    assert published.paths[("student", ids[15])] not in first
    assert f"after={ids[14]}" in first
    second = client.get(
        f"/rounds/{published.round_id}/publish?kind=student&after={ids[14]}"
    ).get_data(as_text=True)
    assert published.paths[("student", ids[15])] in second
    assert published.paths[("student", ids[14])] not in second
    employers = client.get(f"/rounds/{published.round_id}/publish?kind=employer").get_data(
        as_text=True
    )
    assert any(
        path in employers for (kind, _), path in published.paths.items() if kind == "employer"
    )


def test_links_csv_streams_every_link(
    session: Session,
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Publish: the CSV of links is streamed, private, one row per person with its feed URL."""
    client = login(make_user())
    answer = client.get(f"/rounds/{published.round_id}/publish/links.csv")
    assert answer.status_code == 200
    assert answer.is_streamed
    assert answer.mimetype == "text/csv"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "attachment" in answer.headers["Content-Disposition"]
    body = answer.get_data(as_text=True)
    answer.close()  # a streamed response holds its request (and session) open until closed
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == list(publishing.LINK_COLUMNS)
    people = sum(
        session.scalar(select(func.count()).select_from(m).where(m.round_id == published.round_id))
        or 0
        for m in (Student, Employer, Mentor)
    )
    assert len(rows) - 1 == people == len(published.paths)
    feeds = {(r[0], r[1]): r[4] for r in rows[1:]}
    for key, path in published.paths.items():
        assert feeds[key].endswith(path)


def test_publish_sends_the_chosen_run_and_makes_links(
    session: Session,
    program: Program,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Publish: a coordinator publishes a reviewed round; it is published and everyone has a
    link."""
    rnd = published_round(session, program, publish=False)
    session.commit()
    client = login(make_user())
    path = f"/rounds/{rnd.id}/publish"
    html = client.get(path).get_data(as_text=True)
    assert "Every person gets a private link when the round is published." in html
    answer = client.post(
        path, data={"csrf_token": form_token(client, path), "version": str(rnd.version)}
    )
    assert answer.status_code == 302
    session.expire_all()
    assert session.get_one(Round, rnd.id).status == RoundStatus.published
    assert session.scalar(
        select(func.count()).select_from(PrivateLink).where(PrivateLink.round_id == rnd.id)
    )
    assert "/feeds/" in client.get(path).get_data(as_text=True)


def test_publish_refusal_names_the_student_and_accepting_publishes(
    session: Session,
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Publish: a chosen run dropping a published placement is refused naming the student;
    with the changes accepted it is published."""
    run_id, student = moving_run(session, published.round_id)
    rnd = session.get_one(Round, published.round_id)
    actions.choose_run(
        session, rnd, session.get_one(SolveRun, run_id), user=None, accept_changes=True
    )
    session.commit()
    client = login(make_user())
    path = f"/rounds/{published.round_id}/publish"
    preview = client.get(path).get_data(as_text=True)
    assert "<dt>Changed since last publish</dt><dd>1</dd>" in preview
    assert student in preview
    refused = client.post(path, data={"csrf_token": form_token(client, path)})
    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert "published:" in html
    assert student in html
    assert "Accept the changes" in html
    accepted = client.post(
        path, data={"csrf_token": form_token(client, path), "accept_changes": "y"}
    )
    assert accepted.status_code == 302
    session.expire_all()
    assert session.get_one(Round, published.round_id).status == RoundStatus.published


def test_viewer_reads_no_links_and_cannot_publish(
    published: Published, make_user: Callable[..., User], login: Callable[[User], FlaskClient]
) -> None:
    """Publish: a viewer sees what would be sent but no links, no button; forced posts are 403."""
    client = login(make_user("viewer"))
    path = f"/rounds/{published.round_id}/publish"
    html = client.get(path).get_data(as_text=True)
    assert "What will be sent" in html
    assert "/feeds/" not in html
    assert ">Publish</button>" not in html
    assert client.get(f"{path}/links.csv").status_code == 403
    assert client.post(path, data={"csrf_token": form_token(client, path)}).status_code == 403


def test_outsider_and_csrf(
    session: Session,
    published: Published,
    make_program: Callable[..., Program],
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Publish: another program's coordinator finds nothing (404); a post without CSRF is 400."""
    other = make_program()
    session.commit()
    outsider = login(make_user(program_slug=other.slug))
    path = f"/rounds/{published.round_id}/publish"
    assert outsider.get(path).status_code == 404
    assert outsider.get(f"{path}/links.csv").status_code == 404
    coordinator = login(make_user())
    assert coordinator.post(path, data={}).status_code == 400
