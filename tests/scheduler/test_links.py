"""Private links: tokens of >= 128 bits derived by HMAC, only their hash stored, one per person
and round, made at publish, rotated and revoked at once, resolved in constant time."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

import scheduler.actions as actions
from models import Employer, Mentor, PrivateLink, Program, Round, Student
from scheduler import links
from scheduler.access import LinkHolder
from tests.scheduler.published_rounds import SECRET, published_round


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(links.ENV_VAR, SECRET.decode())


def _people(session: Session, rnd: Round) -> int:
    return sum(
        session.scalar(select(func.count()).select_from(m).where(m.round_id == rnd.id)) or 0
        for m in (Student, Employer, Mentor)
    )


def _tokens(session: Session, rnd: Round) -> dict[tuple[str, str], str]:
    return {
        (r.kind, r.id): r.feed_url.removeprefix("http://x/feeds/").removesuffix(".ics")
        for r in links.link_rows(session, rnd, base_url="http://x", secret=SECRET)
    }


def test_publish_makes_one_link_per_person(session: Session, program: Program) -> None:
    """Publishing gives every student, employer and mentor of the round one link; again, none."""
    rnd = published_round(session, program)
    count = session.scalar(select(func.count()).select_from(PrivateLink))
    assert count == _people(session, rnd)
    assert links.ensure_links(session, rnd, secret=SECRET) == 0
    actions.publish(session, rnd, user=None)
    assert session.scalar(select(func.count()).select_from(PrivateLink)) == count


def test_database_holds_only_the_hash(session: Session, program: Program) -> None:
    """No column of private_links holds a token; the stored hash is the token's SHA-256 and
    the token (256 bits of HMAC) differs from anything computable without the secret."""
    rnd = published_round(session, program)
    tokens = _tokens(session, rnd)
    dump = "\n".join(
        "|".join(str(v) for v in row)
        for row in session.execute(text("SELECT * FROM private_links")).all()
    )
    hashes = set(session.scalars(select(PrivateLink.token_hash)))
    for token in tokens.values():
        assert len(token) == 43  # 32 bytes, unpadded base64url: 256 bits
        assert token not in dump
        assert hashlib.sha256(token.encode()).hexdigest() in hashes
    link = session.scalars(select(PrivateLink)).first()
    assert link is not None
    assert links.link_token(b"another secret", link.nonce) not in tokens.values()
    assert len(set(tokens.values())) == len(tokens)


def test_token_is_derived_again_from_secret_and_nonce(session: Session, program: Program) -> None:
    """HMAC re-derivation: the token listed again resolves to its person; under another secret
    the derived token resolves to nobody."""
    rnd = published_round(session, program)
    student = session.scalars(select(Student).where(Student.round_id == rnd.id)).first()
    assert student is not None
    token = _tokens(session, rnd)[("student", student.external_id)]
    assert links.holder_for_token(session, token) == LinkHolder(
        kind="student", round_id=rnd.id, row_id=student.id
    )
    assert _tokens(session, rnd)[("student", student.external_id)] == token
    link = session.scalars(select(PrivateLink).where(PrivateLink.student_id == student.id)).one()
    assert links.holder_for_token(session, links.link_token(b"wrong", link.nonce)) is None


def test_rotation_revokes_the_old_token_at_once(session: Session, program: Program) -> None:
    """Rotating a link: the old token resolves to nobody, the new one to the same person."""
    rnd = published_round(session, program)
    employer = session.scalars(select(Employer).where(Employer.round_id == rnd.id)).first()
    assert employer is not None
    old = _tokens(session, rnd)[("employer", employer.external_id)]
    new = links.rotate_link(session, rnd, "employer", employer.external_id, secret=SECRET)
    assert new != old
    assert links.holder_for_token(session, old) is None
    holder = links.holder_for_token(session, new)
    assert holder is not None
    assert (holder.kind, holder.row_id) == ("employer", employer.id)
    with pytest.raises(LookupError):
        links.rotate_link(session, rnd, "employer", "no-such-employer", secret=SECRET)


def test_revoked_closed_and_malformed_resolve_to_nobody(session: Session, program: Program) -> None:
    """A revoked link, a link of a closed round and a malformed token all give None."""
    rnd = published_round(session, program)
    tokens = _tokens(session, rnd)
    (kind, ext), token = next(iter(tokens.items()))
    assert links.holder_for_token(session, token) is not None
    assert links.revoke_link(session, rnd, kind, ext)
    assert links.holder_for_token(session, token) is None
    rows = {(r.kind, r.id): r for r in links.link_rows(session, rnd, base_url="", secret=SECRET)}
    assert rows[(kind, ext)].feed_url == ""
    other = next(t for k, t in tokens.items() if k != (kind, ext))
    actions.close(session, rnd, user=None)
    assert links.holder_for_token(session, other) is None
    for bad in ("", "short", "x" * 42 + "!", other + "a", "../" + other[3:]):
        assert links.holder_for_token(session, bad) is None


def test_people_added_later_get_links(session: Session, program: Program) -> None:
    """A student added after publishing gets a link from ensure_links, the others keep theirs."""
    rnd = published_round(session, program)
    before = _tokens(session, rnd)
    school = session.scalars(select(Student.school_id).where(Student.round_id == rnd.id)).first()
    session.add(
        Student(
            round_id=rnd.id,
            external_id="late-1",
            name="Late Comer",
            school_id=school,
            birth_date=dt.date(2010, 1, 1),
        )
    )
    session.flush()
    assert links.ensure_links(session, rnd, secret=SECRET) == 1
    after = _tokens(session, rnd)
    assert ("student", "late-1") in after
    assert {k: v for k, v in after.items() if k != ("student", "late-1")} == before


def test_secret_key_required_in_production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Production without WBL_SECRET_KEY refuses; development generates one key, kept 0600."""
    monkeypatch.delenv(links.ENV_VAR)
    monkeypatch.setenv("WBL_ENV", "production")
    with pytest.raises(links.SecretKeyMissing):
        links.secret_key(tmp_path)
    monkeypatch.setenv("WBL_ENV", "development")
    first = links.secret_key(tmp_path)
    assert len(first) >= 32
    assert links.secret_key(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    monkeypatch.setenv(links.ENV_VAR, "configured")
    assert links.secret_key(tmp_path) == b"configured"
