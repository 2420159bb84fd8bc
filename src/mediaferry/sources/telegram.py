"""TELEGRAM: t.me message links. Detected now; fetched once channel archiving exists."""

from __future__ import annotations

import re
from typing import ClassVar

from mediaferry.errors import UnsupportedSource
from mediaferry.plan import JobRequest, MediaPlan, SourceType
from mediaferry.sources.base import Source

__all__ = ["TelegramSource"]


class TelegramSource(Source):
    """A Telegram channel or group message link."""

    name: ClassVar[SourceType] = SourceType.TELEGRAM
    pattern: ClassVar[re.Pattern[str] | None] = re.compile(
        r"^https?://(?:www\.)?(?:t|telegram)\.(?:me|dog)/(?:s/|c/)?"
        r"(?P<chat>[\w+-]+)(?:/(?P<msg>\d+))?",
        re.IGNORECASE,
    )
    example: ClassVar[str] = "https://t.me/some_channel/1234"

    def media_id(self, url: str) -> str | None:
        match = self.pattern.search(url) if self.pattern else None
        if match and match.group("msg"):
            return f"{match.group('chat').lower()}/{match.group('msg')}"
        return None

    async def describe(self, request: JobRequest) -> MediaPlan:
        raise UnsupportedSource("Telegram links are not supported yet")
