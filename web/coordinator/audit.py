"""The audit page: the round's events, newest first, filtered by action, student and
account, page by page (keyset on the event id)."""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue

from scheduler.audit_log import AuditFilter, audit_page
from web.coordinator import bp
from web.coordinator.common import actor, round_of
from web.db import get_session

# Longest filter value taken from the query string (ids and action names are short).
_MAX = 64
# Events per page.
AUDIT_PAGE = 50


def _text(name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    return value[:_MAX] or None


@bp.get("/rounds/<int:round_id>/audit")
def audit(round_id: int) -> ResponseReturnValue:
    """The round's audit trail."""
    rnd = round_of(round_id)
    filters = AuditFilter(
        action=_text("action"),
        student=_text("student"),
        user_id=request.args.get("user", type=int),
    )
    after = request.args.get("after", type=int)
    cursor = after if after is not None and after > 0 else None
    page = audit_page(get_session(), rnd, actor(), filters, after=cursor, limit=AUDIT_PAGE)
    return render_template("coordinator/audit.html", rnd=rnd, page=page, filters=filters)
