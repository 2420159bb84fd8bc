"""Follows: followed playlists, channels, feeds and Telegram chats, and their seen-sets.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "follows",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("job_type", sa.String(16), nullable=False),
        sa.Column("quality", sa.String(32), nullable=False),
        sa.Column("tg_kind", sa.String(16)),
        sa.Column("include_re", sa.Text),
        sa.Column("exclude_re", sa.Text),
        sa.Column("min_duration_s", sa.Float),
        sa.Column("max_duration_s", sa.Float),
        sa.Column("published_after", sa.DateTime(timezone=True)),
        sa.Column("user_id", sa.BigInteger),
        sa.Column("chat_id", sa.BigInteger),
        sa.Column("archive", sa.Boolean, nullable=False),
        sa.Column("every_s", sa.Integer, nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_check_at", sa.DateTime(timezone=True)),
        sa.Column("last_ok_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("keep_last", sa.Integer),
        sa.Column("keep_days", sa.Integer),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("high_water", sa.BigInteger),
        sa.Column("primed", sa.Boolean, nullable=False),
        sa.Column("backfill", sa.Integer, nullable=False),
        sa.Column("items_queued", sa.Integer, nullable=False),
        sa.Column("last_new", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claimed_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_follows_due", "follows", ["paused", "next_check_at"])
    op.create_index("ix_follows_user", "follows", ["user_id"])
    op.create_table(
        "follow_seen",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "follow_id",
            sa.BigInteger,
            sa.ForeignKey("follows.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("entry_id", sa.String(512), nullable=False),
        sa.Column("job_id", sa.BigInteger),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("follow_id", "entry_id", name="uq_follow_seen_entry"),
    )
    op.create_index("ix_follow_seen_job", "follow_seen", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_follow_seen_job", table_name="follow_seen")
    op.drop_table("follow_seen")
    op.drop_index("ix_follows_user", table_name="follows")
    op.drop_index("ix_follows_due", table_name="follows")
    op.drop_table("follows")
