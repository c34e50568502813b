"""Conversions: what a matched event is worth (valuation), which chat gets the credit (attribution),
and the recorded outcomes."""
