"""Reading a problem document: JSON text to a validated `Problem`, or every defect at once."""

from __future__ import annotations

import json
from pathlib import Path

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
