"""`wbl round list`, `wbl round delete` and `wbl round unplaced`: a coordinator's view of the
season's rounds, and of the students a run left unplaced, with the reasons in plain words.

`round unplaced` is a thin face of the services: the listing (access, school filter, order,
keyset pages) is `scheduler.queries.assignments_page`, every sentence is
`scheduler.explain.explain`, and the numbers behind a ranked choice's refusal (the trip's
minutes against the student's limit, the age, the grade, the weekly hours, the credentials
missing) come from the solver's own one-pair rules (`solver.rules`, applied as
`solver.eligibility.refusal_codes` does) on the round's problem, built once for the listing.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import click
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Round,
    RoundStatus,
    SolveRun,
    Student,
    Unplaced,
)
from models.solve import RunStatus
from scheduler import explain as ex
from scheduler.cli_common import EXIT_BAD_INPUT, round_or_exit
from scheduler.db import DEFAULT_PROGRAM, connect, transaction
from scheduler.problems import round_problem
from scheduler.queries import MAX_PAGE, AssignmentFilter, assignments_page, round_list
from scheduler.tables.exporting import NoRunError, choose_run, write_table
from solver import load_problem
from solver.instance import Instance
from solver.problem import Opportunity
from solver.rules import (
    max_weekly_minutes,
    opportunity_refusals,
    slot_refusals,
    slot_weekly_minutes,
)
from solver.travel import origin, trip

__all__ = [
    "UNPLACED_COLUMNS",
    "glossary_cmd",
    "glossary_markdown",
    "round_delete_cmd",
    "round_list_cmd",
    "round_unplaced_cmd",
]

# Statuses of a placement that students and employers have seen: a round holding one is not
# deleted without --force.
_SEEN: Final = (AssignmentStatus.published, AssignmentStatus.confirmed)
UNPLACED_COLUMNS: Final = (
    "school",
    "student_id",
    "student_name",
    "grade",
    "reason_code",
    "reason",
    "reason_in_plain_words",
    "opportunities",
    "choice_rank",
    "opportunity_id",
)


def _round_or_exit(session: Session, program: str, round_id: str) -> Round:
    return round_or_exit(session, program, round_id, " (`wbl round list` shows them)")


# --- round list ------------------------------------------------------------------------------


@click.command("list")
@click.option("--program", help="Only this program's rounds (default: every program's).")
def round_list_cmd(program: str | None) -> None:
    """The rounds in the database: program, id, name, dates, status, students, runs."""
    with transaction(connect()) as session:
        rows = round_list(session, None, program)
    if not rows:
        where = f" in program {program!r}" if program is not None else ""
        click.echo(f"no rounds{where} yet: `wbl import-round ROUND.json --program P` adds one")
        return
    table = [
        (
            r.program,
            r.external_id,
            r.status,
            f"{r.start_date} to {r.end_date}",
            str(r.students),
            str(r.runs),
            str(r.placed if r.placed is not None else "-"),
            r.name,
        )
        for r in rows
    ]
    header = ("program", "round", "status", "dates", "students", "runs", "placed", "name")
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    numeric = {4, 5, 6}
    for r in [header, *table]:
        cells = [
            r[i].rjust(widths[i]) if i in numeric else r[i].ljust(widths[i])
            for i in range(len(header) - 1)
        ]
        click.echo("  ".join([*cells, r[-1]]))


# --- round delete ----------------------------------------------------------------------------


@click.command("delete")
@click.argument("round_id", metavar="ROUND")
@click.option("--program", default=DEFAULT_PROGRAM, show_default=True)
@click.option(
    "--force",
    is_flag=True,
    help="Delete it even though its placements were published (students and employers saw"
    " them) or a run is still queued or solving.",
)
def round_delete_cmd(round_id: str, program: str, force: bool) -> None:
    """Delete a round with everything in it (students, opportunities, runs, placements).

    Refused once the round is published or closed, or any placement was published or
    confirmed, unless --force; the deletion is kept in the program's audit trail."""
    with transaction(connect()) as session:
        rnd = _round_or_exit(session, program, round_id)
        seen = session.scalar(
            select(
                exists().where(
                    Assignment.run_id == SolveRun.id,
                    SolveRun.round_id == rnd.id,
                    Assignment.status.in_(_SEEN),
                )
            )
        )
        active = session.scalar(
            select(func.count()).where(
                SolveRun.round_id == rnd.id,
                SolveRun.status.in_((RunStatus.queued, RunStatus.running)),
            )
        )
        published = rnd.status in (RoundStatus.published, RoundStatus.closed) or bool(seen)
        if not force and (published or active):
            why = (
                f"round {round_id!r} is {rnd.status.value} and its placements were published:"
                " students and employers have seen them"
                if published
                else f"round {round_id!r} has {active} run(s) queued or solving"
                " (`wbl round cancel RUN` first)"
            )
            click.echo(f"{why}; not deleted (--force deletes it anyway)", err=True)
            sys.exit(EXIT_BAD_INPUT)
        n_students = session.scalar(
            select(func.count()).select_from(Student).where(Student.round_id == rnd.id)
        )
        detail = {
            "round": rnd.external_id,
            "name": rnd.name,
            "status": rnd.status.value,
            "students": n_students,
            "published": published,
            "forced": force,
            "user": None,
        }
        # The event outlives the round: it is written without the round's id (that would be set
        # null by the deletion anyway), and the detail keeps what it was.
        session.add(
            AuditEvent(
                program_id=rnd.program_id,
                round_id=None,
                action="round.delete",
                target_type="rounds",
                target_id=rnd.external_id,
                detail=detail,
            )
        )
        session.delete(rnd)
    click.echo(f"round {round_id!r} of program {program!r} deleted ({n_students} students)")


# --- round unplaced --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UnplacedLine:
    """One reason of one unplaced student: a stored reason (`choice_rank` None) or why one of
    the student's ranked choices is closed to them."""

    school: str
    student: str
    name: str
    grade: int | None
    code: str
    sentence: str
    count: int | None
    choice_rank: int | None = None
    opportunity: str | None = None


class _Facts:
    """The round's problem, built once, and the facts of one student's ranked choices."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.inst = Instance(load_problem(doc))
        self.problem = p = self.inst.problem
        self.schools = {sc.id: sc for sc in p.schools}
        # Measured trips by pair, read once: `solver.eligibility.pair_trip` scans every entry
        # for each pair, which is fine for one move and far too slow for thousands of choices.
        self.own: dict[tuple[str, str], dict[str, int | None]] = defaultdict(dict)
        for t in p.travel:
            self.own[t.student, t.opportunity][t.mode] = t.minutes
        self.shared: dict[tuple[int, str], dict[str, int | None]] = defaultdict(dict)
        for gi, g in enumerate(p.travel_groups):
            for gt in g.travel:
                self.shared[gi, gt.opportunity][gt.mode] = gt.minutes
        employers = {e.id: e.name for e in self.problem.employers}
        self.where = {
            o.id: f"{o.title} at {employers.get(o.employer, o.employer)}"
            for o in self.problem.opportunities
        }

    def choices(self, student: str) -> Iterator[tuple[int, str, str, ex.Facts]]:
        """(rank, opportunity id, code, facts) for every rule that closes each ranked choice;
        a choice open to the student gets `capacity_taken` (its seats went to others)."""
        s = self.inst.student_ix.get(student)
        if s is None:
            return
        st = self.problem.students[s]
        for rank, opp_id in enumerate(st.preferences, start=1):
            o = self.inst.opp_ix.get(opp_id)
            if o is None:
                continue
            op = self.problem.opportunities[o]
            # The same trip as `pair_trip`: the group's measured minutes, the student's own
            # (which win), else the estimate from the origin.
            overrides = dict(self.shared.get((int(self.inst.group_of[s]), op.id), {}))
            overrides.update(self.own.get((st.id, op.id), {}))
            here = origin(st, self.schools, self.problem.round.summer)
            best = trip(st, op, here, overrides)
            weekly = min((slot_weekly_minutes(sl) for sl in op.slots), default=0)
            limit = max_weekly_minutes(st)
            facts = ex.Facts(
                opportunity=self.where[op.id],
                travel_mode=None if best is None else best[0],
                travel_minutes=None if best is None else best[1],
                max_commute_minutes=st.max_commute_minutes,
                weekly_hours=weekly / 60,
                max_weekly_hours=None if limit == float("inf") else limit / 60,
                age=int(self.inst.age[s]),
                min_age=op.min_age,
                grade=st.grade,
                min_grade=op.min_grade,
                missing_credentials=tuple(
                    c for c in op.required_credentials if c not in st.credentials
                ),
                cluster=op.cluster,
                seats=sum(sl.capacity for sl in op.slots) if op.capacity is None else op.capacity,
            )
            for code in self._refusals(s, op, best) or ["capacity_taken"]:
                yield rank, op.id, code, facts

    def _refusals(self, s: int, op: Opportunity, best: tuple[str, int] | None) -> list[str]:
        """`solver.eligibility.refusal_codes` on the trip found above: the codes of every rule
        that closes the opportunity, or all its slots, to the student ([]: open)."""
        st, age = self.problem.students[s], int(self.inst.age[s])
        codes = opportunity_refusals(st, op, age=age, trip=best, forbidden=self.inst.forbidden)
        if codes or best is None:
            return codes
        summer = self.problem.round.summer
        per_slot = [
            slot_refusals(st, op, sl, age=age, minutes=best[1], summer=summer) for sl in op.slots
        ]
        if any(not fails for fails in per_slot):
            return []
        return sorted({code for fails in per_slot for code in fails})


def unplaced_lines(
    session: Session, rnd: Round, run: SolveRun, *, school: str | None = None
) -> Iterator[UnplacedLine]:
    """Every student the run left unplaced (of `school`, a school's document id, when
    given), by school then name: the stored reasons in plain words with their counts,
    then each ranked choice with the rule that closed it and the numbers behind it. One
    statement per page of the listing and one for its reasons, plus the round's problem."""
    facts = _Facts(round_problem(session, rnd))
    schools = {sc.id: sc.name for sc in facts.problem.schools}
    filters = AssignmentFilter(placed=False, school=school)
    cursor: str | None = None
    while True:
        page = assignments_page(
            session,
            rnd,
            None,
            run=run,
            filters=filters,
            sort="school",
            cursor=cursor,
            limit=MAX_PAGE,
        )
        # A Result has keys(): dict() would read it as a mapping, so the rows go in a list.
        stored: dict[str, list[dict[str, Any]]] = dict(
            list(
                session.execute(
                    select(Student.external_id, Unplaced.reasons)
                    .join(Student, Student.id == Unplaced.student_id)
                    .where(
                        Unplaced.run_id == run.id,
                        Unplaced.student_id.in_([r.student_id for r in page.rows]),
                    )
                ).tuples()
            )
        )
        for row in page.rows:
            st = facts.problem.students[facts.inst.student_ix[row.student]]
            where = row.school or schools.get(st.school or "", "") or "(no school)"
            base: dict[str, Any] = {
                "school": where,
                "student": row.student,
                "name": row.name,
                "grade": st.grade,
            }
            for r in stored.get(row.student) or ():
                code, count = str(r["code"]), r.get("count")
                sentence = ex.explain(code, count, r.get("detail"))
                limits = _limits(code, st.max_commute_minutes, st.max_weekly_hours)
                yield UnplacedLine(**base, code=code, sentence=sentence + limits, count=count)
            for rank, opp, code, pair in facts.choices(row.student):
                yield UnplacedLine(
                    **base,
                    code=code,
                    sentence=ex.explain(code, facts=pair),
                    count=None,
                    choice_rank=rank,
                    opportunity=opp,
                )
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _limits(code: str, commute: float, weekly: float | None) -> str:
    """The student's own limit a count-only sentence is measured against."""
    if code == "commute_too_long":
        return f" (your limit: {commute:g} minutes)"
    if code == "over_weekly_hours" and weekly is not None:
        return f" (your limit: {weekly:g} hours a week)"
    return ""


@click.command("unplaced")
@click.argument("round_id", metavar="ROUND")
@click.option("--program", default=DEFAULT_PROGRAM, show_default=True)
@click.option("--school", help="Only this school's students (the school's id in the round).")
@click.option("--run", "run_id", type=int, help="A given run (default: the chosen, else latest).")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Write a table (.csv or .xlsx, one row per reason) instead of the listing.",
)
def round_unplaced_cmd(
    round_id: str, program: str, school: str | None, run_id: int | None, output: Path | None
) -> None:
    """Every student the run left unplaced, per school, with the reasons in plain words and
    the numbers behind them (for counselors: `--school S -o S.xlsx`)."""
    if output is not None and output.suffix.lower() not in (".csv", ".xlsx"):
        raise click.BadParameter("write .csv or .xlsx", param_hint="'-o'")
    with transaction(connect()) as session:
        rnd = _round_or_exit(session, program, round_id)
        try:
            run = choose_run(session, rnd, run_id)
        except NoRunError as exc:
            click.echo(f"{exc}: `wbl round solve {round_id} --program {program}`", err=True)
            sys.exit(EXIT_BAD_INPUT)
        lines = list(unplaced_lines(session, rnd, run, school=school))
    students = len({line.student for line in lines})
    of = f" of school {school!r}" if school is not None else ""
    if output is not None:
        write_table(
            output,
            UNPLACED_COLUMNS,
            (
                (
                    x.school,
                    x.student,
                    x.name,
                    x.grade,
                    x.code,
                    ex.label(x.code),
                    x.sentence,
                    x.count,
                    x.choice_rank,
                    x.opportunity,
                )
                for x in lines
            ),
            title="unplaced",
        )
        click.echo(
            f"{output}: {students} unplaced students{of} of run {run.id}, {len(lines)} reasons"
        )
        return
    if not lines:
        click.echo(f"run {run.id} of round {round_id!r} placed every student{of}")
        return
    click.echo(f"run {run.id} of round {round_id!r}: {students} students{of} not placed")
    per_school = Counter(school for school, _ in {(y.school, y.student) for y in lines})
    school_now, student_now = None, None
    for x in lines:
        if x.school != school_now:
            school_now = x.school
            click.echo(f"\n{x.school}: {per_school[x.school]} not placed")
        if x.student != student_now:
            student_now = x.student
            grade = f", grade {x.grade}" if x.grade is not None else ""
            click.echo(f"  {x.student}  {x.name}{grade}")
        if x.choice_rank is None:
            click.echo(f"    - {ex.label(x.code)}: {x.sentence}")
        else:
            click.echo(f"    choice {x.choice_rank} ({x.opportunity}): {x.sentence}")


# --- glossary --------------------------------------------------------------------------------


def glossary_markdown() -> str:
    """The reason codes as the Markdown table of docs/format.md (a test keeps them equal)."""
    lines = ["| code | rule | label | what it means |", "|---|---|---|---|"]
    lines += [f"| `{c.code}` | {c.rule} | {c.label} | {c.meaning} |" for c in ex.glossary()]
    return "\n".join(lines) + "\n"


@click.command("glossary")
@click.option("--markdown", is_flag=True, help="As the Markdown table of docs/format.md.")
def glossary_cmd(markdown: bool) -> None:
    """Every reason code a solution or a page gives, with its rule and plain meaning."""
    if markdown:
        click.echo(glossary_markdown(), nl=False)
        return
    for c in ex.glossary():
        click.echo(f"{c.code:<20} {c.rule:<3} {c.label}: {c.meaning}")
