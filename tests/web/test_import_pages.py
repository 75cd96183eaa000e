"""The import pages: templates, upload, preview, apply for a round and for a new round; every
refusal (file type, row errors with file/row/column, breaks without the box, an expired or
another user's upload, a viewer, another program's round, a missing CSRF token); the kept
upload's store."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Assignment, AuditEvent, Program, Round, Slot, Student, User
from scheduler.generate import generate_round
from scheduler.import_preview import Staged, Upload, UploadExpired, UploadStore
from scheduler.rounds import export_round
from scheduler.tables import KINDS, TableFile, create_round, document_tables
from tests.scheduler.test_tables import TABLES
from tests.web.conftest import Published, form_token

_HIDDEN_UPLOAD = re.compile(r'name="upload" type="hidden" value="([0-9a-f]{32})"')


@pytest.fixture(autouse=True)
def _folder(app: Flask, tmp_path: Path) -> Path:
    """Kept uploads go to the test's folder, not the working directory's instance folder."""
    folder = tmp_path / "imports"
    app.config["IMPORT_FOLDER"] = str(folder)
    return folder


@pytest.fixture
def empty_round(session: Session, program: Program) -> Round:
    """An empty round of `program`, committed, to import into."""
    rnd = create_round(
        session,
        program,
        "fall",
        name="Fall 2026",
        start_date="2026-09-08",
        end_date="2026-12-18",
        timezone="America/Chicago",
        holidays=["2026-11-26"],
    )
    session.commit()
    return rnd


def _filled(client: FlaskClient, kind: str, text: str) -> bytes:
    """The downloaded CSV template of `kind`, filled with the rows of `text` (a small table
    whose columns are some of the template's)."""
    template = client.get(f"/import/templates/{kind}.csv")
    assert template.status_code == 200
    header = next(csv.reader(io.StringIO(template.get_data(as_text=True).lstrip("\ufeff"))))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header)
    writer.writeheader()
    for row in csv.DictReader(io.StringIO(text)):
        writer.writerow(row)
    return out.getvalue().encode()


def _files(*pairs: tuple[str, bytes]) -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(data), name) for name, data in pairs]


def _upload(
    client: FlaskClient, path: str, files: list[tuple[io.BytesIO, str]], **fields: Any
) -> Any:
    data = {"csrf_token": form_token(client, path), "files": files, **fields}
    return client.post(path, data=data, content_type="multipart/form-data")


def _token(html: str) -> str:
    found = _HIDDEN_UPLOAD.search(html)
    assert found is not None, "no kept upload on the preview"
    return found.group(1)


def _count(session: Session, model: Any, rnd_id: int) -> int:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(model).where(model.round_id == rnd_id)) or 0
    )


# --- Templates --------------------------------------------------------------------------------


def test_templates_download_with_their_headers(
    login: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    """Each kind's CSV template is its header row; the XLSX is a workbook; others are 404."""
    client = login(make_user())
    for kind, spec in KINDS.items():
        response = client.get(f"/import/templates/{kind}.csv")
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        assert f'filename="{kind}.csv"' in response.headers["Content-Disposition"]
        first = next(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
        assert tuple(first) == spec.headers
    xlsx = client.get("/import/templates/slots.xlsx")
    assert xlsx.status_code == 200
    assert xlsx.data.startswith(b"PK\x03\x04")
    assert client.get("/import/templates/nothing.csv").status_code == 404
    assert client.get("/import/templates/students.pdf").status_code == 404


# --- A round's import -------------------------------------------------------------------------


def test_templates_filled_upload_preview_apply(
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    empty_round: Round,
    session: Session,
) -> None:
    """Filled templates are previewed (rows added per kind), then applied and audited."""
    user = make_user()
    client = login(user)
    path = f"/rounds/{empty_round.id}/import"
    page = client.get(path).get_data(as_text=True)
    assert 'type="file"' in page
    assert ">Preview</button>" in page
    files = _files(*((f"{kind}.csv", _filled(client, kind, text)) for kind, text in TABLES.items()))
    preview = _upload(client, path, files)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    assert "What will change" in html
    assert re.search(r"<th scope=\"row\">students</th>\s*<td>students.csv</td>", html)
    assert "Nothing: every pin and placement still holds." in html
    assert _count(session, Student, empty_round.id) == 0  # a preview writes nothing
    token = _token(html)
    applied = client.post(
        f"{path}/apply", data={"csrf_token": form_token(client, path), "upload": token}
    )
    assert applied.status_code == 302
    assert applied.headers["Location"] == f"/rounds/{empty_round.id}"
    assert _count(session, Student, empty_round.id) == 3
    assert _count(session, Slot, empty_round.id) == 2
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "round.import_tables")
    ).one()
    assert event.user_id == user.id
    assert "Imported into Fall 2026" in client.get(applied.headers["Location"]).get_data(
        as_text=True
    )
    # The kept upload is gone once applied: a second apply is refused.
    again = client.post(
        f"{path}/apply", data={"csrf_token": form_token(client, path), "upload": token}
    )
    assert again.status_code == 409
    assert "expired" in again.get_data(as_text=True)


def test_bad_file_types_are_refused_by_name_and_content(
    login: Callable[[User], FlaskClient], make_user: Callable[..., User], empty_round: Round
) -> None:
    """A .pdf, a CSV named .xlsx and a workbook named .csv are each refused, by file."""
    client = login(make_user())
    path = f"/rounds/{empty_round.id}/import"
    workbook = client.get("/import/templates/schools.xlsx").data
    response = _upload(
        client,
        path,
        _files(
            ("students.pdf", b"%PDF-1.4"),
            ("schools.xlsx", TABLES["schools"].encode()),
            ("employers.csv", workbook),
        ),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "3 problems to fix" in html
    assert "not a CSV, XLSX or JSON file" in html
    assert "named .xlsx but is not an Excel workbook" in html
    assert "named .csv but is a zip file" in html
    assert 'name="upload"' not in html  # nothing to apply


def test_too_large_and_too_many_uploads_are_refused(
    app: Flask,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    empty_round: Round,
) -> None:
    """An upload over MAX_CONTENT_LENGTH is 413; more than MAX_FILES files are refused."""
    client = login(make_user())
    path = f"/rounds/{empty_round.id}/import"
    many = _files(*((f"schools-{n}.csv", TABLES["schools"].encode()) for n in range(21)))
    response = _upload(client, path, many)
    assert response.status_code == 422
    assert "21 files; upload at most 20 at once" in response.get_data(as_text=True)
    token = form_token(client, path)
    app.config["MAX_CONTENT_LENGTH"] = 4096
    big = client.post(
        path,
        data={"csrf_token": token, "files": _files(("schools.csv", b"x" * 8192))},
        content_type="multipart/form-data",
    )
    assert big.status_code == 413
    assert "File too large" in big.get_data(as_text=True)


def test_a_form_without_files_is_refused(
    login: Callable[[User], FlaskClient], make_user: Callable[..., User], empty_round: Round
) -> None:
    """Posting the upload form without a file says so next to the field."""
    client = login(make_user())
    path = f"/rounds/{empty_round.id}/import"
    response = client.post(path, data={"csrf_token": form_token(client, path)})
    assert response.status_code == 422
    assert "choose at least one file" in response.get_data(as_text=True)


def test_row_errors_are_listed_with_file_row_and_column(
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    empty_round: Round,
    session: Session,
) -> None:
    """Row errors are listed with file, row and column; nothing is written, no Apply."""
    client = login(make_user())
    path = f"/rounds/{empty_round.id}/import"
    students = (
        TABLES["students"].replace("2009-03-01", "13/02/2009").replace(",sc-1,12,", ",sc-9,12,")
    )
    response = _upload(
        client,
        path,
        _files(("schools.csv", TABLES["schools"].encode()), ("students.csv", students.encode())),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    row = re.compile(
        r'<th scope="row">students.csv</th>\s*<td class="num">2</td>\s*<td>birth_date</td>\s*'
        r"<td>not a date"
    )
    assert row.search(html), html
    assert re.search(r'<td class="num">3</td>\s*<td>school_id</td>\s*<td>unknown school', html)
    assert ">Apply</button>" not in html
    assert _count(session, Student, empty_round.id) == 0


def test_kind_is_told_by_header_when_the_name_does_not_say(
    login: Callable[[User], FlaskClient], make_user: Callable[..., User], empty_round: Round
) -> None:
    """A file's kind comes from its header when its name does not say it, else row 1 refuses."""
    client = login(make_user())
    path = f"/rounds/{empty_round.id}/import"
    ok = _upload(client, path, _files(("export.csv", TABLES["schools"].encode())))
    assert ok.status_code == 200
    assert re.search(
        r'<th scope="row">schools</th>\s*<td>export.csv</td>', ok.get_data(as_text=True)
    )
    bad = _upload(client, path, _files(("export.csv", b"a,b\n1,2\n")))
    assert bad.status_code == 422
    assert "cannot tell which table this is" in bad.get_data(as_text=True)


def _break_files(session: Session, rnd_id: int) -> tuple[bytes, str]:
    """The round's slots table with the capacity of a slot holding a published placement set
    to 0, and that slot's id."""
    rnd = session.get_one(Round, rnd_id)
    doc = export_round(session, rnd)
    header, rows = document_tables(doc)["slots"]
    taken = session.scalars(
        select(Slot.external_id)
        .join(Assignment, Assignment.slot_id == Slot.id)
        .where(Assignment.run_id == rnd.chosen_run_id)
        .limit(1)
    ).one()
    position = header.index("capacity")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        cells = ["" if c is None else c for c in row]
        if cells[header.index("slot_id")] == taken:
            cells[position] = 0
        writer.writerow(cells)
    return out.getvalue().encode(), taken


def test_breaks_refused_without_the_box_and_applied_with_it(
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    published: Published,
    session: Session,
) -> None:
    """An H2 break is previewed, refused without "Accept the breaks", applied and marked with it."""
    client = login(make_user())
    path = f"/rounds/{published.round_id}/import"
    slots, slot = _break_files(session, published.round_id)
    preview = _upload(client, path, _files(("slots.csv", slots)))
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    assert "What it would break" in html
    assert re.search(r'<th scope="row">H2</th>\s*<td>published placement of student', html)
    assert f"slot &#34;{slot}&#34; has 0 seats" in html or f'slot "{slot}" has 0 seats' in html
    assert "Accept the breaks" in html
    token = _token(html)
    version = session.get_one(Round, published.round_id).version

    refused = client.post(
        f"{path}/apply", data={"csrf_token": form_token(client, path), "upload": token}
    )
    body = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert "Tick &#34;Accept the breaks&#34;" in body or 'Tick "Accept the breaks"' in body
    assert 'role="alert"' in body
    session.expire_all()
    assert session.get_one(Round, published.round_id).version == version
    marked = select(func.count()).select_from(Assignment).where(Assignment.broken_rule.is_not(None))
    assert session.scalar(marked) == 0

    token = _token(body)
    applied = client.post(
        f"{path}/apply",
        data={"csrf_token": form_token(client, path), "upload": token, "accept_breaks": "y"},
    )
    assert applied.status_code == 302
    session.expire_all()
    assert (session.scalar(marked) or 0) >= 1
    assert (
        session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "round.import_breaks")
        )
        == 1
    )


def test_a_round_changed_since_the_preview_is_previewed_again(
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    empty_round: Round,
    session: Session,
) -> None:
    """A round changed since its preview refuses the apply (version) and previews it anew."""
    client = login(make_user())
    path = f"/rounds/{empty_round.id}/import"
    preview = _upload(client, path, _files(("schools.csv", TABLES["schools"].encode())))
    token = _token(preview.get_data(as_text=True))
    other = _upload(client, path, _files(("employers.csv", TABLES["employers"].encode())))
    other_token = _token(other.get_data(as_text=True))
    client.post(
        f"{path}/apply", data={"csrf_token": form_token(client, path), "upload": other_token}
    )
    # The first preview was replaced in this session by the second: it no longer applies.
    stale = client.post(
        f"{path}/apply", data={"csrf_token": form_token(client, path), "upload": token}
    )
    assert stale.status_code == 409
    preview = _upload(client, path, _files(("schools.csv", TABLES["schools"].encode())))
    token = _token(preview.get_data(as_text=True))
    session.expire_all()
    rnd = session.get_one(Round, empty_round.id)
    rnd.name = "Fall 2026 (renamed)"
    session.commit()
    changed = client.post(
        f"{path}/apply", data={"csrf_token": form_token(client, path), "upload": token}
    )
    body = changed.get_data(as_text=True)
    assert changed.status_code == 409
    assert "the round changed since this preview" in body
    again = client.post(
        f"{path}/apply", data={"csrf_token": form_token(client, path), "upload": _token(body)}
    )
    assert again.status_code == 302
    assert _count(session, Student, empty_round.id) == 0
    from models import School

    assert _count(session, School, empty_round.id) == 2


def test_another_users_upload_does_not_apply(
    app: Flask,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    empty_round: Round,
    session: Session,
) -> None:
    """A token previewed by one coordinator is refused for another of the same program."""
    client = login(make_user())
    path = f"/rounds/{empty_round.id}/import"
    preview = _upload(client, path, _files(("schools.csv", TABLES["schools"].encode())))
    token = _token(preview.get_data(as_text=True))
    other = app.test_client()
    second = make_user()
    with other.session_transaction() as flask_session:
        flask_session["_user_id"] = str(second.id)
        flask_session["wbl_imports"] = {f"round {empty_round.id}": token}
    refused = other.post(
        f"{path}/apply", data={"csrf_token": form_token(other, path), "upload": token}
    )
    assert refused.status_code == 409
    assert "expired" in refused.get_data(as_text=True)
    from models import School

    assert _count(session, School, empty_round.id) == 0


def test_a_document_updates_the_round(
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    session: Session,
    program: Program,
) -> None:
    """A wbl-problem/1 document of the round is previewed (updated rows) and applied."""
    doc = generate_round(8, seed=2)
    from scheduler.rounds import import_round

    rnd = import_round(session, doc, program)
    session.commit()
    doc["students"][0]["grade"] = 12 if doc["students"][0].get("grade") != 12 else 11
    client = login(make_user())
    path = f"/rounds/{rnd.id}/import"
    preview = _upload(client, path, _files(("round.json", json.dumps(doc).encode())))
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    assert re.search(
        r'<th scope="row">students</th>\s*<td>[^<]*</td>\s*<td class="num">8</td>\s*'
        r'<td>students</td>\s*<td class="num">0</td>\s*<td class="num">8</td>',
        html,
    )
    applied = client.post(
        f"{path}/apply", data={"csrf_token": form_token(client, path), "upload": _token(html)}
    )
    assert applied.status_code == 302
    bad = _upload(client, path, _files(("round.json", b'{"format": "other"}')))
    assert bad.status_code == 422
    assert "not a wbl-problem/1 document" in bad.get_data(as_text=True)


# --- Access and CSRF --------------------------------------------------------------------------


def test_viewer_reads_but_cannot_import(
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    empty_round: Round,
    session: Session,
) -> None:
    """A viewer reads the page without the form; forced posts are 403; no new-round link."""
    client = login(make_user("viewer"))
    path = f"/rounds/{empty_round.id}/import"
    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'type="file"' not in html
    assert "a viewer changes nothing" in html
    assert "students.csv<span" in html
    token = form_token(client, "/rounds")
    upload = client.post(
        path,
        data={"csrf_token": token, "files": _files(("schools.csv", TABLES["schools"].encode()))},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 403
    assert client.post(path, data={"csrf_token": token}).status_code == 403
    assert (
        client.post(f"{path}/apply", data={"csrf_token": token, "upload": "0" * 32}).status_code
        == 403
    )
    assert client.post(f"{path}/apply", data={"csrf_token": token}).status_code == 403
    assert client.post("/rounds/new", data={"csrf_token": token}).status_code == 403
    assert client.post("/rounds/new/create", data={"csrf_token": token}).status_code == 403
    assert client.get("/rounds/new").status_code == 403
    assert (
        client.post(
            "/rounds/new/create", data={"csrf_token": token, "upload": "0" * 32, "program": "1"}
        ).status_code
        == 403
    )
    assert "New round from files" not in client.get("/rounds").get_data(as_text=True)
    from models import School

    assert _count(session, School, empty_round.id) == 0


def test_another_programs_round_is_not_found(
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    make_program: Callable[..., Program],
    empty_round: Round,
    session: Session,
) -> None:
    """A coordinator of another program gets 404 on the round's import, preview and apply."""
    other = make_program(slug="elsewhere")
    session.commit()
    client = login(make_user(program_slug=other.slug))
    path = f"/rounds/{empty_round.id}/import"
    assert client.get(path).status_code == 404
    token = form_token(client, "/rounds")
    upload = client.post(
        path,
        data={"csrf_token": token, "files": _files(("schools.csv", TABLES["schools"].encode()))},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 404
    assert (
        client.post(f"{path}/apply", data={"csrf_token": token, "upload": "0" * 32}).status_code
        == 404
    )


def test_posts_without_csrf_are_refused(
    login: Callable[[User], FlaskClient], make_user: Callable[..., User], empty_round: Round
) -> None:
    """Every import form post without its CSRF token is 400."""
    client = login(make_user())
    path = f"/rounds/{empty_round.id}/import"
    files = _files(("schools.csv", TABLES["schools"].encode()))
    assert (
        client.post(path, data={"files": files}, content_type="multipart/form-data").status_code
        == 400
    )
    assert client.post(f"{path}/apply", data={"upload": "0" * 32}).status_code == 400
    assert client.post("/rounds/new", data={}).status_code == 400
    assert client.post("/rounds/new/create", data={"upload": "0" * 32}).status_code == 400


# --- A new round ------------------------------------------------------------------------------


def test_new_round_from_tables(
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    program: Program,
    session: Session,
) -> None:
    """A new round's header and tables are previewed (no round yet), then created, audited."""
    client = login(make_user())
    assert "New round from files" in client.get("/rounds").get_data(as_text=True)
    files = _files(*((f"{kind}.csv", text.encode()) for kind, text in TABLES.items()))
    fields = {
        "program": str(program.id),
        "round_id": "spring",
        "name": "Spring 2027",
        "start_date": "2026-09-08",
        "end_date": "2026-12-18",
        "timezone": "America/Chicago",
        "holidays": "2026-11-26, 2026-11-27",
        "mentor_meeting_minutes": "30",
    }
    preview = _upload(client, "/rounds/new", files, **fields)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    assert "New round preview" in html
    assert ">Create the round</button>" in html
    session.expire_all()
    assert session.scalar(select(Round.id).where(Round.external_id == "spring")) is None
    token = _token(html)
    created = client.post(
        "/rounds/new/create",
        data={
            "csrf_token": form_token(client, "/rounds/new"),
            "upload": token,
            "program": str(program.id),
        },
    )
    assert created.status_code == 302
    rnd = session.scalars(select(Round).where(Round.external_id == "spring")).one()
    assert created.headers["Location"] == f"/rounds/{rnd.id}"
    assert rnd.holidays == ["2026-11-26", "2026-11-27"]
    assert _count(session, Student, rnd.id) == 3
    actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.round_id == rnd.id)))
    assert actions == {"round.create", "round.import_tables"}


def test_new_round_refusals(
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    make_program: Callable[..., Program],
    program: Program,
    empty_round: Round,
    session: Session,
) -> None:
    """New-round refusals (no header, taken id, bad row, forged program); a document works."""
    other = make_program(slug="other-program")
    session.commit()
    client = login(make_user())
    files = _files(("schools.csv", TABLES["schools"].encode()))
    missing = _upload(client, "/rounds/new", files, program=str(program.id))
    assert missing.status_code == 422
    assert "Needed for a round from spreadsheets." in missing.get_data(as_text=True)
    header = {
        "program": str(program.id),
        "round_id": "fall",
        "name": "Again",
        "start_date": "2026-09-08",
        "end_date": "2026-12-18",
        "timezone": "America/Chicago",
    }
    taken = _upload(
        client, "/rounds/new", _files(("schools.csv", TABLES["schools"].encode())), **header
    )
    assert taken.status_code == 422
    assert "already has a round" in taken.get_data(as_text=True)
    bad = TABLES["schools"].replace("39.10", "north")
    row = _upload(
        client,
        "/rounds/new",
        _files(("schools.csv", bad.encode())),
        **(header | {"round_id": "new"}),
    )
    assert row.status_code == 422
    assert re.search(r'<td class="num">2</td>\s*<td>lat</td>', row.get_data(as_text=True))
    elsewhere = _upload(
        client,
        "/rounds/new",
        _files(("schools.csv", TABLES["schools"].encode())),
        **(header | {"program": str(other.id), "round_id": "x"}),
    )
    assert elsewhere.status_code == 422  # not among the form's choices
    doc = generate_round(6, seed=5)
    doc["round"]["id"] = "from-doc"
    preview = _upload(
        client,
        "/rounds/new",
        _files(("round.json", json.dumps(doc).encode())),
        program=str(program.id),
    )
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    assert re.search(
        r'<th scope="row">students</th>\s*<td>round.json</td>\s*<td class="num">6</td>', html
    )
    created = client.post(
        "/rounds/new/create",
        data={
            "csrf_token": form_token(client, "/rounds/new"),
            "upload": _token(html),
            "program": str(program.id),
        },
    )
    assert created.status_code == 302
    forged = client.post(
        "/rounds/new/create",
        data={
            "csrf_token": form_token(client, "/rounds/new"),
            "upload": _token(html),
            "program": str(other.id),
        },
    )
    assert forged.status_code == 403


# --- The kept uploads -------------------------------------------------------------------------


def test_store_binds_uploads_to_their_owner_and_expires_them(tmp_path: Path) -> None:
    """A kept upload loads only for its owner, by a well-formed token, until it expires."""
    now = [1_000_000.0]
    store = UploadStore(tmp_path, max_age=dt.timedelta(hours=3), clock=lambda: now[0])
    upload = Upload(files=(TableFile("schools.csv", b"school_id,name\n"),), replace=True)
    token = store.save(Staged(owner="user 1 round 2", created=now[0], upload=upload, version=4))
    staged = store.load(token, "user 1 round 2")
    assert staged.upload == upload
    assert staged.version == 4
    with pytest.raises(UploadExpired):
        store.load(token, "user 2 round 2")
    with pytest.raises(UploadExpired):
        store.load("../" + token, "user 1 round 2")
    now[0] += 3 * 3600 + 1
    with pytest.raises(UploadExpired):
        store.load(token, "user 1 round 2")
    assert store.sweep() == 1
    assert not (tmp_path / token).exists()
