"""The one refusal type of the application's services, and its kinds.

Every service of `scheduler` (actions, queries, access, importers) refuses with `ActionRefused`
or a subclass: nothing was written, and `rule` names what would break, so the command line and
the pages can say it the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ActionRefused", "MoveRefused", "NotAllowed", "PinRefused", "RoundChanged"]


class ActionRefused(Exception):
    """An action that would break a rule; nothing was written.

    `rule` is `H1`..`H9` (the spec's hard constraints), `state` (the round's lifecycle: closed,
    no chosen run...), `version` (the round changed since it was loaded) or `access` (the user
    may not act on the round); `codes` are the solver's reason codes behind an H3-H7 refusal.
    The message starts with the rule."""

    def __init__(self, rule: str, message: str, *, codes: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.codes = tuple(codes)


class MoveRefused(ActionRefused):
    """A move, placement or unplacement that would break `rule`."""


class PinRefused(ActionRefused):
    """A pin that cannot hold on its own, or a forbidden pair that a pin requires."""


class RoundChanged(ActionRefused):
    """The round was changed by a whole-round action since the caller loaded it: reload."""

    def __init__(self, message: str) -> None:
        super().__init__("version", message)


class NotAllowed(ActionRefused):
    """The actor may not see or change the object (an inactive account, not a member of the
    round's program with a role that allows it, a link holder asking for someone else's
    data), or a row passed in belongs to another round: rule `access`."""

    def __init__(self, message: str) -> None:
        super().__init__("access", message)
