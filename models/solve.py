"""Solving a round: `SolveRun` (one solve job and its answer) and what it placed.

A run belongs to a round; its `Assignment`s, community-mentor `Mentorship`s and `Unplaced`
students (with their reason codes) belong to the run, so several runs of one round sit side by
side until the coordinator chooses one (`Round.chosen_run_id`). Together with the run's own
columns they hold a whole `wbl-solution/1` document.

`objective`, `bound` and `gap` are floats, for sorting and progress reports. The solver's
objective is an exact integer that can exceed 64 bits (four levels weighed into one number), so
the exact values travel in `result` with the rest of the document's extensions (objective and
bound levels, lottery, stats, infeasible pins): JSON keeps integers of any size.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, json_column_type, utcnow
from models.round import TravelMode

if TYPE_CHECKING:
    from models.program import User
    from models.round import Mentor, Opportunity, Round, Slot, Student


class RunStatus(enum.StrEnum):
    """The job's state; what the solver answered is `SolveRun.solution_status`."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class SolutionStatus(enum.StrEnum):
    """The `status` of a `wbl-solution/1` document."""

    optimal = "optimal"
    feasible = "feasible"
    infeasible = "infeasible"
    unknown = "unknown"


class AssignmentStatus(enum.StrEnum):
    """A placement's life after the solve: `proposed` by the solver, `pinned` by a coordinator,
    `published` to employer and student, `confirmed` or `declined` by the employer."""

    proposed = "proposed"
    pinned = "pinned"
    published = "published"
    confirmed = "confirmed"
    declined = "declined"


class Weekday(enum.StrEnum):
    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"


class SolveRun(Base):
    """One solve of a round: options in, progress while it runs, the answer when it is done."""

    __tablename__ = "solve_runs"
    __table_args__ = (CheckConstraint("progress >= 0 AND progress <= 1", name="progress_fraction"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    # The run outlives its author's account.
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    options: Mapped[dict[str, Any]] = mapped_column(json_column_type(), default=dict)
    status: Mapped[RunStatus] = mapped_column(default=RunStatus.queued)
    progress: Mapped[float] = mapped_column(default=0.0)
    stage: Mapped[str | None]
    solution_status: Mapped[SolutionStatus | None]
    objective: Mapped[float | None]
    bound: Mapped[float | None]
    gap: Mapped[float | None]
    metrics: Mapped[dict[str, Any] | None] = mapped_column(json_column_type(nullable=True))
    # The solution's extensions (exact levels, lottery order, stats): about a megabyte at
    # 100,000 students, so loaded only when read, not with every run a coordinator edits.
    result: Mapped[dict[str, Any] | None] = mapped_column(
        json_column_type(nullable=True), deferred=True
    )
    # When a coordinator first changed the run's placements by hand: since then the run is no
    # longer the solver's proven optimum (its solution says `"edited": true`).
    edited_at: Mapped[dt.datetime | None]
    # The exact sum of the assignments' travel minutes, kept with each edit: the metrics' mean
    # is rounded, and recounting it reads every assignment of the run.
    travel_minutes_total: Mapped[int | None]
    # How many unplaced students have each reason code (`scheduler.queries.unplaced_reasons`),
    # with the key of the state it was counted in (`{"key": ..., "counts": [[code, n]...]}`):
    # counting 60,000 stored reason lists takes half a second, so a dashboard counts once per
    # change of the run, not once per view.
    reason_counts: Mapped[dict[str, Any] | None] = mapped_column(json_column_type(nullable=True))
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    # Written every few seconds by the worker solving the run: a run whose heartbeat stops
    # (the worker was killed) is marked failed instead of staying "running" for ever.
    heartbeat_at: Mapped[dt.datetime | None]
    worker: Mapped[str | None] = mapped_column(String(200))
    wall_seconds: Mapped[float | None]
    log_tail: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)

    round: Mapped[Round] = relationship(back_populates="runs", foreign_keys=[round_id])
    created_by: Mapped[User | None] = relationship()
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )
    mentorships: Mapped[list[Mentorship]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )
    unplaced: Mapped[list[Unplaced]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<SolveRun {self.id} round={self.round_id} {self.status.value}>"


class Assignment(Base):
    """A student placed in a slot by a run (H1: at most one per student and run)."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("run_id", "student_id"),
        # A run's placements page by page in each sort of the assignments page, a keyset
        # (key, student) each, and those of an opportunity (filters, seats counted by
        # scheduler.queries): a range of one index, never a sort of the run.
        Index(None, "run_id", "travel_minutes", "student_id"),
        Index(None, "run_id", "preference_rank", "student_id"),
        Index(None, "run_id", "status", "student_id"),
        Index(None, "run_id", "opportunity_id", "student_id"),
        CheckConstraint("travel_minutes >= 0", name="travel_minutes_not_negative"),
        CheckConstraint("preference_rank >= 1", name="preference_rank_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # run_id leads the unique constraint, whose index serves the foreign key too.
    run_id: Mapped[int] = mapped_column(ForeignKey("solve_runs.id", ondelete="CASCADE"))
    # No cascade from the round's rows: a student or slot with placements is not deleted by
    # accident; deleting the round (or the run) removes them together.
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id"), index=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id"), index=True)
    mentor_id: Mapped[int | None] = mapped_column(ForeignKey("mentors.id"), index=True)
    travel_mode: Mapped[TravelMode]
    travel_minutes: Mapped[int]
    preference_rank: Mapped[int | None]
    status: Mapped[AssignmentStatus] = mapped_column(default=AssignmentStatus.proposed)
    # Set when a later change of the round's data (an import, an employer's edit accepted by
    # the coordinator) made this placement break a hard rule: the rule (`H2`..`H9`) and why, in
    # words. The placement stays until the coordinator moves or re-solves; cleared by either.
    broken_rule: Mapped[str | None] = mapped_column(String(16))
    broken_reason: Mapped[str | None] = mapped_column(Text)

    run: Mapped[SolveRun] = relationship(back_populates="assignments")
    student: Mapped[Student] = relationship()
    opportunity: Mapped[Opportunity] = relationship()
    slot: Mapped[Slot] = relationship()
    mentor: Mapped[Mentor | None] = relationship()


class Mentorship(Base):
    """A community mentor's weekly meeting with a student; times are "HH:MM", which sort and
    compare correctly as text (and "24:00", the end of a day, is no SQL TIME)."""

    __tablename__ = "mentorships"
    __table_args__ = (
        UniqueConstraint("run_id", "student_id"),
        CheckConstraint("start_time < end_time", name="start_before_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("solve_runs.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    mentor_id: Mapped[int] = mapped_column(ForeignKey("mentors.id"), index=True)
    day: Mapped[Weekday]
    start_time: Mapped[str] = mapped_column(String(5))
    end_time: Mapped[str] = mapped_column(String(5))

    run: Mapped[SolveRun] = relationship(back_populates="mentorships")
    student: Mapped[Student] = relationship()
    mentor: Mapped[Mentor] = relationship()


class Unplaced(Base):
    """A student the run left unplaced, with the solution's reasons
    (`[{"code", "count"?, "detail"?}]`)."""

    __tablename__ = "unplaced_students"
    __table_args__ = (UniqueConstraint("run_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("solve_runs.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(json_column_type(), default=list)

    run: Mapped[SolveRun] = relationship(back_populates="unplaced")
    student: Mapped[Student] = relationship()
