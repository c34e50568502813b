"""Which chats an outcome credits, and which conversation rollup rows a credited chat counts in: pure
rules that ingestion (`rollups`) and the reports (`reports`) share, so each is written once.

An outcome is *chat-driven* when a chat got its credit: its own conversation, or a contact's earlier
chat within the goal's window (SPEC §3). A conversation's *marks* say which goals credited it under
which attribution, and whether any of those outcomes was a conversion; they decide the rows of
`conversation_goal_rollups` the conversation is counted in, once each.
"""

from __future__ import annotations

from collections.abc import Mapping

from comerix.conversions.attribution import AttributionKind

ANY = ""
"""The key of a dimension that is missing (no flow, no currency) or summed over (any goal)."""

CHAT_DRIVEN = frozenset({AttributionKind.CONVERSATION, AttributionKind.WINDOW})
"""The attributions that credit a chat: the outcomes the reports call chat-driven."""

Marks = Mapping[tuple[str, str], bool]
"""A conversation's marks: (goal id, attribution) → whether any outcome behind it was a conversion."""


def is_chat_driven(attribution: str) -> bool:
    """Whether an outcome with this attribution (its stored value) credits a chat."""
    return attribution in CHAT_DRIVEN


def credits(marks: Marks) -> set[tuple[str, str]]:
    """The (goal, attribution) rows of `conversation_goal_rollups` a conversation with `marks` counts in:
    each mark's own, its goal under any attribution, and for conversions any goal (of kind conversion)
    under the mark's attribution and under any."""
    rows: set[tuple[str, str]] = set()
    for (goal, attribution), conversion in marks.items():
        rows.update({(goal, attribution), (goal, ANY)})
        if conversion:
            rows.update({(ANY, attribution), (ANY, ANY)})
    return rows


def merged(stored: Marks, wanted: Marks) -> dict[tuple[str, str], bool]:
    """`stored` marks with `wanted` ones added: a mark is a conversion once any of its outcomes was."""
    marks = dict(stored)
    for key, conversion in wanted.items():
        marks[key] = marks.get(key, False) or conversion
    return marks
