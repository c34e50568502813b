"""Ingestion's catalogue stage: the event names that arrived each day and the property paths seen on
them, which the Explorer lists and goal authors copy exact keys from (`EventNameDay`,
`EventPropertyKey`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from comerix.db.bulk import insert_rows
from comerix.telemetry.pipeline import Group, stored_events


def catalogue(group: Group) -> Group:
    """Bring the event-name catalogue up to date: the names and paths of each batch, counted by arrival
    (as the Explorer lists the events: an event sent late counts today)."""
    days: dict[tuple[str, date], list[Any]] = {}
    paths: dict[tuple[str, str], datetime] = {}
    for position, events in stored_events(group).items():
        batch = group.batches[position]
        arrived = batch.received_at
        day = arrived.astimezone(UTC).date()
        for name, (count, seen_paths) in batch.prepared.names_of(batch, [e.item for e in events]).items():
            entry = days.setdefault((name, day), [0, arrived])
            entry[0] += count
            entry[1] = max(entry[1], arrived)
            for path in seen_paths:
                seen = paths.get((name, path))
                paths[(name, path)] = arrived if seen is None or seen < arrived else seen
    _upsert_names(group, days)
    _upsert_paths(group, paths)
    return group


def _upsert_names(group: Group, days: dict[tuple[str, date], list[Any]]) -> None:
    codec = group.codec
    workspace = codec.id(group.terms.workspace_id)
    insert_rows(
        group.session.connection(),
        codec,
        "event_name_days",
        ("workspace_id", "name", "day", "count", "last_seen_at"),
        [
            (workspace, name, codec.day(day), count, codec.time(last))
            for (name, day), (count, last) in days.items()
        ],
        tail=(
            "ON CONFLICT (workspace_id, name, day) DO UPDATE SET "
            "count = event_name_days.count + excluded.count, "
            f"last_seen_at = {codec.greatest}(event_name_days.last_seen_at, excluded.last_seen_at)"
        ),
    )


def _upsert_paths(group: Group, paths: dict[tuple[str, str], datetime]) -> None:
    codec = group.codec
    workspace = codec.id(group.terms.workspace_id)
    insert_rows(
        group.session.connection(),
        codec,
        "event_property_keys",
        ("workspace_id", "name", "path", "last_seen_at"),
        [(workspace, name, path, codec.time(last)) for (name, path), last in paths.items()],
        tail=(
            "ON CONFLICT (workspace_id, name, path) DO UPDATE SET "
            f"last_seen_at = {codec.greatest}(event_property_keys.last_seen_at, excluded.last_seen_at)"
        ),
    )
