"""Coordinator actions on a round: choose a run, pin, move, unplace, forbid, re-solve, publish,
close. The web pages call these; each is one small unit of work inside the caller's transaction.

Every function receives a `Session` (the caller commits), the round, and the `User` acting
(None for the system or the command line); it writes one `AuditEvent` with the state before and
after, and returns an `Outcome` saying what changed. A refused action raises `ActionRefused`
(`MoveRefused`, `PinRefused`, `RoundChanged`, `NotAllowed`) whose `rule` names what would break
(`H1`..`H9` of the spec, `state` for the round's lifecycle, `version` for a stale round,
`access` for a user who may not act) and writes nothing.

Access. A user acts on a round only as an active account holding a `Membership` of the round's
program with the role `coordinator` or `admin` (a `viewer` only reads); anyone else is refused
with `NotAllowed` (rule `access`) before anything is read for the action, locked or written.
The check is one query (the account and its membership, as stored now: a user deactivated or
demoted since the page loaded is refused). It runs before the round's lock: it reads only the
account and the membership, which no action changes, so a refused user neither waits for
coordinators at work nor holds them up. Every row passed in (student, opportunity, slot,
mentor, run) must belong to the round, or the action is refused as `access` too: the
membership was checked for the round's program, and a row of another round may be another
program's.

Checks use the solver's own rules, one student at a time. `refusal_codes` (H3-H7) runs on a
problem of one student and one opportunity assembled from their rows: the rules are per pair, so
the answer is the one the whole round would give (a test keeps the two in agreement), and a
move in a 100,000-student round reads a few dozen rows instead of the round. Capacities (H2,
H8) are counted by query.

Decisions, where the format leaves a choice:
- A manual move or placement is pinned: it adds a `Pin` of the round for (student,
  opportunity, slot) and the assignment becomes `pinned`, so a re-solve keeps it (the solver
  treats pins as hard constraints). `pin=False` moves without pinning (status `proposed`).
- A workplace mentor is picked when the opportunity requires one and none is given: the student's
  current mentor if it still fits, else the first (by external id) with a free place. A place is
  free when neither the run's other students hold it nor a pin of another student, not yet
  honoured in the run, names the mentor: a re-solve must give that student the mentor (H9), just
  as seats are held for students pinned to a slot. A mentor named by the coordinator whose only
  free places are held that way is refused (H9).
- A community mentorship that the move makes impossible (its meeting overlaps a shift of the
  new slot, or the student now has a workplace mentor) is dropped, with a note in the outcome
  and the audit, rather than refusing the move; a pin naming that mentor refuses it (H9).
- Seats and mentor places are counted over every assignment of the run, `declined` ones too:
  a declined placement still appears in the run's solution, which must stay within capacity.
  `unplace` frees such a seat.
- A placement that `forbid` rules out is removed from the chosen run (the student becomes
  unplaced with reason `forbidden`), whatever its status.
- After a change of placements the run's metrics are updated and an `optimal` run becomes
  `feasible`, its `edited_at` is set and its solution says `"edited": true`: it still satisfies
  every rule (`wbl check`
  accepts it), but it is no longer the solver's proven optimum.

Concurrency. Two coordinators may move different students at the same time; what must never
happen is that both take the last seat of a slot. Before counting, a move locks the rows it
counts against: the opportunity, then the slot, then candidate mentors, then the run (for its
metrics), always in that order so that two moves cannot deadlock (a pin naming a mentor locks
it in the same place, before counting the other pins that name it). On PostgreSQL these are
`SELECT ... FOR NO KEY UPDATE` row locks (the strength of an UPDATE that changes no key: it
excludes other movers but not foreign-key checks of unrelated inserts); under READ COMMITTED
the second transaction waits, and its count, a new statement, sees the first one's seat. Edits
also lock the student's row, so two actions on one student never interleave (H1, pins). SQLite
has no row locks but only one writer at a time, and its driver starts the transaction only at
the first write: every action therefore starts with a write (a no-op UPDATE of the round,
right after the access check, which reads no data of the round), which makes a second action
wait for the first to commit before it reads anything it counts.

Whole-round actions (choose_run, publish, close) must not interleave with edits either. Edits
take a shared lock on the round row (`FOR SHARE`: edits do not exclude each other), whole-round
actions an exclusive one, so a publish waits for moves in flight and moves wait for a publish.
`Round.version` is the optimistic counter: whole-round actions change the round row and so bump
it, and every action first compares the stored version with the one the caller loaded (and
with `expected_version`, the version a page showed, where given): an action prepared against a
round that has since been re-chosen, published or re-imported is refused as `RoundChanged`
instead of landing on the wrong run. Edits of single students do not bump the version, so
coordinators working on different students do not invalidate each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from sqlalchemy import (
    CursorResult,
    Result,
    delete,
    distinct,
    exists,
    func,
    or_,
    select,
    update,
)
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
    OpportunityAccept,
    Pin,
    Preference,
    Round,
    RoundStatus,
    RunStatus,
    School,
    Slot,
    SolutionStatus,
    SolveRun,
    Student,
    TravelGroupTime,
    TravelMode,
    TravelOverride,
    Unplaced,
    User,
)
from models.base import utcnow
from scheduler.access import require_edit, same_round
from scheduler.errors import ActionRefused, MoveRefused, NotAllowed, PinRefused, RoundChanged
from scheduler.jobs import create_run
from scheduler.rounds import round_header
from solver.eligibility import compute_eligibility, pair_trip, refusal_codes
from solver.instance import Instance
from solver.mentoring import meeting_starts, week_intervals
from solver.problem import Mentor as SolverMentor
from solver.problem import Problem, parse_blocks, parse_time, problem_from_dict
from solver.problem import Student as PairStudent

__all__ = [
    "RULE_OF_CODE",
    "ActionRefused",
    "MoveRefused",
    "NotAllowed",
    "Outcome",
    "PinRefused",
    "RoundChanged",
    "choose_run",
    "close",
    "forbid",
    "move",
    "pair_refusals",
    "pin",
    "place",
    "publish",
    "resolve",
    "unpin",
    "unplace",
]

# The spec's rule behind each reason code of the solver.
RULE_OF_CODE: Final[Mapping[str, str]] = {
    "capacity_taken": "H2",  # from refusal_codes only when the opportunity has no slot at all
    "no_cluster_match": "H3",
    "too_young": "H3",
    "grade": "H3",
    "missing_credential": "H3",
    "not_accepted": "H3",
    "hazardous_minor": "H3",
    "forbidden": "H3",
    "no_transport_mode": "H4",
    "commute_too_long": "H4",
    "schedule_conflict": "H5",
    "over_weekly_hours": "H6",
    "child_labour_hours": "H7",
}
# Opportunities judged per problem when forbid re-checks an unplaced student's reasons.
_RECHECK_BLOCK: Final = 200
# Statuses a re-chosen run takes over from the run it replaces (same student, same slot).
_CARRIED: Final = (AssignmentStatus.published, AssignmentStatus.confirmed)
# The reason recorded for a student a coordinator unplaced by hand: the spec's list has no code
# for it, and `capacity_taken` ("eligible somewhere, but the seats went elsewhere") is true of
# a student just taken out of a placement they were eligible for.
_UNPLACED_BY_HAND: Final = {"code": "capacity_taken", "detail": "unplaced by a coordinator"}


# --- Results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What an action changed: its audit `event` and the JSON `before` and `after` the event
    holds (a placement, pins, the round's status...), and `notes` on side effects (a dropped
    mentorship, a published placement not carried over...)."""

    action: str
    before: Any
    after: Any
    notes: tuple[str, ...] = ()
    event: AuditEvent = field(repr=False)


# --- Locks and the round's state -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RoundState:
    """The round row as read under lock (the caller's object may be older)."""

    version: int
    status: RoundStatus
    chosen_run_id: int | None


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _lock_round(
    session: Session, rnd: Round, *, whole: bool, expected_version: int | None = None
) -> _RoundState:
    """Lock the round (shared for edits, exclusive for `whole`-round actions), refuse a stale
    round (`RoundChanged`) or a closed one; returns the round's stored state."""
    if _is_sqlite(session):
        # SQLite: take the database's one write lock before reading anything (see the module
        # docstring). A no-op UPDATE is the write; it changes no value.
        session.execute(
            update(Round).where(Round.id == rnd.id).values(version=Round.version),
            execution_options={"synchronize_session": False},
        )
    stmt = select(Round.version, Round.status, Round.chosen_run_id).where(Round.id == rnd.id)
    # FOR SHARE: edits run side by side but not beside a whole-round action; FOR NO KEY UPDATE
    # is the lock the round's own UPDATE takes, so two whole-round actions queue too.
    stmt = stmt.with_for_update(key_share=True) if whole else stmt.with_for_update(read=True)
    version, status, chosen = session.execute(stmt).one()
    state = _RoundState(version=version, status=RoundStatus(status), chosen_run_id=chosen)
    for seen in (rnd.version, expected_version):
        if seen is not None and seen != state.version:
            raise RoundChanged(
                f"version: round {rnd.external_id!r} changed since it was loaded (version"
                f" {seen}, now {state.version}): reload it and try again"
            )
    if state.status == RoundStatus.closed:
        raise ActionRefused("state", f"state: round {rnd.external_id!r} is closed")
    return state


def _lock_student(session: Session, student: Student) -> None:
    """Serialise actions on one student (two placements at once would break H1)."""
    session.execute(
        select(Student.id).where(Student.id == student.id).with_for_update(key_share=True)
    )


def _lock_capacity(
    session: Session, opportunity: Opportunity, slot: Slot | None
) -> tuple[int, int | None]:
    """Lock the opportunity and the slot whose seats are about to be counted; return their
    capacities as stored now (opportunity, slot). An opportunity without a capacity of its own
    holds the sum of its slots' (the spec's H2 then says nothing more than the slots do, but
    pins that name no slot still take one of those seats, H9)."""
    opp_capacity = session.execute(
        select(Opportunity.capacity)
        .where(Opportunity.id == opportunity.id)
        .with_for_update(key_share=True)
    ).scalar_one()
    if opp_capacity is None:
        opp_capacity = (
            session.scalar(
                select(func.coalesce(func.sum(Slot.capacity), 0)).where(
                    Slot.opportunity_id == opportunity.id
                )
            )
            or 0
        )
    slot_capacity = None
    if slot is not None:
        slot_capacity = session.execute(
            select(Slot.capacity).where(Slot.id == slot.id).with_for_update(key_share=True)
        ).scalar_one()
    return opp_capacity, slot_capacity


def _lock_run(session: Session, run: SolveRun) -> SolveRun:
    """Lock the run (its metrics are about to be rewritten) and reload it as stored now."""
    stmt = (
        select(SolveRun)
        .where(SolveRun.id == run.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one()


def _chosen_run(session: Session, rnd: Round, state: _RoundState) -> SolveRun:
    """The round's chosen run, refused unless it holds a solution to edit."""
    if state.chosen_run_id is None:
        raise ActionRefused(
            "state", f"state: round {rnd.external_id!r} has no chosen run: choose a run first"
        )
    run = session.get_one(SolveRun, state.chosen_run_id)
    _usable_run(rnd, run)
    return run


def _usable_run(rnd: Round, run: SolveRun) -> None:
    if run.round_id != rnd.id:
        raise ActionRefused(
            "state", f"state: solve run {run.id} belongs to another round, not {rnd.external_id!r}"
        )
    if run.status != RunStatus.succeeded:
        raise ActionRefused(
            "state", f"state: solve run {run.id} has not succeeded (it is {run.status.value})"
        )
    if run.solution_status in (None, SolutionStatus.infeasible):
        raise ActionRefused(
            "state", f"state: solve run {run.id} has no placements (its pins cannot all hold)"
        )


# --- The audit trail -----------------------------------------------------------------------------


def _record(
    session: Session,
    rnd: Round,
    user: User | None,
    action: str,
    target: tuple[str, str | int],
    *,
    before: Any,
    after: Any,
    notes: Sequence[str] = (),
    **extra: Any,
) -> Outcome:
    detail: dict[str, Any] = {"before": before, "after": after, **extra}
    if notes:
        detail["notes"] = list(notes)
    # The event outlives the account (user_id is set null on delete): keep who it was.
    detail["user"] = user.email if user is not None else None
    event = AuditEvent(
        program_id=rnd.program_id,
        round_id=rnd.id,
        user=user,
        action=action,
        target_type=target[0],
        target_id=str(target[1]),
        detail=detail,
    )
    session.add(event)
    return Outcome(action=action, before=before, after=after, notes=tuple(notes), event=event)


# --- The solver's rules for one pair -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pair:
    """One student and one opportunity as the solver sees them, in a problem of their own."""

    inst: Instance
    student: PairStudent
    trip: tuple[str, int] | None  # fastest usable mode and its minutes (H4)
    rank: int | None  # the student's preference rank of the opportunity

    def refusals(self, slot: Slot | None = None) -> list[str]:
        """Reason codes refusing the pair at `slot` (or at every slot): [] when allowed."""
        slot_ix = None if slot is None else self.inst.slot_ix[slot.external_id]
        return refusal_codes(self.inst, 0, 0, slot_ix)


def _location(lat: float | None, lon: float | None) -> dict[str, float] | None:
    return None if lat is None or lon is None else {"lat": lat, "lon": lon}


def _pair_problem(
    session: Session, rnd: Round, student: Student, opportunity: Opportunity
) -> tuple[Problem, int | None]:
    """A `Problem` holding just the student, the opportunity (its slots, employer and workplace
    mentors) and what ties the two (preference, accepts, travel overrides and the student's
    travel group's times, forbidden pair): everything the per-pair rules read. Also returns
    the preference rank."""
    rank = session.scalar(
        select(Preference.rank).where(
            Preference.student_id == student.id, Preference.opportunity_id == opportunity.id
        )
    )
    problem = _student_problem(
        session, rnd, student, [opportunity], ranked={opportunity.id} if rank else set()
    )
    return problem, rank


def _student_problem(
    session: Session,
    rnd: Round,
    student: Student,
    opportunities: Sequence[Opportunity],
    *,
    ranked: set[int],
) -> Problem:
    """A `Problem` of one student and the given opportunities, with what the H3-H7 rules read
    of them: slots, employers, whether each accepts
    the student, the student's travel overrides, travel group times and forbidden pairs.
    `ranked`: the opportunities (ids) in the student's preferences; only whether one is ranked
    matters to the rules (it lets an opportunity outside the clusters in). A few queries,
    whatever the number of opportunities."""
    sid = student.id
    ids = [o.id for o in opportunities]
    schools = []
    if student.school_id is not None:
        school = session.get_one(School, student.school_id)
        schools.append(
            {
                "id": school.external_id,
                "name": school.name,
                "location": _location(school.lat, school.lon),
            }
        )
    ext = {o.id: o.external_id for o in opportunities}
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
        {"student": student.external_id, "opportunity": ext[o], "mode": str(mode), "minutes": m}
        for o, mode, m in session.execute(
            select(
                TravelOverride.opportunity_id, TravelOverride.mode, TravelOverride.minutes
            ).where(TravelOverride.student_id == sid, TravelOverride.opportunity_id.in_(ids))
        )
    ]
    # The student's travel group, reduced to this member and these opportunities' times.
    group_times = (
        [
            {"opportunity": ext[o], "mode": str(mode), "minutes": m}
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
    employer_ids = {o.employer_id for o in opportunities}
    employers = session.scalars(
        select(Employer).where(Employer.id.in_(employer_ids)).order_by(Employer.id)
    ).all()
    employer_ext = {e.id: e.external_id for e in employers}
    slots: dict[int, list[dict[str, Any]]] = {o: [] for o in ids}
    for sl in session.scalars(select(Slot).where(Slot.opportunity_id.in_(ids)).order_by(Slot.id)):
        slots[sl.opportunity_id].append(
            {"id": sl.external_id, "capacity": sl.capacity, "blocks": list(sl.blocks)}
        )
    doc: dict[str, Any] = {
        "round": round_header(rnd),
        "schools": schools,
        "students": [
            {
                "id": student.external_id,
                "name": student.name,
                "school": schools[0]["id"] if schools else None,
                "grade": student.grade,
                "birth_date": student.birth_date.isoformat(),
                "location": _location(student.lat, student.lon),
                "travel_modes": list(student.travel_modes),
                "max_commute_minutes": student.max_commute_minutes,
                "clusters": list(student.clusters),
                "credentials": list(student.credentials),
                "busy": list(student.busy),
                # Only whether an opportunity is ranked matters to the rules (the cluster rule
                # lets a ranked one in), and ids outside the problem would not resolve.
                "preferences": [ext[o] for o in ids if o in ranked],
                "priority": student.priority,
                "groups": list(student.groups),
                "max_weekly_hours": student.max_weekly_hours,
                "wants_mentor": student.wants_mentor,
            }
        ],
        "employers": [{"id": e.external_id, "name": e.name} for e in employers],
        "opportunities": [
            {
                "id": o.external_id,
                "employer": employer_ext[o.employer_id],
                "title": o.title,
                "kind": str(o.kind),
                "cluster": o.cluster,
                "location": {"lat": o.lat, "lon": o.lon},
                "transit_accessible": o.transit_accessible,
                "slots": slots[o.id],
                "capacity": o.capacity,
                "min_age": o.min_age,
                "min_grade": o.min_grade,
                "required_credentials": list(o.required_credentials),
                "hazardous": o.hazardous,
                "requires_mentor": o.requires_mentor,
                "accepts": (
                    ([student.external_id] if o.id in accepted else []) if o.restricted else None
                ),
            }
            for o in opportunities
        ],
        # Mentors (H8) are checked against the database under lock, not here.
        "mentors": [],
        "travel": travel,
        "travel_groups": (
            [{"id": "group", "students": [student.external_id], "travel": group_times}]
            if group_times
            else []
        ),
        "pins": [],
        "forbidden": [{"student": student.external_id, "opportunity": ext[o]} for o in forbidden],
    }
    return problem_from_dict(doc)


def _pair(session: Session, rnd: Round, student: Student, opportunity: Opportunity) -> _Pair:
    problem, rank = _pair_problem(session, rnd, student, opportunity)
    inst = Instance(problem)
    return _Pair(inst=inst, student=problem.students[0], trip=pair_trip(inst, 0, 0), rank=rank)


def pair_refusals(
    session: Session,
    rnd: Round,
    student: Student,
    opportunity: Opportunity,
    slot: Slot | None = None,
) -> list[str]:
    """The solver's reason codes refusing `student` at `opportunity` (at `slot`, or at every
    one of its slots), [] when the pair is allowed: H3-H7 exactly as a solve of the whole
    round would judge it, from the rows of this one pair."""
    same_round(rnd, student, opportunity, slot)
    return _pair(session, rnd, student, opportunity).refusals(slot)


def _explain(code: str, pair: _Pair, opportunity: Opportunity) -> str:
    """A coordinator's reading of one reason code, with the numbers that decided it."""
    st, inst = pair.student, pair.inst
    age = int(inst.age[0])
    if code == "no_cluster_match":
        return (
            f"cluster {opportunity.cluster} is not among the student's clusters"
            f" {sorted(st.clusters)} and the student did not rank the opportunity"
        )
    if code == "too_young":
        least = max(opportunity.min_age or 0, 0 if str(opportunity.kind) == "job_shadow" else 14)
        return f"age {age} is under {least}"
    if code == "grade":
        return f"grade {st.grade} is under min_grade {opportunity.min_grade}"
    if code == "missing_credential":
        missing = sorted(set(opportunity.required_credentials) - set(st.credentials))
        return f"missing credentials {missing}"
    if code == "not_accepted":
        return "the opportunity's accepts list does not name the student"
    if code == "hazardous_minor":
        return f"hazardous work at age {age} (exempt only from 16 in an apprenticeship or co-op)"
    if code == "forbidden":
        return "the pair is forbidden"
    if code == "no_transport_mode":
        return f"none of the student's travel modes {list(st.travel_modes)} can make the trip"
    if code == "commute_too_long" and pair.trip is not None:
        mode, minutes = pair.trip
        return f"{minutes} min by {mode}, over max_commute_minutes {st.max_commute_minutes:g}"
    if code == "schedule_conflict":
        return "a shift overlaps a busy block of the student once travel both ways is added"
    if code == "over_weekly_hours":
        return f"the slot's weekly hours exceed max_weekly_hours {st.max_weekly_hours:g}"
    if code == "child_labour_hours":
        return f"at age {age}, outside the hours allowed under 16 (FLSA)"
    if code == "capacity_taken":
        return "the opportunity has no slot"
    return code


def _refuse_pair(
    error: type[ActionRefused],
    codes: Sequence[str],
    pair: _Pair,
    student: Student,
    opportunity: Opportunity,
    slot: Slot | None,
) -> ActionRefused:
    """The refusal naming each broken rule and reason code, first rule first."""
    ordered = sorted(codes, key=lambda c: (RULE_OF_CODE[c], c))
    rule = RULE_OF_CODE[ordered[0]]
    where = f"opportunity {opportunity.external_id}" + (
        f" slot {slot.external_id}" if slot is not None else ""
    )
    reasons = "; ".join(
        f"{RULE_OF_CODE[c]} {c} ({_explain(c, pair, opportunity)})" for c in ordered
    )
    message = f"{rule}: student {student.external_id} cannot take {where}: {reasons}"
    return error(rule, message, codes=ordered)


# --- Placements: reading, metrics ----------------------------------------------------------------


def _ext(
    session: Session, model: type[Opportunity] | type[Slot] | type[Mentor], ident: int | None
) -> str | None:
    """The document id of a row (from the identity map when loaded already)."""
    if ident is None:
        return None
    # get_one's type is lost on a union of models; every one of them has an external id.
    row = cast("Opportunity | Slot | Mentor", session.get_one(model, ident))
    return row.external_id


def _placement(session: Session, a: Assignment | None) -> dict[str, Any] | None:
    """An assignment as the audit trail keeps it: the document's ids and the travel."""
    if a is None:
        return None
    return {
        "opportunity": _ext(session, Opportunity, a.opportunity_id),
        "slot": _ext(session, Slot, a.slot_id),
        "mentor": _ext(session, Mentor, a.mentor_id),
        "status": str(a.status),
        "travel_mode": str(a.travel_mode),
        "travel_minutes": a.travel_minutes,
        "preference_rank": a.preference_rank,
    }


def _current(session: Session, run: SolveRun, student: Student) -> Assignment | None:
    """The student's assignment in the run, read again (the student is locked by now)."""
    stmt = (
        select(Assignment)
        .where(Assignment.run_id == run.id, Assignment.student_id == student.id)
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one_or_none()


def _mentorship(session: Session, run: SolveRun, student: Student) -> Mentorship | None:
    return session.scalar(
        select(Mentorship).where(Mentorship.run_id == run.id, Mentorship.student_id == student.id)
    )


def _student_pins(session: Session, rnd: Round, student: Student) -> list[Pin]:
    return list(
        session.scalars(
            select(Pin).where(Pin.round_id == rnd.id, Pin.student_id == student.id).order_by(Pin.id)
        )
    )


def _pin_doc(session: Session, p: Pin) -> dict[str, Any]:
    return {
        "opportunity": _ext(session, Opportunity, p.opportunity_id),
        "slot": _ext(session, Slot, p.slot_id),
        "mentor": _ext(session, Mentor, p.mentor_id),
    }


@dataclass(frozen=True, slots=True)
class _Held:
    """What a student holds, as far as the run's metrics are concerned."""

    placed: bool
    rank: int | None = None
    mentored: bool = False
    minutes: int = 0


def _held(a: Assignment | None, mentorship: Mentorship | None) -> _Held:
    mentored = mentorship is not None or (a is not None and a.mentor_id is not None)
    if a is None:
        return _Held(placed=False, mentored=mentored)
    return _Held(placed=True, rank=a.preference_rank, mentored=mentored, minutes=a.travel_minutes)


def _edited(session: Session, run: SolveRun, student: Student, before: _Held, after: _Held) -> None:
    """Bring the run's metrics up to date after one student's placement changed, and mark the
    run as edited (no longer the solver's proven optimum)."""
    run = _lock_run(session, run)
    if run.metrics is not None:
        m = dict(run.metrics)
        d = int(after.placed) - int(before.placed)

        def count(held: _Held, test: bool) -> int:
            return int(held.placed and test)

        m["placed"] += d
        m["placed_weighted"] += d * (1 + student.priority)
        m["first_choice"] += count(after, after.rank == 1) - count(before, before.rank == 1)
        m["top3"] += count(after, after.rank is not None and after.rank <= 3) - count(
            before, before.rank is not None and before.rank <= 3
        )
        m["unranked"] += count(after, after.rank is None) - count(before, before.rank is None)
        if student.wants_mentor:
            m["mentored"] += int(after.mentored) - int(before.mentored)
        groups = {k: dict(v) for k, v in (m.get("by_group") or {}).items()}
        for label in set(student.groups):
            if label in groups:
                groups[label]["placed"] += d
        m["by_group"] = groups
        # The mean needs the exact total, which the rounded mean has lost: kept on the run and
        # moved by the difference; counted once over the run's assignments where it is missing
        # (a run stored before the column), after this edit's own changes are flushed.
        if run.travel_minutes_total is None:
            session.flush()
            run.travel_minutes_total = session.scalar(
                select(func.coalesce(func.sum(Assignment.travel_minutes), 0)).where(
                    Assignment.run_id == run.id
                )
            )
        else:
            run.travel_minutes_total += (
                after.minutes * after.placed - before.minutes * before.placed
            )
        total = run.travel_minutes_total or 0
        m["mean_travel_minutes"] = round(total / m["placed"], 2) if m["placed"] else 0.0
        run.metrics = m
    if run.solution_status == SolutionStatus.optimal:
        run.solution_status = SolutionStatus.feasible
    if run.edited_at is None:
        run.edited_at = utcnow()


# --- Choosing the run to keep --------------------------------------------------------------------


def choose_run(
    session: Session,
    rnd: Round,
    run: SolveRun,
    *,
    user: User | None,
    expected_version: int | None = None,
) -> Outcome:
    """Keep `run` (a succeeded run of this round) as the round's answer.

    Placements the previously chosen run had published or confirmed keep that status where the
    new run places the student in the same slot (a re-solve keeps them where it can); the
    outcome notes how many could not be kept. A draft round goes to review; a published round
    stays published (publish again to publish the new placements)."""
    require_edit(session, rnd, user)
    same_round(rnd, run)
    state = _lock_round(session, rnd, whole=True, expected_version=expected_version)
    _usable_run(rnd, run)
    _run_keeps_the_round(session, rnd, run)
    old = state.chosen_run_id
    carried = lost = 0
    if old is not None and old != run.id:
        # One UPDATE with a correlated subquery: the old run's status for the same student and
        # slot, where it was published or confirmed.
        prev = aliased(Assignment)
        same = (
            prev.run_id == old,
            prev.student_id == Assignment.student_id,
            prev.slot_id == Assignment.slot_id,
            prev.status.in_(_CARRIED),
        )
        result = session.execute(
            update(Assignment)
            .where(Assignment.run_id == run.id, exists().where(*same))
            .values(status=select(prev.status).where(*same).scalar_subquery()),
            execution_options={"synchronize_session": False},
        )
        carried = _rowcount(result)
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Assignment) and obj.run_id == run.id:
                session.expire(obj, ["status"])
        kept = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.run_id == old, Assignment.status.in_(_CARRIED))
        )
        lost = (kept or 0) - carried
    before = {"chosen_run": old, "status": str(state.status)}
    # The column, not the relationship: the relationship is written by a post-update of its
    # own, a second UPDATE of the round and a second step of its version.
    rnd.chosen_run_id = run.id
    session.expire(rnd, ["chosen_run"])
    if rnd.status == RoundStatus.draft:
        rnd.status = RoundStatus.review
    session.flush()  # the version moves on now: the event records the new one
    after = {"chosen_run": run.id, "status": str(rnd.status), "carried_over": carried}
    notes = (
        [f"{lost} published or confirmed placements of run {old} are not in run {run.id}"]
        if lost
        else []
    )
    return _record(
        session,
        rnd,
        user,
        "round.choose_run",
        ("solve_runs", run.id),
        before=before,
        after=after,
        notes=notes,
        version=rnd.version,
    )


def _run_keeps_the_round(session: Session, rnd: Round, run: SolveRun) -> None:
    """Refuse (H9) a run that places a student at a pair forbidden since it was solved, or that
    does not hold a pin added since: a run solves the round as it was when it started, and
    coordinators may forbid and pin meanwhile. Two queries, whatever the round's size."""
    forbidden = session.scalars(
        select(Student.external_id)
        .join(Assignment, Assignment.student_id == Student.id)
        .join(
            Forbidden,
            (Forbidden.student_id == Assignment.student_id)
            & (Forbidden.opportunity_id == Assignment.opportunity_id),
        )
        .where(Assignment.run_id == run.id)
        .order_by(Student.external_id)
        .limit(5)
    ).all()
    mentored = exists().where(
        Mentorship.run_id == run.id,
        Mentorship.student_id == Pin.student_id,
        Mentorship.mentor_id == Pin.mentor_id,
    )
    holds = exists().where(
        Assignment.run_id == run.id,
        Assignment.student_id == Pin.student_id,
        Assignment.opportunity_id == Pin.opportunity_id,
        or_(Pin.slot_id.is_(None), Assignment.slot_id == Pin.slot_id),
        or_(Pin.mentor_id.is_(None), Assignment.mentor_id == Pin.mentor_id, mentored),
    )
    unpinned = session.scalars(
        select(Student.external_id)
        .join(Pin, Pin.student_id == Student.id)
        .where(Pin.round_id == rnd.id, ~holds)
        .order_by(Student.external_id)
        .limit(5)
    ).all()
    if forbidden or unpinned:
        parts = []
        if forbidden:
            parts.append(f"it places {', '.join(forbidden)} at pairs forbidden since")
        if unpinned:
            parts.append(f"pins of {', '.join(unpinned)} added since do not hold in it")
        raise ActionRefused(
            "H9",
            f"H9: run {run.id} no longer fits the round: {'; '.join(parts)} (re-solve)",
        )


# --- Pins --------------------------------------------------------------------------------------


def _meeting_fits(rnd: Round, mentor: Mentor, student: Student, slot: Slot | None) -> bool:
    """A community mentor has a free weekly meeting with the student (H8), by the solver's own
    rule (`solver.mentoring.meeting_starts`): on the 15-minute grid, inside an available block,
    clear of the student's busy blocks and the slot's shifts."""
    available = SolverMentor(
        id=mentor.external_id,
        name=mentor.name,
        capacity=mentor.capacity,
        available=parse_blocks(mentor.available),
    )
    busy = week_intervals(parse_blocks([*student.busy, *(slot.blocks if slot else ())]))
    return bool(meeting_starts(available, busy, rnd.mentor_meeting_minutes))


def _check_pin_mentor(
    session: Session,
    rnd: Round,
    student: Student,
    opportunity: Opportunity,
    slot: Slot | None,
    mentor: Mentor | None,
) -> None:
    """H8 for a pin on its own: the right kind of mentor, clusters, a place, a meeting time."""
    who = f"student {student.external_id} at opportunity {opportunity.external_id}"
    if opportunity.requires_mentor:
        if mentor is None:
            if not _workplace_candidates(session, opportunity, usable=True):
                raise PinRefused(
                    "H8",
                    f"H8: {who}: the opportunity requires a mentor and employer"
                    f" {_ext_employer(session, opportunity)} has no workplace mentor with a"
                    f" place for cluster {opportunity.cluster}",
                )
            return
        _check_workplace_mentor(PinRefused, session, opportunity, mentor, who)
        if mentor.capacity < 1:
            raise PinRefused("H8", f"H8: {who}: mentor {mentor.external_id} has capacity 0")
        return
    if mentor is None:
        return
    if mentor.employer_id is not None:
        raise PinRefused(
            "H8",
            f"H8: {who}: mentor {mentor.external_id} is a workplace mentor, but the opportunity"
            " does not require one (only a community mentor can be pinned here)",
        )
    if not student.wants_mentor:
        raise PinRefused(
            "H8", f"H8: {who}: the student does not want a mentor (wants_mentor is false)"
        )
    if mentor.clusters and student.clusters and not set(mentor.clusters) & set(student.clusters):
        raise PinRefused(
            "H8",
            f"H8: {who}: community mentor {mentor.external_id}'s clusters"
            f" {sorted(mentor.clusters)} do not meet the student's {sorted(student.clusters)}",
        )
    if mentor.capacity < 1:
        raise PinRefused("H8", f"H8: {who}: mentor {mentor.external_id} has capacity 0")
    if not _meeting_fits(rnd, mentor, student, slot):
        raise PinRefused(
            "H8",
            f"H8: {who}: community mentor {mentor.external_id} has no free"
            f" {rnd.mentor_meeting_minutes}-minute meeting time with the student",
        )


def pin(
    session: Session,
    rnd: Round,
    student: Student,
    opportunity: Opportunity,
    slot: Slot | None = None,
    mentor: Mentor | None = None,
    *,
    user: User | None,
) -> Outcome:
    """Pin `student` to `opportunity` (and `slot`, and `mentor`, when given): every later solve
    must place them there (H9).

    Refused (`PinRefused`, naming the rule) when the pin cannot hold on its own: the pair breaks
    H3-H7 (a forbidden pair is H3), the mentor breaks H8, another pin of the student puts them
    elsewhere (H1), or other students' pins already fill the slot or opportunity (H2) or the
    mentor's places (H8). The chosen run's assignment becomes `pinned` when it already
    satisfies the pin; the outcome notes when it does not (move the student, or re-solve)."""
    require_edit(session, rnd, user)
    same_round(rnd, student, opportunity, slot, mentor)
    if slot is not None and slot.opportunity_id != opportunity.id:
        raise ValueError(f"slot {slot.external_id!r} is not a slot of {opportunity.external_id!r}")
    state = _lock_round(session, rnd, whole=False)
    _lock_student(session, student)
    pair = _pair(session, rnd, student, opportunity)
    codes = pair.refusals(slot)
    if codes:
        raise _refuse_pair(PinRefused, codes, pair, student, opportunity, slot)
    _check_pin_mentor(session, rnd, student, opportunity, slot, mentor)
    mine = _student_pins(session, rnd, student)
    for other in mine:
        if other.opportunity_id != opportunity.id or (
            other.slot_id is not None and slot is not None and other.slot_id != slot.id
        ):
            raise PinRefused(
                "H1",
                f"H1: student {student.external_id} is already pinned to"
                f" {_where(session, other.opportunity_id, other.slot_id)}; a student holds one"
                " placement (unpin that first)",
            )
        if other.mentor_id is not None and mentor is not None and other.mentor_id != mentor.id:
            raise PinRefused(
                "H8",
                f"H8: student {student.external_id} is already pinned with mentor"
                f" {_ext(session, Mentor, other.mentor_id)}; a student has one mentor",
            )
    opp_capacity, slot_capacity = _lock_capacity(session, opportunity, slot)
    if slot is not None and slot_capacity is not None:
        others = _pinned_others(session, rnd, student, Pin.slot_id == slot.id)
        if others >= slot_capacity:
            raise PinRefused(
                "H2",
                f"H2: slot {slot.external_id} has {slot_capacity} seats and pins of other"
                f" students already take {others}",
            )
    others = _pinned_others(session, rnd, student, Pin.opportunity_id == opportunity.id)
    if others >= opp_capacity:
        raise PinRefused(
            "H2",
            f"H2: opportunity {opportunity.external_id} has {opp_capacity} places and"
            f" pins of other students already take {others}",
        )
    if mentor is not None:
        # A move counts these pins against the mentor's places (they are held for the pinned
        # students); pins that together want more places than the mentor has cannot all hold.
        _lock_mentors(session, [mentor.id])
        others = _pinned_others(session, rnd, student, Pin.mentor_id == mentor.id)
        if others >= mentor.capacity:
            raise PinRefused(
                "H8",
                f"H8: mentor {mentor.external_id} has {mentor.capacity} places and pins of"
                f" other students already take {others}",
            )

    new = {
        "opportunity": opportunity.external_id,
        "slot": slot.external_id if slot is not None else None,
        "mentor": mentor.external_id if mentor is not None else None,
    }
    before = [_pin_doc(session, p) for p in mine]
    notes: list[str] = []
    if new in before:
        notes.append("the same pin already exists; nothing added")
    else:
        session.add(
            Pin(
                round_id=rnd.id,
                student_id=student.id,
                opportunity_id=opportunity.id,
                slot_id=slot.id if slot is not None else None,
                mentor_id=mentor.id if mentor is not None else None,
            )
        )
    if state.chosen_run_id is not None:
        run = session.get_one(SolveRun, state.chosen_run_id)
        a = _current(session, run, student)
        ms = _mentorship(session, run, student)
        holds = (
            a is not None
            and a.opportunity_id == opportunity.id
            and (slot is None or a.slot_id == slot.id)
            and (
                mentor is None
                or a.mentor_id == mentor.id
                or (ms is not None and ms.mentor_id == mentor.id)
            )
        )
        if holds and a is not None and a.status == AssignmentStatus.proposed:
            a.status = AssignmentStatus.pinned
        if not holds:
            notes.append(
                f"the chosen run {run.id} does not place the student there yet: move the"
                " student or re-solve"
            )
    after = [*before, new] if new not in before else before
    return _record(
        session,
        rnd,
        user,
        "pin.add",
        ("students", student.external_id),
        before=before,
        after=after,
        notes=notes,
    )


def _pinned_others(session: Session, rnd: Round, student: Student, where: Any) -> int:
    """How many other students have a pin matching `where` (distinct students)."""
    return (
        session.scalar(
            select(func.count(distinct(Pin.student_id))).where(
                Pin.round_id == rnd.id, Pin.student_id != student.id, where
            )
        )
        or 0
    )


def _where(session: Session, opportunity_id: int, slot_id: int | None) -> str:
    out = f"opportunity {_ext(session, Opportunity, opportunity_id)}"
    return out + (f" slot {_ext(session, Slot, slot_id)}" if slot_id is not None else "")


def unpin(
    session: Session,
    rnd: Round,
    student: Student,
    opportunity: Opportunity | None = None,
    *,
    user: User | None,
) -> Outcome:
    """Remove the student's pins (those at `opportunity` when given). The chosen run's
    assignment goes back from `pinned` to `proposed` when no pin covers it any more."""
    require_edit(session, rnd, user)
    same_round(rnd, student, opportunity)
    state = _lock_round(session, rnd, whole=False)
    _lock_student(session, student)
    mine = _student_pins(session, rnd, student)
    gone = [p for p in mine if opportunity is None or p.opportunity_id == opportunity.id]
    if not gone:
        where = f" at opportunity {opportunity.external_id}" if opportunity is not None else ""
        raise PinRefused("state", f"state: student {student.external_id} has no pin{where}")
    before = [_pin_doc(session, p) for p in mine]
    for p in gone:
        session.delete(p)
    left = [p for p in mine if p not in gone]
    if state.chosen_run_id is not None:
        run = session.get_one(SolveRun, state.chosen_run_id)
        a = _current(session, run, student)
        if (
            a is not None
            and a.status == AssignmentStatus.pinned
            and not any(
                p.opportunity_id == a.opportunity_id and p.slot_id in (None, a.slot_id)
                for p in left
            )
        ):
            a.status = AssignmentStatus.proposed
    after = [_pin_doc(session, p) for p in left]
    return _record(
        session,
        rnd,
        user,
        "pin.remove",
        ("students", student.external_id),
        before=before,
        after=after,
    )


# --- Moving, placing, unplacing ------------------------------------------------------------------


def _ext_employer(session: Session, opportunity: Opportunity) -> str:
    return session.get_one(Employer, opportunity.employer_id).external_id


def _workplace_candidates(
    session: Session, opportunity: Opportunity, *, usable: bool = False
) -> list[Mentor]:
    """Workplace mentors able to serve the opportunity (H8: same employer, cluster held), by
    id; `usable` leaves out those with no place at all (capacity 0)."""
    mentors = session.scalars(
        select(Mentor)
        .where(Mentor.employer_id == opportunity.employer_id)
        .order_by(Mentor.external_id)
    )
    return [
        m
        for m in mentors
        if (not m.clusters or opportunity.cluster in m.clusters) and (m.capacity > 0 or not usable)
    ]


def _check_workplace_mentor(
    error: type[ActionRefused],
    session: Session,
    opportunity: Opportunity,
    mentor: Mentor,
    who: str,
) -> None:
    if mentor.employer_id != opportunity.employer_id:
        raise error(
            "H8",
            f"H8: {who}: mentor {mentor.external_id} is not a workplace mentor of employer"
            f" {_ext_employer(session, opportunity)}",
        )
    if mentor.clusters and opportunity.cluster not in mentor.clusters:
        raise error(
            "H8",
            f"H8: {who}: mentor {mentor.external_id}'s clusters {sorted(mentor.clusters)} do"
            f" not hold {opportunity.cluster}",
        )


def _lock_mentors(session: Session, ids: Sequence[int]) -> None:
    """Lock the mentors whose places are about to be counted, in id order like the seats: two
    moves (or a move and a pin) wanting the same mentor queue here."""
    session.execute(
        select(Mentor.id)
        .where(Mentor.id.in_(ids))
        .order_by(Mentor.id)
        .with_for_update(key_share=True)
    )


def _mentor_loads(
    session: Session, run: SolveRun, student: Student, mentor_ids: Iterable[int]
) -> dict[int, int]:
    """Students each mentor holds in the run besides `student` (workplace and community)."""
    ids = sorted(mentor_ids)
    loads = dict.fromkeys(ids, 0)
    if not ids:
        return loads
    _lock_mentors(session, ids)
    for model in (Assignment, Mentorship):
        stmt = (
            select(model.mentor_id, func.count())
            .where(model.run_id == run.id, model.student_id != student.id, model.mentor_id.in_(ids))
            .group_by(model.mentor_id)
        )
        for mentor_id, n in session.execute(stmt):
            if mentor_id is not None:
                loads[mentor_id] += n
    return loads


def _waiting_mentor_pins(
    session: Session, rnd: Round, run: SolveRun, student: Student, mentor_ids: Iterable[int]
) -> dict[int, list[str]]:
    """Other students pinned with each mentor who do not hold that mentor in the run yet (by
    their assignment or a community mentorship), by mentor: places a re-solve must give them
    (H9). A student holding the mentor already is counted in the mentor's load instead, never
    twice. Call it with the mentors locked (`_mentor_loads`)."""
    ids = sorted(mentor_ids)
    waiting: dict[int, list[str]] = {i: [] for i in ids}
    if not ids:
        return waiting
    held = or_(
        exists().where(
            Assignment.run_id == run.id,
            Assignment.student_id == Pin.student_id,
            Assignment.mentor_id == Pin.mentor_id,
        ),
        exists().where(
            Mentorship.run_id == run.id,
            Mentorship.student_id == Pin.student_id,
            Mentorship.mentor_id == Pin.mentor_id,
        ),
    )
    stmt = (
        select(Pin.mentor_id, Student.external_id)
        .join(Student, Student.id == Pin.student_id)
        .where(Pin.round_id == rnd.id, Pin.student_id != student.id, Pin.mentor_id.in_(ids), ~held)
        .distinct()
        .order_by(Pin.mentor_id, Student.external_id)
    )
    for mentor_id, who in session.execute(stmt):
        if mentor_id is not None:  # the column may be null, though not in these rows
            waiting[mentor_id].append(who)
    return waiting


def _overlaps_meeting(ms: Mentorship, slot: Slot) -> bool:
    """The community meeting overlaps a weekly shift of the slot (H8; no travel buffer)."""
    start, end = parse_time(ms.start_time), parse_time(ms.end_time)
    return any(
        b.get("day") == str(ms.day)
        and parse_time(b["start"]) < end
        and start < parse_time(b["end"])
        for b in slot.blocks
    )


def move(
    session: Session,
    rnd: Round,
    student: Student,
    slot: Slot,
    mentor: Mentor | None = None,
    *,
    user: User | None,
    pin: bool = True,
) -> Outcome:
    """Move the student to `slot` in the round's chosen run, placing them if they were not.

    Checked against every hard rule as the solver applies it, and refused with `MoveRefused`
    naming the rule that would break: H1 (see `place`), H2 (the slot's and the opportunity's
    seats, counted over the run's other assignments), H3-H7 (the solver's eligibility of the
    pair and slot), H8 (a workplace mentor of the employer with a free place when the
    opportunity requires one, picked when not given; no mentor otherwise), H9 (a pin of the
    student elsewhere, or free seats that other students' pins need).

    On success the assignment takes the solver's travel mode, minutes and preference rank, and
    with `pin` (the default) it becomes `pinned` and a pin of (student, opportunity, slot) is
    added, so a re-solve keeps it. A placement that moves loses a published or confirmed status
    (publish again); staying in the same seat keeps it. A community mentorship that can no
    longer hold is dropped (see the notes)."""
    return _place(session, rnd, student, slot, mentor, user=user, pin=pin, only_unplaced=False)


def place(
    session: Session,
    rnd: Round,
    student: Student,
    slot: Slot,
    mentor: Mentor | None = None,
    *,
    user: User | None,
    pin: bool = True,
) -> Outcome:
    """`move` for a student the caller believes unplaced: refused (H1) when the student holds a
    placement in the chosen run already (someone placed them meanwhile, or the page was old),
    so a student is never moved by a form meant to place them. A declined placement counts as
    none."""
    return _place(session, rnd, student, slot, mentor, user=user, pin=pin, only_unplaced=True)


def _place(
    session: Session,
    rnd: Round,
    student: Student,
    slot: Slot,
    mentor: Mentor | None,
    *,
    user: User | None,
    pin: bool,
    only_unplaced: bool,
) -> Outcome:
    require_edit(session, rnd, user)
    same_round(rnd, student, slot, mentor)
    state = _lock_round(session, rnd, whole=False)
    run = _chosen_run(session, rnd, state)
    _lock_student(session, student)
    opportunity = session.get_one(Opportunity, slot.opportunity_id)
    who = f"student {student.external_id} at opportunity {opportunity.external_id}"

    current = _current(session, run, student)
    before = _placement(session, current)
    if only_unplaced and current is not None and current.status != AssignmentStatus.declined:
        raise MoveRefused(
            "H1",
            f"H1: student {student.external_id} already holds a placement"
            f" ({_where(session, current.opportunity_id, current.slot_id)}); a student holds at"
            " most one: move them instead",
        )

    # H9: the student's own pins.
    pins = _student_pins(session, rnd, student)
    pinned_mentor: int | None = None
    for p in pins:
        if p.opportunity_id != opportunity.id or p.slot_id not in (None, slot.id):
            raise MoveRefused(
                "H9",
                f"H9: student {student.external_id} is pinned to"
                f" {_where(session, p.opportunity_id, p.slot_id)}: unpin them first",
            )
        if p.mentor_id is not None and opportunity.requires_mentor:
            pinned_mentor = p.mentor_id

    # H3-H7: the solver's rules for the pair and slot.
    pair = _pair(session, rnd, student, opportunity)
    codes = pair.refusals(slot)
    if codes:
        raise _refuse_pair(MoveRefused, codes, pair, student, opportunity, slot)
    assert pair.trip is not None  # an allowed pair has a usable mode (H4)

    # H8, what does not depend on counts: the kind of mentor, and the pins naming one.
    candidates: list[Mentor] = []
    if opportunity.requires_mentor:
        if mentor is not None:
            _check_workplace_mentor(MoveRefused, session, opportunity, mentor, who)
            if pinned_mentor is not None and mentor.id != pinned_mentor:
                raise MoveRefused(
                    "H9",
                    f"H9: {who}: the student is pinned with mentor"
                    f" {_ext(session, Mentor, pinned_mentor)}, not {mentor.external_id}",
                )
            candidates = [mentor]
        elif pinned_mentor is not None:
            candidates = [session.get_one(Mentor, pinned_mentor)]
        else:
            candidates = _workplace_candidates(session, opportunity)
            if not candidates:
                raise MoveRefused(
                    "H8",
                    f"H8: {who}: the opportunity requires a mentor and employer"
                    f" {_ext_employer(session, opportunity)} has no workplace mentor for"
                    f" cluster {opportunity.cluster}",
                )
    elif mentor is not None:
        raise MoveRefused(
            "H8",
            f"H8: {who}: the opportunity does not require a mentor, so the assignment names"
            f" none (mentor {mentor.external_id} given)",
        )
    mentorship = _mentorship(session, run, student)
    drop_mentorship: str | None = None
    if mentorship is not None:
        if opportunity.requires_mentor:
            drop_mentorship = "the student gets a workplace mentor there (one mentor each)"
        elif _overlaps_meeting(mentorship, slot):
            drop_mentorship = (
                f"its meeting {mentorship.day} {mentorship.start_time}-{mentorship.end_time}"
                f" overlaps a shift of slot {slot.external_id}"
            )
        if drop_mentorship and any(p.mentor_id == mentorship.mentor_id for p in pins):
            raise MoveRefused(
                "H9",
                f"H9: {who}: the student is pinned with community mentor"
                f" {_ext(session, Mentor, mentorship.mentor_id)}, and {drop_mentorship}",
            )

    # H2 under lock: from here to the commit, nobody else counts these seats.
    opp_capacity, slot_capacity = _lock_capacity(session, opportunity, slot)
    assert slot_capacity is not None
    others = (Assignment.run_id == run.id, Assignment.student_id != student.id)
    in_slot = (
        session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(*others, Assignment.slot_id == slot.id)
        )
        or 0
    )
    if in_slot >= slot_capacity:
        raise MoveRefused(
            "H2",
            f"H2: slot {slot.external_id} of opportunity {opportunity.external_id} is full"
            f" ({in_slot} of {slot_capacity} seats taken)",
        )
    in_opp = (
        session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(*others, Assignment.opportunity_id == opportunity.id)
        )
        or 0
    )
    if in_opp >= opp_capacity:
        raise MoveRefused(
            "H2",
            f"H2: opportunity {opportunity.external_id} is full ({in_opp} of its capacity"
            f" {opp_capacity} taken over its slots)",
        )
    # H9 for the others: free seats that other students' pins need, and that those students
    # do not hold yet, are not free.
    waiting = _waiting_pins(
        session, rnd, run, student, Pin.slot_id == slot.id, Assignment.slot_id == slot.id
    )
    if waiting and in_slot + len(waiting) >= slot_capacity:
        raise MoveRefused(
            "H9",
            f"H9: the free seats of slot {slot.external_id} are held for pinned students"
            f" {', '.join(waiting)}",
        )
    waiting = _waiting_pins(
        session,
        rnd,
        run,
        student,
        Pin.opportunity_id == opportunity.id,
        Assignment.opportunity_id == opportunity.id,
    )
    if waiting and in_opp + len(waiting) >= opp_capacity:
        raise MoveRefused(
            "H9",
            f"H9: the free places of opportunity {opportunity.external_id} are held for"
            f" pinned students {', '.join(waiting)}",
        )

    # H8 under lock: a workplace mentor with a free place; H9 for the others: places that
    # other students' pins name, and that those students do not hold yet, are not free.
    chosen_mentor: Mentor | None = None
    if candidates:
        loads = _mentor_loads(session, run, student, (m.id for m in candidates))
        held_for = _waiting_mentor_pins(session, rnd, run, student, loads.keys())
        free = [m for m in candidates if loads[m.id] + len(held_for[m.id]) < m.capacity]
        if current is not None and current.mentor_id in {m.id for m in free}:
            chosen_mentor = next(m for m in free if m.id == current.mentor_id)
        elif free:
            chosen_mentor = free[0]
        elif any(loads[m.id] < m.capacity for m in candidates):
            places = ", ".join(
                f"{m.external_id} {loads[m.id]}/{m.capacity}"
                + (f" held for {', '.join(held_for[m.id])}" if held_for[m.id] else "")
                for m in candidates
            )
            raise MoveRefused(
                "H9",
                f"H9: {who}: the free places of the workplace mentors that fit are held for"
                f" pinned students ({places})",
            )
        else:
            full = ", ".join(f"{m.external_id} {loads[m.id]}/{m.capacity}" for m in candidates)
            raise MoveRefused("H8", f"H8: {who}: every workplace mentor that fits is full ({full})")

    # Write.
    mode, minutes = pair.trip
    placement = {
        "opportunity_id": opportunity.id,
        "slot_id": slot.id,
        "mentor_id": chosen_mentor.id if chosen_mentor is not None else None,
        "travel_mode": TravelMode(mode),
        "travel_minutes": minutes,
        "preference_rank": pair.rank,
    }
    same_seat = (
        current is not None
        and current.status != AssignmentStatus.declined
        and (current.slot_id, current.mentor_id) == (slot.id, placement["mentor_id"])
    )
    if same_seat and current is not None:
        # Staying put (to pin, say) keeps a published or confirmed status.
        status = current.status
        if pin and status == AssignmentStatus.proposed:
            status = AssignmentStatus.pinned
    else:
        status = AssignmentStatus.pinned if pin else AssignmentStatus.proposed
    held_before = _held(current, mentorship)
    changed = current is None or any(getattr(current, k) != v for k, v in placement.items())
    if current is None:
        session.execute(
            delete(Unplaced).where(Unplaced.run_id == run.id, Unplaced.student_id == student.id),
            execution_options={"synchronize_session": False},
        )
        current = Assignment(run_id=run.id, student_id=student.id, status=status, **placement)
        session.add(current)
    else:
        for key, value in placement.items():
            setattr(current, key, value)
        current.status = status
    notes: list[str] = []
    if mentorship is not None and drop_mentorship:
        notes.append(
            f"community mentorship with {_ext(session, Mentor, mentorship.mentor_id)} dropped:"
            f" {drop_mentorship}"
        )
        session.delete(mentorship)
        mentorship = None
        changed = True
    if pin and not any(p.opportunity_id == opportunity.id and p.slot_id == slot.id for p in pins):
        session.add(
            Pin(
                round_id=rnd.id,
                student_id=student.id,
                opportunity_id=opportunity.id,
                slot_id=slot.id,
            )
        )
        notes.append(f"pinned to {opportunity.external_id} slot {slot.external_id}")
    session.flush()
    if changed:
        _edited(session, run, student, held_before, _held(current, mentorship))
    after = _placement(session, current)
    action = "assignment.place" if held_before.placed is False else "assignment.move"
    return _record(
        session,
        rnd,
        user,
        action,
        ("students", student.external_id),
        before=before,
        after=after,
        notes=notes,
        run=run.id,
    )


def _waiting_pins(
    session: Session, rnd: Round, run: SolveRun, student: Student, pinned: Any, holds: Any
) -> list[str]:
    """Other students pinned by `pinned` who do not yet hold a place matching `holds`."""
    held = exists().where(
        Assignment.run_id == run.id, Assignment.student_id == Pin.student_id, holds
    )
    stmt = (
        select(Student.external_id)
        .join(Pin, Pin.student_id == Student.id)
        .where(Pin.round_id == rnd.id, Pin.student_id != student.id, pinned, ~held)
        .distinct()
        .order_by(Student.external_id)
    )
    return list(session.scalars(stmt))


def _take_out(
    session: Session, run: SolveRun, student: Student, current: Assignment, reason: dict[str, Any]
) -> None:
    """Remove the student's placement from the run: unplaced for `reason`, metrics updated (a
    community mentorship, if any, stays)."""
    mentorship = _mentorship(session, run, student)
    held_before = _held(current, mentorship)
    session.delete(current)
    session.add(Unplaced(run_id=run.id, student_id=student.id, reasons=[reason]))
    session.flush()
    _edited(session, run, student, held_before, _held(None, mentorship))


def unplace(
    session: Session,
    rnd: Round,
    student: Student,
    *,
    user: User | None,
    unpin: bool = False,
) -> Outcome:
    """Take the student out of their placement in the chosen run (unplaced, reason
    `capacity_taken` with the detail "unplaced by a coordinator"). A pinned student is refused
    (H9) unless `unpin`, which removes their pins too. A community mentorship stays: it does
    not depend on a placement."""
    require_edit(session, rnd, user)
    same_round(rnd, student)
    state = _lock_round(session, rnd, whole=False)
    run = _chosen_run(session, rnd, state)
    _lock_student(session, student)
    current = _current(session, run, student)
    if current is None:
        raise MoveRefused(
            "state", f"state: student {student.external_id} is not placed in run {run.id}"
        )
    pins = _student_pins(session, rnd, student)
    if pins and not unpin:
        where = "; ".join(_where(session, p.opportunity_id, p.slot_id) for p in pins)
        raise MoveRefused(
            "H9",
            f"H9: student {student.external_id} is pinned to {where}: unpin first (or"
            " unplace with unpin)",
        )
    before = _placement(session, current)
    notes = [f"unpinned from {_where(session, p.opportunity_id, p.slot_id)}" for p in pins]
    for p in pins:
        session.delete(p)
    _take_out(session, run, student, current, dict(_UNPLACED_BY_HAND))
    return _record(
        session,
        rnd,
        user,
        "assignment.unplace",
        ("students", student.external_id),
        before=before,
        after=None,
        notes=notes,
        run=run.id,
    )


# --- Forbidding a pair ---------------------------------------------------------------------------


def forbid(
    session: Session,
    rnd: Round,
    student: Student,
    opportunity: Opportunity,
    *,
    user: User | None,
) -> Outcome:
    """Forbid the pair: no solve may place the student there (H3, H9). Refused (H9) when a pin
    of the student requires that opportunity. A placement of the chosen run at the opportunity
    is removed: the student becomes unplaced with reason `forbidden`."""
    require_edit(session, rnd, user)
    same_round(rnd, student, opportunity)
    state = _lock_round(session, rnd, whole=False)
    _lock_student(session, student)
    for p in _student_pins(session, rnd, student):
        if p.opportunity_id == opportunity.id:
            raise PinRefused(
                "H9",
                f"H9: student {student.external_id} is pinned to opportunity"
                f" {opportunity.external_id}: unpin before forbidding the pair",
            )
    already = session.scalar(
        select(
            exists().where(
                Forbidden.student_id == student.id, Forbidden.opportunity_id == opportunity.id
            )
        )
    )
    notes: list[str] = []
    if already:
        notes.append("the pair was forbidden already")
    else:
        session.add(
            Forbidden(round_id=rnd.id, student_id=student.id, opportunity_id=opportunity.id)
        )
    before: dict[str, Any] = {"forbidden": bool(already), "placement": None}
    after: dict[str, Any] = {"forbidden": True, "placement": None}
    if state.chosen_run_id is not None:
        run = session.get_one(SolveRun, state.chosen_run_id)
        current = _current(session, run, student)
        if current is not None and current.opportunity_id == opportunity.id:
            before["placement"] = _placement(session, current)
            _take_out(
                session,
                run,
                student,
                current,
                {"code": "forbidden", "detail": "forbidden by a coordinator"},
            )
            notes.append(f"removed the student's placement there from run {run.id}")
        elif current is None and not already:
            notes += _forbidden_reasons(session, rnd, run, student, opportunity)
    return _record(
        session,
        rnd,
        user,
        "forbidden.add",
        ("students", student.external_id),
        before=before,
        after=after,
        notes=notes,
        opportunity=opportunity.external_id,
    )


def _forbidden_reasons(
    session: Session, rnd: Round, run: SolveRun, student: Student, opportunity: Opportunity
) -> list[str]:
    """Keep an unplaced student's reasons true once a pair is forbidden: `forbidden` now holds,
    and `capacity_taken` ("eligible somewhere, but the seats went to others") or `no_mentor`
    may not, when the forbidden opportunity was the only one the student could take. Those
    are checked again with the solver's rules over the student's candidate opportunities (in
    their clusters or ranked): one problem of one student, a few queries. Returns notes."""
    unplaced = session.scalars(
        select(Unplaced).where(Unplaced.run_id == run.id, Unplaced.student_id == student.id)
    ).one_or_none()
    if unplaced is None:
        return []
    reasons = [dict(r) for r in unplaced.reasons]
    notes: list[str] = []
    if any(r.get("code") in ("capacity_taken", "no_mentor") for r in reasons):
        session.flush()  # the new forbidden pair is read back with the others
        ranked = set(
            session.scalars(
                select(Preference.opportunity_id).where(Preference.student_id == student.id)
            )
        )
        stmt = select(Opportunity).where(Opportunity.round_id == rnd.id)
        if student.clusters:
            stmt = stmt.where(
                or_(Opportunity.cluster.in_(student.clusters), Opportunity.id.in_(ranked))
            )
        candidates = session.scalars(stmt.order_by(Opportunity.id)).all()
        # Ranked ones first, a block at a time, until each code is shown true: a student is
        # usually eligible somewhere early, and only one whose options are gone is checked
        # against every candidate.
        candidates = sorted(candidates, key=lambda o: o.id not in ranked)
        needed = {r.get("code") for r in reasons} & {"capacity_taken", "no_mentor"}
        still = dict.fromkeys(needed, False)
        for a in range(0, len(candidates), _RECHECK_BLOCK):
            block = candidates[a : a + _RECHECK_BLOCK]
            problem = _student_problem(session, rnd, student, block, ranked=ranked)
            inst = Instance(problem)
            allowed = {int(inst.slot_opp[sl]) for sl in compute_eligibility(inst).slot}
            still["capacity_taken"] = still.get("capacity_taken", False) or bool(allowed)
            still["no_mentor"] = still.get("no_mentor", False) or any(
                problem.opportunities[o].requires_mentor for o in allowed
            )
            if all(still[code] for code in needed):
                break
        dropped = [r["code"] for r in reasons if still.get(r.get("code", ""), True) is False]
        reasons = [r for r in reasons if still.get(r.get("code", ""), True)]
        if dropped:
            notes.append(
                f"the student's reasons {', '.join(dropped)} no longer hold: no other"
                " opportunity takes them"
            )
    forbidden = next((r for r in reasons if r.get("code") == "forbidden"), None)
    if forbidden is None:
        reasons.append({"code": "forbidden", "count": 1})
    elif isinstance(forbidden.get("count"), int):
        forbidden["count"] += 1
    unplaced.reasons = reasons
    return notes


# --- Re-solving, publishing, closing -------------------------------------------------------------


def resolve(
    session: Session,
    rnd: Round,
    *,
    user: User | None,
    options: Mapping[str, Any] | None = None,
) -> SolveRun:
    """A queued run that re-solves the round from its chosen run with minimal disruption
    (`previous_run`): published and confirmed placements kept unless impossible, pins (manual
    moves included) held, other moves penalised, and the run's `changes` saying who moved and
    why. The caller commits, then enqueues (`scheduler.jobs.enqueue(run.id)`).

    A `previous_run` in `options` must name the chosen run (a run of another round is refused
    as `access`, another run of this round as `state`: choose it first), rather than being
    replaced without a word."""
    require_edit(session, rnd, user)
    named = (options or {}).get("previous_run")
    prior: SolveRun | None = None
    if named is not None:
        is_id = isinstance(named, int) and not isinstance(named, bool)
        prior = session.get(SolveRun, named) if is_id else None
        if prior is None:
            raise NotAllowed(
                f"access: previous_run {named!r} is not a solve run of round {rnd.external_id!r}"
            )
        same_round(rnd, prior)
    state = _lock_round(session, rnd, whole=False)
    chosen = _chosen_run(session, rnd, state)
    if prior is not None and prior.id != chosen.id:
        raise ActionRefused(
            "state",
            f"state: a re-solve starts from the chosen run {chosen.id}, not run {prior.id}:"
            " choose that run first",
        )
    opts = {**(options or {}), "previous_run": chosen.id}
    run = create_run(session, rnd, opts, created_by_id=user.id if user is not None else None)
    _record(
        session,
        rnd,
        user,
        "round.resolve",
        ("solve_runs", run.id),
        before={"chosen_run": chosen.id},
        after={"run": run.id, "options": opts},
    )
    return run


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE matched (a DML statement's result is a cursor result)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def _status_counts(session: Session, run_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Assignment.status, func.count())
        .where(Assignment.run_id == run_id)
        .group_by(Assignment.status)
    )
    return {str(status): n for status, n in sorted(rows, key=lambda r: str(r[0]))}


def publish(
    session: Session,
    rnd: Round,
    *,
    user: User | None,
    expected_version: int | None = None,
) -> Outcome:
    """Publish the chosen run: its proposed and pinned placements become `published` (confirmed
    and declined ones stay), and the round `published`. Refused without a chosen succeeded run.
    Publishing again after changes publishes the new placements."""
    require_edit(session, rnd, user)
    state = _lock_round(session, rnd, whole=True, expected_version=expected_version)
    run = _chosen_run(session, rnd, state)
    before = {"status": str(state.status), "assignments": _status_counts(session, run.id)}
    published = _rowcount(
        session.execute(
            update(Assignment)
            .where(
                Assignment.run_id == run.id,
                Assignment.status.in_((AssignmentStatus.proposed, AssignmentStatus.pinned)),
            )
            .values(status=AssignmentStatus.published)
        )
    )
    rnd.status = RoundStatus.published
    session.flush()
    after = {"status": str(rnd.status), "assignments": _status_counts(session, run.id)}
    return _record(
        session,
        rnd,
        user,
        "round.publish",
        ("rounds", rnd.external_id),
        before=before,
        after=after,
        run=run.id,
        published=published,
        version=rnd.version,
    )


def close(
    session: Session,
    rnd: Round,
    *,
    user: User | None,
    expected_version: int | None = None,
) -> Outcome:
    """Close the round: no action changes it any more (every one is refused with `state`)."""
    require_edit(session, rnd, user)
    state = _lock_round(session, rnd, whole=True, expected_version=expected_version)
    rnd.status = RoundStatus.closed
    session.flush()
    return _record(
        session,
        rnd,
        user,
        "round.close",
        ("rounds", rnd.external_id),
        before={"status": str(state.status)},
        after={"status": str(rnd.status)},
        version=rnd.version,
    )
