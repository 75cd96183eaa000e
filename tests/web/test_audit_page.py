"""The audit page: the round's events newest first, filtered by action or kind, by student and
by account, keyset-paginated; who may read it."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

import scheduler.actions as actions
import web.coordinator.audit as audit_views
from models import Assignment, Program, Round, Student, User
from scheduler.actions.audit import record
from tests.web.conftest import Published, form_token
from tests.web.runs_helpers import moving_run

_ROW = re.compile(r'<th scope="row">([a-z_.]+)</th>')


def _actions(html: str) -> list[str]:
    return _ROW.findall(html)


def _placed_student(session: Session, rnd: Round) -> Student:
    return session.scalars(
        select(Student)
        .join(Assignment, Assignment.student_id == Student.id)
        .where(Assignment.run_id == rnd.chosen_run_id)
        .order_by(Student.external_id)
        .limit(1)
    ).one()


def test_events_newest_first(
    published: Published, make_user: Callable[..., User], login: Callable[[User], FlaskClient]
) -> None:
    """Audit: the round's events, the latest first (publish after choosing the run)."""
    html = login(make_user()).get(f"/rounds/{published.round_id}/audit").get_data(as_text=True)
    listed = _actions(html)
    assert listed[:2] == ["round.publish", "round.choose_run"]
    assert "system" in html


def test_filters_by_action_kind_student_and_account(
    session: Session,
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Audit: an exact action, a kind (every action.*), a student's events, an account's."""
    rnd = session.get_one(Round, published.round_id)
    coordinator = make_user()
    student = _placed_student(session, rnd)
    actions.unplace(session, rnd, student, user=coordinator)
    session.commit()
    client = login(coordinator)
    path = f"/rounds/{rnd.id}/audit"
    assert _actions(client.get(f"{path}?action=round.publish").get_data(as_text=True)) == [
        "round.publish"
    ]
    assert sorted(_actions(client.get(f"{path}?action=round").get_data(as_text=True))) == [
        "round.choose_run",
        "round.publish",
    ]
    by_student = client.get(f"{path}?student={student.external_id}").get_data(as_text=True)
    assert _actions(by_student) == ["assignment.unplace"]
    assert f"students {student.external_id}" in by_student
    by_user = client.get(f"{path}?user={coordinator.id}").get_data(as_text=True)
    assert _actions(by_user) == ["assignment.unplace"]
    assert coordinator.email in by_user
    assert "No events match these filters" in client.get(f"{path}?student=nobody").get_data(
        as_text=True
    )


def test_pages_by_event_id(
    session: Session,
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Audit: a page at a time, newest first; the next page continues where the last ended."""
    monkeypatch.setattr(audit_views, "AUDIT_PAGE", 2)
    rnd = session.get_one(Round, published.round_id)
    for n in range(3):
        record(session, rnd, None, "round.note", ("rounds", rnd.external_id), before=n, after=n + 1)
    session.commit()
    client = login(make_user())
    path = f"/rounds/{rnd.id}/audit"
    first = client.get(path).get_data(as_text=True)
    assert _actions(first) == ["round.note", "round.note"]
    found = re.search(r'href="([^"]+after=\d+[^"]*)" rel="next"', first)
    assert found is not None
    second = client.get(found.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _actions(second) == ["round.note", "round.publish"]
    assert "First page" in second
    third_link = re.search(r'href="([^"]+after=\d+[^"]*)" rel="next"', second)
    assert third_link is not None
    third = client.get(third_link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _actions(third) == ["round.choose_run"]
    assert 'rel="next"' not in third


def test_viewer_reads_and_outsider_finds_nothing(
    session: Session,
    published: Published,
    make_program: Callable[..., Program],
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Audit: a viewer reads the trail; a member of another program gets 404."""
    assert login(make_user("viewer")).get(f"/rounds/{published.round_id}/audit").status_code == 200
    other = make_program()
    session.commit()
    outsider = login(make_user(program_slug=other.slug))
    assert outsider.get(f"/rounds/{published.round_id}/audit").status_code == 404


def test_a_keep_from_the_dashboard_is_audited_with_its_account(
    session: Session,
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Audit: keeping a run on the dashboard (changes accepted) shows as that account's event."""
    run_id, student = moving_run(session, published.round_id)
    user = make_user()
    client = login(user)
    dash = f"/rounds/{published.round_id}"
    client.post(
        f"{dash}/runs/{run_id}/keep",
        data={"csrf_token": form_token(client, dash), f"run{run_id}-accept_changes": "y"},
    )
    html = client.get(f"{dash}/audit?user={user.id}").get_data(as_text=True)
    assert _actions(html) == ["round.choose_run"]
    assert student in html  # the accepted change's note names the student
