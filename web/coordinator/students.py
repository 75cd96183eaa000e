"""A student's page (placement, week, preferences, why not placed, history) and its actions:
move (through the page of the slots they could take), unplace, pin, unpin, forbid.

Every action is a plain form post with CSRF to one `scheduler.actions` service. Success is
flashed and redirected back to the student (POST-redirect-GET); a refusal (`ActionRefused`)
re-renders the page with the rule in words next to the form that was refused, HTTP 409; a
viewer's forced post is refused by the service (`NotAllowed`, 403). The week drawn on the page
is geometry for the template only: which blocks sit where on an SVG grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField
from wtforms.validators import DataRequired, Length

from models import Round
from scheduler import actions
from scheduler.actions import ActionRefused, NotAllowed, Outcome
from scheduler.explain import label
from scheduler.queries import (
    Event,
    StudentStory,
    TimeBlock,
    UnknownId,
    find_opportunity,
    find_slot,
    move_targets,
)
from scheduler.student_page import may_edit, round_student, student_page
from web.coordinator import bp
from web.coordinator.common import actor, editable_round, round_of
from web.db import get_session

__all__ = ["RULES", "Week", "week"]

# A refusal's rule, named for a person before the service's own sentence.
RULES: Final = {
    "H1": "One placement per student",
    "H2": "Seats",
    "H3": "Eligibility",
    "H4": "Commute",
    "H5": "Schedule",
    "H6": "Weekly hours",
    "H7": "Hours allowed under 16",
    "H8": "Mentors",
    "H9": "Pins and ruled-out pairs",
    "state": "Not possible now",
    "version": "The round changed: reload this page",
    "access": "Not allowed",
    "lookup": "Not found",
}

# The history's actions in words.
EVENTS: Final = {
    "assignment.move": "Moved",
    "assignment.place": "Placed",
    "assignment.unplace": "Unplaced",
    "pin.add": "Pinned",
    "pin.remove": "Unpinned",
    "forbidden.add": "Ruled out an opportunity",
}


def _where(doc: object) -> str:
    """A placement or pin of the audit trail in words ("o2, slot c"); a list of them."""
    if doc is None:
        return "none"
    if isinstance(doc, list):
        return "; ".join(_where(d) for d in doc) or "none"
    if isinstance(doc, dict):
        if "opportunity" in doc:
            slot = doc.get("slot")
            return str(doc["opportunity"]) + (f", slot {slot}" if slot else "")
        if "placement" in doc:
            return _where(doc["placement"])
    return str(doc)


def summary(event: Event) -> str:
    """What an audit event about the student changed, in a line."""
    d = event.detail
    if event.action == "forbidden.add":
        return f"Ruled out {d.get('opportunity')}" + (
            f"; placement removed ({_where(d.get('before'))})"
            if isinstance(d.get("before"), dict) and d["before"].get("placement")
            else ""
        )
    said = f"From {_where(d.get('before'))} to {_where(d.get('after'))}"
    notes = d.get("notes") or ()
    return said + "".join(f"; {n}" for n in notes)


# --- Forms ---------------------------------------------------------------------------------------

_ID = [DataRequired(), Length(max=200)]


class MoveForm(FlaskForm):
    slot = HiddenField("Slot", validators=_ID)


class UnplaceForm(FlaskForm):
    unpin = BooleanField("Also remove the student's pins")


class PinForm(FlaskForm):
    opportunity = HiddenField("Opportunity", validators=_ID)
    slot = HiddenField("Slot", validators=[Length(max=200)])


class UnpinForm(FlaskForm):
    """Nothing but the CSRF token: every pin of the student goes."""


class ForbidForm(FlaskForm):
    # The choices are the page's; a forced value is looked up by the service (unknown: 404).
    opportunity = SelectField("Opportunity to rule out", validators=_ID, validate_choice=False)


# --- The week, drawn ---------------------------------------------------------------------------

DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_NAMES: Final = dict(zip(DAYS, _NAMES, strict=True))
# SVG geometry: a label column, one column per day, one row per hour.
_LABEL_W: Final = 52
_DAY_W: Final = 100
_HEAD_H: Final = 24
_HOUR_H: Final = 40


@dataclass(frozen=True, slots=True, kw_only=True)
class Box:
    """One block of the week: its kind (a CSS class: class, shift, travel, meeting), words
    for the table, and its rectangle on the SVG."""

    kind: str
    what: str
    day: str
    start: str
    end: str
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Week:
    """The student's weekly blocks on a grid of `days` by `hours`, and the dated ones apart."""

    days: tuple[tuple[str, int], ...]  # day name and its column's x
    hours: tuple[tuple[str, int], ...]  # "HH:00" and its row's y
    boxes: tuple[Box, ...]
    dated: tuple[tuple[str, str, TimeBlock], ...]  # kind, what, block
    width: int
    height: int


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _hhmm(minutes: int) -> str:
    minutes = max(0, min(24 * 60, minutes))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def week(story: StudentStory) -> Week:
    """The story's weekly blocks (classes and commitments, the slot's shifts with the travel
    before and after each, a mentor's meeting) laid out for the SVG and its table."""
    spans: list[tuple[str, str, str, int, int]] = []  # kind, what, day, start, end (minutes)
    dated: list[tuple[str, str, TimeBlock]] = []

    def add(kind: str, what: str, blocks: Iterable[TimeBlock]) -> None:
        for b in blocks:
            if b.day is None:
                dated.append((kind, what, b))
            else:
                spans.append((kind, what, b.day, _minutes(b.start), _minutes(b.end)))

    add("class", "Classes or other commitment", story.busy)
    p = story.placement
    if p is not None:
        add("shift", f"Shift at {p.opportunity_title}", p.blocks)
        trip = p.travel_minutes
        if trip:
            for b in p.blocks:
                if b.day is not None:
                    s, e = _minutes(b.start), _minutes(b.end)
                    spans.append(("travel", f"Travel there ({p.travel_mode})", b.day, s - trip, s))
                    spans.append(("travel", f"Travel back ({p.travel_mode})", b.day, e, e + trip))
    m = story.meeting
    if m is not None:
        where = "online" if m.virtual else "in person"
        what = f"Meeting with {m.mentor_name} ({where})"
        spans.append(("meeting", what, m.day, _minutes(m.start), _minutes(m.end)))
    used = {d for _, _, d, _, _ in spans}
    days = [d for d in DAYS if d in used or d in DAYS[:5]]
    first = min([7 * 60, *(s for *_, s, _ in spans)]) // 60
    last = -(-max([18 * 60, *(e for *_, e in spans)]) // 60)
    first, last = max(0, first), min(24, last)
    col = {d: _LABEL_W + i * _DAY_W for i, d in enumerate(days)}

    def y(minute: int) -> int:
        return _HEAD_H + (max(first * 60, min(last * 60, minute)) - first * 60) * _HOUR_H // 60

    order = {d: i for i, d in enumerate(DAYS)}
    boxes = tuple(
        Box(
            kind=kind,
            what=what,
            day=DAY_NAMES.get(day, day),
            start=_hhmm(s),
            end=_hhmm(e),
            x=col[day] + 2,
            y=y(s),
            width=_DAY_W - 4,
            height=max(2, y(e) - y(s)),
        )
        for kind, what, day, s, e in sorted(spans, key=lambda t: (order.get(t[2], 9), t[3], t[4]))
        if day in col
    )
    return Week(
        days=tuple((DAY_NAMES[d][:3], col[d]) for d in days),
        hours=tuple((f"{h:02d}:00", y(h * 60)) for h in range(first, last + 1)),
        boxes=boxes,
        dated=tuple(dated),
        width=_LABEL_W + len(days) * _DAY_W,
        height=y(last * 60) + 8,
    )


# --- The student's page --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """Which form was refused, and the rule in words."""

    form: str
    title: str
    message: str


def _refusal(form: str, refused: ActionRefused) -> Refusal:
    return Refusal(form=form, title=RULES.get(refused.rule, refused.rule), message=refused.message)


def _student_response(
    rnd: Round, student_id: int, refusal: Refusal | None = None
) -> ResponseReturnValue:
    page = student_page(get_session(), rnd, student_id, actor())
    story = page.story
    forbid = ForbidForm()
    # Opportunities worth ruling out: the student's ranked ones and their placement's.
    options: dict[str, str] = {
        c.opportunity: f"{c.title} ({c.employer_name})" for c in story.preferences
    }
    if story.placement is not None:
        p = story.placement
        options.setdefault(p.opportunity, f"{p.opportunity_title} ({p.employer_name})")
    forbid.opportunity.choices = [(k, v) for k, v in options.items() if k not in story.forbidden]
    body = render_template(
        "coordinator/student.html",
        rnd=rnd,
        story=story,
        editable=page.editable,
        holders=page.holders,
        more_holders=page.more_holders,
        week=week(story),
        rules=RULES,
        events=EVENTS,
        summary=summary,
        unplace_form=UnplaceForm(formdata=None),
        forbid_form=forbid,
        refusal=refusal,
    )
    return body, 200 if refusal is None else 409


@bp.get("/rounds/<int:round_id>/students/<int:student_id>")
def student(round_id: int, student_id: int) -> ResponseReturnValue:
    """One student: placement and week, preferences, why not placed, history, actions."""
    return _student_response(round_of(round_id), student_id)


def _act(
    rnd: Round,
    student_id: int,
    form_name: str,
    form: FlaskForm,
    do: Callable[[], Outcome],
    done: str,
) -> ResponseReturnValue:
    """Run one action: flash and redirect on success; the page with the refusal next to the
    form (409) otherwise. Access refusals (403) and unknown ids (404) go to the error pages."""
    session = get_session()
    if not form.validate_on_submit():
        session.rollback()
        errors = "; ".join(e for errs in form.errors.values() for e in errs)
        refused = ActionRefused("state", f"The form was incomplete: {errors}")
        return _student_response(rnd, student_id, _refusal(form_name, refused))
    try:
        outcome = do()
    except (NotAllowed, UnknownId):
        session.rollback()
        raise
    except ActionRefused as refused:
        session.rollback()
        return _student_response(rnd, student_id, _refusal(form_name, refused))
    session.commit()
    notes = "".join(f" Note: {n}." for n in outcome.notes)
    flash(done + notes, "success")
    return redirect(url_for("coordinator.student", round_id=rnd.id, student_id=student_id))


@bp.post("/rounds/<int:round_id>/students/<int:student_id>/unplace")
def student_unplace(round_id: int, student_id: int) -> ResponseReturnValue:
    """Take the student out of their placement (with their pins, when asked)."""
    rnd = editable_round(round_id)
    st = round_student(get_session(), rnd, student_id, actor())
    form = UnplaceForm()
    return _act(
        rnd,
        student_id,
        "unplace",
        form,
        lambda: actions.unplace(get_session(), rnd, st, user=actor(), unpin=form.unpin.data),
        f"{st.name} is no longer placed.",
    )


@bp.post("/rounds/<int:round_id>/students/<int:student_id>/pin")
def student_pin(round_id: int, student_id: int) -> ResponseReturnValue:
    """Pin the student to their placement, so that a re-solve keeps it."""
    rnd = editable_round(round_id)
    session, who = get_session(), actor()
    st = round_student(session, rnd, student_id, who)
    form = PinForm()

    def do() -> Outcome:
        opp = find_opportunity(session, rnd, form.opportunity.data, who)
        slot = find_slot(session, rnd, form.slot.data, who) if form.slot.data else None
        return actions.pin(session, rnd, st, opp, slot, user=who)

    return _act(rnd, student_id, "pin", form, do, f"{st.name} is pinned to this placement.")


@bp.post("/rounds/<int:round_id>/students/<int:student_id>/unpin")
def student_unpin(round_id: int, student_id: int) -> ResponseReturnValue:
    """Remove every pin of the student."""
    rnd = editable_round(round_id)
    session, who = get_session(), actor()
    st = round_student(session, rnd, student_id, who)
    return _act(
        rnd,
        student_id,
        "unpin",
        UnpinForm(),
        lambda: actions.unpin(session, rnd, st, user=who),
        f"{st.name}'s pins are removed.",
    )


@bp.post("/rounds/<int:round_id>/students/<int:student_id>/forbid")
def student_forbid(round_id: int, student_id: int) -> ResponseReturnValue:
    """Rule out one opportunity for the student."""
    rnd = editable_round(round_id)
    session, who = get_session(), actor()
    st = round_student(session, rnd, student_id, who)
    form = ForbidForm()

    def do() -> Outcome:
        opp = find_opportunity(session, rnd, form.opportunity.data, who)
        return actions.forbid(session, rnd, st, opp, user=who)

    return _act(
        rnd, student_id, "forbid", form, do, f"That opportunity is ruled out for {st.name}."
    )


# --- Where the student could move ----------------------------------------------------------------


def _move_response(
    rnd: Round, student_id: int, refusal: Refusal | None = None
) -> ResponseReturnValue:
    session, who = get_session(), actor()
    st = round_student(session, rnd, student_id, who)
    try:
        targets = move_targets(session, rnd, st, who)
    except (NotAllowed, UnknownId):
        raise
    except ActionRefused as refused:
        # No chosen run: nothing to move within; the page says so.
        targets, refusal = None, refusal or _refusal("move", refused)
    body = render_template(
        "coordinator/move.html",
        rnd=rnd,
        student_id=student_id,
        name=st.name,
        targets=targets,
        editable=may_edit(session, rnd, who),
        refusal=refusal,
        rules=RULES,
        label=label,
    )
    return body, 200 if refusal is None else 409


@bp.get("/rounds/<int:round_id>/students/<int:student_id>/move", endpoint="move_targets")
def move_targets_page(round_id: int, student_id: int) -> ResponseReturnValue:
    """The slots the student could take, best first, each with a "Move here" button."""
    return _move_response(round_of(round_id), student_id)


@bp.post("/rounds/<int:round_id>/students/<int:student_id>/move")
def student_move(round_id: int, student_id: int) -> ResponseReturnValue:
    """Move the student to the slot chosen (pinned there, so a re-solve keeps it)."""
    rnd = editable_round(round_id)
    session, who = get_session(), actor()
    st = round_student(session, rnd, student_id, who)
    form = MoveForm()
    if not form.validate_on_submit():
        session.rollback()
        return _move_response(rnd, student_id, Refusal("move", "Incomplete form", "Choose a slot."))
    try:
        slot = find_slot(session, rnd, form.slot.data, who)
        outcome = actions.move(session, rnd, st, slot, user=who)
    except (NotAllowed, UnknownId):
        session.rollback()
        raise
    except ActionRefused as refused:
        session.rollback()
        return _move_response(rnd, student_id, _refusal("move", refused))
    session.commit()
    notes = "".join(f" Note: {n}." for n in outcome.notes)
    flash(f"{st.name} moved to slot {slot.external_id}.{notes}", "success")
    return redirect(url_for("coordinator.student", round_id=rnd.id, student_id=student_id))
