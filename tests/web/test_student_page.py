"""The coordinator's student page and its actions: placement, week, preferences, why not
placed (with the seats' holders), history; move, unplace, pin, unpin, forbid with CSRF,
refusals with the rule in words (409), viewers refused (403), other rounds not found (404),
and a query count that does not grow with the round."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from models import Assignment, AuditEvent, Forbidden, Pin, Program, Round, Slot, Student, User
from scheduler import actions
from scheduler.actions import RoundChanged
from scheduler.generate import generate_round
from scheduler.queries import Meeting, TimeBlock, student_story
from tests.scheduler.published_rounds import published_round
from tests.solver.factories import AGE_13, make_doc, opportunity, slot, student, weekly
from tests.web.conftest import form_token
from web.coordinator.students import week

Doc = dict[str, Any]


def _doc() -> Doc:
    """Ann (s1) ranks o1 then o2, busy Mondays; Bo (s2, priority) and Ed (s5) rank o1 only and
    are busy on Wednesdays and Thursdays, so o2 clashes for them: Bo takes o1's one seat, Ed is
    left out (seats taken by s2). Cy (s3) is 13; o3, a job shadow, takes only Di (s4)."""
    busy_midweek = [weekly("wed", "13:00", "18:00"), weekly("thu", "13:00", "18:00")]
    return make_doc(
        [
            student(
                id="s1",
                name="Ann",
                preferences=["o1", "o2"],
                busy=[weekly("mon", "08:00", "15:00")],
            ),
            student(id="s2", name="Bo", preferences=["o1"], priority=2, busy=busy_midweek),
            student(id="s3", name="Cy", birth_date=AGE_13),
            student(id="s4", name="Di", preferences=["o3"]),
            student(id="s5", name="Ed", preferences=["o1"], busy=busy_midweek),
        ],
        [
            opportunity(id="o1", title="Cairns Hospital", slots=[slot(id="a")]),
            opportunity(
                id="o2",
                title="Beta Lab",
                employer="emp2",
                slots=[
                    slot(id="b", blocks=[weekly("wed", "15:00", "17:00")]),
                    slot(id="c", blocks=[weekly("thu", "15:00", "17:00")]),
                ],
            ),
            opportunity(
                id="o3",
                title="Shadow Day",
                kind="job_shadow",
                min_age=14,
                accepts=["s4"],
                slots=[slot(id="d")],
            ),
        ],
    )


@dataclass(frozen=True, slots=True)
class Setup:
    round_id: int
    ids: dict[str, int]  # student external id -> database id

    def path(self, ext: str, tail: str = "") -> str:
        return f"/rounds/{self.round_id}/students/{self.ids[ext]}{tail}"


def _setup(session: Session, program: Program, doc: Doc | None = None) -> Setup:
    rnd = published_round(session, program, doc or _doc(), publish=False)
    ids = dict(
        session.execute(
            select(Student.external_id, Student.id).where(Student.round_id == rnd.id)
        ).all()
    )
    session.commit()
    return Setup(round_id=rnd.id, ids=ids)


@pytest.fixture
def small(session: Session, program: Program) -> Setup:
    return _setup(session, program)


@pytest.fixture
def coordinator(
    make_user: Callable[..., User], login: Callable[[User], FlaskClient]
) -> FlaskClient:
    return login(make_user())


def _slot_of(session: Session, setup: Setup, ext: str) -> str | None:
    session.expire_all()
    return session.scalar(
        select(Slot.external_id)
        .join(Assignment, Assignment.slot_id == Slot.id)
        .join(Round, Round.chosen_run_id == Assignment.run_id)
        .where(Round.id == setup.round_id, Assignment.student_id == setup.ids[ext])
    )


def _post(client: FlaskClient, setup: Setup, ext: str, action: str, **data: str) -> Any:
    token = form_token(client, setup.path(ext))
    return client.post(setup.path(ext, f"/{action}"), data={"csrf_token": token, **data})


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_placed_student_shows_placement_week_preferences_and_no_why(
    small: Setup, coordinator: FlaskClient, session: Session
) -> None:
    """A placed student: opportunity, slot, travel, rank got, the week, no "Why not placed"."""
    held = _slot_of(session, small, "s1")
    assert held in ("b", "c")
    page = coordinator.get(small.path("s1"))
    assert page.status_code == 200
    text = _text(page)
    assert "<h1>Ann</h1>" in text
    assert "Beta Lab" in text
    assert f"{held}:" in text
    assert "minutes each way by walk" in text
    assert "Placed at their choice 2 of 2." in text
    assert "Why not placed" not in text
    # The week: Monday's classes and the shift with travel either side, drawn and tabled.
    assert 'class="wk-class"' in text
    assert 'class="wk-shift"' in text
    assert 'class="wk-travel"' in text
    assert "Classes or other commitment" in text
    assert "Shift at Beta Lab" in text
    assert "Travel there (walk)" in text
    assert "Travel back (walk)" in text
    assert 'style="' not in text  # the CSP allows no inline style
    for button in (">Move<", ">Unplace<", ">Pin<", ">Forbid<"):
        assert button in text


def test_unplaced_student_says_why_in_words_and_names_the_seats_holders(
    small: Setup, coordinator: FlaskClient, session: Session
) -> None:
    """An unplaced student: "Why not placed" with plain sentences, the holder of the seat named."""
    assert _slot_of(session, small, "s5") is None
    text = _text(coordinator.get(small.path("s5")))
    assert '<h2 id="why-h">Why not placed</h2>' in text
    assert "Seats taken." in text
    assert f'Seats held by <a href="{small.path("s2")}">Bo</a> (s2).' in text
    assert "Schedule clash." in text
    assert "Not placed in the chosen run." in text
    assert ">Unplace<" not in text
    assert ">Pin<" not in text


def test_move_page_offers_only_open_slots_and_a_move_lands_in_history(
    small: Setup, coordinator: FlaskClient, session: Session
) -> None:
    """Move page: only open slots get "Move here"; a move flashes, pins, and enters history."""
    held = _slot_of(session, small, "s1")
    other = "c" if held == "b" else "b"
    page = _text(coordinator.get(small.path("s1", "/move")))
    assert page.count(">Move here<") == 1
    assert f'name="slot" value="{other}"' in page
    assert 'name="slot" value="a"' not in page
    assert "Not open (seats): H2: the slot is full" in page
    token = form_token(coordinator, small.path("s1", "/move"))
    done = coordinator.post(small.path("s1", "/move"), data={"csrf_token": token, "slot": other})
    assert done.status_code == 302
    assert done.headers["Location"].endswith(small.path("s1"))
    assert _slot_of(session, small, "s1") == other
    after = _text(coordinator.get(small.path("s1")))
    assert f"Ann moved to slot {other}." in after
    assert "Moved" in after
    assert f"to o2, slot {other}" in after
    assert "Pinned to o2, slot" in after


def test_forced_move_that_breaks_a_rule_is_refused_with_the_rule_and_changes_nothing(
    small: Setup, coordinator: FlaskClient, session: Session
) -> None:
    """A forced move into a full slot is 409 with the rule in words; nothing is written."""
    held = _slot_of(session, small, "s1")
    events = session.scalar(select(func.count()).select_from(AuditEvent))
    token = form_token(coordinator, small.path("s1", "/move"))
    refused = coordinator.post(small.path("s1", "/move"), data={"csrf_token": token, "slot": "a"})
    assert refused.status_code == 409
    text = _text(refused)
    assert '<div class="refusal" role="alert"><p><strong>Seats.</strong> H2:' in text
    assert _slot_of(session, small, "s1") == held
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == events
    # Ed is busy on Wednesdays: slot b is refused for his schedule (H5), and not offered.
    token = form_token(coordinator, small.path("s5", "/move"))
    assert 'value="b"' not in _text(coordinator.get(small.path("s5", "/move")))
    refused = coordinator.post(small.path("s5", "/move"), data={"csrf_token": token, "slot": "b"})
    assert refused.status_code == 409
    assert "<strong>Eligibility.</strong>" in _text(
        refused
    ) or "<strong>Schedule.</strong>" in _text(refused)
    assert _slot_of(session, small, "s5") is None


def test_unplace_pin_unpin_and_their_refusals(
    small: Setup, coordinator: FlaskClient, session: Session
) -> None:
    """Pin, unplace refused while pinned (H9, 409), unpin, unplace; each in history."""
    held = _slot_of(session, small, "s1")
    done = _post(coordinator, small, "s1", "pin", opportunity="o2", slot=str(held))
    assert done.status_code == 302
    assert session.scalar(select(func.count()).select_from(Pin)) == 1
    assert "Ann is pinned to this placement." in _text(coordinator.get(small.path("s1")))
    refused = _post(coordinator, small, "s1", "unplace")
    assert refused.status_code == 409
    assert "<strong>Pins and ruled-out pairs.</strong> H9:" in _text(refused)
    assert _slot_of(session, small, "s1") == held
    assert _post(coordinator, small, "s1", "unpin").status_code == 302
    assert session.scalar(select(func.count()).select_from(Pin)) == 0
    again = _post(coordinator, small, "s1", "unplace")
    assert again.status_code == 302
    assert _slot_of(session, small, "s1") is None
    text = _text(coordinator.get(small.path("s1")))
    assert "Ann is no longer placed." in text
    assert "Why not placed" in text
    for word in ("Pinned", "Unpinned", "Unplaced"):
        assert f"<td>{word}</td>" in text
    refused = _post(coordinator, small, "s1", "unpin")
    assert refused.status_code == 409
    assert "<strong>Not possible now.</strong>" in _text(refused)


def test_unplace_with_its_pins_in_one_go(
    small: Setup, coordinator: FlaskClient, session: Session
) -> None:
    """Unplace with "Also remove the student's pins" takes out a pinned student."""
    held = _slot_of(session, small, "s1")
    assert (
        _post(coordinator, small, "s1", "pin", opportunity="o2", slot=str(held)).status_code == 302
    )
    assert "Also remove the student&#39;s pins" in _text(coordinator.get(small.path("s1")))
    assert _post(coordinator, small, "s1", "unplace", unpin="y").status_code == 302
    assert _slot_of(session, small, "s1") is None
    assert session.scalar(select(func.count()).select_from(Pin)) == 0


def test_forbid_from_the_select_and_its_refusal(
    small: Setup, coordinator: FlaskClient, session: Session
) -> None:
    """Forbid rules out the chosen opportunity; a pinned pair is refused (H9, 409)."""
    page = _text(coordinator.get(small.path("s1")))
    assert '<option value="o1">Cairns Hospital (Acme Health)</option>' in page
    held = _slot_of(session, small, "s1")
    assert (
        _post(coordinator, small, "s1", "pin", opportunity="o2", slot=str(held)).status_code == 302
    )
    refused = _post(coordinator, small, "s1", "forbid", opportunity="o2")
    assert refused.status_code == 409
    assert "H9:" in _text(refused)
    assert session.scalar(select(func.count()).select_from(Forbidden)) == 0
    done = _post(coordinator, small, "s1", "forbid", opportunity="o1")
    assert done.status_code == 302
    text = _text(coordinator.get(small.path("s1")))
    assert "That opportunity is ruled out for Ann." in text
    assert "Ruled out: o1." in text
    assert "<td>Ruled out an opportunity</td>" in text
    assert '<option value="o1">' not in text


def test_csrf_is_required(small: Setup, coordinator: FlaskClient, session: Session) -> None:
    """Every action without its CSRF token is refused (400) and changes nothing."""
    held = _slot_of(session, small, "s1")
    for action, data in (
        ("move", {"slot": "c" if held == "b" else "b"}),
        ("unplace", {}),
        ("pin", {"opportunity": "o2", "slot": str(held)}),
        ("unpin", {}),
        ("forbid", {"opportunity": "o1"}),
    ):
        assert coordinator.post(small.path("s1", f"/{action}"), data=data).status_code == 400
    assert _slot_of(session, small, "s1") == held
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.target_type == "students")
        )
        == 0
    )


def test_viewer_sees_no_actions_and_a_forced_post_is_403(
    small: Setup,
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    session: Session,
) -> None:
    """A viewer reads the page and the move list without buttons; forced posts are 403."""
    viewer = login(make_user("viewer"))
    text = _text(viewer.get(small.path("s1")))
    assert "<h1>Ann</h1>" in text
    for button in (">Unplace<", ">Pin<", ">Forbid<", ">Move<"):
        assert button not in text
    moves = viewer.get(small.path("s1", "/move"))
    assert moves.status_code == 200
    assert ">Move here<" not in _text(moves)
    held = _slot_of(session, small, "s1")
    token = form_token(viewer, small.path("s1"))
    for action, data in (
        ("move", {"slot": "c" if held == "b" else "b"}),
        ("unplace", {}),
        ("pin", {"opportunity": "o2", "slot": str(held)}),
        ("unpin", {}),
        ("forbid", {"opportunity": "o1"}),
    ):
        response = viewer.post(small.path("s1", f"/{action}"), data={"csrf_token": token, **data})
        assert response.status_code == 403, action
    assert _slot_of(session, small, "s1") == held


def test_outsiders_and_other_rounds_are_not_found(
    small: Setup,
    session: Session,
    make_program: Callable[..., Program],
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
) -> None:
    """Another program's coordinator, another round's student, an unknown id: all 404."""
    other = make_program()
    session.commit()
    outsider = login(make_user(program_slug=other.slug))
    for tail in ("", "/move"):
        assert outsider.get(small.path("s1", tail)).status_code == 404
    token = form_token(outsider, "/rounds")
    response = outsider.post(small.path("s1", "/unplace"), data={"csrf_token": token})
    assert response.status_code == 404
    elsewhere = _setup(session, other, _doc())
    mine = login(make_user())
    stray = f"/rounds/{small.round_id}/students/{elsewhere.ids['s1']}"
    assert mine.get(stray).status_code == 404
    assert mine.get(stray + "/move").status_code == 404
    assert mine.get(f"/rounds/{small.round_id}/students/999999").status_code == 404
    token = form_token(mine, small.path("s1"))
    assert mine.post(stray + "/unplace", data={"csrf_token": token}).status_code == 404


@contextmanager
def _counting(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_query_count_does_not_grow_with_the_round(
    session: Session,
    make_program: Callable[..., Program],
    make_user: Callable[..., User],
    login: Callable[[User], FlaskClient],
    engine: Engine,
) -> None:
    """The student page takes as many statements at 400 students as at 40, placed or not."""
    counts: dict[tuple[int, bool], int] = {}
    for n in (40, 400):
        program = make_program()
        rnd = published_round(session, program, generate_round(n, seed=3), publish=False)
        placed = set(
            session.scalars(
                select(Assignment.student_id).where(Assignment.run_id == rnd.chosen_run_id)
            )
        )
        students = session.scalars(
            select(Student.id).where(Student.round_id == rnd.id).order_by(Student.id)
        ).all()
        session.commit()
        client = login(make_user(program_slug=program.slug))
        for is_placed in (True, False):
            sid = next((s for s in students if (s in placed) == is_placed), None)
            assert sid is not None
            path = f"/rounds/{rnd.id}/students/{sid}"
            client.get(path)  # warm: the login's account load is not the page's
            with _counting(engine) as seen:
                assert client.get(path).status_code == 200
            counts[(n, is_placed)] = len(seen)
    assert all(n > 5 for n in counts.values()), counts
    assert counts[(40, True)] == counts[(400, True)], counts
    assert counts[(40, False)] == counts[(400, False)], counts


def test_week_draws_shifts_with_travel_and_a_meeting_and_lists_dated_blocks(
    small: Setup, session: Session
) -> None:
    """The week draws shifts with travel either side, a meeting, classes; dated blocks apart."""
    rnd = session.get_one(Round, small.round_id)
    story = student_story(session, rnd, session.get_one(Student, small.ids["s1"]), None)
    assert story.placement is not None
    placement = replace(
        story.placement,
        blocks=(
            *story.placement.blocks,
            TimeBlock(day=None, date="2026-10-01", start="09:00", end="12:00"),
        ),
    )
    meeting = Meeting(
        mentor="m1", mentor_name="Mo", virtual=True, day="fri", start="18:30", end="19:00"
    )
    drawn = week(replace(story, placement=placement, meeting=meeting))
    kinds = [(b.kind, b.day, b.start, b.end) for b in drawn.boxes]
    shift = story.placement.blocks[0]
    day = {"wed": "Wednesday", "thu": "Thursday"}[str(shift.day)]
    trip = story.placement.travel_minutes
    assert kinds[0] == ("class", "Monday", "08:00", "15:00")
    assert ("shift", day, shift.start, shift.end) in kinds
    assert ("travel", day, f"14:{60 - trip:02d}", "15:00") in kinds
    assert ("travel", day, "17:00", f"17:{trip:02d}") in kinds
    assert kinds[-1] == ("meeting", "Friday", "18:30", "19:00")
    assert [what for _, what, _ in drawn.dated] == ["Shift at Beta Lab"]
    assert [d for d, _ in drawn.days] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert drawn.hours[0][0] == "07:00"
    assert drawn.hours[-1][0] == "19:00"
    for b in drawn.boxes:
        assert b.x > 0
        assert b.x + b.width <= drawn.width
        assert b.y > 0
        assert b.y + b.height <= drawn.height


def test_a_round_changed_meanwhile_asks_for_a_reload(
    small: Setup, coordinator: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RoundChanged (re-chosen or published meanwhile) is a 409 that says to reload."""

    def changed(*_args: Any, **_kwargs: Any) -> Any:
        raise RoundChanged("version: round 'r1' changed since it was loaded: reload it")

    monkeypatch.setattr(actions, "unplace", changed)
    held = _slot_of(session, small, "s1")
    refused = _post(coordinator, small, "s1", "unplace")
    assert refused.status_code == 409
    assert "<strong>The round changed: reload this page.</strong> version:" in _text(refused)
    assert _slot_of(session, small, "s1") == held
