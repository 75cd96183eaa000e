"""The route walker of the web tests: every rule of the app's URL map turned into requests,
its parameters filled by name from a published round's rows, and what each kind of visitor must
be answered (tests/web/test_route_walk.py, tests/web/test_page_hygiene.py).

A rule whose parameter the walker does not know is reported, not skipped: a new route cannot
escape the walk. Teach the walker by adding the parameter to `round_values` (an id of the
round's rows: also to `OBJECT_PARAMS`) or to `PLAIN_VALUES` (a fixed word), or give it an
`any(...)` converter (every item is walked).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule
from werkzeug.routing.converters import AnyConverter
from werkzeug.test import TestResponse

from models import (
    Assignment,
    AuditEvent,
    Employer,
    Mentor,
    Opportunity,
    Round,
    School,
    Slot,
    SolveRun,
    Student,
)
from scheduler.tables import KIND_ORDER

# Parameters naming a row of the round (or the round, or its program): a visitor who may not
# read the round must not find them.
OBJECT_PARAMS = frozenset(
    {
        "round_id",
        "program_id",
        "student_id",
        "run_id",
        "opportunity_id",
        "employer_id",
        "mentor_id",
        "slot_id",
        "school_id",
        "event_id",
    }
)

# Parameters that name no row: one fixed value each.
PLAIN_VALUES: Mapping[str, str] = {
    "fmt": "csv",
    "kind": KIND_ORDER[0],
    "filename": "app.css",
}

# Values of one endpoint's parameters, where a word means something to that endpoint only
# (a tuple: each value is walked). The equity charts are issue 11's equity page.
ENDPOINT_VALUES: Mapping[str, Mapping[str, object]] = {
    "coordinator.equity_chart": {
        "name": ("groups", "schools", "clusters", "kinds", "ranks", "travel", "map"),
    },
}

# Endpoints anyone may reach without logging in (the login page, its logout, static files).
PUBLIC = frozenset({"auth.login", "auth.logout", "static"})
# Blueprints behind the coordinators' login.
LOGIN_BLUEPRINTS = frozenset({"coordinator"})
# Blueprints of private links' holders (issue 12's people pages, the calendar feeds): no login;
# without a live link (in the URL as `<token>`, or kept in the session by `/p/<token>`) every
# request is answered 404.
LINK_BLUEPRINTS = frozenset({"feeds", "people", "employer", "student", "mentor"})

# POSTs that only read (search text travels in a POST body so that it stays out of URLs and
# logs): a viewer may send them. Everything else a viewer POSTs is refused with 403.
READ_ONLY_POSTS: Mapping[str, str] = {
    "coordinator.assignments_search": "keeps the search text in the session, changes nothing",
}

# GET pages a viewer is refused (403), each with its reason: a viewer reads the round, but not
# the people's private links (credentials) and not the forms that only create.
VIEWER_REFUSED_GETS: Mapping[str, str] = {
    "coordinator.links_csv": "every person's private link: credentials a viewer must not hold",
    "coordinator.new_round": "the form that creates a round: a viewer creates nothing",
}

# A token of the right shape that is no link (the walk's "no valid token").
BOGUS_TOKEN = "A" * 43


@dataclass(frozen=True, slots=True)
class Target:
    """One request of the walk: a rule, one of its methods, the path built for it."""

    endpoint: str
    rule: str
    method: str
    path: str
    params: frozenset[str]

    @property
    def blueprint(self) -> str:
        return self.endpoint.rpartition(".")[0]

    @property
    def public(self) -> bool:
        return self.endpoint in PUBLIC

    @property
    def by_link(self) -> bool:
        """A page of a private link's holder: the link is the credential, no login."""
        return not self.public and self.blueprint in LINK_BLUEPRINTS

    @property
    def by_token(self) -> bool:
        """A private link's own route: the token is in the URL."""
        return self.by_link and "token" in self.params

    @property
    def needs_login(self) -> bool:
        return not self.public and self.blueprint in LOGIN_BLUEPRINTS

    @property
    def about_round(self) -> bool:
        """The path names the round or one of its rows."""
        return bool(self.params & OBJECT_PARAMS)

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.endpoint}, rule {self.rule})"


def round_values(session: Session, round_id: int, token: str) -> dict[str, object]:
    """A value for every parameter the walker knows, taken from the round `round_id` (published,
    with a chosen run) and a live private-link `token` of one of its people."""
    rnd = session.get_one(Round, round_id)
    run_id = rnd.chosen_run_id
    placed = session.execute(
        select(Assignment).where(Assignment.run_id == run_id).order_by(Assignment.id).limit(1)
    ).scalar_one()
    mentor = session.scalars(
        select(Mentor.id).where(Mentor.round_id == round_id).order_by(Mentor.id).limit(1)
    ).first()
    event = session.scalars(
        select(AuditEvent.id).where(AuditEvent.round_id == round_id).order_by(AuditEvent.id)
    ).first()
    values: dict[str, object] = {
        "round_id": round_id,
        "program_id": rnd.program_id,
        "run_id": run_id,
        "student_id": placed.student_id,
        "opportunity_id": placed.opportunity_id,
        "slot_id": placed.slot_id,
        "mentor_id": placed.mentor_id or mentor,
        "employer_id": session.get_one(Opportunity, placed.opportunity_id).employer_id,
        "school_id": session.get_one(Student, placed.student_id).school_id,
        "event_id": event,
        "token": token,
        **PLAIN_VALUES,
    }
    for name, value in values.items():
        assert value is not None, f"the walk's round has no row for {name}"
    # Rows that exist, so a 404 below means "not yours", never "not there".
    for model, key in (
        (SolveRun, "run_id"),
        (Slot, "slot_id"),
        (Employer, "employer_id"),
        (Mentor, "mentor_id"),
        (School, "school_id"),
    ):
        assert session.get(model, values[key]) is not None
    return values


def _choices(rule: Rule, name: str, values: Mapping[str, object]) -> list[object] | None:
    converter = rule._converters.get(name)  # werkzeug keeps them here
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)
    special = ENDPOINT_VALUES.get(rule.endpoint or "", {})
    if name in special:
        value = special[name]
        return list(value) if isinstance(value, tuple) else [value]
    if name in values:
        return [values[name]]
    return None


def _combinations(
    rule: Rule, values: Mapping[str, object]
) -> Iterator[dict[str, object]] | list[str]:
    """Every filling of the rule's parameters, or the names of those the walker does not know."""
    names = sorted(rule.arguments)
    options: list[list[object]] = []
    unknown: list[str] = []
    for name in names:
        found = _choices(rule, name, values)
        if found is None:
            unknown.append(name)
        else:
            options.append(found)
    if unknown:
        return unknown

    def fill(i: int, done: dict[str, object]) -> Iterator[dict[str, object]]:
        if i == len(names):
            yield dict(done)
            return
        for option in options[i]:
            done[names[i]] = option
            yield from fill(i + 1, done)

    return fill(0, {})


def targets(app: Flask, values: Mapping[str, object]) -> tuple[list[Target], list[str]]:
    """Every (rule, method, filling) of the app, and a line for each rule the walker cannot
    fill."""
    out: list[Target] = []
    problems: list[str] = []
    with app.test_request_context():
        adapter = app.url_map.bind("localhost")
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
            blueprint = rule.endpoint.rpartition(".")[0]
            if rule.endpoint not in PUBLIC and not (
                blueprint in LOGIN_BLUEPRINTS or blueprint in LINK_BLUEPRINTS
            ):
                problems.append(
                    f"rule {rule.rule} ({rule.endpoint}): the route walker does not know whether"
                    f" blueprint {blueprint or '(none)'!r} is behind the login or a private link:"
                    " teach the walker (tests/web/walker.py: LOGIN_BLUEPRINTS, LINK_BLUEPRINTS,"
                    " PUBLIC)"
                )
                continue
            filled = _combinations(rule, values)
            if isinstance(filled, list):
                problems.append(
                    f"rule {rule.rule} ({rule.endpoint}) has parameter(s) {', '.join(filled)}"
                    " that the route walker does not know: teach the walker (tests/web/walker.py:"
                    " round_values / OBJECT_PARAMS for a row's id, PLAIN_VALUES for a word)"
                )
                continue
            for params in filled:
                path = adapter.build(rule.endpoint, params, force_external=False)
                for method in sorted(rule.methods or ()):
                    out.append(
                        Target(
                            endpoint=rule.endpoint,
                            rule=rule.rule,
                            method=method,
                            path=path,
                            params=frozenset(rule.arguments),
                        )
                    )
    return out, problems


def with_token(target: Target, token: str, bogus: str) -> Target:
    """The same request with another token in place of the live one."""
    return Target(
        endpoint=target.endpoint,
        rule=target.rule,
        method=target.method,
        path=target.path.replace(token, bogus),
        params=target.params,
    )


def location(response: TestResponse) -> str:
    """The path a redirect points to ('' when it is not a redirect)."""
    if response.status_code not in (301, 302, 303, 307, 308):
        return ""
    return urlsplit(response.headers.get("Location", "")).path


def to_login(response: TestResponse) -> bool:
    """A redirect to the login page."""
    return location(response) == "/login"


_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(page: TestResponse) -> str:
    """The CSRF token of the page's first form."""
    found = _TOKEN.search(page.get_data(as_text=True))
    assert found is not None, "no CSRF token on the page"
    return found.group(1)
