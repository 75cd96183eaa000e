"""The wbl-scheduler solver: pure, plain data in and plain data out.

`load_problem` turns a `wbl-problem/1` document into a `Problem` (or raises `ProblemError`
listing every defect), `solve` returns the best `Solution`, and `check_solution` verifies any
solution document against the spec independently of how it was made. `refusal_codes` says
why one student may not take one opportunity (the reason codes of the rules it breaks); the
hard rules themselves, one function each, are in `solver.rules`.
"""

from solver.check import check_solution
from solver.eligibility import refusal_codes
from solver.io import ProblemError, load_problem, read_problem
from solver.problem import Problem
from solver.solution import Previous, Progress, Solution, SolveOptions
from solver.solve import solve

__all__ = [
    "Previous",
    "Problem",
    "ProblemError",
    "Progress",
    "Solution",
    "SolveOptions",
    "check_solution",
    "load_problem",
    "read_problem",
    "refusal_codes",
    "solve",
]
