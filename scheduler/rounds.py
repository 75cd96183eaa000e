"""Rounds in and out of the database: `wbl-problem/1` documents and `wbl-solution/1` answers.

`import_round` validates a document with the solver's own validator (every defect at once, as
`solver.ProblemError`) and writes it with one bulk INSERT per table: a round of 100,000
students goes into SQLite in about half a minute, a third of it validation. `export_round`
gives the document back; `canonical` is the normal form under which the two agree
(`canonical(export_round(import_round(doc))) == canonical(doc)`): defaults filled in, optional
fields present (null when absent), unknown fields dropped, and lists whose order carries no
meaning sorted. Ranked preferences keep their order, and exports list every table in import
order (pins included, which a solution names by index).

`store_solution` writes a solver answer into a run and `solution_from_run` reads it back as a
`wbl-solution/1` document that `solver.check_solution` accepts against the exported round.

Functions take a `Session` and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Employer,
    Forbidden,
    Mentor,
    Mentorship,
    Opportunity,
    OpportunityAccept,
    Pin,
    Preference,
    Program,
    Round,
    RoundStatus,
    School,
    Slot,
    SolutionStatus,
    SolveRun,
    Student,
    TravelGroup,
    TravelGroupTime,
    TravelOverride,
    Unplaced,
    User,
)
from models.base import Base
from scheduler.access import Actor, require_staff
from scheduler.problems import PROBLEM_FORMAT as PROBLEM_FORMAT  # importers read it here
from scheduler.problems import (
    Doc,
    json_number,
    round_problem,
    round_rows,
)
from solver import load_problem

__all__ = [
    "RoundClosedError",
    "RoundExistsError",
    "SolutionMismatchError",
    "canonical",
    "export_round",
    "import_round",
    "replace_travel_groups",
    "solution_from_run",
    "store_solution",
]

SOLUTION_FORMAT: Final = "wbl-solution/1"
_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RoundExistsError(ValueError):
    """The program already has a round with this id; importing it again would duplicate it."""


class SolutionMismatchError(ValueError):
    """A solution document that does not fit the round it is stored into (unknown ids, or no
    valid status)."""


# --- Small conversions shared by import, export and canonical --------------------------------


def _block(raw: Mapping[str, Any]) -> dict[str, str]:
    """A block with only the format's keys, in the format's order."""
    if "date" in raw:
        return {"date": raw["date"], "start": raw["start"], "end": raw["end"]}
    return {"day": raw["day"], "start": raw["start"], "end": raw["end"]}


def _blocks(raw: Iterable[Mapping[str, Any]] | None) -> list[dict[str, str]]:
    return [_block(b) for b in raw or ()]


def _stored_blocks(raw: Iterable[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    """Blocks to store: a validated block with three keys has only the format's own (day or
    date, start, end) and is stored as it is; copying 640,000 of them costs a second."""
    return [b if len(b) == 3 else _block(b) for b in raw or ()]


def _ids(session: Session, model: type[Base], round_id: int) -> dict[str, int]:
    """external id -> surrogate id of a round's rows of `model`."""
    table = model.__table__
    stmt = select(table.c.external_id, table.c.id).where(table.c.round_id == round_id)
    return dict(session.execute(stmt).all())


def _insert(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    # An empty parameter list would run one INSERT of defaults instead of none.
    if rows:
        # render_nulls: by default the ORM leaves None values out of an INSERT, so rows with
        # and without, say, a grade need different statements and a batch of 100,000 breaks
        # into thousands of small ones. Every column here has a Python-side default at most.
        session.execute(insert(model), rows, execution_options={"render_nulls": True})


# --- Import ------------------------------------------------------------------------------------


def import_round(session: Session, doc: Mapping[str, Any], program: Program) -> Round:
    """Validate `doc` (a `wbl-problem/1` document) and store it as a new round of `program`.

    Raises `solver.ProblemError` (listing every defect) when the document is invalid, and
    `RoundExistsError` when the program already has a round with the same id."""
    load_problem(doc)
    r = doc["round"]
    if program.id is None:
        session.add(program)
        session.flush()
    existing = session.scalar(
        select(Round.id).where(Round.program_id == program.id, Round.external_id == r["id"])
    )
    if existing is not None:
        raise RoundExistsError(
            f"program {program.slug!r} already has a round {r['id']!r}; importing it again"
            " would duplicate it (delete that round first, or give this one another id)"
        )
    rnd = Round(
        program_id=program.id,
        external_id=r["id"],
        name=r["name"],
        start_date=dt.date.fromisoformat(r["start_date"]),
        end_date=dt.date.fromisoformat(r["end_date"]),
        timezone=r["timezone"],
        holidays=list(r.get("holidays") or ()),
        summer=bool(r.get("summer", False)),
        mentor_meeting_minutes=int(r.get("mentor_meeting_minutes", 30)),
    )
    session.add(rnd)
    session.flush()
    rid = rnd.id

    # Parents before children; each table's surrogate ids are read back once, by external id.
    _insert(session, School, [_school_row(s, rid) for s in doc["schools"]])
    schools = _ids(session, School, rid)
    _insert(session, Employer, [_employer_row(e, rid) for e in doc["employers"]])
    employers = _ids(session, Employer, rid)
    groups = doc.get("travel_groups") or ()
    group_ids = _insert_travel_groups(session, rid, groups)
    group_of = {sid: group_ids[g["id"]] for g in groups for sid in g["students"]}
    _insert(session, Student, [_student_row(s, rid, schools, group_of) for s in doc["students"]])
    students = _ids(session, Student, rid)
    _insert(
        session, Opportunity, [_opportunity_row(o, rid, employers) for o in doc["opportunities"]]
    )
    opportunities = _ids(session, Opportunity, rid)
    _insert(
        session,
        Slot,
        [
            {
                "round_id": rid,
                "opportunity_id": opportunities[o["id"]],
                "external_id": sl["id"],
                "capacity": sl["capacity"],
                "blocks": _stored_blocks(sl.get("blocks")),
            }
            for o in doc["opportunities"]
            for sl in o["slots"]
        ],
    )
    slots = _ids(session, Slot, rid)
    _insert(session, Mentor, [_mentor_row(m, rid, employers) for m in doc["mentors"]])
    mentors = _ids(session, Mentor, rid)

    _insert(
        session,
        Preference,
        [
            {
                "round_id": rid,
                "student_id": students[s["id"]],
                "opportunity_id": opportunities[o],
                "rank": rank,
            }
            for s in doc["students"]
            for rank, o in enumerate(s.get("preferences") or (), start=1)
        ],
    )
    _insert(
        session,
        OpportunityAccept,
        [
            {"round_id": rid, "opportunity_id": opportunities[o["id"]], "student_id": students[s]}
            for o in doc["opportunities"]
            for s in o.get("accepts") or ()
        ],
    )
    _insert(
        session,
        TravelOverride,
        [
            {
                "round_id": rid,
                "student_id": students[t["student"]],
                "opportunity_id": opportunities[t["opportunity"]],
                "mode": t["mode"],
                "minutes": t["minutes"],
            }
            for t in doc.get("travel") or ()
        ],
    )
    _insert_group_times(session, rid, groups, group_ids, opportunities)
    _insert(
        session,
        Pin,
        [
            {
                "round_id": rid,
                "student_id": students[p["student"]],
                "opportunity_id": opportunities[p["opportunity"]],
                "slot_id": slots[p["slot"]] if p.get("slot") is not None else None,
                "mentor_id": mentors[p["mentor"]] if p.get("mentor") is not None else None,
            }
            for p in doc.get("pins") or ()
        ],
    )
    _insert(
        session,
        Forbidden,
        [
            {
                "round_id": rid,
                "student_id": students[f["student"]],
                "opportunity_id": opportunities[f["opportunity"]],
            }
            for f in doc.get("forbidden") or ()
        ],
    )
    return rnd


def _school_row(s: Mapping[str, Any], rid: int) -> dict[str, Any]:
    return {
        "round_id": rid,
        "external_id": s["id"],
        "name": s["name"],
        "lat": float(s["location"]["lat"]),
        "lon": float(s["location"]["lon"]),
        "address": s.get("address"),
    }


def _employer_row(e: Mapping[str, Any], rid: int) -> dict[str, Any]:
    return {
        "round_id": rid,
        "external_id": e["id"],
        "name": e["name"],
        "contact_email": e.get("contact_email"),
    }


def _student_row(
    s: Mapping[str, Any], rid: int, schools: Mapping[str, int], groups: Mapping[str, int]
) -> dict[str, Any]:
    school, home = s.get("school"), s.get("location")
    return {
        "round_id": rid,
        "external_id": s["id"],
        "name": s["name"],
        "school_id": schools[school] if school is not None else None,
        "grade": s.get("grade"),
        "birth_date": dt.date.fromisoformat(s["birth_date"]),
        "lat": float(home["lat"]) if home is not None else None,
        "lon": float(home["lon"]) if home is not None else None,
        "travel_modes": list(s["travel_modes"]),
        "max_commute_minutes": s.get("max_commute_minutes", 60),
        "clusters": list(s.get("clusters") or ()),
        "credentials": list(s.get("credentials") or ()),
        "busy": _stored_blocks(s.get("busy")),
        "priority": s.get("priority", 0),
        "groups": list(s.get("groups") or ()),
        "max_weekly_hours": s.get("max_weekly_hours"),
        "wants_mentor": bool(s.get("wants_mentor", False)),
        "email": s.get("email"),
        "travel_group_id": groups.get(s["id"]),
    }


def _opportunity_row(
    o: Mapping[str, Any], rid: int, employers: Mapping[str, int]
) -> dict[str, Any]:
    return {
        "round_id": rid,
        "employer_id": employers[o["employer"]],
        "external_id": o["id"],
        "title": o["title"],
        "kind": o["kind"],
        "cluster": o["cluster"],
        "lat": float(o["location"]["lat"]),
        "lon": float(o["location"]["lon"]),
        "address": o.get("address"),
        "transit_accessible": bool(o.get("transit_accessible", True)),
        "capacity": o.get("capacity"),
        "min_age": o.get("min_age"),
        "min_grade": o.get("min_grade"),
        "required_credentials": list(o.get("required_credentials") or ()),
        "hazardous": bool(o.get("hazardous", False)),
        "requires_mentor": bool(o.get("requires_mentor", False)),
        "restricted": o.get("accepts") is not None,
    }


def _mentor_row(m: Mapping[str, Any], rid: int, employers: Mapping[str, int]) -> dict[str, Any]:
    employer = m.get("employer")
    return {
        "round_id": rid,
        "employer_id": employers[employer] if employer is not None else None,
        "external_id": m["id"],
        "name": m["name"],
        "clusters": list(m.get("clusters") or ()),
        "capacity": m["capacity"],
        "available": _stored_blocks(m.get("available")),
        "virtual": bool(m.get("virtual", False)),
    }


# --- Export ------------------------------------------------------------------------------------


def _optional(out: Doc, key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def export_round(session: Session, rnd: Round, actor: Actor = None) -> Doc:
    """The round as a `wbl-problem/1` document (`problems.round_problem`): the ids and content
    it was imported with. Student data: `actor` must read the whole round (`require_staff`: a
    member of its program, viewers included); None is the system or the command line."""
    require_staff(session, rnd, actor)
    return round_problem(session, rnd)


# --- Travel groups measured later (a timetable) -------------------------------------------------


class RoundClosedError(ValueError):
    """The round is closed: its data no longer changes."""


def replace_travel_groups(
    session: Session,
    rnd: Round,
    groups: Sequence[Mapping[str, Any]],
    *,
    prefix: str,
    user: User | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Replace the round's travel groups whose id starts with `prefix` by `groups` (documents
    of the format's `travel_groups`), in the caller's transaction; returns the times stored.

    Groups with other ids and their members are left alone (a member of one of them must not
    be in `groups`). The round's version moves on (what a coordinator prepared against the old
    times is stale), and an `AuditEvent` records the change. A closed round is refused
    (`RoundClosedError`)."""
    rid = rnd.id
    # Serialise with imports and other measurements of the round; the status as locked.
    status = session.execute(
        select(Round.status).where(Round.id == rid).with_for_update()
    ).scalar_one()
    if status == RoundStatus.closed:
        raise RoundClosedError(f"round {rnd.external_id!r} is closed")
    g_ = TravelGroup.__table__.c
    old = [
        ident
        for ident, ext in round_rows(session, rid, g_.id, g_.external_id)
        if ext.startswith(prefix)
    ]
    for chunk in chunks(old):
        session.execute(
            update(Student)
            .where(Student.round_id == rid, Student.travel_group_id.in_(chunk))
            .values(travel_group_id=None),
            execution_options={"synchronize_session": False},
        )
        session.execute(delete(TravelGroupTime).where(TravelGroupTime.group_id.in_(chunk)))
        session.execute(delete(TravelGroup).where(TravelGroup.id.in_(chunk)))
    group_ids = _insert_travel_groups(session, rid, groups)
    students = _ids(session, Student, rid)
    members = [
        {"id": students[sid], "travel_group_id": group_ids[g["id"]]}
        for g in groups
        for sid in g["students"]
    ]
    if members:
        session.execute(update(Student), members)  # by primary key, in batches
    times = _insert_group_times(session, rid, groups, group_ids, _ids(session, Opportunity, rid))
    session.execute(
        update(Round).where(Round.id == rid).values(version=Round.version + 1),
        execution_options={"synchronize_session": False},
    )
    session.add(
        AuditEvent(
            program_id=rnd.program_id,
            round_id=rid,
            user_id=user.id if user is not None else None,
            action="round.travel_groups",
            target_type="round",
            target_id=rnd.external_id,
            detail={
                "prefix": prefix,
                "groups": len(groups),
                "members": len(members),
                "times": times,
                "replaced_groups": len(old),
                **(detail or {}),
            },
        )
    )
    session.flush()
    session.expire_all()  # bulk writes bypassed the loaded objects
    return times


def _insert_travel_groups(
    session: Session, rid: int, groups: Sequence[Mapping[str, Any]]
) -> dict[str, int]:
    """Insert the groups' rows; every group of the round by external id -> surrogate id."""
    _insert(session, TravelGroup, [{"round_id": rid, "external_id": g["id"]} for g in groups])
    return _ids(session, TravelGroup, rid)


def _insert_group_times(
    session: Session,
    rid: int,
    groups: Sequence[Mapping[str, Any]],
    group_ids: Mapping[str, int],
    opportunities: Mapping[str, int],
) -> int:
    """Insert the groups' measured times; how many."""
    times = [
        {
            "round_id": rid,
            "group_id": group_ids[g["id"]],
            "opportunity_id": opportunities[t["opportunity"]],
            "mode": t["mode"],
            "minutes": t["minutes"],
        }
        for g in groups
        for t in g.get("travel") or ()
    ]
    _insert(session, TravelGroupTime, times)
    return len(times)


def chunks(ids: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """`ids` in pieces small enough for an `IN (...)` list on every backend."""
    for a in range(0, len(ids), size):
        yield ids[a : a + size]


# --- The normal form under which import and export agree ---------------------------------------


def _by(*keys: str) -> Callable[[Mapping[str, Any]], tuple[str, ...]]:
    return lambda item: tuple("" if item.get(k) is None else str(item[k]) for k in keys)


def _block_key(b: Mapping[str, str]) -> tuple[int, int | str, str, str]:
    """Weekly blocks first, by weekday, then dated blocks by date; then by time."""
    if "day" in b:
        return (0, _DAYS.index(b["day"]), b["start"], b["end"])
    return (1, b["date"], b["start"], b["end"])


def _canonical_blocks(raw: Iterable[Mapping[str, Any]] | None) -> list[dict[str, str]]:
    return sorted(_blocks(raw), key=_block_key)


def _canonical_location(raw: Mapping[str, Any] | None) -> dict[str, float] | None:
    return None if raw is None else {"lat": float(raw["lat"]), "lon": float(raw["lon"])}


def _codes(raw: Iterable[str] | None) -> list[str]:
    return sorted(raw or ())


def canonical(doc: Mapping[str, Any]) -> Doc:
    """`doc` (a valid `wbl-problem/1` document) in normal form, for comparing two documents
    "order aside": every field of the format present (defaults filled in, null where an
    optional field without a default is absent), unknown fields dropped, numbers as the JSON
    would read (60.0 is 60, coordinates are floats), and lists whose order means nothing
    sorted: lists with ids by id, slots by id, blocks by day or date then time, codes
    (clusters, credentials, groups, travel modes, holidays) alphabetically, `accepts`, and
    travel, pins and forbidden pairs by their fields. Preferences keep their order: it is
    their rank."""
    r = doc["round"]
    out: Doc = {
        "format": PROBLEM_FORMAT,
        "round": {
            "id": r["id"],
            "name": r["name"],
            "start_date": r["start_date"],
            "end_date": r["end_date"],
            "timezone": r["timezone"],
            "holidays": _codes(r.get("holidays")),
            "summer": bool(r.get("summer", False)),
            "mentor_meeting_minutes": r.get("mentor_meeting_minutes", 30),
        },
    }
    out["schools"] = sorted(
        (
            {
                "id": s["id"],
                "name": s["name"],
                "location": _canonical_location(s["location"]),
                "address": s.get("address"),
            }
            for s in doc["schools"]
        ),
        key=_by("id"),
    )
    out["students"] = sorted(
        (
            {
                "id": s["id"],
                "name": s["name"],
                "school": s.get("school"),
                "grade": s.get("grade"),
                "birth_date": s["birth_date"],
                "location": _canonical_location(s.get("location")),
                "travel_modes": _codes(s["travel_modes"]),
                "max_commute_minutes": json_number(s.get("max_commute_minutes", 60)),
                "clusters": _codes(s.get("clusters")),
                "credentials": _codes(s.get("credentials")),
                "busy": _canonical_blocks(s.get("busy")),
                "preferences": list(s.get("preferences") or ()),
                "priority": s.get("priority", 0),
                "groups": _codes(s.get("groups")),
                "max_weekly_hours": json_number(s.get("max_weekly_hours")),
                "wants_mentor": bool(s.get("wants_mentor", False)),
                "email": s.get("email"),
            }
            for s in doc["students"]
        ),
        key=_by("id"),
    )
    out["employers"] = sorted(
        (
            {"id": e["id"], "name": e["name"], "contact_email": e.get("contact_email")}
            for e in doc["employers"]
        ),
        key=_by("id"),
    )
    out["opportunities"] = sorted(
        (
            {
                "id": o["id"],
                "employer": o["employer"],
                "title": o["title"],
                "kind": o["kind"],
                "cluster": o["cluster"],
                "location": _canonical_location(o["location"]),
                "address": o.get("address"),
                "transit_accessible": bool(o.get("transit_accessible", True)),
                "slots": sorted(
                    (
                        {
                            "id": sl["id"],
                            "capacity": sl["capacity"],
                            "blocks": _canonical_blocks(sl.get("blocks")),
                        }
                        for sl in o["slots"]
                    ),
                    key=_by("id"),
                ),
                "capacity": o.get("capacity"),
                "min_age": o.get("min_age"),
                "min_grade": o.get("min_grade"),
                "required_credentials": _codes(o.get("required_credentials")),
                "hazardous": bool(o.get("hazardous", False)),
                "requires_mentor": bool(o.get("requires_mentor", False)),
                "accepts": None if o.get("accepts") is None else sorted(o["accepts"]),
            }
            for o in doc["opportunities"]
        ),
        key=_by("id"),
    )
    out["mentors"] = sorted(
        (
            {
                "id": m["id"],
                "name": m["name"],
                "employer": m.get("employer"),
                "clusters": _codes(m.get("clusters")),
                "capacity": m["capacity"],
                "available": _canonical_blocks(m.get("available")),
                "virtual": bool(m.get("virtual", False)),
            }
            for m in doc["mentors"]
        ),
        key=_by("id"),
    )
    out["travel"] = sorted(
        (
            {
                "student": t["student"],
                "opportunity": t["opportunity"],
                "mode": t["mode"],
                "minutes": t["minutes"],
            }
            for t in doc.get("travel") or ()
        ),
        key=_by("student", "opportunity", "mode"),
    )
    out["travel_groups"] = sorted(
        (
            {
                "id": g["id"],
                "students": sorted(g["students"]),
                "travel": sorted(
                    (
                        {
                            "opportunity": t["opportunity"],
                            "mode": t["mode"],
                            "minutes": t["minutes"],
                        }
                        for t in g.get("travel") or ()
                    ),
                    key=_by("opportunity", "mode"),
                ),
            }
            for g in doc.get("travel_groups") or ()
        ),
        key=_by("id"),
    )
    out["pins"] = sorted(
        (
            {
                "student": p["student"],
                "opportunity": p["opportunity"],
                "slot": p.get("slot"),
                "mentor": p.get("mentor"),
            }
            for p in doc.get("pins") or ()
        ),
        key=_by("student", "opportunity", "slot", "mentor"),
    )
    out["forbidden"] = sorted(
        (
            {"student": f["student"], "opportunity": f["opportunity"]}
            for f in doc.get("forbidden") or ()
        ),
        key=_by("student", "opportunity"),
    )
    return out


# --- Solutions ---------------------------------------------------------------------------------

# Keys of a solution document that have columns or tables of their own; every other key
# (objective and bound exactly, objective_levels, lottery, stats, infeasible_pins, and fields
# added to the format later) is kept in `SolveRun.result`.
_SOLUTION_COLUMNS: Final = frozenset(
    {"format", "status", "gap", "wall_seconds", "assignments", "mentorships", "unplaced", "metrics"}
)


def _resolve(
    ids: Mapping[str, int], ext: Any, path: str, what: str, problems: list[str]
) -> int | None:
    ident = ids.get(ext) if isinstance(ext, str) else None
    if ident is None:
        problems.append(f"{path}: unknown {what} {ext!r}")
    return ident


def store_solution(
    session: Session, rnd: Round, run: SolveRun, solution: Mapping[str, Any]
) -> None:
    """Write a `wbl-solution/1` document as the answer of `run` (a run of `rnd`), replacing
    whatever the run held: its assignments, mentorships and unplaced students in one bulk
    insert each, and the status, objective, bound, gap, metrics and the rest on the run.

    An assignment's `status` (an added field: `proposed`, `pinned`, `published`, `confirmed`,
    `declined`) is stored as the document gives it; without one, an assignment that a pin of
    the round asked for is stored `pinned`, the others `proposed`. The run's job status
    (`run.status`) is the caller's to set. Raises `SolutionMismatchError` naming every id the
    round does not have."""
    if run.round_id != rnd.id:
        raise ValueError(f"solve run {run.id} belongs to round {run.round_id}, not {rnd.id}")
    rid = rnd.id
    students = _ids(session, Student, rid)
    opportunities = _ids(session, Opportunity, rid)
    slots = _ids(session, Slot, rid)
    mentors = _ids(session, Mentor, rid)
    pn_ = Pin.__table__.c
    pinned = {
        (s, o, slot)
        for s, o, slot in round_rows(session, rid, pn_.student_id, pn_.opportunity_id, pn_.slot_id)
    }

    problems: list[str] = []
    status = str(solution.get("status"))
    if status not in SolutionStatus.__members__:
        problems.append(f"status: {status!r} is not one of {', '.join(SolutionStatus)}")
    assignments: list[dict[str, Any]] = []
    for i, a in enumerate(solution.get("assignments") or ()):
        path = f"assignments[{i}]"
        student = _resolve(students, a.get("student"), f"{path}.student", "student", problems)
        opp = _resolve(
            opportunities, a.get("opportunity"), f"{path}.opportunity", "opportunity", problems
        )
        slot = _resolve(slots, a.get("slot"), f"{path}.slot", "slot", problems)
        mentor = None
        if a.get("mentor") is not None:
            mentor = _resolve(mentors, a["mentor"], f"{path}.mentor", "mentor", problems)
        is_pinned = (student, opp, None) in pinned or (student, opp, slot) in pinned
        given = a.get("status")
        if given is None:
            a_status = AssignmentStatus.pinned if is_pinned else AssignmentStatus.proposed
        elif isinstance(given, str) and given in AssignmentStatus.__members__:
            a_status = AssignmentStatus(given)
        else:
            problems.append(f"{path}.status: {given!r} is not one of {', '.join(AssignmentStatus)}")
            a_status = AssignmentStatus.proposed
        assignments.append(
            {
                "run_id": run.id,
                "student_id": student,
                "opportunity_id": opp,
                "slot_id": slot,
                "mentor_id": mentor,
                "travel_mode": a.get("travel_mode"),
                "travel_minutes": a.get("travel_minutes"),
                "preference_rank": a.get("preference_rank"),
                "status": a_status,
            }
        )
    mentorships = []
    for i, m in enumerate(solution.get("mentorships") or ()):
        path = f"mentorships[{i}]"
        mentorships.append(
            {
                "run_id": run.id,
                "student_id": _resolve(
                    students, m.get("student"), f"{path}.student", "student", problems
                ),
                "mentor_id": _resolve(
                    mentors, m.get("mentor"), f"{path}.mentor", "mentor", problems
                ),
                "day": m.get("day"),
                "start_time": m.get("start"),
                "end_time": m.get("end"),
            }
        )
    unplaced = [
        {
            "run_id": run.id,
            "student_id": _resolve(
                students, u.get("student"), f"unplaced[{i}].student", "student", problems
            ),
            "reasons": list(u.get("reasons") or ()),
        }
        for i, u in enumerate(solution.get("unplaced") or ())
    ]
    if problems:
        shown = problems[:20] + (
            [f"... and {len(problems) - 20} more"] if len(problems) > 20 else []
        )
        raise SolutionMismatchError(
            f"the solution does not fit round {rnd.external_id!r}:\n" + "\n".join(shown)
        )

    for model in (Assignment, Mentorship, Unplaced):
        session.execute(
            delete(model).where(model.__table__.c.run_id == run.id),
            execution_options={"synchronize_session": False},
        )
    _insert(session, Assignment, assignments)
    _insert(session, Mentorship, mentorships)
    _insert(session, Unplaced, unplaced)

    run.solution_status = SolutionStatus(status)
    run.objective = _float(solution.get("objective"))
    run.bound = _float(solution.get("bound"))
    run.gap = _float(solution.get("gap"))
    run.wall_seconds = _float(solution.get("wall_seconds"))
    run.metrics = solution.get("metrics")
    run.result = {k: v for k, v in solution.items() if k not in _SOLUTION_COLUMNS}
    run.travel_minutes_total = sum(int(a["travel_minutes"]) for a in solution["assignments"])
    # The relationships may have been loaded before the bulk writes; they are stale now.
    session.expire(run, ["assignments", "mentorships", "unplaced"])


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def solution_from_run(session: Session, run: SolveRun) -> Doc:
    """The stored answer of `run` as a `wbl-solution/1` document (assignments, mentorships and
    unplaced students in the order they were stored). Raises ValueError if the run has none.

    Each assignment carries its stored `status` (an added field, which `--previous` reads), as
    every solution document the project writes does."""
    if run.solution_status is None:
        raise ValueError(f"solve run {run.id} has no solution yet (status {run.status.value})")
    a_, st_, o_, sl_, m_ = (
        Assignment.__table__.c,
        Student.__table__.c,
        Opportunity.__table__.c,
        Slot.__table__.c,
        Mentor.__table__.c,
    )
    stmt = (
        select(
            st_.external_id,
            o_.external_id,
            sl_.external_id,
            m_.external_id,
            a_.travel_mode,
            a_.travel_minutes,
            a_.preference_rank,
            a_.status,
        )
        .join_from(Assignment.__table__, Student.__table__, a_.student_id == st_.id)
        .join(Opportunity.__table__, a_.opportunity_id == o_.id)
        .join(Slot.__table__, a_.slot_id == sl_.id)
        .outerjoin(Mentor.__table__, a_.mentor_id == m_.id)
        .where(a_.run_id == run.id)
        .order_by(a_.id)
    )
    assignments: list[Doc] = []
    for student, opp, slot, mentor, mode, minutes, rank, status in session.execute(stmt):
        a: Doc = {"student": student, "opportunity": opp, "slot": slot}
        _optional(a, "mentor", mentor)
        a.update(travel_mode=str(mode), travel_minutes=minutes)
        _optional(a, "preference_rank", rank)
        a["status"] = str(status)
        assignments.append(a)

    ms_ = Mentorship.__table__.c
    m_stmt = (
        select(st_.external_id, m_.external_id, ms_.day, ms_.start_time, ms_.end_time)
        .join_from(Mentorship.__table__, Student.__table__, ms_.student_id == st_.id)
        .join(Mentor.__table__, ms_.mentor_id == m_.id)
        .where(ms_.run_id == run.id)
        .order_by(ms_.id)
    )
    mentorships = [
        {"student": s, "mentor": m, "day": str(day), "start": start, "end": end}
        for s, m, day, start, end in session.execute(m_stmt)
    ]
    u_ = Unplaced.__table__.c
    u_stmt = (
        select(st_.external_id, u_.reasons)
        .join_from(Unplaced.__table__, Student.__table__, u_.student_id == st_.id)
        .where(u_.run_id == run.id)
        .order_by(u_.id)
    )
    unplaced = [{"student": s, "reasons": reasons} for s, reasons in session.execute(u_stmt)]

    extra = dict(run.result or {})
    if run.edited_at is not None:
        extra["edited"] = True
    doc: Doc = {
        "format": SOLUTION_FORMAT,
        "status": run.solution_status.value,
        "objective": extra.pop("objective", json_number(run.objective)),
        "bound": extra.pop("bound", json_number(run.bound)),
        "gap": run.gap,
        "wall_seconds": run.wall_seconds,
        "assignments": assignments,
        "mentorships": mentorships,
        "unplaced": unplaced,
        "metrics": run.metrics,
    }
    doc.update(extra)
    return doc
