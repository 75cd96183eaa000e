"""What a change of a round's data broke: the pins and the chosen run's placements that no
longer hold against the round as stored, each with the rule and a reason in plain words.

Importers (`scheduler.tables.import_tables`) call `find_breaks` after writing, inside their
savepoint, and then either refuse the import (`breaks_issues` gives the lines to report) or,
when the coordinator accepts the breaks, `mark_breaks` records them on the rows
(`broken_rule`, `broken_reason`), clears the marks of what holds again, and writes one audit
event. Nothing here decides a rule itself: H3-H7 are `solver.eligibility.refusal_codes` on an
`Instance` of the whole round (built once), H2 and H8 the one-rule functions of
`solver.rules`.

What is checked:
- every assignment of the round's chosen run, whatever its status, and every pin of the round
  (on its own: the pin's pair, slot and mentor; whether the chosen run honours a pin is the
  coordinator's business, which an import cannot change);
- H2: seats of each slot and opportunity are counted over the chosen run's assignments, the
  declined ones too (as coordinator actions count them: a declined placement is still in the
  run's solution), and the pins (a pinned student holds a seat a re-solve must give them).
  When a slot, an opportunity or a mentor (H8) has fewer places than holders, the holders keep
  places in this order: confirmed, published, pinned (an assignment or a pin), proposed,
  declined; within a status the earliest first. The holders past the capacity are the broken
  ones: a re-import never marks a confirmed placement while a proposed one holds a seat;
- H3-H7 of each (student, opportunity, slot) pair, H4 with the travel the round now has;
- H8: a workplace mentor on an assignment iff its opportunity requires one, of the same
  employer and serving the cluster; mentor places (assignments, community mentorships and pins
  naming the mentor); each community mentorship of the run (still a community mentor, wanted,
  clusters meet, the weekly meeting still fits the mentor's availability, the student's busy
  blocks and slot); a pin's mentor likewise;
- H9: pins that lose their slot, mentor or opportunity when the import deletes it (the
  importer reports those, since afterwards there is nothing left to compare).

A break is `new` unless its row already carried a mark of the same rule: an import is refused
only for what it breaks itself, not for what an accepted import broke before and nobody has
resolved yet (those are listed again, and keep their marks).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, aliased

from models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Mentor,
    Mentorship,
    Opportunity,
    Pin,
    Round,
    Slot,
    Student,
    User,
)
from scheduler.actions import RULE_OF_CODE
from scheduler.explain import explain, pair_facts
from scheduler.rounds import chunks, export_round
from solver import Problem, load_problem
from solver.eligibility import refusal_codes
from solver.instance import Instance
from solver.problem import DAYS, parse_time
from solver.problem import Mentor as SMentor
from solver.problem import Opportunity as SOpportunity
from solver.problem import Slot as SSlot
from solver.problem import Student as SStudent
from solver.rules import (
    community_mentor_matches,
    meeting_fits,
    meeting_times,
    opportunity_capacity,
    slot_capacity,
    workplace_mentor_serves,
    workplace_mentors_for,
)

__all__ = [
    "AUDIT_ACTION",
    "Break",
    "BreakKind",
    "breaks_issues",
    "find_breaks",
    "mark_breaks",
]

# The audit event of an import applied with its breaks accepted (or that cleared marks).
AUDIT_ACTION: Final = "round.import_breaks"

BreakKind = Literal["assignment", "pin", "mentorship"]

# Who keeps a seat when there are fewer seats than holders: lower first (see the docstring).
_KEEP_ORDER: Final[Mapping[str, int]] = {
    AssignmentStatus.confirmed: 0,
    AssignmentStatus.published: 1,
    AssignmentStatus.pinned: 2,
    "pin": 2,
    AssignmentStatus.proposed: 3,
    AssignmentStatus.declined: 4,
}
_RULES: Final = ("H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8", "H9")


@dataclass(frozen=True, slots=True, kw_only=True)
class Break:
    """A pin or a placement of the chosen run that no longer holds.

    `kind` says which row: an `assignment` of the chosen run, a `pin`, or a community
    `mentorship` of an unplaced student (a placed student's mentorship is checked as part of
    the student's assignment). `ident` is
    that row's id; `status` the assignment's status (`pin` for a pin, `mentorship`). `rule` is
    the first rule broken (`H2`..`H9`), `reason` every broken rule in words, each led by its
    rule when they are several. `new`: this change broke it (False: it was marked with this
    rule already)."""

    kind: BreakKind
    ident: int
    student: str
    opportunity: str | None
    slot: str | None
    mentor: str | None
    status: str
    rule: str
    reason: str
    new: bool = True

    @property
    def where(self) -> str:
        """The row in a coordinator's words: `published placement of student "st-1" at
        opportunity "op-1" slot "sl-1"`."""
        what = {
            "assignment": f"{self.status} placement",
            "pin": "pin",
            "mentorship": f"community mentorship with mentor {_q(self.mentor)}",
        }[self.kind]
        text = f"{what} of student {_q(self.student)}"
        if self.opportunity is not None:
            text += f" at opportunity {_q(self.opportunity)}"
        if self.slot is not None:
            text += f" slot {_q(self.slot)}"
        if self.kind != "mentorship" and self.mentor is not None:
            text += f" with mentor {_q(self.mentor)}"
        return text

    def __str__(self) -> str:
        already = "" if self.new else " (marked before)"
        return f"{self.where}{already}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        """For the audit event's detail and JSON answers."""
        return {
            "kind": self.kind,
            "id": self.ident,
            "student": self.student,
            "opportunity": self.opportunity,
            "slot": self.slot,
            "mentor": self.mentor,
            "status": self.status,
            "rule": self.rule,
            "reason": self.reason,
            "new": self.new,
        }


def _q(value: str | None) -> str:
    return f'"{value}"'


@dataclass(slots=True)
class _Item:
    """One row under check and what it breaks, as (rule, words) pairs."""

    kind: BreakKind
    ident: int
    student: str
    opportunity: str | None
    slot: str | None
    mentor: str | None
    status: str
    marked: str | None  # the row's broken_rule before the change
    problems: list[tuple[str, str]] = field(default_factory=list)

    def add(self, rule: str, words: str) -> None:
        if (rule, words) not in self.problems:
            self.problems.append((rule, words))

    def result(self) -> Break:
        ordered = sorted(self.problems, key=lambda p: _RULES.index(p[0]))
        rule = ordered[0][0]
        return Break(
            kind=self.kind,
            ident=self.ident,
            student=self.student,
            opportunity=self.opportunity,
            slot=self.slot,
            mentor=self.mentor,
            status=self.status,
            rule=rule,
            reason="; ".join(
                words if len({r for r, _ in ordered}) == 1 else f"{r} {words}"
                for r, words in ordered
            ),
            new=self.marked != rule,
        )


def find_breaks(
    session: Session,
    rnd: Round,
    problem: Problem | None = None,
    *,
    lost: Iterable[Break] = (),
) -> list[Break]:
    """Every pin and chosen-run placement of `rnd` that breaks a hard rule against the round as
    stored now (in the caller's transaction), in student order; [] when all hold.

    `problem`: the round as the solver reads it, when the caller has it already (an importer
    validated the exported round); else the round is exported and loaded here. `lost`: breaks
    the caller found itself (pins whose slot, mentor or opportunity it deleted), listed too.
    A round without pins and without a chosen run is not read at all."""
    items = _load(session, rnd)
    extra = list(lost)
    if not items.assignments and not items.pins and not items.mentorships:
        return sorted(extra, key=_order)
    if problem is None:
        problem = load_problem(export_round(session, rnd))
    _Check(problem, items).run()
    found = [
        item.result()
        for item in (*items.assignments, *items.pins, *items.mentorships)
        if item.problems
    ]
    # A pin the caller unhooked (its slot or mentor deleted) may break other rules as well:
    # one break per row, the caller's reason first.
    merged = {(b.kind, b.ident): b for b in extra}
    for b in found:
        first = merged.get((b.kind, b.ident))
        if first is None:
            merged[b.kind, b.ident] = b
            continue
        rule = min(first.rule, b.rule, key=_RULES.index)
        merged[b.kind, b.ident] = replace(
            first, rule=rule, reason=f"{first.rule} {first.reason}; {b.rule} {b.reason}"
        )
    return sorted(merged.values(), key=_order)


def _order(b: Break) -> tuple[str, int, int]:
    return (b.student, ("assignment", "mentorship", "pin").index(b.kind), b.ident)


def breaks_issues(breaks: Sequence[Break], *, accepted: bool = False) -> list[str]:
    """What an importer reports: a head line (what to do, when refused) and each break with its
    rule and reason."""
    if not breaks:
        return []
    new = sum(b.new for b in breaks)
    if accepted:
        head = (
            f"{len(breaks)} pin{'s' if len(breaks) != 1 else ''} or placement"
            f"{'s' if len(breaks) != 1 else ''} no longer hold; marked for the coordinator:"
        )
    else:
        head = (
            f"the import breaks {new} pin{'s' if new != 1 else ''} or placement"
            f"{'s' if new != 1 else ''}; to apply it anyway and mark them for the coordinator,"
            " give --accept-breaks (Python: accept_breaks=True)"
        )
    return [head, *(f"{b.rule} {b}" for b in breaks)]


def mark_breaks(
    session: Session,
    rnd: Round,
    breaks: Sequence[Break],
    *,
    user: User | None,
    source: Mapping[str, Any],
) -> int:
    """Record `breaks` on their rows (`broken_rule`, `broken_reason`), clear the marks of the
    chosen run's assignments and the round's pins that hold again, and add one audit event
    (`round.import_breaks`: the breaks, how many marks were cleared, and `source`, what made
    the change) when there is anything to say. Returns the number of marks cleared.

    A community mentorship's problems are marked on the student's assignment in the run; a
    mentorship of an unplaced student (no row to mark) and a pin the change deleted are only
    listed."""
    marks_a = {b.ident: (b.rule, b.reason) for b in breaks if b.kind == "assignment"}
    on_pin = {b.ident: (b.rule, b.reason) for b in breaks if b.kind == "pin"}
    cleared = _clear(session, Assignment, _chosen_filter(rnd), set(marks_a))
    cleared += _clear(session, Pin, Pin.round_id == rnd.id, set(on_pin))
    _mark(session, Assignment, marks_a)
    _mark(session, Pin, on_pin)
    if breaks or cleared:
        session.add(
            AuditEvent(
                program_id=rnd.program_id,
                round_id=rnd.id,
                user_id=user.id if user is not None else None,
                action=AUDIT_ACTION,
                target_type="round",
                target_id=rnd.external_id,
                detail={
                    **source,
                    "breaks": [b.as_dict() for b in breaks],
                    "new": sum(b.new for b in breaks),
                    "marks_cleared": cleared,
                },
            )
        )
    session.flush()
    return cleared


def _chosen_filter(rnd: Round) -> Any:
    return Assignment.run_id == (rnd.chosen_run_id if rnd.chosen_run_id is not None else -1)


def _clear(
    session: Session, model: type[Assignment] | type[Pin], where: Any, keep: set[int]
) -> int:
    """Clear the marks of rows matching `where` that are not in `keep`; how many."""
    ids = [
        ident
        for ident in session.scalars(select(model.id).where(where, model.broken_rule.is_not(None)))
        if ident not in keep
    ]
    for chunk in chunks(ids):
        session.execute(
            update(model).where(model.id.in_(chunk)).values(broken_rule=None, broken_reason=None),
            execution_options={"synchronize_session": False},
        )
    return len(ids)


def _mark(
    session: Session, model: type[Assignment] | type[Pin], marks: Mapping[int, tuple[str, str]]
) -> None:
    if not marks:
        return
    table = cast(Table, model.__table__)
    stmt = (
        update(table)
        .where(table.c.id == bindparam("pk_"))
        .values(broken_rule=bindparam("rule_"), broken_reason=bindparam("reason_"))
    )
    session.execute(
        stmt,
        [{"pk_": key, "rule_": rule, "reason_": why} for key, (rule, why) in marks.items()],
    )


# --- Loading what is checked ------------------------------------------------------------------


@dataclass(slots=True)
class _Items:
    assignments: list[_Item]
    pins: list[_Item]
    mentorships: list[_Item]
    # Mentorships' meeting (day, start, end), by the mentorship's id.
    meetings: dict[int, tuple[str, str, str]]


def _load(session: Session, rnd: Round) -> _Items:
    """The chosen run's assignments and mentorships and the round's pins, with external ids:
    three queries whatever the round's size."""
    st, op, sl, me = aliased(Student), aliased(Opportunity), aliased(Slot), aliased(Mentor)
    assignments: list[_Item] = []
    mentorships: list[_Item] = []
    meetings: dict[int, tuple[str, str, str]] = {}
    if rnd.chosen_run_id is not None:
        rows = session.execute(
            select(
                Assignment.id,
                Assignment.status,
                Assignment.broken_rule,
                st.external_id,
                op.external_id,
                sl.external_id,
                me.external_id,
            )
            .join(st, st.id == Assignment.student_id)
            .join(op, op.id == Assignment.opportunity_id)
            .join(sl, sl.id == Assignment.slot_id)
            .outerjoin(me, me.id == Assignment.mentor_id)
            .where(Assignment.run_id == rnd.chosen_run_id)
            .order_by(Assignment.id)
        )
        for ident, status, marked, student, opp, slot, mentor in rows:
            assignments.append(
                _Item("assignment", ident, student, opp, slot, mentor, str(status), marked)
            )
        meeting_rows = session.execute(
            select(
                Mentorship.id,
                st.external_id,
                me.external_id,
                Mentorship.day,
                Mentorship.start_time,
                Mentorship.end_time,
            )
            .join(st, st.id == Mentorship.student_id)
            .join(me, me.id == Mentorship.mentor_id)
            .where(Mentorship.run_id == rnd.chosen_run_id)
            .order_by(Mentorship.id)
        )
        for ident, student, mentor, day, start, end in meeting_rows:
            mentorships.append(
                _Item("mentorship", ident, student, None, None, mentor, "mentorship", None)
            )
            meetings[ident] = (str(day), start, end)
    pins = [
        _Item("pin", ident, student, opp, slot, mentor, "pin", marked)
        for ident, marked, student, opp, slot, mentor in session.execute(
            select(
                Pin.id,
                Pin.broken_rule,
                st.external_id,
                op.external_id,
                sl.external_id,
                me.external_id,
            )
            .join(st, st.id == Pin.student_id)
            .join(op, op.id == Pin.opportunity_id)
            .outerjoin(sl, sl.id == Pin.slot_id)
            .outerjoin(me, me.id == Pin.mentor_id)
            .where(Pin.round_id == rnd.id)
            .order_by(Pin.id)
        )
    ]
    return _Items(assignments, pins, mentorships, meetings)


# --- The checks -----------------------------------------------------------------------------


class _Check:
    """The rules on the loaded rows, against one `Instance` of the whole round."""

    def __init__(self, problem: Problem, items: _Items) -> None:
        self.p = problem
        self.items = items
        self.inst = Instance(problem)
        self.mentors = {m.id: m for m in problem.mentors}
        self.length = problem.round.mentor_meeting_minutes

    def student(self, ext: str) -> SStudent:
        return self.p.students[self.inst.student_ix[ext]]

    def opp(self, ext: str) -> SOpportunity:
        return self.p.opportunities[self.inst.opp_ix[ext]]

    def slot(self, ext: str) -> SSlot:
        return self.inst.slots[self.inst.slot_ix[ext]]

    def run(self) -> None:
        items = self.items
        placed = {a.student: a for a in items.assignments}
        for a in items.assignments:
            assert a.opportunity is not None
            assert a.slot is not None
            self.pair(a, a.opportunity, a.slot)
            self.workplace_mentor(a, a.opportunity, a.mentor)
        for pin in items.pins:
            assert pin.opportunity is not None
            self.pair(pin, pin.opportunity, pin.slot)
            self.pin_mentor(pin, pin.opportunity, pin.slot)
        for ms in items.mentorships:
            self.community(ms, placed.get(ms.student))
        self.capacities()

    # H3-H7 -------------------------------------------------------------------------------------

    def pair(self, item: _Item, opp_ext: str, slot_ext: str | None) -> None:
        inst = self.inst
        si, oi = inst.student_ix[item.student], inst.opp_ix[opp_ext]
        sl = inst.slot_ix[slot_ext] if slot_ext is not None else None
        codes = refusal_codes(inst, si, oi, sl)
        for code in codes:
            self.explain(item, code, si, oi, sl)

    def explain(self, item: _Item, code: str, si: int, oi: int, sl: int | None) -> None:
        """A reason code in the words every page uses (`scheduler.explain`), with the numbers
        of this pair that decided it."""
        words = explain(code, facts=pair_facts(self.inst, si, oi, sl)).rstrip(".")
        item.add(RULE_OF_CODE.get(code, "H3"), words)

    # H8 ---------------------------------------------------------------------------------------

    def workplace_mentor(self, item: _Item, opp_ext: str, mentor_ext: str | None) -> None:
        op = self.opp(opp_ext)
        if mentor_ext is None:
            if op.requires_mentor:
                item.add("H8", f"opportunity {_q(op.id)} requires a workplace mentor; none named")
            return
        mentor = self.mentors[mentor_ext]
        if not op.requires_mentor:
            item.add(
                "H8",
                f"opportunity {_q(op.id)} no longer requires a mentor, but the placement names"
                f" mentor {_q(mentor.id)}",
            )
        elif not workplace_mentor_serves(mentor, op):
            item.add("H8", self.not_serving(mentor, op))

    def not_serving(self, mentor: SMentor, op: SOpportunity) -> str:
        if mentor.employer != op.employer:
            now = (
                "a community mentor"
                if mentor.employer is None
                else f"of employer {_q(mentor.employer)}"
            )
            return (
                f"mentor {_q(mentor.id)} is now {now}, not a workplace mentor of employer"
                f" {_q(op.employer)}"
            )
        return (
            f"mentor {_q(mentor.id)}'s clusters {sorted(mentor.clusters)} no longer hold"
            f" cluster {op.cluster}"
        )

    def pin_mentor(self, pin: _Item, opp_ext: str, slot_ext: str | None) -> None:
        op = self.opp(opp_ext)
        if pin.mentor is None:
            if op.requires_mentor and not any(
                m.capacity > 0 for m in workplace_mentors_for(op, self.p.mentors)
            ):
                pin.add(
                    "H8",
                    f"opportunity {_q(op.id)} requires a mentor and employer {_q(op.employer)}"
                    f" has no workplace mentor with a place for cluster {op.cluster}",
                )
            return
        mentor = self.mentors[pin.mentor]
        if op.requires_mentor:
            if not workplace_mentor_serves(mentor, op):
                pin.add("H8", self.not_serving(mentor, op))
            return
        st = self.student(pin.student)
        slot = self.slot(slot_ext) if slot_ext is not None else None
        for words in self.community_problems(st, mentor, None):
            pin.add("H8", words)
        # A pin without a slot holds if some slot of the opportunity leaves a meeting time.
        slots = [slot] if slot is not None else list(op.slots)
        if not any(meeting_times(mentor, st, sl, self.length) for sl in slots):
            pin.add("H8", self.no_meeting(mentor))

    def no_meeting(self, mentor: SMentor) -> str:
        return (
            f"community mentor {_q(mentor.id)} has no free {self.length}-minute meeting time"
            " with the student"
        )

    def community_problems(self, st: SStudent, mentor: SMentor, workplace: str | None) -> list[str]:
        out = []
        if mentor.employer is not None:
            out.append(
                f"mentor {_q(mentor.id)} now works for employer {_q(mentor.employer)}, not a"
                " community mentor"
            )
        if not st.wants_mentor:
            out.append("the student no longer wants a mentor (wants_mentor is false)")
        if workplace is not None:
            out.append(f"the student has workplace mentor {_q(workplace)} too")
        if not community_mentor_matches(st, mentor):
            out.append(
                f"mentor {_q(mentor.id)}'s clusters {sorted(mentor.clusters)} do not meet the"
                f" student's {sorted(st.clusters)}"
            )
        return out

    def community(self, ms: _Item, a: _Item | None) -> None:
        assert ms.mentor is not None
        st, mentor = self.student(ms.student), self.mentors[ms.mentor]
        target = a if a is not None else ms
        prefix = f"community mentorship with {_q(mentor.id)}: " if a is not None else ""
        for words in self.community_problems(st, mentor, a.mentor if a is not None else None):
            target.add("H8", prefix + words)
        day, start, end = self.items.meetings[ms.ident]
        begin, finish = parse_time(start), parse_time(end)
        slot = self.slot(a.slot) if a is not None and a.slot is not None else None
        if finish - begin != self.length or not meeting_fits(
            mentor, st, slot, day=DAYS.index(day), start=begin, length=self.length
        ):
            target.add(
                "H8",
                f"{prefix}the meeting {day} {start}-{end} no longer fits: a"
                f" {self.length}-minute meeting inside mentor {_q(mentor.id)}'s availability,"
                " clear of the student's busy blocks and slot",
            )

    # H2 and mentor places --------------------------------------------------------------------

    def capacities(self) -> None:
        """Seats of slots and opportunities (H2) and mentor places (H8), by holder."""
        items = self.items
        by_slot: dict[str, dict[str, list[_Item]]] = defaultdict(lambda: defaultdict(list))
        by_opp: dict[str, dict[str, list[_Item]]] = defaultdict(lambda: defaultdict(list))
        by_mentor: dict[str, dict[str, list[_Item]]] = defaultdict(lambda: defaultdict(list))
        placed = {a.student: a for a in items.assignments}
        for item in (*items.assignments, *items.pins):
            assert item.opportunity is not None
            by_opp[item.opportunity][item.student].append(item)
            if item.slot is not None:
                by_slot[item.slot][item.student].append(item)
            if item.mentor is not None:
                by_mentor[item.mentor][item.student].append(item)
        for ms in items.mentorships:
            assert ms.mentor is not None
            holder = placed.get(ms.student, ms)
            by_mentor[ms.mentor][ms.student].append(holder)
        for ext, holders in by_slot.items():
            cap = slot_capacity(self.slot(ext))
            self.over(holders, cap, "H2", f"slot {_q(ext)} has {_seats(cap)}")
        for ext, holders in by_opp.items():
            cap = opportunity_capacity(self.opp(ext))
            self.over(holders, cap, "H2", f"opportunity {_q(ext)} has {_seats(cap)}")
        for ext, holders in by_mentor.items():
            cap = self.mentors[ext].capacity
            self.over(
                holders,
                cap,
                "H8",
                f"mentor {_q(ext)} has {cap} place{'s' if cap != 1 else ''}",
            )

    def over(self, holders: Mapping[str, list[_Item]], cap: int, rule: str, has: str) -> None:
        if len(holders) <= cap:
            return
        ranked = sorted(holders.values(), key=_keep_key)
        count = len(holders)
        words = (
            f"{has} for {count} student{'s' if count != 1 else ''} (places are kept for"
            " confirmed, published and pinned placements first, then the earliest)"
        )
        for rows in ranked[cap:]:
            for item in rows:
                item.add(rule, words)


def _seats(cap: int) -> str:
    return f"{cap} seat{'s' if cap != 1 else ''}"


def _keep_key(rows: list[_Item]) -> tuple[int, int, int]:
    """Who keeps a place first: by the best status among the student's rows, then assignments
    before pins without one, then the earliest row."""
    best = min(_KEEP_ORDER.get(r.status, 3) for r in rows)
    assignment = [r.ident for r in rows if r.kind == "assignment"]
    if assignment:
        return (best, 0, min(assignment))
    return (best, 1, min(r.ident for r in rows))
