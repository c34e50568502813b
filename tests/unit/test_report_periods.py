"""Which periods a report reads: whole months from the monthly rollups, the rest day by day."""

from __future__ import annotations

from datetime import date

import pytest

from comerix.analytics.queries import whole_months


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        ("2026-11-01", "2026-11-30", ("2026-11-01", "2026-11-01")),
        ("2026-10-20", "2026-12-05", ("2026-11-01", "2026-11-01")),
        ("2026-10-02", "2026-11-29", None),
        ("2026-01-01", "2026-03-31", ("2026-01-01", "2026-03-01")),
        ("2024-02-01", "2024-02-29", ("2024-02-01", "2024-02-01")),
        ("2026-11-05", "2026-11-20", None),
    ],
)
def test_whole_months_inside_a_range(start: str, end: str, months: tuple[str, str] | None) -> None:
    expected = None if months is None else (date.fromisoformat(months[0]), date.fromisoformat(months[1]))
    assert whole_months(date.fromisoformat(start), date.fromisoformat(end)) == expected
