"""The demo's analytics steps (SPEC §10) as a new user meets them in the Step Explorer: every flow's
chats start with the greeting and branch on the intent heard, loop on the bot's answers, and drop off
at every step; the catalogue lists each flow's steps with their labels."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from comerix import demo
from comerix.analytics import step_reports
from comerix.analytics.schemas import PathNodeRead, PathsReport, StepCatalogue
from comerix.analytics.step_reports import StepRange
from comerix.db import Database
from comerix.models import metadata

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SCALE = 0.05


@pytest.fixture(scope="module")
def workspace(database: Database) -> Iterator[uuid.UUID]:
    try:
        with database.transaction() as session:
            login = demo.create(session, now=NOW)
        demo.load_traffic(database, login.workspace_id, NOW, scale=SCALE)
        yield login.workspace_id
    finally:
        with database.engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())


def tree(database: Database, workspace_id: uuid.UUID, **params: str) -> PathsReport:
    days = {"from": (NOW - timedelta(days=89)).date().isoformat(), "to": NOW.date().isoformat()}
    with database.sessions() as session:
        return step_reports.paths(session, workspace_id, step_reports.parse_paths_query(days | params))


def test_every_chat_starts_with_the_greeting_and_branches_on_the_intent(
    database: Database, workspace: uuid.UUID
) -> None:
    report = tree(database, workspace)
    (greeting,) = report.nodes
    assert (greeting.step, greeting.label, greeting.conversations) == (
        "greeting",
        "Greeting",
        report.conversations,
    )
    intents = [node.step for node in greeting.children]
    assert len(intents) == 6
    assert all(step is not None and step.startswith("intent-") for step in intents)
    assert sum(node.conversations for node in greeting.children) == greeting.conversations
    answers = greeting.children[0].children
    assert answers[0].step == "answer"
    assert answers[0].children[0].step == "answer"  # the bot answers again: loops are kept


def test_each_flow_drops_off_somewhere_and_the_catalogue_lists_its_steps(
    database: Database, workspace: uuid.UUID
) -> None:
    support = tree(database, workspace, flow="support-bot", start="answer", depth="10")
    (answer,) = support.nodes

    def drop_offs(nodes: list[PathNodeRead]) -> int:
        return sum(node.drop_off + drop_offs(node.children) for node in nodes)

    assert drop_offs(support.nodes) > 0
    assert answer.conversations == support.conversations
    with database.sessions() as session:
        catalogue: StepCatalogue = step_reports.catalogue(session, workspace, StepRange.QUARTER, None, NOW)
    flows = {step.flow for step in catalogue.steps}
    assert flows == {"sales-assistant", "support-bot", "onboarding-guide", "returns-helper"}
    labels = {step.id: step.label for step in catalogue.steps}
    assert labels["greeting"] == "Greeting"
    assert labels["handoff"] == "Hand over to an agent"
    assert catalogue.steps[0].id in {"answer", "greeting"}  # the most executed
