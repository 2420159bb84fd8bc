"""Alembic environment: runs on the connection handed in by mediaferry.db.migrate."""

from __future__ import annotations

from alembic import context

from mediaferry.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via mediaferry.db.migrate
    raise RuntimeError("run migrations with `mediaferry db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
