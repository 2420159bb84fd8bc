"""Keep yt-dlp fresh in the background (``MEDIAFERRY_YTDLP_AUTO_UPDATE``).

``mediaferry run`` and ``mediaferry worker`` run :func:`auto_update_loop` unless the
setting is ``off``: once a day or a week (counted from the last attempt, which is
remembered in ``DATA_DIR/ytdlp-update.json`` so a restart does not reset it, and
never sooner than a few minutes after start) it upgrades yt-dlp like
``mediaferry update`` (:func:`update_now`, which is remembered the same way) and logs
the result. The upgrade waits for yt-dlp jobs that
are starting (the environment lock); running jobs keep their version, the next job
uses the new one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediaferry.errors import MediaferryError
from mediaferry.net.ytdlp_update import UpdateResult, update_ytdlp

if TYPE_CHECKING:
    from mediaferry.config import Settings

__all__ = ["INTERVALS", "auto_update_loop", "refresh_once", "state_path", "update_now"]

log = logging.getLogger(__name__)
INTERVALS = {"daily": 86400.0, "weekly": 7 * 86400.0}
FIRST_DELAY_S = 300.0


def state_path(settings: Settings) -> Path:
    return settings.data_dir / "ytdlp-update.json"


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(path: Path, state: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)
    except OSError as exc:
        log.warning("cannot remember the yt-dlp update time: %s", exc)


async def update_now(settings: Settings) -> UpdateResult:
    """``mediaferry update``: upgrade yt-dlp at once and remember the attempt, so the
    background schedule counts from it. Raises what the upgrade raises."""
    started = time.time()
    try:
        result = await update_ytdlp(settings)
    except MediaferryError as exc:
        _write_state(state_path(settings), {"last_attempt": started, "result": exc.message})
        raise
    _write_state(state_path(settings), {"last_attempt": started, "result": result.describe()})
    return result


async def refresh_once(settings: Settings) -> UpdateResult | None:
    """Upgrade yt-dlp now, log the result and remember the attempt."""
    started = time.time()
    state: dict[str, Any] = {"last_attempt": started}
    try:
        result = await update_ytdlp(settings)
    except MediaferryError as exc:
        log.warning("yt-dlp auto-update: %s", exc.message)
        _write_state(state_path(settings), {**state, "result": exc.message})
        return None
    if result.changed:
        log.info(
            "yt-dlp auto-update: %s; the next job uses it",
            result.describe(),
            extra={"ytdlp_old": result.old, "ytdlp_new": result.new},
        )
    else:
        log.info("yt-dlp auto-update: %s", result.describe())
    _write_state(state_path(settings), {**state, "result": result.describe()})
    return result


async def auto_update_loop(settings: Settings, *, first_delay_s: float = FIRST_DELAY_S) -> None:
    """Run :func:`refresh_once` on schedule until cancelled."""
    interval = INTERVALS.get(settings.ytdlp_auto_update)
    if interval is None:
        return
    earliest = time.time() + first_delay_s
    while True:
        last = float(_read_state(state_path(settings)).get("last_attempt") or 0.0)
        due = max(last + interval, earliest)
        wait = due - time.time()
        if wait > 0:
            # re-read after sleeping: another process sharing DATA_DIR may have done it
            await asyncio.sleep(min(wait, 3600.0))
            continue
        try:
            await refresh_once(settings)
        except Exception:  # never let the service die of its updater
            log.exception("yt-dlp auto-update failed")
            _write_state(state_path(settings), {"last_attempt": time.time(), "result": "crashed"})
