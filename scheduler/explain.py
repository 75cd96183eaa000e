"""Reason codes in plain words: the one place that says why a student was not placed, or why a
pair is refused, for the people who read it (a student, a counselor, a coordinator).

The solver, the actions and the pages speak in reason codes (`commute_too_long`,
`capacity_taken`...: the spec's list, plus what the solver and the actions add). This module
turns a code, with its `count` and `detail` as a solution stores them and, where the caller
knows them, the facts of one pair (`Facts`: travel minutes and mode, the limit it broke, the
seats and who holds them), into a sentence addressed to the student ("you"); a short `label`
per code for table columns; and a `glossary` of every code for the command line and the docs.

Pages, exports, the CLI summary, the actions' refusals and the import's breaks all call
`explain`/`label`, so a code reads the same everywhere; `pair_facts` reads the facts of one
pair off the solver's `Instance` (by the solver's own rule functions), for the actions and the
import checks that judge a pair there. Sentences never name other students: the solver's
`capacity_taken` detail lists the ids of the students holding the seats, which a coordinator
may see (it stays in the stored reasons) but a student must not, so only counts and the facts
given here are put in words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from solver.eligibility import pair_travel, pair_trip, pair_trips
from solver.instance import Instance
from solver.problem import Slot, day_type, format_time
from solver.rules import age_of, commute_within_limit, old_enough, slot_weekly_minutes

__all__ = [
    "CODES",
    "Code",
    "Facts",
    "explain",
    "explain_reasons",
    "glossary",
    "label",
    "pair_facts",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Code:
    """What a reason code means: `rule` of the spec (`H2`..`H9`, or `-` for none), a short
    `label` for a table column, and a `meaning` for the glossary."""

    code: str
    rule: str
    label: str
    meaning: str


def _code(code: str, rule: str, label: str, meaning: str) -> tuple[str, Code]:
    return code, Code(code=code, rule=rule, label=label, meaning=meaning)


# Every code of the spec, in its order, then those the solver and the actions add.
CODES: Final[Mapping[str, Code]] = dict(
    [
        _code(
            "no_cluster_match",
            "H3",
            "Other career cluster",
            "The opportunity's career cluster is not one of the student's, and the student did"
            " not rank it.",
        ),
        _code(
            "too_young",
            "H3",
            "Too young",
            "The student is under the opportunity's minimum age, or under 14 for anything but"
            " job shadowing.",
        ),
        _code(
            "grade", "H3", "Grade too low", "The student is below the opportunity's minimum grade."
        ),
        _code(
            "missing_credential",
            "H3",
            "Missing credential",
            "The opportunity requires a credential the student does not hold.",
        ),
        _code(
            "not_accepted",
            "H3",
            "Not on the list",
            "The opportunity takes only the students it names, and does not name this one.",
        ),
        _code(
            "hazardous_minor",
            "H3",
            "Hazardous work",
            "The work is hazardous and the student is under 18 (allowed from 16 in an"
            " apprenticeship or co-op only).",
        ),
        _code(
            "no_transport_mode",
            "H4",
            "No way to get there",
            "None of the student's ways of travelling can make the trip.",
        ),
        _code(
            "commute_too_long",
            "H4",
            "Commute too long",
            "The fastest usable trip takes longer than the student's longest commute.",
        ),
        _code(
            "schedule_conflict",
            "H5",
            "Schedule clash",
            "A shift overlaps the student's classes or other commitments once the travel there"
            " and back is counted.",
        ),
        _code(
            "over_weekly_hours",
            "H6",
            "Too many hours",
            "The slot's weekly hours are more than the student may work.",
        ),
        _code(
            "child_labour_hours",
            "H7",
            "Hours not allowed under 16",
            "The shifts fall outside the hours the law allows for students under 16 (US FLSA).",
        ),
        _code(
            "no_mentor",
            "H8",
            "No mentor free",
            "The student could take the opportunity, but every workplace mentor there is taken.",
        ),
        _code(
            "capacity_taken",
            "H2",
            "Seats taken",
            "The student could take the opportunity, but every seat went to other students.",
        ),
        _code(
            "forbidden",
            "H3",
            "Ruled out",
            "A coordinator ruled out this student at this opportunity.",
        ),
        _code(
            "no_opportunities",
            "-",
            "No opportunity in reach",
            "No opportunity of the round is in the student's career clusters or preferences.",
        ),
    ]
)

# The details the actions write with a code, which change what the code means for the student.
_BY_COORDINATOR: Final = "unplaced by a coordinator"
_FORBIDDEN_BY_COORDINATOR: Final = "forbidden by a coordinator"
_NO_SEATS: Final = "no seats offered where eligible"

_TRIP: Final[Mapping[str, str]] = {
    "walk": "walk",
    "bike": "bike ride",
    "transit": "transit trip",
    "car": "drive",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What the caller knows of one pair (a student and one opportunity or slot), to put the
    numbers that decided a code into its sentence. Every field is optional; a sentence uses
    those its code needs and falls back to the general one without them."""

    opportunity: str | None = None  # its title, or "Title at Employer"
    travel_mode: str | None = None
    travel_minutes: int | None = None
    max_commute_minutes: float | None = None
    weekly_hours: float | None = None
    max_weekly_hours: float | None = None
    age: int | None = None
    min_age: int | None = None
    grade: int | None = None
    min_grade: int | None = None
    missing_credentials: tuple[str, ...] = ()
    cluster: str | None = None
    seats: int | None = None  # the seats of the opportunity (or slot) that were taken
    holders: int | None = None  # how many students hold them
    priority: bool = False  # those holders had priority over the student
    # The way home, where trips are measured by block: the end of the shift that decided the
    # code ("21:00") and the trip back after it (None: no bus back at all).
    shift_end: str | None = None
    back_minutes: int | None = None


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _number(x: float) -> str:
    return f"{x:g}"


def _subject(count: int | None, facts: Facts | None) -> tuple[str, bool]:
    """The opportunity (or opportunities) a sentence is about, and whether it is plural:
    'Cairns Hospital', '3 opportunities', 'an opportunity'."""
    if facts is not None and facts.opportunity:
        return facts.opportunity, False
    if count is None:
        return "an opportunity", False
    return _plural(count, "opportunity", "opportunities"), count != 1


def _trip(facts: Facts | None) -> str | None:
    """'the 35-minute transit trip', when the facts hold the travel."""
    if facts is None or facts.travel_minutes is None:
        return None
    kind = _TRIP.get(facts.travel_mode or "", "trip")
    return f"the {facts.travel_minutes}-minute {kind}"


def _capital(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def explain(
    code: str,
    count: int | None = None,
    detail: str | None = None,
    *,
    facts: Facts | None = None,
) -> str:
    """One reason code as a plain sentence addressed to the student.

    `count` and `detail` are as a solution stores them (`count`: how many opportunities refuse
    the student for that code, or hold the seats they could have had); `facts`, when given,
    describe the one pair the reason is about and put its numbers in the sentence. An unknown
    code is said as it is, never dropped."""
    sentence = _sentence(code, count, detail, facts)
    return _capital(sentence) if code in CODES else sentence


def _sentence(code: str, count: int | None, detail: str | None, facts: Facts | None) -> str:
    where, many = _subject(count, facts)
    f = facts or Facts()

    def verb(one: str, plural: str) -> str:
        return plural if many else one

    if code == "no_cluster_match":
        if f.cluster:
            return (
                f"{where} is in the {f.cluster} cluster, which is not one of yours, and you"
                " did not rank it."
            )
        return (
            f"{where} {verb('is', 'are')} outside your career clusters, and you did not rank"
            f" {verb('it', 'them')}."
        )
    if code == "too_young":
        if f.age is not None and f.min_age is not None:
            return f"{where} takes students from age {f.min_age}; you are {f.age}."
        return f"you are too young for {where}."
    if code == "grade":
        if f.grade is not None and f.min_grade is not None:
            return f"{where} takes students from grade {f.min_grade}; you are in grade {f.grade}."
        return f"{where} {verb('takes', 'take')} students from a higher grade than yours."
    if code == "missing_credential":
        if f.missing_credentials:
            needed = ", ".join(f.missing_credentials)
            return f"{where} requires {needed}, which you do not hold yet."
        return f"{where} {verb('requires', 'require')} a credential you do not hold yet."
    if code == "not_accepted":
        return (
            f"{where} {verb('takes', 'take')} only the students named for"
            f" {verb('it', 'them')}, and you are not named."
        )
    if code == "hazardous_minor":
        return (
            f"{where} {verb('involves', 'involve')} hazardous work, open under 18 only to"
            " apprentices and co-op students aged 16 or more."
        )
    if code == "forbidden":
        return f"a coordinator ruled out {where} for you."
    if code == "no_transport_mode":
        if f.shift_end is not None and f.back_minutes is None:
            return f"there is no bus back after your {f.shift_end} shift at {where}."
        return f"none of the ways you travel can get you to {where}."
    if code == "commute_too_long":
        if (
            f.shift_end is not None
            and f.back_minutes is not None
            and f.max_commute_minutes is not None
        ):
            return (
                f"the bus back after your {f.shift_end} shift at {where} takes"
                f" {f.back_minutes} minutes, longer than your limit of"
                f" {_number(f.max_commute_minutes)} minutes."
            )
        trip = _trip(facts)
        if trip is not None and f.max_commute_minutes is not None:
            return (
                f"{trip} to {where} is longer than your limit of"
                f" {_number(f.max_commute_minutes)} minutes."
            )
        return (
            f"the trip to {where} is longer than your longest commute."
            if not many
            else (f"the trips to {where} are longer than your longest commute.")
        )
    if code == "schedule_conflict":
        trip = _trip(facts)
        counted = f"{trip} each way is" if trip else "the travel there and back is"
        return f"{where} {verb('clashes', 'clash')} with your classes once {counted} counted."
    if code == "over_weekly_hours":
        if f.weekly_hours is not None and f.max_weekly_hours is not None:
            return (
                f"{where} asks for {_number(f.weekly_hours)} hours a week; you may work"
                f" {_number(f.max_weekly_hours)}."
            )
        return f"{where} {verb('asks', 'ask')} for more hours a week than you may work."
    if code == "child_labour_hours":
        said = (
            f"{where} {verb('has', 'have')} shifts outside the hours the law allows for"
            " students under 16"
        )
        return said + (f"; you are {f.age}." if f.age is not None else ".")
    if code == "no_mentor":
        return (
            f"{where} you could take {verb('needs', 'need')} a workplace mentor, and every"
            " mentor there is taken."
        )
    if code == "capacity_taken":
        if detail == _BY_COORDINATOR:
            return "a coordinator took you out of your placement."
        if detail == _NO_SEATS or (f.seats == 0 and f.opportunity):
            if f.opportunity:
                return f"{f.opportunity} offers no seats."
            return "the opportunities you could take offer no seats."
        if f.seats is not None:
            seats = "the only seat" if f.seats == 1 else f"the {f.seats} seats"
            at = f" at {f.opportunity}" if f.opportunity else ""
            if f.seats == 1:
                whom = "a student with priority" if f.priority else "another student"
            else:
                whom = "students with priority" if f.priority else "other students"
            return f"{seats}{at} went to {whom}."
        if count is None:
            return "every seat you could take went to other students."
        return f"every seat at the {where} you could take went to other students."
    if code == "no_opportunities":
        return "no opportunity in this round is in your career clusters or on your list."
    said = code + (f" ({count})" if count is not None else "")
    return said + (f": {detail}" if detail else "")


def label(code: str) -> str:
    """A short name of the code for a table column ('Commute too long'); an unknown code as
    it is."""
    known = CODES.get(code)
    return code if known is None else known.label


def glossary() -> tuple[Code, ...]:
    """Every code, in the spec's order then the solver's and the actions' additions."""
    return tuple(CODES.values())


def explain_reasons(
    reasons: Iterable[Mapping[str, Any]], facts: Mapping[str, Facts] | None = None
) -> tuple[str, ...]:
    """The sentences of a stored `reasons` list (`[{"code", "count"?, "detail"?}]`), in its
    order; `facts` by code where the caller knows them."""
    return tuple(
        explain(
            str(r["code"]),
            r.get("count"),
            r.get("detail"),
            facts=None if facts is None else facts.get(str(r["code"])),
        )
        for r in reasons
    )


def pair_facts(inst: Instance, student: int, opportunity: int, slot: int | None = None) -> Facts:
    """The facts of one pair of the solver's `Instance` (student, opportunity and slot by their
    indexes there; `slot` None: every slot of the opportunity), for `explain`: the fastest
    usable trip, the student's limits, age and grade, the opportunity's title, least age,
    grade and missing credentials, and the weekly hours of the slot (without one: of the
    opportunity's lightest slot; no slot at all: `seats` 0). Read through the solver's rule
    functions, so a number said is the number the rule decided on."""
    p = inst.problem
    st, op = p.students[student], p.opportunities[opportunity]
    trip = pair_trip(inst, student, opportunity)
    slots = [inst.slots[slot]] if slot is not None else list(op.slots)
    shift_end, back_minutes = _way_back(inst, student, opportunity, slots)
    # The least age `old_enough` lets in: its own test, not a second copy of the rule.
    least = next(age for age in range(200) if old_enough(age, op))
    return Facts(
        opportunity=op.title,
        travel_mode=None if trip is None else trip[0],
        travel_minutes=None if trip is None else trip[1],
        max_commute_minutes=st.max_commute_minutes,
        weekly_hours=min(slot_weekly_minutes(sl) for sl in slots) / 60 if slots else None,
        max_weekly_hours=st.max_weekly_hours,
        age=age_of(st, p.round),
        min_age=least,
        grade=st.grade,
        min_grade=op.min_grade,
        missing_credentials=tuple(c for c in op.required_credentials if c not in st.credentials),
        cluster=op.cluster,
        seats=None if op.slots else 0,
        shift_end=shift_end,
        back_minutes=back_minutes,
    )


def _way_back(
    inst: Instance, student: int, opportunity: int, slots: Iterable[Slot]
) -> tuple[str | None, int | None]:
    """Where the pair's trips are measured by block (`trips`), the way home that rules a slot
    out: the end of the first shift with no trip back ((end, None)), else of the shift whose
    trip back is longest when that is over the student's limit ((end, minutes)); (None, None)
    when the way back rules nothing out. Read off the same entries as `pair_slot_trip`."""
    p = inst.problem
    st, op = p.students[student], p.opportunities[opportunity]
    group = int(inst.group_of[student])
    measured = pair_travel(p, st.id, op.id, group=group)
    worst: tuple[str, int] | None = None
    for mode, trips in pair_trips(p, st.id, op.id, group=group).items():
        if mode not in st.travel_modes:
            continue
        for sl in slots:
            for b in sl.blocks:
                back = trips.back.get((day_type(b.weekday), b.end), measured.get(mode))
                if back is None:
                    return format_time(b.end), None
                if not commute_within_limit(st, back) and (worst is None or back > worst[1]):
                    worst = (format_time(b.end), back)
    return (None, None) if worst is None else worst
