"""One typed settings object, read from ``MEDIAFERRY_*`` variables (and ``.env``).

Built once at start-up with :func:`load_settings` and passed down; no other module
reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mediaferry._ytdlp_args import ExtractorArgs, parse_extractor_args
from mediaferry.errors import ConfigError

__all__ = ["Settings", "load_settings"]

ENV_PREFIX = "MEDIAFERRY_"
NOTIFY_EVENTS = frozenset(
    {"follow_new", "job_failed", "follow_failing", "auth_degraded", "disk_low", "worker_lost"}
)


def _split_ints(value: object) -> object:
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(";", ",").split(",")]
        return [int(p) for p in parts if p]
    if isinstance(value, int):
        return [value]
    return value


def _split_strs(value: object) -> object:
    if isinstance(value, str):
        return [p.strip().lower() for p in value.split(",") if p.strip()]
    return value


def _split_limits(value: object) -> object:
    """``youtube=2,direct=4`` → ``{"YOUTUBE": 2, "DIRECT": 4}``."""
    if isinstance(value, str):
        out: dict[str, int] = {}
        for part in value.split(","):
            if not part.strip():
                continue
            key, sep, num = part.partition("=")
            if not sep:
                raise ValueError(f"expected SOURCE=N, got {part.strip()!r}")
            out[key.strip().upper()] = int(num)
        return out
    return value


def _split_keep_case(value: object) -> object:
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    return value


IntList = Annotated[list[int], NoDecode]
StrListKeepCase = Annotated[list[str], NoDecode]
StrList = Annotated[list[str], NoDecode]
LimitMap = Annotated[dict[str, int], NoDecode]
ExtractorArgsMap = Annotated[ExtractorArgs, NoDecode]
JS_RUNTIMES = ("deno", "node", "bun", "quickjs")


class Settings(BaseSettings):
    """Every setting of Mediaferry. The README's configuration table lists them."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # storage
    data_dir: Path = Path("./data")
    database_url: str = ""
    tmp_root: Path | None = None
    archive_root: Path | None = None

    # jobs
    max_parallel_jobs: int = Field(3, ge=1, le=256)
    source_limits: LimitMap = Field(default_factory=dict)
    max_attempts: int = Field(4, ge=1, le=100)
    retry_base_s: float = Field(5.0, ge=0)
    retry_max_s: float = Field(900.0, ge=0)
    stale_after_s: float = Field(120.0, gt=0)
    heartbeat_s: float = Field(5.0, gt=0)
    poll_s: float = Field(5.0, gt=0)
    progress_interval_s: float = Field(1.0, ge=0)
    shutdown_grace_s: float = Field(10.0, ge=0)

    # stage timeouts (seconds)
    timeout_metadata_s: float = Field(120.0, gt=0)
    timeout_check_s: float = Field(60.0, gt=0)
    timeout_download_s: float = Field(6 * 3600.0, gt=0)
    timeout_postprocess_s: float = Field(3600.0, gt=0)
    timeout_validate_s: float = Field(300.0, gt=0)
    timeout_deliver_s: float = Field(3600.0, gt=0)

    # limits
    max_queue_length: int = Field(1000, ge=1)
    max_active_per_user: int = Field(10, ge=1)
    max_jobs_per_user_hour: int = Field(60, ge=1)
    max_jobs_per_chat_hour: int = Field(120, ge=1)
    max_file_size_mb: int = Field(4000, ge=1)
    max_playlist_items: int = Field(50, ge=1)
    max_links_per_message: int = Field(50, ge=1)
    max_url_length: int = Field(4096, ge=64)

    # network
    allow_private_networks: bool = False
    http_connect_timeout_s: float = Field(15.0, gt=0)
    http_read_timeout_s: float = Field(60.0, gt=0)
    user_agent: str = "Mediaferry/0.1"

    # logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    # telegram
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_upload_limit_mb: int = Field(50, ge=1, le=4000)
    allowed_users: IntList = Field(default_factory=list)
    admin_ids: IntList = Field(default_factory=list)
    open_access: bool = False
    ask_timeout_s: float = Field(60.0, gt=0)
    # the keyboard's description of a link is kept on its job and re-used this long
    plan_max_age_s: float = Field(600.0, ge=0)
    # webhook mode: Telegram posts updates to <webhook url>/telegram/webhook on the web
    # server instead of the bot long-polling; the secret authenticates those posts
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    # one send path (delivery/ratelimit.py): Telegram's budgets, a little under its limits
    telegram_rate_private_per_s: float = Field(1.0, gt=0)  # messages/s to one private chat
    telegram_rate_group_per_min: float = Field(20.0, gt=0)  # messages/min to one group/channel
    telegram_rate_global_per_s: float = Field(25.0, gt=0)  # messages/s for the whole bot
    telegram_rate_burst: int = Field(3, ge=1)  # a chat may get this many at once
    telegram_flood_retries: int = Field(5, ge=0)  # retries after a flood wait, per call
    telegram_flood_wait_max_s: float = Field(60.0, ge=0)  # longer waits: the job retries
    telegram_timeout_s: float = Field(20.0, gt=0)  # connect/read/write of ordinary calls
    telegram_upload_timeout_s: float = Field(300.0, gt=0)  # wait for the answer to an upload
    # the Bot API server runs with --local on this machine and reads files by path
    telegram_local_mode: bool = False
    # Telegram over MTProto (issue 10, mediaferry.telegram): off without API id + hash
    telegram_api_id: int | None = Field(None, ge=1)
    telegram_api_hash: SecretStr | None = None
    telegram_mtproto_server: str | None = None  # host:port instead of Telegram's DCs
    telegram_mtproto_public_key: Path | None = None  # the server's PKCS#1 PEM key
    telegram_mtproto_dc: int = Field(2, ge=1, le=1000)
    telegram_user_session: SecretStr | None = None  # a Telethon string session
    telegram_connections: int = Field(4, ge=1, le=16)  # parallel MTProto transfer connections

    # disk
    tmp_max_age_hours: float = Field(24.0, gt=0)
    min_free_gb: float = Field(2.0, ge=0)

    # media post-processing (media/, issue 4) ------------------------------
    audio_format: Literal["m4a", "mp3"] = "m4a"
    video_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower"
    ] = "veryfast"
    video_crf: int = Field(23, ge=0, le=51)
    oversize_policy: Literal["split", "fail", "smaller"] = "split"
    duration_tolerance_s: float = Field(3.0, ge=0)
    duration_tolerance_pct: float = Field(5.0, ge=0, le=100)
    ffmpeg_path: str = "ffmpeg"
    ffprobe_path: str = "ffprobe"
    # end media post-processing ---------------------------------------------

    # web
    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, ge=0, le=65535)
    api_key: SecretStr | None = None

    # sources
    islamic_domains: StrList = Field(
        default_factory=lambda: ["way2allah.com", "islamway.net", "ar.islamway.net"]
    )
    browser_domains: StrList = Field(default_factory=list)
    chromium_path: str = "/usr/bin/chromium"

    # download engine (sources + transfer backends) ---------------------
    aria2c_path: str = "aria2c"
    # direct files larger than this go to aria2c when one connection is slow (bigfile.py):
    aria2_min_size_mb: int = Field(512, ge=0)
    aria2_handoff_below_mb_s: float = Field(20.0, ge=0)  # ... slower than this, in MB/s
    aria2_handoff_after_s: float = Field(3.0, ge=0)  # ... this far in (0: aria2c at once)
    aria2_connections: int = Field(4, ge=1, le=16)
    aria2_enable_dht: bool = False  # DHT/LPD/PEX for torrents (off by default)
    aria2_rpc_timeout_s: float = Field(10.0, gt=0)
    torrent_timeout_s: float = Field(300.0, gt=0)  # no metadata/peers within this: TIMEOUT
    ytdlp_concurrent_fragments: int = Field(4, ge=1, le=32)
    ytdlp_kill_grace_s: float = Field(3.0, ge=0)
    rate_limit_cooldown_s: float = Field(300.0, ge=0)  # per-domain pause after RATE_LIMIT
    browser_timeout_s: float = Field(30.0, gt=0)
    browser_settle_s: float = Field(2.0, ge=0)  # wait after load for late media requests
    # auth profiles (jobs/auth.py): consecutive failures before a profile is DEGRADED
    auth_degrade_after: int = Field(3, ge=1)
    auth_cookie_max_kb: int = Field(1024, ge=1)  # largest cookie file accepted

    # yt-dlp readiness and freshness (issue 14) ---------------------------
    # passed to yt-dlp as extractor_args: yt-dlp's --extractor-args syntax or JSON
    ytdlp_extractor_args: ExtractorArgsMap = Field(default_factory=dict)
    # JavaScript runtime for YouTube's challenges, RUNTIME[:PATH]; "deno" alone means
    # the binary of the deno package installed with Mediaferry; "none" turns it off
    ytdlp_js_runtime: str = "deno"
    # upgrade yt-dlp in the background from `mediaferry run`/`worker`
    ytdlp_auto_update: Literal["off", "daily", "weekly"] = "weekly"
    # the Python environment that runs yt-dlp and that `mediaferry update` upgrades
    # (empty: Mediaferry's own interpreter)
    ytdlp_python: str = ""
    # where `mediaferry update` looks: pip --index-url ("none": no index, only the
    # find-links folder) and pip --find-links; empty: pip's own configuration
    update_index_url: str = ""
    update_find_links: str = ""
    # follows (follows/): how often followed sources are checked, and their caps
    follow_default_every_s: int = Field(3600, ge=1)
    follow_min_every_s: int = Field(900, ge=1)
    max_follows_per_user: int = Field(50, ge=1)
    follow_max_feed_mb: int = Field(20, ge=1, le=1024)
    follow_seen_keep: int = Field(2000, ge=100)  # seen entry ids remembered per follow
    # notifications for the operator (Apprise URLs, comma-separated) and which events
    notify_urls: StrListKeepCase = Field(default_factory=list)
    notify_events: StrList = Field(
        default_factory=lambda: [
            "follow_new",
            "job_failed",
            "follow_failing",
            "auth_degraded",
            "disk_low",
            "worker_lost",
        ]
    )
    notify_batch_s: float = Field(60.0, ge=0)  # events within this window: one message

    @field_validator("allowed_users", "admin_ids", mode="before")
    @classmethod
    def _ints(cls, value: object) -> object:
        return _split_ints(value)

    @field_validator("islamic_domains", "browser_domains", mode="before")
    @classmethod
    def _strs(cls, value: object) -> object:
        return _split_strs(value)

    @field_validator("notify_urls", mode="before")
    @classmethod
    def _notify_urls(cls, value: object) -> object:
        return _split_keep_case(value)

    @field_validator("notify_events", mode="before")
    @classmethod
    def _notify_events(cls, value: object) -> object:
        return _split_strs(value)

    @field_validator("notify_events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - NOTIFY_EVENTS)
        if unknown:
            raise ValueError(
                f"unknown event {unknown[0]!r}; choose from {', '.join(sorted(NOTIFY_EVENTS))}"
            )
        return value

    @field_validator("source_limits", mode="before")
    @classmethod
    def _limits(cls, value: object) -> object:
        return _split_limits(value)

    @field_validator("ytdlp_extractor_args", mode="before")
    @classmethod
    def _extractor_args(cls, value: object) -> object:
        return parse_extractor_args(value)

    @field_validator("ytdlp_auto_update", mode="before")
    @classmethod
    def _auto_update(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("off", "daily", "weekly"):
            return value.strip().lower()
        if isinstance(value, str):
            raise ValueError(f"must be off, daily or weekly, not {value.strip()!r}")
        return value

    @field_validator("ytdlp_js_runtime")
    @classmethod
    def _js_runtime(cls, value: str) -> str:
        name = value.strip().partition(":")[0].lower()
        if name != "none" and name not in JS_RUNTIMES:
            raise ValueError(
                f"unknown JavaScript runtime {name!r}; use one of "
                f"{', '.join(JS_RUNTIMES)} (optionally RUNTIME:PATH) or none"
            )
        return value.strip()

    @field_validator("telegram_api_id", mode="before")
    @classmethod
    def _api_id(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None
            if not value.strip().isdigit():
                raise ValueError("must be a number (the api_id from my.telegram.org)")
        return value

    @field_validator("telegram_mtproto_server")
    @classmethod
    def _mtproto_server(cls, value: str | None) -> str | None:
        if not value:
            return None
        host, sep, port = value.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        self.data_dir = self.data_dir.expanduser()
        if self.tmp_root is None:
            self.tmp_root = self.data_dir / "tmp"
        if self.archive_root is None:
            self.archive_root = self.data_dir / "archive"
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'mediaferry.db').resolve()}"
        return self

    # conveniences -------------------------------------------------------
    @property
    def tmp_dir(self) -> Path:
        assert self.tmp_root is not None
        return self.tmp_root

    @property
    def archive_dir(self) -> Path:
        assert self.archive_root is not None
        return self.archive_root

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def upload_limit_bytes(self) -> int:
        return self.telegram_upload_limit_mb * 1024 * 1024

    @property
    def max_file_size_bytes(self) -> int:
        return self.max_file_size_mb * 1024 * 1024

    @property
    def mtproto_enabled(self) -> bool:
        """Telegram over MTProto is on only with an API id and hash."""
        return self.telegram_api_id is not None and self.telegram_api_hash is not None

    @property
    def bot_mtproto_enabled(self) -> bool:
        """The bot logs in over MTProto too: a bot token and API id/hash are set."""
        return self.mtproto_enabled and self.telegram_token is not None

    @property
    def mtproto_off_reason(self) -> str:
        return (
            "Telegram over MTProto is off: set MEDIAFERRY_TELEGRAM_API_ID and "
            "MEDIAFERRY_TELEGRAM_API_HASH (from my.telegram.org)"
        )

    def stage_timeout(self, stage: str) -> float:
        value: float = getattr(self, f"timeout_{stage.lower()}_s", 3600.0)
        return value

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admin_ids

    def is_allowed(self, user_id: int | None) -> bool:
        if self.open_access:
            return True
        return user_id is not None and (user_id in self.allowed_users or user_id in self.admin_ids)


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning a validation failure into one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else "?"
        raise ConfigError(
            f"invalid setting {ENV_PREFIX}{field.upper()}: {first.get('msg', 'invalid value')}"
        ) from None
