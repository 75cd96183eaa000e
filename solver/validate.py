"""Checks a parsed `wbl-problem/1` document against the spec and reports every problem at once.

Bad input is refused as a whole, so a user should see all of its problems in one go, each named
by its JSON path (`students[12].busy[0].end: must be after start`). `validate_problem` never
raises, whatever it is given; `problem_from_dict` may assume what it accepts: types, ranges,
unique ids, references that resolve, well-formed blocks.

One function per section of the document, sharing small field helpers. The work is linear in
the size of the document (ids and references go through dicts and sets), so a round of 100,000
students validates in seconds. Standard library only.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Container
from dataclasses import dataclass
from typing import Final, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from solver.problem import DAY_TYPES, DAYS, KINDS, MODES

FORMAT: Final = "wbl-problem/1"

_END_OF_DAY: Final = "24:00"
# Every valid "HH:MM" from 00:00 to 23:59: one dict lookup per time instead of a regex.
_TIMES: Final[dict[str, int]] = {
    f"{h:02d}:{m:02d}": h * 60 + m for h in range(24) for m in range(60)
}
# fromisoformat alone also takes "20250101" and week dates; the spec says YYYY-MM-DD.
_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Tells an absent key from one that is present with the value null.
_MISSING: Final = object()

_Obj = dict[str, object]


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One way a document breaks the format: where (a JSON path), what is wrong, and whose
    row it is (`subject`: 'student "st-001"', '' when the path says it all), so a reader
    finds the row by its id rather than by counting."""

    path: str
    message: str
    subject: str = ""

    def __str__(self) -> str:
        who = f" ({self.subject})" if self.subject else ""
        return f"{self.path}{who}: {self.message}"


_Issues = list[ValidationIssue]


@dataclass(frozen=True, slots=True)
class _Calendar:
    """What dated blocks are checked against; None where the round's own dates are invalid."""

    start: dt.date | None
    end: dt.date | None
    holidays: frozenset[dt.date]


@dataclass(frozen=True, slots=True)
class _Index:
    """Where each id first occurs, so duplicates and references are checked in O(1)."""

    schools: dict[str, int]
    students: dict[str, int]
    employers: dict[str, int]
    opportunities: dict[str, int]
    mentors: dict[str, int]
    slots: dict[str, tuple[int, int]]  # slot id -> (opportunity index, slot index)


# --- Small helpers shared by the sections ---------------------------------------------------


def _add(issues: _Issues, path: str, message: str) -> None:
    issues.append(ValidationIssue(path, message))


def _field(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _quote(text: str) -> str:
    """A string as JSON shows it, cut short so one bad value cannot flood the report."""
    return json.dumps(text if len(text) <= 60 else text[:57] + "...", ensure_ascii=False)


def _kind(value: object) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass in Python, but true is not a capacity.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)


def _present(obj: _Obj, key: str, path: str, issues: _Issues, *, required: bool) -> object:
    """The value at `key`, or `_MISSING` (reported when the field is required)."""
    value = obj.get(key, _MISSING)
    if value is _MISSING and required:
        _add(issues, _field(path, key), "is required")
    return value


def _as_obj(value: object, path: str, issues: _Issues) -> _Obj | None:
    if isinstance(value, dict):
        return value
    _add(issues, path, f"must be an object, not {_kind(value)}")
    return None


def _str(
    obj: _Obj, key: str, path: str, issues: _Issues, *, required: bool, nonempty: bool = False
) -> str | None:
    value = _present(obj, key, path, issues, required=required)
    if value is _MISSING:
        return None
    if not isinstance(value, str):
        _add(issues, _field(path, key), f"must be a string, not {_kind(value)}")
        return None
    if nonempty and not value:
        _add(issues, _field(path, key), "must not be empty")
        return None
    return value


def _require_str(
    obj: _Obj, key: str, path: str, issues: _Issues, *, nonempty: bool = False
) -> str | None:
    return _str(obj, key, path, issues, required=True, nonempty=nonempty)


def _optional_str(obj: _Obj, key: str, path: str, issues: _Issues) -> str | None:
    return _str(obj, key, path, issues, required=False)


def _int(
    obj: _Obj, key: str, path: str, issues: _Issues, *, required: bool, minimum: int | None
) -> int | None:
    value = _present(obj, key, path, issues, required=required)
    if value is _MISSING:
        return None
    if not _is_int(value):
        _add(issues, _field(path, key), f"must be an integer, not {_kind(value)}")
        return None
    if minimum is not None and value < minimum:
        _add(issues, _field(path, key), f"must be >= {minimum}, not {value}")
        return None
    return value


def _require_int(
    obj: _Obj, key: str, path: str, issues: _Issues, *, minimum: int | None = 0
) -> int | None:
    return _int(obj, key, path, issues, required=True, minimum=minimum)


def _optional_int(
    obj: _Obj, key: str, path: str, issues: _Issues, *, minimum: int | None = 0
) -> int | None:
    return _int(obj, key, path, issues, required=False, minimum=minimum)


def _optional_number(obj: _Obj, key: str, path: str, issues: _Issues) -> None:
    """An optional number >= 0 (minutes, hours)."""
    value = obj.get(key, _MISSING)
    if value is _MISSING:
        return
    if not _is_number(value):
        shown = "NaN or infinite" if isinstance(value, float) else _kind(value)
        _add(issues, _field(path, key), f"must be a number, not {shown}")
    elif value < 0:
        _add(issues, _field(path, key), f"must be >= 0, not {value}")


def _optional_bool(obj: _Obj, key: str, path: str, issues: _Issues) -> bool | None:
    value = obj.get(key, _MISSING)
    if value is _MISSING:
        return None
    if not isinstance(value, bool):
        _add(issues, _field(path, key), f"must be true or false, not {_kind(value)}")
        return None
    return value


def _list(obj: _Obj, key: str, path: str, issues: _Issues, *, required: bool) -> list[object]:
    """The list at `key`; [] when it is absent or not a list (reported as needed)."""
    value = _present(obj, key, path, issues, required=required)
    if value is _MISSING:
        return []
    if not isinstance(value, list):
        _add(issues, _field(path, key), f"must be a list, not {_kind(value)}")
        return []
    return value


def _require_list(obj: _Obj, key: str, path: str, issues: _Issues) -> list[object]:
    return _list(obj, key, path, issues, required=True)


def _optional_list(obj: _Obj, key: str, path: str, issues: _Issues) -> list[object]:
    return _list(obj, key, path, issues, required=False)


def _str_list(obj: _Obj, key: str, path: str, issues: _Issues) -> None:
    """An optional list of codes or labels (clusters, credentials, groups)."""
    items = _optional_list(obj, key, path, issues)
    for k, item in enumerate(items):
        if not isinstance(item, str):
            _add(issues, f"{_field(path, key)}[{k}]", f"must be a string, not {_kind(item)}")


def _check_ref(
    value: object, path: str, issues: _Issues, known: Container[str], what: str
) -> str | None:
    """`value` as an id of a `what` that exists, else None (reported)."""
    if not isinstance(value, str):
        _add(issues, path, f"must be a string ({what} id), not {_kind(value)}")
        return None
    if value not in known:
        _add(issues, path, f"unknown {what} {_quote(value)}")
        return None
    return value


def _ref(
    obj: _Obj,
    key: str,
    path: str,
    issues: _Issues,
    known: Container[str],
    what: str,
    *,
    required: bool = True,
) -> str | None:
    value = _present(obj, key, path, issues, required=required)
    if value is _MISSING:
        return None
    return _check_ref(value, _field(path, key), issues, known, what)


def _ref_list(
    obj: _Obj, key: str, path: str, issues: _Issues, known: Container[str], what: str
) -> None:
    """An optional list of references; a repeated id is refused (it would hold two ranks)."""
    seen: set[str] = set()
    for k, item in enumerate(_optional_list(obj, key, path, issues)):
        item_path = f"{_field(path, key)}[{k}]"
        ref = _check_ref(item, item_path, issues, known, what)
        if ref is None:
            continue
        if ref in seen:
            _add(issues, item_path, f"repeats {what} {_quote(ref)}")
        seen.add(ref)


def _unique_id(
    obj: _Obj, path: str, issues: _Issues, first: dict[str, int], i: int, list_name: str
) -> str | None:
    """The item's id (a non-empty string), reported when it repeats an earlier one."""
    ident = _require_str(obj, "id", path, issues, nonempty=True)
    if ident is not None and first.get(ident, i) != i:
        _add(
            issues,
            _field(path, "id"),
            f"duplicate id {_quote(ident)} (first at {list_name}[{first[ident]}])",
        )
    return ident


def _date(value: object, path: str, issues: _Issues) -> dt.date | None:
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        shown = _quote(value) if isinstance(value, str) else _kind(value)
        _add(issues, path, f"must be a date YYYY-MM-DD, not {shown}")
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _add(issues, path, f"is not a real date: {_quote(value)}")
        return None


def _require_date(obj: _Obj, key: str, path: str, issues: _Issues) -> dt.date | None:
    value = _present(obj, key, path, issues, required=True)
    if value is _MISSING:
        return None
    return _date(value, _field(path, key), issues)


def _time(obj: _Obj, key: str, path: str, issues: _Issues, *, is_end: bool) -> int | None:
    """Minutes after midnight of an "HH:MM" field; "24:00" only as an end."""
    value = _present(obj, key, path, issues, required=True)
    if value is _MISSING:
        return None
    if value == _END_OF_DAY:
        if is_end:
            return 24 * 60
        _add(issues, _field(path, key), "24:00 is allowed only as an end")
        return None
    minutes = _TIMES.get(value) if isinstance(value, str) else None
    if minutes is None:
        last = _END_OF_DAY if is_end else "23:59"
        shown = _quote(value) if isinstance(value, str) else _kind(value)
        _add(issues, _field(path, key), f"must be a time HH:MM from 00:00 to {last}, not {shown}")
    return minutes


def _location(obj: _Obj, key: str, path: str, issues: _Issues, *, required: bool) -> None:
    value = _present(obj, key, path, issues, required=required)
    if value is _MISSING:
        return
    loc = _as_obj(value, _field(path, key), issues)
    if loc is None:
        return
    for coord, limit in (("lat", 90), ("lon", 180)):
        number = _present(loc, coord, _field(path, key), issues, required=True)
        coord_path = f"{_field(path, key)}.{coord}"
        if number is _MISSING:
            continue
        if not _is_number(number):
            shown = "NaN or infinite" if isinstance(number, float) else _kind(number)
            _add(issues, coord_path, f"must be a number, not {shown}")
        elif not -limit <= number <= limit:
            _add(issues, coord_path, f"must be between -{limit} and {limit}, not {number}")


def _block(
    value: object, path: str, issues: _Issues, calendar: _Calendar, *, weekly_only: bool
) -> None:
    """A weekly block {day, start, end} or a dated one {date, start, end}, never both."""
    block = _as_obj(value, path, issues)
    if block is None:
        return
    has_day, has_date = "day" in block, "date" in block
    if weekly_only:
        if has_date:
            _add(issues, path, "must be a weekly block (day), not a dated block (date)")
        elif not has_day:
            _add(issues, _field(path, "day"), "is required")
    elif has_day and has_date:
        _add(issues, path, "has both day and date; a block is weekly or dated, never both")
    elif not has_day and not has_date:
        _add(issues, path, "needs a day (weekly block) or a date (dated block)")
    if has_day:
        day = block["day"]
        if day not in DAYS:
            shown = _quote(day) if isinstance(day, str) else _kind(day)
            _add(issues, _field(path, "day"), f"must be one of {', '.join(DAYS)}, not {shown}")
    if has_date and not weekly_only:
        _dated(block["date"], _field(path, "date"), issues, calendar)
    start = _time(block, "start", path, issues, is_end=False)
    end = _time(block, "end", path, issues, is_end=True)
    if start is not None and end is not None and start >= end:
        _add(issues, _field(path, "end"), "must be after start")


def _dated(value: object, path: str, issues: _Issues, calendar: _Calendar) -> None:
    """The date of a dated block: real, within the round, not a holiday."""
    date = _date(value, path, issues)
    if date is None:
        return
    start, end = calendar.start, calendar.end
    if start is not None and end is not None and not start <= date <= end:
        _add(issues, path, f"must lie within the round ({start} to {end})")
    if date in calendar.holidays:
        _add(issues, path, f"falls on a holiday ({date})")


def _blocks(
    obj: _Obj,
    key: str,
    path: str,
    issues: _Issues,
    calendar: _Calendar,
    *,
    required: bool,
    weekly_only: bool,
) -> None:
    for j, value in enumerate(_list(obj, key, path, issues, required=required)):
        _block(value, f"{_field(path, key)}[{j}]", issues, calendar, weekly_only=weekly_only)


def _items(items: list[object], name: str, issues: _Issues) -> list[tuple[int, str, _Obj]]:
    """(index, path, object) of the list's items that are objects; the others are reported."""
    out: list[tuple[int, str, _Obj]] = []
    for i, value in enumerate(items):
        path = f"{name}[{i}]"
        obj = _as_obj(value, path, issues)
        if obj is not None:
            out.append((i, path, obj))
    return out


def _first_ids(items: list[object]) -> dict[str, int]:
    """Index of the first item carrying each well-formed id."""
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        if isinstance(item, dict):
            ident = item.get("id")
            if isinstance(ident, str) and ident and ident not in first:
                first[ident] = i
    return first


def _first_slots(opportunities: list[object]) -> dict[str, tuple[int, int]]:
    first: dict[str, tuple[int, int]] = {}
    for i, opp in enumerate(opportunities):
        slots = opp.get("slots") if isinstance(opp, dict) else None
        if not isinstance(slots, list):
            continue
        for j, slot in enumerate(slots):
            ident = slot.get("id") if isinstance(slot, dict) else None
            if isinstance(ident, str) and ident and ident not in first:
                first[ident] = (i, j)
    return first


# --- One function per section ---------------------------------------------------------------


def _check_format(doc: _Obj, issues: _Issues) -> None:
    value = _present(doc, "format", "", issues, required=True)
    if value is not _MISSING and value != FORMAT:
        shown = _quote(value) if isinstance(value, str) else _kind(value)
        _add(issues, "format", f"must be {_quote(FORMAT)}, not {shown}")


def _timezone(value: str | None, issues: _Issues) -> None:
    if value is None:
        return
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: keys like "../x" or "/etc/x"; OSError: a directory or an unreadable file.
        _add(issues, "round.timezone", f"must be an IANA time zone name, not {_quote(value)}")


def _check_round(doc: _Obj, issues: _Issues) -> _Calendar:
    value = _present(doc, "round", "", issues, required=True)
    rnd = None if value is _MISSING else _as_obj(value, "round", issues)
    if rnd is None:
        return _Calendar(None, None, frozenset())
    path = "round"
    _require_str(rnd, "id", path, issues, nonempty=True)
    _require_str(rnd, "name", path, issues)
    start = _require_date(rnd, "start_date", path, issues)
    end = _require_date(rnd, "end_date", path, issues)
    if start is not None and end is not None and end < start:
        _add(issues, "round.end_date", f"must not be before start_date ({start})")
        start = end = None  # dated blocks cannot be placed in an empty round; say it once
    _timezone(_require_str(rnd, "timezone", path, issues, nonempty=True), issues)
    holidays: set[dt.date] = set()
    for k, item in enumerate(_optional_list(rnd, "holidays", path, issues)):
        holiday = _date(item, f"round.holidays[{k}]", issues)
        if holiday is not None:
            holidays.add(holiday)
    _optional_bool(rnd, "summer", path, issues)
    minutes = _optional_int(rnd, "mentor_meeting_minutes", path, issues, minimum=None)
    if minutes is not None and (minutes <= 0 or minutes % 15):
        _add(
            issues,
            "round.mentor_meeting_minutes",
            f"must be a positive multiple of 15, not {minutes}",
        )
    return _Calendar(start, end, frozenset(holidays))


def _check_schools(schools: list[object], index: _Index, issues: _Issues) -> None:
    for i, path, school in _items(schools, "schools", issues):
        _unique_id(school, path, issues, index.schools, i, "schools")
        _require_str(school, "name", path, issues)
        _location(school, "location", path, issues, required=True)
        _optional_str(school, "address", path, issues)


def _check_students(
    students: list[object], index: _Index, calendar: _Calendar, issues: _Issues
) -> None:
    for i, path, student in _items(students, "students", issues):
        _unique_id(student, path, issues, index.students, i, "students")
        _require_str(student, "name", path, issues)
        _ref(student, "school", path, issues, index.schools, "school", required=False)
        _optional_int(student, "grade", path, issues, minimum=None)
        _require_date(student, "birth_date", path, issues)
        _location(student, "location", path, issues, required=False)
        if "school" not in student and "location" not in student:
            # Travel times start from the school or from home; with neither there is no origin.
            _add(issues, path, "needs a school or a location (travel times start from one)")
        for k, mode in enumerate(_require_list(student, "travel_modes", path, issues)):
            if mode not in MODES:
                shown = _quote(mode) if isinstance(mode, str) else _kind(mode)
                _add(
                    issues,
                    f"{path}.travel_modes[{k}]",
                    f"unknown travel mode {shown} (walk, bike, transit or car)",
                )
        _optional_number(student, "max_commute_minutes", path, issues)
        _str_list(student, "clusters", path, issues)
        _str_list(student, "credentials", path, issues)
        _blocks(student, "busy", path, issues, calendar, required=False, weekly_only=True)
        _ref_list(student, "preferences", path, issues, index.opportunities, "opportunity")
        _optional_int(student, "priority", path, issues)
        _str_list(student, "groups", path, issues)
        _optional_number(student, "max_weekly_hours", path, issues)
        _optional_bool(student, "wants_mentor", path, issues)
        _optional_str(student, "email", path, issues)


def _check_employers(employers: list[object], index: _Index, issues: _Issues) -> None:
    for i, path, employer in _items(employers, "employers", issues):
        _unique_id(employer, path, issues, index.employers, i, "employers")
        _require_str(employer, "name", path, issues)
        _optional_str(employer, "contact_email", path, issues)


def _check_slots(
    opp: _Obj, i: int, path: str, index: _Index, calendar: _Calendar, issues: _Issues
) -> None:
    for j, slot_path, slot in _items(
        _require_list(opp, "slots", path, issues), f"{path}.slots", issues
    ):
        ident = _require_str(slot, "id", slot_path, issues, nonempty=True)
        if ident is not None and index.slots.get(ident, (i, j)) != (i, j):
            a, b = index.slots[ident]
            _add(
                issues,
                f"{slot_path}.id",
                f"duplicate slot id {_quote(ident)} (first at opportunities[{a}].slots[{b}]);"
                " slot ids are unique across the round",
            )
        _require_int(slot, "capacity", slot_path, issues)
        _blocks(slot, "blocks", slot_path, issues, calendar, required=True, weekly_only=False)


def _check_opportunities(
    opportunities: list[object], index: _Index, calendar: _Calendar, issues: _Issues
) -> None:
    for i, path, opp in _items(opportunities, "opportunities", issues):
        _unique_id(opp, path, issues, index.opportunities, i, "opportunities")
        _ref(opp, "employer", path, issues, index.employers, "employer")
        _require_str(opp, "title", path, issues)
        kind = _present(opp, "kind", path, issues, required=True)
        if kind is not _MISSING and kind not in KINDS:
            shown = _quote(kind) if isinstance(kind, str) else _kind(kind)
            _add(issues, f"{path}.kind", f"unknown kind {shown} ({', '.join(KINDS)})")
        _require_str(opp, "cluster", path, issues)
        _location(opp, "location", path, issues, required=True)
        _optional_str(opp, "address", path, issues)
        _optional_bool(opp, "transit_accessible", path, issues)
        _check_slots(opp, i, path, index, calendar, issues)
        _optional_int(opp, "capacity", path, issues)
        _optional_int(opp, "min_age", path, issues)
        _optional_int(opp, "min_grade", path, issues)
        _str_list(opp, "required_credentials", path, issues)
        _optional_bool(opp, "hazardous", path, issues)
        _optional_bool(opp, "requires_mentor", path, issues)
        if opp.get("accepts") is not None:  # null or absent: anyone eligible
            _ref_list(opp, "accepts", path, issues, index.students, "student")


def _check_mentors(
    mentors: list[object], index: _Index, calendar: _Calendar, issues: _Issues
) -> None:
    for i, path, mentor in _items(mentors, "mentors", issues):
        _unique_id(mentor, path, issues, index.mentors, i, "mentors")
        _require_str(mentor, "name", path, issues)
        if mentor.get("employer") is not None:  # null or absent: a community mentor
            _ref(mentor, "employer", path, issues, index.employers, "employer")
        _str_list(mentor, "clusters", path, issues)
        _require_int(mentor, "capacity", path, issues)
        _blocks(mentor, "available", path, issues, calendar, required=False, weekly_only=True)
        _optional_bool(mentor, "virtual", path, issues)


def _check_travel(travel: list[object], index: _Index, issues: _Issues) -> None:
    first: dict[tuple[str, str, str], int] = {}
    for i, path, entry in _items(travel, "travel", issues):
        student = _ref(entry, "student", path, issues, index.students, "student")
        opp = _ref(entry, "opportunity", path, issues, index.opportunities, "opportunity")
        mode = _check_mode(entry, path, issues)
        _check_travel_minutes(entry, path, issues)
        if student is None or opp is None or mode is None:
            continue
        key = (student, opp, mode)
        if key in first:
            _add(
                issues,
                path,
                f"repeats the entry for student {_quote(student)}, opportunity {_quote(opp)},"
                f" mode {_quote(mode)} (first at travel[{first[key]}])",
            )
        else:
            first[key] = i


def _check_travel_minutes(entry: _Obj, path: str, issues: _Issues) -> None:
    minutes = _present(entry, "minutes", path, issues, required=True)
    if minutes is not _MISSING and minutes is not None:
        if not _is_int(minutes):
            _add(issues, f"{path}.minutes", f"must be an integer or null, not {_kind(minutes)}")
        elif minutes < 0:
            _add(issues, f"{path}.minutes", f"must be >= 0, not {minutes}")


def _check_mode(entry: _Obj, path: str, issues: _Issues) -> str | None:
    mode = _present(entry, "mode", path, issues, required=True)
    if mode is not _MISSING and mode not in MODES:
        shown = _quote(mode) if isinstance(mode, str) else _kind(mode)
        _add(issues, f"{path}.mode", f"unknown travel mode {shown} (walk, bike, transit or car)")
        return None
    return mode if isinstance(mode, str) else None


def _check_travel_groups(groups: list[object], index: _Index, issues: _Issues) -> None:
    """`travel_groups` (an extension): ids unique, members are students and in one group at
    most, at most one entry per opportunity and mode in a group."""
    ids: dict[str, int] = {}
    member_of: dict[str, str] = {}
    for i, path, group in _items(groups, "travel_groups", issues):
        ident = _require_str(group, "id", path, issues, nonempty=True)
        if ident is not None:
            if ident in ids:
                _add(
                    issues,
                    f"{path}.id",
                    f"duplicate id {_quote(ident)} (first at travel_groups[{ids[ident]}])",
                )
            else:
                ids[ident] = i
        students = _present(group, "students", path, issues, required=True)
        if students is not _MISSING:
            if not isinstance(students, list):
                _add(issues, f"{path}.students", f"must be a list, not {_kind(students)}")
            else:
                for k, item in enumerate(students):
                    item_path = f"{path}.students[{k}]"
                    ref = _check_ref(item, item_path, issues, index.students, "student")
                    if ref is None:
                        continue
                    if ref in member_of:
                        _add(
                            issues,
                            item_path,
                            f"student {_quote(ref)} is already in travel group"
                            f" {_quote(member_of[ref])}",
                        )
                    else:
                        member_of[ref] = ident if ident is not None else f"#{i}"
        first: dict[tuple[str, str], int] = {}
        for k, entry_path, entry in _items(
            _optional_list(group, "travel", path, issues), f"{path}.travel", issues
        ):
            opp = _ref(entry, "opportunity", entry_path, issues, index.opportunities, "opportunity")
            mode = _check_mode(entry, entry_path, issues)
            _check_travel_minutes(entry, entry_path, issues)
            _check_trips(entry, entry_path, issues)
            if opp is None or mode is None:
                continue
            if (opp, mode) in first:
                _add(
                    issues,
                    entry_path,
                    f"repeats the entry for opportunity {_quote(opp)}, mode {_quote(mode)}"
                    f" (first at {path}.travel[{first[opp, mode]}])",
                )
            else:
                first[opp, mode] = k


def _check_trips(entry: _Obj, path: str, issues: _Issues) -> None:
    """`trips` (an extension): `{day type: {"there"|"back": {"HH:MM": minutes or null}}}`,
    day types weekday, saturday and sunday; a time of "there" is a block's start (00:00-23:59),
    of "back" its end (00:01-24:00)."""
    trips = entry.get("trips", _MISSING)
    if trips is _MISSING or trips is None:
        return
    where = f"{path}.trips"
    if not isinstance(trips, dict):
        _add(issues, where, f"must be an object, not {_kind(trips)}")
        return
    for kind, legs in trips.items():
        if kind not in DAY_TYPES:
            _add(issues, where, f"unknown day type {_quote(kind)} (weekday, saturday or sunday)")
            continue
        if not isinstance(legs, dict):
            _add(issues, f"{where}.{kind}", f"must be an object, not {_kind(legs)}")
            continue
        for direction, times in legs.items():
            at = f"{where}.{kind}.{direction}"
            if direction not in ("there", "back"):
                _add(
                    issues,
                    f"{where}.{kind}",
                    f"unknown direction {_quote(direction)} (there or back)",
                )
                continue
            if not isinstance(times, dict):
                _add(issues, at, f"must be an object, not {_kind(times)}")
                continue
            for clock, minutes in times.items():
                ok = (
                    clock in _TIMES
                    if direction == "there"
                    else (clock == _END_OF_DAY or _TIMES.get(clock, 0) > 0)
                )
                if not ok:
                    what = (
                        "a block's start 00:00-23:59"
                        if direction == "there"
                        else "a block's end 00:01-24:00"
                    )
                    _add(issues, at, f"key {_quote(clock)} must be {what} as HH:MM")
                if minutes is not None and (not _is_int(minutes) or minutes < 0):
                    _add(
                        issues,
                        f"{at}.{clock}",
                        f"must be an integer >= 0 or null, not {minutes!r}"[:120],
                    )


def _pin_slot(
    pin: _Obj,
    path: str,
    opp: str | None,
    index: _Index,
    opportunities: list[object],
    issues: _Issues,
) -> None:
    slot = _ref(pin, "slot", path, issues, index.slots, "slot", required=False)
    if slot is None or opp is None:
        return
    a, _ = index.slots[slot]
    owner = opportunities[a]
    owner_id = owner.get("id") if isinstance(owner, dict) else None
    if owner_id != opp:
        named = _quote(owner_id) if isinstance(owner_id, str) else f"opportunities[{a}]"
        _add(issues, f"{path}.slot", f"slot {_quote(slot)} belongs to {named}, not {_quote(opp)}")


def _pin_mentor(
    pin: _Obj,
    path: str,
    opp_id: str | None,
    index: _Index,
    opportunities: list[object],
    mentors: list[object],
    issues: _Issues,
) -> None:
    """Workplace mentor of the opportunity's employer if it requires_mentor, else community."""
    mentor_id = _ref(pin, "mentor", path, issues, index.mentors, "mentor", required=False)
    if mentor_id is None or opp_id is None:
        return
    opp, mentor = opportunities[index.opportunities[opp_id]], mentors[index.mentors[mentor_id]]
    if not isinstance(opp, dict) or not isinstance(mentor, dict):
        return  # cannot happen: only objects are indexed; this narrows the types
    requires, employer, works_for = (
        opp.get("requires_mentor", False),
        opp.get("employer"),
        mentor.get("employer"),
    )
    if (
        not isinstance(requires, bool)
        or not isinstance(employer, str)
        or employer not in index.employers
        or not (works_for is None or (isinstance(works_for, str) and works_for in index.employers))
    ):
        return  # already reported on the opportunity or the mentor
    who = f"mentor {_quote(mentor_id)}"
    if requires and works_for != employer:
        now = "a community mentor" if works_for is None else f"of employer {_quote(works_for)}"
        _add(
            issues,
            f"{path}.mentor",
            f"must be a workplace mentor of employer {_quote(employer)} (opportunity"
            f" {_quote(opp_id)} requires_mentor), but {who} is {now}",
        )
    elif not requires and works_for is not None:
        _add(
            issues,
            f"{path}.mentor",
            f"must be a community mentor (opportunity {_quote(opp_id)} does not require a"
            f" mentor), but {who} is of employer {_quote(works_for)}",
        )


def _check_pins(
    pins: list[object],
    index: _Index,
    opportunities: list[object],
    mentors: list[object],
    issues: _Issues,
) -> None:
    for _, path, pin in _items(pins, "pins", issues):
        _ref(pin, "student", path, issues, index.students, "student")
        opp = _ref(pin, "opportunity", path, issues, index.opportunities, "opportunity")
        _pin_slot(pin, path, opp, index, opportunities, issues)
        _pin_mentor(pin, path, opp, index, opportunities, mentors, issues)


def _check_forbidden(forbidden: list[object], index: _Index, issues: _Issues) -> None:
    for _, path, entry in _items(forbidden, "forbidden", issues):
        _ref(entry, "student", path, issues, index.students, "student")
        _ref(entry, "opportunity", path, issues, index.opportunities, "opportunity")


def validate_problem(doc: object) -> list[ValidationIssue]:
    """Every way `doc` (a parsed JSON value) breaks the wbl-problem/1 format, all at once; []
    when valid."""
    issues: _Issues = []
    if not isinstance(doc, dict):
        _add(issues, "$", f"must be an object (a {FORMAT} document), not {_kind(doc)}")
        return issues
    _check_format(doc, issues)
    calendar = _check_round(doc, issues)
    schools = _require_list(doc, "schools", "", issues)
    students = _require_list(doc, "students", "", issues)
    employers = _require_list(doc, "employers", "", issues)
    opportunities = _require_list(doc, "opportunities", "", issues)
    mentors = _require_list(doc, "mentors", "", issues)
    travel = _optional_list(doc, "travel", "", issues)
    travel_groups = _optional_list(doc, "travel_groups", "", issues)
    pins = _optional_list(doc, "pins", "", issues)
    forbidden = _optional_list(doc, "forbidden", "", issues)
    index = _Index(
        schools=_first_ids(schools),
        students=_first_ids(students),
        employers=_first_ids(employers),
        opportunities=_first_ids(opportunities),
        mentors=_first_ids(mentors),
        slots=_first_slots(opportunities),
    )
    _check_schools(schools, index, issues)
    _check_students(students, index, calendar, issues)
    _check_employers(employers, index, issues)
    _check_opportunities(opportunities, index, calendar, issues)
    _check_mentors(mentors, index, calendar, issues)
    _check_travel(travel, index, issues)
    _check_travel_groups(travel_groups, index, issues)
    _check_pins(pins, index, opportunities, mentors, issues)
    _check_forbidden(forbidden, index, issues)
    return [_with_subject(doc, issue) for issue in issues]


# The row a path starts in: "students[12]", and a slot of an opportunity.
_ROW_PATH: Final = re.compile(r"(?P<list>[a-z_]+)\[(?P<i>[0-9]+)\](?:\.slots\[(?P<j>[0-9]+)\])?")
_NAMED: Final = {
    "schools": "school",
    "students": "student",
    "employers": "employer",
    "opportunities": "opportunity",
    "mentors": "mentor",
}
# Rows without an id of their own, named by the ids they refer to. (Travel groups are
# written by programs, not people, and their paths say enough.)
_BY_REFS: Final = {
    "travel": ("student", "opportunity"),
    "pins": ("student", "opportunity", "slot"),
    "forbidden": ("student", "opportunity"),
}


def _id_of(row: object, key: str = "id") -> str | None:
    value = row.get(key) if isinstance(row, dict) else None
    return value if isinstance(value, str) and value else None


def _with_subject(doc: _Obj, issue: ValidationIssue) -> ValidationIssue:
    """The issue with the id of the row its path is in (a student, an opportunity and its
    slot, the student and opportunity of a pin...), when the row has one to give."""
    match = _ROW_PATH.match(issue.path)
    if match is None:
        return issue
    rows = doc.get(match["list"])
    i = int(match["i"])
    row = rows[i] if isinstance(rows, list) and i < len(rows) else None
    parts: list[str] = []
    if match["list"] in _NAMED:
        ident = _id_of(row)
        if ident is not None:
            parts.append(f"{_NAMED[match['list']]} {_quote(ident)}")
        slots = row.get("slots") if isinstance(row, dict) else None
        if match["j"] is not None and isinstance(slots, list) and int(match["j"]) < len(slots):
            slot = _id_of(slots[int(match["j"])])
            if slot is not None:
                parts.append(f"slot {_quote(slot)}")
    else:
        for key in _BY_REFS.get(match["list"], ()):
            ident = _id_of(row, key)
            if ident is not None:
                parts.append(f"{key} {_quote(ident)}")
    if not parts:
        return issue
    return ValidationIssue(issue.path, issue.message, ", ".join(parts))
