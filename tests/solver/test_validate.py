"""Tests for `solver.validate`: every way a document breaks `wbl-problem/1` is named by its path."""

from __future__ import annotations

from typing import Any

import pytest

from solver.validate import ValidationIssue, validate_problem


def make_doc(**overrides: Any) -> dict[str, Any]:
    """A small valid round touching every section; keyword arguments replace top-level keys."""
    doc: dict[str, Any] = {
        "format": "wbl-problem/1",
        "round": {
            "id": "r1",
            "name": "Spring 2025",
            "start_date": "2025-01-06",
            "end_date": "2025-06-27",
            "timezone": "America/New_York",
            "holidays": ["2025-02-17"],
            "summer": False,
            "mentor_meeting_minutes": 30,
        },
        "schools": [
            {"id": "sch1", "name": "North High", "location": {"lat": 40.7, "lon": -74.0}},
        ],
        "students": [
            {
                "id": "s1",
                "name": "Ada",
                "school": "sch1",
                "grade": 11,
                "birth_date": "2008-03-01",
                "location": {"lat": 40.71, "lon": -74.01},
                "travel_modes": ["walk", "transit"],
                "max_commute_minutes": 45,
                "clusters": ["IT"],
                "credentials": ["osha10"],
                "busy": [{"day": "mon", "start": "08:00", "end": "15:00"}],
                "preferences": ["o1", "o2"],
                "priority": 1,
                "groups": ["first-gen"],
                "max_weekly_hours": 20,
                "wants_mentor": True,
                "email": "ada@example.org",
            },
            {
                "id": "s2",
                "name": "Bo",
                "school": "sch1",
                "birth_date": "2009-11-30",
                "travel_modes": ["car"],
            },
        ],
        "employers": [
            {"id": "e1", "name": "Acme", "contact_email": "hr@acme.example"},
            {"id": "e2", "name": "Globex"},
        ],
        "opportunities": [
            {
                "id": "o1",
                "employer": "e1",
                "title": "IT intern",
                "kind": "internship",
                "cluster": "IT",
                "location": {"lat": 40.75, "lon": -73.99},
                "address": "1 Main St",
                "slots": [
                    {
                        "id": "o1-a",
                        "capacity": 2,
                        "blocks": [
                            {"day": "tue", "start": "15:30", "end": "18:00"},
                            {"date": "2025-03-03", "start": "09:00", "end": "24:00"},
                        ],
                    },
                    {"id": "o1-b", "capacity": 0, "blocks": []},
                ],
                "requires_mentor": True,
            },
            {
                "id": "o2",
                "employer": "e2",
                "title": "Shadow day",
                "kind": "job_shadow",
                "cluster": "HLTH",
                "location": {"lat": -33.9, "lon": 151.2},
                "transit_accessible": False,
                "slots": [{"id": "o2-a", "capacity": 1, "blocks": []}],
                "capacity": 3,
                "min_age": 14,
                "min_grade": 9,
                "required_credentials": ["cpr"],
                "hazardous": False,
                "accepts": ["s1", "s2"],
            },
        ],
        "mentors": [
            {"id": "m1", "name": "Mia", "employer": "e1", "clusters": ["IT"], "capacity": 2},
            {
                "id": "m2",
                "name": "Cy",
                "employer": None,
                "capacity": 1,
                "available": [{"day": "wed", "start": "16:00", "end": "18:00"}],
                "virtual": True,
            },
        ],
        "travel": [
            {"student": "s1", "opportunity": "o1", "mode": "transit", "minutes": 25},
            {"student": "s1", "opportunity": "o2", "mode": "walk", "minutes": None},
        ],
        "pins": [
            {"student": "s1", "opportunity": "o1", "slot": "o1-a", "mentor": "m1"},
            {"student": "s2", "opportunity": "o2", "mentor": "m2"},
        ],
        "forbidden": [{"student": "s2", "opportunity": "o1"}],
    }
    doc.update(overrides)
    return doc


def issues_of(doc: object) -> list[str]:
    return [str(issue) for issue in validate_problem(doc)]


def only_issue(doc: object) -> ValidationIssue:
    """The single issue the document has (more than one would mean noisy follow-on reports)."""
    issues = validate_problem(doc)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


def assert_only(doc: object, path: str, fragment: str) -> None:
    issue = only_issue(doc)
    assert issue.path == path, str(issue)
    assert fragment in issue.message, str(issue)


# --- valid documents ---------------------------------------------------------------------------


def test_valid_document_has_no_issues() -> None:
    """A document that follows the spec in every section is accepted."""
    assert validate_problem(make_doc()) == []


def test_optional_sections_and_fields_may_be_absent() -> None:
    """Defaulted fields and the travel, pins and forbidden sections may all be left out."""
    doc = make_doc(schools=[], mentors=[])
    for key in ("travel", "pins", "forbidden"):
        del doc[key]
    doc["round"] = {k: doc["round"][k] for k in ("id", "name", "start_date", "end_date")}
    doc["round"]["timezone"] = "UTC"
    doc["students"] = [
        {
            "id": "s1",
            "name": "A",
            "birth_date": "2008-01-01",
            "location": {"lat": 0, "lon": 0},
            "travel_modes": [],
        }
    ]
    doc["opportunities"] = [
        {
            "id": "o1",
            "employer": "e1",
            "title": "T",
            "kind": "co_op",
            "cluster": "X",
            "location": {"lat": 90, "lon": -180},
            "slots": [],
        }
    ]
    assert validate_problem(doc) == []


def test_unknown_fields_are_ignored() -> None:
    """Fields the spec does not name are ignored anywhere in the document."""
    doc = make_doc(extra={"x": 1})
    doc["round"]["notes"] = None
    doc["students"][0]["nickname"] = 3
    doc["opportunities"][0]["slots"][0]["blocks"][0]["room"] = []
    assert validate_problem(doc) == []


def test_nulls_allowed_where_the_spec_says() -> None:
    """accepts, a mentor's employer and a travel entry's minutes may be null."""
    doc = make_doc()
    doc["opportunities"][1]["accepts"] = None
    doc["mentors"][1]["employer"] = None
    doc["travel"][0]["minutes"] = None
    assert validate_problem(doc) == []


def test_issue_prints_as_path_and_message() -> None:
    """An issue reads `path: message`, the form the CLI prints."""
    issue = ValidationIssue("students[12].busy[0].end", "must be after start")
    assert str(issue) == "students[12].busy[0].end: must be after start"


# --- the document as a whole -------------------------------------------------------------------


@pytest.mark.parametrize("doc", [None, [], [make_doc()], "wbl-problem/1", 3, 2.5, True, object()])
def test_document_that_is_not_an_object(doc: object) -> None:
    """Anything but a JSON object is refused with one issue at the root, never an exception."""
    assert_only(doc, "$", "must be an object")


def test_format_must_be_exact() -> None:
    """`format` must be exactly "wbl-problem/1"."""
    assert_only(make_doc(format="wbl-problem/2"), "format", 'must be "wbl-problem/1"')
    assert_only(make_doc(format=1), "format", "not an integer")
    doc = make_doc()
    del doc["format"]
    assert_only(doc, "format", "is required")


@pytest.mark.parametrize(
    "key", ["round", "schools", "students", "employers", "opportunities", "mentors"]
)
def test_required_top_level_keys(key: str) -> None:
    """round and the schools, students, employers, opportunities and mentors lists are required."""
    doc = make_doc()
    del doc[key]
    # References into the missing list are reported too; the missing list comes first.
    assert validate_problem(doc)[0] == ValidationIssue(key, "is required")


def test_mentors_list_is_required() -> None:
    """The mentors list is required (an empty list is fine)."""
    doc = make_doc(pins=[])
    del doc["mentors"]
    assert_only(doc, "mentors", "is required")


@pytest.mark.parametrize("key", ["students", "travel", "pins", "forbidden"])
def test_sections_must_be_lists(key: str) -> None:
    """A top-level section given as an object instead of a list is refused."""
    doc = make_doc(pins=[], forbidden=[], travel=[])
    doc["opportunities"][1]["accepts"] = None
    doc[key] = {}
    assert_only(doc, key, "must be a list, not an object")


def test_items_must_be_objects() -> None:
    """Each item of a section is an object; other values are reported, not crashed on."""
    doc = make_doc()
    doc["students"].extend([1, "s3", None, ["s4"]])
    doc["opportunities"][0]["slots"].append("o1-c")
    doc["pins"].append(7)
    issues = issues_of(doc)
    assert issues == [
        "students[2]: must be an object, not an integer",
        "students[3]: must be an object, not a string",
        "students[4]: must be an object, not null",
        "students[5]: must be an object, not a list",
        'opportunities[0].slots[2] (opportunity "o1"): must be an object, not a string',
        "pins[2]: must be an object, not an integer",
    ]


def test_garbage_everywhere_never_raises() -> None:
    """Wrong types at every depth, including non-JSON Python values, give issues, not errors."""
    doc = make_doc(round=[], schools={}, employers="e1", mentors=None)
    student = doc["students"][0]
    student.update(
        id=["s1"],
        busy=[{"day": ["mon"], "start": 800, "end": None}, {"date": {1: 2}}],
        preferences=[{"o1"}, None],
        location={"lat": "40", "lon": object()},
        travel_modes=[None, ["walk"]],
        clusters="IT",
    )
    doc["opportunities"][0].update(slots=[{"id": 3, "capacity": "2", "blocks": {}}], kind={})
    doc["travel"] = [{"student": ["s1"], "opportunity": {}, "mode": 1.5, "minutes": "5"}]
    doc["pins"] = [{"student": None, "opportunity": ["o1"], "slot": 1, "mentor": {}}]
    issues = validate_problem(doc)
    assert len(issues) > 20
    assert all(isinstance(i, ValidationIssue) for i in issues)


def test_several_problems_are_reported_at_once() -> None:
    """Validation does not stop at the first problem: every one is reported, in document order."""
    doc = make_doc(format="wbl")
    doc["round"]["timezone"] = "Mars/Olympus"
    doc["students"][0]["busy"][0]["end"] = "07:00"
    doc["students"][1]["school"] = "nowhere"
    doc["opportunities"][0]["slots"][1]["capacity"] = -1
    doc["forbidden"][0]["opportunity"] = "o9"
    assert issues_of(doc) == [
        'format: must be "wbl-problem/1", not "wbl"',
        'round.timezone: must be an IANA time zone name, not "Mars/Olympus"',
        'students[0].busy[0].end (student "s1"): must be after start',
        'students[1].school (student "s2"): unknown school "nowhere"',
        'opportunities[0].slots[1].capacity (opportunity "o1", slot "o1-b"): must be >= 0, not -1',
        'forbidden[0].opportunity (student "s2", opportunity "o9"): unknown opportunity "o9"',
    ]


# --- required fields and types -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "index", "key"),
    [
        ("round", None, "id"),
        ("round", None, "name"),
        ("round", None, "start_date"),
        ("round", None, "end_date"),
        ("round", None, "timezone"),
        ("schools", 0, "name"),
        ("schools", 0, "location"),
        ("students", 0, "name"),
        ("students", 0, "birth_date"),
        ("students", 0, "travel_modes"),
        ("employers", 1, "name"),
        ("opportunities", 0, "employer"),
        ("opportunities", 0, "title"),
        ("opportunities", 0, "kind"),
        ("opportunities", 0, "cluster"),
        ("opportunities", 0, "location"),
        ("mentors", 0, "name"),
        ("mentors", 0, "capacity"),
        ("travel", 0, "mode"),
        ("travel", 0, "minutes"),
        ("forbidden", 0, "student"),
    ],
)
def test_required_fields(section: str, index: int | None, key: str) -> None:
    """Fields without a default in the spec must be present."""
    doc = make_doc()
    obj = doc[section] if index is None else doc[section][index]
    del obj[key]
    path = section if index is None else f"{section}[{index}]"
    assert_only(doc, f"{path}.{key}", "is required")


def test_slot_fields_are_required() -> None:
    """A slot needs an id, a capacity and its blocks."""
    doc = make_doc(pins=[])
    doc["opportunities"][0]["slots"][0] = {}
    assert issues_of(doc) == [
        'opportunities[0].slots[0].id (opportunity "o1"): is required',
        'opportunities[0].slots[0].capacity (opportunity "o1"): is required',
        'opportunities[0].slots[0].blocks (opportunity "o1"): is required',
    ]
    del doc["opportunities"][0]["slots"]
    assert_only(doc, "opportunities[0].slots", "is required")


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("round.name", 5, "must be a string, not an integer"),
        ("students[0].name", None, "must be a string, not null"),
        ("students[0].email", ["a@b"], "must be a string, not a list"),
        ("students[0].grade", "11", "must be an integer, not a string"),
        ("students[0].grade", 11.5, "must be an integer, not a number"),
        ("students[0].grade", None, "must be an integer, not null"),
        ("students[0].priority", True, "must be an integer, not a boolean"),
        ("students[0].max_weekly_hours", "20", "must be a number, not a string"),
        ("students[0].max_commute_minutes", False, "must be a number, not a boolean"),
        ("students[0].max_commute_minutes", float("nan"), "must be a number, not NaN"),
        ("students[0].clusters", "IT", "must be a list, not a string"),
        ("students[0].groups[0]", 1, "must be a string, not an integer"),
        ("students[0].credentials[0]", None, "must be a string, not null"),
        ("schools[0].address", 12, "must be a string, not an integer"),
        ("employers[0].contact_email", False, "must be a string, not a boolean"),
        ("opportunities[0].title", {}, "must be a string, not an object"),
        ("opportunities[0].cluster", None, "must be a string, not null"),
        ("opportunities[0].slots[0].capacity", 2.0, "must be an integer, not a number"),
        ("opportunities[0].slots[0].capacity", True, "must be an integer, not a boolean"),
        ("opportunities[1].capacity", "3", "must be an integer, not a string"),
        ("opportunities[1].min_age", 14.5, "must be an integer, not a number"),
        ("opportunities[1].required_credentials[0]", 7, "must be a string"),
        ("opportunities[0].slots[0].blocks", {}, "must be a list, not an object"),
        ("mentors[0].capacity", "2", "must be an integer, not a string"),
        ("mentors[0].clusters", None, "must be a list, not null"),
        ("travel[0].minutes", 2.5, "must be an integer or null, not a number"),
        ("travel[0].minutes", True, "must be an integer or null, not a boolean"),
    ],
)
def test_field_types(path: str, value: object, fragment: str) -> None:
    """Every field has the type the spec gives it; bool is not an int, null is not a string."""
    doc = make_doc()
    set_path(doc, path, value)
    assert_only(doc, path, fragment)


@pytest.mark.parametrize(
    "path",
    [
        "round.summer",
        "students[0].wants_mentor",
        "opportunities[0].hazardous",
        "opportunities[0].requires_mentor",
        "opportunities[0].transit_accessible",
        "mentors[1].virtual",
    ],
)
@pytest.mark.parametrize("value", [1, "true", None])
def test_booleans(path: str, value: object) -> None:
    """The flags (summer, wants_mentor, hazardous, requires_mentor, ...) are booleans."""
    doc = make_doc(pins=[])
    set_path(doc, path, value)
    assert_only(doc, path, "must be true or false")


# --- ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section", ["schools", "students", "employers", "opportunities", "mentors"]
)
def test_ids_must_be_non_empty_strings(section: str) -> None:
    """An id is a non-empty string."""
    doc = make_doc()
    doc[section][0]["id"] = ""
    assert any(str(i) == f"{section}[0].id: must not be empty" for i in validate_problem(doc))
    doc[section][0]["id"] = 42
    assert f"{section}[0].id: must be a string, not an integer" in issues_of(doc)


def test_round_id_must_be_non_empty() -> None:
    """The round's id is a non-empty string too."""
    doc = make_doc()
    doc["round"]["id"] = ""
    assert_only(doc, "round.id", "must not be empty")


@pytest.mark.parametrize(
    "section", ["schools", "students", "employers", "opportunities", "mentors"]
)
def test_ids_are_unique_within_their_list(section: str) -> None:
    """A repeated id is reported at the repeat, naming where it first occurs."""
    doc = make_doc()
    first = doc[section][0]
    doc[section].append({**first})
    issues = validate_problem(doc)
    dup = [i for i in issues if i.path == f"{section}[{len(doc[section]) - 1}].id"]
    assert len(dup) == 1
    assert f'duplicate id "{first["id"]}" (first at {section}[0])' in dup[0].message


def test_same_id_in_different_lists_is_fine() -> None:
    """Uniqueness is within a list: a student and an employer may share an id."""
    doc = make_doc()
    doc["employers"][1]["id"] = "s1"
    doc["opportunities"][1]["employer"] = "s1"
    assert validate_problem(doc) == []


def test_slot_ids_are_unique_across_the_round() -> None:
    """Two slots of different opportunities may not share an id."""
    doc = make_doc()
    doc["opportunities"][1]["slots"][0]["id"] = "o1-b"
    assert_only(
        doc,
        "opportunities[1].slots[0].id",
        'duplicate slot id "o1-b" (first at opportunities[0].slots[1])',
    )
    doc["opportunities"][1]["slots"][0]["id"] = ""
    assert_only(doc, "opportunities[1].slots[0].id", "must not be empty")


# --- references --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("students[0].school", 'unknown school "x"'),
        ("students[0].preferences[1]", 'unknown opportunity "x"'),
        ("opportunities[0].employer", 'unknown employer "x"'),
        ("opportunities[1].accepts[0]", 'unknown student "x"'),
        ("mentors[0].employer", 'unknown employer "x"'),
        ("travel[0].student", 'unknown student "x"'),
        ("travel[1].opportunity", 'unknown opportunity "x"'),
        ("pins[1].student", 'unknown student "x"'),
        ("pins[1].mentor", 'unknown mentor "x"'),
        ("pins[0].slot", 'unknown slot "x"'),
        ("forbidden[0].student", 'unknown student "x"'),
        ("forbidden[0].opportunity", 'unknown opportunity "x"'),
    ],
)
def test_dangling_references(path: str, fragment: str) -> None:
    """Every reference must name something that exists in the round."""
    doc = make_doc()
    set_path(doc, path, "x")
    assert_only(doc, path, fragment)


def test_dangling_pin_opportunity() -> None:
    """A pin's opportunity must exist (its slot and mentor are then not cross-checked)."""
    doc = make_doc()
    doc["pins"][0]["opportunity"] = "x"
    assert_only(doc, "pins[0].opportunity", 'unknown opportunity "x"')


def test_reference_must_be_a_string() -> None:
    """A reference that is not a string is reported as such, not as unknown."""
    doc = make_doc()
    doc["students"][0]["preferences"][0] = 1
    assert_only(
        doc, "students[0].preferences[0]", "must be a string (opportunity id), not an integer"
    )


def test_preferences_do_not_repeat() -> None:
    """A ranked preference list names each opportunity once."""
    doc = make_doc()
    doc["students"][0]["preferences"].append("o1")
    assert_only(doc, "students[0].preferences[2]", 'repeats opportunity "o1"')


def test_student_needs_a_school_or_a_location() -> None:
    """A student without school and location has no origin for travel times."""
    doc = make_doc()
    del doc["students"][1]["school"]
    assert_only(doc, "students[1]", "needs a school or a location")
    doc["students"][1]["location"] = {"lat": 1, "lon": 2}
    assert validate_problem(doc) == []


def test_pin_slot_must_belong_to_the_opportunity() -> None:
    """A pinned slot is one of the pinned opportunity's slots."""
    doc = make_doc()
    doc["pins"][1]["slot"] = "o1-b"
    assert_only(doc, "pins[1].slot", 'slot "o1-b" belongs to "o1", not "o2"')


def test_pin_mentor_for_requires_mentor_is_workplace_of_same_employer() -> None:
    """When the opportunity requires_mentor, a pinned mentor works for its employer."""
    doc = make_doc()
    doc["pins"][0]["mentor"] = "m2"
    assert_only(doc, "pins[0].mentor", 'workplace mentor of employer "e1"')
    assert "community mentor" in only_issue(doc).message
    doc["mentors"].append({"id": "m3", "name": "Z", "employer": "e2", "capacity": 1})
    doc["pins"][0]["mentor"] = "m3"
    assert_only(doc, "pins[0].mentor", 'but mentor "m3" is of employer "e2"')


def test_pin_mentor_without_requires_mentor_is_community() -> None:
    """When the opportunity does not require a mentor, a pinned mentor is a community mentor."""
    doc = make_doc()
    doc["pins"][1]["mentor"] = "m1"
    assert_only(doc, "pins[1].mentor", "must be a community mentor")
    del doc["mentors"][1]["employer"]  # absent employer means community, like null
    doc["pins"][1]["mentor"] = "m2"
    assert validate_problem(doc) == []


def test_pin_with_only_student_and_opportunity() -> None:
    """slot and mentor are optional in a pin."""
    doc = make_doc(pins=[{"student": "s2", "opportunity": "o1"}])
    assert validate_problem(doc) == []


# --- travel ------------------------------------------------------------------------------------


def test_one_travel_entry_per_student_opportunity_mode() -> None:
    """At most one travel entry per (student, opportunity, mode)."""
    doc = make_doc()
    doc["travel"].append({"student": "s1", "opportunity": "o1", "mode": "walk", "minutes": 9})
    assert validate_problem(doc) == []
    doc["travel"].append({"student": "s1", "opportunity": "o1", "mode": "transit", "minutes": 9})
    assert_only(doc, "travel[3]", "(first at travel[0])")


def test_travel_minutes_not_negative() -> None:
    """travel.minutes is an integer >= 0 or null."""
    doc = make_doc()
    doc["travel"][0]["minutes"] = -1
    assert_only(doc, "travel[0].minutes", "must be >= 0, not -1")
    doc["travel"][0]["minutes"] = 0
    assert validate_problem(doc) == []


@pytest.mark.parametrize("mode", ["boat", "Walk", "", None])
def test_unknown_travel_modes(mode: object) -> None:
    """Travel modes are walk, bike, transit and car only, in students and in travel entries."""
    doc = make_doc()
    doc["students"][0]["travel_modes"].append(mode)
    doc["travel"][1]["mode"] = mode
    assert [(i.path, "unknown travel mode" in i.message) for i in validate_problem(doc)] == [
        ("students[0].travel_modes[2]", True),
        ("travel[1].mode", True),
    ]


@pytest.mark.parametrize("kind", ["externship", "JOB_SHADOW", 3])
def test_unknown_opportunity_kind(kind: object) -> None:
    """An opportunity's kind is one of the five the spec names."""
    doc = make_doc()
    doc["opportunities"][1]["kind"] = kind
    assert_only(doc, "opportunities[1].kind", "unknown kind")


# --- times, blocks, dates ----------------------------------------------------------------------


def test_block_end_must_be_after_start() -> None:
    """A block has start < end."""
    doc = make_doc()
    doc["students"][0]["busy"][0]["end"] = "08:00"
    assert_only(doc, "students[0].busy[0].end", "must be after start")
    doc["students"][0]["busy"][0]["end"] = "07:59"
    assert str(only_issue(doc)) == 'students[0].busy[0].end (student "s1"): must be after start'


@pytest.mark.parametrize("bad", ["24:01", "25:00", "7:00", "07:60", "0700", "07:00 ", "", "0७:00"])
def test_times_are_hh_mm(bad: str) -> None:
    """Times are "HH:MM" on a 24-hour clock."""
    doc = make_doc()
    doc["opportunities"][0]["slots"][0]["blocks"][0]["start"] = bad
    assert_only(doc, "opportunities[0].slots[0].blocks[0].start", "must be a time HH:MM")


def test_time_must_be_a_string() -> None:
    """A time given as a number is refused."""
    doc = make_doc()
    doc["mentors"][1]["available"][0]["end"] = 1800
    assert_only(doc, "mentors[1].available[0].end", "must be a time HH:MM from 00:00 to 24:00")


def test_midnight_end_only_as_end() -> None:
    """ "24:00" is allowed as a block's end and refused as its start; "00:00" is a valid start."""
    doc = make_doc()
    block = doc["students"][0]["busy"][0]
    block.update(start="00:00", end="24:00")
    assert validate_problem(doc) == []
    block.update(start="24:00")
    assert_only(doc, "students[0].busy[0].start", "24:00 is allowed only as an end")


@pytest.mark.parametrize("day", ["monday", "Mon", "", 0, None])
def test_weekly_block_day(day: object) -> None:
    """A weekly block's day is one of mon..sun."""
    doc = make_doc()
    doc["students"][0]["busy"][0]["day"] = day
    assert_only(doc, "students[0].busy[0].day", "must be one of mon, tue, wed, thu, fri, sat, sun")


def test_block_with_both_day_and_date() -> None:
    """A block is weekly or dated, never both."""
    doc = make_doc()
    doc["opportunities"][0]["slots"][0]["blocks"][1]["day"] = "mon"
    assert_only(doc, "opportunities[0].slots[0].blocks[1]", "never both")


def test_block_with_neither_day_nor_date() -> None:
    """A block is weekly or dated: it has one of day and date."""
    doc = make_doc()
    del doc["opportunities"][0]["slots"][0]["blocks"][0]["day"]
    assert_only(doc, "opportunities[0].slots[0].blocks[0]", "needs a day")


def test_block_times_required() -> None:
    """A block has a start and an end."""
    doc = make_doc()
    doc["opportunities"][0]["slots"][0]["blocks"][0] = {"day": "fri"}
    assert issues_of(doc) == [
        'opportunities[0].slots[0].blocks[0].start (opportunity "o1", slot "o1-a"): is required',
        'opportunities[0].slots[0].blocks[0].end (opportunity "o1", slot "o1-a"): is required',
    ]


@pytest.mark.parametrize(("section", "key"), [("students", "busy"), ("mentors", "available")])
def test_busy_and_available_are_weekly_only(section: str, key: str) -> None:
    """Students' busy blocks and mentors' available blocks are weekly, never dated."""
    doc = make_doc()
    index = 0 if section == "students" else 1
    doc[section][index][key] = [{"date": "2025-03-04", "start": "09:00", "end": "10:00"}]
    assert_only(doc, f"{section}[{index}].{key}[0]", "must be a weekly block (day)")
    doc[section][index][key] = [{"start": "09:00", "end": "10:00"}]
    assert_only(doc, f"{section}[{index}].{key}[0].day", "is required")


def test_dated_block_within_round() -> None:
    """A dated block lies within the round's start and end dates (both inclusive)."""
    doc = make_doc()
    block = doc["opportunities"][0]["slots"][0]["blocks"][1]
    for ok in ("2025-01-06", "2025-06-27"):
        block["date"] = ok
        assert validate_problem(doc) == []
    for bad in ("2025-01-05", "2025-06-28"):
        block["date"] = bad
        assert_only(
            doc,
            "opportunities[0].slots[0].blocks[1].date",
            "must lie within the round (2025-01-06 to 2025-06-27)",
        )


def test_dated_block_not_on_a_holiday() -> None:
    """A dated block does not fall on a holiday of the round."""
    doc = make_doc()
    doc["opportunities"][0]["slots"][0]["blocks"][1]["date"] = "2025-02-17"
    assert_only(doc, "opportunities[0].slots[0].blocks[1].date", "falls on a holiday")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2025-02-30", "is not a real date"),
        ("2025-13-01", "is not a real date"),
        ("2025/03/03", "must be a date YYYY-MM-DD"),
        ("20250303", "must be a date YYYY-MM-DD"),
        ("2025-W10-1", "must be a date YYYY-MM-DD"),
        ("2025-3-3", "must be a date YYYY-MM-DD"),
        (20250303, "must be a date YYYY-MM-DD, not an integer"),
    ],
)
def test_dates_are_real_iso_dates(value: object, fragment: str) -> None:
    """Dates are ISO YYYY-MM-DD and exist on the calendar."""
    for path in (
        "round.start_date",
        "round.holidays[0]",
        "students[1].birth_date",
        "opportunities[0].slots[0].blocks[1].date",
    ):
        doc = make_doc()
        set_path(doc, path, value)
        assert_only(doc, path, fragment)


def test_round_end_not_before_start() -> None:
    """The round's end_date is on or after its start_date."""
    doc = make_doc(opportunities=[], pins=[], forbidden=[], travel=[])
    doc["students"][0]["preferences"] = []
    doc["round"]["end_date"] = "2025-01-05"
    assert_only(doc, "round.end_date", "must not be before start_date")
    doc["round"]["end_date"] = "2025-01-06"
    assert validate_problem(doc) == []


def test_inverted_round_is_reported_once() -> None:
    """An end_date before start_date is not repeated for every dated block."""
    doc = make_doc()
    doc["round"]["end_date"] = "2025-01-01"
    assert_only(doc, "round.end_date", "must not be before start_date (2025-01-06)")


def test_holidays_are_a_list_of_dates() -> None:
    """round.holidays is a list of dates."""
    doc = make_doc()
    doc["round"]["holidays"] = "2025-02-17"
    assert_only(doc, "round.holidays", "must be a list")


@pytest.mark.parametrize(
    "zone",
    ["Mars/Olympus", "america/new_york", "America", "../etc/passwd", "/etc/localtime", "UTC "],
)
def test_timezone_must_be_iana(zone: str) -> None:
    """round.timezone names a real IANA time zone."""
    doc = make_doc()
    doc["round"]["timezone"] = zone
    assert_only(doc, "round.timezone", "must be an IANA time zone name")


def test_timezone_non_empty_string() -> None:
    """round.timezone is a non-empty string."""
    doc = make_doc()
    doc["round"]["timezone"] = ""
    assert_only(doc, "round.timezone", "must not be empty")
    doc["round"]["timezone"] = 0
    assert_only(doc, "round.timezone", "must be a string")


@pytest.mark.parametrize("minutes", [0, -15, 20, 10])
def test_mentor_meeting_minutes_positive_multiple_of_15(minutes: int) -> None:
    """mentor_meeting_minutes is a positive multiple of 15."""
    doc = make_doc()
    doc["round"]["mentor_meeting_minutes"] = minutes
    assert_only(doc, "round.mentor_meeting_minutes", "must be a positive multiple of 15")


def test_mentor_meeting_minutes_accepts_multiples() -> None:
    """15 and 60 are valid meeting lengths; 30.0 is not an integer."""
    doc = make_doc()
    for ok in (15, 60):
        doc["round"]["mentor_meeting_minutes"] = ok
        assert validate_problem(doc) == []
    doc["round"]["mentor_meeting_minutes"] = 30.0
    assert_only(doc, "round.mentor_meeting_minutes", "must be an integer")


# --- numbers and ranges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "opportunities[0].slots[0].capacity",
        "opportunities[1].capacity",
        "mentors[0].capacity",
        "students[0].priority",
        "opportunities[1].min_age",
        "opportunities[1].min_grade",
        "students[0].max_commute_minutes",
        "students[0].max_weekly_hours",
    ],
)
def test_negative_numbers_refused(path: str) -> None:
    """Capacities, priority, min_age, min_grade, commute and weekly-hour limits are >= 0."""
    doc = make_doc()
    set_path(doc, path, -1)
    assert_only(doc, path, "must be >= 0, not -1")
    set_path(doc, path, 0)
    assert validate_problem(doc) == []


def test_fractional_limits_are_numbers() -> None:
    """max_commute_minutes and max_weekly_hours may be fractional."""
    doc = make_doc()
    doc["students"][0]["max_commute_minutes"] = 37.5
    doc["students"][0]["max_weekly_hours"] = 12.25
    assert validate_problem(doc) == []


def test_grade_may_be_any_integer() -> None:
    """grade is an integer when present (no range in the spec) and may be absent."""
    doc = make_doc()
    doc["students"][0]["grade"] = 0
    assert validate_problem(doc) == []
    del doc["students"][0]["grade"]
    assert validate_problem(doc) == []


@pytest.mark.parametrize(
    ("coord", "value", "fragment"),
    [
        ("lat", 90.0001, "must be between -90 and 90"),
        ("lat", -91, "must be between -90 and 90"),
        ("lon", 180.5, "must be between -180 and 180"),
        ("lon", -181, "must be between -180 and 180"),
        ("lat", True, "must be a number, not a boolean"),
        ("lon", "12", "must be a number, not a string"),
        ("lat", float("nan"), "must be a number, not NaN"),
        ("lon", float("inf"), "must be a number, not NaN or infinite"),
        ("lat", None, "must be a number, not null"),
    ],
)
def test_coordinates(coord: str, value: object, fragment: str) -> None:
    """lat is a number in [-90, 90] and lon a number in [-180, 180]."""
    for owner in ("schools[0]", "students[0]", "opportunities[1]"):
        doc = make_doc()
        set_path(doc, f"{owner}.location.{coord}", value)
        assert_only(doc, f"{owner}.location.{coord}", fragment)


def test_location_shape() -> None:
    """A location is an object with lat and lon; school and opportunity locations are required."""
    doc = make_doc()
    doc["schools"][0]["location"] = [40.7, -74.0]
    assert_only(doc, "schools[0].location", "must be an object, not a list")
    doc = make_doc()
    del doc["opportunities"][0]["location"]["lon"]
    assert_only(doc, "opportunities[0].location.lon", "is required")
    doc = make_doc()
    del doc["students"][0]["location"]
    assert validate_problem(doc) == []


# --- students ----------------------------------------------------------------------------------


def test_birth_date_must_be_a_real_date() -> None:
    """A student's birth_date is a real ISO date."""
    doc = make_doc()
    doc["students"][0]["birth_date"] = "2007-02-29"
    assert_only(doc, "students[0].birth_date", 'is not a real date: "2007-02-29"')
    doc["students"][0]["birth_date"] = "2008-02-29"  # a leap day
    assert validate_problem(doc) == []


# --- helpers -----------------------------------------------------------------------------------


def set_path(doc: dict[str, Any], path: str, value: object) -> None:
    """Set the value at a path like `students[0].busy[1].end`."""
    parts: list[str | int] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        parts.append(name)
        for index in rest.rstrip("]").split("][") if rest else ():
            parts.append(int(index))
    target: Any = doc
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = value


def test_issue_names_the_row_by_id_next_to_the_path() -> None:
    """Issue 9: an issue names the student (employer, opportunity and slot, pin) by id."""
    doc = make_doc()
    doc["students"][1]["grade"] = "11"
    doc["opportunities"][0]["slots"][1]["capacity"] = -1
    doc["pins"][0]["slot"] = "nope"
    issues = validate_problem(doc)
    assert [i.subject for i in issues] == [
        'student "s2"',
        'opportunity "o1", slot "o1-b"',
        f'student "{doc["pins"][0]["student"]}", opportunity "{doc["pins"][0]["opportunity"]}",'
        ' slot "nope"',
    ]
    assert str(issues[0]).startswith('students[1].grade (student "s2"): ')
