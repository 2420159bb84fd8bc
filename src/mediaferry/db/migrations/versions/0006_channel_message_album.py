"""Telegram messages learn their album (issue 10): ``channel_messages.grouped_id``.

A ``t.me`` link to a message already seen is a duplicate of the job its document
became, without asking Telegram again — unless the message is an item of an album:
such a link (without ``?single``) stands for the whole album. The messages holding a
document are found by ``file_unique_id`` (the document id) when its file lands in the
library.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


_TABLE = "channel_messages"
_INDEX = "ix_channel_messages_file_unique_id"


def upgrade() -> None:
    with op.batch_alter_table(_TABLE) as batch:
        batch.add_column(sa.Column("grouped_id", sa.BigInteger(), nullable=True))
    op.create_index(_INDEX, _TABLE, ["file_unique_id"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name=_TABLE)
    with op.batch_alter_table(_TABLE) as batch:
        batch.drop_column("grouped_id")
