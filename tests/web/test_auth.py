"""The coordinators' login: labels, refusals, the new session, rate limit, cookie flags,
deactivation, logout by form post, security headers, and the `wbl user` commands."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from models import Program, User, make_session_factory
from scheduler.accounts import AccountRefused, add_user, authenticate, deactivate_user
from scheduler.cli import main
from tests.conftest import PASSWORD
from tests.web.conftest import form_token
from web import create_app
from web.security import CSP


def _log_in(client: FlaskClient, email: str, password: str, path: str = "/login"):  # type: ignore[no-untyped-def]
    token = form_token(client, "/login")
    return client.post(path, data={"email": email, "password": password, "csrf_token": token})


def test_login_page_has_labelled_fields_and_button(client: FlaskClient) -> None:
    """The login page: fields labelled Email and Password and a Log in button."""
    html = client.get("/login").get_data(as_text=True)
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Password</label>' in html
    assert ">Log in</button>" in html


def test_pages_need_a_login(client: FlaskClient) -> None:
    """A coordinator page without a session redirects to the login, which comes back."""
    response = client.get("/rounds")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_right_and_wrong(client: FlaskClient, make_user: Callable[..., User]) -> None:
    """A wrong password and an unknown email get the same refusal; the right one logs in."""
    user = make_user()
    wrong = _log_in(client, user.email, "not the password")
    unknown = _log_in(client, "nobody@example.org", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "Email or password is not right." in wrong.get_data(as_text=True)
    assert "Email or password is not right." in unknown.get_data(as_text=True)
    ok = _log_in(client, user.email.upper(), PASSWORD, "/login?next=/rounds")
    assert ok.status_code == 302
    assert ok.headers["Location"] == "/rounds"
    assert client.get("/rounds").status_code == 200


def test_login_never_redirects_elsewhere(app: Flask, make_user: Callable[..., User]) -> None:
    """`next` pointing to another host is ignored (no open redirect)."""
    user = make_user()
    for target in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        ok = _log_in(app.test_client(), user.email, PASSWORD, f"/login?next={target}")
        assert ok.headers["Location"] == "/rounds", target


def test_login_starts_a_new_session(client: FlaskClient, make_user: Callable[..., User]) -> None:
    """What the session held before the login is gone after it (no session fixation)."""
    user = make_user()
    with client.session_transaction() as before:
        before["planted"] = "by someone else"
    _log_in(client, user.email, PASSWORD)
    with client.session_transaction() as after:
        assert "planted" not in after
        assert after["_user_id"] == str(user.id)


def test_login_is_rate_limited(client: FlaskClient) -> None:
    """The eleventh login attempt within a minute from one address is refused with 429."""
    token = form_token(client, "/login")
    codes = [
        client.post(
            "/login", data={"email": "x@example.org", "password": "wrong!", "csrf_token": token}
        ).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    assert client.get("/login").status_code == 200  # reading the form is not limited


def test_cookies_are_httponly_lax_and_secure_outside_development(engine: Engine) -> None:
    """Session cookies: HttpOnly and SameSite=Lax always; Secure in production."""
    prod = create_app({"ENV": "production", "SECRET_KEY": "k" * 40, "DATABASE_ENGINE": engine})
    dev = create_app({"SECRET_KEY": "k" * 40, "DATABASE_ENGINE": engine})
    assert prod.config["SESSION_COOKIE_SECURE"] is True
    assert dev.config["SESSION_COOKIE_SECURE"] is False
    for app in (prod, dev):
        assert app.config["SESSION_COOKIE_HTTPONLY"] is True
        assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    client = dev.test_client()
    client.get("/login")
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"


def test_deactivated_account_is_refused_at_once(
    client: FlaskClient,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    session: Session,
) -> None:
    """Deactivating an account ends its open session at the next request, and its login."""
    user = make_user()
    login(user)
    assert client.get("/rounds").status_code == 200
    deactivate_user(session, user.email)
    session.commit()
    assert client.get("/rounds").status_code == 302
    assert _log_in(client, user.email, PASSWORD).status_code == 401


def test_logout_is_a_form_post_with_csrf(
    client: FlaskClient, make_user: Callable[..., User], login: Callable[[User], FlaskClient]
) -> None:
    """Logging out needs the form's CSRF token: a bare post from elsewhere does not."""
    login(make_user())
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    token = form_token(client, "/rounds")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/rounds").status_code == 302


def test_security_headers_on_pages(client: FlaskClient) -> None:
    """Every page carries the CSP without inline script, nosniff and frame denial."""
    response = client.get("/login")
    assert response.headers["Content-Security-Policy"] == CSP
    assert "'unsafe-inline'" not in CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.get_data(as_text=True)


def test_html_404_for_browsers(client: FlaskClient) -> None:
    """An unknown page asked for by a browser gets a page; plain callers plain text."""
    html = client.get("/nowhere", headers={"Accept": "text/html"})
    assert html.status_code == 404
    assert html.mimetype == "text/html"
    assert "Page not found" in html.get_data(as_text=True)
    assert client.get("/nowhere").mimetype == "text/plain"


def test_accounts_service_refuses_bad_input(session: Session, program: Program) -> None:
    """Accounts: a bad email, a short password, an unknown role or program are refused."""
    with pytest.raises(AccountRefused, match="not an email"):
        add_user(session, "nobody", program_slug=program.slug, role="viewer", password=PASSWORD)
    with pytest.raises(AccountRefused, match="at least 12"):
        add_user(session, "a@example.org", program_slug=program.slug, role="viewer", password="x")
    with pytest.raises(AccountRefused, match="no role"):
        add_user(
            session, "a@example.org", program_slug=program.slug, role="boss", password=PASSWORD
        )
    with pytest.raises(AccountRefused, match="no program"):
        add_user(session, "a@example.org", program_slug="none", role="viewer", password=PASSWORD)
    with pytest.raises(AccountRefused, match="needs a password"):
        add_user(session, "a@example.org", program_slug=program.slug, role="viewer")


def test_password_is_hashed_and_checked(session: Session, program: Program) -> None:
    """The password is stored hashed; authenticate needs the right one and an active account."""
    add_user(session, "a@example.org", program_slug=program.slug, role="viewer", password=PASSWORD)
    user = authenticate(session, "A@Example.org ", PASSWORD)
    assert user is not None
    assert user.password_hash is not None
    assert PASSWORD not in user.password_hash
    assert authenticate(session, "a@example.org", PASSWORD + "x") is None
    deactivate_user(session, "a@example.org")
    assert authenticate(session, "a@example.org", PASSWORD) is None


def test_user_commands(engine: Engine, session: Session) -> None:
    """`wbl user add` (password from stdin), `list` and `deactivate`, and their refusals."""
    obj = {"session_factory": make_session_factory(engine)}
    runner = CliRunner()
    added = runner.invoke(
        main,
        [
            "user",
            "add",
            "c@example.org",
            "--program",
            "north",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        obj=obj,
    )
    assert added.exit_code == 0, added.output
    assert "c@example.org (active; north:viewer)" in added.output
    short = runner.invoke(
        main,
        ["user", "add", "d@example.org", "--program", "north", "--password-stdin"],
        input="x\n",
        obj=obj,
    )
    assert short.exit_code == 2
    assert "at least 12" in short.output
    generated = runner.invoke(
        main, ["user", "add", "e@example.org", "--program", "north", "--generate-password"], obj=obj
    )
    assert generated.exit_code == 0
    password = generated.output.split("password: ")[1].strip()
    assert authenticate(session, "e@example.org", password) is not None
    listed = runner.invoke(main, ["user", "list", "--program", "north"], obj=obj)
    assert "c@example.org" in listed.output
    assert "e@example.org" in listed.output
    gone = runner.invoke(main, ["user", "deactivate", "c@example.org"], obj=obj)
    assert gone.exit_code == 0
    assert "deactivated" in gone.output
    assert runner.invoke(main, ["user", "deactivate", "z@example.org"], obj=obj).exit_code == 2


def test_only_programs_rounds_are_listed(
    client: FlaskClient,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    make_program: Callable[..., Program],
    published: object,
    app: Flask,
) -> None:
    """The rounds page lists the account's programs' rounds, not another program's."""
    outsider = make_user(program_slug=make_program().slug)
    login(outsider)
    assert "Rounds" in client.get("/rounds").get_data(as_text=True)
    assert "No rounds yet." in client.get("/rounds").get_data(as_text=True)
    login(make_user())
    listed = client.get("/rounds").get_data(as_text=True)
    assert "No rounds yet." not in listed
