"""Import pages: a round's spreadsheets or problem document uploaded, previewed, applied; a new
round from files; the blank templates.

The upload is previewed by `scheduler.import_preview`, which keeps a clean upload on the server
(under the instance folder, or `IMPORT_FOLDER`) under a random token bound to the user and the
round; the token also sits in the Flask session, per round, so only the latest preview of this
browser can be applied. Applying posts only the token and the "accept the breaks" box: the files
applied are the kept ones, checked again.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from werkzeug.exceptions import NotFound
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    SelectField,
    StringField,
    SubmitField,
    ValidationError,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from scheduler.import_preview import (
    ImportApplied,
    ImportRefused,
    RoundHeader,
    Upload,
    UploadExpired,
    UploadStore,
    apply_import,
    create_round_from_upload,
    editable_programs,
    import_page,
    new_round_programs,
    preview_import,
    preview_new_round,
    table_kinds,
)
from scheduler.tables import KIND_ORDER, TableFile, template_bytes
from web.coordinator import bp
from web.coordinator.common import actor, round_of
from web.db import get_session

_SESSION_KEY = "wbl_imports"
_KEPT_PREVIEWS = 8
_ENCODING_VALUES = ("", "cp1252")
_ENCODINGS = [
    SelectChoice("", "UTF-8 (Excel: CSV UTF-8)"),
    SelectChoice("cp1252", "Windows-1252 (Excel on Windows: CSV)"),
]
_MIMETYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class UploadForm(FlaskForm):
    """The files and the import's options. An upload without files is the service's refusal
    (listed like the files' problems), so that access is checked before anything else."""

    files = MultipleFileField("Files")
    replace = BooleanField("Each table is the whole list of its kind (rows not in it are removed)")
    encoding = SelectField("Encoding of CSV files", choices=_ENCODINGS, default="")
    submit = SubmitField("Preview")


class ApplyForm(FlaskForm):
    upload = HiddenField(validators=[DataRequired()])
    accept_breaks = BooleanField("Accept the breaks: apply anyway and mark them for review")
    submit = SubmitField("Apply")


def _holidays(text: str | None) -> list[dt.date]:
    days = []
    for word in re.split(r"[\s,;]+", (text or "").strip()):
        if word:
            try:
                days.append(dt.date.fromisoformat(word))
            except ValueError as exc:
                raise ValidationError(f"{word!r} is not a date (YYYY-MM-DD).") from exc
    return days


class NewRoundForm(UploadForm):
    program = SelectField("Program", coerce=int, validators=[InputRequired()])
    round_id = StringField("Round id", validators=[Optional(), Length(max=64)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    start_date = DateField("First day", validators=[Optional()])
    end_date = DateField("Last day", validators=[Optional()])
    timezone = StringField("Time zone", default="America/Chicago", validators=[Optional()])
    holidays = StringField("Holidays", validators=[Optional()])
    summer = BooleanField("Summer round (summer hours, commutes from home)")
    mentor_meeting_minutes = IntegerField(
        "Mentor meeting minutes", default=30, validators=[Optional(), NumberRange(min=15)]
    )
    submit = SubmitField("Preview")

    def documents_only(self) -> bool:
        names = [f.filename for f in self.files.data or () if f and f.filename]
        return bool(names) and all(n.lower().endswith(".json") for n in names)

    def validate(self, extra_validators: Any = None) -> bool:
        ok: bool = super().validate(extra_validators)
        if self.documents_only():
            return ok  # a document carries its round's own header
        for f in (self.round_id, self.name, self.start_date, self.end_date, self.timezone):
            if not f.data:
                f.errors = [*f.errors, "Needed for a round from spreadsheets."]
                ok = False
        if self.timezone.data and self.timezone.data not in available_timezones():
            self.timezone.errors = [*self.timezone.errors, "Not an IANA time zone name."]
            ok = False
        start, end = self.start_date.data, self.end_date.data
        if start and end and end < start:
            self.end_date.errors = [*self.end_date.errors, "The last day is before the first."]
            ok = False
        try:
            _holidays(self.holidays.data)
        except ValidationError as exc:
            self.holidays.errors = [*self.holidays.errors, str(exc)]
            ok = False
        return ok

    def header(self) -> RoundHeader | None:
        if self.documents_only():
            return None
        return RoundHeader(
            external_id=self.round_id.data.strip(),
            name=self.name.data.strip(),
            start_date=self.start_date.data,
            end_date=self.end_date.data,
            timezone=self.timezone.data.strip(),
            holidays=tuple(_holidays(self.holidays.data)),
            summer=bool(self.summer.data),
            mentor_meeting_minutes=self.mentor_meeting_minutes.data or 30,
        )


class CreateForm(FlaskForm):
    upload = HiddenField(validators=[DataRequired()])
    program = HiddenField(validators=[DataRequired()])
    submit = SubmitField("Create the round")


def _store() -> UploadStore:
    folder = current_app.config.get("IMPORT_FOLDER") or Path(current_app.instance_path) / "imports"
    return UploadStore(Path(folder))


def _upload(form: UploadForm) -> Upload:
    files = tuple(
        TableFile(Path(f.filename).name, f.read())
        for f in form.files.data or ()
        if f and f.filename
    )
    encoding = form.encoding.data if form.encoding.data in _ENCODING_VALUES else None
    return Upload(files=files, replace=bool(form.replace.data), encoding=encoding or None)


def _remember(scope: str, token: str | None) -> None:
    """Bind the kept upload to this browser's session: only its latest preview applies."""
    kept = dict(session.get(_SESSION_KEY) or {})
    kept.pop(scope, None)
    if token is not None:
        kept[scope] = token
    # The cookie stays small: the latest few previews (an older one has to be uploaded again).
    session[_SESSION_KEY] = dict(list(kept.items())[-_KEPT_PREVIEWS:])


def _token(scope: str, posted: str | None) -> str | None:
    """The posted token if it is this session's latest for `scope`, else None (expired)."""
    kept = (session.get(_SESSION_KEY) or {}).get(scope)
    return posted if posted and kept == posted else None


def _applied_message(done: ImportApplied) -> str:
    parts = [
        f"{c.kind}: {c.added} added, {c.updated} updated"
        + (f", {c.removed} removed" if c.removed else "")
        for c in done.changes
    ]
    head = (
        f"Round {done.round_name} created" if done.created else f"Imported into {done.round_name}"
    )
    text = head + (": " + "; ".join(parts) if parts else "") + "."
    if done.breaks:
        text += f" {len(done.breaks)} broken pins or placements are marked for review."
    return text


# --- A round's import -------------------------------------------------------------------------


@bp.route("/rounds/<int:round_id>/import", methods=["GET", "POST"])
def import_round(round_id: int) -> ResponseReturnValue:
    """Upload a round's tables or document; a preview of what would change and break."""
    rnd = round_of(round_id)
    form = UploadForm()
    if request.method == "POST":  # (CSRF is checked for every POST before the view)
        preview = preview_import(get_session(), rnd, _upload(form), user=actor(), store=_store())
        _remember(f"round {rnd.id}", preview.token)
        return render_template(
            "coordinator/import_preview.html",
            rnd=rnd,
            preview=preview,
            apply=ApplyForm(formdata=None, upload=preview.token),
            refusal=None,
        ), (200 if preview.ok else 422)
    page = import_page(get_session(), rnd, user=actor())
    return render_template("coordinator/import.html", rnd=rnd, page=page, form=form, preview=None)


@bp.post("/rounds/<int:round_id>/import/apply")
def apply_round_import(round_id: int) -> ResponseReturnValue:
    """Apply the previewed upload (kept on the server), with or without accepting breaks."""
    rnd = round_of(round_id)
    form = ApplyForm()
    scope = f"round {rnd.id}"
    db = get_session()
    try:
        done = apply_import(
            db,
            rnd,
            _token(scope, form.upload.data),
            user=actor(),
            store=_store(),
            accept_breaks=bool(form.accept_breaks.data),
        )
    except ImportRefused as exc:
        db.rollback()
        _remember(scope, exc.preview.token)
        return render_template(
            "coordinator/import_preview.html",
            rnd=rnd,
            preview=exc.preview,
            apply=ApplyForm(formdata=None, upload=exc.preview.token),
            refusal=exc.message.split(": ", 1)[-1],
        ), 409
    except UploadExpired as exc:
        db.rollback()
        _remember(scope, None)
        page = import_page(db, rnd, user=actor())
        return render_template(
            "coordinator/import.html",
            rnd=rnd,
            page=page,
            form=UploadForm(formdata=None),
            refusal=exc.message.split(": ", 1)[-1],
        ), 409
    db.commit()
    _remember(scope, None)
    flash(_applied_message(done), "success")
    return redirect(url_for("coordinator.dashboard", round_id=rnd.id))


# --- A new round ------------------------------------------------------------------------------


@bp.route("/rounds/new", methods=["GET", "POST"])
def new_round() -> ResponseReturnValue:
    """A new round of a program from spreadsheets (with the round's dates) or a document."""
    db = get_session()
    programs = new_round_programs(db, user=actor())
    form = NewRoundForm()
    form.program.choices = [SelectChoice(str(p.id), p.name) for p in programs]
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template(
                "coordinator/new_round.html", form=form, kinds=table_kinds()
            ), 422
        preview = preview_new_round(
            db, form.program.data, form.header(), _upload(form), user=actor(), store=_store()
        )
        _remember(f"program {form.program.data}", preview.token)
        create = CreateForm(formdata=None, upload=preview.token, program=str(form.program.data))
        return render_template(
            "coordinator/new_round_preview.html", preview=preview, create=create, refusal=None
        ), (200 if preview.ok else 422)
    return render_template("coordinator/new_round.html", form=form, kinds=table_kinds())


@bp.post("/rounds/new/create")
def create_round() -> ResponseReturnValue:
    """Create the previewed round from the upload kept on the server."""
    form = CreateForm()
    db = get_session()
    # A program that is not a number is no program: refused as such (403) by the service.
    program_id = int(form.program.data) if (form.program.data or "").isdigit() else 0
    try:
        done = create_round_from_upload(
            db,
            program_id,
            _token(f"program {program_id}", form.upload.data),
            user=actor(),
            store=_store(),
        )
    except ImportRefused as exc:
        db.rollback()
        return render_template(
            "coordinator/new_round_preview.html",
            preview=exc.preview,
            create=None,
            refusal=exc.message.split(": ", 1)[-1],
        ), 409
    except UploadExpired as exc:
        db.rollback()
        programs = new_round_programs(db, user=actor())
        fresh = NewRoundForm(formdata=None)
        fresh.program.choices = [SelectChoice(str(p.id), p.name) for p in programs]
        return render_template(
            "coordinator/new_round.html",
            form=fresh,
            kinds=table_kinds(),
            refusal=exc.message.split(": ", 1)[-1],
        ), 409
    db.commit()
    _remember(f"program {program_id}", None)
    flash(_applied_message(done), "success")
    return redirect(url_for("coordinator.dashboard", round_id=done.round_id))


# --- Templates --------------------------------------------------------------------------------


@bp.get("/import/templates/<kind>.<fmt>")
def import_template(kind: str, fmt: str) -> ResponseReturnValue:
    """A blank table of `kind` with its header row (CSV), or with a help sheet too (XLSX)."""
    if kind not in KIND_ORDER or fmt not in _MIMETYPES:
        raise NotFound()
    data = template_bytes(kind, "csv" if fmt == "csv" else "xlsx")
    return Response(
        data,
        mimetype=_MIMETYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{kind}.{fmt}"'},
    )


@bp.app_context_processor
def _new_round_link() -> dict[str, object]:
    def may_create_round() -> bool:
        """Called only by the rounds page: one query there, none elsewhere."""
        return bool(editable_programs(get_session(), actor()))

    return {"may_create_round": may_create_round}
