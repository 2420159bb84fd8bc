"""Shared fixtures. Fixture modules live in tests/support/ and are registered here."""

from __future__ import annotations

import os

# python-telegram-bot 22 warns (PTBDeprecationWarning) whenever a duration such as
# RetryAfter.retry_after or Video.duration is read as an int; with filterwarnings=error
# that warning would replace the RetryAfter itself. Opt in to the future timedelta types.
os.environ.setdefault("PTB_TIMEDELTA", "true")
# never upgrade yt-dlp from a test's `mediaferry run`/`worker` (it would ask an index)
os.environ.setdefault("MEDIAFERRY_YTDLP_AUTO_UPDATE", "off")

pytest_plugins: list[str] = [
    "tests.support.media_fixtures",
    "tests.support.media_server",
    "tests.support.fake_telegram",
    "tests.support.db_fixtures",
    "tests.support.services",
    "tests.support.pg_cluster",
    "tests.support.netns",
    "tests.support.fake_mtproto.fixture",
    "tests.support.feed_server",
]
