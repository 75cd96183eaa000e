"""A round's runs: "Solve" (queued, never solved in the request), its progress as JSON for the
dashboard's bar, "Cancel", "Keep this run", and the compare page of two runs."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField
from wtforms.validators import NumberRange, Optional

from scheduler.actions import ActionRefused, ChangesRefused, NotAllowed, solve_round
from scheduler.jobs import enqueue
from scheduler.queries import UnknownId
from scheduler.run_compare import compare_page
from scheduler.run_progress import cancel_run, keep_run, run_progress
from web.coordinator import bp
from web.coordinator.common import actor, round_of
from web.coordinator.rounds import render_dashboard
from web.db import get_session

# Seconds a solve may take, as the form offers it.
MAX_TIME_LIMIT = 3600
# Changed students per page of the compare page.
COMPARE_PAGE = 50


class SolveForm(FlaskForm):
    time_limit = IntegerField(
        "Time limit (seconds)",
        default=60,
        validators=[Optional(), NumberRange(min=1, max=MAX_TIME_LIMIT)],
    )
    fresh = BooleanField("Solve from scratch (published placements are not kept)")


class KeepForm(FlaskForm):
    version = HiddenField()
    accept_changes = BooleanField("Accept the changes")


class CancelForm(FlaskForm):
    pass


def _version(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


@bp.post("/rounds/<int:round_id>/solve")
def solve(round_id: int) -> ResponseReturnValue:
    """Queue a solve of the round; a worker (`wbl worker`) solves it."""
    rnd = round_of(round_id)
    form = SolveForm()
    if not form.validate():
        errors = "; ".join(e for errs in form.errors.values() for e in errs)
        return render_dashboard(round_id, 400, refusal=f"Solve: {errors}")
    options = {"time_limit": form.time_limit.data or 60}
    session = get_session()
    try:
        started = solve_round(session, rnd, user=actor(), options=options, fresh=form.fresh.data)
    except (NotAllowed, UnknownId):
        raise
    except ActionRefused as refused:
        session.rollback()
        return render_dashboard(round_id, 409, refusal=refused.message)
    session.commit()
    enqueue(started.run.id)  # after the commit: a worker must find the run stored
    if started.previous_run is not None:
        flash(
            f"Run {started.run.id} queued: a re-solve from run {started.previous_run}, keeping"
            f" its {started.protected} published or confirmed placements wherever they hold.",
            "success",
        )
    else:
        flash(f"Run {started.run.id} queued.", "success")
    return redirect(url_for("coordinator.dashboard", round_id=round_id, _anchor="progress"))


@bp.get("/rounds/<int:round_id>/runs/<int:run_id>/progress", endpoint="run_progress")
def run_progress_json(round_id: int, run_id: int) -> ResponseReturnValue:
    """A run's progress as JSON, polled by the dashboard's script."""
    rnd = round_of(round_id)
    progress = run_progress(get_session(), rnd, run_id, actor())
    response = jsonify(progress.to_json())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/rounds/<int:round_id>/runs/<int:run_id>/cancel")
def cancel(round_id: int, run_id: int) -> ResponseReturnValue:
    """Cancel a queued or running run."""
    rnd = round_of(round_id)
    if not CancelForm().validate():
        return render_dashboard(round_id, 400, refusal="Cancel: the form was not valid.")
    session = get_session()
    try:
        cancelled = cancel_run(session, rnd, run_id, user=actor())
    except (NotAllowed, UnknownId):
        raise
    except ActionRefused as refused:
        session.rollback()
        return render_dashboard(round_id, 409, refusal=refused.message)
    session.commit()
    flash(
        f"Run {run_id} cancelled." if cancelled else f"Run {run_id} had already ended.", "success"
    )
    return redirect(url_for("coordinator.dashboard", round_id=round_id))


@bp.post("/rounds/<int:round_id>/runs/<int:run_id>/keep")
def keep(round_id: int, run_id: int) -> ResponseReturnValue:
    """Keep this run as the round's answer ("Keep this run")."""
    rnd = round_of(round_id)
    form = KeepForm(prefix=f"run{run_id}")
    if not form.validate():
        return render_dashboard(round_id, 400, refusal="Keep this run: the form was not valid.")
    session = get_session()
    try:
        outcome = keep_run(
            session,
            rnd,
            run_id,
            user=actor(),
            expected_version=_version(form.version.data),
            accept_changes=form.accept_changes.data,
        )
    except (NotAllowed, UnknownId):
        raise
    except ChangesRefused as refused:
        session.rollback()
        return render_dashboard(
            round_id,
            409,
            refusal=refused.message.split("\n", 1)[0],
            refused_run=run_id,
            changes=refused.changes,
        )
    except ActionRefused as refused:
        session.rollback()
        return render_dashboard(round_id, 409, refusal=refused.message, refused_run=run_id)
    session.commit()
    flash(f"Run {run_id} is now the round's answer.", "success")
    for note in outcome.notes[:20]:
        flash(note, "info")
    return redirect(url_for("coordinator.dashboard", round_id=round_id))


@bp.get("/rounds/<int:round_id>/compare")
def compare(round_id: int) -> ResponseReturnValue:
    """Two runs side by side: metric deltas and who moved, with why."""
    rnd = round_of(round_id)
    a = request.args.get("a", type=int)
    b = request.args.get("b", type=int)
    cursor = request.args.get("after") or None
    try:
        page = compare_page(
            get_session(), rnd, actor(), run_a=a, run_b=b, cursor=cursor, limit=COMPARE_PAGE
        )
    except (NotAllowed, UnknownId):
        raise
    except ActionRefused as refused:
        return render_template(
            "coordinator/compare.html", rnd=rnd, page=None, refusal=refused.message
        ), 400
    return render_template("coordinator/compare.html", rnd=rnd, page=page, refusal=None)
