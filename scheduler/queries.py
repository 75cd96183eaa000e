"""What the pages and the command line read of a round: plain results, never ORM rows.

Every query takes the `Session`, the round and what it is about, and the acting `actor`
(`scheduler.access.Actor`), checks access with `scheduler.access` before reading anything of
the round, and returns frozen dataclasses (tuples, not lists), so a page renders a result
without touching the database again. The queries:

- `round_dashboard`: the round's counts (rows of each kind, runs, placements by status, broken
  placements and pins) and the chosen run's metrics; `unplaced_reasons`: how many unplaced
  students have each reason code. Staff only.
- `assignments_page`: a run's students page by page, placed and unplaced in one listing, with
  filters and a sort (see `AssignmentFilter`, `SORTS`). Keyset pagination: the cursor is the
  sort key of the last row and its student id, never an OFFSET, so page 2,000 costs what page 1
  does. Each page is one SELECT per phase it touches (see `_phases`), whatever its size. Staff
  only.
- `student_story`: one student's whole story: placement (slot blocks, travel, mentor or
  meeting), busy blocks, ranked preferences, pins, forbidden pairs, reasons in plain words
  (`scheduler.explain`), and the audit events about the student. Staff see it all; the
  student's own link, their employer and their mentor see what `access.require_student`
  allows, without the coordinators' notes (pins, forbidden pairs, audit, other students' ids).
- `move_targets`: the slots the student could move to in the chosen run, each with what it
  costs (preference rank, travel, free seats, a free workplace mentor). The pair rules (H3-H7)
  are the solver's, on the one-student problem the actions build, for the student's candidate
  opportunities only (clusters and preferences). A move never displaces anyone: a slot without
  a free seat is listed as not open, nobody loses a seat. Staff only.
- `employer_view`: an employer's opportunities with their slots and seats, and the students
  placed with it. Staff; the employer's own link (placements it may see only: published,
  confirmed, declined in the chosen run).
- `compare_runs`: two runs of a round: metric deltas, and the students whose placement differs
  (moved, placed, unplaced) page by page. Staff only.
- `find_student`, `find_opportunity`, `find_slot`, `find_mentor`, `find_employer`,
  `find_school`, `find_run`: a round's external ids (run ids) to rows, for the pages and the
  CLI to pass on to actions; `UnknownId` (a `LookupError` and an `ActionRefused`, rule
  `lookup`) for an id the round does not have. A link holder is told `NotAllowed` both for rows
  not theirs and for unknown ids, so a link cannot probe which ids exist.

Indexes that these need at 100,000 students are declared on the models (migrations 0006 and
0009; 0009 also keeps statistics for PostgreSQL's planner and the run's reason counts);
`bench/queries.py` measures every query at 100,000 students (`bench/QUERIES.md`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar, get_args

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, aliased

from models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Employer,
    Forbidden,
    Mentor,
    Mentorship,
    Opportunity,
    Pin,
    Preference,
    Program,
    Round,
    RoundStatus,
    RunStatus,
    School,
    Slot,
    SolveRun,
    Student,
    Unplaced,
    User,
)
from scheduler import explain as ex
from scheduler.access import (
    VISIBLE_STATUSES,
    Actor,
    LinkHolder,
    readable_programs,
    require_employer,
    require_opportunity,
    require_read,
    require_staff,
    require_student,
)
from scheduler.errors import ActionRefused, NotAllowed

# The one-student problem the actions' checks use: the rules must not be written twice.
from scheduler.problems import opportunity_rows, student_problem
from solver.eligibility import REASONS, compute_eligibility
from solver.instance import Instance
from solver.problem import MODES
from solver.rules import opportunity_capacity

__all__ = [
    "MAX_PAGE",
    "SORTS",
    "UNPLACED",
    "AssignmentFilter",
    "AssignmentPage",
    "AssignmentRow",
    "Change",
    "Dashboard",
    "EmployerView",
    "Event",
    "GroupCount",
    "Meeting",
    "MetricDelta",
    "MoveTarget",
    "MoveTargets",
    "OfferedOpportunity",
    "OfferedSlot",
    "PinLine",
    "PlacedStudent",
    "Placement",
    "RankedChoice",
    "Reason",
    "ReasonCount",
    "RoundLine",
    "RunComparison",
    "RunLine",
    "StudentStory",
    "TimeBlock",
    "UnknownId",
    "assignments_page",
    "compare_runs",
    "employer_view",
    "find_employer",
    "find_mentor",
    "find_opportunity",
    "find_run",
    "find_school",
    "find_slot",
    "find_student",
    "get_round",
    "move_targets",
    "round_dashboard",
    "round_list",
    "student_story",
    "unplaced_reasons",
]

# The largest page a caller may ask for: a page is one statement, but its rows are built in
# Python and sent to a browser.
MAX_PAGE: Final = 500
# Audit events shown in a student's story, latest first.
STORY_EVENTS: Final = 100


class UnknownId(ActionRefused, LookupError):
    """The round has no row with that id: rule `lookup`, and the message names both."""

    def __init__(self, message: str) -> None:
        super().__init__("lookup", message)


# --- Small shared shapes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeBlock:
    """A block as the format writes it: weekly (`day`) or dated (`date`), "HH:MM" times."""

    day: str | None
    date: str | None
    start: str
    end: str


def _blocks(raw: Iterable[Mapping[str, Any]] | None) -> tuple[TimeBlock, ...]:
    return tuple(
        TimeBlock(day=b.get("day"), date=b.get("date"), start=str(b["start"]), end=str(b["end"]))
        for b in raw or ()
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    """A stored reason code with its plain sentence (`scheduler.explain`) and table label.
    `detail` is the solver's text (it may name other students): staff only, else None."""

    code: str
    label: str
    sentence: str
    count: int | None
    detail: str | None


def _reasons(raw: Iterable[Mapping[str, Any]], *, staff: bool) -> tuple[Reason, ...]:
    out = []
    for r in raw:
        code, count, detail = str(r["code"]), r.get("count"), r.get("detail")
        out.append(
            Reason(
                code=code,
                label=ex.label(code),
                sentence=ex.explain(code, count, detail),
                count=count,
                detail=detail if staff else None,
            )
        )
    return tuple(out)


def _is_staff(actor: Actor) -> bool:
    return not isinstance(actor, LinkHolder)


def _run_of(session: Session, rnd: Round, run: SolveRun | None) -> SolveRun | None:
    """`run` (checked to be the round's), else the round's chosen run (None: none chosen)."""
    if run is not None:
        if run.round_id != rnd.id:
            raise NotAllowed(
                f"access: solve run {run.id} belongs to another round, not {rnd.external_id!r}"
            )
        return run
    if rnd.chosen_run_id is None:
        return None
    return session.get_one(SolveRun, rnd.chosen_run_id)


def _json_holds(column: Any, value: str, dialect: str) -> ColumnElement[bool]:
    """The JSON list of strings in `column` holds `value`. PostgreSQL: `column::jsonb @>
    '["value"]'`, the expression migration 0009 keeps statistics on (the planner then knows
    how many students match). Elsewhere: the column's text contains the value as a JSON
    string (quotes included, so "it" does not match "it-support"), exact for a list of
    strings; LIKE's wildcards in the value are escaped."""
    if dialect == "postgresql":
        return cast(column, JSONB).op("@>")(cast(literal(json.dumps([value])), JSONB))
    return cast(column, Text).contains(json.dumps(value), autoescape=True)


# --- Lookups -------------------------------------------------------------------------------------

_Row = TypeVar("_Row", Student, Opportunity, Slot, Mentor, Employer, School)
_WHAT: Final[Mapping[type[Any], str]] = {
    Student: "student",
    Opportunity: "opportunity",
    Slot: "slot",
    Mentor: "mentor",
    Employer: "employer",
    School: "school",
}


def _find(session: Session, rnd: Round, model: type[_Row], external_id: str, actor: Actor) -> _Row:
    require_read(session, rnd, actor)
    what = _WHAT[model]
    row = session.scalars(
        select(model).where(model.round_id == rnd.id, model.external_id == external_id)
    ).one_or_none()
    if isinstance(actor, LinkHolder):
        refused = NotAllowed(
            f"access: this {actor.kind}'s link does not show {what} {external_id!r}"
        )
        if row is None:
            raise refused
        if isinstance(row, Student):
            require_student(session, rnd, actor, row.id)
        elif isinstance(row, Opportunity):
            require_opportunity(session, rnd, actor, row.id)
        elif isinstance(row, Slot):
            require_opportunity(session, rnd, actor, row.opportunity_id)
        elif isinstance(row, Employer):
            require_employer(session, rnd, actor, row.id)
        elif isinstance(row, Mentor) and actor.kind == "mentor":
            if row.id != actor.row_id:
                raise refused
        else:
            raise refused
    elif row is None:
        raise UnknownId(f"lookup: round {rnd.external_id!r} has no {what} {external_id!r}")
    return row


def find_student(session: Session, rnd: Round, external_id: str, actor: Actor) -> Student:
    """The round's student with this id; `UnknownId` when there is none."""
    return _find(session, rnd, Student, external_id, actor)


def find_opportunity(session: Session, rnd: Round, external_id: str, actor: Actor) -> Opportunity:
    """The round's opportunity with this id; `UnknownId` when there is none."""
    return _find(session, rnd, Opportunity, external_id, actor)


def find_slot(session: Session, rnd: Round, external_id: str, actor: Actor) -> Slot:
    """The round's slot with this id (slot ids are unique in a round); `UnknownId` else."""
    return _find(session, rnd, Slot, external_id, actor)


def find_mentor(session: Session, rnd: Round, external_id: str, actor: Actor) -> Mentor:
    """The round's mentor with this id; `UnknownId` when there is none."""
    return _find(session, rnd, Mentor, external_id, actor)


def find_employer(session: Session, rnd: Round, external_id: str, actor: Actor) -> Employer:
    """The round's employer with this id; `UnknownId` when there is none."""
    return _find(session, rnd, Employer, external_id, actor)


def find_school(session: Session, rnd: Round, external_id: str, actor: Actor) -> School:
    """The round's school with this id; `UnknownId` when there is none. Link holders: never."""
    return _find(session, rnd, School, external_id, actor)


def find_run(session: Session, rnd: Round, run_id: int, actor: Actor) -> SolveRun:
    """The round's solve run with this id; `UnknownId` when the round has none. Staff only."""
    require_staff(session, rnd, actor)
    run = session.get(SolveRun, run_id)
    if run is None or run.round_id != rnd.id:
        raise UnknownId(f"lookup: round {rnd.external_id!r} has no solve run {run_id}")
    return run


def get_round(session: Session, round_id: int, actor: Actor) -> Round:
    """The round with this database id, if `actor` may read it (`access.require_read`). A round
    that does not exist and one the actor may not read are refused alike (`UnknownId`), so
    that nobody learns which ids exist in other programs."""
    rnd = session.get(Round, round_id)
    if rnd is None:
        raise UnknownId(f"no round {round_id}")
    try:
        require_read(session, rnd, actor)
    except NotAllowed:
        raise UnknownId(f"no round {round_id}") from None
    return rnd


# --- The rounds an actor may read -----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundLine:
    """A round as the list of rounds shows it; `placed` is the chosen run's (None without
    one), `last_run_*` the latest run's."""

    round_id: int
    program: str
    program_name: str
    external_id: str
    name: str
    start_date: dt.date
    end_date: dt.date
    status: str
    students: int
    runs: int
    placed: int | None
    last_run_status: str | None
    last_run_at: dt.datetime | None


def round_list(session: Session, actor: Actor, program: str | None = None) -> tuple[RoundLine, ...]:
    """The rounds `actor` may read (a user: their programs'; None: every program's), of one
    program when `program` (a slug) is given, by program, start date and id. One SELECT,
    whatever the number of rounds and students. A link holder reads no list."""
    if isinstance(actor, LinkHolder):
        raise NotAllowed("access: a private link does not list rounds")
    students = (
        select(Student.round_id, func.count().label("n")).group_by(Student.round_id).subquery()
    )
    runs = (
        select(
            SolveRun.round_id,
            func.count().label("n"),
            func.max(SolveRun.id).label("last"),
        )
        .group_by(SolveRun.round_id)
        .subquery()
    )
    chosen = aliased(SolveRun)
    last = aliased(SolveRun)
    query = (
        select(
            Round.id,
            Program.slug,
            Program.name,
            Round.external_id,
            Round.name,
            Round.start_date,
            Round.end_date,
            Round.status,
            students.c.n,
            runs.c.n,
            chosen.metrics,
            last.status,
            last.created_at,
        )
        .join(Program, Program.id == Round.program_id)
        .outerjoin(students, students.c.round_id == Round.id)
        .outerjoin(runs, runs.c.round_id == Round.id)
        .outerjoin(chosen, chosen.id == Round.chosen_run_id)
        .outerjoin(last, last.id == runs.c.last)
        .order_by(Program.slug, Round.start_date, Round.external_id)
    )
    if actor is not None:
        query = query.where(Round.program_id.in_(readable_programs(actor)))
    if program is not None:
        query = query.where(Program.slug == program)
    return tuple(
        RoundLine(
            round_id=rid,
            program=slug,
            program_name=program_name,
            external_id=ext,
            name=name,
            start_date=start,
            end_date=end,
            status=str(status.value),
            students=int(n_students or 0),
            runs=int(n_runs or 0),
            placed=(metrics or {}).get("placed") if metrics is not None else None,
            last_run_status=str(last_status.value) if last_status is not None else None,
            last_run_at=last_at,
        )
        for (
            rid,
            slug,
            program_name,
            ext,
            name,
            start,
            end,
            status,
            n_students,
            n_runs,
            metrics,
            last_status,
            last_at,
        ) in session.execute(query)
    )


# --- The round's dashboard -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RunLine:
    """A solve run as a list shows it."""

    id: int
    status: str
    solution_status: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    edited: bool
    placed: int | None
    chosen: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasonCount:
    """How many unplaced students of the chosen run have a reason code (a student may have
    several)."""

    code: str
    label: str
    students: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupCount:
    label: str
    students: int
    placed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Dashboard:
    """A round at a glance. Placement counts are of the chosen run (zero without one)."""

    round_id: int
    external_id: str
    name: str
    status: str
    version: int
    students: int
    schools: int
    employers: int
    opportunities: int
    slots: int
    seats: int
    mentors: int
    pins: int
    broken_pins: int
    forbidden: int
    runs: tuple[RunLine, ...]
    chosen_run_id: int | None
    placed: int
    unplaced: int
    by_status: tuple[tuple[str, int], ...]  # assignment status -> placements, every status
    broken_placements: int
    mentorships: int
    first_choice: int | None
    top3: int | None
    unranked: int | None
    mentored: int | None
    mean_travel_minutes: float | None
    by_group: tuple[GroupCount, ...]


def _count(model: Any, *where: Any) -> Any:
    return select(func.count()).select_from(model).where(*where).scalar_subquery()


def round_dashboard(session: Session, rnd: Round, actor: Actor) -> Dashboard:
    """The round's counts, its runs, and the chosen run's placements and metrics. Staff only.
    Five statements (with the run), whatever the round's size."""
    require_staff(session, rnd, actor)
    rid = rnd.id
    run_id = rnd.chosen_run_id
    counts = session.execute(
        select(
            _count(Student, Student.round_id == rid),
            _count(School, School.round_id == rid),
            _count(Employer, Employer.round_id == rid),
            _count(Opportunity, Opportunity.round_id == rid),
            _count(Slot, Slot.round_id == rid),
            select(func.coalesce(func.sum(Slot.capacity), 0))
            .where(Slot.round_id == rid)
            .scalar_subquery(),
            _count(Mentor, Mentor.round_id == rid),
            _count(Pin, Pin.round_id == rid),
            _count(Pin, Pin.round_id == rid, Pin.broken_rule.is_not(None)),
            _count(Forbidden, Forbidden.round_id == rid),
            _count(Mentorship, Mentorship.run_id == run_id),
        )
    ).one()
    (students, schools, employers, opportunities, slots, seats, mentors, pins) = counts[:8]
    broken_pins, forbidden, mentorships = counts[8:]
    m: Mapping[str, Any] = {}
    runs = []
    for r in session.execute(
        select(
            SolveRun.id,
            SolveRun.status,
            SolveRun.solution_status,
            SolveRun.created_at,
            SolveRun.finished_at,
            SolveRun.edited_at,
            SolveRun.metrics,
        )
        .where(SolveRun.round_id == rid)
        .order_by(SolveRun.id.desc())
    ):
        if r.id == run_id:
            m = r.metrics or {}
        runs.append(
            RunLine(
                id=r.id,
                status=str(r.status),
                solution_status=None if r.solution_status is None else str(r.solution_status),
                created_at=r.created_at,
                finished_at=r.finished_at,
                edited=r.edited_at is not None,
                placed=None if r.metrics is None else r.metrics.get("placed"),
                chosen=r.id == run_id,
            )
        )
    by_status = dict.fromkeys((str(s) for s in AssignmentStatus), 0)
    broken = 0
    for status, is_broken, n in session.execute(
        select(Assignment.status, Assignment.broken_rule.is_not(None), func.count())
        .where(Assignment.run_id == run_id)
        .group_by(Assignment.status, Assignment.broken_rule.is_not(None))
    ):
        by_status[str(status)] += n
        broken += n if is_broken else 0
    unplaced = session.scalar(
        select(func.count()).select_from(Unplaced).where(Unplaced.run_id == run_id)
    )
    return Dashboard(
        round_id=rid,
        external_id=rnd.external_id,
        name=rnd.name,
        status=str(rnd.status),
        version=rnd.version,
        students=students,
        schools=schools,
        employers=employers,
        opportunities=opportunities,
        slots=slots,
        seats=int(seats),
        mentors=mentors,
        pins=pins,
        broken_pins=broken_pins,
        forbidden=forbidden,
        runs=tuple(runs),
        chosen_run_id=run_id,
        placed=sum(by_status.values()),
        unplaced=unplaced or 0,
        by_status=tuple(by_status.items()),
        broken_placements=broken,
        mentorships=mentorships,
        first_choice=m.get("first_choice"),
        top3=m.get("top3"),
        unranked=m.get("unranked"),
        mentored=m.get("mentored"),
        mean_travel_minutes=m.get("mean_travel_minutes"),
        by_group=tuple(
            GroupCount(label=k, students=v["students"], placed=v["placed"])
            for k, v in sorted((m.get("by_group") or {}).items())
        ),
    )


def unplaced_reasons(
    session: Session, rnd: Round, actor: Actor, *, run: SolveRun | None = None
) -> tuple[ReasonCount, ...]:
    """How many of the run's unplaced students (the chosen run unless `run`) have each reason
    code, most students first. Staff only.

    Counting is done by the database inside the stored JSON (the reasons of 60,000 unplaced
    students are too many to send to Python), half a second at 100,000 students; so the
    counts of a finished run are kept on it (`SolveRun.reason_counts`, in the caller's
    session: its commit keeps them) with the key of the state they were counted in
    (`_reasons_key`), and counted again only when that key changes. Two statements when kept
    (the run, the key), three when counted."""
    require_staff(session, rnd, actor)
    the_run = _run_of(session, rnd, run)
    if the_run is None:
        return ()
    key = _reasons_key(session, rnd, the_run)
    kept = the_run.reason_counts
    if kept is not None and kept.get("key") == key:
        counts = [(str(c), int(n)) for c, n in kept["counts"]]
    else:
        counts = _count_reasons(session, the_run)
        if the_run.status == RunStatus.succeeded:
            # A run is written whole before it succeeds (`store_solution`, then the status in
            # the same transaction): the counts of an unfinished run are never kept.
            the_run.reason_counts = {"key": key, "counts": [list(c) for c in counts]}
    return tuple(ReasonCount(code=c, label=ex.label(c), students=n) for c, n in counts)


def _reasons_key(session: Session, rnd: Round, run: SolveRun) -> dict[str, Any]:
    """What the run's unplaced students and their reasons depend on once the run is stored:
    the round's version (an import of an update), the round's latest audit event (every
    manual action that unplaces, places or forbids is audited in its own transaction; a run's
    `edited_at` alone would not do: it is set by the first edit only) and the run's first
    edit. One statement (the audit events' round index)."""
    latest = session.scalar(select(func.max(AuditEvent.id)).where(AuditEvent.round_id == rnd.id))
    return {
        "version": rnd.version,
        "event": latest or 0,
        "edited_at": None if run.edited_at is None else run.edited_at.isoformat(),
    }


def _count_reasons(session: Session, run: SolveRun) -> list[tuple[str, int]]:
    """The run's reason codes and how many unplaced students have each, counted by the
    database inside the stored JSON lists; most students first, then by code."""
    code: ColumnElement[Any]
    if session.get_bind().dialect.name == "postgresql":
        element = func.json_array_elements(Unplaced.reasons).table_valued("value")
        code = element.c.value.op("->>")("code")
    else:
        element = func.json_each(Unplaced.reasons).table_valued("value")
        code = func.json_extract(element.c.value, "$.code")
    rows = session.execute(
        select(code, func.count(Unplaced.id.distinct()))
        .select_from(Unplaced)
        .join(element, true())
        .where(Unplaced.run_id == run.id)
        .group_by(code)
    ).all()
    return sorted(((str(c), int(n)) for c, n in rows), key=lambda r: (-r[1], r[0]))


# --- A run's students, page by page --------------------------------------------------------------

Sort = Literal["name", "id", "school", "opportunity", "employer", "travel", "rank", "status"]
SORTS: Final[tuple[str, ...]] = get_args(Sort)
# Sorts on the placement: unplaced students (who have none) come after the placed ones.
_PLACEMENT_SORTS: Final = frozenset({"opportunity", "employer", "travel", "rank", "status"})
UNPLACED: Final = "unplaced"
_STATUSES: Final = frozenset(str(s) for s in AssignmentStatus)


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignmentFilter:
    """What to list; every field given must hold (AND). Ids are the document's.

    `school`: the student's school. `cluster`: the student's clusters hold it, or the student
    is placed at an opportunity of that cluster. `employer`, `opportunity`: placed there.
    `group`: the student's groups hold it. `status`: an assignment status (placed students in
    that status) or "unplaced". `placed`: True for placed students only, False for unplaced
    only, None for both. `search`: with a digit in it, the start of the student's id (ids
    carry numbers, names do not); else part of the name (any case) or the whole id."""

    school: str | None = None
    cluster: str | None = None
    employer: str | None = None
    opportunity: str | None = None
    group: str | None = None
    status: str | None = None
    placed: bool | None = None
    search: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignmentRow:
    """One student of the run as the table shows them; placement fields are None when
    unplaced (`status` is then "unplaced" and `reasons` holds the reason codes)."""

    student_id: int
    student: str
    name: str
    school: str | None
    clusters: tuple[str, ...]
    groups: tuple[str, ...]
    status: str
    opportunity: str | None
    opportunity_title: str | None
    employer: str | None
    employer_name: str | None
    slot: str | None
    travel_mode: str | None
    travel_minutes: int | None
    preference_rank: int | None
    mentor: str | None
    mentor_name: str | None
    broken_rule: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignmentPage:
    """A page of rows and the cursor of the next page (None: this is the last)."""

    run_id: int | None
    sort: str
    descending: bool
    rows: tuple[AssignmentRow, ...]
    next_cursor: str | None


Kind = Literal["all", "placed", "unplaced"]


@dataclass(frozen=True, slots=True)
class _Phase:
    """A part of a listing, read by one SELECT: which rows (`kind`, and `key_null`: rows whose
    sort key is null, or not, or both when None), sorted by `key` (None: by student id only)."""

    kind: Kind
    key: str | None
    key_null: bool | None = None


def _key_column(key: str) -> Any:
    return {
        "name": Student.name,
        "id": Student.external_id,
        "school": School.name,
        "opportunity": Opportunity.title,
        "employer": Employer.name,
        "travel": Assignment.travel_minutes,
        "rank": Assignment.preference_rank,
        "status": Assignment.status,
    }[key]


def _phases(sort: str, placed: bool | None) -> tuple[_Phase, ...]:
    """The parts of a listing in order. A sort on the student lists placed and unplaced
    students together (or one kind); a sort on the placement lists the placed, then the
    unplaced by id. A nullable key (school, rank) lists its nulls after the rest, by id: an
    index then serves each part, where `ORDER BY key IS NULL` would sort the whole run."""
    if sort in _PLACEMENT_SORTS:
        out: list[_Phase] = []
        if placed is not False:
            if sort == "rank":
                out += [_Phase("placed", "rank", False), _Phase("placed", None, True)]
            else:
                out.append(_Phase("placed", sort))
        if placed is not True:
            out.append(_Phase("unplaced", None))
        return tuple(out)
    kind: Kind = "all" if placed is None else ("placed" if placed else "unplaced")
    if sort == "school":
        return (_Phase(kind, "school", False), _Phase(kind, None, True))
    return (_Phase(kind, sort),)


def _key_fits(key: str | None, value: Any) -> bool:
    """A cursor's sort value has the type of its key (a forged one would reach the database as
    a value its column cannot compare, an error rather than a refusal)."""
    if key is None:
        return value is None
    if key in ("travel", "rank"):
        return isinstance(value, int) and not isinstance(value, bool)
    if key == "status":
        return value in _STATUSES
    return isinstance(value, str)


def _encode(payload: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(payload)).encode()).decode().rstrip("=")


def _decode(cursor: str, what: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise ActionRefused("cursor", f"cursor: not a cursor of {what}") from e
    if not isinstance(payload, list):
        raise ActionRefused("cursor", f"cursor: not a cursor of {what}")
    return payload


def _page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1..{MAX_PAGE}, not {limit}")
    return limit


_ROW_COLUMNS: Final = (
    "student_id",
    "student",
    "name",
    "school",
    "clusters",
    "groups",
    "status",
    "opportunity",
    "opportunity_title",
    "employer",
    "employer_name",
    "slot",
    "travel_mode",
    "travel_minutes",
    "preference_rank",
    "mentor",
    "mentor_name",
    "broken_rule",
    "reasons",
)


def _unindexed(column: Any) -> Any:
    """The column in an expression no index serves: a planner without statistics (SQLite's,
    right after an import) then starts the join from the other side, see `_listing`."""
    return column + 0


def _listing(
    kind: Kind,
    run_id: int,
    round_id: int,
    *,
    drive: str | None = None,
    by_student: bool = False,
    from_school: bool = False,
    dialect: str = "sqlite",
) -> tuple[Select[Any], Any]:
    """The SELECT of one kind of rows of the run (placed, unplaced, or both), with the row's
    columns, and its student id column (the tie-breaker of every sort).

    `drive`: "opportunity", "employer" or "school" for a sort on that table's name (only rows
    that have one: a school joined inner). The join then starts from that small table, read in
    name order by its index, and reaches the run's rows by index (an assignment's opportunity,
    a school's students), so only rows of equal names are sorted, and a page stops after its
    rows. Left to itself SQLite starts from the run's rows (the only equality it sees on a big
    table) and sorts the whole run for every page: the run's (or round's) own condition is
    therefore put in an expression its index cannot serve, and the small table's round given
    instead. `by_student`: a sort on the student's name or id, read in that order from the
    students' index (the run's rows found per student), for placed or unplaced students too.
    `from_school`: the students of one school (a filter), read by their school's index and
    sorted: a school's students are few, and reading the round in name order to find them is
    not. On PostgreSQL (`dialect`), whose planner has statistics, a sort on the school keeps
    the round's condition on the students indexable: hidden, it made PostgreSQL scan every
    student for each school rather than reach a school's students by their school's index."""
    placement: dict[str, Any] = {
        "status": Assignment.status,
        "opportunity": Opportunity.external_id,
        "opportunity_title": Opportunity.title,
        "employer": Employer.external_id,
        "employer_name": Employer.name,
        "slot": Slot.external_id,
        "travel_mode": Assignment.travel_mode,
        "travel_minutes": Assignment.travel_minutes,
        "preference_rank": Assignment.preference_rank,
        "mentor": Mentor.external_id,
        "mentor_name": Mentor.name,
        "broken_rule": Assignment.broken_rule,
    }
    columns: dict[str, Any] = {
        "student": Student.external_id,
        "name": Student.name,
        "school": School.name,
        "clusters": Student.clusters,
        "groups": Student.groups,
        **placement,
        "reasons": Unplaced.reasons,
    }
    if kind == "unplaced":
        columns.update({k: null() for k in placement})
    if kind == "placed":
        columns["reasons"] = null()
    tie = {"placed": Assignment.student_id, "unplaced": Unplaced.student_id, "all": Student.id}[
        kind
    ]
    cols = [tie.label("student_id")] + [columns[k].label(k) for k in _ROW_COLUMNS[1:]]
    with_school = drive == "school"
    driven: list[ColumnElement[bool]] = []
    if drive == "opportunity":
        driven.append(Opportunity.round_id == round_id)
    elif drive == "employer":
        driven.append(Employer.round_id == round_id)
    elif drive == "school":
        driven.append(School.round_id == round_id)
    if by_student and kind != "all":
        driven.append(Student.round_id == round_id)
    # Which of the run's or the round's own conditions an index must not serve (see above).
    unindex_run = drive is not None or by_student or from_school
    unindex_round = (
        drive is not None and kind == "all" and not (drive == "school" and dialect == "postgresql")
    ) or from_school

    def own(column: Any) -> Any:
        is_round = column is Student.round_id
        return _unindexed(column) if (unindex_round if is_round else unindex_run) else column

    if kind == "placed":
        stmt = (
            select(*cols)
            .select_from(Assignment)
            .join(Student, Student.id == Assignment.student_id)
            .join(Opportunity, Opportunity.id == Assignment.opportunity_id)
            .join(Employer, Employer.id == Opportunity.employer_id)
            .join(Slot, Slot.id == Assignment.slot_id)
            .outerjoin(Mentor, Mentor.id == Assignment.mentor_id)
            .join(School, School.id == Student.school_id, isouter=not with_school)
            .where(own(Assignment.run_id) == run_id, *driven)
        )
    elif kind == "unplaced":
        stmt = (
            select(*cols)
            .select_from(Unplaced)
            .join(Student, Student.id == Unplaced.student_id)
            .join(School, School.id == Student.school_id, isouter=not with_school)
            .where(own(Unplaced.run_id) == run_id, *driven)
        )
    else:
        stmt = (
            select(*cols)
            .select_from(Student)
            .join(School, School.id == Student.school_id, isouter=not with_school)
            .outerjoin(
                Assignment, and_(Assignment.run_id == run_id, Assignment.student_id == Student.id)
            )
            .outerjoin(Unplaced, and_(Unplaced.run_id == run_id, Unplaced.student_id == Student.id))
            .outerjoin(Opportunity, Opportunity.id == Assignment.opportunity_id)
            .outerjoin(Employer, Employer.id == Opportunity.employer_id)
            .outerjoin(Slot, Slot.id == Assignment.slot_id)
            .outerjoin(Mentor, Mentor.id == Assignment.mentor_id)
            .where(
                own(Student.round_id) == round_id,
                or_(Assignment.id.is_not(None), Unplaced.id.is_not(None)),
                *driven,
            )
        )
    return stmt, tie


# The end of a prefix range on text: after every string that starts with the prefix (in the
# code-point order of SQLite's BINARY and PostgreSQL's C collation).
_LAST_CHAR: Final = "\U0010ffff"


def _filters(
    kind: Kind, f: AssignmentFilter, round_id: int, dialect: str
) -> list[ColumnElement[bool]] | None:
    """The filter's conditions on one kind of rows; None when no row of the kind can match.

    Ids are matched with their round (`School.round_id`...), so the round's unique index of
    external ids finds the one row and the listing starts from it: a filter on an employer
    reads that employer's placements, not the run in name order."""
    has_placement = kind != "unplaced"
    where: list[ColumnElement[bool]] = []
    if f.school is not None:
        where += [School.round_id == round_id, School.external_id == f.school]
    if f.cluster is not None:
        holds = _json_holds(Student.clusters, f.cluster, dialect)
        where.append(or_(holds, Opportunity.cluster == f.cluster) if has_placement else holds)
    if f.group is not None:
        where.append(_json_holds(Student.groups, f.group, dialect))
    if f.search and f.search.strip():
        q = f.search.strip()
        if any(c.isdigit() for c in q):
            # An id's start: a range of the round's index of ids (LIKE alone reads them all).
            where += [
                Student.external_id >= q,
                Student.external_id < q + _LAST_CHAR,
                Student.external_id.startswith(q, autoescape=True),
            ]
        else:
            where.append(
                or_(
                    func.lower(Student.name).contains(q.lower(), autoescape=True),
                    Student.external_id == q,
                )
            )
    for value, model in ((f.employer, Employer), (f.opportunity, Opportunity)):
        if value is not None:
            if not has_placement:
                return None
            where += [model.round_id == round_id, model.external_id == value]
    if f.employer is not None:
        # The employer's opportunities as a list the run's (run, opportunity) index can take.
        where.append(
            Assignment.opportunity_id.in_(
                select(Opportunity.id)
                .join(Employer, Employer.id == Opportunity.employer_id)
                .where(Employer.round_id == round_id, Employer.external_id == f.employer)
            )
        )
    if f.status is not None and f.status != UNPLACED:
        if not has_placement:
            return None
        where.append(Assignment.status == AssignmentStatus(f.status))
    return where


def _selective(f: AssignmentFilter) -> bool:
    """Whether the filter names a few placements (an employer's, an opportunity's, those in a
    status other than the solver's `proposed`): a listing then starts from them and sorts
    them, rather than read the round in the sort's order to find them."""
    return (
        f.employer is not None
        or f.opportunity is not None
        or f.status not in (None, UNPLACED, str(AssignmentStatus.proposed))
    )


def _placed_wanted(f: AssignmentFilter) -> bool | Literal["none"] | None:
    """The kinds of rows the filter can match: True placed, False unplaced, None both,
    "none" when it contradicts itself (placed only, in status unplaced)."""
    wanted = f.placed
    needs_placement = (
        f.employer is not None
        or f.opportunity is not None
        or (f.status is not None and f.status != UNPLACED)
    )
    if f.status == UNPLACED:
        if wanted is True or needs_placement:
            return "none"
        return False
    if needs_placement:
        return "none" if wanted is False else True
    return wanted


def _row(r: Any) -> AssignmentRow:
    return AssignmentRow(
        student_id=r.student_id,
        student=r.student,
        name=r.name,
        school=r.school,
        clusters=tuple(r.clusters or ()),
        groups=tuple(r.groups or ()),
        status=UNPLACED if r.status is None else str(r.status),
        opportunity=r.opportunity,
        opportunity_title=r.opportunity_title,
        employer=r.employer,
        employer_name=r.employer_name,
        slot=r.slot,
        travel_mode=None if r.travel_mode is None else str(r.travel_mode),
        travel_minutes=r.travel_minutes,
        preference_rank=r.preference_rank,
        mentor=r.mentor,
        mentor_name=r.mentor_name,
        broken_rule=r.broken_rule,
        reasons=tuple(str(x["code"]) for x in r.reasons or ()),
    )


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, AssignmentStatus) else value


def assignments_page(
    session: Session,
    rnd: Round,
    actor: Actor,
    *,
    run: SolveRun | None = None,
    filters: AssignmentFilter | None = None,
    sort: str = "name",
    descending: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> AssignmentPage:
    """A page of the run's students (the chosen run unless `run` is given): placed ones from
    its assignments, unplaced ones from its unplaced students, in one listing. `sort` is one of
    `SORTS` (ties by student id; unplaced students and empty keys come last either way);
    `cursor` is a page's `next_cursor`, for the next page of the same sort. Staff only. One
    statement for access, and one per part of the listing the page reaches (at most three)."""
    require_staff(session, rnd, actor)
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    f = filters or AssignmentFilter()
    if f.status is not None and f.status != UNPLACED and f.status not in _STATUSES:
        raise ValueError(f"status must be one of {', '.join(sorted(_STATUSES))} or unplaced")
    limit = _page_limit(limit)
    the_run = _run_of(session, rnd, run)
    empty = AssignmentPage(
        run_id=None if the_run is None else the_run.id,
        sort=sort,
        descending=descending,
        rows=(),
        next_cursor=None,
    )
    wanted = _placed_wanted(f)
    if the_run is None or wanted == "none":
        return empty
    phases = _phases(sort, wanted)
    dialect = session.get_bind().dialect.name
    start, after = 0, None
    if cursor is not None:
        payload = _decode(cursor, "this listing")
        if (
            len(payload) != 5
            or payload[:2] != [sort, descending]
            or not isinstance(payload[2], int)
            or not 0 <= payload[2] < len(phases)
            or not isinstance(payload[4], int)
            or not _key_fits(phases[payload[2]].key, payload[3])
        ):
            raise ActionRefused("cursor", "cursor: not a cursor of this listing and sort")
        start, after = payload[2], (payload[3], payload[4])

    found: list[tuple[int, Any, Any]] = []  # (phase, key value, row)
    for ix in range(start, len(phases)):
        phase = phases[ix]
        where = _filters(phase.kind, f, rnd.id, dialect)
        if where is None:
            after = None
            continue
        drives = phase.key in ("opportunity", "employer", "school")
        by_student = phase.key in ("name", "id")
        from_school = by_student and f.school is not None
        stmt, tie = _listing(
            phase.kind,
            the_run.id,
            rnd.id,
            drive=phase.key if drives else None,
            by_student=by_student and not from_school and not _selective(f),
            from_school=from_school,
            dialect=dialect,
        )
        key = None if phase.key is None else _key_column(phase.key)
        if phase.key_null is not None:
            null_of = Student.school_id if sort == "school" else _key_column(sort)
            where.append(null_of.is_(None) if phase.key_null else null_of.is_not(None))
        if ix == start and after is not None:
            value, sid = after
            if key is None:
                where.append(tie < sid if descending else tie > sid)
            else:
                if phase.key == "status":
                    value = AssignmentStatus(value)
                pair = tuple_(key, tie)
                bound = tuple_(literal(value, key.type), literal(sid))
                where.append(pair < bound if descending else pair > bound)
        order = [] if key is None else [key.desc() if descending else key.asc()]
        order.append(tie.desc() if descending else tie.asc())
        want = limit + 1 - len(found)
        key_col = (key if key is not None else null()).label("_key")
        rows = session.execute(
            stmt.add_columns(key_col).where(*where).order_by(*order).limit(want)
        ).all()
        found += [(ix, r._key, r) for r in rows]
        if len(found) > limit:
            break
    more = len(found) > limit
    found = found[:limit]
    next_cursor = None
    if more and found:
        ix, value, last = found[-1]
        next_cursor = _encode([sort, descending, ix, _json_value(value), last.student_id])
    return AssignmentPage(
        run_id=the_run.id,
        sort=sort,
        descending=descending,
        rows=tuple(_row(r) for _, _, r in found),
        next_cursor=next_cursor,
    )


# --- One student's story -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """Where a student is placed in a run, with what a page shows of it."""

    opportunity: str
    opportunity_title: str
    employer: str
    employer_name: str
    slot: str
    blocks: tuple[TimeBlock, ...]
    status: str
    travel_mode: str
    travel_minutes: int
    preference_rank: int | None
    mentor: str | None
    mentor_name: str | None
    broken_rule: str | None
    broken_reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Meeting:
    """A community mentor's weekly meeting with the student."""

    mentor: str
    mentor_name: str
    virtual: bool
    day: str
    start: str
    end: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RankedChoice:
    rank: int
    opportunity: str
    title: str
    employer_name: str
    placed_here: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PinLine:
    opportunity: str
    slot: str | None
    mentor: str | None
    broken_rule: str | None
    broken_reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """An audit event about the student."""

    at: dt.datetime
    action: str
    user: str | None  # the acting account's email; None: the system or the command line
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class StudentStory:
    """Everything about one student in one run (the chosen run unless another was asked).

    For a link holder (the student, their employer, their mentor) `placement` and `meeting` are
    shown only once visible to them (published), and the coordinators' side (`pins`,
    `forbidden`, `events`, reasons' details) is empty; `preferences` and `reasons` are the
    student's own and shown to staff and to the student's own link only."""

    student_id: int
    student: str
    name: str
    school: str | None
    grade: int | None
    clusters: tuple[str, ...]
    groups: tuple[str, ...]
    travel_modes: tuple[str, ...]
    max_commute_minutes: float
    max_weekly_hours: float | None
    wants_mentor: bool
    priority: int
    email: str | None
    busy: tuple[TimeBlock, ...]
    run_id: int | None
    placed: bool
    placement: Placement | None
    meeting: Meeting | None
    preferences: tuple[RankedChoice, ...]
    pins: tuple[PinLine, ...]
    forbidden: tuple[str, ...]
    reasons: tuple[Reason, ...]
    events: tuple[Event, ...]


def student_story(
    session: Session,
    rnd: Round,
    student: Student,
    actor: Actor,
    *,
    run: SolveRun | None = None,
) -> StudentStory:
    """The student's whole story in the run (the chosen run unless `run`): placement, travel,
    schedule, mentor, preferences, pins, forbidden pairs, reasons in plain words, and the audit
    events about the student (latest `STORY_EVENTS`). `access.require_student` decides who may
    see it. For staff: ten statements (nine and the run, unless the session holds it already),
    whatever the student and the round's size; fewer for a link."""
    if student.round_id != rnd.id:
        raise NotAllowed(
            f"access: student {student.external_id!r} belongs to another round,"
            f" not {rnd.external_id!r}"
        )
    require_student(session, rnd, actor, student.id)
    staff = _is_staff(actor)
    own = staff or (isinstance(actor, LinkHolder) and actor.kind == "student")
    the_run = _run_of(session, rnd, run)
    if not staff and the_run is not None and the_run.id != rnd.chosen_run_id:
        raise NotAllowed("access: a link shows the round's chosen run only")
    school = session.scalar(select(School.name).where(School.id == student.school_id))
    placement: Placement | None = None
    meeting: Meeting | None = None
    reasons: tuple[Reason, ...] = ()
    placed = False
    placed_opp: int | None = None
    if the_run is not None:
        row = session.execute(
            select(Assignment, Opportunity, Employer, Slot, Mentor)
            .join(Opportunity, Opportunity.id == Assignment.opportunity_id)
            .join(Employer, Employer.id == Opportunity.employer_id)
            .join(Slot, Slot.id == Assignment.slot_id)
            .outerjoin(Mentor, Mentor.id == Assignment.mentor_id)
            .where(Assignment.run_id == the_run.id, Assignment.student_id == student.id)
        ).one_or_none()
        if row is not None and (staff or row[0].status in VISIBLE_STATUSES):
            a, o, e, sl, m = row
            placed, placed_opp = True, o.id
            placement = Placement(
                opportunity=o.external_id,
                opportunity_title=o.title,
                employer=e.external_id,
                employer_name=e.name,
                slot=sl.external_id,
                blocks=_blocks(sl.blocks),
                status=str(a.status),
                travel_mode=str(a.travel_mode),
                travel_minutes=a.travel_minutes,
                preference_rank=a.preference_rank,
                mentor=None if m is None else m.external_id,
                mentor_name=None if m is None else m.name,
                broken_rule=a.broken_rule if staff else None,
                broken_reason=a.broken_reason if staff else None,
            )
        published = rnd.status in (RoundStatus.published, RoundStatus.closed)
        if staff or published:
            ms = session.execute(
                select(Mentorship, Mentor)
                .join(Mentor, Mentor.id == Mentorship.mentor_id)
                .where(Mentorship.run_id == the_run.id, Mentorship.student_id == student.id)
            ).one_or_none()
            if ms is not None:
                meeting = Meeting(
                    mentor=ms[1].external_id,
                    mentor_name=ms[1].name,
                    virtual=ms[1].virtual,
                    day=str(ms[0].day),
                    start=ms[0].start_time,
                    end=ms[0].end_time,
                )
        if own:
            # Read even for a placed student (none is stored then): one path, one count.
            raw = session.scalar(
                select(Unplaced.reasons).where(
                    Unplaced.run_id == the_run.id, Unplaced.student_id == student.id
                )
            )
            reasons = () if row is not None else _reasons(raw or (), staff=staff)
    preferences: tuple[RankedChoice, ...] = ()
    if own:
        preferences = tuple(
            RankedChoice(
                rank=rank,
                opportunity=o_ext,
                title=title,
                employer_name=employer,
                placed_here=o_id == placed_opp,
            )
            for rank, o_id, o_ext, title, employer in session.execute(
                select(
                    Preference.rank,
                    Opportunity.id,
                    Opportunity.external_id,
                    Opportunity.title,
                    Employer.name,
                )
                .join(Opportunity, Opportunity.id == Preference.opportunity_id)
                .join(Employer, Employer.id == Opportunity.employer_id)
                .where(Preference.student_id == student.id)
                .order_by(Preference.rank)
            )
        )
    pins: tuple[PinLine, ...] = ()
    forbidden: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()
    if staff:
        slot_ = aliased(Slot)
        pins = tuple(
            PinLine(opportunity=o, slot=s, mentor=m, broken_rule=br, broken_reason=why)
            for o, s, m, br, why in session.execute(
                select(
                    Opportunity.external_id,
                    slot_.external_id,
                    Mentor.external_id,
                    Pin.broken_rule,
                    Pin.broken_reason,
                )
                .join(Opportunity, Opportunity.id == Pin.opportunity_id)
                .outerjoin(slot_, slot_.id == Pin.slot_id)
                .outerjoin(Mentor, Mentor.id == Pin.mentor_id)
                .where(Pin.student_id == student.id)
                .order_by(Pin.id)
            )
        )
        forbidden = tuple(
            session.scalars(
                select(Opportunity.external_id)
                .join(Forbidden, Forbidden.opportunity_id == Opportunity.id)
                .where(Forbidden.student_id == student.id)
                .distinct()
                .order_by(Opportunity.external_id)
            )
        )
        events = tuple(
            Event(at=at, action=action, user=email, detail=dict(detail or {}))
            for at, action, email, detail in session.execute(
                select(AuditEvent.at, AuditEvent.action, User.email, AuditEvent.detail)
                .outerjoin(User, User.id == AuditEvent.user_id)
                .where(
                    AuditEvent.round_id == rnd.id,
                    AuditEvent.target_type == "students",
                    AuditEvent.target_id == student.external_id,
                )
                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                .limit(STORY_EVENTS)
            )
        )
    return StudentStory(
        student_id=student.id,
        student=student.external_id,
        name=student.name,
        school=school,
        grade=student.grade,
        clusters=tuple(student.clusters),
        groups=tuple(student.groups) if staff else (),
        travel_modes=tuple(student.travel_modes),
        max_commute_minutes=student.max_commute_minutes,
        max_weekly_hours=student.max_weekly_hours,
        wants_mentor=student.wants_mentor,
        priority=student.priority if staff else 0,
        email=student.email,
        busy=_blocks(student.busy) if own else (),
        run_id=None if the_run is None else the_run.id,
        placed=placed,
        placement=placement,
        meeting=meeting,
        preferences=preferences,
        pins=pins,
        forbidden=forbidden,
        reasons=reasons,
        events=events,
    )


# --- Where a student could move ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveTarget:
    """A slot the solver's rules (H3-H7) allow the student, and what moving there costs.

    `open`: the move would be accepted as the run stands (seats, the student's pins, a free
    workplace mentor where one is required); otherwise `blocked` names the rule and why. A move
    never displaces anyone: `taken` seats stay with their holders."""

    opportunity: str
    opportunity_title: str
    employer: str
    employer_name: str
    slot: str
    blocks: tuple[TimeBlock, ...]
    preference_rank: int | None
    travel_mode: str
    travel_minutes: int
    travel_change: int | None  # minutes more (+) or less (-) than now; None when unplaced
    seats: int
    taken: int  # by other students of the run
    held_for_pins: int  # free seats other students' pins need
    opportunity_free: int  # places left in the opportunity over its slots
    requires_mentor: bool
    mentor_free: bool | None  # None: no mentor needed
    current: bool  # the student's own slot
    open: bool
    blocked: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveTargets:
    """The student's allowed slots, best first (ranked by rank, then the rest, then by
    travel), and how many of the student's candidate opportunities each rule refuses."""

    student: str
    run_id: int
    current_slot: str | None
    candidates: int  # opportunities in the student's clusters or preferences
    targets: tuple[MoveTarget, ...]
    refused: tuple[tuple[str, int], ...]  # reason code -> opportunities it refuses


def move_targets(
    session: Session, rnd: Round, student: Student, actor: Actor, *, run: SolveRun | None = None
) -> MoveTargets:
    """Every slot the student could move to in the run (the chosen run unless `run`), with its
    cost and whether the move would be accepted now. Only the student's candidate opportunities
    (their clusters and preferences) are read; twenty statements at most, whatever the round's
    size. Staff only."""
    require_staff(session, rnd, actor)
    if student.round_id != rnd.id:
        raise NotAllowed(
            f"access: student {student.external_id!r} belongs to another round,"
            f" not {rnd.external_id!r}"
        )
    the_run = _run_of(session, rnd, run)
    if the_run is None:
        raise ActionRefused(
            "state", f"state: round {rnd.external_id!r} has no chosen run: choose a run first"
        )
    sid = student.id
    ranks: dict[int, int] = dict(
        session.execute(
            select(Preference.opportunity_id, Preference.rank).where(Preference.student_id == sid)
        ).all()
    )
    in_reach: ColumnElement[bool] = Opportunity.id.in_(ranks) if ranks else false()
    if student.clusters:
        in_reach = or_(Opportunity.cluster.in_(student.clusters), in_reach)
    else:
        in_reach = true()
    # Columns, not ORM objects: a student's candidates are thousands at 100,000 students.
    opportunities = opportunity_rows(session, Opportunity.round_id == rnd.id, in_reach)
    current = session.execute(
        select(
            Assignment.opportunity_id,
            Assignment.slot_id,
            Assignment.travel_minutes,
            Slot.external_id.label("slot"),
        )
        .join(Slot, Slot.id == Assignment.slot_id)
        .where(Assignment.run_id == the_run.id, Assignment.student_id == sid)
    ).one_or_none()
    refused: Counter[str] = Counter()
    allowed: list[tuple[Any, str, int, int]] = []  # opportunity row, slot id, mode, minutes
    capacity: dict[int, int] = {}  # H2 places of each allowed opportunity, by the solver's rule
    if opportunities:
        problem = student_problem(session, rnd, student, opportunities, ranked=set(ranks))
        inst = Instance(problem)
        elig = compute_eligibility(inst)
        refused.update(
            {code: int(n) for code, n in zip(REASONS, elig.refusals[0], strict=True) if n}
        )
        by_ext = {o.external_id: o for o in opportunities}
        for k in range(elig.size):
            sl = inst.slots[int(elig.slot[k])]
            opp = problem.opportunities[int(inst.slot_opp[int(elig.slot[k])])]
            row = by_ext[opp.id]
            allowed.append((row, sl.id, int(elig.mode[k]), int(elig.minutes[k])))
            if row.id not in capacity:
                capacity[row.id] = opportunity_capacity(opp)
    opp_ids = sorted({o.id for o, *_ in allowed})
    s_ = Slot.__table__.c
    slots = (
        {
            s.external_id: s
            for s in session.execute(select(*s_).where(s_.opportunity_id.in_(opp_ids)))
        }
        if opp_ids
        else {}
    )
    # Seats held by the run's other students, by slot.
    taken: dict[int, int] = defaultdict(int)
    if opp_ids:
        for slot_id, n in session.execute(
            select(Assignment.slot_id, func.count())
            .where(
                Assignment.run_id == the_run.id,
                Assignment.opportunity_id.in_(opp_ids),
                Assignment.student_id != sid,
            )
            .group_by(Assignment.slot_id)
        ):
            taken[slot_id] += n
    opp_taken: dict[int, int] = defaultdict(int)
    for s in slots.values():
        opp_taken[s.opportunity_id] += taken[s.id]
    # Free seats that other students' pins need (H9), as the actions count them.
    held_slot: dict[int, set[int]] = defaultdict(set)
    held_opp: dict[int, set[int]] = defaultdict(set)
    if opp_ids:
        holds = aliased(Assignment)
        for p_opp, p_slot, who, h_opp, h_slot in session.execute(
            select(
                Pin.opportunity_id, Pin.slot_id, Pin.student_id, holds.opportunity_id, holds.slot_id
            )
            .outerjoin(holds, and_(holds.run_id == the_run.id, holds.student_id == Pin.student_id))
            .where(Pin.round_id == rnd.id, Pin.student_id != sid, Pin.opportunity_id.in_(opp_ids))
        ):
            if h_opp != p_opp:
                held_opp[p_opp].add(who)
            if p_slot is not None and h_slot != p_slot:
                held_slot[p_slot].add(who)
    own_pins = session.execute(
        select(Pin.opportunity_id, Pin.slot_id, Pin.mentor_id).where(Pin.student_id == sid)
    ).all()
    reachable = set(opp_ids)
    mentor_free = _free_workplace_mentors(
        session, rnd, the_run, sid, [o for o in opportunities if o.id in reachable], own_pins
    )
    employers: dict[int, tuple[str, str]] = {}
    if allowed:
        for e_id, e_ext, e_name in session.execute(
            select(Employer.id, Employer.external_id, Employer.name).where(
                Employer.id.in_({o.employer_id for o, *_ in allowed})
            )
        ):
            employers[e_id] = (e_ext, e_name)
    targets = []
    for o, slot_ext, mode, minutes in allowed:
        row = slots[slot_ext]
        in_slot, in_opp = taken[row.id], opp_taken[o.id]
        waiting_slot, waiting_opp = len(held_slot[row.id]), len(held_opp[o.id])
        blocked = None
        elsewhere = [p for p in own_pins if p[0] != o.id or p[1] not in (None, row.id)]
        free = mentor_free.get(o.id)
        if elsewhere:
            blocked = "H9: the student is pinned elsewhere"
        elif in_slot >= row.capacity:
            blocked = f"H2: the slot is full ({in_slot} of {row.capacity} seats taken)"
        elif in_opp >= capacity[o.id]:
            blocked = f"H2: the opportunity is full ({in_opp} of {capacity[o.id]} places taken)"
        elif waiting_slot and in_slot + waiting_slot >= row.capacity:
            blocked = "H9: the free seats are held for pinned students"
        elif waiting_opp and in_opp + waiting_opp >= capacity[o.id]:
            blocked = "H9: the opportunity's free places are held for pinned students"
        elif free is False:
            blocked = "H8: no workplace mentor there has a free place"
        targets.append(
            MoveTarget(
                opportunity=o.external_id,
                opportunity_title=o.title,
                employer=employers[o.employer_id][0],
                employer_name=employers[o.employer_id][1],
                slot=slot_ext,
                blocks=_blocks(row.blocks),
                preference_rank=ranks.get(o.id),
                travel_mode=MODES[mode],
                travel_minutes=minutes,
                travel_change=None if current is None else minutes - current.travel_minutes,
                seats=row.capacity,
                taken=in_slot,
                held_for_pins=waiting_slot,
                opportunity_free=max(0, capacity[o.id] - in_opp),
                requires_mentor=o.requires_mentor,
                mentor_free=free,
                current=current is not None and current.slot_id == row.id,
                open=blocked is None,
                blocked=blocked,
            )
        )
    targets.sort(
        key=lambda t: (
            t.preference_rank is None,
            t.preference_rank or 0,
            t.travel_minutes,
            t.opportunity,
            t.slot,
        )
    )
    return MoveTargets(
        student=student.external_id,
        run_id=the_run.id,
        current_slot=None if current is None else current.slot,
        candidates=len(opportunities),
        targets=tuple(targets),
        refused=tuple(sorted(refused.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def _free_workplace_mentors(
    session: Session,
    rnd: Round,
    run: SolveRun,
    sid: int,
    opportunities: Sequence[Any],
    own_pins: Sequence[Any],
) -> dict[int, bool]:
    """For each opportunity that requires a mentor: whether a workplace mentor that fits (H8:
    same employer, cluster held; the one the student is pinned with, if any) has a free place,
    counting the run's other students and other students' pins not yet honoured (H9), as a move
    counts them. Three statements."""
    needing = [o for o in opportunities if o.requires_mentor]
    if not needing:
        return {}
    mentors = list(
        session.scalars(
            select(Mentor).where(Mentor.employer_id.in_({o.employer_id for o in needing}))
        )
    )
    ids = [m.id for m in mentors]
    loads: dict[int, int] = defaultdict(int)
    waiting: dict[int, set[int]] = defaultdict(set)
    if ids:
        for model in (Assignment, Mentorship):
            for mentor_id, n in session.execute(
                select(model.mentor_id, func.count())
                .where(model.run_id == run.id, model.student_id != sid, model.mentor_id.in_(ids))
                .group_by(model.mentor_id)
            ):
                if mentor_id is not None:  # the column may be null, though not in these rows
                    loads[mentor_id] += n
        held = or_(
            _holds_pinned_mentor(Assignment, run.id),
            _holds_pinned_mentor(Mentorship, run.id),
        )
        for mentor_id, who in session.execute(
            select(Pin.mentor_id, Pin.student_id).where(
                Pin.round_id == rnd.id, Pin.student_id != sid, Pin.mentor_id.in_(ids), ~held
            )
        ):
            if mentor_id is not None:
                waiting[mentor_id].add(who)
    out = {}
    for o in needing:
        pinned = {p[2] for p in own_pins if p[0] == o.id and p[2] is not None}
        fits = [
            m
            for m in mentors
            if m.employer_id == o.employer_id
            and (not m.clusters or o.cluster in m.clusters)
            and (not pinned or m.id in pinned)
        ]
        out[o.id] = any(loads[m.id] + len(waiting[m.id]) < m.capacity for m in fits)
    return out


def _holds_pinned_mentor(
    model: type[Assignment] | type[Mentorship], run_id: int
) -> ColumnElement[bool]:
    """A pin's student holds the pin's mentor in the run (by an assignment or a meeting)."""
    return exists().where(
        model.run_id == run_id,
        model.student_id == Pin.student_id,
        model.mentor_id == Pin.mentor_id,
    )


# --- An employer's view --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferedSlot:
    slot: str
    capacity: int
    taken: int  # placements in the chosen run (for a link: those it may see)
    blocks: tuple[TimeBlock, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferedOpportunity:
    opportunity: str
    title: str
    kind: str
    cluster: str
    capacity: int | None
    requires_mentor: bool
    slots: tuple[OfferedSlot, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlacedStudent:
    """A student placed with the employer, as the employer sees them."""

    student_id: int
    student: str
    name: str
    school: str | None
    opportunity: str
    slot: str
    status: str
    mentor: str | None
    mentor_name: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class EmployerView:
    employer: str
    name: str
    contact_email: str | None
    run_id: int | None
    opportunities: tuple[OfferedOpportunity, ...]
    placed: tuple[PlacedStudent, ...]


def employer_view(session: Session, rnd: Round, employer: Employer, actor: Actor) -> EmployerView:
    """The employer's opportunities (slots, seats taken) and the students placed with it in
    the chosen run. Staff see every placement; the employer's own link sees those published to
    it (published, confirmed, declined); any other link is refused (`access.require_employer`).
    Four statements besides the access check (staff: one, the employer's round)."""
    require_employer(session, rnd, actor, employer.id)
    staff = _is_staff(actor)
    opportunities = list(
        session.scalars(
            select(Opportunity)
            .where(Opportunity.employer_id == employer.id)
            .order_by(Opportunity.external_id)
        )
    )
    opp_ids = [o.id for o in opportunities]
    slots: dict[int, list[Slot]] = defaultdict(list)
    for sl in session.scalars(
        select(Slot).where(Slot.opportunity_id.in_(opp_ids)).order_by(Slot.external_id)
    ):
        slots[sl.opportunity_id].append(sl)
    run_id = rnd.chosen_run_id
    placed: list[PlacedStudent] = []
    taken: Counter[int] = Counter()
    if run_id is not None and opp_ids:
        where = [Assignment.run_id == run_id, Assignment.opportunity_id.in_(opp_ids)]
        if not staff:
            where.append(Assignment.status.in_(VISIBLE_STATUSES))
        for r in session.execute(
            select(
                Assignment.student_id,
                Student.external_id,
                Student.name,
                School.name,
                Opportunity.external_id,
                Slot.id,
                Slot.external_id,
                Assignment.status,
                Mentor.external_id,
                Mentor.name,
            )
            .join(Student, Student.id == Assignment.student_id)
            .outerjoin(School, School.id == Student.school_id)
            .join(Opportunity, Opportunity.id == Assignment.opportunity_id)
            .join(Slot, Slot.id == Assignment.slot_id)
            .outerjoin(Mentor, Mentor.id == Assignment.mentor_id)
            .where(*where)
            .order_by(Opportunity.external_id, Slot.external_id, Student.name, Student.id)
        ):
            taken[r[5]] += 1
            placed.append(
                PlacedStudent(
                    student_id=r[0],
                    student=r[1],
                    name=r[2],
                    school=r[3],
                    opportunity=r[4],
                    slot=r[6],
                    status=str(r[7]),
                    mentor=r[8],
                    mentor_name=r[9],
                )
            )
    return EmployerView(
        employer=employer.external_id,
        name=employer.name,
        contact_email=employer.contact_email,
        run_id=run_id,
        opportunities=tuple(
            OfferedOpportunity(
                opportunity=o.external_id,
                title=o.title,
                kind=str(o.kind),
                cluster=o.cluster,
                capacity=o.capacity,
                requires_mentor=o.requires_mentor,
                slots=tuple(
                    OfferedSlot(
                        slot=sl.external_id,
                        capacity=sl.capacity,
                        taken=taken[sl.id],
                        blocks=_blocks(sl.blocks),
                    )
                    for sl in slots[o.id]
                ),
            )
            for o in opportunities
        ),
        placed=tuple(placed),
    )


# --- Two runs side by side -----------------------------------------------------------------------

# Metrics compared between two runs, in the order a page shows them.
_COMPARED: Final = (
    "students",
    "placed",
    "placed_weighted",
    "first_choice",
    "top3",
    "unranked",
    "mentored",
    "mean_travel_minutes",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricDelta:
    name: str
    a: float | None
    b: float | None
    delta: float | None  # b - a; None when either run lacks it


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """A student whose slot differs between the runs: `kind` is "moved" (placed in both),
    "placed" (only in b) or "unplaced" (only in a)."""

    student_id: int
    student: str
    name: str
    kind: str
    from_opportunity: str | None
    from_slot: str | None
    from_rank: int | None
    from_minutes: int | None
    to_opportunity: str | None
    to_slot: str | None
    to_rank: int | None
    to_minutes: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunComparison:
    """Run `a` against run `b`: metric deltas, and a page of changed students by id."""

    run_a: int
    run_b: int
    metrics: tuple[MetricDelta, ...]
    changes: tuple[Change, ...]
    next_cursor: str | None


def compare_runs(
    session: Session,
    rnd: Round,
    run_a: SolveRun,
    run_b: SolveRun,
    actor: Actor,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> RunComparison:
    """What changes from run `a` to run `b` of the round: each metric's delta, and the students
    whose slot differs, by student id, page by page (`cursor`: a page's `next_cursor`). Staff
    only. Two statements for access and the page, whatever the round's size."""
    require_staff(session, rnd, actor)
    for r in (run_a, run_b):
        _run_of(session, rnd, r)
    limit = _page_limit(limit)
    after = -1
    if cursor is not None:
        payload = _decode(cursor, "this comparison")
        if (
            len(payload) != 3
            or payload[:2] != [run_a.id, run_b.id]
            or not isinstance(payload[2], int)
        ):
            raise ActionRefused("cursor", "cursor: not a cursor of this comparison")
        after = payload[2]
    a, b = aliased(Assignment), aliased(Assignment)
    oa, ob = aliased(Opportunity), aliased(Opportunity)
    sa_, sb = aliased(Slot), aliased(Slot)
    rows = session.execute(
        select(
            Student.id,
            Student.external_id,
            Student.name,
            oa.external_id,
            sa_.external_id,
            a.preference_rank,
            a.travel_minutes,
            ob.external_id,
            sb.external_id,
            b.preference_rank,
            b.travel_minutes,
        )
        .select_from(Student)
        .outerjoin(a, and_(a.run_id == run_a.id, a.student_id == Student.id))
        .outerjoin(b, and_(b.run_id == run_b.id, b.student_id == Student.id))
        .outerjoin(oa, oa.id == a.opportunity_id)
        .outerjoin(sa_, sa_.id == a.slot_id)
        .outerjoin(ob, ob.id == b.opportunity_id)
        .outerjoin(sb, sb.id == b.slot_id)
        .where(
            Student.round_id == rnd.id,
            Student.id > after,
            a.slot_id.is_distinct_from(b.slot_id),
        )
        .order_by(Student.id)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    changes = tuple(
        Change(
            student_id=r[0],
            student=r[1],
            name=r[2],
            kind="moved"
            if r[4] is not None and r[8] is not None
            else ("placed" if r[8] is not None else "unplaced"),
            from_opportunity=r[3],
            from_slot=r[4],
            from_rank=r[5],
            from_minutes=r[6],
            to_opportunity=r[7],
            to_slot=r[8],
            to_rank=r[9],
            to_minutes=r[10],
        )
        for r in rows
    )
    ma, mb = run_a.metrics or {}, run_b.metrics or {}
    metrics = tuple(
        MetricDelta(
            name=k,
            a=ma.get(k),
            b=mb.get(k),
            delta=None if ma.get(k) is None or mb.get(k) is None else mb[k] - ma[k],
        )
        for k in _COMPARED
    )
    return RunComparison(
        run_a=run_a.id,
        run_b=run_b.id,
        metrics=metrics,
        changes=changes,
        next_cursor=_encode([run_a.id, run_b.id, rows[-1][0]]) if more and rows else None,
    )
