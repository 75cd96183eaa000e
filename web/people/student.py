"""The student's and the mentor's pages (blueprints `student` and `mentor`): what they were
given, their week, and their calendar (a `webcal://` subscribe link, a QR code of the feed's
address, a one-off `.ics` download: the same bytes the feed serves)."""

from __future__ import annotations

import io

import segno
from flask import Response, current_app, render_template
from flask.typing import ResponseReturnValue

from scheduler.feeds import holder_feed
from scheduler.links import feed_url, holder_token
from scheduler.people import mentor_page, student_page
from web.db import get_session
from web.people import holder, mentor_bp, student_bp


def _feed(kind: str) -> str:
    me = holder(kind)
    token = holder_token(get_session(), me, secret=current_app.config["SECRET_KEY"].encode())
    return feed_url(str(current_app.config["BASE_URL"]), token)


def _webcal(feed: str) -> str:
    return "webcal://" + feed.split("://", 1)[-1]


def _download(kind: str) -> ResponseReturnValue:
    session = get_session()
    served = holder_feed(session, holder(kind))
    session.commit()  # the feed's event state, when it changed
    return Response(
        served.ical,
        content_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="placement.ics"'},
    )


def _qr(kind: str) -> ResponseReturnValue:
    out = io.BytesIO()
    # An SVG of paths and attributes only: no script, no inline style (the CSP holds).
    segno.make(_feed(kind), error="m").save(out, kind="svg", scale=6, border=2, xmldecl=False)
    return Response(out.getvalue(), content_type="image/svg+xml")


@student_bp.get("/")
def home() -> ResponseReturnValue:
    """The student's placement, week, travel, mentor and calendar."""
    page = student_page(get_session(), holder("student"))
    feed = _feed("student")
    return render_template("people/student.html", page=page, feed=feed, webcal=_webcal(feed))


@student_bp.get("/calendar.ics")
def calendar() -> ResponseReturnValue:
    """The student's calendar as a file to open once."""
    return _download("student")


@student_bp.get("/calendar-qr.svg")
def qr() -> ResponseReturnValue:
    """A QR code of the student's feed address, to subscribe from a phone."""
    return _qr("student")


@mentor_bp.get("/")
def mentor_home() -> ResponseReturnValue:
    """The mentor's students, meetings and calendar."""
    page = mentor_page(get_session(), holder("mentor"))
    feed = _feed("mentor")
    return render_template("people/mentor.html", page=page, feed=feed, webcal=_webcal(feed))


@mentor_bp.get("/calendar.ics")
def mentor_calendar() -> ResponseReturnValue:
    """The mentor's calendar as a file to open once."""
    return _download("mentor")


@mentor_bp.get("/calendar-qr.svg")
def mentor_qr() -> ResponseReturnValue:
    """A QR code of the mentor's feed address."""
    return _qr("mentor")
