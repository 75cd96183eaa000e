"""The employer's page (blueprint `employer`): before results are published, its
opportunities to confirm, edit, withdraw or add to; once published, the students placed with
it to accept or decline (with a reason), and its calendar feed. Each view parses its form,
calls one service (`scheduler.employer_edits`, `scheduler.people`) and redirects, or renders
the form again with the refusal next to its field (HTTP 409 for a rule, 400 for field errors).
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import Optional

from scheduler.employer_edits import (
    EditRefused,
    OpportunityEdit,
    OpportunityRow,
    add_opportunity,
    answer_placement,
    confirm_opportunity,
    edit_opportunity,
    withdraw_opportunity,
)
from scheduler.errors import ActionRefused
from scheduler.links import feed_url, holder_token
from scheduler.mail import enqueue as enqueue_mail
from scheduler.people import employer_page, holder_round
from web.db import get_session
from web.people import employer_bp as bp
from web.people import holder

_KIND = "employer"


class VersionForm(FlaskForm):
    """Confirm or Withdraw: the version of the opportunity the page showed."""

    version = IntegerField(validators=[Optional()])


class AnswerForm(FlaskForm):
    """Accept or Decline a placed student (the document id; the reason with Decline)."""

    student = HiddenField()
    reason = TextAreaField("Reason")


class OpportunityForm(FlaskForm):
    """The fixed fields of the edit and add forms; the shifts are read per slot."""

    version = HiddenField()
    title = StringField("Title")
    cluster = StringField("Career cluster")
    capacity = StringField("Students in total (leave empty for the sum of the shifts)")
    address = StringField("Site address")
    transit_accessible = BooleanField("Public transit reaches the site")
    min_age = StringField("Minimum age")
    min_grade = StringField("Minimum grade")
    required_credentials = StringField("Required credentials (comma-separated)")
    contact_name = StringField("Contact name")
    contact_email = StringField("Contact email")
    contact_phone = StringField("Contact phone")


def _base_url() -> str:
    return str(current_app.config["BASE_URL"])


def _home(refusal: str | None = None, status: int = 200) -> ResponseReturnValue:
    me = holder(_KIND)
    session = get_session()
    page = employer_page(session, me)
    token = holder_token(session, me, secret=current_app.config["SECRET_KEY"].encode())
    feed = feed_url(_base_url(), token)
    return (
        render_template(
            "people/employer.html",
            page=page,
            form=VersionForm(),
            answer=AnswerForm(),
            refusal=refusal,
            feed=feed,
            webcal="webcal://" + feed.split("://", 1)[-1],
        ),
        status,
    )


@bp.get("/")
def home() -> ResponseReturnValue:
    """The employer's opportunities, or (once published) its placed students."""
    return _home()


def _version_action(opportunity_id: int, *, withdraw: bool) -> ResponseReturnValue:
    me = holder(_KIND)
    form = VersionForm()
    if not form.validate_on_submit():
        return _home("The form was incomplete: reload the page and try again.", 400)
    session = get_session()
    rnd = holder_round(session, me)
    try:
        if withdraw:
            withdraw_opportunity(session, rnd, me, opportunity_id, version=form.version.data)
        else:
            confirm_opportunity(session, rnd, me, opportunity_id, version=form.version.data)
    except ActionRefused as refused:
        session.rollback()
        return _home(refused.message.split(": ", 1)[-1], 403 if refused.rule == "access" else 409)
    session.commit()
    flash("Withdrawn." if withdraw else "Confirmed. Thank you.", "success")
    return redirect(url_for("employer.home"))


@bp.post("/opportunities/<int:opportunity_id>/confirm")
def confirm(opportunity_id: int) -> ResponseReturnValue:
    """Confirm an opportunity as it stands."""
    return _version_action(opportunity_id, withdraw=False)


@bp.post("/opportunities/<int:opportunity_id>/withdraw")
def withdraw(opportunity_id: int) -> ResponseReturnValue:
    """Withdraw an opportunity."""
    return _version_action(opportunity_id, withdraw=True)


def _edit_of(form: OpportunityForm, slot_ids: list[int]) -> OpportunityEdit:
    return OpportunityEdit(
        title=form.title.data or "",
        cluster=form.cluster.data or "",
        capacity=form.capacity.data or "",
        address=form.address.data or "",
        transit_accessible=bool(form.transit_accessible.data),
        min_age=form.min_age.data or "",
        min_grade=form.min_grade.data or "",
        required_credentials=form.required_credentials.data or "",
        contact_name=form.contact_name.data or "",
        contact_email=form.contact_email.data or "",
        contact_phone=form.contact_phone.data or "",
        slots={
            sid: (
                request.form.get(f"slot-{sid}-capacity", ""),
                request.form.get(f"slot-{sid}-blocks", ""),
            )
            for sid in slot_ids
        },
    )


def _fill(form: OpportunityForm, o: OpportunityRow) -> None:
    form.version.data = str(o.version)
    form.capacity.data = "" if o.capacity is None else str(o.capacity)
    form.address.data = o.address or ""
    form.transit_accessible.data = o.transit_accessible
    form.min_age.data = "" if o.min_age is None else str(o.min_age)
    form.min_grade.data = "" if o.min_grade is None else str(o.min_grade)
    form.required_credentials.data = ", ".join(o.required_credentials)
    form.contact_name.data = o.contact_name or ""
    form.contact_email.data = o.contact_email or ""
    form.contact_phone.data = o.contact_phone or ""


def _field_errors(form: OpportunityForm, fields: dict[str, str]) -> dict[str, str]:
    """Put field errors on the form's fields; the rest (per slot) are returned."""
    rest = {}
    for name, message in fields.items():
        f = getattr(form, name, None)
        if f is not None and hasattr(f, "errors"):
            f.errors = [*list(f.errors or []), message]
        else:
            rest[name] = message
    return rest


@bp.route("/opportunities/<int:opportunity_id>/edit", methods=["GET", "POST"])
def edit(opportunity_id: int) -> ResponseReturnValue:
    """Edit an opportunity: capacity, shifts and dates, requirements, site, contact."""
    me = holder(_KIND)
    session = get_session()
    page = employer_page(session, me)
    found = [o for o in page.opportunities if o.id == opportunity_id]
    if not found:
        return render_template("people/invalid.html"), 404
    opp = found[0]
    form = OpportunityForm()
    slots = {s.id: (str(s.capacity), s.blocks) for s in opp.slots}
    slot_errors: dict[str, str] = {}
    refusal = None
    status = 200
    if request.method == "POST":
        slots = {
            s.id: (
                request.form.get(f"slot-{s.id}-capacity", ""),
                request.form.get(f"slot-{s.id}-blocks", ""),
            )
            for s in opp.slots
        }
        if not form.validate_on_submit():
            refusal, status = "The form expired: reload the page and try again.", 400
        else:
            try:
                version = int(form.version.data or -1)
            except ValueError:
                version = -1
            try:
                edit_opportunity(
                    session,
                    holder_round(session, me),
                    me,
                    opportunity_id,
                    _edit_of(form, [s.id for s in opp.slots]),
                    version=version,
                )
            except EditRefused as refused:
                session.rollback()
                slot_errors = _field_errors(form, refused.fields)
                refusal, status = "Some fields need a change: see below.", 400
            except ActionRefused as refused:
                session.rollback()
                refusal = refused.message.split(": ", 1)[-1]
                status = 403 if refused.rule == "access" else 409
            else:
                session.commit()
                flash(f"Saved the changes to {opp.title}.", "success")
                return redirect(url_for("employer.home"))
    else:
        _fill(form, opp)
    return (
        render_template(
            "people/employer_edit.html",
            page=page,
            opp=opp,
            form=form,
            slots=slots,
            slot_errors=slot_errors,
            refusal=refusal,
        ),
        status,
    )


@bp.route("/opportunities/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    """Add an opportunity (one shift pattern; more by asking the coordinator)."""
    me = holder(_KIND)
    session = get_session()
    page = employer_page(session, me)
    form = OpportunityForm()
    slots = {0: (request.form.get("slot-0-capacity", ""), request.form.get("slot-0-blocks", ""))}
    slot_errors: dict[str, str] = {}
    refusal = None
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            refusal, status = "The form expired: reload the page and try again.", 400
        else:
            try:
                add_opportunity(session, holder_round(session, me), me, _edit_of(form, [0]))
            except EditRefused as refused:
                session.rollback()
                slot_errors = _field_errors(form, refused.fields)
                refusal, status = "Some fields need a change: see below.", 400
            except ActionRefused as refused:
                session.rollback()
                refusal = refused.message.split(": ", 1)[-1]
                status = 403 if refused.rule == "access" else 409
            else:
                session.commit()
                flash(f"Added {form.title.data}.", "success")
                return redirect(url_for("employer.home"))
    else:
        form.transit_accessible.data = True
    return (
        render_template(
            "people/employer_new.html",
            page=page,
            form=form,
            slots=slots,
            slot_errors=slot_errors,
            refusal=refusal,
        ),
        status,
    )


def _answer(*, accepted: bool) -> ResponseReturnValue:
    me = holder(_KIND)
    form = AnswerForm()
    if not form.validate_on_submit():
        return _home("The form expired: reload the page and try again.", 400)
    session = get_session()
    try:
        name, mail = answer_placement(
            session,
            holder_round(session, me),
            me,
            form.student.data or "",
            accepted=accepted,
            reason=form.reason.data or "",
        )
    except EditRefused as refused:
        session.rollback()
        return _home(refused.fields.get("reason", refused.message), 400)
    except ActionRefused as refused:
        session.rollback()
        return _home(refused.message.split(": ", 1)[-1], 403 if refused.rule == "access" else 409)
    session.commit()
    enqueue_mail(mail)
    flash(
        f"Accepted {name}." if accepted else f"Declined {name}. The coordinator will be told.",
        "success",
    )
    return redirect(url_for("employer.home"))


@bp.post("/accept")
def accept() -> ResponseReturnValue:
    """Accept a placed student."""
    return _answer(accepted=True)


@bp.post("/decline")
def decline() -> ResponseReturnValue:
    """Decline a placed student, with a reason."""
    return _answer(accepted=False)
