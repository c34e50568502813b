"""Workspaces: the tenants. One shop or brand, with its base currency and reporting time zone."""
