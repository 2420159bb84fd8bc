"""Library full-text search: SQLite FTS5 or a PostgreSQL GIN index.

SQLite: ``media_items_fts`` is an external-content FTS5 table over
``media_items(title, performer, album)``, kept in sync by triggers, with prefix
indexes for 2-4 characters (a search's last word matches as a prefix).
PostgreSQL: a GIN index on the same ``to_tsvector('simple', …)`` expression that
:mod:`mediaferry.db.library` queries with.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Must stay identical to ``mediaferry.db.library.PG_DOCUMENT`` or the index is not used.
PG_DOCUMENT = (
    "to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(performer, '')"
    " || ' ' || coalesce(album, ''))"
)

_FTS_COLUMNS = "title, performer, album"
_SQLITE_UP = [
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS media_items_fts USING fts5(
        {_FTS_COLUMNS}, content='media_items', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3 4')""",
    f"""CREATE TRIGGER IF NOT EXISTS media_items_fts_ai AFTER INSERT ON media_items BEGIN
        INSERT INTO media_items_fts(rowid, {_FTS_COLUMNS})
        VALUES (new.id, new.title, new.performer, new.album);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS media_items_fts_ad AFTER DELETE ON media_items BEGIN
        INSERT INTO media_items_fts(media_items_fts, rowid, {_FTS_COLUMNS})
        VALUES ('delete', old.id, old.title, old.performer, old.album);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS media_items_fts_au AFTER UPDATE OF {_FTS_COLUMNS}
    ON media_items BEGIN
        INSERT INTO media_items_fts(media_items_fts, rowid, {_FTS_COLUMNS})
        VALUES ('delete', old.id, old.title, old.performer, old.album);
        INSERT INTO media_items_fts(rowid, {_FTS_COLUMNS})
        VALUES (new.id, new.title, new.performer, new.album);
    END""",
    "INSERT INTO media_items_fts(media_items_fts) VALUES ('rebuild')",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS media_items_fts_au",
    "DROP TRIGGER IF EXISTS media_items_fts_ad",
    "DROP TRIGGER IF EXISTS media_items_fts_ai",
    "DROP TABLE IF EXISTS media_items_fts",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(
            "CREATE INDEX IF NOT EXISTS ix_media_items_fts"
            f" ON media_items USING GIN ({PG_DOCUMENT})"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_media_items_fts")
