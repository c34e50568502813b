"""Alembic revisions, written and reviewed by hand; they run unchanged on SQLite and PostgreSQL."""
