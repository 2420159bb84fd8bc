"""SQLAlchemy 2 models (DESIGN.md §3). Migrations live in ``db/migrations``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from mediaferry.db.columns import utcnow

__all__ = [
    "AuthProfile",
    "Base",
    "ChannelMessage",
    "ChatSettings",
    "DomainCooldown",
    "Follow",
    "FollowSeen",
    "Job",
    "JobEvent",
    "MediaItem",
    "SystemState",
    "TelegramChannel",
    "TelegramDocument",
    "WorkerRecord",
    "utcnow",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}  # noqa: RUF012


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(Text)
    normalized_url: Mapped[str] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(String(255), default=None)
    source_type: Mapped[str] = mapped_column(String(32))
    job_type: Mapped[str] = mapped_column(String(16), default="video")
    requested_quality: Mapped[str] = mapped_column(String(32), default="best")
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    stage: Mapped[str | None] = mapped_column(String(16), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=4)
    not_before: Mapped[datetime | None] = mapped_column(default=None)
    job_key: Mapped[str] = mapped_column(String(64))
    media_id: Mapped[str | None] = mapped_column(String(255), default=None)
    user_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    chat_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    message_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    archive: Mapped[bool] = mapped_column(Boolean, default=False)
    origin: Mapped[str] = mapped_column(String(16), default="cli")
    auth_profile_id: Mapped[str | None] = mapped_column(String(64), default=None)
    title: Mapped[str | None] = mapped_column(Text, default=None)
    final_title: Mapped[str | None] = mapped_column(Text, default=None)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_total: Mapped[int | None] = mapped_column(BigInteger, default=None)
    speed: Mapped[float | None] = mapped_column(Float, default=None)
    eta: Mapped[float | None] = mapped_column(Float, default=None)
    file_path: Mapped[str | None] = mapped_column(Text, default=None)
    file_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    telegram_file_id: Mapped[str | None] = mapped_column(Text, default=None)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error_type: Mapped[str | None] = mapped_column(String(32), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_id: Mapped[str | None] = mapped_column(String(64), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_jobs_job_key", "job_key"),
        # only jobs that have a user/chat: the per-user and per-chat limits ask by value,
        # and CLI/API jobs (no user) then cost no write to these indexes
        Index(
            "ix_jobs_user_created",
            "user_id",
            "created_at",
            sqlite_where=text("user_id IS NOT NULL"),
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index(
            "ix_jobs_chat_created",
            "chat_id",
            "created_at",
            sqlite_where=text("chat_id IS NOT NULL"),
            postgresql_where=text("chat_id IS NOT NULL"),
        ),
    )


# The claim order (priority first, then oldest) read straight off the index, no sort.
Index("ix_jobs_claim", Job.status, Job.priority.desc(), Job.id)


class JobEvent(Base):
    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("jobs.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(48))
    origin: Mapped[str | None] = mapped_column(String(16), default=None)  # writing process
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_job_events_job", "job_id", "id"),)


class AuthProfile(Base):
    __tablename__ = "auth_profiles"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_type: Mapped[str] = mapped_column(String(32))
    cookie_file_path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    last_failure_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatSettings(Base):
    __tablename__ = "chat_settings"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    archive_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    default_job_type: Mapped[str | None] = mapped_column(String(16), default=None)
    default_quality: Mapped[str] = mapped_column(String(32), default="best")
    ask: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MediaItem(Base):
    __tablename__ = "media_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    job_key: Mapped[str | None] = mapped_column(String(64), default=None)
    path: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text, default=None)
    performer: Mapped[str | None] = mapped_column(Text, default=None)
    album: Mapped[str | None] = mapped_column(Text, default=None)
    duration: Mapped[float | None] = mapped_column(Float, default=None)
    container: Mapped[str | None] = mapped_column(String(32), default=None)
    video_codec: Mapped[str | None] = mapped_column(String(32), default=None)
    audio_codec: Mapped[str | None] = mapped_column(String(32), default=None)
    file_format: Mapped[str | None] = mapped_column(String(16), default=None)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    source_type: Mapped[str | None] = mapped_column(String(32), default=None)
    origin_url: Mapped[str | None] = mapped_column(Text, default=None)
    media_id: Mapped[str | None] = mapped_column(String(255), default=None)
    chat_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    channel_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    message_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    telegram_file_id: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_media_items_job_key", "job_key"),
        Index("ix_media_items_sha256", "sha256"),
    )


class TelegramChannel(Base):
    __tablename__ = "telegram_channels"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str | None] = mapped_column(Text, default=None)
    username: Mapped[str | None] = mapped_column(String(64), default=None)
    last_message_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelMessage(Base):
    __tablename__ = "channel_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    file_unique_id: Mapped[str | None] = mapped_column(String(128), default=None)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    mime: Mapped[str | None] = mapped_column(String(128), default=None)
    state: Mapped[str] = mapped_column(String(16), default="PENDING")
    resume_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    media_item_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    job_id: Mapped[int | None] = mapped_column(BigInteger, default=None)  # 0004
    grouped_id: Mapped[int | None] = mapped_column(BigInteger, default=None)  # 0006: album

    __table_args__ = (
        UniqueConstraint("channel_id", "message_id"),
        Index("ix_channel_messages_file_unique_id", "file_unique_id"),  # 0006
    )


class TelegramDocument(Base):
    """A Telegram document already fetched (issue 10): dedup by document id."""

    __tablename__ = "telegram_documents"

    document_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    access_hash: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    job_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    media_item_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    chat_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    message_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkerRecord(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    running: Mapped[int] = mapped_column(Integer, default=0)


class DomainCooldown(Base):
    """A site that answered RATE_LIMIT: its jobs are not claimed before ``until``."""

    __tablename__ = "domain_cooldowns"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    until: Mapped[datetime] = mapped_column()


class SystemState(Base):
    """Small key/value flags shared by every process: paused, maintenance, disk_low."""

    __tablename__ = "system_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- Telegram bot (issue 5) ---------------------------------------------------------
class TelegramWaiter(Base):
    """Another chat waiting on the same in-flight job; sent the file_id on completion."""

    __tablename__ = "telegram_waiters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("jobs.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    message_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_telegram_waiters_job", "job_id"),
        UniqueConstraint("job_id", "chat_id"),
    )


# --- end Telegram bot ----------------------------------------------------------------


# --- Follows (issue 11) --------------------------------------------------------------
class Follow(Base):
    """A followed playlist, channel, feed or Telegram chat: new entries become jobs."""

    __tablename__ = "follows"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # feed | playlist | telegram
    title: Mapped[str | None] = mapped_column(Text, default=None)
    job_type: Mapped[str] = mapped_column(String(16), default="video")
    quality: Mapped[str] = mapped_column(String(32), default="best")
    tg_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    include_re: Mapped[str | None] = mapped_column(Text, default=None)
    exclude_re: Mapped[str | None] = mapped_column(Text, default=None)
    min_duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    max_duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    published_after: Mapped[datetime | None] = mapped_column(default=None)
    user_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    chat_id: Mapped[int | None] = mapped_column(BigInteger, default=None)  # results go here
    archive: Mapped[bool] = mapped_column(Boolean, default=False)
    every_s: Mapped[int] = mapped_column(Integer, default=3600)
    next_check_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_check_at: Mapped[datetime | None] = mapped_column(default=None)
    last_ok_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    keep_last: Mapped[int | None] = mapped_column(Integer, default=None)
    keep_days: Mapped[int | None] = mapped_column(Integer, default=None)
    etag: Mapped[str | None] = mapped_column(Text, default=None)
    last_modified: Mapped[str | None] = mapped_column(Text, default=None)
    high_water: Mapped[int | None] = mapped_column(BigInteger, default=None)
    primed: Mapped[bool] = mapped_column(Boolean, default=False)  # first check done
    backfill: Mapped[int] = mapped_column(Integer, default=0)
    items_queued: Mapped[int] = mapped_column(Integer, default=0)
    last_new: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_follows_due", "paused", "next_check_at"),
        Index("ix_follows_user", "user_id"),
    )


class FollowSeen(Base):
    """An entry a follow has already seen (and the job it became, if any)."""

    __tablename__ = "follow_seen"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    follow_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("follows.id", ondelete="CASCADE"))
    entry_id: Mapped[str] = mapped_column(String(512))
    job_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("follow_id", "entry_id", name="uq_follow_seen_entry"),
        Index("ix_follow_seen_job", "job_id"),
    )


# --- end Follows ---------------------------------------------------------------------
