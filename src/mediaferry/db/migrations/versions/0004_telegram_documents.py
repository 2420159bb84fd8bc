"""Telegram documents (issue 10): dedup by document id across chats and runs.

``telegram_documents`` maps a Telegram document (id, access hash, size) to the job and
library item that produced its file, so the same document seen in another chat (or
again) is not downloaded twice. ``channel_messages`` learns which job a message
became. ``telegram_channels.last_message_id`` (from 0001) is each chat's high-water
mark.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "telegram_documents",
        sa.Column("document_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("access_hash", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("media_item_id", sa.BigInteger(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("channel_messages") as batch:
        batch.add_column(sa.Column("job_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channel_messages") as batch:
        batch.drop_column("job_id")
    op.drop_table("telegram_documents")
