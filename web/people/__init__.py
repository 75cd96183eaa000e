"""The pages of people without accounts, by private link: blueprints `people` (the link
itself, `/p/<token>`), `employer`, `student` and `mentor`.

`/p/<token>` resolves the token (`scheduler.links.holder_for_token`), keeps its hash in the
Flask session (a signed, HttpOnly cookie) and redirects to the holder's page at a token-less
address, so the token leaves the address bar, the history and any Referer at once. Every later
request resolves the kept hash again (`holder_for_digest`): a link revoked or rotated, or a
round closed since, stops working on the next click. Unknown, malformed, revoked and expired
links, and a page asked for without a link, all get the same plain 404 page (which says whom
to ask, and nothing of what exists). These pages answer `Referrer-Policy: no-referrer` and
`X-Robots-Tag: noindex`; their forms are CSRF-checked like every form of the app.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue

from scheduler.access import LinkHolder
from scheduler.links import holder_for_digest, holder_for_token, token_hash
from web.db import get_session

__all__ = ["BLUEPRINTS", "LinkInvalid", "employer_bp", "holder", "mentor_bp", "people_bp"]

_KEY = "link"
_HOME = {"employer": "employer.home", "student": "student.home", "mentor": "mentor.mentor_home"}

people_bp = Blueprint("people", __name__)
employer_bp = Blueprint("employer", __name__, url_prefix="/employer")
student_bp = Blueprint("student", __name__, url_prefix="/student")
mentor_bp = Blueprint("mentor", __name__, url_prefix="/mentor")


class LinkInvalid(Exception):
    """No live link of the kind the page needs: answered with the one 404 page."""


def invalid_link() -> Response:
    """The one page of every link that does not work, whatever was wrong with it."""
    return Response(render_template("people/invalid.html"), status=404, mimetype="text/html")


def holder(kind: str) -> LinkHolder:
    """The holder of the link kept in this browser's session, if it is live and of `kind`."""
    digest = session.get(_KEY)
    found = holder_for_digest(get_session(), digest) if isinstance(digest, str) else None
    if found is None or found.kind != kind:
        raise LinkInvalid
    return found


def _private(response: Response) -> Response:
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    return response


def _invalid(_error: LinkInvalid) -> Response:
    return invalid_link()


def _no_referrer() -> dict[str, str]:
    # base.html's <meta name="referrer">, as strict as the header.
    return {"referrer_policy": "no-referrer"}


BLUEPRINTS = (people_bp, employer_bp, student_bp, mentor_bp)
for _bp in BLUEPRINTS:
    _bp.after_request(_private)
    _bp.register_error_handler(LinkInvalid, _invalid)
    _bp.context_processor(_no_referrer)


@people_bp.get("/p/<token>")
def enter(token: str) -> ResponseReturnValue:
    """A private link: remember it in the session and go to the holder's page."""
    found = holder_for_token(get_session(), token)
    if found is None:
        session.pop(_KEY, None)
        return invalid_link()
    session[_KEY] = token_hash(token)
    return redirect(url_for(_HOME[found.kind]))


# The audience modules register their routes on the blueprints above.
from web.people import employer, student  # noqa: E402

__all__ += ["employer", "student"]
