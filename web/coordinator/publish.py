"""The publish page: what publishing sends, "Publish", and every person's private links with
a streamed CSV of them.

The links are credentials: these responses say `Referrer-Policy: no-referrer` and
`Cache-Control: no-store`, their URLs carry no token (only ids), and logs never see a token
(`web.logs` redacts feed paths anyway).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField

from scheduler.actions import ActionRefused, ChangesRefused, NotAllowed
from scheduler.actions import publish as publish_round
from scheduler.links import KINDS, SecretKeyMissing
from scheduler.publishing import link_csv, link_page, publish_preview
from scheduler.queries import UnknownId
from web.coordinator import bp
from web.coordinator.common import actor, round_of
from web.db import get_session


class PublishForm(FlaskForm):
    version = HiddenField()
    accept_changes = BooleanField("Accept the changes")


def _private(response: Response) -> Response:
    """No referrer, no cache: the page or file lists private links."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _page(round_id: int, status: int = 200, **refused: Any) -> Response:
    rnd = round_of(round_id)
    session = get_session()
    user = actor()
    preview = publish_preview(session, rnd, user)
    kind = request.args.get("kind", "student")
    kind = kind if kind in KINDS else "student"
    after = request.args.get("after") or None
    links = None
    if preview.can_edit and preview.links:
        links = link_page(
            session, rnd, user, base_url=current_app.config["BASE_URL"], kind=kind, after=after
        )
    form = PublishForm(version=str(preview.version))
    body = render_template(
        "coordinator/publish.html",
        rnd=rnd,
        preview=preview,
        links=links,
        kind=kind,
        kinds=KINDS,
        form=form,
        referrer_policy="no-referrer",
        **refused,
    )
    return _private(Response(body, status=status, mimetype="text/html"))


@bp.get("/rounds/<int:round_id>/publish")
def publish(round_id: int) -> ResponseReturnValue:
    """What publishing will send; after it, every person's links."""
    return _page(round_id)


@bp.post("/rounds/<int:round_id>/publish")
def publish_post(round_id: int) -> ResponseReturnValue:
    """Publish the chosen run (refused, naming every student, when it moves placements
    published before, unless the changes are accepted)."""
    rnd = round_of(round_id)
    form = PublishForm()
    if not form.validate():
        return _page(round_id, 400, refusal="Publish: the form was not valid.")
    version = form.version.data
    session = get_session()
    try:
        outcome = publish_round(
            session,
            rnd,
            user=actor(),
            expected_version=int(version) if version and version.isdigit() else None,
            accept_changes=form.accept_changes.data,
        )
    except (NotAllowed, UnknownId):
        raise
    except ChangesRefused as refused:
        session.rollback()
        message = refused.message.split("\n", 1)[0]
        return _page(round_id, 409, refusal=message, changes=refused.changes)
    except ActionRefused as refused:
        session.rollback()
        return _page(round_id, 409, refusal=refused.message)
    except SecretKeyMissing as missing:
        session.rollback()
        return _page(round_id, 503, refusal=str(missing))
    session.commit()
    flash("Published: every student, employer and mentor now has a private link.", "success")
    for note in outcome.notes[:20]:
        flash(note, "info")
    return redirect(url_for("coordinator.publish", round_id=round_id, _anchor="links"))


@bp.get("/rounds/<int:round_id>/publish/links.csv")
def links_csv(round_id: int) -> ResponseReturnValue:
    """Every person's links as CSV, streamed."""
    rnd = round_of(round_id)
    session = get_session()
    chunks = link_csv(session, rnd, actor(), base_url=current_app.config["BASE_URL"])

    def stream() -> Iterator[str]:
        try:
            yield from chunks
        finally:
            # The stream ends after the view returned: give the connection back now.
            session.close()

    response = Response(stream_with_context(stream()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="links-{rnd.external_id}.csv"'
    return _private(response)
