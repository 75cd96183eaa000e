"""Blueprint `coordinator`: the pages of coordinators, admins and viewers, behind a login.

Every route needs a logged-in, active account (else the login page, then back); what the
account may see and change is decided per object by the `scheduler` services the views call
(`scheduler.access`): a round of another program is not found (404), a viewer's change is
refused (403). Views are thin: parse the request, call one service, render or redirect.

The blueprint's modules, one per page or group of pages: `rounds` (the list of rounds, a
round's dashboard), `imports`, `assignments`, `students` (a student and the actions on them),
`runs` (solve, progress, cancel, keep, compare), `publish`, `audit`, `equity`. Each registers
its routes on `bp` when imported below.
"""

from __future__ import annotations

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue
from flask_login import current_user

__all__ = ["ROUND_NAV", "bp"]

bp = Blueprint("coordinator", __name__)

# The round pages' navigation, in order: (endpoint, label). Every round page shows it.
ROUND_NAV = (
    ("coordinator.dashboard", "Dashboard"),
    ("coordinator.import_round", "Import"),
    ("coordinator.assignments", "Assignments"),
    ("coordinator.compare", "Compare runs"),
    ("coordinator.equity", "Equity"),
    ("coordinator.publish", "Publish"),
    ("coordinator.audit", "Audit"),
)


@bp.before_request
def _logged_in() -> ResponseReturnValue | None:
    if not current_user.is_authenticated:
        manager = current_app.login_manager  # type: ignore[attr-defined]
        response: ResponseReturnValue = manager.unauthorized()
        return response
    return None


@bp.app_context_processor
def _navigation() -> dict[str, object]:
    # Only pages that exist in this app are linked (a test keeps ROUND_NAV complete).
    nav = tuple((e, label) for e, label in ROUND_NAV if e in current_app.view_functions)
    return {"round_nav": nav}


# The page modules register their routes on `bp`.
from web.coordinator import (  # noqa: E402
    assignments,
    audit,
    equity,
    imports,
    publish,
    rounds,
    runs,
    students,
)

__all__ += ["assignments", "audit", "equity", "imports", "publish", "rounds", "runs", "students"]
