"""Private-link tokens never reach a log.

A feed's URL is its credential, and so is a person's page link (`/p/<token>`); request logs
print URLs: werkzeug's development server
logs each request line, Flask logs the path of a request that failed, gunicorn's access log
prints the request line and path. `redact_tokens` puts a filter on those loggers that rewrites
`/feeds/<token>` to `/feeds/<redacted>` and `/p/<token>` to `/p/<redacted>` in the formatted
message; `GunicornLogger` does the same
to gunicorn's access-log atoms (it formats them itself, past any filter), and
`web.gunicorn_conf` installs it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask
from gunicorn.glogging import Logger

__all__ = ["PAGE_REDACTED", "REDACTED", "GunicornLogger", "TokenFilter", "redact", "redact_tokens"]

REDACTED = "/feeds/<redacted>"
PAGE_REDACTED = "/p/<redacted>"
# Anything after /feeds/ (or a page link's /p/) up to a separator: tokens, malformed tokens,
# guesses alike.
_FEED_PATH = re.compile(r"/feeds/[^\s\"'?#/]+")
_PAGE_PATH = re.compile(r"/p/[^\s\"'?#/]+")
_MARKERS = ("/feeds/", "/p/")
# Loggers that print request paths.
LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


def redact(text: str) -> str:
    """`text` with every feed path's and page link's token replaced."""
    return _PAGE_PATH.sub(PAGE_REDACTED, _FEED_PATH.sub(REDACTED, text))


def _marked(text: str) -> bool:
    return any(m in text for m in _MARKERS)


class TokenFilter(logging.Filter):
    """Rewrites a record's message (and exception text) without feed tokens; keeps it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _marked(message):
            record.msg = redact(message)
            record.args = None
        if record.exc_info and record.exc_text is None:
            # Formatted here so the traceback's text can be redacted too.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and _marked(record.exc_text):
            record.exc_text = redact(record.exc_text)
        return True


def redact_tokens(app: Flask) -> None:
    """Install the filter on the app's logger and on the servers' request loggers (once)."""
    for logger in (app.logger, *(logging.getLogger(name) for name in LOGGERS)):
        if not any(isinstance(f, TokenFilter) for f in logger.filters):
            logger.addFilter(TokenFilter())


class GunicornLogger(Logger):
    """gunicorn's logger with feed tokens removed from every access-log atom (request line,
    path, referer, and the environ and header atoms a custom format may name)."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str) and _marked(value):
                atoms[key] = redact(value)
        return atoms
