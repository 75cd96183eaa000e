"""What the coordinator's views share: the acting account, and the round of a URL."""

from __future__ import annotations

from flask_login import current_user

from models import Round, User
from scheduler.access import require_edit
from scheduler.queries import get_round
from web.db import get_session

__all__ = ["actor", "editable_round", "round_of"]


def actor() -> User:
    """The logged-in account's `User`: the actor every service is given."""
    user: User = current_user.user
    return user


def round_of(round_id: int) -> Round:
    """The round of the URL, if the account may read it (else the 404 of `UnknownId`)."""
    return get_round(get_session(), round_id, actor())


def editable_round(round_id: int) -> Round:
    """The round of a URL that changes it: read as `round_of`, then the account must be allowed
    to change it (`NotAllowed`, 403, for a viewer) before any form is read."""
    rnd = round_of(round_id)
    require_edit(get_session(), rnd, actor())
    return rnd
