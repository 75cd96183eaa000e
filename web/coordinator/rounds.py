"""The list of rounds and a round's dashboard (counts, unplaced students by reason, the runs
with "Keep this run", "Solve" with its live progress, and "Publish")."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from scheduler.queries import round_list
from scheduler.run_progress import dashboard_page
from web.coordinator import bp
from web.coordinator.common import actor, round_of
from web.db import get_session


@bp.get("/")
def home() -> ResponseReturnValue:
    """The start page is the list of rounds."""
    return redirect(url_for("coordinator.rounds"))


@bp.get("/rounds")
def rounds() -> ResponseReturnValue:
    """The rounds of the account's programs."""
    lines = round_list(get_session(), actor())
    return render_template("coordinator/rounds.html", rounds=lines)


def render_dashboard(round_id: int, status: int = 200, **refused: Any) -> ResponseReturnValue:
    """The dashboard page, with a refusal of one of its forms when given (`refusal`: the
    message; `refused_run`: the run "Keep this run" was refused for; `changes`: the students
    whose published placements it would move)."""
    rnd = round_of(round_id)
    page = dashboard_page(get_session(), rnd, actor())
    get_session().commit()  # the unplaced students' reason counts, kept on the run
    return (
        render_template(
            "coordinator/dashboard.html", rnd=rnd, page=page, board=page.board, **refused
        ),
        status,
    )


@bp.get("/rounds/<int:round_id>")
def dashboard(round_id: int) -> ResponseReturnValue:
    """A round at a glance: counts, runs, placements, solving."""
    return render_dashboard(round_id)
