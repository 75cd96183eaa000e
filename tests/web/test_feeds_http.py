"""The feeds blueprint over HTTP: calendar content type, ETag and Last-Modified with 304s, HEAD,
one plain 404 for every bad token, a student's feed holding nobody else's data, hostile names
round-tripping, and tokens kept out of every request log."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import threading
import urllib.error
import urllib.request

import icalendar
import pytest
from flask import Flask
from flask.testing import FlaskClient
from gunicorn.config import Config
from ical.calendar_stream import IcsCalendarStream
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

import scheduler.actions as actions
from models import Assignment, Round, Student
from scheduler import links
from scheduler.calendars import short_name
from tests.web.conftest import Published
from web import ConfigurationError, create_app
from web.logs import REDACTED, GunicornLogger


def _student_path(session: Session, published: Published) -> tuple[Assignment, str]:
    rnd = session.get_one(Round, published.round_id)
    a = session.scalars(
        select(Assignment).where(Assignment.run_id == rnd.chosen_run_id).order_by(Assignment.id)
    ).first()
    assert a is not None
    return a, published.paths[("student", a.student.external_id)]


def test_feed_is_a_calendar_with_validators(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """200 text/calendar; charset=utf-8, private caching, an ETag and a Last-Modified; the
    body parses with icalendar and the strict ical package."""
    _, path = _student_path(session, published)
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "private" in response.headers["Cache-Control"]
    assert response.headers["ETag"]
    assert response.headers["Last-Modified"]
    cal = icalendar.Calendar.from_ical(response.data)
    assert list(cal.walk("VEVENT"))
    IcsCalendarStream.calendar_from_ics(response.data.decode())


def test_conditional_requests_get_304(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """If-None-Match with the ETag and If-Modified-Since with Last-Modified give 304 and no
    body; another ETag gets the feed again."""
    _, path = _student_path(session, published)
    first = client.get(path)
    by_etag = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert by_etag.status_code == 304
    assert by_etag.data == b""
    by_date = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert by_date.status_code == 304
    other = client.get(path, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.data == first.data


def test_head_has_the_headers_and_no_body(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """HEAD answers like GET, without the body."""
    _, path = _student_path(session, published)
    get = client.get(path)
    head = client.head(path)
    assert head.status_code == 200
    assert head.data == b""
    for header in ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "Content-Length"):
        assert head.headers[header] == get.headers[header]


def test_bad_tokens_all_get_the_same_404(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """Unknown, malformed and revoked tokens (and a closed round's) get one identical 404."""
    a, path = _student_path(session, published)
    token = path.removeprefix("/feeds/").removesuffix(".ics")
    rnd = session.get_one(Round, published.round_id)
    assert links.revoke_link(session, rnd, "student", a.student.external_id)
    session.commit()
    answers = [
        client.get(p)
        for p in (
            path,  # revoked
            "/feeds/" + "A" * 43 + ".ics",  # unknown
            "/feeds/short.ics",  # malformed
            "/feeds/" + token + "x.ics",
            "/feeds/%F0%9F%98%80.ics",
            "/feeds/" + token,
        )
    ]
    for response in answers:
        assert response.status_code == 404
        assert (response.data, response.headers["Content-Type"]) == (
            answers[0].data,
            answers[0].headers["Content-Type"],
        )
        assert token not in response.get_data(as_text=True)
    other = next(p for k, p in published.paths.items() if k[0] == "employer")
    actions.close(session, rnd, user=None)
    session.commit()
    closed = client.get(other)
    assert (closed.status_code, closed.data) == (404, answers[0].data)


def test_a_students_feed_holds_no_other_students_data(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """No other student's id, name or short name appears in a student's feed."""
    a, path = _student_path(session, published)
    body = client.get(path).get_data(as_text=True)
    unfolded = body.replace("\r\n ", "")
    others = session.scalars(
        select(Student).where(Student.round_id == published.round_id, Student.id != a.student_id)
    ).all()
    own = short_name(a.student.name)
    for s in others:
        assert f"/{s.external_id}/" not in unfolded
        assert s.name not in unfolded
        if short_name(s.name) != own:
            assert short_name(s.name) not in unfolded
    assert a.student.external_id in unfolded


HOSTILE_STUDENT = 'Zoë "Zed", O\'Brien; \\back\nslash 李 😀'
HOSTILE_EMPLOYER = 'Acme, Inc.; \\ "Quotes" — Ünïcödé 🏥 ' + "x" * 80
HOSTILE_ADDRESS = "1 Main St,\nApt; 2 \\ 東京都 🚌"


def test_hostile_names_round_trip(
    client: FlaskClient, session: Session, published: Published
) -> None:
    """Commas, semicolons, backslashes, newlines, quotes, other scripts and emoji in names and
    addresses come back exactly, lines folded without splitting a UTF-8 character."""
    a, path = _student_path(session, published)
    a.student.name = HOSTILE_STUDENT
    a.opportunity.employer.name = HOSTILE_EMPLOYER
    a.opportunity.address = HOSTILE_ADDRESS
    session.commit()
    response = client.get(path)
    for line in response.data.split(b"\r\n"):
        assert len(line) <= 75
        line.decode("utf-8")  # each physical line is whole UTF-8
    cal = icalendar.Calendar.from_ical(response.data)
    assert str(cal["X-WR-CALNAME"]).endswith(f"placement: {short_name(HOSTILE_STUDENT)}")
    events = list(cal.walk("VEVENT"))
    assert events
    for e in events:
        assert str(e["LOCATION"]) == f"{HOSTILE_EMPLOYER}, {HOSTILE_ADDRESS}"
        assert str(e["SUMMARY"]).endswith(f", {HOSTILE_EMPLOYER}")
    strict = IcsCalendarStream.calendar_from_ics(response.data.decode())
    assert strict.events[0].location == f"{HOSTILE_EMPLOYER}, {HOSTILE_ADDRESS}"


def test_tokens_never_reach_the_request_log(
    app: Flask, session: Session, published: Published, caplog: pytest.LogCaptureFixture
) -> None:
    """werkzeug's server logs each request line with /feeds/<redacted>, never the token."""
    _, path = _student_path(session, published)
    token = path.removeprefix("/feeds/").removesuffix(".ics")
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")  # an unknown token, logged too
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    caplog.set_level(logging.INFO, logger="werkzeug")
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        with urllib.request.urlopen(base + path) as response:  # noqa: S310  # our server
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(base + "/feeds/" + wrong + ".ics")  # noqa: S310
    finally:
        server.shutdown()
        thread.join()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert REDACTED in logged
    assert token not in logged
    assert token[:-1] not in logged


def test_gunicorn_access_log_is_redacted() -> None:
    """gunicorn's access-log atoms (request line, path, raw URI) have the token removed."""
    token = "T" * 43
    logger = GunicornLogger(Config())

    class Resp:
        status = "200 OK"
        sent = 10
        headers: tuple[tuple[str, str], ...] = ()

    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/feeds/{token}.ics",
        "PATH_INFO": f"/feeds/{token}.ics",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": "",
    }
    atoms = logger.atoms(Resp(), {}, environ, dt.timedelta(milliseconds=3))
    assert token not in repr(atoms)
    assert atoms["r"] == f"GET {REDACTED} HTTP/1.1"


def test_factory_serves_what_gunicorn_would_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """`web:create_app()` (gunicorn's app spec) builds an app that answers; in production it
    refuses to start without a secret key."""
    module = importlib.import_module("web")
    app = module.create_app({"TESTING": True, "DATABASE_URL": "sqlite://"})
    assert app.test_client().get("/feeds/x.ics").status_code == 404
    monkeypatch.delenv(links.ENV_VAR)
    with pytest.raises(ConfigurationError):
        create_app({"ENV": "production", "DATABASE_URL": "sqlite://"})
