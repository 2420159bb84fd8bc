"""Fewer, better job indexes for the queue's hot path.

- Claim order from the index: ``(status, priority DESC, id)``. The old
  ``(status, priority, id)`` made every claim sort the queued jobs of a priority by
  id (a temporary B-tree per claim, ~60 µs with 200 queued jobs on SQLite, growing
  with the queue); this one is scanned in order.
- ``ix_jobs_worker`` and ``ix_jobs_domain`` answered no query and cost a page write
  on every insert and claim.
- The per-user and per-chat indexes only hold jobs that have a user or chat (the
  limit checks ask for one by value).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _partial_index(name: str, column: str) -> None:
    where = sa.text(f"{column} IS NOT NULL")
    op.create_index(
        name, "jobs", [column, "created_at"], sqlite_where=where, postgresql_where=where
    )


def upgrade() -> None:
    op.drop_index("ix_jobs_status_prio", table_name="jobs")
    op.create_index("ix_jobs_claim", "jobs", ["status", sa.text("priority DESC"), "id"])
    op.drop_index("ix_jobs_worker", table_name="jobs")
    op.drop_index("ix_jobs_domain", table_name="jobs")
    op.drop_index("ix_jobs_user_created", table_name="jobs")
    op.drop_index("ix_jobs_chat_created", table_name="jobs")
    _partial_index("ix_jobs_user_created", "user_id")
    _partial_index("ix_jobs_chat_created", "chat_id")


def downgrade() -> None:
    op.drop_index("ix_jobs_chat_created", table_name="jobs")
    op.drop_index("ix_jobs_user_created", table_name="jobs")
    op.create_index("ix_jobs_chat_created", "jobs", ["chat_id", "created_at"])
    op.create_index("ix_jobs_user_created", "jobs", ["user_id", "created_at"])
    op.create_index("ix_jobs_domain", "jobs", ["domain"])
    op.create_index("ix_jobs_worker", "jobs", ["worker_id"])
    op.drop_index("ix_jobs_claim", table_name="jobs")
    op.create_index("ix_jobs_status_prio", "jobs", ["status", "priority", "id"])
