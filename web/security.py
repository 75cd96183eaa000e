"""Security headers on every response, and CSRF on every form.

The Content-Security-Policy allows scripts, styles, images and fonts from this site only and no
inline script or style (`'self'`, no `'unsafe-inline'`), no plugins, no framing, forms posting
only here, no `<base>`: the pages ship their CSS and JS under `web/static/` and load nothing
from another host. Charts are SVG documents drawn on the server; a view serving one as an
`<img>` may relax `style-src` for that one response (an image document runs no script).

Pages that carry a private link's token in their URL (feeds, and the link holders' pages) say
`Referrer-Policy: no-referrer`; the others `same-origin`. Responses to a logged-in user are not
stored by shared caches.
"""

from __future__ import annotations

from typing import Final

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect

__all__ = ["CSP", "csrf", "init_app"]

CSP: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

csrf = CSRFProtect()


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """CSRF on every POST (Flask-WTF), and the headers above on every response."""
    csrf.init_app(app)
    app.after_request(_headers)
