"""The admin's /health in Telegram says whether yt-dlp is ready for YouTube, and warns
about an old yt-dlp (a throwaway environment with a yt-dlp built at an old version)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e._bot_harness import ADMIN, running_bot
from tests.integration.test_ytdlp_update import OLD, old_env
from tests.support.fake_telegram import FakeTelegram
from tests.support.wheels import build_ytdlp_wheel


async def test_admin_health_shows_youtube_readiness(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    async with running_bot(tmp_path, fake_telegram, workers=False) as bot:
        text = (await bot.send(ADMIN, "/health")).text or ""
    for part in ("yt-dlp: 20", "days old", "JS runtime: deno ", "EJS solver: ", "curl_cffi"):
        assert part in text, text
    assert "⚠" not in text and "no provider" not in text


async def test_admin_health_warns_about_an_old_ytdlp(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    wheels = tmp_path / "wheels"
    build_ytdlp_wheel(wheels / "old", OLD)
    python = old_env(tmp_path / "venv", {"old": wheels / "old"})
    async with running_bot(tmp_path, fake_telegram, workers=False, ytdlp_python=python) as bot:
        text = (await bot.send(ADMIN, "/health")).text or ""
    assert f"yt-dlp: {OLD} (" in text, text
    assert f"⚠ yt-dlp {OLD} is " in text and "(over 60): run `mediaferry update`" in text, text
