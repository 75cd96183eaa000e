"""The equity and outcomes page of a round, and its charts as SVG images of their own.

The page shows the figures of the chosen (else latest finished) run with their numbers in
tables; each chart is an `<img>` whose source is `equity_chart`, an SVG document drawn by
pygal (`web.charts`). An SVG image carries its own `<style>`, which the pages' policy refuses,
so that one response gets a policy of its own: its inline styles, nothing else (no script, no
request to anywhere). The map's transit routes come from the GTFS feed configured with
`WBL_GTFS_PATH` (`GTFS_PATH` in the app's config), when there is one.
"""

from __future__ import annotations

import hashlib

from flask import Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue

from scheduler.equity import round_equity, travel_histogram
from web import charts
from web.coordinator import bp
from web.coordinator.common import actor, round_of
from web.db import get_session

# An SVG image may style itself; it runs no script and fetches nothing.
SVG_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'none'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def _feed() -> str | None:
    path = current_app.config.get("GTFS_PATH")
    return str(path) if path else None


@bp.get("/rounds/<int:round_id>/equity")
def equity(round_id: int) -> ResponseReturnValue:
    """Placement rates by group, school, cluster and kind, ranks, travel times and a map."""
    rnd = round_of(round_id)
    figures = round_equity(get_session(), rnd, actor())
    return render_template(
        "coordinator/equity.html",
        rnd=rnd,
        eq=figures,
        charts=charts.CHARTS,
        alt={c.name: charts.describe(c.name, figures) for c in charts.CHARTS},
        titles={c.name: c.title for c in charts.CHARTS},
        bins=travel_histogram(figures.travel),
        feed=_feed() is not None,
    )


@bp.get("/rounds/<int:round_id>/equity/<name>.svg")
def equity_chart(round_id: int, name: str) -> ResponseReturnValue:
    """One chart of the equity page as an SVG image."""
    parts = charts.chart_parts(name)
    if parts is None:
        abort(404)
    rnd = round_of(round_id)
    feed = _feed()
    figures = round_equity(get_session(), rnd, actor(), parts=parts, transit=feed)
    # Revalidated on every view (the run may have changed); while the run's state and the
    # feed are the same, the browser's copy is right: 304 without drawing it again.
    etag = f"{figures.state}-{name}-{hash_text(feed or '')}"
    if etag in request.if_none_match:
        response = Response(status=304)
    else:
        response = Response(charts.render(name, figures), mimetype="image/svg+xml")
    response.set_etag(etag)
    response.headers["Content-Security-Policy"] = SVG_CSP
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def hash_text(text: str) -> str:
    """A short digest of the feed's path for the ETag (the path itself stays private)."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]
