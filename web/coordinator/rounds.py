"""The list of rounds and a round's dashboard."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from scheduler.queries import round_dashboard, round_list
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


@bp.get("/rounds/<int:round_id>")
def dashboard(round_id: int) -> ResponseReturnValue:
    """A round at a glance: counts, runs, placements."""
    rnd = round_of(round_id)
    board = round_dashboard(get_session(), rnd, actor())
    return render_template("coordinator/dashboard.html", rnd=rnd, board=board)
