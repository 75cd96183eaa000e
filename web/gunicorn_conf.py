"""gunicorn settings for production: `gunicorn -c python:web.gunicorn_conf "web:create_app()"`.

Only what matters for this app; everything else stays gunicorn's default and can be given on
the command line (`--bind`, `--workers`). The access log goes to stderr with feed tokens
redacted (`web.logs.GunicornLogger`)."""

from __future__ import annotations

import os

bind = os.environ.get("WBL_BIND", "127.0.0.1:5000")
# Feeds are I/O-bound and quick; two processes per core is gunicorn's usual advice.
workers = int(os.environ.get("WBL_WEB_WORKERS", str(2 * (os.cpu_count() or 1))))
accesslog = "-"
logger_class = "web.logs.GunicornLogger"
