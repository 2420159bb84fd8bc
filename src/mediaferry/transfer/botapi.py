"""The "botapi" transfer backend: a file sent to the bot, fetched through the Bot API.

``getFile`` gives the file's path (the Bot API serves files up to 20 MB; a bigger one
is ``400 Bad Request: file is too big``), then the bytes come from
``<MEDIAFERRY_TELEGRAM_API_URL>/file/bot<token>/<path>`` (or, from a local Bot API
server started with ``--local``, straight from its disk). Plain HTTP on httpx: this
is the Bot API's file service, not python-telegram-bot's, which only the bot process
loads. Flood waits (429 ``retry_after``) are honoured by the job's retry policy; the
token never appears in an error message.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from mediaferry.errors import (
    ConfigError,
    JobError,
    NetworkError,
    RateLimited,
    SizeLimitExceeded,
    TelegramError,
)
from mediaferry.files.names import sanitize_filename
from mediaferry.plan import NEEDS_MTPROTO
from mediaferry.transfer._sink import FileSink
from mediaferry.transfer.base import Progress, ProgressSink, Transfer, TransferResult

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.plan import MediaPlan

__all__ = ["BotApiTransfer", "TelegramRefused"]

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 0.25


class TelegramRefused(TelegramError):
    """Telegram refused to give out the file (not worth retrying)."""

    retryable = False


def _refusal(status: int, payload: Any) -> JobError:
    """The Mediaferry error for a Bot API error answer (``{"ok": false, …}``)."""
    data = payload if isinstance(payload, dict) else {}
    description = str(data.get("description") or f"HTTP {status}")[:200]
    retry_after = (data.get("parameters") or {}).get("retry_after")
    if status == 429 or retry_after:
        wait = float(retry_after or 5)
        return RateLimited(f"Telegram asks to wait {wait:.0f} s", retry_after=wait)
    if "file is too big" in description.lower():
        return SizeLimitExceeded(NEEDS_MTPROTO)
    if status >= 500:
        return TelegramError(f"the Bot API failed: {description}")
    return TelegramRefused(f"Telegram refused the file: {description}")


class BotApiTransfer(Transfer):
    name: ClassVar[str] = "botapi"
    protocols: ClassVar[tuple[str, ...]] = ("telegram-botapi",)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)

    def _root(self) -> tuple[str, str]:
        token = self.settings.telegram_token
        if token is None:
            raise ConfigError("MEDIAFERRY_TELEGRAM_TOKEN is needed to fetch files sent to the bot")
        return self.settings.telegram_api_url.rstrip("/"), token.get_secret_value()

    def _client(self) -> httpx.AsyncClient:
        timeout = self.settings.telegram_timeout_s
        return httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout), read=60.0),
            follow_redirects=False,
            trust_env=False,
        )

    async def fetch(
        self, plan: MediaPlan, dest_dir: Path, progress: ProgressSink
    ) -> TransferResult:
        about = plan.extra.get("telegram")
        file_id = about.get("file_id") if isinstance(about, dict) else None
        if not file_id:
            raise TelegramRefused("the plan names no Bot API file")
        api, token = self._root()
        dest_dir.mkdir(parents=True, exist_ok=True)
        stem = sanitize_filename(plan.title or "telegram-file", max_bytes=160)
        dest = dest_dir / f"{stem}.{plan.ext or 'bin'}"
        async with self._client() as client:
            info = await self._get_file(client, api, token, str(file_id))
            file_path = str(info.get("file_path") or "")
            if not file_path:
                raise TelegramRefused("Telegram gave no path for the file")
            total = int(info.get("file_size") or plan.size or 0) or None
            if self.settings.telegram_local_mode and Path(file_path).is_absolute():
                await asyncio.to_thread(shutil.copyfile, file_path, dest)
                size = dest.stat().st_size
                progress(Progress(size, size))
                return TransferResult(dest, size, self.name)
            if PurePosixPath(file_path).is_absolute() or ".." in PurePosixPath(file_path).parts:
                raise TelegramRefused("Telegram gave an unusable file path")
            return await self._download(
                client, f"{api}/file/bot{token}/{file_path}", dest, total, progress
            )

    async def _get_file(
        self, client: httpx.AsyncClient, api: str, token: str, file_id: str
    ) -> dict[str, Any]:
        try:
            response = await client.post(f"{api}/bot{token}/getFile", json={"file_id": file_id})
        except httpx.HTTPError as exc:
            raise NetworkError(f"the Bot API could not be reached ({type(exc).__name__})") from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code != 200 or not isinstance(payload, dict) or not payload.get("ok"):
            raise _refusal(response.status_code, payload)
        result = payload.get("result")
        if not isinstance(result, dict):
            raise TelegramError("the Bot API answered getFile without a file")
        return result

    async def _download(
        self,
        client: httpx.AsyncClient,
        url: str,
        dest: Path,
        total: int | None,
        progress: ProgressSink,
    ) -> TransferResult:
        sink = FileSink(dest, 0)
        done = 0
        started = last = time.monotonic()
        try:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise TelegramError(
                        f"the Bot API's file service answered {response.status_code}"
                    )
                async for chunk in response.aiter_bytes(256 * 1024):
                    await sink.write(chunk)
                    done += len(chunk)
                    now = time.monotonic()
                    if now - last >= PROGRESS_EVERY_S:
                        last = now
                        speed = done / max(now - started, 1e-3)
                        eta = (total - done) / speed if total and speed else None
                        progress(Progress(done, total, speed, eta))
            digest = await sink.finish()
        except httpx.HTTPError as exc:
            await sink.abort()
            raise NetworkError(
                f"the download from the Bot API broke off ({type(exc).__name__})"
            ) from None
        except BaseException:
            await sink.abort()
            raise
        if total is not None and done != total:
            raise NetworkError(f"the Bot API sent {done} of {total} bytes")
        progress(Progress(done, total or done))
        log.info("fetched a file sent to the bot through the Bot API (%d bytes)", done)
        return TransferResult(dest, done, self.name, digest=digest)
