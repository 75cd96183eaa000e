"""Solver knobs and the answer to a round (`wbl-solution/1`), as frozen data with a JSON form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LEVELS: tuple[str, ...] = ("placed_weighted", "mentored", "preference_score", "travel_minutes")


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """A progress report: what the solver is doing, and how far along it is (0..1)."""

    stage: str
    fraction: float
    elapsed: float


# Assignment statuses (an added field of `wbl-solution/1` assignments): `proposed` by the
# solver, `pinned` by a coordinator's pin, `published` to employer and student, `confirmed` or
# `declined` by the employer. A re-solve keeps the published and confirmed ones.
STATUSES: tuple[str, ...] = ("proposed", "pinned", "published", "confirmed", "declined")
KEPT_STATUSES: frozenset[str] = frozenset({"published", "confirmed"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Previous:
    """A placement from an earlier run, for a re-solve that disturbs as little as possible.

    `status` is the assignment's (see `STATUSES`). Published and confirmed placements are kept
    whenever they still hold (a level above placing more students: only a rule, a pin or
    another kept placement can move one, and the change then says which and why). A
    `declined` one is not offered again: the re-solve places the student elsewhere, unless a
    pin asks for that opportunity. Moving any other student is penalised right below placing
    more students."""

    student: str
    opportunity: str
    slot: str
    status: str = "proposed"

    @property
    def keep(self) -> bool:
        """Published or confirmed: kept whenever it still holds."""
        return self.status in KEPT_STATUSES

    @property
    def declined(self) -> bool:
        return self.status == "declined"


@dataclass(frozen=True, slots=True, kw_only=True)
class SolveOptions:
    """How to solve, apart from what: time limit, parallelism, the lottery seed.

    `time_limit` is for the whole solve; the exact flow always runs to its end, and the
    community-mentor meeting search and re-placements get what is left (none when nothing is).
    """

    time_limit: float = 60.0
    workers: int = 2
    seed: int = 0
    # Deterministic: CP-SAT runs with one worker and no time-dependent stop, so that the same
    # problem and seed always give the same solution.
    deterministic: bool = False
    log: bool = False
    # False: skip community-mentor meetings (the flow alone: exact for the rest, a baseline),
    # except those that pins name, which always hold.
    community_mentors: bool = True
    # Placements of an earlier run: keep them where possible (see Previous).
    previous: tuple[Previous, ...] = ()
    # Community mentors offered to each student wanting one, in the CP-SAT model.
    mentor_candidates: int = 3
    progress: Callable[[Progress], None] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    student: str
    opportunity: str
    slot: str
    travel_mode: str
    travel_minutes: int
    mentor: str | None = None
    preference_rank: int | None = None
    # An added field (see `STATUSES`): `pinned` where a pin asked for the placement, the
    # earlier status where a re-solve kept a published or confirmed placement, else `proposed`.
    status: str = "proposed"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "student": self.student,
            "opportunity": self.opportunity,
            "slot": self.slot,
            "travel_mode": self.travel_mode,
            "travel_minutes": self.travel_minutes,
        }
        if self.mentor is not None:
            out["mentor"] = self.mentor
        if self.preference_rank is not None:
            out["preference_rank"] = self.preference_rank
        out["status"] = self.status
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Mentorship:
    student: str
    mentor: str
    day: str
    start: str
    end: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "student": self.student,
            "mentor": self.mentor,
            "day": self.day,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """How a re-solve changed a student's placement relative to `SolveOptions.previous`."""

    student: str
    before: tuple[str, str] | None  # (opportunity, slot)
    after: tuple[str, str] | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        def place(x: tuple[str, str] | None) -> dict[str, str] | None:
            return {"opportunity": x[0], "slot": x[1]} if x is not None else None

        return {
            "student": self.student,
            "from": place(self.before),
            "to": place(self.after),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    code: str
    count: int | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code}
        if self.count is not None:
            out["count"] = self.count
        if self.detail is not None:
            out["detail"] = self.detail
        return out

    def __str__(self) -> str:
        return f"{self.code} x{self.count}" if self.count is not None else self.code


@dataclass(frozen=True, slots=True, kw_only=True)
class Unplaced:
    student: str
    reasons: tuple[Reason, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"student": self.student, "reasons": [r.to_dict() for r in self.reasons]}


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMetrics:
    students: int
    placed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    students: int
    placed: int
    placed_weighted: int
    first_choice: int
    top3: int
    unranked: int
    mentored: int
    mean_travel_minutes: float
    by_group: dict[str, GroupMetrics]

    def to_dict(self) -> dict[str, Any]:
        return {
            "students": self.students,
            "placed": self.placed,
            "placed_weighted": self.placed_weighted,
            "first_choice": self.first_choice,
            "top3": self.top3,
            "unranked": self.unranked,
            "mentored": self.mentored,
            "mean_travel_minutes": self.mean_travel_minutes,
            "by_group": {
                k: {"students": g.students, "placed": g.placed}
                for k, g in sorted(self.by_group.items())
            },
        }


# Integers up to 2^53 are read exactly by every JSON reader (JavaScript's numbers are doubles).
SAFE_INTEGER = 1 << 53


def reader_safe(value: int) -> int | float:
    """`objective`/`bound` as written: the integer itself while every reader reads it exactly
    (|value| <= 2^53), else the nearest double, written as its shortest decimal, which every
    reader parses to that same double. The exact values are `objective_levels`/`bound_levels`."""
    return value if abs(value) <= SAFE_INTEGER else float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Solution:
    """The answer. `objective_levels`/`bound_levels` (an extension of the format) give the four
    levels of the objective; `objective` and `bound` weigh them into one number, and `gap` is
    the relative gap at the first level where the two differ."""

    status: str
    objective: int
    bound: int
    gap: float
    wall_seconds: float
    assignments: tuple[Assignment, ...] = ()
    mentorships: tuple[Mentorship, ...] = ()
    unplaced: tuple[Unplaced, ...] = ()
    metrics: Metrics | None = None
    objective_levels: tuple[int, ...] = ()
    bound_levels: tuple[int, ...] = ()
    infeasible_pins: tuple[int, ...] = ()
    changes: tuple[Change, ...] | None = None
    lottery: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": "wbl-solution/1",
            "status": self.status,
            "objective": reader_safe(self.objective),
            "bound": reader_safe(self.bound),
            "gap": self.gap,
            "wall_seconds": round(self.wall_seconds, 3),
            # Every assignment carries its status (issue 9), a first answer's too: readers
            # need not know that a missing one means proposed or pinned.
            "assignments": [a.to_dict() for a in self.assignments],
            "mentorships": [m.to_dict() for m in self.mentorships],
            "unplaced": [u.to_dict() for u in self.unplaced],
            "metrics": self.metrics.to_dict() if self.metrics is not None else None,
            "objective_levels": dict(zip(LEVELS, self.objective_levels, strict=False)),
            "bound_levels": dict(zip(LEVELS, self.bound_levels, strict=False)),
            "lottery": self.lottery,
            "stats": self.stats,
        }
        if self.status == "infeasible":
            out["infeasible_pins"] = list(self.infeasible_pins)
        if self.changes is not None:
            out["changes"] = [c.to_dict() for c in self.changes]
        return out
