"""The path tree's labels for a tree with more distinct steps than one statement can name."""

from __future__ import annotations

from comerix.analytics import step_reports
from comerix.db import Database
from tests.conftest import START
from tests.factories import make_workspace


def test_labels_of_a_tree_with_many_distinct_steps(db: Database) -> None:
    with db.transaction() as session:
        ws = make_workspace(session, START).id
    with db.sessions() as session:
        # 70,000 step ids: a depth-5 tree over many chats whose ids default to varied labels
        labels = step_reports.StepLabels(session, ws, {f"s{n}" for n in range(70_000)})
    assert [labels.of("s1"), labels.of("s69999", "sales")] == ["s1", "s69999"]  # none known: the ids
