"""`stages.window_pick`: one read of a contact's chats, for the widest window, credits every narrower
window as a read of its own would, with a database that orders the read as its collation does."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from comerix.conversions.attribution import Candidate, choose
from comerix.telemetry import stages
from comerix.telemetry.stages import CANDIDATES_PER_CONTACT, window_pick

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
GROUP: Any = SimpleNamespace(session=None, terms=SimpleNamespace(workspace_id=uuid.uuid4()))


def _database(chats: Sequence[Candidate], reads: list[int]) -> Any:
    """`contact_candidates` over `chats`, as a database with a case-blind collation sorts them: by
    start, newest first, then by id ignoring case (Python's order puts "B" before "a")."""

    def read(_session: Any, _workspace: Any, _contact: str, at: datetime, hours: int) -> list[Candidate]:
        reads.append(hours)
        start = at - timedelta(hours=hours)
        found = [c for c in chats if c.started_at <= at and c.last_activity_at >= start]
        found.sort(key=lambda c: (c.started_at, c.conversation_id.lower()), reverse=True)
        return found[:CANDIDATES_PER_CONTACT]

    return read


def _chats() -> list[Candidate]:
    """51 chats started at one moment: "a" and "B" active in the last day, the others 5 days ago."""
    start = AT - timedelta(days=10)
    recent = [Candidate(name, None, start, AT - timedelta(hours=1)) for name in ("a", "B")]
    older = [Candidate(f"a{n:02d}", None, start, AT - timedelta(days=5)) for n in range(1, 50)]
    return recent + older


@pytest.mark.parametrize("hours", [24, 72, 168, 720])
def test_every_window_gets_the_chat_its_own_read_would_credit(
    monkeypatch: pytest.MonkeyPatch, hours: int
) -> None:
    chats, reads = _chats(), []
    monkeypatch.setattr(stages, "contact_candidates", _database(chats, reads))
    own = choose(stages.contact_candidates(None, None, "bob", AT, hours), AT, hours)
    reads.clear()
    assert window_pick(GROUP, "bob", AT, hours, 720, {}) == own


def test_a_cut_read_whose_last_chat_ties_with_the_pick_is_made_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 720-hour read holds "B" and a01 to a49, not "a", which Python's order puts first of the tie."""
    reads: list[int] = []
    monkeypatch.setattr(stages, "contact_candidates", _database(_chats(), reads))
    found: dict[int, Sequence[Candidate]] = {}
    assert window_pick(GROUP, "bob", AT, 720, 720, found) is not None
    picked = window_pick(GROUP, "bob", AT, 24, 720, found)
    assert (picked and picked.conversation_id, reads) == ("a", [720, 24])


def test_a_read_under_the_limit_answers_every_narrower_window(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    monkeypatch.setattr(stages, "contact_candidates", _database(_chats()[:10], reads))
    found: dict[int, Sequence[Candidate]] = {}
    picks = [window_pick(GROUP, "bob", AT, hours, 720, found) for hours in (720, 168, 24)]
    assert ([p and p.conversation_id for p in picks], reads) == (["a08", "a08", "a"], [720])
