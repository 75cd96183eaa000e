"""The one mapping from database rows to a `wbl-problem/1` document.

Every problem the application gives the solver is built here: the whole round (`round_problem`:
the export, and what the solve job solves) and the small problem of one student that a manual
move, pin or forbid judges by the solver's own rules (`student_problem`). Both write each row
through the same functions (`student_doc`, `opportunity_doc`, `mentor_doc`...), so the two can
never disagree about what a stored field means to the solver.

The whole round is read table by table, a fixed number of queries whatever its size, and comes
out as it was imported: its ids and content, absent optional fields left out and defaults
written out (`rounds.canonical` of an export equals that of the imported document). The
one-student problem reads a few rows per table, whatever the size of the round, as columns
rather than ORM objects (`opportunity_rows`): the page of a student's move targets builds it
over their ~3,000 candidate opportunities, where building ORM objects was most of the time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from models import (
    DeclinedPair,
    Employer,
    Forbidden,
    Mentor,
    Opportunity,
    OpportunityAccept,
    Pin,
    Preference,
    Round,
    School,
    Slot,
    Student,
    TravelGroup,
    TravelGroupTime,
    TravelOverride,
)
from solver.problem import Mentor as SolverMentor
from solver.problem import Problem, problem_from_dict

__all__ = [
    "PROBLEM_FORMAT",
    "Doc",
    "json_number",
    "location_doc",
    "mentor_doc",
    "mentor_objects",
    "opportunity_doc",
    "opportunity_rows",
    "round_header",
    "round_problem",
    "round_rows",
    "student_doc",
    "student_problem",
]

PROBLEM_FORMAT: Final = "wbl-problem/1"

Doc = dict[str, Any]


# --- One row, one object of the document ---------------------------------------------------------
# Each takes an ORM object or a row of the table's columns (the same attribute names), and the
# document ids of the rows it refers to.


def json_number(value: Any) -> Any:
    """A JSON number as the document would write it: 60.0 read back from a float column is 60."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def location_doc(lat: float | None, lon: float | None) -> dict[str, float] | None:
    """A `location` object, or None where either coordinate is missing."""
    return None if lat is None or lon is None else {"lat": lat, "lon": lon}


def _optional(out: Doc, key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def round_header(rnd: Round) -> Doc:
    """The `round` object of a wbl-problem/1 document for this round."""
    return {
        "id": rnd.external_id,
        "name": rnd.name,
        "start_date": rnd.start_date.isoformat(),
        "end_date": rnd.end_date.isoformat(),
        "timezone": rnd.timezone,
        "holidays": list(rnd.holidays),
        "summer": rnd.summer,
        "mentor_meeting_minutes": rnd.mentor_meeting_minutes,
    }


def school_doc(row: Any) -> Doc:
    """A `schools` entry."""
    school: Doc = {
        "id": row.external_id,
        "name": row.name,
        "location": {"lat": row.lat, "lon": row.lon},
    }
    _optional(school, "address", row.address)
    return school


def employer_doc(row: Any) -> Doc:
    """An `employers` entry."""
    employer: Doc = {"id": row.external_id, "name": row.name}
    _optional(employer, "contact_email", row.contact_email)
    return employer


def student_doc(row: Any, *, school: str | None, preferences: list[str]) -> Doc:
    """A `students` entry; `school` and `preferences` are document ids."""
    student: Doc = {"id": row.external_id, "name": row.name}
    _optional(student, "school", school)
    _optional(student, "grade", row.grade)
    student["birth_date"] = row.birth_date.isoformat()
    _optional(student, "location", location_doc(row.lat, row.lon))
    student.update(
        travel_modes=list(row.travel_modes),
        max_commute_minutes=json_number(row.max_commute_minutes),
        clusters=list(row.clusters),
        credentials=list(row.credentials),
        busy=list(row.busy),
        preferences=preferences,
        priority=row.priority,
        groups=list(row.groups),
    )
    _optional(student, "max_weekly_hours", json_number(row.max_weekly_hours))
    student["wants_mentor"] = row.wants_mentor
    _optional(student, "email", row.email)
    return student


def slot_doc(row: Any) -> Doc:
    """A `slots` entry of an opportunity."""
    return {"id": row.external_id, "capacity": row.capacity, "blocks": list(row.blocks)}


def opportunity_doc(row: Any, *, employer: str, slots: list[Doc], accepts: list[str] | None) -> Doc:
    """An `opportunities` entry; `accepts` (student ids) is written for a restricted one."""
    opp: Doc = {
        "id": row.external_id,
        "employer": employer,
        "title": row.title,
        "kind": str(row.kind),
        "cluster": row.cluster,
        "location": {"lat": row.lat, "lon": row.lon},
    }
    _optional(opp, "address", row.address)
    opp["transit_accessible"] = row.transit_accessible
    opp["slots"] = slots
    for key in ("capacity", "min_age", "min_grade"):
        _optional(opp, key, getattr(row, key))
    opp.update(
        required_credentials=list(row.required_credentials),
        hazardous=row.hazardous,
        requires_mentor=row.requires_mentor,
    )
    if row.restricted:
        opp["accepts"] = accepts or []
    return opp


def mentor_doc(row: Any, *, employer: str | None) -> Doc:
    """A `mentors` entry; `employer` is the document id of a workplace mentor's employer."""
    return {
        "id": row.external_id,
        "name": row.name,
        "employer": employer,
        "clusters": list(row.clusters),
        "capacity": row.capacity,
        "available": list(row.available),
        "virtual": row.virtual,
    }


def _travel_doc(student: str, opportunity: str, mode: Any, minutes: int | None) -> Doc:
    return {"student": student, "opportunity": opportunity, "mode": str(mode), "minutes": minutes}


def _group_time_doc(opportunity: str, mode: Any, minutes: int | None) -> Doc:
    return {"opportunity": opportunity, "mode": str(mode), "minutes": minutes}


def _pair_doc(student: str, opportunity: str) -> Doc:
    """A `forbidden` entry (and the start of a `pins` one)."""
    return {"student": student, "opportunity": opportunity}


def _document(round_: Doc, **parts: list[Doc]) -> Doc:
    """The whole document, its parts in the format's order; travel groups only when any."""
    groups = parts.pop("travel_groups")
    return {
        "format": PROBLEM_FORMAT,
        "round": round_,
        "schools": parts["schools"],
        "students": parts["students"],
        "employers": parts["employers"],
        "opportunities": parts["opportunities"],
        "mentors": parts["mentors"],
        "travel": parts["travel"],
        **({"travel_groups": groups} if groups else {}),
        "pins": parts["pins"],
        "forbidden": parts["forbidden"],
    }


# --- The whole round -----------------------------------------------------------------------------


def round_rows(session: Session, round_id: int, *columns: Any) -> list[Any]:
    """The given columns of one table's rows of the round, in import (id) order."""
    table = columns[0].table
    stmt = select(*columns).where(table.c.round_id == round_id).order_by(table.c.id)
    return list(session.execute(stmt))


def round_problem(session: Session, rnd: Round, *, for_solve: bool = False) -> Doc:
    """The round as a `wbl-problem/1` document: the ids and content it was imported with,
    absent optional fields left out and defaults written out. One query per table. Access is
    the caller's to check (`rounds.export_round` does, for an actor).

    `for_solve`: the document a solve job solves, with the employers' answers applied (the
    export leaves them out): a withdrawn opportunity, and with the round's `confirmed_only`
    an unconfirmed one, offers no seats (capacity 0), and each declined (student,
    opportunity) pair is forbidden."""
    rid = rnd.id
    school_rows = round_rows(session, rid, *School.__table__.c)
    school_ext = {row.id: row.external_id for row in school_rows}
    employer_rows = round_rows(session, rid, *Employer.__table__.c)
    employer_ext = {row.id: row.external_id for row in employer_rows}
    opp_rows = round_rows(session, rid, *Opportunity.__table__.c)
    opportunity_ext = {row.id: row.external_id for row in opp_rows}
    student_rows = round_rows(session, rid, *Student.__table__.c)
    student_ext = {row.id: row.external_id for row in student_rows}

    preferences: dict[int, list[str]] = defaultdict(list)
    p_ = Preference.__table__.c
    stmt = (
        select(p_.student_id, p_.opportunity_id)
        .where(p_.round_id == rid)
        .order_by(p_.student_id, p_.rank)
    )
    for student_id, opportunity_id in session.execute(stmt):
        preferences[student_id].append(opportunity_ext[opportunity_id])
    students = [
        student_doc(
            row,
            school=school_ext[row.school_id] if row.school_id is not None else None,
            preferences=preferences.get(row.id, []),
        )
        for row in student_rows
    ]

    slots: dict[int, list[Doc]] = defaultdict(list)
    slot_ext: dict[int, str] = {}
    for row in round_rows(session, rid, *Slot.__table__.c):
        slot_ext[row.id] = row.external_id
        slots[row.opportunity_id].append(slot_doc(row))
    accepts: dict[int, list[str]] = defaultdict(list)
    a_ = OpportunityAccept.__table__.c
    for opp_id, student_id in round_rows(session, rid, a_.opportunity_id, a_.student_id):
        accepts[opp_id].append(student_ext[student_id])
    opportunities = [
        opportunity_doc(
            row,
            employer=employer_ext[row.employer_id],
            slots=slots.get(row.id, []),
            accepts=accepts.get(row.id),
        )
        for row in opp_rows
    ]
    if for_solve:
        for row, opp in zip(opp_rows, opportunities, strict=True):
            closed = row.withdrawn_at is not None
            if closed or (rnd.confirmed_only and row.confirmed_at is None):
                opp["capacity"] = 0

    mentor_rows = round_rows(session, rid, *Mentor.__table__.c)
    mentor_ext = {row.id: row.external_id for row in mentor_rows}
    mentors = [
        mentor_doc(
            row,
            employer=employer_ext[row.employer_id] if row.employer_id is not None else None,
        )
        for row in mentor_rows
    ]

    t_ = TravelOverride.__table__.c
    travel = [
        _travel_doc(student_ext[s], opportunity_ext[o], mode, minutes)
        for s, o, mode, minutes in round_rows(
            session, rid, t_.student_id, t_.opportunity_id, t_.mode, t_.minutes
        )
    ]
    pins: list[Doc] = []
    pn_ = Pin.__table__.c
    for s, o, slot_id, mentor_id in round_rows(
        session, rid, pn_.student_id, pn_.opportunity_id, pn_.slot_id, pn_.mentor_id
    ):
        pin = _pair_doc(student_ext[s], opportunity_ext[o])
        if slot_id is not None:
            pin["slot"] = slot_ext[slot_id]
        if mentor_id is not None:
            pin["mentor"] = mentor_ext[mentor_id]
        pins.append(pin)
    f_ = Forbidden.__table__.c
    forbidden = [
        _pair_doc(student_ext[s], opportunity_ext[o])
        for s, o in round_rows(session, rid, f_.student_id, f_.opportunity_id)
    ]
    if for_solve:
        # A pin the coordinator made since the decline overrides it.
        pinned = {(p["student"], p["opportunity"]) for p in pins}
        d_ = DeclinedPair.__table__.c
        forbidden += [
            pair
            for s, o in round_rows(session, rid, d_.student_id, d_.opportunity_id)
            if (pair := _pair_doc(student_ext[s], opportunity_ext[o]))
            and (pair["student"], pair["opportunity"]) not in pinned
        ]
    return _document(
        round_header(rnd),
        schools=[school_doc(row) for row in school_rows],
        students=students,
        employers=[employer_doc(row) for row in employer_rows],
        opportunities=opportunities,
        mentors=mentors,
        travel=travel,
        travel_groups=_travel_groups(session, rid, student_rows, opportunity_ext),
        pins=pins,
        forbidden=forbidden,
    )


def _travel_groups(
    session: Session, rid: int, student_rows: Sequence[Any], opportunity_ext: Mapping[int, str]
) -> list[Doc]:
    """The round's travel groups: members in import order, times by group."""
    g_ = TravelGroup.__table__.c
    groups: dict[int, Doc] = {
        ident: {"id": ext, "students": [], "travel": []}
        for ident, ext in round_rows(session, rid, g_.id, g_.external_id)
    }
    for row in student_rows:
        if row.travel_group_id is not None:
            groups[row.travel_group_id]["students"].append(row.external_id)
    gt_ = TravelGroupTime.__table__.c
    for group_id, o, mode, minutes in round_rows(
        session, rid, gt_.group_id, gt_.opportunity_id, gt_.mode, gt_.minutes
    ):
        groups[group_id]["travel"].append(_group_time_doc(opportunity_ext[o], mode, minutes))
    return list(groups.values())


# --- One student ---------------------------------------------------------------------------------


def opportunity_rows(session: Session, *where: ColumnElement[bool]) -> list[Any]:
    """The columns of the opportunities matching `where`, in id order: rows that every
    function here takes as it takes ORM objects (the same attribute names), at a fraction of
    the cost of building objects (one-student problems over thousands of opportunities)."""
    o_ = Opportunity.__table__.c
    return list(session.execute(select(*o_).where(*where).order_by(o_.id)))


def student_problem(
    session: Session,
    rnd: Round,
    student: Student,
    opportunities: Sequence[Any],
    *,
    ranked: Iterable[int],
) -> Problem:
    """A `Problem` of one student and the given opportunities (ORM objects or
    `opportunity_rows`; their slots and employers), with what the rules read of them: whether
    each accepts the student, the student's travel overrides, travel group times and forbidden
    pairs (no mentors: `mentor_objects`). `ranked`: the opportunities (ids) in the student's
    preferences; only whether one is ranked matters to the rules (it lets an opportunity
    outside the clusters in), and ids outside the problem would not resolve. A few queries,
    whatever the number of opportunities and the round's size; slots and employers are read
    as columns, never as ORM objects."""
    sid = student.id
    ids = [o.id for o in opportunities]
    ext = {o.id: o.external_id for o in opportunities}
    schools: list[Doc] = []
    if student.school_id is not None:
        schools.append(school_doc(session.get_one(School, student.school_id)))
    restricted = [o.id for o in opportunities if o.restricted]
    accepted = (
        set(
            session.scalars(
                select(OpportunityAccept.opportunity_id).where(
                    OpportunityAccept.student_id == sid,
                    OpportunityAccept.opportunity_id.in_(restricted),
                )
            )
        )
        if restricted
        else set()
    )
    forbidden = session.scalars(
        select(Forbidden.opportunity_id).where(
            Forbidden.student_id == sid, Forbidden.opportunity_id.in_(ids)
        )
    )
    travel = [
        _travel_doc(student.external_id, ext[o], mode, m)
        for o, mode, m in session.execute(
            select(
                TravelOverride.opportunity_id, TravelOverride.mode, TravelOverride.minutes
            ).where(TravelOverride.student_id == sid, TravelOverride.opportunity_id.in_(ids))
        )
    ]
    # The student's travel group, reduced to this member and these opportunities' times.
    group_times = (
        [
            _group_time_doc(ext[o], mode, m)
            for o, mode, m in session.execute(
                select(
                    TravelGroupTime.opportunity_id, TravelGroupTime.mode, TravelGroupTime.minutes
                ).where(
                    TravelGroupTime.group_id == student.travel_group_id,
                    TravelGroupTime.opportunity_id.in_(ids),
                )
            )
        ]
        if student.travel_group_id is not None
        else []
    )
    e_ = Employer.__table__.c
    employers = session.execute(
        select(*e_).where(e_.id.in_({o.employer_id for o in opportunities})).order_by(e_.id)
    ).all()
    employer_ext = {e.id: e.external_id for e in employers}
    slots: dict[int, list[Doc]] = {o: [] for o in ids}
    s_ = Slot.__table__.c
    for sl in session.execute(select(*s_).where(s_.opportunity_id.in_(ids)).order_by(s_.id)):
        slots[sl.opportunity_id].append(slot_doc(sl))
    ranked = set(ranked)
    doc = _document(
        round_header(rnd),
        schools=schools,
        students=[
            student_doc(
                student,
                school=schools[0]["id"] if schools else None,
                preferences=[ext[o] for o in ids if o in ranked],
            )
        ],
        employers=[employer_doc(e) for e in employers],
        opportunities=[
            opportunity_doc(
                o,
                employer=employer_ext[o.employer_id],
                slots=slots[o.id],
                accepts=[student.external_id] if o.id in accepted else [],
            )
            for o in opportunities
        ],
        mentors=[],
        travel=travel,
        travel_groups=(
            [{"id": "group", "students": [student.external_id], "travel": group_times}]
            if group_times
            else []
        ),
        pins=[],
        forbidden=[_pair_doc(student.external_id, ext[o]) for o in forbidden],
    )
    return problem_from_dict(doc)


def mentor_objects(
    rnd: Round, rows: Sequence[Mentor], employer_ext: Mapping[int, str]
) -> tuple[SolverMentor, ...]:
    """The solver's view of mentor rows (through `mentor_doc`, as in every problem), for the
    H8 rules of one placement; `employer_ext` names the document id of each mentor's
    employer. No query."""
    doc = {
        "round": round_header(rnd),
        "mentors": [
            mentor_doc(m, employer=None if m.employer_id is None else employer_ext[m.employer_id])
            for m in rows
        ],
    }
    return problem_from_dict(doc).mentors
