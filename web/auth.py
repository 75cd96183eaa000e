"""Blueprint `auth`: the coordinators' login and logout (Flask-Login sessions).

The password check is `scheduler.accounts.authenticate`. A successful login starts a new
session (the old one's contents are dropped: no session fixation) and goes back to the page
that asked for it, if that page is on this site. Each request loads the account anew and drops
it once deactivated. Login attempts are rate-limited per client address (`LOGIN_RATE_LIMIT`,
Flask-Limiter); a failure says the same thing for an unknown email and a wrong password.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from models import User
from scheduler.accounts import MAX_PASSWORD_LENGTH, active_user, authenticate
from web.db import get_session

__all__ = ["Account", "bp", "init_app"]

bp = Blueprint("auth", __name__)


class Account(UserMixin):
    """The logged-in account as Flask-Login holds it; `user` is the request's `User` row, the
    actor every `scheduler` service is given."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.id = user.id

    @property
    def name(self) -> str:
        return self.user.name


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    submit = SubmitField("Log in")


def _load(user_id: str) -> Account | None:
    try:
        uid = int(user_id)
    except ValueError:
        return None
    user = active_user(get_session(), uid)
    return Account(user) if user is not None else None


def _safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site (not `//elsewhere` nor `https://elsewhere`)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form; a correct email and password start a session."""
    if current_user.is_authenticated:
        return redirect(url_for("coordinator.rounds"))
    form = LoginForm()
    if form.validate_on_submit():
        db = get_session()
        user = authenticate(db, form.email.data or "", form.password.data or "")
        if user is not None:
            db.commit()
            target = _safe_next(request.args.get("next"))
            session.clear()  # a new session at login: nothing carried over from before
            login_user(Account(user))
            return redirect(target or url_for("coordinator.rounds"))
        form.password.errors = [*form.password.errors, "Email or password is not right."]
    status = 200 if not form.errors else 401 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session (a form post with its CSRF token, so no other site can log you out)."""
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    """Flask-Login, the login's rate limit, and this blueprint, on `app`."""
    manager = LoginManager()
    manager.login_view = "auth.login"
    manager.login_message = "Log in to see this page."
    manager.login_message_category = "info"
    manager.session_protection = "basic"
    manager.user_loader(_load)
    manager.init_app(app)
    # One limiter per app (its counts live in RATELIMIT_STORAGE_URI), limiting posts only.
    limiter = Limiter(get_remote_address, app=app)
    limiter.limit(lambda: str(app.config["LOGIN_RATE_LIMIT"]), methods=["POST"])(bp)
    app.register_blueprint(bp)


def current_actor() -> Any:
    """The `User` acting in this request (for the services), None when nobody is logged in."""
    return current_user.user if current_user.is_authenticated else None
