"""Alembic environment: runs against the engine handed over in `config.attributes["engine"]`.

`comerix` brings the database up to date itself (`comerix.db.migrate.upgrade`); to write a new revision,
see docs/development.md.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine

from comerix.models import metadata

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url (alembic -x) or run migrations through `comerix migrate`")
    engine = create_engine(url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
