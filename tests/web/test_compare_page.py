"""The compare page: two runs' metric deltas and the students who moved, with the re-solve's
reason, page by page; defaults (chosen against latest) and who may see it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

import web.coordinator.runs as runs_views
from models import Program, Round, SolveRun, Student, User
from scheduler import jobs
from tests.scheduler.published_rounds import published_round
from tests.web.conftest import Published
from tests.web.runs_helpers import moving_run


def test_compare_defaults_to_chosen_against_latest_with_deltas_and_why(
    session: Session,
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Compare: by default the chosen run against the latest; placed drops by one; the student
    who lost their seat is listed with the re-solve's reason."""
    rnd = session.get_one(Round, published.round_id)
    chosen = session.get_one(SolveRun, rnd.chosen_run_id)
    run_id, student = moving_run(session, published.round_id, why="the slot's capacity went down")
    name = session.scalar(
        Student.__table__.select()
        .with_only_columns(Student.name)
        .where(Student.round_id == rnd.id, Student.external_id == student)
    )
    html = login(make_user()).get(f"/rounds/{rnd.id}/compare").get_data(as_text=True)
    assert f"Run {chosen.id} against run {run_id}" in html
    placed = chosen.metrics["placed"]
    assert f'<th scope="row">Placed</th>\n      <td class="num">{placed}</td>' in html
    assert '<td class="num">-1</td>' in html
    assert student in html
    assert name in html
    assert "unplaced" in html
    assert "the slot&#39;s capacity went down" in html


def test_compare_either_way_and_without_reasons(
    session: Session,
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Compare: runs given by id either way; a pair that is no re-solve says it has no reasons."""
    rnd = session.get_one(Round, published.round_id)
    run_id, student = moving_run(session, published.round_id)
    page = login(make_user()).get(f"/rounds/{rnd.id}/compare?a={run_id}&b={rnd.chosen_run_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"Run {run_id} against run {rnd.chosen_run_id}" in html
    assert '<td class="num">+1</td>' in html
    assert student in html
    assert "<td>placed</td>" in html
    assert "the solver gave no reasons" in html


def test_compare_pages_by_student_id(
    session: Session,
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Compare: a long list of changes comes a page at a time; a forged cursor is refused."""
    monkeypatch.setattr(runs_views, "COMPARE_PAGE", 1)
    rnd = session.get_one(Round, published.round_id)
    client = login(make_user())
    # Two runs that differ: the chosen one, and one with a student dropped; swapped pages.
    run_id, _ = moving_run(session, published.round_id)
    empty = SolveRun(round_id=rnd.id, status=jobs.RunStatus.succeeded, metrics={"placed": 0})
    session.add(empty)
    session.commit()
    first = client.get(f"/rounds/{rnd.id}/compare?a={run_id}&b={empty.id}").get_data(as_text=True)
    assert 'rel="next"' in first
    assert "Next page" in first
    bad = client.get(f"/rounds/{rnd.id}/compare?a={run_id}&b={empty.id}&after=bm90LWEtY3Vyc29y")
    assert bad.status_code == 400
    assert "cursor" in bad.get_data(as_text=True)


def test_compare_needs_two_runs_and_refuses_other_rounds(
    session: Session,
    program: Program,
    published: Published,
    make_user: Callable[..., User],
    make_program: Callable[..., Program],
    login: Callable[[User], FlaskClient],
) -> None:
    """Compare: one run is said to be too few; another round's run is 404; outsiders 404;
    viewers read it."""
    from scheduler.generate import generate_round

    lone = published_round(session, program, generate_round(20, seed=8), publish=False)
    session.commit()
    client = login(make_user("viewer"))
    assert "needs two finished runs" in client.get(f"/rounds/{lone.id}/compare").get_data(
        as_text=True
    )
    assert client.get(f"/rounds/{published.round_id}/compare").status_code == 200
    other_run = lone.chosen_run_id
    assert client.get(f"/rounds/{published.round_id}/compare?a={other_run}&b=1").status_code == 404
    stranger = make_program()
    session.commit()
    outsider = login(make_user(program_slug=stranger.slug))
    assert outsider.get(f"/rounds/{published.round_id}/compare").status_code == 404


def test_compare_defaults_to_what_the_latest_chosen_run_changed(
    session: Session,
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Compare: when the chosen run is the latest, the default is the run before it -> it."""
    import scheduler.actions as actions

    rnd = session.get_one(Round, published.round_id)
    old = rnd.chosen_run_id
    run_id, _ = moving_run(session, published.round_id)
    actions.choose_run(
        session, rnd, session.get_one(SolveRun, run_id), user=None, accept_changes=True
    )
    session.commit()
    html = login(make_user()).get(f"/rounds/{rnd.id}/compare").get_data(as_text=True)
    assert f"Run {old} against run {run_id}" in html
