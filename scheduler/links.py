"""Private links: one per student, employer and mentor of a round, the secret in a feed URL.

A link's token is `HMAC-SHA256(secret key, "wbl-link:" + nonce)` in URL-safe base64 (43
characters, 256 bits), where the nonce is 32 random bytes stored with the link. The database
keeps the nonce and the token's SHA-256, never the token: a leaked backup alone names no
working URL, yet the application (which holds the secret) can derive every token again to show
it (`wbl round links`). Changing the secret key therefore retires every link at once.

The secret key is `WBL_SECRET_KEY` (the web app reads the same variable through its config).
Outside production (`WBL_ENV` not `production`) a missing key is generated once and kept in
`instance/secret_key` (mode 0600) under the working directory, next to the default SQLite
database, so the command line and `wbl serve` agree on it; in production a missing key is an
error (`SecretKeyMissing`), never a silent default.

Links are made at publish and for people added later (`ensure_links`), one per person (the
unique keys of `PrivateLink`); rotating one (`rotate_link`) gives it a new nonce and hash in
place, so the old token stops resolving at once. `holder_for_token` turns a token into the
`LinkHolder` that access checks take, or None for anything that is not a live link of an open
round: malformed, unknown, revoked and closed all look the same to a caller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from models import (
    Employer,
    LinkKind,
    Mentor,
    PrivateLink,
    Round,
    RoundStatus,
    Student,
    utcnow,
)
from scheduler.access import LinkHolder

__all__ = [
    "ENV_VAR",
    "KINDS",
    "LinkRow",
    "SecretKeyMissing",
    "development_key",
    "ensure_links",
    "feed_url",
    "holder_for_digest",
    "holder_for_token",
    "holder_token",
    "is_production",
    "link_rows",
    "link_token",
    "page_url",
    "revoke_link",
    "rotate_link",
    "secret_key",
    "token_hash",
    "valid_token",
]

ENV_VAR: Final = "WBL_SECRET_KEY"
KINDS: Final = ("student", "employer", "mentor")
# 32 bytes of HMAC-SHA256 in unpadded URL-safe base64.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_NONCE_BYTES: Final = 32
# Rows inserted per statement when a big round gets its links.
_BATCH: Final = 5000

_PERSON_COLUMN = {
    LinkKind.student: PrivateLink.student_id,
    LinkKind.employer: PrivateLink.employer_id,
    LinkKind.mentor: PrivateLink.mentor_id,
}
_PERSON_MODEL: dict[LinkKind, type[Student] | type[Employer] | type[Mentor]] = {
    LinkKind.student: Student,
    LinkKind.employer: Employer,
    LinkKind.mentor: Mentor,
}


class SecretKeyMissing(RuntimeError):
    """Production without `WBL_SECRET_KEY`: links can be neither made nor shown."""


def is_production() -> bool:
    """`WBL_ENV=production`: secrets must be configured, nothing is generated."""
    return os.environ.get("WBL_ENV", "development").strip().lower() == "production"


def secret_key(instance_path: Path | None = None) -> bytes:
    """The application's secret key: `WBL_SECRET_KEY`, else (outside production) the key
    generated once in `instance/secret_key`; `SecretKeyMissing` in production without one."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return configured.encode()
    if is_production():
        raise SecretKeyMissing(
            f"{ENV_VAR} is not set: production needs the secret key that private links are"
            " derived from (set it in the environment of every web and command-line process)"
        )
    return development_key(instance_path or Path.cwd() / "instance")


def development_key(instance: Path) -> bytes:
    """The development secret key kept in `instance/secret_key`, generated the first time."""
    path = instance / "secret_key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48).encode()
    try:
        # O_EXCL: two processes starting at once keep whichever key was written first.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


# --- Tokens ------------------------------------------------------------------------------------


def link_token(secret: bytes, nonce: str) -> str:
    """The token of a link: HMAC of its nonce under the secret key (derived, never stored)."""
    digest = hmac.new(secret, b"wbl-link:" + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    """What the database stores and looks a token up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def valid_token(token: str) -> bool:
    """Does `token` have a token's shape (so it is worth a query)?"""
    return _TOKEN.fullmatch(token) is not None


def feed_url(base_url: str, token: str) -> str:
    """The feed's address under the web app's base URL."""
    return f"{base_url.rstrip('/')}/feeds/{token}.ics"


def page_url(base_url: str, token: str) -> str:
    """The person's page under the web app's base URL: the same token as their feed (the page
    takes it out of the address bar at once: `web.people`)."""
    return f"{base_url.rstrip('/')}/p/{token}"


def _new_secret(secret: bytes) -> tuple[str, str]:
    nonce = secrets.token_hex(_NONCE_BYTES)
    return nonce, token_hash(link_token(secret, nonce))


# --- Making, rotating and resolving links -------------------------------------------------------


def ensure_links(session: Session, rnd: Round, *, secret: bytes | None = None) -> int:
    """Give every student, employer and mentor of the round who has none a link; how many
    were made. Idempotent: publish calls it, and `wbl round links` before listing."""
    key = secret if secret is not None else secret_key()
    made = 0
    for kind, model in _PERSON_MODEL.items():
        column = _PERSON_COLUMN[kind]
        missing = session.scalars(
            select(model.id)
            .outerjoin(PrivateLink, column == model.id)
            .where(model.round_id == rnd.id, PrivateLink.id.is_(None))
            .order_by(model.id)
        ).all()
        now = utcnow()
        for start in range(0, len(missing), _BATCH):
            rows = []
            for person in missing[start : start + _BATCH]:
                nonce, digest = _new_secret(key)
                rows.append(
                    {
                        "round_id": rnd.id,
                        "kind": kind,
                        column.key: person,
                        "token_hash": digest,
                        "nonce": nonce,
                        "created_at": now,
                    }
                )
            session.execute(insert(PrivateLink), rows)
        made += len(missing)
    return made


def _link_of(session: Session, rnd: Round, kind: LinkKind, external_id: str) -> PrivateLink | None:
    model = _PERSON_MODEL[kind]
    return session.scalars(
        select(PrivateLink)
        .join(model, _PERSON_COLUMN[kind] == model.id)
        .where(model.round_id == rnd.id, model.external_id == external_id)
    ).one_or_none()


def rotate_link(
    session: Session, rnd: Round, kind: str, external_id: str, *, secret: bytes | None = None
) -> str:
    """Give the person's link a new token (the old one stops resolving at once, a revoked link
    comes back to life) and return it; `LookupError` when the round has no such person."""
    link_kind = LinkKind(kind)
    key = secret if secret is not None else secret_key()
    link = _link_of(session, rnd, link_kind, external_id)
    if link is None:
        model = _PERSON_MODEL[link_kind]
        found = session.scalar(
            select(model.id).where(model.round_id == rnd.id, model.external_id == external_id)
        )
        if found is None:
            raise LookupError(f"round {rnd.external_id!r} has no {kind} {external_id!r}")
        ensure_links(session, rnd, secret=key)
        link = _link_of(session, rnd, link_kind, external_id)
        assert link is not None
    link.nonce, link.token_hash = _new_secret(key)
    link.rotated_at = utcnow()
    link.revoked_at = None
    session.flush()
    return link_token(key, link.nonce)


def revoke_link(session: Session, rnd: Round, kind: str, external_id: str) -> bool:
    """Switch the person's link off without a replacement; False when they have none."""
    link = _link_of(session, rnd, LinkKind(kind), external_id)
    if link is None:
        return False
    link.revoked_at = utcnow()
    session.flush()
    return True


# Built once (its cache key is memoized): resolving runs on every feed request.
_RESOLVE: Final = (
    select(
        PrivateLink.token_hash,
        PrivateLink.kind,
        PrivateLink.round_id,
        PrivateLink.student_id,
        PrivateLink.employer_id,
        PrivateLink.mentor_id,
        PrivateLink.revoked_at,
        Round.status,
    )
    .join(Round, Round.id == PrivateLink.round_id)
    .where(PrivateLink.token_hash == bindparam("digest"))
)


def holder_for_token(session: Session, token: str) -> LinkHolder | None:
    """The holder of a live link of an open round, or None (malformed, unknown, revoked, or
    the round is closed): one indexed query."""
    if not valid_token(token):
        return None
    return holder_for_digest(session, token_hash(token))


def holder_for_digest(session: Session, digest: str) -> LinkHolder | None:
    """As `holder_for_token`, from the token's hash (what a page keeps in its session cookie
    once the token has left the address bar): re-checked on every request, so a link revoked
    or a round closed since takes effect at once."""
    row = session.execute(_RESOLVE, {"digest": digest}).one_or_none()
    # The index found the row; the comparison that decides is constant-time all the same.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.revoked_at is not None or RoundStatus(row.status) == RoundStatus.closed:
        return None
    kind = LinkKind(row.kind)
    person = {
        LinkKind.student: row.student_id,
        LinkKind.employer: row.employer_id,
        LinkKind.mentor: row.mentor_id,
    }[kind]
    assert person is not None  # the CHECK constraint of private_links
    holder_kind: Literal["employer", "student", "mentor"] = kind.value
    return LinkHolder(kind=holder_kind, round_id=row.round_id, row_id=person)


def holder_token(session: Session, holder: LinkHolder, *, secret: bytes | None = None) -> str:
    """The holder's token again (derived from their link's nonce), to show their feed's
    address on their page; `LookupError` if the link is gone."""
    column = _PERSON_COLUMN[LinkKind(holder.kind)]
    nonce = session.scalar(
        select(PrivateLink.nonce).where(
            column == holder.row_id, PrivateLink.round_id == holder.round_id
        )
    )
    if nonce is None:
        raise LookupError(f"no link for this {holder.kind}")
    return link_token(secret if secret is not None else secret_key(), nonce)


# --- Listing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRow:
    """One person's row of `wbl round links`: `feed_url` and `page_url` empty for a revoked
    link."""

    kind: str
    id: str
    name: str
    email: str
    feed_url: str
    page_url: str = ""


def link_rows(
    session: Session,
    rnd: Round,
    *,
    base_url: str,
    secret: bytes | None = None,
    kinds: tuple[str, ...] = KINDS,
    after: str | None = None,
    limit: int | None = None,
) -> Iterator[LinkRow]:
    """Every person's link of the round, students then employers then mentors, each by id:
    streamed (rows are read in batches, never the whole round at once). A page of them:
    `after` an id (ids after it, in each kind) and `limit` (at most so many, in each kind)."""
    key = secret if secret is not None else secret_key()
    for kind in kinds:
        link_kind = LinkKind(kind)
        model = _PERSON_MODEL[link_kind]
        email = (
            Student.email
            if model is Student
            else Employer.contact_email
            if model is Employer
            else None
        )
        columns = [model.external_id, model.name, PrivateLink.nonce, PrivateLink.revoked_at]
        if email is not None:
            columns.append(email)
        stmt = (
            select(*columns)
            .join(PrivateLink, _PERSON_COLUMN[link_kind] == model.id)
            .where(model.round_id == rnd.id)
            .order_by(model.external_id)
            .execution_options(yield_per=2000)
        )
        if after is not None:
            stmt = stmt.where(model.external_id > after)
        if limit is not None:
            stmt = stmt.limit(limit)
        # `with`: a caller that stops reading early (next(), a client gone mid-download)
        # closes the server-side cursor when the generator is closed, not at garbage collection.
        with session.execute(stmt) as result:
            for row in result:
                token = "" if row[3] is not None else link_token(key, str(row[2]))
                yield LinkRow(
                    kind=kind,
                    id=str(row[0]),
                    name=str(row[1]),
                    email=str(row[4] or "") if email is not None else "",
                    feed_url=feed_url(base_url, token) if token else "",
                    page_url=page_url(base_url, token) if token else "",
                )
