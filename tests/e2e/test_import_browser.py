"""The import pages in a real browser: a coordinator fills the downloaded templates with a small
round, uploads them through the file input found by its label, reads the preview and applies it,
at desktop and phone widths, axe-clean and without sideways scrolling; the new-round page too."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from models import Program, User
from scheduler.tables import create_round
from tests.conftest import PASSWORD
from tests.e2e.conftest import Live, axe_clean, no_horizontal_scroll
from tests.scheduler.test_tables import TABLES


def _log_in(view: Page, live: Live, user: User, path: str) -> None:
    view.goto(f"{live.url}{path}")
    view.get_by_label("Email").fill(user.email)
    view.get_by_label("Password").fill(PASSWORD)
    view.get_by_role("button", name="Log in").click()


def _filled_templates(view: Page, live: Live, folder: Path) -> list[Path]:
    """Each kind's CSV template, downloaded as the browser's session, filled with TABLES."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, text in TABLES.items():
        response = view.request.get(f"{live.url}/import/templates/{kind}.csv")
        assert response.ok
        header = next(csv.reader(io.StringIO(response.text().lstrip("\ufeff"))))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=header)
        writer.writeheader()
        writer.writerows(csv.DictReader(io.StringIO(text)))
        path = folder / f"{kind}.csv"
        path.write_text(out.getvalue(), encoding="utf-8")
        paths.append(path)
    return paths


def _check(view: Page, shoot: Callable[[Page, str], Path], name: str) -> None:
    axe_clean(view)
    no_horizontal_scroll(view)
    shoot(view, name)


def test_import_templates_preview_apply(
    live: Live,
    page: Page,
    phone: Page,
    session: Session,
    program: Program,
    make_user: Callable[..., User],
    shoot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    """Filled templates are uploaded by label, previewed and applied, at both widths."""
    live.app.config["IMPORT_FOLDER"] = str(tmp_path / "imports")
    rnd = create_round(
        session,
        program,
        "fall",
        name="Fall 2026",
        start_date="2026-09-08",
        end_date="2026-12-18",
        timezone="America/Chicago",
        holidays=["2026-11-26"],
    )
    session.commit()
    user = make_user()
    for view, width, verb in ((page, "desktop", "added"), (phone, "phone", "updated")):
        _log_in(view, live, user, f"/rounds/{rnd.id}/import")
        expect(view.get_by_role("heading", name="Import", exact=True)).to_be_visible()
        _check(view, shoot, f"import-{width}")
        files = _filled_templates(view, live, tmp_path / width)
        view.get_by_label("Files", exact=True).set_input_files(files)
        view.get_by_role("button", name="Preview").click()
        expect(view.get_by_role("heading", name="Import preview")).to_be_visible()
        expect(view.get_by_role("heading", name="What will change")).to_be_visible()
        students = view.get_by_role("row").filter(
            has=view.get_by_role("rowheader", name="students")
        )
        expect(students).to_contain_text("students.csv")
        _check(view, shoot, f"import-preview-{width}")
        view.get_by_role("button", name="Apply").click()
        expect(view.get_by_role("heading", name="Fall 2026")).to_be_visible()
        expect(view.get_by_text("Imported into Fall 2026")).to_contain_text(
            f"students: 3 {verb}" if verb == "added" else "students: 0 added, 3 updated"
        )


def test_new_round_page(
    live: Live,
    page: Page,
    phone: Page,
    make_user: Callable[..., User],
    shoot: Callable[[Page, str], Path],
) -> None:
    """The rounds page links "New round from files", whose labelled form is axe-clean."""
    user = make_user()
    for view, width in ((page, "desktop"), (phone, "phone")):
        _log_in(view, live, user, "/rounds")
        view.get_by_role("link", name="New round from files").click()
        expect(view.get_by_role("heading", name="New round from files")).to_be_visible()
        expect(view.get_by_label("Round id")).to_be_visible()
        expect(view.get_by_label("Files", exact=True)).to_be_attached()
        _check(view, shoot, f"new-round-{width}")
