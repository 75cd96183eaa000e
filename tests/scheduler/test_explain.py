"""Reason codes in plain words (`scheduler.explain`): every code the solver and the actions
write has a label, a glossary line and a sentence, with and without counts and pair facts;
sentences never name other students."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from models import Program
from scheduler import explain as ex
from scheduler.errors import MoveRefused
from scheduler.explain import Facts, explain
from solver import load_problem
from solver.eligibility import REASONS
from solver.instance import Instance
from tests.scheduler.test_actions import _move, _one_opp, _setup
from tests.solver.factories import make_doc, opportunity, slot, student, weekly

# The spec's list of codes (its "Solution" section), and what the solver adds to the per-pair
# rules of eligibility.
SPEC_CODES = (
    "no_cluster_match",
    "too_young",
    "grade",
    "missing_credential",
    "not_accepted",
    "hazardous_minor",
    "no_transport_mode",
    "commute_too_long",
    "schedule_conflict",
    "over_weekly_hours",
    "child_labour_hours",
    "no_mentor",
    "capacity_taken",
    "forbidden",
    "no_opportunities",
)


def test_every_code_of_the_spec_and_the_solver_is_in_the_glossary() -> None:
    """The glossary covers the spec's codes and every per-pair code eligibility can write, in
    the spec's order, each with a rule, a label and a meaning."""
    codes = [c.code for c in ex.glossary()]
    assert codes == list(SPEC_CODES)
    assert set(REASONS) <= set(codes)
    for c in ex.glossary():
        assert c.label
        assert c.meaning.endswith(".")
        assert c.rule in {"H2", "H3", "H4", "H5", "H6", "H7", "H8", "-"}
        assert ex.label(c.code) == c.label


@pytest.mark.parametrize("code", SPEC_CODES)
def test_each_code_reads_as_a_sentence_alone_with_one_and_with_many(code: str) -> None:
    """A sentence per code: capitalised (or a number first), ending in a full stop, no raw code
    in it, and the
    count said when given (singular and plural)."""
    for count in (None, 1, 3):
        text = explain(code, count)
        assert text[0].isupper() or text[0].isdigit(), text
        assert text.endswith("."), text
        assert "_" not in text
        if count == 3 and code != "no_opportunities":
            assert "3 opportunities" in text
        if count == 1 and code != "no_opportunities":
            assert "1 opportunity " in text or text.endswith("1 opportunity.")


def test_no_cluster_match() -> None:
    """H3: outside the clusters and not ranked."""
    assert explain("no_cluster_match", 4) == (
        "4 opportunities are outside your career clusters, and you did not rank them."
    )
    assert explain(
        "no_cluster_match", facts=Facts(opportunity="Cairns Hospital", cluster="HLTH")
    ) == (
        "Cairns Hospital is in the HLTH cluster, which is not one of yours, and you did not"
        " rank it."
    )


def test_too_young() -> None:
    """H3: age under the opportunity's minimum (or 14)."""
    assert explain("too_young", 2) == "You are too young for 2 opportunities."
    facts = Facts(opportunity="Cairns Hospital", age=15, min_age=16)
    assert explain("too_young", facts=facts) == (
        "Cairns Hospital takes students from age 16; you are 15."
    )


def test_grade() -> None:
    """H3: grade under the opportunity's minimum."""
    assert explain("grade", 1) == "1 opportunity takes students from a higher grade than yours."
    facts = Facts(opportunity="Lab", grade=10, min_grade=11)
    assert explain("grade", facts=facts) == "Lab takes students from grade 11; you are in grade 10."


def test_missing_credential() -> None:
    """H3: a required credential the student lacks, named when known."""
    assert explain("missing_credential", 2) == (
        "2 opportunities require a credential you do not hold yet."
    )
    facts = Facts(opportunity="Lab", missing_credentials=("CPR", "food handler"))
    assert explain("missing_credential", facts=facts) == (
        "Lab requires CPR, food handler, which you do not hold yet."
    )


def test_not_accepted() -> None:
    """H3: an accepts list that does not name the student."""
    assert explain("not_accepted", 3) == (
        "3 opportunities take only the students named for them, and you are not named."
    )


def test_hazardous_minor() -> None:
    """H3: hazardous work under 18 outside the student-learner exemption."""
    assert "hazardous work" in explain("hazardous_minor", 1)
    assert "16" in explain("hazardous_minor", 1)


def test_forbidden() -> None:
    """H3: a pair a coordinator ruled out, with or without the actions' detail."""
    assert explain("forbidden", 1) == "A coordinator ruled out 1 opportunity for you."
    assert explain("forbidden", detail="forbidden by a coordinator") == (
        "A coordinator ruled out an opportunity for you."
    )


def test_no_transport_mode() -> None:
    """H4: no usable way to travel."""
    assert explain("no_transport_mode", 2) == (
        "None of the ways you travel can get you to 2 opportunities."
    )


def test_commute_too_long() -> None:
    """H4: with the pair's trip and the student's limit, the numbers are said."""
    assert (
        explain("commute_too_long", 2)
        == "The trips to 2 opportunities are longer than your longest commute."
    )
    facts = Facts(
        opportunity="Cairns Hospital",
        travel_mode="transit",
        travel_minutes=75,
        max_commute_minutes=60,
    )
    assert explain("commute_too_long", facts=facts) == (
        "The 75-minute transit trip to Cairns Hospital is longer than your limit of 60 minutes."
    )


def test_schedule_conflict() -> None:
    """H5: the clash with classes once travel is counted, with the trip when known."""
    assert explain("schedule_conflict", 4) == (
        "4 opportunities clash with your classes once the travel there and back is counted."
    )
    facts = Facts(opportunity="Cairns Hospital", travel_mode="transit", travel_minutes=35)
    assert explain("schedule_conflict", facts=facts) == (
        "Cairns Hospital clashes with your classes once the 35-minute transit trip each way is"
        " counted."
    )
    walk = Facts(opportunity="Lab", travel_mode="walk", travel_minutes=12)
    assert "the 12-minute walk each way" in explain("schedule_conflict", facts=walk)


def test_over_weekly_hours() -> None:
    """H6: the slot's hours against the student's maximum."""
    assert explain("over_weekly_hours", 1) == (
        "1 opportunity asks for more hours a week than you may work."
    )
    facts = Facts(opportunity="Lab", weekly_hours=12.5, max_weekly_hours=10)
    assert explain("over_weekly_hours", facts=facts) == (
        "Lab asks for 12.5 hours a week; you may work 10."
    )


def test_child_labour_hours() -> None:
    """H7: hours the law does not allow under 16."""
    assert explain("child_labour_hours", 2) == (
        "2 opportunities have shifts outside the hours the law allows for students under 16."
    )


def test_no_mentor() -> None:
    """H8: eligible, but every workplace mentor there is taken."""
    assert explain("no_mentor", 1) == (
        "1 opportunity you could take needs a workplace mentor, and every mentor there is taken."
    )


def test_capacity_taken_never_names_the_holders() -> None:
    """H2: the seats went to others: counted, said with priority when the facts say so, and
    the solver's list of holders (other students' ids) is never put in the sentence."""
    detail = "seats held by st-000233, st-001661 and 2 more"
    text = explain("capacity_taken", 2, detail)
    assert text == "Every seat at the 2 opportunities you could take went to other students."
    assert "st-" not in text
    facts = Facts(opportunity="Cairns Hospital", seats=2, holders=2, priority=True)
    assert explain("capacity_taken", 1, detail, facts=facts) == (
        "The 2 seats at Cairns Hospital went to students with priority."
    )
    one = Facts(opportunity="Lab", seats=1, holders=1)
    assert explain("capacity_taken", facts=one) == "The only seat at Lab went to another student."
    assert explain("capacity_taken") == "Every seat you could take went to other students."


def test_capacity_taken_as_the_actions_and_solver_write_it() -> None:
    """The actions' 'unplaced by a coordinator' and the solver's 'no seats offered' details
    change what the code means, and the sentence says so."""
    assert explain("capacity_taken", detail="unplaced by a coordinator") == (
        "A coordinator took you out of your placement."
    )
    assert explain("capacity_taken", detail="no seats offered where eligible") == (
        "The opportunities you could take offer no seats."
    )
    # One pair refused for it (an opportunity without a slot, as the actions find it).
    assert explain("capacity_taken", facts=Facts(opportunity="Lab", seats=0)) == (
        "Lab offers no seats."
    )


def test_no_opportunities() -> None:
    """Nothing in reach: no opportunity in the clusters or preferences."""
    assert explain("no_opportunities") == (
        "No opportunity in this round is in your career clusters or on your list."
    )


def test_an_unknown_code_is_said_as_it_is() -> None:
    """A code this module does not know (a newer solver's) is shown raw, never dropped."""
    assert explain("new_rule", 2, "why") == "new_rule (2): why"
    assert ex.label("new_rule") == "new_rule"


def test_explain_reasons_keeps_the_stored_order_and_uses_facts_by_code() -> None:
    """A stored reasons list in, its sentences out, in order; facts apply to their code only."""
    stored = [{"code": "too_young", "count": 2}, {"code": "schedule_conflict", "count": 1}]
    facts = {"schedule_conflict": Facts(opportunity="Lab", travel_minutes=20, travel_mode="bike")}
    assert ex.explain_reasons(stored, facts) == (
        "You are too young for 2 opportunities.",
        "Lab clashes with your classes once the 20-minute bike ride each way is counted.",
    )


# --- The actions' refusals speak through explain -------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "rule", "code", "said"),
    [
        # NEAR is a 10-minute walk from the school.
        pytest.param(
            {"s_max_commute_minutes": 9},
            "H4",
            "commute_too_long",
            r"the 10-minute walk to .* is longer than your limit of 9 minutes",
            id="H4-commute",
        ),
        pytest.param(
            {"s_max_weekly_hours": 1.5},
            "H6",
            "over_weekly_hours",
            r"asks for 2 hours a week; you may work 1\.5",
            id="H6-hours",
        ),
        pytest.param(
            {"o_min_age": 18}, "H3", "too_young", r"from age 18; you are \d+", id="H3-min-age"
        ),
        pytest.param(
            {"s_birth_date": "2013-03-01"},
            "H3",
            "too_young",
            r"from age 14; you are 1[0-3]",
            id="H3-working-age",
        ),
        pytest.param(
            {"o_min_grade": 12}, "H3", "grade", r"from grade 12; you are in grade 11", id="H3-grade"
        ),
        pytest.param(
            {"o_required_credentials": ["osha10"]},
            "H3",
            "missing_credential",
            r"requires osha10, which you do not hold",
            id="H3-credential",
        ),
        pytest.param(
            {
                "s_birth_date": "2011-03-01",
                "o_slots": [slot(id="a", blocks=[weekly("tue", "18:00", "20:00")])],
            },
            "H7",
            "child_labour_hours",
            r"allows for students under 16; you are 15",
            id="H7-age",
        ),
    ],
)
def test_a_refused_move_names_the_rule_and_the_numbers(
    session: Session,
    make_program: Callable[..., Program],
    overrides: dict[str, Any],
    rule: str,
    code: str,
    said: str,
) -> None:
    """explain: a manual move refused by H3-H7 names the rule and code, and says the numbers
    that decided it in the sentence `explain` gives the code with the pair's facts."""
    rnd = _setup(session, make_program(), _one_opp(**overrides))
    with pytest.raises(MoveRefused) as caught:
        _move(session, rnd, "s1", "a", user=None)
    message = str(caught.value)
    assert message.startswith(f"{rule}: student s1 cannot take opportunity o1 slot a")
    assert f"{rule} {code} (" in message
    assert re.search(said, message, flags=re.IGNORECASE), message


def test_pair_facts_read_the_pair_by_the_solvers_rules() -> None:
    """explain: `pair_facts` gives the trip, limits, age, least age (the rule's own, 14 for
    work), grade, missing credentials and the slot's weekly hours of a pair; an opportunity
    without slots has no seats."""
    doc = make_doc(
        [student(id="s1", birth_date="2011-03-01", grade=10, max_weekly_hours=4)],
        [
            opportunity(
                id="o1",
                required_credentials=["cpr", "osha10"],
                min_grade=11,
                slots=[slot(id="a")],
            ),
            opportunity(id="o2", slots=[]),
        ],
        [],
    )
    inst = Instance(load_problem(doc))
    facts = ex.pair_facts(inst, 0, 0, 0)
    assert (facts.travel_mode, facts.travel_minutes) == ("walk", 10)
    assert facts.age == 15
    assert facts.min_age == 14
    assert (facts.grade, facts.min_grade) == (10, 11)
    assert facts.missing_credentials == ("cpr", "osha10")
    assert (facts.weekly_hours, facts.max_weekly_hours) == (2, 4)
    assert facts.seats is None
    none = ex.pair_facts(inst, 0, 1)
    assert none.seats == 0
    assert none.weekly_hours is None
    assert explain("capacity_taken", facts=none).endswith("offers no seats.")
