"""Exchange rates (SPEC §11): the ECB's reference rates as shipped (known quotes on known dates, checked
against the ECB's published values), the age limit over weekends and holidays, a workspace's own rates
winning, cross rates through the euro, and the base value's rounding, all in `Decimal`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comerix.money import MAX_AMOUNT
from comerix.rates.book import RATE_DIGITS, Rate, RateBook, convert, cross
from comerix.rates.reference import EcbRates, quotes_in, read_file

ECB = EcbRates()


def book(base: str = "EUR", own: dict[str, dict[date, Decimal]] | None = None) -> RateBook:
    return RateBook(base, own or {}, ECB)


@pytest.mark.parametrize(
    ("day", "currency", "published"),
    [
        (date(2024, 1, 2), "USD", "1.0956"),  # the ECB's euro reference rates of 2 January 2024
        (date(2024, 1, 2), "GBP", "0.86645"),
        (date(2024, 1, 2), "CHF", "0.9305"),
        (date(2023, 12, 29), "USD", "1.1050"),
        (date(2024, 12, 24), "USD", "1.0395"),
    ],
)
def test_the_shipped_history_holds_the_ecbs_published_quotes(
    day: date, currency: str, published: str
) -> None:
    quote = ECB.per_euro(currency, day)
    assert isinstance(quote, Decimal)
    assert quote == Decimal(published)


def test_a_euro_sale_in_dollars_takes_that_days_rate() -> None:
    rate = book().rate("USD", "EUR", date(2024, 1, 2))
    assert rate == Rate(Decimal("1.0956"), date(2024, 1, 2))
    assert convert(Decimal("129.50"), rate) == Decimal("118.200073")  # 129.50 / 1.0956, half even


def test_a_weekend_and_a_holiday_take_the_last_business_days_rate() -> None:
    assert book().rate("USD", "EUR", date(2024, 1, 6)) == Rate(Decimal("1.0921"), date(2024, 1, 5))  # Sat
    # Good Friday and Easter Monday 2024: the ECB published nothing from Friday to Monday
    assert book().rate("USD", "EUR", date(2024, 4, 1)) == Rate(Decimal("1.0811"), date(2024, 3, 28))
    assert book().rate("USD", "EUR", date(2024, 12, 26)) == Rate(Decimal("1.0395"), date(2024, 12, 24))


def test_a_rate_more_than_seven_days_old_is_none() -> None:
    """The ECB stopped quoting the rouble after 1 March 2022."""
    assert book().rate("RUB", "EUR", date(2022, 3, 8)) == Rate(Decimal("117.201"), date(2022, 3, 1))
    assert book().rate("RUB", "EUR", date(2022, 3, 9)) is None
    assert book().rate("USD", "EUR", ECB.last_bundled_day.replace(year=ECB.last_bundled_day.year + 1)) is None


def test_a_currency_the_ecb_does_not_publish_has_no_rate() -> None:
    assert book().rate("ARS", "EUR", date(2024, 1, 2)) is None
    assert book(base="ARS").rate("EUR", "ARS", date(2024, 1, 2)) is None


def test_a_cross_rate_goes_through_the_euro_on_one_ecb_date() -> None:
    """A CHF workspace, a sale in GBP: pounds per franc are pounds per euro over francs per euro."""
    rate = book(base="CHF").rate("GBP", "CHF", date(2024, 1, 2))
    assert rate == Rate(Decimal("0.931166039764"), date(2024, 1, 2))  # 0.86645 / 0.9305, 12 digits
    assert len(rate.per_base.as_tuple().digits) <= RATE_DIGITS
    assert convert(Decimal("100"), rate) == Decimal("107.392233")
    assert book(base="CHF").rate("EUR", "CHF", date(2024, 1, 2)) == Rate(
        cross(Decimal(1), Decimal("0.9305")), date(2024, 1, 2)
    )


def test_the_workspaces_own_rate_wins_for_its_base_currency_only() -> None:
    own = {"USD": {date(2024, 1, 1): Decimal("1.25")}}
    assert book(own=own).rate("USD", "EUR", date(2024, 1, 2)) == Rate(Decimal("1.25"), date(2024, 1, 1))
    assert book(own=own).rate("USD", "EUR", date(2024, 1, 9)) == Rate(Decimal("1.0940"), date(2024, 1, 9))
    # an outcome whose event named another base currency converts with the reference rates
    assert book(own=own).rate("USD", "GBP", date(2024, 1, 2)) == Rate(
        cross(Decimal("1.0956"), Decimal("0.86645")), date(2024, 1, 2)
    )


amounts = st.decimals(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT, places=6, allow_nan=False)
rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=6).filter(bool)


@given(amounts, rates)
def test_a_base_value_is_the_exact_quotient_rounded_half_even_to_six_places(
    value: Decimal, per_base: Decimal
) -> None:
    exact = Fraction(value) / Fraction(per_base)
    expected = Decimal(round(exact * 10**6)).scaleb(-6)  # round() on a Fraction is half even
    assert convert(value, Rate(per_base, date(2024, 1, 2))) == expected


def test_an_ecb_file_is_read_as_published(tmp_path: Path) -> None:
    daily = tmp_path / "eurofxref.csv"
    daily.write_text("Date, USD, JPY, \n04 December 2026, 1.1642, 180.12, \n")
    quotes = list(quotes_in(read_file(daily)))
    assert quotes == [
        (date(2026, 12, 4), "JPY", Decimal("180.12")),
        (date(2026, 12, 4), "USD", Decimal("1.1642")),
    ]
    nonsense = tmp_path / "notes.csv"
    nonsense.write_text("")
    with pytest.raises(ValueError, match=r"notes\.csv is not an ECB reference-rate file: expected a header"):
        read_file(nonsense)
