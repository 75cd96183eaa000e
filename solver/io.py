"""Reading a problem document: JSON text to a validated `Problem`, or every defect at once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from solver.problem import Problem, problem_from_dict
from solver.validate import ValidationIssue, validate_problem


class ProblemError(ValueError):
    """A problem document that is not a valid `wbl-problem/1`; `issues` lists every defect."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def load_problem(doc: object) -> Problem:
    """Validate a parsed JSON document and build the `Problem`; raise `ProblemError` if invalid."""
    issues = validate_problem(doc)
    if issues:
        raise ProblemError(issues)
    assert isinstance(doc, dict)
    return problem_from_dict(doc)


def read_problem(path: str | Path) -> Problem:
    """Read and validate a problem file (invalid JSON is reported as a `ProblemError` too)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ProblemError(
            [
                ValidationIssue(
                    path="$",
                    message=f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                )
            ]
        ) from exc
    except UnicodeDecodeError as exc:
        raise ProblemError(
            [ValidationIssue(path="$", message=f"not UTF-8 text: {exc.reason}")]
        ) from exc
    return load_problem(doc)


def expand_travel_groups(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The same round without the `travel_groups` extension: each group entry becomes a
    `travel` entry of every member that has none of its own for that opportunity and mode, so
    a reader of the plain format computes the same travel times. The result can be large
    (members times entries): meant for rounds of a few thousand students."""
    out = {k: v for k, v in doc.items() if k != "travel_groups"}
    travel = list(doc.get("travel") or ())
    own = {(t["student"], t["opportunity"], t["mode"]) for t in travel}
    for group in doc.get("travel_groups") or ():
        for t in group.get("travel") or ():
            for sid in group["students"]:
                if (sid, t["opportunity"], t["mode"]) not in own:
                    travel.append(
                        {
                            "student": sid,
                            "opportunity": t["opportunity"],
                            "mode": t["mode"],
                            "minutes": t["minutes"],
                        }
                    )
    out["travel"] = travel
    return out
