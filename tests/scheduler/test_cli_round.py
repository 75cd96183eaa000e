"""`wbl round calendars`, `wbl round links` and the coordinator actions on the command line:
files equal to the served feeds, the links CSV, a refused move exiting 2 with its rule."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import scheduler.cli_round as cli_round
from models import (
    Assignment,
    AuditEvent,
    Employer,
    Mentor,
    Pin,
    Program,
    Round,
    Slot,
    Student,
    make_session_factory,
)
from scheduler import links
from scheduler.cli import main
from tests.scheduler.published_rounds import SECRET, published_round
from web import create_app


@pytest.fixture(autouse=True)
def _database(monkeypatch: pytest.MonkeyPatch, engine: Engine) -> None:
    """The commands run on the test's database, with the test's secret key."""
    monkeypatch.setattr(cli_round, "connect", lambda: make_session_factory(engine))
    monkeypatch.setenv(links.ENV_VAR, SECRET.decode())


@pytest.fixture
def rnd(session: Session, program: Program) -> Round:
    r = published_round(session, program)
    session.commit()
    return r


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _links(program: Program, rnd: Round, *extra: str) -> list[dict[str, str]]:
    code, out, err = _invoke(
        "round", "links", rnd.external_id, "--program", program.slug, "--base-url", "", *extra
    )
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


def test_links_csv_lists_everyone_once(session: Session, program: Program, rnd: Round) -> None:
    """One row per student, employer and mentor, with the header of the issue; a feed URL
    that resolves to that person; a page URL with the feed's token; formula-like names
    neutralised."""
    student = session.scalars(select(Student).where(Student.round_id == rnd.id)).first()
    assert student is not None
    student.name = "=HYPERLINK(evil)"
    session.commit()
    rows = _links(program, rnd)
    assert list(rows[0]) == ["kind", "id", "name", "email", "feed_url", "page_url"]
    people = sum(
        session.scalar(select(func.count()).select_from(m).where(m.round_id == rnd.id)) or 0
        for m in (Student, Employer, Mentor)
    )
    assert len(rows) == people
    assert len({(r["kind"], r["id"]) for r in rows}) == people
    assert all(
        r["page_url"].split("/p/")[1] == r["feed_url"].split("/feeds/")[1].removesuffix(".ics")
        for r in rows
    )
    mine = next(r for r in rows if r["id"] == student.external_id)
    assert mine["name"] == "'=HYPERLINK(evil)"
    holder = links.holder_for_token(
        session, mine["feed_url"].removeprefix("/feeds/").removesuffix(".ics")
    )
    assert holder is not None
    assert (holder.kind, holder.row_id) == ("student", student.id)


def test_links_rotate_prints_the_new_row(session: Session, program: Program, rnd: Round) -> None:
    """--rotate KIND:ID prints that person's new row; the old URL no longer resolves."""
    before = {(r["kind"], r["id"]): r["feed_url"] for r in _links(program, rnd)}
    kind, ext = next(k for k in before if k[0] == "employer")
    rows = _links(program, rnd, "--rotate", f"{kind}:{ext}")
    assert [(r["kind"], r["id"]) for r in rows] == [(kind, ext)]
    assert rows[0]["feed_url"] != before[(kind, ext)]
    old = before[(kind, ext)].removeprefix("/feeds/").removesuffix(".ics")
    assert links.holder_for_token(session, old) is None
    code, _, err = _invoke(
        "round", "links", rnd.external_id, "--program", program.slug, "--rotate", "nobody:x"
    )
    assert code == 2
    assert "KIND:ID" in err


def test_links_refused_without_a_key_in_production(
    monkeypatch: pytest.MonkeyPatch, program: Program, rnd: Round
) -> None:
    """Outside development, no WBL_SECRET_KEY: exit 2 saying so, no link printed."""
    monkeypatch.delenv(links.ENV_VAR)
    monkeypatch.setenv("WBL_ENV", "production")
    code, out, err = _invoke("round", "links", rnd.external_id, "--program", program.slug)
    assert code == 2
    assert "WBL_SECRET_KEY" in err
    assert "/feeds/" not in out


def test_calendar_files_equal_served_feeds(
    tmp_path: Path, engine: Engine, session: Session, program: Program, rnd: Round
) -> None:
    """students/, employers/ and mentors/ hold one file per person, named by id, each the
    bytes the web app serves for that person's link."""
    code, out, err = _invoke(
        "round", "calendars", rnd.external_id, "--program", program.slug, "-o", str(tmp_path)
    )
    assert code == 0, err
    assert "calendars in" in out
    rows = _links(program, rnd)
    app: Flask = create_app({"TESTING": True, "DATABASE_ENGINE": engine})
    client = app.test_client()
    folders = {"student": "students", "employer": "employers", "mentor": "mentors"}
    for row in rows:
        path = tmp_path / folders[row["kind"]] / f"{row['id']}.ics"
        assert path.read_bytes() == client.get(row["feed_url"]).data, row["id"]
    assert sum(1 for _ in tmp_path.rglob("*.ics")) == len(rows)
    # Written again without a change: the same bytes.
    first = {p: p.read_bytes() for p in tmp_path.rglob("*.ics")}
    assert (
        _invoke(
            "round",
            "calendars",
            rnd.external_id,
            "--program",
            program.slug,
            "-o",
            str(tmp_path),
            "-q",
        )[0]
        == 0
    )
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.ics")} == first


def test_file_names_never_leave_their_folder() -> None:
    """Ids with slashes or dots are percent-encoded into one file name."""
    assert cli_round.file_name("a/../b") == "a%2F..%2Fb.ics"
    assert cli_round.file_name("..") == "%2E%2E.ics"
    assert cli_round.file_name("st-1") == "st-1.ics"


def _state(session: Session, rnd: Round) -> tuple[object, ...]:
    session.expire_all()
    return (
        session.execute(
            select(Assignment.student_id, Assignment.slot_id, Assignment.status)
            .where(Assignment.run_id == rnd.chosen_run_id)
            .order_by(Assignment.student_id)
        ).all(),
        session.scalar(select(func.count()).select_from(Pin)),
        session.scalar(select(func.count()).select_from(AuditEvent)),
    )


def test_refused_move_exits_2_with_the_rule(session: Session, program: Program, rnd: Round) -> None:
    """A move into a full slot is refused: exit 2, the message names H2, nothing written."""
    placed = session.scalars(
        select(Assignment).where(Assignment.run_id == rnd.chosen_run_id).order_by(Assignment.id)
    ).all()
    b = placed[0]
    a = next(x for x in placed if x.slot_id != b.slot_id)
    full = session.get_one(Slot, b.slot_id)
    full.capacity = sum(1 for x in placed if x.slot_id == full.id)
    session.commit()
    before = _state(session, rnd)
    code, _, err = _invoke(
        "round",
        "move",
        rnd.external_id,
        a.student.external_id,
        full.opportunity.external_id,
        full.external_id,
        "--program",
        program.slug,
    )
    assert code == 2
    assert err.startswith("refused: H")
    assert _state(session, rnd) == before


def test_actions_run_with_the_rounds_ids(session: Session, program: Program, rnd: Round) -> None:
    """pin, unpin, unplace and forbid act on the round's external ids; an unknown id exits 2
    with the lookup rule."""
    pinned = select(Pin.student_id)
    a = session.scalars(
        select(Assignment)
        .where(Assignment.run_id == rnd.chosen_run_id, Assignment.student_id.not_in(pinned))
        .order_by(Assignment.id)
    ).first()
    assert a is not None
    st, opp, student_id = a.student.external_id, a.opportunity.external_id, a.student_id
    base = (rnd.external_id, st)
    prog = ("--program", program.slug)
    pins = select(func.count()).select_from(Pin).where(Pin.student_id == student_id)
    assert session.scalar(pins) == 0
    assert _invoke("round", "pin", *base, opp, *prog)[0] == 0
    assert session.scalar(pins) == 1
    assert _invoke("round", "unpin", *base, *prog)[0] == 0
    session.expire_all()
    assert session.scalar(pins) == 0
    assert _invoke("round", "unplace", *base, *prog)[0] == 0
    session.expire_all()
    assert (
        session.scalar(
            select(Assignment.id).where(
                Assignment.run_id == rnd.chosen_run_id, Assignment.student_id == student_id
            )
        )
        is None
    )
    assert _invoke("round", "forbid", *base, opp, *prog)[0] == 0
    code, _, err = _invoke("round", "unplace", rnd.external_id, "no-such-student", *prog)
    assert code == 2
    assert "lookup" in err


def test_publish_without_a_key_in_production_exits_2(
    monkeypatch: pytest.MonkeyPatch, engine: Engine, program: Program, rnd: Round
) -> None:
    """Publishing makes every person's link: when the key to derive them from is missing (in
    production), the command says so in one line and exits 2, with no traceback."""
    import scheduler.cli as cli

    monkeypatch.setattr(cli, "connect", lambda: make_session_factory(engine))
    monkeypatch.delenv(links.ENV_VAR)
    monkeypatch.setenv("WBL_ENV", "production")

    def no_key(*args: object, **kwargs: object) -> None:
        links.secret_key()

    monkeypatch.setattr(cli, "publish", no_key)
    code, _, err = _invoke("round", "publish", rnd.external_id, "--program", program.slug)
    assert code == 2
    assert "WBL_SECRET_KEY" in err
    assert "Traceback" not in err
