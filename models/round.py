"""A placement round and everything a `wbl-problem/1` document holds, one table per list.

Every table here carries `round_id`, even where a parent already leads to the round (a slot
through its opportunity, a preference through its student): a round is then read, exported,
copied or deleted with one indexed `WHERE round_id = ?` per table, with no joins, and tenancy
checks never need to walk a chain. The ids of the document are `external_id` strings, unique
per round (slots too: the format makes slot ids unique across the round); the integer `id` is
the surrogate key that foreign keys use.

Lists that point at other rows are child tables with foreign keys, so that every reference
resolves and deleting a row cannot leave a dangling id behind: preferences (`Preference`,
ranked), an opportunity's `accepts` list (`OpportunityAccept`), travel overrides, travel groups
and their times, pins and forbidden pairs.

Lists of codes and time blocks are JSON columns: a student's busy blocks, a slot's blocks, a
mentor's available blocks, clusters, credentials, groups, travel modes, holidays. They are read
whole (to build the solver's problem, to draw a calendar), replaced whole (a new class schedule),
and never searched inside by SQL. As child tables they would be most of the rows of a round
(a 100,000-student round has about 640,000 busy blocks against 100,000 students) and make
every import and every load a multi-table join for no query that needs it. Blocks are stored in
the format's own shape (`{"day"|"date", "start", "end"}`), so what was imported is what is
exported.

Columns are nullable exactly where the format has optional fields without a default
(`grade`, a student's home `location`, `max_weekly_hours`, an opportunity's `capacity`...).
Fields with defaults are stored filled in.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, json_column_type, utcnow

if TYPE_CHECKING:
    from models.program import Program
    from models.solve import SolveRun

# A block as the format writes it: {"day": "mon", "start": "15:00", "end": "18:00"} or
# {"date": "2026-10-02", "start": ..., "end": ...}.
Block = dict[str, str]

# The owning reference of a child row: the child goes with its round or parent.
_OWNED = "CASCADE"


class RoundStatus(enum.StrEnum):
    """Where a round is in its life: built (`draft`), being solved, results under the
    coordinator's `review`, `published` to employers and students, `closed`."""

    draft = "draft"
    solving = "solving"
    review = "review"
    published = "published"
    closed = "closed"


class OpportunityKind(enum.StrEnum):
    internship = "internship"
    apprenticeship = "apprenticeship"
    pre_apprenticeship = "pre_apprenticeship"
    job_shadow = "job_shadow"
    co_op = "co_op"


class TravelMode(enum.StrEnum):
    walk = "walk"
    bike = "bike"
    transit = "transit"
    car = "car"


def _round_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("rounds.id", ondelete=_OWNED), index=True)


class Round(Base):
    """One placement round of a program: its calendar, its lifecycle and the chosen solve."""

    __tablename__ = "rounds"
    __table_args__ = (
        UniqueConstraint("program_id", "external_id"),
        CheckConstraint("start_date <= end_date", name="dates_in_order"),
        CheckConstraint("mentor_meeting_minutes > 0", name="meeting_minutes_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # program_id leads the unique constraint, whose index serves the foreign key too.
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete=_OWNED))
    external_id: Mapped[str]
    name: Mapped[str]
    start_date: Mapped[dt.date]
    end_date: Mapped[dt.date]
    timezone: Mapped[str]
    holidays: Mapped[list[str]] = mapped_column(json_column_type(), default=list)
    summer: Mapped[bool] = mapped_column(default=False)
    mentor_meeting_minutes: Mapped[int] = mapped_column(default=30)
    status: Mapped[RoundStatus] = mapped_column(default=RoundStatus.draft)
    # Solve with the opportunities their employers confirmed only (the others get no seats in
    # the solve; the export is unchanged): `scheduler.problems.round_problem(for_solve=True)`.
    confirmed_only: Mapped[bool] = mapped_column(default=False, server_default=false())
    # rounds -> solve_runs -> rounds is a cycle: use_alter adds this key after both tables
    # exist, and drops it first.
    chosen_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("solve_runs.id", ondelete="SET NULL", use_alter=True), index=True
    )
    # Optimistic locking: two coordinators changing the same round cannot overwrite each
    # other; the second UPDATE finds a newer version and fails (StaleDataError).
    version: Mapped[int] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    # RUF012 does not apply: a declarative directive SQLAlchemy reads once, at mapping time.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    program: Mapped[Program] = relationship(back_populates="rounds")
    runs: Mapped[list[SolveRun]] = relationship(
        back_populates="round",
        foreign_keys="SolveRun.round_id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    # post_update: the run must exist (it points at the round) before the round can point at it.
    chosen_run: Mapped[SolveRun | None] = relationship(
        foreign_keys=[chosen_run_id], post_update=True
    )
    schools: Mapped[list[School]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )
    students: Mapped[list[Student]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )
    employers: Mapped[list[Employer]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )
    opportunities: Mapped[list[Opportunity]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )
    slots: Mapped[list[Slot]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )
    mentors: Mapped[list[Mentor]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )
    preferences: Mapped[list[Preference]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )
    accepts: Mapped[list[OpportunityAccept]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )
    travel_overrides: Mapped[list[TravelOverride]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )
    travel_groups: Mapped[list[TravelGroup]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )
    pins: Mapped[list[Pin]] = relationship(
        back_populates="round",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Pin.id",
    )
    forbidden: Mapped[list[Forbidden]] = relationship(
        back_populates="round", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Round {self.id} {self.external_id!r} {self.status.value}>"


class School(Base):
    __tablename__ = "schools"
    __table_args__ = (
        UniqueConstraint("round_id", "external_id"),
        # The assignments page sorted by school (scheduler.queries).
        Index(None, "round_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # round_id leads the unique constraint, whose index serves the foreign key too.
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete=_OWNED))
    external_id: Mapped[str]
    name: Mapped[str]
    lat: Mapped[float]
    lon: Mapped[float]
    address: Mapped[str | None]

    round: Mapped[Round] = relationship(back_populates="schools")
    # passive_deletes="all": deleting a school must not quietly null its students' school_id;
    # the database refuses it while students remain.
    students: Mapped[list[Student]] = relationship(back_populates="school", passive_deletes="all")


class Student(Base):
    """A student of the round; `lat`/`lon` is home (both or neither)."""

    __tablename__ = "students"
    __table_args__ = (
        UniqueConstraint("round_id", "external_id"),
        # Pages of a round's students by name and by id, a keyset (name, id) or (id) each
        # (scheduler.queries): a range of one index, never a sort of the round.
        Index(None, "round_id", "name", "id"),
        Index(None, "round_id", "id"),
        CheckConstraint("priority >= 0", name="priority_not_negative"),
        CheckConstraint("(lat IS NULL) = (lon IS NULL)", name="location_whole"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete=_OWNED))
    external_id: Mapped[str]
    name: Mapped[str]
    # No cascade: a school with students cannot be deleted by accident.
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    grade: Mapped[int | None]
    birth_date: Mapped[dt.date]
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    travel_modes: Mapped[list[str]] = mapped_column(json_column_type(), default=list)
    max_commute_minutes: Mapped[float] = mapped_column(default=60)
    clusters: Mapped[list[str]] = mapped_column(json_column_type(), default=list)
    credentials: Mapped[list[str]] = mapped_column(json_column_type(), default=list)
    busy: Mapped[list[Block]] = mapped_column(json_column_type(), default=list)
    priority: Mapped[int] = mapped_column(default=0)
    groups: Mapped[list[str]] = mapped_column(json_column_type(), default=list)
    max_weekly_hours: Mapped[float | None]
    wants_mentor: Mapped[bool] = mapped_column(default=False)
    email: Mapped[str | None]
    # The student's travel group (measured times shared with students of the same origin).
    travel_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("travel_groups.id", ondelete="SET NULL"), index=True
    )

    round: Mapped[Round] = relationship(back_populates="students")
    school: Mapped[School | None] = relationship(back_populates="students")
    preferences: Mapped[list[Preference]] = relationship(
        back_populates="student",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Preference.rank",
    )


class Employer(Base):
    __tablename__ = "employers"
    __table_args__ = (
        UniqueConstraint("round_id", "external_id"),
        # The assignments page sorted by employer (scheduler.queries).
        Index(None, "round_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete=_OWNED))
    external_id: Mapped[str]
    name: Mapped[str]
    contact_email: Mapped[str | None]

    round: Mapped[Round] = relationship(back_populates="employers")
    # As for schools: the database, not the ORM, decides what happens to dependants.
    opportunities: Mapped[list[Opportunity]] = relationship(
        back_populates="employer", passive_deletes="all"
    )
    mentors: Mapped[list[Mentor]] = relationship(back_populates="employer", passive_deletes="all")


class Opportunity(Base):
    """A placement an employer offers; `restricted` is true when the document gave an `accepts`
    list (possibly empty: nobody), whose students are then the `accepts` rows."""

    __tablename__ = "opportunities"
    __table_args__ = (
        UniqueConstraint("round_id", "external_id"),
        # The assignments page sorted by opportunity (scheduler.queries).
        Index(None, "round_id", "title"),
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete=_OWNED))
    # No cascade: an employer's placements are not deleted as a side effect.
    employer_id: Mapped[int] = mapped_column(ForeignKey("employers.id"), index=True)
    external_id: Mapped[str]
    title: Mapped[str]
    kind: Mapped[OpportunityKind]
    cluster: Mapped[str]
    lat: Mapped[float]
    lon: Mapped[float]
    address: Mapped[str | None]
    transit_accessible: Mapped[bool] = mapped_column(default=True)
    capacity: Mapped[int | None]
    min_age: Mapped[int | None]
    min_grade: Mapped[int | None]
    required_credentials: Mapped[list[str]] = mapped_column(json_column_type(), default=list)
    hazardous: Mapped[bool] = mapped_column(default=False)
    requires_mentor: Mapped[bool] = mapped_column(default=False)
    restricted: Mapped[bool] = mapped_column(default=False)
    # The employer's answers before solving (`scheduler.employer_edits`): confirmed (as it
    # stands), withdrawn (no seats in any solve), and the contact on site. `employer_version`
    # counts the employer's changes: an edit posted against an older version is refused
    # instead of overwriting the change made meanwhile.
    confirmed_at: Mapped[dt.datetime | None]
    withdrawn_at: Mapped[dt.datetime | None]
    contact_name: Mapped[str | None]
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    employer_version: Mapped[int] = mapped_column(default=0, server_default="0")

    round: Mapped[Round] = relationship(back_populates="opportunities")
    employer: Mapped[Employer] = relationship(back_populates="opportunities")
    slots: Mapped[list[Slot]] = relationship(
        back_populates="opportunity",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Slot.id",
    )
    accepts: Mapped[list[OpportunityAccept]] = relationship(
        back_populates="opportunity", cascade="all, delete-orphan", passive_deletes=True
    )


class Slot(Base):
    """A shift pattern of an opportunity with its seats; `blocks` are weekly or dated."""

    __tablename__ = "slots"
    __table_args__ = (
        UniqueConstraint("round_id", "external_id"),
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete=_OWNED))
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete=_OWNED), index=True
    )
    external_id: Mapped[str]
    capacity: Mapped[int]
    blocks: Mapped[list[Block]] = mapped_column(json_column_type(), default=list)

    round: Mapped[Round] = relationship(back_populates="slots")
    opportunity: Mapped[Opportunity] = relationship(back_populates="slots")


class Mentor(Base):
    """A workplace mentor (`employer_id` set) or a community mentor (`employer_id` null, with
    weekly `available` blocks)."""

    __tablename__ = "mentors"
    __table_args__ = (
        UniqueConstraint("round_id", "external_id"),
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete=_OWNED))
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("employers.id"), index=True)
    external_id: Mapped[str]
    name: Mapped[str]
    clusters: Mapped[list[str]] = mapped_column(json_column_type(), default=list)
    capacity: Mapped[int]
    available: Mapped[list[Block]] = mapped_column(json_column_type(), default=list)
    virtual: Mapped[bool] = mapped_column(default=False)

    round: Mapped[Round] = relationship(back_populates="mentors")
    employer: Mapped[Employer | None] = relationship(back_populates="mentors")


class Preference(Base):
    """A student's ranked choice of an opportunity (rank 1 = first)."""

    __tablename__ = "preferences"
    __table_args__ = (
        UniqueConstraint("student_id", "rank"),
        UniqueConstraint("student_id", "opportunity_id"),
        CheckConstraint("rank >= 1", name="rank_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = _round_fk()
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete=_OWNED))
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete=_OWNED), index=True
    )
    rank: Mapped[int]

    round: Mapped[Round] = relationship(back_populates="preferences")
    student: Mapped[Student] = relationship(back_populates="preferences")
    opportunity: Mapped[Opportunity] = relationship()


class OpportunityAccept(Base):
    """A student named in an opportunity's `accepts` list."""

    __tablename__ = "opportunity_accepts"
    __table_args__ = (UniqueConstraint("opportunity_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = _round_fk()
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id", ondelete=_OWNED))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete=_OWNED), index=True)

    round: Mapped[Round] = relationship(back_populates="accepts")
    opportunity: Mapped[Opportunity] = relationship(back_populates="accepts")
    student: Mapped[Student] = relationship()


class TravelOverride(Base):
    """A measured travel time for (student, opportunity, mode); `minutes` null: not possible."""

    __tablename__ = "travel_overrides"
    __table_args__ = (
        UniqueConstraint("student_id", "opportunity_id", "mode"),
        CheckConstraint("minutes >= 0", name="minutes_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = _round_fk()
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete=_OWNED))
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete=_OWNED), index=True
    )
    mode: Mapped[TravelMode]
    minutes: Mapped[int | None]

    round: Mapped[Round] = relationship(back_populates="travel_overrides")
    student: Mapped[Student] = relationship()
    opportunity: Mapped[Opportunity] = relationship()


class TravelGroup(Base):
    """Students who share measured travel times (`travel_groups`, an extension of the format):
    a timetable gives one time per origin, not per student, so a round stores 100,000 transit
    riders' times as a few dozen groups of a few thousand times instead of millions of rows.
    Members point at their group (`Student.travel_group_id`): a student is in one at most."""

    __tablename__ = "travel_groups"
    __table_args__ = (UniqueConstraint("round_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete=_OWNED))
    external_id: Mapped[str]

    round: Mapped[Round] = relationship(back_populates="travel_groups")
    times: Mapped[list[TravelGroupTime]] = relationship(
        back_populates="group", cascade="all, delete-orphan", passive_deletes=True
    )


class TravelGroupTime(Base):
    """A group's measured time to an opportunity by one mode; `minutes` null: not possible.
    A member's own `TravelOverride` for the same opportunity and mode wins."""

    __tablename__ = "travel_group_times"
    __table_args__ = (
        UniqueConstraint("group_id", "opportunity_id", "mode"),
        CheckConstraint("minutes >= 0", name="group_minutes_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = _round_fk()
    group_id: Mapped[int] = mapped_column(ForeignKey("travel_groups.id", ondelete=_OWNED))
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete=_OWNED), index=True
    )
    mode: Mapped[TravelMode]
    minutes: Mapped[int | None]

    group: Mapped[TravelGroup] = relationship(back_populates="times")
    opportunity: Mapped[Opportunity] = relationship()


class Pin(Base):
    """A coordinator's pin: the student must be placed there (slot and mentor optional).

    Pins keep their order (by `id`): a solution names infeasible pins by index. The format
    allows the same pin twice, so there is no unique constraint to refuse it."""

    __tablename__ = "pins"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = _round_fk()
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete=_OWNED), index=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete=_OWNED), index=True
    )
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("slots.id", ondelete=_OWNED), index=True)
    mentor_id: Mapped[int | None] = mapped_column(
        ForeignKey("mentors.id", ondelete=_OWNED), index=True
    )
    # Set when a later change of the round's data made this pin unable to hold on its own (the
    # rule and why, in words): kept for the coordinator to resolve, never dropped silently.
    broken_rule: Mapped[str | None] = mapped_column(String(16))
    broken_reason: Mapped[str | None] = mapped_column(Text)

    round: Mapped[Round] = relationship(back_populates="pins")
    student: Mapped[Student] = relationship()
    opportunity: Mapped[Opportunity] = relationship()
    slot: Mapped[Slot | None] = relationship()
    mentor: Mapped[Mentor | None] = relationship()


class Forbidden(Base):
    """A pair the coordinator has ruled out. Like pins, repeats are allowed by the format."""

    __tablename__ = "forbidden_pairs"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = _round_fk()
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete=_OWNED), index=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete=_OWNED), index=True
    )

    round: Mapped[Round] = relationship(back_populates="forbidden")
    student: Mapped[Student] = relationship()
    opportunity: Mapped[Opportunity] = relationship()
