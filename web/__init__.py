"""The Flask web application of wbl-scheduler: `create_app`, the factory.

Configuration, later sources winning: the defaults below, then `instance/config.py` (optional,
under the instance folder, which is `instance/` of the working directory, where the default
SQLite database lives too), then `WBL_...` environment variables (`WBL_SECRET_KEY`,
`WBL_DATABASE_URL`, `WBL_ENV`...: Flask's `from_prefixed_env`, so `WBL_DATABASE_URL` sets
`DATABASE_URL`), then the `test_config` a test passes.

The secret key is required in production (`ENV` = `production`); in development a random key
is generated once and kept in `instance/secret_key`, the same file the command line uses
(`scheduler.links`), so links that `wbl round links` prints resolve here. Production runs under
gunicorn: `gunicorn -c python:web.gunicorn_conf "web:create_app()"` (see the README).

Blueprints: `feeds` (calendar subscriptions by private link). One database session per request,
closed when the request ends (`web.db`). Logging redacts private-link tokens (`web.logs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response

from models import database_url
from scheduler.links import development_key
from web import db, logs
from web.feeds import bp as feeds_bp

__all__ = ["ConfigurationError", "create_app"]


class ConfigurationError(RuntimeError):
    """The app cannot start with this configuration (production without a secret key)."""


def _production(config: Any) -> bool:
    return str(config.get("ENV") or "development").strip().lower() == "production"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The application, configured (see the module's docstring) and with its blueprints."""
    app = Flask(
        __name__,
        instance_path=str(Path.cwd() / "instance"),
        instance_relative_config=True,
    )
    app.config.from_mapping(
        ENV="development",
        SECRET_KEY=None,
        DATABASE_URL=None,
        # Where links point (`wbl round links --base-url` defaults to the same variable).
        BASE_URL="http://127.0.0.1:5000",
    )
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env(prefix="WBL")
    if test_config is not None:
        app.config.from_mapping(test_config)

    if not app.config["SECRET_KEY"]:
        if _production(app.config):
            raise ConfigurationError(
                "WBL_SECRET_KEY is not set: production needs the secret key that private links"
                " are derived from"
            )
        app.config["SECRET_KEY"] = development_key(Path(app.instance_path)).decode()
    # from_prefixed_env reads values as JSON: a key of digits would arrive as a number.
    app.config["SECRET_KEY"] = str(app.config["SECRET_KEY"])
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = database_url()

    logs.redact_tokens(app)
    db.init_app(app)
    app.register_blueprint(feeds_bp)
    app.register_error_handler(404, _not_found)
    return app


def _not_found(_error: Exception) -> Response:
    """One plain 404 for every unknown address: a feed with an unknown, malformed or revoked
    token is told apart from nothing else."""
    return Response("Not Found\n", status=404, mimetype="text/plain")
