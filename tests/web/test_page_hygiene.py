"""Every HTML page the app serves (each GET rule of the URL map as the round's coordinator and
viewer, the login page, the error pages) keeps the rules of web/security.py and WEB.md: the
Content-Security-Policy header, no inline script or style, CSRF on every posting form, nothing
from another host, one h1, and no student's name in any URL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote_plus

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from models import Student, User
from tests.web import walker
from tests.web.conftest import Published

URL_ATTRIBUTES = ("href", "src", "action", "formaction", "srcset", "poster", "data")
# Inputs whose typed text a GET form would put in its URL (and so in logs).
# A field whose `pattern` admits an id but no name (it refuses a space) may be in a GET form.
TYPED = frozenset({"", "text", "search", "email", "tel", "url"})


def _id_only(values: dict[str, str]) -> bool:
    """An input whose `pattern` lets through an id but not a person's name (with a space)."""
    pattern = values.get("pattern")
    if not pattern:
        return False
    try:
        return (
            re.fullmatch(pattern, "Jane Doe") is None
            and re.fullmatch(pattern, "st-0001") is not None
        )
    except re.error:
        return False


@dataclass(slots=True)
class Form:
    method: str
    csrf: list[str] = field(default_factory=list)
    typed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Page(HTMLParser):
    """What the checks need of a page, read with the standard library's parser."""

    urls: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    forms: list[Form] = field(default_factory=list)
    h1: int = 0
    _open: Form | None = None
    _script: bool = False

    def __post_init__(self) -> None:
        HTMLParser.__init__(self, convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if name == "style":
                self.problems.append(f"<{tag} style=...>: inline style (the CSP refuses it)")
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>: inline event handler")
            if name in URL_ATTRIBUTES:
                self.urls.append(value)
                if value.strip().lower().startswith("javascript:"):
                    self.problems.append(f"<{tag} {name}={value!r}>: javascript: URL")
        if tag == "style":
            self.problems.append("<style> block (the CSP refuses it)")
        if tag == "script":
            self._script = True
            if not values.get("src"):
                self.problems.append("<script> without src (the CSP refuses inline script)")
        if tag in ("script", "img", "link", "iframe", "source", "embed", "object"):
            for name in ("src", "href", "data"):
                where = values.get(name, "").strip().lower()
                if where.startswith(("http:", "https:", "//")):
                    self.problems.append(f"<{tag} {name}={where!r}>: loaded from another host")
        if tag == "h1":
            self.h1 += 1
        if tag == "form":
            self._open = Form(method=values.get("method", "get").lower())
            self.forms.append(self._open)
        if tag == "input" and self._open is not None:
            if values.get("name") == "csrf_token":
                if values.get("type") == "hidden" and values.get("value"):
                    self._open.csrf.append(values["value"])
            elif values.get("type", "").lower() in TYPED and not _id_only(values):
                self._open.typed.append(values.get("name", "?"))
        if tag == "textarea" and self._open is not None:
            self._open.typed.append(values.get("name", "?"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None
        if tag == "script":
            self._script = False

    def handle_data(self, data: str) -> None:
        if self._script and data.strip():
            self.problems.append("<script> with inline code")


def hygiene(response: TestResponse, names: list[str]) -> list[str]:
    """What is wrong with an HTML response."""
    page = Page()
    page.feed(response.get_data(as_text=True))
    page.close()
    problems = list(page.problems)
    csp = response.headers.get("Content-Security-Policy", "")
    if "script-src 'self'" not in csp or "default-src 'self'" not in csp:
        problems.append(f"Content-Security-Policy missing or loose: {csp!r}")
    if "unsafe-inline" in csp or "unsafe-eval" in csp:
        problems.append(f"Content-Security-Policy allows inline code: {csp!r}")
    for i, form in enumerate(page.forms, 1):
        if form.method == "post" and not form.csrf:
            problems.append(f"form {i} posts without a csrf_token input")
        if form.method != "post" and form.csrf:
            problems.append(f"form {i} sends its CSRF token in a URL (method {form.method})")
        if form.method != "post" and form.typed:
            problems.append(
                f"form {i} is a GET with typed input(s) {form.typed}: the text lands in the URL"
            )
    if page.h1 != 1:
        problems.append(f"{page.h1} <h1> on the page (one per page)")
    urls = [*page.urls, response.headers.get("Location", "")]
    for url in urls:
        plain = unquote_plus(url).lower()
        leaked = [n for n in names if n.lower() in plain]
        if leaked:
            problems.append(f"a student's name in a URL: {url!r}")
    return problems


@pytest.fixture
def names(session: Session, published: Published) -> list[str]:
    """The round's students' names (none may appear in a URL)."""
    return list(session.scalars(select(Student.name).where(Student.round_id == published.round_id)))


@pytest.fixture
def values(session: Session, published: Published) -> dict[str, object]:
    path = next(p for (kind, _), p in sorted(published.paths.items()) if kind == "student")
    token = path.removeprefix("/feeds/").removesuffix(".ics")
    return walker.round_values(session, published.round_id, token)


def _client(app: Flask, user: User | None) -> FlaskClient:
    client = app.test_client()
    if user is not None:
        with client.session_transaction() as flask_session:
            flask_session["_user_id"] = str(user.id)
            flask_session["_fresh"] = True
    return client


def _get(client: FlaskClient, path: str) -> TestResponse:
    response = client.get(path, headers={"Accept": "text/html"})
    response.get_data()
    response.close()
    return response


def _pages(
    app: Flask, values: dict[str, object], make_user: Callable[..., User]
) -> Iterator[tuple[str, TestResponse]]:
    """Every GET of the URL map as the coordinator and the viewer, the login page, and the
    error pages (404, 400 for a form without its token, 403 for a viewer's forced POST)."""
    targets, problems = walker.targets(app, values)
    assert not problems, "\n".join(problems)
    gets = [t for t in targets if t.method == "GET"]
    for role in ("coordinator", "viewer"):
        client = _client(app, make_user(role))
        for target in gets:
            yield f"{role}: {target}", _get(client, target.path)
    anonymous = app.test_client()
    yield "anonymous: /login", _get(anonymous, "/login")
    yield "anonymous: 404", _get(anonymous, "/no/such/page")
    yield "anonymous: 400", anonymous.post("/logout", headers={"Accept": "text/html"})
    viewer = _client(app, make_user("viewer"))
    token = walker.csrf_token(_get(viewer, "/rounds"))
    refused = [
        t
        for t in targets
        if t.method == "POST"
        and t.needs_login
        and t.about_round
        and t.endpoint not in walker.READ_ONLY_POSTS
    ]
    for target in refused[:3]:
        response = viewer.post(
            target.path, data={"csrf_token": token}, headers={"Accept": "text/html"}
        )
        yield f"viewer: {target}", response


def test_every_html_page_keeps_the_rules(
    app: Flask,
    values: dict[str, object],
    names: list[str],
    make_user: Callable[..., User],
) -> None:
    """CSP header, no inline script/style, CSRF on posting forms, one h1, no name in a URL."""
    wrong: list[str] = []
    seen = 0
    for what, response in _pages(app, values, make_user):
        if response.mimetype != "text/html":
            continue
        seen += 1
        wrong.extend(f"{what} [{response.status_code}]: {p}" for p in hygiene(response, names))
    assert seen >= 6, seen
    assert not wrong, "\n".join(wrong)


def test_the_checks_catch_what_they_look_for(names: list[str]) -> None:
    """Each rule of the checks finds its fault in a page made to have it."""
    bad = (
        '<h1>A</h1><h1>B</h1><p style="color:red" onclick="x()">x</p><style>p{}</style>'
        '<script>alert(1)</script><script src="https://cdn.example/x.js"></script>'
        '<form method="post"><input name="note"></form>'
        f'<form method="get"><input type="search" name="q"></form><a href="/s?n={names[0]}">s</a>'
        '<form method="get"><input name="id" pattern="[A-Za-z0-9._-]+"></form>'
        '<a href="javascript:void(0)">j</a>'
    )
    response = TestResponse(
        [bad.encode()], "200 OK", {"Content-Type": "text/html; charset=utf-8"}, request=None
    )  # type: ignore[arg-type]
    found = "\n".join(hygiene(response, names))
    assert "form 3" not in found  # an id-only field (its pattern refuses a name) may be a GET
    for fault in (
        "inline style",
        "inline event handler",
        "<style> block",
        "<script> with inline code",
        "<script> without src",
        "another host",
        "posts without a csrf_token",
        "GET with typed input",
        "2 <h1>",
        "student's name in a URL",
        "javascript: URL",
        "Content-Security-Policy missing",
    ):
        assert fault in found, fault
