"""Error pages: what a person at a browser sees when something is refused or missing.

A service's refusal reaches a page as `scheduler.errors.ActionRefused`; views catch the ones
they can explain next to a form. What they do not catch is answered here: `NotAllowed` (rule
`access`) as 403, an unknown id as 404, an expired form (CSRF) as 400, too large an upload as
413, too many logins as 429. Feeds and other plain-text callers get the plain 404 they had.
"""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError

from scheduler.errors import NotAllowed
from scheduler.queries import UnknownId

__all__ = ["init_app", "not_found"]


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "text/plain"])
    return best == "text/html" and not request.path.startswith("/feeds/")


def _page(status: int, title: str, message: str) -> Response:
    body = render_template("errors/error.html", status=status, title=title, message=message)
    return Response(body, status=status, mimetype="text/html")


def not_found() -> Response:
    """The one 404: a page for browsers, plain text for feeds and other callers."""
    if _wants_html():
        return _page(404, "Page not found", "There is nothing at this address.")
    return Response("Not Found\n", status=404, mimetype="text/plain")


def _forbidden(error: Exception) -> Response:
    message = error.message if isinstance(error, NotAllowed) else "You may not do that here."
    return _page(403, "Not allowed", message.removeprefix("access: "))


def _unknown(_error: Exception) -> Response:
    return not_found()


def _csrf(_error: CSRFError) -> Response:
    return _page(
        400,
        "The form expired",
        "The form was open too long or came from elsewhere. Go back, reload it and try again.",
    )


def _too_large(_error: Exception) -> Response:
    return _page(413, "File too large", "The file is larger than this site accepts.")


def _too_many(_error: Exception) -> Response:
    return _page(429, "Too many attempts", "Too many attempts in a short time. Wait a minute.")


def init_app(app: Flask) -> None:
    """Register the handlers above."""
    app.register_error_handler(NotAllowed, _forbidden)
    app.register_error_handler(403, _forbidden)
    app.register_error_handler(UnknownId, _unknown)
    app.register_error_handler(CSRFError, _csrf)
    app.register_error_handler(413, _too_large)
    app.register_error_handler(429, _too_many)
