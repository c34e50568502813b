"""The CSV export's text cells: what a spreadsheet could take for a formula gets a leading `'`."""

from __future__ import annotations

import pytest

from comerix.analytics.exports import safe_text


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("-12", "'-12"),  # in a text column an id, not an amount
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("ann", "ann"),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("'=1", "'=1"),
        ("", ""),
        (None, ""),
    ],
)
def test_text_cells_never_start_a_formula(text: str | None, cell: str) -> None:
    assert safe_text(text) == cell
