"""The round dashboard: counts, reasons, runs with "Keep this run", "Solve" queued (never
solved in the request) with its progress as JSON, "Cancel", and who may do what."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import scheduler.jobs as jobs
from models import AuditEvent, Program, Round, RunStatus, SolveRun, User, make_session_factory
from scheduler.explain import label
from scheduler.generate import generate_round
from scheduler.rounds import import_round
from tests.web.conftest import Published, form_token
from tests.web.runs_helpers import moving_run, queue_file

__all__ = ["queue_file"]  # the fixture, used by name


def _draft(session: Session, program: Program) -> int:
    rnd = import_round(session, generate_round(30, seed=5), program)
    session.commit()
    return rnd.id


def test_dashboard_shows_counts_reasons_runs_and_buttons(
    published: Published, make_user: Callable[..., User], login: Callable[[User], FlaskClient]
) -> None:
    """Dashboard: counts (confirmed too), unplaced reasons with labels, runs, Solve, Publish."""
    client = login(make_user())
    page = client.get(f"/rounds/{published.round_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("Students", "Seats", "Placed", "Unplaced", "Confirmed by employers", "Runs"):
        assert text in html
    assert '<button type="submit" class="primary">Solve</button>' in html
    assert ">Publish</a>" in html
    assert "Latest run: run" in html
    assert "Objective level" in html
    assert "Chosen" in html


def test_unplaced_reasons_are_listed_with_their_labels(
    session: Session,
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Dashboard: the chosen run's unplaced students are counted by reason, in words."""
    html = login(make_user()).get(f"/rounds/{published.round_id}").get_data(as_text=True)
    run = session.get_one(SolveRun, session.get_one(Round, published.round_id).chosen_run_id)
    codes = {r["code"] for u in run.unplaced for r in u.reasons}
    assert codes  # the generated market has about a seat for two students
    assert "Unplaced students by reason" in html
    for code in codes:
        assert f'{label(code)} <span class="muted">({code})</span>' in html


def test_viewer_sees_no_buttons_and_a_forced_post_is_refused(
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    queue_file: Path,
) -> None:
    """Dashboard: a viewer reads the page without Solve or Keep buttons; posting them is 403."""
    client = login(make_user("viewer"))
    path = f"/rounds/{published.round_id}"
    html = client.get(path).get_data(as_text=True)
    assert ">Solve</button>" not in html
    assert "Keep this run" not in html
    token = form_token(client, path)
    assert client.post(f"{path}/solve", data={"csrf_token": token}).status_code == 403
    with make_session_factory(client.application.extensions["wbl_sessions"].kw["bind"])() as s:
        run_id = s.scalar(select(func.max(SolveRun.id)))
        assert s.scalar(select(func.count()).select_from(SolveRun)) == 1
    assert client.post(f"{path}/runs/{run_id}/keep", data={"csrf_token": token}).status_code == 403
    assert (
        client.post(f"{path}/runs/{run_id}/cancel", data={"csrf_token": token}).status_code == 403
    )
    assert not queue_file.exists() or len(jobs.queue()[0]) == 0


def test_outsider_gets_not_found(
    published: Published,
    make_program: Callable[..., Program],
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    session: Session,
) -> None:
    """Dashboard: a coordinator of another program finds neither the round nor its runs."""
    other = make_program()
    session.commit()
    client = login(make_user(program_slug=other.slug))
    run_id = session.scalar(select(func.max(SolveRun.id)))
    path = f"/rounds/{published.round_id}"
    assert client.get(path).status_code == 404
    assert client.get(f"{path}/runs/{run_id}/progress").status_code == 404
    token = form_token(client, "/rounds")
    assert client.post(f"{path}/solve", data={"csrf_token": token}).status_code == 404


def test_posts_without_csrf_are_refused(
    published: Published, make_user: Callable[..., User], login: Callable[[User], FlaskClient]
) -> None:
    """Dashboard: Solve, Keep and Cancel without the form's CSRF token are refused (400)."""
    client = login(make_user())
    path = f"/rounds/{published.round_id}"
    for action in ("solve", "runs/1/keep", "runs/1/cancel"):
        assert client.post(f"{path}/{action}", data={}).status_code == 400


def test_solve_queues_a_run_and_returns_at_once(
    session: Session,
    program: Program,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    queue_file: Path,
) -> None:
    """Solve: the request queues a run (nothing solved in it) and the progress says queued."""
    round_id = _draft(session, program)
    client = login(make_user())
    path = f"/rounds/{round_id}"
    token = form_token(client, path)
    started = time.monotonic()
    answer = client.post(f"{path}/solve", data={"csrf_token": token, "time_limit": "20"})
    elapsed = time.monotonic() - started
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert elapsed < 5.0
    session.expire_all()
    run = session.scalars(select(SolveRun).where(SolveRun.round_id == round_id)).one()
    assert run.status == RunStatus.queued
    assert run.options == {"time_limit": 20}
    assert run.solution_status is None  # nothing solved
    assert len(jobs.queue()[0]) == 1  # one job waits for a worker
    progress = client.get(f"{path}/runs/{run.id}/progress")
    assert progress.status_code == 200
    assert progress.headers["Cache-Control"] == "no-store"
    data = progress.get_json()
    assert data["status"] == "queued"
    assert data["active"] is True
    assert data["stage"] == "waiting for a worker"
    assert data["percent"] == 0
    html = client.get(path).get_data(as_text=True)
    assert "<progress" in html
    assert 'aria-live="polite"' in html
    assert f"/rounds/{round_id}/runs/{run.id}/progress" in html
    assert "Cancel" in html


def test_solve_refuses_a_bad_time_limit(
    session: Session,
    program: Program,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    queue_file: Path,
) -> None:
    """Solve: a time limit outside 1..3600 seconds is refused and nothing is queued."""
    round_id = _draft(session, program)
    client = login(make_user())
    token = form_token(client, f"/rounds/{round_id}")
    answer = client.post(f"/rounds/{round_id}/solve", data={"csrf_token": token, "time_limit": "0"})
    assert answer.status_code == 400
    assert session.scalar(select(func.count()).select_from(SolveRun)) == 0


def test_progress_reports_the_stage_of_a_running_run(
    session: Session,
    program: Program,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Progress: a running run's stage, fraction and elapsed time as the worker wrote them."""
    round_id = _draft(session, program)
    run = jobs.create_run(session, session.get_one(Round, round_id))
    run.status = RunStatus.running
    run.started_at = jobs.now()
    run.stage = "flow stage 2/4: mentored"
    run.progress = 0.3
    session.commit()
    data = login(make_user()).get(f"/rounds/{round_id}/runs/{run.id}/progress").get_json()
    assert data["status"] == "running"
    assert data["stage"] == "flow stage 2/4: mentored"
    assert data["percent"] == 30
    assert data["elapsed"] >= 0
    assert "flow stage 2/4: mentored" in data["text"]


def test_an_executed_run_shows_as_finished(
    session: Session,
    engine: Engine,
    program: Program,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    queue_file: Path,
) -> None:
    """Solve: a queued run executed by the worker's code shows finished with its levels."""
    round_id = _draft(session, program)
    client = login(make_user())
    path = f"/rounds/{round_id}"
    client.post(f"{path}/solve", data={"csrf_token": form_token(client, path), "time_limit": "20"})
    run_id = session.scalar(select(SolveRun.id).where(SolveRun.round_id == round_id))
    assert run_id is not None
    assert jobs.execute_run(make_session_factory(engine), run_id) == RunStatus.succeeded
    data = client.get(f"{path}/runs/{run_id}/progress").get_json()
    assert data["status"] == "succeeded"
    assert data["active"] is False
    assert data["percent"] == 100
    assert data["levels"]
    assert data["levels"][0]["name"] == "placed_weighted"
    assert data["placed"] is not None
    html = client.get(path).get_data(as_text=True)
    assert f"Latest run: run {run_id}" in html
    assert "Keep this run" in html
    assert "<progress" not in html


def test_cancel_a_queued_run(
    session: Session,
    program: Program,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    queue_file: Path,
) -> None:
    """Cancel: a queued run is cancelled, audited, and the worker then skips it."""
    round_id = _draft(session, program)
    client = login(make_user())
    path = f"/rounds/{round_id}"
    client.post(f"{path}/solve", data={"csrf_token": form_token(client, path)})
    run_id = session.scalar(select(SolveRun.id).where(SolveRun.round_id == round_id))
    answer = client.post(
        f"{path}/runs/{run_id}/cancel", data={"csrf_token": form_token(client, path)}
    )
    assert answer.status_code == 302
    session.expire_all()
    assert session.get_one(SolveRun, run_id).status == RunStatus.cancelled
    assert session.scalar(select(AuditEvent.action).where(AuditEvent.action == "run.cancel"))


def test_keep_this_run(
    session: Session,
    program: Program,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Keep this run: a coordinator chooses another finished run; it becomes the chosen one."""
    from tests.scheduler.published_rounds import published_round

    rnd = published_round(session, program, publish=False)
    session.commit()
    run_id, _ = moving_run(session, rnd.id)
    client = login(make_user())
    path = f"/rounds/{rnd.id}"
    answer = client.post(
        f"{path}/runs/{run_id}/keep",
        data={"csrf_token": form_token(client, path), f"run{run_id}-version": str(rnd.version)},
    )
    assert answer.status_code == 302
    session.expire_all()
    assert session.get_one(Round, rnd.id).chosen_run_id == run_id


def test_keep_refusal_names_the_student_and_accepting_keeps_it(
    session: Session,
    published: Published,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Keep this run: a run moving a published placement is refused naming the student; the
    accept-the-changes checkbox keeps it."""
    run_id, student = moving_run(session, published.round_id)
    client = login(make_user())
    path = f"/rounds/{published.round_id}"
    refused = client.post(
        f"{path}/runs/{run_id}/keep", data={"csrf_token": form_token(client, path)}
    )
    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert "published:" in html
    assert student in html
    assert "Accept the changes" in html
    session.expire_all()
    assert session.get_one(Round, published.round_id).chosen_run_id != run_id
    accepted = client.post(
        f"{path}/runs/{run_id}/keep",
        data={"csrf_token": form_token(client, path), f"run{run_id}-accept_changes": "y"},
    )
    assert accepted.status_code == 302
    session.expire_all()
    assert session.get_one(Round, published.round_id).chosen_run_id == run_id


def test_keep_a_run_of_another_round_is_not_found(
    session: Session,
    published: Published,
    program: Program,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Keep this run: a run id of another round is not found (404), nothing changes."""
    other = _draft(session, program)
    run = jobs.create_run(session, session.get_one(Round, other))
    session.commit()
    client = login(make_user())
    path = f"/rounds/{published.round_id}"
    answer = client.post(
        f"{path}/runs/{run.id}/keep", data={"csrf_token": form_token(client, path)}
    )
    assert answer.status_code == 404
