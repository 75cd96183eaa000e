"""Blueprint `feeds`: a person's calendar by their private link, `/feeds/<token>.ics`.

The view resolves the token (`scheduler.links.holder_for_token`), asks `scheduler.feeds` for
the feed (built from the database, its event state kept up to date, cached until what it
shows changes) and answers conditionally: ETag and Last-Modified, 304 on If-None-Match or
If-Modified-Since, `Cache-Control: private`. A token that is not a live link gets the app's
one plain 404, whatever was wrong with it.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request
from flask.typing import ResponseReturnValue

from scheduler.feeds import holder_feed
from scheduler.links import holder_for_token
from web.db import get_session

__all__ = ["bp"]

bp = Blueprint("feeds", __name__, url_prefix="/feeds")

# Feeds change when a coordinator acts; clients poll every few hours (REFRESH-INTERVAL), and
# a revalidation costs a 304.
MAX_AGE = 300


@bp.get("/<token>.ics")  # Flask answers HEAD for every GET route, without the body
def feed(token: str) -> ResponseReturnValue:
    """A person's calendar feed."""
    session = get_session()
    holder = holder_for_token(session, token)
    if holder is None:
        abort(404)
    served = holder_feed(session, holder)
    session.commit()  # the feed's event state, when it changed
    response = Response(served.ical, content_type="text/calendar; charset=utf-8")
    response.set_etag(served.etag)
    response.last_modified = served.modified
    response.cache_control.private = True
    response.cache_control.max_age = MAX_AGE
    # The URL is the credential: never sent on as a referrer, never indexed.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response.make_conditional(request)
