"""What each importable table holds: its columns, their types, and how a cell is read.

A coordinator's spreadsheets are the source of truth for a round's students, schools,
employers and the rest, so each kind of table has a fixed, documented set of columns
(`KINDS`). The same specification drives the parser, the templates (header row and the
"help" sheet) and the column tables of `docs/imports.md` (`columns_markdown`, which a test
compares with the docs so that they never drift apart).

A cell parser takes a non-empty cell as the file gave it: text from a CSV, or a number, a
boolean, a date or a time from an XLSX sheet; it returns the value to store or raises
`CellError` whose message names what was expected and shows what was found. Empty cells never
reach a parser: the importer turns them into the column's default or a "required" error.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "DAYS",
    "KINDS",
    "KIND_ORDER",
    "CellError",
    "Column",
    "TableKind",
    "columns_markdown",
    "if_empty",
    "shown",
]

DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MODES: Final = ("walk", "bike", "transit", "car")
OPPORTUNITY_KINDS: Final = (
    "internship",
    "apprenticeship",
    "pre_apprenticeship",
    "job_shadow",
    "co_op",
)
# A list cell: "health;it" (a comma works too: codes and labels never contain either).
LIST_SEPARATORS: Final = re.compile(r"[;,]")


class CellError(ValueError):
    """A cell that cannot be read as its column's type; the message is shown to the user."""


Parser = Callable[[Any], Any]


def shown(raw: Any) -> str:
    """A cell's value as an error message quotes it: text in double quotes, cut when long."""
    if isinstance(raw, str):
        text = raw if len(raw) <= 60 else raw[:57] + "..."
        return '"' + text.replace('"', '\\"') + '"'
    if isinstance(raw, dt.datetime | dt.date | dt.time):
        return f"{raw.isoformat()} (a {type(raw).__name__} cell)"
    return repr(raw)


# --- Cell parsers --------------------------------------------------------------------------------


def parse_text(raw: Any) -> str:
    """Any cell as text; a whole number from a spreadsheet stays whole (12345, not 12345.0)."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, dt.datetime | dt.date | dt.time):
        return raw.isoformat()
    return str(raw)


def parse_email(raw: Any) -> str:
    text = parse_text(raw)
    # Only the shape: whether the mailbox exists is the school's business, not the import's.
    if "@" not in text or any(c.isspace() for c in text):
        raise CellError(f"not an email address: {shown(raw)}")
    return text


_INT_RE: Final = re.compile(r"[+-]?[0-9]+(\.0*)?")
_NUMBER_RE: Final = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def parse_int(raw: Any) -> int:
    # bool is an int subclass in Python, but TRUE is not a capacity.
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and _INT_RE.fullmatch(raw):
        return int(float(raw)) if "." in raw else int(raw)
    raise CellError(f"not a whole number: {shown(raw)}")


def parse_number(raw: Any) -> int | float:
    """A finite number; whole numbers stay ints so that 60 is exported as 60, not 60.0."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, float) and math.isfinite(raw):
        return int(raw) if raw.is_integer() else raw
    if isinstance(raw, str) and _NUMBER_RE.fullmatch(raw):
        value = float(raw)
        return int(value) if "." not in raw else value
    raise CellError(f"not a number: {shown(raw)}")


def _at_least(parser: Parser, minimum: int) -> Parser:
    def parse(raw: Any) -> Any:
        value = parser(raw)
        if value < minimum:
            raise CellError(f"must be {minimum} or more, not {shown(raw)}")
        return value

    return parse


def _coordinate(limit: int) -> Parser:
    def parse(raw: Any) -> float:
        value = parse_number(raw)
        if not -limit <= value <= limit:
            raise CellError(f"must be between -{limit} and {limit}, not {shown(raw)}")
        return float(value)

    return parse


_TRUE: Final = frozenset({"true", "yes", "y", "1", "t", "x"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "f"})


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        word = raw.lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise CellError(f"not true or false (true/false, yes/no, 1/0): {shown(raw)}")


# The format's dates are YYYY-MM-DD and nothing else: "03/04/2009" is April or March.
_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        # Spreadsheets store dates as datetimes at midnight; a time of day means a mistake.
        if raw.time() != dt.time(0, 0):
            raise CellError(f"not a date (YYYY-MM-DD): {shown(raw)}")
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str) and _DATE_RE.fullmatch(raw):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise CellError(f"not a real date: {shown(raw)}") from None
    raise CellError(f"not a date (YYYY-MM-DD): {shown(raw)}")


# Every "HH:MM" a block may use, mapped to itself: a dict lookup both validates a time and
# returns one shared string object, so 640,000 busy blocks do not hold 1.3 million copies.
_TIMES: Final[dict[str, str]] = {
    f"{h:02d}:{m:02d}": f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)
}
_TIME_RE: Final = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::00)?")
END_OF_DAY: Final = "24:00"


def parse_time(raw: Any) -> str:
    """A time of day as "HH:MM"; "7:30" and "07:30:00" are read as "07:30"."""
    if isinstance(raw, dt.datetime):
        raw = raw.time()
    if isinstance(raw, dt.time):
        if raw.second or raw.microsecond:
            raise CellError(f"not a time (HH:MM) on the minute: {shown(raw)}")
        return _TIMES[f"{raw.hour:02d}:{raw.minute:02d}"]
    if isinstance(raw, str):
        hit = _TIMES.get(raw)
        if hit is not None:
            return hit
        match = _TIME_RE.fullmatch(raw)
        if match:
            text = f"{int(match[1]):02d}:{match[2]}"
            if text == END_OF_DAY:
                return END_OF_DAY
            hit = _TIMES.get(text)
            if hit is not None:
                return hit
    raise CellError(f"not a time (HH:MM, 00:00 to 24:00): {shown(raw)}")


def _choice(values: tuple[str, ...], what: str, aliases: dict[str, str] | None = None) -> Parser:
    """One of `values`, in any case; spaces and hyphens read as underscores ("Job shadow")."""
    table = {v: v for v in values} | (aliases or {})

    def parse(raw: Any) -> str:
        if isinstance(raw, str):
            hit = table.get(raw) or table.get(raw.lower().replace(" ", "_").replace("-", "_"))
            if hit is not None:
                return hit
        raise CellError(f"not a {what} ({', '.join(values)}): {shown(raw)}")

    return parse


parse_day = _choice(
    DAYS,
    "day",
    {
        "monday": "mon",
        "tuesday": "tue",
        "wednesday": "wed",
        "thursday": "thu",
        "friday": "fri",
        "saturday": "sat",
        "sunday": "sun",
    },
)
parse_mode = _choice(MODES, "travel mode")
parse_kind = _choice(OPPORTUNITY_KINDS, "kind", {"coop": "co_op", "shadow": "job_shadow"})


def _list_of(item: Parser | None = None) -> Parser:
    """A list cell: items separated by ";" (or ","), blanks dropped, repeats dropped."""

    def parse(raw: Any) -> list[str]:
        text = parse_text(raw)
        out: list[str] = []
        for part in LIST_SEPARATORS.split(text):
            word = part.strip()
            if not word:
                continue
            value = item(word) if item is not None else word
            if value not in out:
                out.append(value)
        return out

    return parse


def _modes(raw: Any) -> list[str]:
    # "none" says in words what an empty cell says: this student has no way to travel.
    if isinstance(raw, str) and raw.lower() == "none":
        return []
    try:
        modes: list[str] = _list_of(parse_mode)(raw)
    except CellError:
        raise CellError(f"not a list of travel modes ({', '.join(MODES)}): {shown(raw)}") from None
    return modes


# --- Columns and kinds -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table: its header name, whether rows must fill it, how it is read."""

    name: str
    type: str  # for people: "text", "whole number", "list of codes", ...
    required: bool
    example: str
    doc: str
    parse: Parser
    # The value of an empty cell (a column with no default stores null).
    default: Any = None
    # The header must have the column even where its cells may be empty (travel_modes: an
    # empty cell is a real answer, "no way to travel", that a missing column must not give).
    in_header: bool = False
    # What an empty cell means, where the default alone does not say it.
    empty: str | None = None

    @property
    def header_required(self) -> bool:
        return self.required or self.in_header


@dataclass(frozen=True, slots=True)
class TableKind:
    """A kind of table the importer reads: `students`, `slots`, ..."""

    name: str
    summary: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _col(
    name: str,
    type_: str,
    example: str,
    doc: str,
    parse: Parser,
    *,
    required: bool = False,
    default: Any = None,
    in_header: bool = False,
    empty: str | None = None,
) -> Column:
    return Column(name, type_, required, example, doc, parse, default, in_header, empty)


_ID = "id (text)"
_FROM_ADDRESS = "found from the address (or refused)"


def _parse_zip(raw: Any) -> str:
    # A spreadsheet stores 02134 as the number 2134: the leading zeros come back.
    text = parse_text(raw)
    return text.zfill(5) if text.isdigit() and len(text) < 5 else text


def _address_columns(prefix: str, example: str, doc: str) -> tuple[Column, ...]:
    """address, city, state, zip (with `prefix`): geocoded into coordinates where these are
    empty (`scheduler.geocode`; docs/imports.md, "Addresses and geocoding")."""
    return (
        _col(
            f"{prefix}address",
            "text",
            example,
            f"{doc}; the whole address on one line works too.",
            parse_text,
        ),
        _col(f"{prefix}city", "text", "Kansas City", "City of the address.", parse_text),
        _col(f"{prefix}state", "text", "MO", "State of the address.", parse_text),
        _col(f"{prefix}zip", "text", "64106", "ZIP code of the address.", _parse_zip),
    )


_TIME_DOC = "HH:MM, 24-hour"


def _block_columns(first: str) -> tuple[Column, ...]:
    return (
        _col(
            "day", "day", "mon", f"Weekday of the {first}: mon ... sun.", parse_day, required=True
        ),
        _col("start", "time", "07:30", f"Start ({_TIME_DOC}).", parse_time, required=True),
        _col(
            "end",
            "time",
            "14:30",
            f"End ({_TIME_DOC}); after start, 24:00 at most.",
            parse_time,
            required=True,
        ),
    )


SCHOOLS = TableKind(
    "schools",
    "One row per school. The school's location is where after-school commutes start.",
    (
        _col(
            "school_id",
            _ID,
            "sc-01",
            "The school's id, unique in the round.",
            parse_text,
            required=True,
        ),
        _col("name", "text", "Riverside High School", "Name.", parse_text, required=True),
        _col(
            "lat",
            "number",
            "39.1433",
            "Latitude, -90 to 90. Give lat and lon, or an address to geocode.",
            _coordinate(90),
            empty=_FROM_ADDRESS,
        ),
        _col(
            "lon",
            "number",
            "-94.5995",
            "Longitude, -180 to 180.",
            _coordinate(180),
            empty=_FROM_ADDRESS,
        ),
        *_address_columns("", "504 Highland Ave", "Street address"),
    ),
)

BELLS = TableKind(
    "bells",
    "A school's day: one row per block (a school with a lunch break off campus has two a day)."
    " The blocks become the busy time of the school's students who have no individual"
    " schedule (see the rule below).",
    (
        _col("school_id", "id of a school", "sc-01", "The school.", parse_text, required=True),
        *_block_columns("school day"),
    ),
)

STUDENTS = TableKind(
    "students",
    "One row per student, as a student information system exports them.",
    (
        _col(
            "student_id",
            _ID,
            "st-000001",
            "The student's id, unique in the round.",
            parse_text,
            required=True,
        ),
        _col(
            "name",
            "text",
            "Samuel Scott",
            "Full name. Required unless first_name and last_name are given.",
            parse_text,
            empty="first_name last_name",
        ),
        _col(
            "first_name",
            "text",
            "Samuel",
            "Given name (with last_name, instead of name).",
            parse_text,
            empty="(only with name)",
        ),
        _col(
            "last_name",
            "text",
            "Scott",
            "Family name (with first_name, instead of name).",
            parse_text,
            empty="(only with name)",
        ),
        _col(
            "school_id",
            "id of a school",
            "sc-01",
            "The student's school.",
            parse_text,
            empty="no school (home required)",
        ),
        _col(
            "grade",
            "whole number",
            "11",
            "Grade level.",
            parse_int,
            empty="unknown (fails any min_grade)",
        ),
        _col(
            "birth_date", "date", "2009-01-21", "Birth date, YYYY-MM-DD.", parse_date, required=True
        ),
        _col(
            "home_lat",
            "number",
            "39.1480",
            "Home latitude. Give both home_lat and home_lon, or neither.",
            _coordinate(90),
            empty="no home location",
        ),
        _col(
            "home_lon",
            "number",
            "-94.6217",
            "Home longitude.",
            _coordinate(180),
            empty="no home location",
        ),
        *_address_columns(
            "home_",
            "118 W 31st St",
            "Home street address, geocoded when home_lat and home_lon are empty",
        ),
        _col(
            "travel_modes",
            "list of walk, bike, transit, car",
            "bike;transit",
            "How the student can travel. The column is required; an empty cell (or the word"
            " none) means no way to travel: the student cannot be placed.",
            _modes,
            default=[],
            in_header=True,
            empty="no way to travel",
        ),
        _col(
            "max_commute_minutes",
            "number",
            "40",
            "Longest acceptable commute, one way.",
            _at_least(parse_number, 0),
            default=60,
        ),
        _col(
            "clusters",
            "list of codes",
            "health;it",
            "Career clusters the student is placed in.",
            _list_of(),
            default=[],
            empty="open to every cluster",
        ),
        _col(
            "credentials",
            "list of codes",
            "cpr;osha10",
            "Credentials the student holds.",
            _list_of(),
            default=[],
        ),
        _col(
            "priority",
            "whole number",
            "0",
            "Priority, 0 or more: each placed student counts 1 + priority.",
            _at_least(parse_int, 0),
            default=0,
        ),
        _col(
            "groups",
            "list of labels",
            "econ_disadvantaged;iep",
            "Equity-reporting groups. Never used for eligibility, never exported to employers.",
            _list_of(),
            default=[],
        ),
        _col("wants_mentor", "true/false", "yes", "Asks for a mentor.", parse_bool, default=False),
        _col(
            "max_weekly_hours",
            "number",
            "15",
            "Most hours a week.",
            _at_least(parse_number, 0),
            empty="no limit",
        ),
        _col(
            "email",
            "email",
            "samuel.scott@students.example.org",
            "Contact for the placement (given to the employer that places the student).",
            parse_email,
        ),
    ),
)

SCHEDULES = TableKind(
    "schedules",
    "Individual class schedules: one row per busy block of a student (a class, a job, a care"
    " duty). The rows of a student replace that student's busy blocks.",
    (
        _col(
            "student_id", "id of a student", "st-000001", "The student.", parse_text, required=True
        ),
        *_block_columns("busy block"),
    ),
)

EMPLOYERS = TableKind(
    "employers",
    "One row per employer.",
    (
        _col(
            "employer_id",
            _ID,
            "em-0001",
            "The employer's id, unique in the round.",
            parse_text,
            required=True,
        ),
        _col("name", "text", "Ramirez Robotics", "Name.", parse_text, required=True),
        _col(
            "contact_email",
            "email",
            "wbl@ramirezrobotics.example.com",
            "Where placement lists go.",
            parse_email,
        ),
    ),
)

OPPORTUNITIES = TableKind(
    "opportunities",
    "One row per opportunity (a placement an employer offers). Its shifts are `slots` rows.",
    (
        _col(
            "opportunity_id",
            _ID,
            "op-0001-1",
            "The opportunity's id, unique in the round.",
            parse_text,
            required=True,
        ),
        _col(
            "employer_id",
            "id of an employer",
            "em-0001",
            "The employer offering it.",
            parse_text,
            required=True,
        ),
        _col("title", "text", "Lab Research Intern", "Title.", parse_text, required=True),
        _col(
            "kind",
            "internship, apprenticeship, pre_apprenticeship, job_shadow or co_op",
            "internship",
            "Kind of work-based learning.",
            parse_kind,
            required=True,
        ),
        _col("cluster", "code", "health", "Career cluster.", parse_text, required=True),
        _col(
            "lat",
            "number",
            "39.1557",
            "Site latitude. Give lat and lon, or an address to geocode.",
            _coordinate(90),
            empty=_FROM_ADDRESS,
        ),
        _col("lon", "number", "-94.5694", "Site longitude.", _coordinate(180), empty=_FROM_ADDRESS),
        *_address_columns("", "2871 Main St", "Site street address"),
        _col(
            "transit_accessible",
            "true/false",
            "true",
            "Reachable by public transit.",
            parse_bool,
            default=True,
        ),
        _col(
            "capacity",
            "whole number",
            "4",
            "Most students over all its slots.",
            _at_least(parse_int, 0),
            empty="no cap beyond the slots'",
        ),
        _col(
            "min_age",
            "whole number",
            "16",
            "Minimum age (full years on the round's start).",
            _at_least(parse_int, 0),
        ),
        _col("min_grade", "whole number", "11", "Minimum grade.", _at_least(parse_int, 0)),
        _col(
            "required_credentials",
            "list of codes",
            "osha10;cpr",
            "Credentials a student must hold.",
            _list_of(),
            default=[],
        ),
        _col(
            "hazardous",
            "true/false",
            "false",
            "Hazardous work (under 18: apprenticeship or co-op at 16+ only).",
            parse_bool,
            default=False,
        ),
        _col(
            "requires_mentor",
            "true/false",
            "false",
            "Every placed student needs a workplace mentor of the employer.",
            parse_bool,
            default=False,
        ),
    ),
)

SLOTS = TableKind(
    "slots",
    "Shifts of opportunities with their seats: one row per block of a slot, so a slot that"
    " meets on Monday and Wednesday has two rows with the same slot_id, opportunity_id and"
    " capacity. A row has a day (weekly block) or a date (dated block), not both. The rows"
    " of a slot replace its blocks.",
    (
        _col(
            "opportunity_id",
            "id of an opportunity",
            "op-0001-1",
            "The opportunity.",
            parse_text,
            required=True,
        ),
        _col(
            "slot_id",
            _ID,
            "sl-0001-1-1",
            "The slot's id, unique in the whole round.",
            parse_text,
            required=True,
        ),
        _col(
            "capacity",
            "whole number",
            "2",
            "Seats in the slot (0 or more).",
            _at_least(parse_int, 0),
            required=True,
        ),
        _col(
            "day",
            "day",
            "tue",
            "Weekday of a weekly block (every week of the round).",
            parse_day,
            empty="a dated block (date needed)",
        ),
        _col(
            "date",
            "date",
            "2026-10-06",
            "Date of a dated block (within the round, not a holiday).",
            parse_date,
            empty="a weekly block (day needed)",
        ),
        _col("start", "time", "15:30", f"Start ({_TIME_DOC}).", parse_time, required=True),
        _col(
            "end",
            "time",
            "18:30",
            f"End ({_TIME_DOC}); after start, 24:00 at most.",
            parse_time,
            required=True,
        ),
    ),
)

MENTORS = TableKind(
    "mentors",
    "One row per mentor: a workplace mentor (with employer_id) or a community mentor (without),"
    " whose weekly availability is given as `availability` rows.",
    (
        _col(
            "mentor_id",
            _ID,
            "me-0001",
            "The mentor's id, unique in the round.",
            parse_text,
            required=True,
        ),
        _col("name", "text", "Ethan Murphy", "Name.", parse_text, required=True),
        _col(
            "employer_id",
            "id of an employer",
            "em-0001",
            "The mentor's employer.",
            parse_text,
            empty="a community mentor",
        ),
        _col(
            "clusters",
            "list of codes",
            "stem;it",
            "Clusters mentored.",
            _list_of(),
            default=[],
            empty="any cluster",
        ),
        _col(
            "capacity",
            "whole number",
            "2",
            "Most students at once (0 or more).",
            _at_least(parse_int, 0),
            required=True,
        ),
        _col("virtual", "true/false", "false", "Meets online.", parse_bool, default=False),
    ),
)

AVAILABILITY = TableKind(
    "availability",
    "When community mentors can meet their students: one row per weekly block. The rows of a"
    " mentor replace that mentor's availability.",
    (
        _col(
            "mentor_id",
            "id of a community mentor",
            "me-0101",
            "The mentor.",
            parse_text,
            required=True,
        ),
        *_block_columns("available block"),
    ),
)

PREFERENCES = TableKind(
    "preferences",
    "Students' ranked choices: one row per choice. The rows of a student replace that"
    " student's choices; ranks order them (1 = first) and gaps close (1, 3, 4 become 1, 2, 3).",
    (
        _col(
            "student_id", "id of a student", "st-000001", "The student.", parse_text, required=True
        ),
        _col(
            "rank", "whole number", "1", "1 = first choice.", _at_least(parse_int, 1), required=True
        ),
        _col(
            "opportunity_id",
            "id of an opportunity",
            "op-0005-2",
            "The opportunity chosen.",
            parse_text,
            required=True,
        ),
    ),
)

# Import order: every reference points at a kind earlier in this order, so a batch of files
# resolves each reference against what the database holds plus what earlier files add.
KIND_ORDER: Final = (
    "schools",
    "employers",
    "students",
    "bells",
    "schedules",
    "opportunities",
    "slots",
    "mentors",
    "availability",
    "preferences",
)
KINDS: Final[dict[str, TableKind]] = {
    k.name: k
    for k in (
        SCHOOLS,
        EMPLOYERS,
        STUDENTS,
        BELLS,
        SCHEDULES,
        OPPORTUNITIES,
        SLOTS,
        MENTORS,
        AVAILABILITY,
        PREFERENCES,
    )
}
assert tuple(KINDS) == KIND_ORDER


def if_empty(column: Column) -> str:
    """What an empty cell of `column` stores, in words."""
    if column.required:
        return "refused"
    if column.empty is not None:
        return column.empty
    default = column.default
    if default is None:
        return "nothing (null)"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, list):
        return "empty list"
    return str(default)


def columns_markdown(kind: str) -> str:
    """The column table of `kind` as `docs/imports.md` shows it."""
    lines = [
        "| column | required | type | example | if empty | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for c in KINDS[kind].columns:
        required = "yes" if c.required else ("column" if c.in_header else "")
        lines.append(
            f"| `{c.name}` | {required} | {c.type} | `{c.example}` | {if_empty(c)} | {c.doc} |"
        )
    return "\n".join(lines)
