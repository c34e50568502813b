"""Insights → Goals pages over HTTP, on each backend: the list by status, the new and edit forms with
their inline errors, status changes, Try it, CSRF, permissions and tenancy."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from comerix.auth.models import EngineKeyKind
from comerix.auth.roles import Role
from comerix.clock import FixedClock
from comerix.db import Database
from comerix.goals import service as goals
from comerix.goals.models import Goal
from comerix.vocabulary import GoalStatus
from tests.factories import Member, make_engine_key, make_goal, make_member
from tests.pages import csrf_of, post_form, sign_in

LIST = "/admin/insights/goals"
NEW = "/admin/insights/goals/new"
FORM = {
    "name": "Premium purchase",
    "code": "premium_purchase",
    "description": "",
    "kind": "conversion",
    "is_primary": "true",
    "trigger_event": "purchase",
    "match_conditions": '{"plan": "premium", "items": 2, "gift": true, "coupon": null, "ref": "2"}',
    "value_mode": "from_property",
    "fixed_value": "",
    "value_property": "grand_total",
    "currency": "",
    "currency_property": "currency",
    "base_value_property": "",
    "base_currency_property": "",
    "attribution_window_hours": "72",
}


def member(db: Database, clock: FixedClock, role: Role = Role.DESIGNER, of: Member | None = None) -> Member:
    with db.transaction() as session:
        return make_member(session, clock.now(), role=role, workspace=of.workspace if of else None)


@pytest.fixture
def designer(pages: TestClient, db: Database, clock: FixedClock) -> Member:
    """A designer, signed in on `pages`."""
    who = member(db, clock)
    assert sign_in(pages, who.user.email).status_code == 303
    return who


def goal_of(db: Database, clock: FixedClock, who: Member, **fields: Any) -> Goal:
    status = fields.pop("status", None)
    with db.transaction() as session:
        goal = make_goal(session, who.principal, clock.now(), **fields)
        if status is not None:
            goals.set_status(session, goal, status, actor=who.principal, now=clock.now())
        return goal


def stored(db: Database, who: Member) -> list[Goal]:
    with db.sessions() as session:
        return goals.list_for_workspace(session, who.workspace.id)


def section(html: str, status: str) -> str:
    found = re.search(rf'<section[^>]*id="goals-{status}".*?</section>', html, re.DOTALL)
    assert found is not None, f"no {status} section"
    return found.group(0)


def edit_path(goal: Goal) -> str:
    return f"/admin/insights/goals/{goal.id}/edit"


def test_the_list_groups_goals_by_status_with_counts_and_primary_badges(
    pages: TestClient, db: Database, clock: FixedClock, designer: Member
) -> None:
    goal_of(db, clock, designer, name="Lead form", code="lead", is_primary=True)
    goal_of(db, clock, designer, name="Newsletter", code="newsletter", kind="engagement")
    goal_of(db, clock, designer, name="Old promo", code="old_promo", status=GoalStatus.PAUSED)

    html = pages.get(LIST).text
    active, paused, archived = (section(html, status) for status in ("active", "paused", "archived"))
    assert '<span class="badge active">2</span>' in active
    assert active.index("Lead form") < active.index("Newsletter")  # primary first
    lead_row = re.search(r"<tr>\s*<td>\s*<a[^>]*>Lead form</a>.*?</tr>", active, re.DOTALL)
    assert lead_row is not None
    assert "Primary" in lead_row.group(0)
    assert "Primary" not in re.sub(r".*Newsletter", "", active, flags=re.DOTALL).split("</tr>")[0]
    assert '<span class="badge paused">1</span>' in paused
    assert "Old promo" in paused
    assert "Old promo" not in active
    assert '<span class="badge archived">0</span>' in archived
    assert "No archived goals." in archived
    assert 'aria-label="Activate Old promo"' in paused
    assert 'aria-label="Pause Lead form"' in active
    assert 'href="/admin/insights/goals/new"' in html


def test_a_goal_is_created_from_the_form_with_typed_conditions(
    pages: TestClient, db: Database, designer: Member
) -> None:
    response = post_form(pages, NEW, FORM)
    assert (response.status_code, response.headers["location"]) == (303, LIST)
    listed = pages.get(LIST).text
    assert "Goal “Premium purchase” created." in listed
    assert "premium_purchase" in section(listed, "active")

    [goal] = stored(db, designer)
    conditions = goal.match_conditions
    assert conditions == {"plan": "premium", "items": 2, "gift": True, "coupon": None, "ref": "2"}
    assert type(conditions["items"]) is int
    assert conditions["gift"] is True
    assert conditions["ref"] == "2"
    assert (goal.is_primary, goal.attribution_window_hours, goal.description) == (True, 72, None)
    assert (goal.value_property, goal.currency_property, goal.fixed_value) == (
        "grand_total",
        "currency",
        None,
    )


def test_invalid_input_is_shown_inline_with_what_was_typed_and_nothing_is_stored(
    pages: TestClient, db: Database, designer: Member
) -> None:
    typed = FORM | {
        "code": "Bad Code",
        "value_property": "",
        "attribution_window_hours": "0",
        "currency": "EURO",
    }
    response = post_form(pages, NEW, typed)
    assert response.status_code == 422
    html = response.text
    assert "The goal was not saved: 4 problems to fix" in html
    for field_name in ("code", "value_property", "currency", "attribution_window_hours"):
        assert f'id="{field_name}-error"' in html, field_name
        assert f'<a href="#{field_name}">' in html
    assert "is required when value_mode is from_property" in html
    assert "must start with a lowercase letter" in html
    assert 'value="Bad Code"' in html
    assert 'value="EURO"' in html
    assert "&#34;items&#34;: 2, &#34;gift&#34;: true" in html  # the conditions as typed
    assert stored(db, designer) == []


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ('["plan"]', "must be a JSON object"),
        ('{"plan": ', "must be a JSON object"),
        ('"premium"', "must be a JSON object"),
        ('{"order": {"plan": "x"}}', "nested objects and lists are not allowed"),
        ('{"plan": "basic", "items": 2, "plan": "premium"}', "names the path plan twice"),  # JSON keeps one
    ],
)
def test_match_conditions_must_be_a_flat_json_object(
    pages: TestClient, db: Database, designer: Member, conditions: str, message: str
) -> None:
    response = post_form(pages, NEW, FORM | {"match_conditions": conditions})
    assert response.status_code == 422
    error = re.search(r'id="match_conditions-error">([^<]*)<', response.text)
    assert error is not None
    assert message in error.group(1)
    assert stored(db, designer) == []


def test_a_taken_code_is_shown_on_the_code_field(
    pages: TestClient, db: Database, clock: FixedClock, designer: Member
) -> None:
    goal_of(db, clock, designer, code="premium_purchase", status=GoalStatus.ARCHIVED)
    response = post_form(pages, NEW, FORM)
    assert response.status_code == 409
    error = re.search(r'id="code-error">([^<]*)<', response.text)
    assert error is not None
    assert "already used" in error.group(1)
    assert len(stored(db, designer)) == 1


def test_the_edit_form_shows_the_goal_and_saves_every_field(
    pages: TestClient, db: Database, clock: FixedClock, designer: Member
) -> None:
    goal = goal_of(
        db,
        clock,
        designer,
        name="Lead",
        code="lead",
        description="Old notes",
        match_conditions={"form": "lead", "fields": 4},
        value_mode="fixed",
        fixed_value="25.00",
        currency="EUR",
    )
    form = pages.get(edit_path(goal)).text
    assert re.search(r'<input id="code" name="code" type="text" value="lead" readonly', form)
    assert 'value="25' in form
    assert 'value="EUR"' in form
    assert "Old notes" in form
    assert "&#34;fields&#34;: 4" in form

    changed = FORM | {"code": "lead", "name": "Lead form", "value_mode": "none", "value_property": ""}
    changed |= {"currency_property": "", "description": "", "is_primary": ""}
    response = post_form(pages, edit_path(goal), changed)
    assert response.status_code == 303, re.findall(r'class="error"[^>]*>([^<]*)', response.text)
    assert (response.status_code, response.headers["location"]) == (303, LIST)
    assert "Goal “Lead form” saved." in pages.get(LIST).text
    [saved] = stored(db, designer)
    assert (saved.code, saved.name, saved.description, saved.is_primary) == ("lead", "Lead form", None, False)
    assert (saved.value_mode, saved.fixed_value, saved.currency) == ("none", None, None)
    assert saved.match_conditions["items"] == 2


def test_the_code_cannot_be_changed_on_the_edit_page(
    pages: TestClient, db: Database, clock: FixedClock, designer: Member
) -> None:
    goal = goal_of(db, clock, designer, name="Lead", code="lead")
    response = post_form(pages, edit_path(goal), FORM | {"code": "other_code", "name": "Renamed"})
    assert response.status_code == 422
    error = re.search(r'id="code-error">([^<]*)<', response.text)
    assert error is not None
    assert "cannot be changed" in error.group(1)
    assert 'value="lead" readonly' in response.text
    [saved] = stored(db, designer)
    assert (saved.code, saved.name) == ("lead", "Lead")


def test_status_changes_go_back_where_they_came_from_with_a_flash(
    pages: TestClient, db: Database, clock: FixedClock, designer: Member
) -> None:
    goal = goal_of(db, clock, designer, name="Lead", code="lead")
    status_path = f"/admin/insights/goals/{goal.id}/status"

    paused = post_form(pages, status_path, {"status": "paused", "next": LIST}, page=LIST)
    assert (paused.status_code, paused.headers["location"]) == (303, LIST)
    listed = pages.get(LIST).text
    assert "Goal “Lead” paused." in listed
    assert "Lead" in section(listed, "paused")

    archived = post_form(
        pages, status_path, {"status": "archived", "next": edit_path(goal)}, page=edit_path(goal)
    )
    assert archived.headers["location"] == edit_path(goal)
    edit = pages.get(edit_path(goal)).text
    assert "Goal “Lead” archived." in edit
    assert 'aria-label="Activate Lead"' in edit

    elsewhere = post_form(
        pages, status_path, {"status": "active", "next": "https://evil.example/"}, page=LIST
    )
    assert elsewhere.headers["location"] == LIST
    assert [g.status for g in stored(db, designer)] == ["active"]

    refused = post_form(pages, status_path, {"status": "deleted"}, page=LIST)
    assert refused.status_code == 422
    assert [g.status for g in stored(db, designer)] == ["active"]


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    pages: TestClient, db: Database, clock: FixedClock, designer: Member
) -> None:
    goal = goal_of(db, clock, designer, name="Lead", code="lead")
    attempts = [
        (NEW, FORM | {"code": "sneaky"}),
        (edit_path(goal), FORM | {"code": "lead", "name": "Sneaky"}),
        (f"/admin/insights/goals/{goal.id}/status", {"status": "archived"}),
        (f"/admin/insights/goals/{goal.id}/status", {"status": "archived", "csrf_token": "forged"}),
    ]
    for path, data in attempts:
        response = pages.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403, path
        assert "security token" in response.text
    preview = pages.post("/admin/insights/goals/preview", json=FORM, headers={"Accept": "application/json"})
    assert (preview.status_code, preview.json()["error"]["code"]) == (403, "csrf_rejected")
    [same] = stored(db, designer)
    assert (same.code, same.name, same.status) == ("lead", "Lead", "active")


def test_a_role_without_goal_management_gets_the_403_page(
    pages: TestClient, db: Database, clock: FixedClock
) -> None:
    admin = member(db, clock, Role.ADMIN)
    goal = goal_of(db, clock, admin, name="Lead", code="lead")
    analyst = member(db, clock, Role.ANALYST, of=admin)
    sign_in(pages, analyst.user.email)
    for path in (LIST, NEW, edit_path(goal)):
        response = pages.get(path)
        assert response.status_code == 403, path
        assert "text/html" in response.headers["content-type"]
        assert "comerix.insights.goals.manage" in response.text
    token = csrf_of(pages.get("/admin/logout").text)  # a page the analyst may open
    refused = pages.post(
        f"/admin/insights/goals/{goal.id}/status",
        data={"status": "archived", "csrf_token": token},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert [g.status for g in stored(db, admin)] == ["active"]


def test_another_workspaces_goal_is_a_404_page(
    pages: TestClient, db: Database, clock: FixedClock, designer: Member
) -> None:
    stranger = member(db, clock, Role.ADMIN)
    theirs = goal_of(db, clock, stranger, name="Theirs", code="theirs")
    for path in (edit_path(theirs), "/admin/insights/goals/not-a-goal/edit"):
        response = pages.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]
    posted = post_form(pages, f"/admin/insights/goals/{theirs.id}/status", {"status": "archived"}, page=LIST)
    assert posted.status_code == 404
    saved = post_form(pages, edit_path(theirs), FORM | {"code": "theirs"}, page=LIST)
    assert saved.status_code == 404
    [untouched] = stored(db, stranger)
    assert (untouched.status, untouched.name) == ("active", "Theirs")


def test_the_form_is_prefilled_from_the_event_explorer(pages: TestClient, designer: Member) -> None:
    conditions = '{"form": "lead", "fields": 4, "consent": true, "ref": "4"}'
    response = pages.get(NEW, params={"trigger_event": "form_submitted", "conditions": conditions})
    html = response.text
    assert response.status_code == 200
    assert 'id="trigger_event" name="trigger_event" type="text" value="form_submitted"' in html
    assert 'id="name" name="name" type="text" value="Form submitted"' in html
    assert 'id="code" name="code" type="text" value="form_submitted"' in html
    textarea = re.search(r'<textarea id="match_conditions"[^>]*>(.*?)</textarea>', html, re.DOTALL)
    assert textarea is not None
    assert textarea.group(1).replace("&#34;", '"').split() == (
        ["{", '"form":', '"lead",', '"fields":', "4,", '"consent":', "true,", '"ref":', '"4"', "}"]
    )
    assert "Prefilled from the Event Explorer" in html


def test_a_prefilled_form_saves_the_conditions_with_their_types(
    pages: TestClient, db: Database, designer: Member
) -> None:
    html = pages.get(
        NEW, params={"trigger_event": "Reply-Rated", "conditions": '{"rating.helpful": true}'}
    ).text
    textarea = re.search(r'<textarea id="match_conditions"[^>]*>(.*?)</textarea>', html, re.DOTALL)
    assert textarea is not None
    assert 'value="reply_rated"' in html  # a code suggested from the name
    form = FORM | {
        "trigger_event": "Reply-Rated",
        "code": "reply_rated",
        "match_conditions": textarea.group(1).replace("&#34;", '"'),
        "value_mode": "none",
        "value_property": "",
        "currency_property": "",
    }
    assert post_form(pages, NEW, form).status_code == 303
    [goal] = stored(db, designer)
    assert (goal.trigger_event, goal.match_conditions) == ("Reply-Rated", {"rating.helpful": True})


def test_try_it_previews_the_unsaved_form(
    pages: TestClient, db: Database, clock: FixedClock, designer: Member
) -> None:
    with db.transaction() as session:
        key = make_engine_key(session, designer.workspace, clock.now(), EngineKeyKind.PUBLIC)

    def at(hours: int) -> str:
        return (clock.now() - timedelta(hours=hours)).isoformat()

    def send(*events: dict[str, Any]) -> None:
        sent = pages.post("/events", json={"events": events}, headers={"Authorization": f"Bearer {key}"})
        assert sent.status_code == 202

    send({"name": "purchase", "timestamp": at(0), "properties": {"plan": "premium", "grand_total": "1"}})
    clock.advance(timedelta(days=40))  # the session has ended meanwhile: sign in again
    assert sign_in(pages, designer.user.email).status_code == 303
    send(
        {"name": "purchase", "timestamp": at(3), "properties": {"plan": "basic", "grand_total": "5"}},
        {
            "name": "purchase",
            "timestamp": at(2),
            "properties": {"plan": "premium", "grand_total": "129.50", "currency": "usd"},
        },
        {"name": "purchase", "timestamp": at(1), "properties": {"plan": "premium", "grand_total": "x"}},
    )
    token = csrf_of(pages.get(NEW).text)
    headers = {"X-CSRF-Token": token, "Accept": "application/json"}
    unsaved = FORM | {"code": "Not Checked", "match_conditions": '{"plan": "premium"}'}

    response = pages.post("/admin/insights/goals/preview?range=30d", json=unsaved, headers=headers)
    assert response.status_code == 200, response.text
    preview = response.json()
    assert (preview["scanned"], preview["matched"], preview["timezone"]) == (3, 2, "Europe/Berlin")
    assert [(s["value"], s["currency"], s["value_error"]) for s in preview["samples"]] == [
        (None, None, "property 'grand_total' is not a number (got 'x')"),
        ("129.50", "USD", None),
    ]
    assert preview["closest_misses"][0]["failed"] == [
        {"key": "plan", "expected": "premium", "actual": "basic", "missing": False}
    ]
    # The clock reads 2026-12-12 09:30 UTC; the page's script shows these times as they come.
    assert [s["local_time"] for s in preview["samples"]] == [
        "2026-12-12 09:30:00 CET",
        "2026-12-12 08:30:00 CET",
    ]
    assert preview["closest_misses"][0]["local_time"] == "2026-12-12 07:30:00 CET"
    wider = pages.post("/admin/insights/goals/preview?range=90d", json=unsaved, headers=headers).json()
    assert wider["matched"] == 3
    assert stored(db, designer) == []


def test_try_it_answers_problems_in_the_api_error_shape(pages: TestClient, designer: Member) -> None:
    headers = {"X-CSRF-Token": csrf_of(pages.get(NEW).text), "Accept": "application/json"}
    wrong = FORM | {"match_conditions": "plan=premium", "value_mode": "fixed", "value_property": ""}
    response = pages.post("/admin/insights/goals/preview", json=wrong, headers=headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [(d["field"], d["message"][:22]) for d in error["details"]] == [
        ("match_conditions", "must be a JSON object "),
        ("fixed_value", "is required when value"),
    ]
    bad_range = pages.post("/admin/insights/goals/preview?range=1y", json=FORM, headers=headers)
    assert bad_range.status_code == 422
    assert [d["field"] for d in bad_range.json()["error"]["details"]] == ["range"]


# --- multi-step goals: the goal type and the steps editor ----------------------------------------------

STEPS_FORM = {
    "name": "Booking",
    "code": "booking",
    "kind": "conversion",
    "shape": "steps",
    "trigger_event": "ignored",  # the single-event fields, sent by a browser without JavaScript
    "match_conditions": "not json",
    "value_mode": "none",
    "attribution_window_hours": "168",
    # Rows in the order typed; their positions put row 5 second.
    "steps-0-key": "started",
    "steps-0-name": "Booking started",
    "steps-0-trigger_event": "booking_started",
    "steps-0-position": "0",
    "steps-1-key": "paid",
    "steps-1-name": "Paid",
    "steps-1-trigger_event": "payment",
    "steps-1-completion": "true",
    "steps-1-revenue_earned": "40.50",
    "steps-1-position": "2",
    "steps-5-key": "dates",
    "steps-5-name": "Dates chosen",
    "steps-5-trigger_event": "dates_chosen",
    "steps-5-match_conditions": '{"nights": 2, "ref": "2", "pets": false}',
    "steps-5-time_saved_seconds": "300",
    "steps-5-cost_savings": "1.25",
    "steps-5-description": "The guest picked dates",
    "steps-5-position": "1",
    "steps-7-key": "",  # a spare row left blank: ignored
    "steps-7-name": "",
    "steps-7-completion": "true",
    "steps-7-position": "3",
}


def steps_of(db: Database, goal: Goal) -> list[tuple[Any, ...]]:
    with db.sessions() as session:
        return [
            (s.key, s.name, s.trigger_event, s.completion, s.time_saved_seconds, s.retired)
            for s in goals.steps_of(session, goal)
        ]


def step_error(html: str, row: int, field_name: str) -> str:
    found = re.search(rf'id="steps-{row}-{field_name}-error">([^<]*)<', html)
    assert found is not None, f"no error on row {row}'s {field_name}"
    return found.group(1)


def test_the_new_goal_form_offers_both_goal_types(pages: TestClient, designer: Member) -> None:
    html = pages.get(NEW).text
    assert re.search(r'<input id="shape-single" name="shape" type="radio" value="single" checked', html)
    assert 'id="shape-steps" name="shape" type="radio" value="steps"' in html
    assert 'data-shape="single" id="single-event"' in html
    assert 'data-shape="steps" id="steps-editor"' in html
    # Two blank rows to start from (a start step and a completion step), and the template for more.
    assert re.findall(r'<fieldset class="step-row[^"]*" id="step-(\w+)"', html) == ["0", "1", "__ROW__"]
    assert re.search(
        r'id="steps-1-completion" name="steps-1-completion" type="checkbox" value="true" checked', html
    )
    assert 'name="step_action" value="add"' in html


def test_a_multi_step_goal_is_created_from_the_form_in_the_rows_order(
    pages: TestClient, db: Database, designer: Member
) -> None:
    response = post_form(pages, NEW, STEPS_FORM)
    assert response.status_code == 303, re.findall(r'class="error"[^>]*>([^<]*)', response.text)
    assert "Goal “Booking” created." in pages.get(LIST).text
    [goal] = stored(db, designer)
    assert (goal.trigger_event, goal.match_conditions) == (None, {})
    assert steps_of(db, goal) == [
        ("started", "Booking started", "booking_started", False, 0, False),
        ("dates", "Dates chosen", "dates_chosen", False, 300, False),
        ("paid", "Paid", "payment", True, 0, False),
    ]
    with db.sessions() as session:
        started, dates, paid = goals.steps_of(session, goal)
    assert dates.match_conditions == {"nights": 2, "ref": "2", "pets": False}
    assert type(dates.match_conditions["nights"]) is int
    assert (dates.cost_savings, dates.description, paid.revenue_earned) == (
        Decimal("1.25"),
        "The guest picked dates",
        Decimal("40.50"),
    )
    assert [started.slot, dates.slot, paid.slot] == [0, 1, 2]


def test_the_list_says_how_many_steps_a_goal_has(pages: TestClient, db: Database, designer: Member) -> None:
    assert post_form(pages, NEW, STEPS_FORM).status_code == 303
    row = re.search(
        r"<tr>\s*<td>\s*<a[^>]*>Booking</a>.*?</tr>", section(pages.get(LIST).text, "active"), re.S
    )
    assert row is not None
    assert '<span class="badge steps">3 steps</span>' in row.group(0)
    assert "ignored" not in row.group(0)


def test_step_problems_are_shown_on_their_row_and_nothing_is_stored(
    pages: TestClient, db: Database, designer: Member
) -> None:
    typed = STEPS_FORM | {
        "steps-0-completion": "true",  # the start step never completes
        "steps-5-key": "Dates",
        "steps-5-match_conditions": '{"nights": [2]}',
        "steps-1-revenue_earned": "-1",
        "steps-1-time_saved_seconds": "1.5",
    }
    response = post_form(pages, NEW, typed)
    assert response.status_code == 422
    html = response.text
    assert "must be false: the first step is the start step" in step_error(html, 0, "completion")
    assert "must start with a lowercase letter" in step_error(html, 5, "key")
    assert "nested objects and lists are not allowed" in step_error(html, 5, "match_conditions")
    assert step_error(html, 1, "revenue_earned")
    assert step_error(html, 1, "time_saved_seconds")
    assert 'id="steps-5-key" name="steps-5-key" type="text" value="Dates"' in html  # as typed
    # The summary lists them in the rows' order, each linking to its field.
    links = re.findall(r'<li><a href="#(steps-\d+-[a-z_]+)">', html)
    assert links == [
        "steps-0-completion",
        "steps-5-key",
        "steps-5-match_conditions",
        "steps-1-time_saved_seconds",
        "steps-1-revenue_earned",
    ]
    # The rows come back in their order, with their positions, the multi-step type still chosen.
    assert re.findall(r'<fieldset class="step-row[^"]*" id="step-(\w+)"', html) == [
        "0",
        "5",
        "1",
        "7",
        "__ROW__",
    ]
    assert re.search(r'id="shape-steps" name="shape" type="radio" value="steps" checked', html)
    assert stored(db, designer) == []


def test_a_process_needs_a_completion_step_and_two_steps(
    pages: TestClient, db: Database, designer: Member
) -> None:
    no_completion = post_form(pages, NEW, STEPS_FORM | {"steps-1-completion": ""})
    assert no_completion.status_code == 422
    assert re.search(r'id="steps-error">[^<]*completion step', no_completion.text)
    assert '<a href="#steps-editor">Steps</a>' in no_completion.text
    blank = {name: value for name, value in STEPS_FORM.items() if not name.startswith("steps-")}
    empty = post_form(pages, NEW, blank)
    assert empty.status_code == 422
    assert re.search(r'id="steps-error">a multi-step goal needs 2 to 20 steps', empty.text)
    assert 'id="trigger_event-error"' not in empty.text  # the single-event fields are not read
    assert stored(db, designer) == []


def test_a_steps_conditions_naming_a_path_twice_are_told_on_its_row(
    pages: TestClient, db: Database, designer: Member
) -> None:
    twice = post_form(pages, NEW, STEPS_FORM | {"steps-5-match_conditions": '{"nights": 2, "nights": 3}'})
    assert twice.status_code == 422
    assert "names the path nights twice" in step_error(twice.text, 5, "match_conditions")
    assert stored(db, designer) == []


def test_the_editor_buttons_work_without_javascript_and_save_nothing(
    pages: TestClient, db: Database, designer: Member
) -> None:
    added = post_form(pages, NEW, STEPS_FORM | {"step_action": "add"})
    assert added.status_code == 200
    assert re.findall(r'<fieldset class="step-row[^"]*" id="step-(\w+)"', added.text) == [
        "0",
        "5",
        "1",
        "7",
        "8",
        "__ROW__",
    ]
    assert "The goal was not saved" not in added.text  # not an error: the form, changed
    moved = post_form(pages, NEW, STEPS_FORM | {"step_action": "up:1"})
    assert re.findall(r'<fieldset class="step-row[^"]*" id="step-(\w+)"', moved.text)[:3] == ["0", "1", "5"]
    assert 'name="steps-1-position" value="1"' in moved.text
    removed = post_form(pages, NEW, STEPS_FORM | {"step_action": "remove:5"})
    assert re.findall(r'<fieldset class="step-row[^"]*" id="step-(\w+)"', removed.text) == [
        "0",
        "1",
        "7",
        "__ROW__",
    ]
    nonsense = post_form(pages, NEW, STEPS_FORM | {"step_action": "up:99"})
    assert nonsense.status_code == 200
    assert stored(db, designer) == []


def test_a_multi_step_goal_is_edited_keys_fixed_steps_retired_not_deleted(
    pages: TestClient, db: Database, designer: Member
) -> None:
    assert post_form(pages, NEW, STEPS_FORM).status_code == 303
    [goal] = stored(db, designer)
    form = pages.get(edit_path(goal)).text
    assert 'name="shape"' not in form.replace('name="shape" type="hidden"', "")  # fixed once created
    assert "Multi-step process</strong>" in form
    assert 'data-shape="single"' not in form
    for row, key in enumerate(["started", "dates", "paid"]):
        assert f'id="steps-{row}-key" name="steps-{row}-key" type="text" value="{key}" readonly' in form
        assert f'name="steps-{row}-retired"' in form
        assert f'value="remove:{row}"' not in form  # saved steps are retired, not removed
    assert "1.25" in form
    assert "40.50" in form

    values = {name: value for name, value in STEPS_FORM.items() if not name.startswith("steps-")}
    edited = values | {
        "steps-0-key": "started",
        "steps-0-name": "Started",
        "steps-0-trigger_event": "booking_started",
        "steps-0-position": "0",
        "steps-1-key": "dates",
        "steps-1-name": "Dates chosen",
        "steps-1-trigger_event": "dates_chosen",
        "steps-1-retired": "true",
        "steps-1-position": "2",
        "steps-2-key": "paid",
        "steps-2-name": "Paid",
        "steps-2-trigger_event": "payment",
        "steps-2-completion": "true",
        "steps-2-revenue_earned": "40.50",
        "steps-2-position": "3",
        "steps-3-key": "guests",
        "steps-3-name": "Guests named",
        "steps-3-trigger_event": "guests_named",
        "steps-3-position": "1",
    }
    response = post_form(pages, edit_path(goal), edited)
    assert response.status_code == 303, re.findall(r'class="error"[^>]*>([^<]*)', response.text)
    assert steps_of(db, goal) == [
        ("started", "Started", "booking_started", False, 0, False),
        ("guests", "Guests named", "guests_named", False, 0, False),
        ("dates", "Dates chosen", "dates_chosen", False, 0, True),
        ("paid", "Paid", "payment", True, 0, False),
    ]

    history = pages.get(f"/admin/insights/goals/{goal.id}").text
    edit = re.search(r"<strong>Edited</strong>.*?</ul>", history, re.S)
    assert edit is not None
    lines = re.findall(r"<li>([^<]*)</li>", edit.group(0))
    assert "Steps: added “guests” (Guests named)" in lines
    assert "Steps: “started” name: Booking started → Started" in lines
    assert "Steps: “dates” retired: no → yes" in lines
    assert "Steps: order: started, dates, paid → started, guests, dates, paid" in lines

    # A saved step left out is refused (retire it instead), its key is not changed, nothing moves.
    dropped = {name: value for name, value in edited.items() if not name.startswith("steps-3-")}
    dropped = {name: value for name, value in dropped.items() if not name.startswith("steps-1-")}
    refused = post_form(pages, edit_path(goal), dropped)
    assert refused.status_code == 422
    assert re.search(r'id="steps-error">[^<]*cannot be deleted', refused.text)
    renamed = post_form(pages, edit_path(goal), edited | {"steps-0-key": "begun"})
    assert renamed.status_code == 422
    assert [key for key, *_ in steps_of(db, goal)] == ["started", "guests", "dates", "paid"]


def test_a_single_event_goal_stays_one(
    pages: TestClient, db: Database, clock: FixedClock, designer: Member
) -> None:
    goal = goal_of(db, clock, designer, name="Lead", code="lead")
    form = pages.get(edit_path(goal)).text
    assert "Single event</strong>" in form
    assert 'id="steps-editor"' not in form
    posted = FORM | {"code": "lead", "shape": "steps", "steps-0-key": "a", "steps-0-name": "A"}
    assert post_form(pages, edit_path(goal), posted).status_code == 303  # the shape posted is not read
    [saved] = stored(db, designer)
    assert (saved.trigger_event, steps_of(db, saved)) == ("purchase", [])


@pytest.mark.parametrize(
    "hostile",
    [
        {"steps-5-position": "²"},
        {"steps-5-position": "99999999999999999999"},
        {"steps-5-time_saved_seconds": "1e400"},
        {"steps-5-time_saved_seconds": "99999999999999999999999"},
        {"steps-5-cost_savings": "NaN"},
        {"steps-5-cost_savings": "1e999999"},
        {"steps-5-match_conditions": "[" * 100_000},
        {"steps-5-key": "a\x00b", "steps-5-name": "\x00"},
        {"steps-99999-key": "far", "steps-123456789-key": "too far"},
        {"step_action": "up:abc"},
        {"step_action": "remove:0:1"},
    ],
)
def test_hostile_step_fields_are_refused_or_ignored_never_a_500(
    pages: TestClient, db: Database, designer: Member, hostile: dict[str, str]
) -> None:
    response = post_form(pages, NEW, STEPS_FORM | hostile)
    assert response.status_code in (200, 303, 422), response.text[:500]
    if response.status_code != 303:  # ignored, or refused with the form shown again
        assert "text/html" in response.headers["content-type"]


# --- Try it on a multi-step goal: each step tried alone -------------------------------------------------


def test_try_it_previews_the_unsaved_steps_each_alone_with_local_times(
    pages: TestClient, db: Database, clock: FixedClock, designer: Member
) -> None:
    with db.transaction() as session:
        key = make_engine_key(session, designer.workspace, clock.now(), EngineKeyKind.PUBLIC)

    def at(hours: int, name: str, **properties: Any) -> dict[str, Any]:
        return {
            "name": name,
            "timestamp": (clock.now() - timedelta(hours=hours)).isoformat(),
            "properties": properties,
        }

    events = [
        at(4, "booking_started", service="fitting"),
        at(3, "dates_chosen", nights=2, ref="2", pets=False),
        at(2, "dates_chosen", nights=2, ref=2, pets=False),  # `ref` is a number here: a miss
        at(1, "payment", amount="99"),
    ]
    sent = pages.post("/events", json={"events": events}, headers={"Authorization": f"Bearer {key}"})
    assert sent.status_code == 202
    headers = {"X-CSRF-Token": csrf_of(pages.get(NEW).text), "Accept": "application/json"}
    # The form as the page's script sends it: the rows out of order (row 5 second), a blank row.
    unsaved = STEPS_FORM | {"value_mode": "fixed", "fixed_value": "25.00"}

    response = pages.post("/admin/insights/goals/preview?range=30d", json=unsaved, headers=headers)
    assert response.status_code == 200, response.text
    preview = response.json()
    assert (preview["trigger_event"], preview["samples"], preview["closest_misses"]) == (None, [], [])
    assert (preview["scanned"], preview["matched"], preview["timezone"]) == (4, 3, "Europe/Berlin")
    steps = preview["steps"]
    assert [(s["key"], s["type"], s["scanned"], s["matched"]) for s in steps] == [
        ("started", "start", 1, 1),
        ("dates", "step", 2, 1),
        ("paid", "completion", 1, 1),
    ]
    # The clock reads 2026-11-02 09:30 UTC: each step's samples and misses carry their local time.
    assert [[s["local_time"] for s in step["samples"]] for step in steps] == [
        ["2026-11-02 06:30:00 CET"],
        ["2026-11-02 07:30:00 CET"],
        ["2026-11-02 09:30:00 CET"],
    ]
    [miss] = steps[1]["closest_misses"]
    assert miss["local_time"] == "2026-11-02 08:30:00 CET"
    assert miss["failed"] == [{"key": "ref", "expected": "2", "actual": 2, "missing": False}]
    # Only the completion step records the outcome, so only its samples carry the goal's value.
    assert [(s["value"], s["currency"]) for step in steps for s in step["samples"]] == [
        (None, None),
        (None, None),
        ("25.00", "EUR"),
    ]
    # A retired step (the edit page's checkbox) is listed, not tried.
    retired = unsaved | {"steps-5-retired": "true"}
    steps = pages.post("/admin/insights/goals/preview", json=retired, headers=headers).json()["steps"]
    assert [(s["key"], s["retired"], s["scanned"], s["samples"]) for s in steps][1] == ("dates", True, 0, [])
    assert stored(db, designer) == []


def test_try_it_names_the_editor_control_of_each_step_problem(pages: TestClient, designer: Member) -> None:
    headers = {"X-CSRF-Token": csrf_of(pages.get(NEW).text), "Accept": "application/json"}
    wrong = STEPS_FORM | {
        "value_mode": "fixed",
        "steps-1-trigger_event": "",  # row 1 is the third step: steps[2]
        "steps-5-match_conditions": '{"nights": {"min": 2}}',  # the second: steps[1]
    }
    response = pages.post("/admin/insights/goals/preview", json=wrong, headers=headers)
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert [(d["field"], d.get("input"), d.get("inline", "")[:14]) for d in details] == [
        ("steps[1].match_conditions.nights", "steps-5-match_conditions", "nights: must b"),
        ("steps[2].trigger_event", "steps-1-trigger_event", "is required"),
        ("fixed_value", None, ""),
    ]

    one_step = {
        name: text for name, text in STEPS_FORM.items() if not name.startswith(("steps-1-", "steps-5-"))
    }
    response = pages.post("/admin/insights/goals/preview", json=one_step, headers=headers)
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert {(d["field"], d.get("input")) for d in details} == {("steps", "steps-editor")}

    # A single event still previews as before: the rows of a hidden editor are not read.
    single = FORM | {"shape": "single", "steps-0-key": "Not A Key"}
    assert pages.post("/admin/insights/goals/preview", json=single, headers=headers).status_code == 200
