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

Blueprints: `auth` (log in and out), `coordinator` (the coordinator's pages, behind a login),
`feeds` (calendar subscriptions by private link). One database session per request, closed when
the request ends (`web.db`). Logging redacts private-link tokens (`web.logs`). Every response
carries the security headers of `web.security` (a Content-Security-Policy that allows no inline
script); every form is CSRF-checked (Flask-WTF); the login is rate-limited (Flask-Limiter, its
counts in `RATELIMIT_STORAGE_URI`: memory in one process, `redis://...` under gunicorn).

Session cookies are HttpOnly and SameSite=Lax everywhere, and Secure outside development
(`ENV` other than `development`; a test may override `SESSION_COOKIE_SECURE`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response

from models import database_url
from scheduler.links import development_key
from web import auth, db, errors, logs, security
from web.coordinator import bp as coordinator_bp
from web.feeds import bp as feeds_bp
from web.people import BLUEPRINTS as PEOPLE_BLUEPRINTS

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
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=None,  # None: Secure outside development (below)
        REMEMBER_COOKIE_SECURE=None,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        # Uploads (spreadsheets, a problem document) larger than this are refused with 413.
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        # Flask-Limiter's counts: one process's memory unless configured (redis://...).
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_HEADERS_ENABLED=True,
        LOGIN_RATE_LIMIT="10 per minute;100 per day",
        WTF_CSRF_TIME_LIMIT=None,  # a form left open over lunch still posts; the session binds it
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
    secure = not str(app.config["ENV"]).strip().lower().startswith("dev")
    for key in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if app.config[key] is None:
            app.config[key] = secure

    logs.redact_tokens(app)
    db.init_app(app)
    security.init_app(app)
    auth.init_app(app)
    app.register_blueprint(feeds_bp)
    app.register_blueprint(coordinator_bp)
    for people_bp in PEOPLE_BLUEPRINTS:  # people, employer, student, mentor (web.people)
        app.register_blueprint(people_bp)
    errors.init_app(app)
    app.register_error_handler(404, _not_found)
    return app


def _not_found(_error: Exception) -> Response:
    """One plain 404 for every unknown address: a feed with an unknown, malformed or revoked
    token is told apart from nothing else; a person at a browser gets the page of it."""
    return errors.not_found()
