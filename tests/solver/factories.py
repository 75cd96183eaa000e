"""Builders for tiny hand-made `wbl-problem/1` rounds, and a solve that is always checked.

Defaults: one school at `SCHOOL`, one employer `emp1` (and `emp2` for mentors of another
employer), a fall round 2026-09-08 (a Tuesday) to 2026-12-18 in America/Chicago. A default
student is 16 on the round's first day, in grade 11, walks, and is open to every cluster; a
default opportunity is an internship at `NEAR` (a 10-minute walk from the school) with one
slot of one seat on Tuesdays 15:00-17:00. Ids are generated unless given, so a test names only
what it looks at.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from solver.check import check_solution
from solver.problem import problem_from_dict
from solver.solution import SolveOptions
from solver.solve import solve
from solver.validate import validate_problem

ROUND_START = "2026-09-08"  # a Tuesday
ROUND_END = "2026-12-18"

SCHOOL = {"lat": 41.88, "lon": -87.63}
# 0.005 degrees of latitude north of the school: d = 6371.0088 * radians(0.005) = 0.555975 km.
NEAR = {"lat": 41.885, "lon": -87.63}
# 0.02 degrees north: d = 2.223902 km.
FAR = {"lat": 41.90, "lon": -87.63}

# Birth dates by age on ROUND_START (2026-09-08).
AGE_13 = "2013-03-01"
AGE_14 = "2012-03-01"
AGE_15 = "2011-03-01"
AGE_16 = "2010-03-01"
AGE_17 = "2009-03-01"
AGE_18 = "2008-03-01"

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def weekly(day: str, start: str, end: str) -> dict[str, str]:
    return {"day": day, "start": start, "end": end}


def dated(date: str, start: str, end: str) -> dict[str, str]:
    return {"date": date, "start": start, "end": end}


def slot(**overrides: Any) -> dict[str, Any]:
    """One seat on Tuesdays 15:00-17:00."""
    out: dict[str, Any] = {
        "id": _next_id("slot"),
        "capacity": 1,
        "blocks": [weekly("tue", "15:00", "17:00")],
    }
    out.update(overrides)
    return out


def opportunity(**overrides: Any) -> dict[str, Any]:
    """An internship of `emp1` in cluster HLTH at NEAR, with one default slot."""
    ident = overrides.pop("id", None) or _next_id("opp")
    out: dict[str, Any] = {
        "id": ident,
        "employer": "emp1",
        "title": f"Opportunity {ident}",
        "kind": "internship",
        "cluster": "HLTH",
        "location": dict(NEAR),
        "slots": [slot()],
    }
    out.update(overrides)
    return out


def student(**overrides: Any) -> dict[str, Any]:
    """A 16-year-old in grade 11 at school sch1 who walks and is open to every cluster."""
    ident = overrides.pop("id", None) or _next_id("stu")
    out: dict[str, Any] = {
        "id": ident,
        "name": f"Student {ident}",
        "school": "sch1",
        "grade": 11,
        "birth_date": AGE_16,
        "travel_modes": ["walk"],
    }
    out.update(overrides)
    return out


def mentor(**overrides: Any) -> dict[str, Any]:
    """A community mentor (no employer) of any cluster, one student, no availability."""
    ident = overrides.pop("id", None) or _next_id("men")
    out: dict[str, Any] = {
        "id": ident,
        "name": f"Mentor {ident}",
        "employer": None,
        "clusters": [],
        "capacity": 1,
        "available": [],
    }
    out.update(overrides)
    return out


def make_doc(
    students: list[dict[str, Any]],
    opportunities: list[dict[str, Any]],
    mentors: list[dict[str, Any]] | None = None,
    *,
    travel: list[dict[str, Any]] | None = None,
    pins: list[dict[str, Any]] | None = None,
    forbidden: list[dict[str, Any]] | None = None,
    **round_overrides: Any,
) -> dict[str, Any]:
    """A whole round around the given students, opportunities and mentors."""
    rnd: dict[str, Any] = {
        "id": "r1",
        "name": "Fall 2026",
        "start_date": ROUND_START,
        "end_date": ROUND_END,
        "timezone": "America/Chicago",
    }
    rnd.update(round_overrides)
    return {
        "format": "wbl-problem/1",
        "round": rnd,
        "schools": [{"id": "sch1", "name": "Central High", "location": dict(SCHOOL)}],
        "students": students,
        "employers": [{"id": "emp1", "name": "Acme Health"}, {"id": "emp2", "name": "Beta Works"}],
        "opportunities": opportunities,
        "mentors": mentors or [],
        "travel": travel or [],
        "pins": pins or [],
        "forbidden": forbidden or [],
    }


def solve_and_check(doc: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """Solve a valid round and return the solution document; the independent checker must find
    nothing wrong with it."""
    issues = validate_problem(doc)
    assert issues == [], f"the test built an invalid round: {issues}"
    solution = solve(problem_from_dict(doc), SolveOptions(time_limit=10, workers=1, seed=seed))
    out = solution.to_dict()
    violations = check_solution(doc, out)
    assert violations == [], f"the checker refuses the solution: {violations}"
    return out


# --- Reading a solution -----------------------------------------------------------------------


def placement(sol: dict[str, Any], student_id: str) -> dict[str, Any] | None:
    """The student's assignment, or None when unplaced."""
    found = [a for a in sol["assignments"] if a["student"] == student_id]
    assert len(found) <= 1, f"{student_id} holds {len(found)} placements"
    return found[0] if found else None


def placed_at(sol: dict[str, Any], student_id: str) -> str | None:
    """The opportunity the student is placed at, or None."""
    a = placement(sol, student_id)
    return None if a is None else a["opportunity"]


def reasons(sol: dict[str, Any], student_id: str) -> dict[str, dict[str, Any]]:
    """The unplaced student's reasons by code; fails if the student was placed."""
    found = [u for u in sol["unplaced"] if u["student"] == student_id]
    assert len(found) == 1, f"{student_id} is not listed once among the unplaced"
    assert found[0]["reasons"], f"{student_id} is unplaced without a reason"
    return {r["code"]: r for r in found[0]["reasons"]}


def mentorship(sol: dict[str, Any], student_id: str) -> dict[str, Any] | None:
    found = [m for m in sol["mentorships"] if m["student"] == student_id]
    assert len(found) <= 1, f"{student_id} has {len(found)} community mentors"
    return found[0] if found else None


# --- The spec's travel estimate, written out again so tests do not trust the solver's ----------

_SPEED = {"walk": 4.8, "bike": 14.0, "transit": 18.0, "car": 35.0}
_OVERHEAD = {"walk": 0.0, "bike": 0.0, "transit": 10.0, "car": 5.0}


def estimate(origin: dict[str, float], dest: dict[str, float], mode: str) -> int:
    """`ceil(round(overhead + 60 * 1.3 * d / speed, 6))` with the haversine distance d in km."""
    p1, p2 = math.radians(origin["lat"]), math.radians(dest["lat"])
    dp, dl = p2 - p1, math.radians(dest["lon"] - origin["lon"])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    d = 2 * 6371.0088 * math.asin(math.sqrt(h))
    return math.ceil(round(_OVERHEAD[mode] + 60 * 1.3 * d / _SPEED[mode], 6))
