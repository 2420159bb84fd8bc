"""UNSUPPORTED: anything that is not an http(s) or magnet link."""

from __future__ import annotations

from typing import ClassVar

from mediaferry.errors import UnsupportedSource
from mediaferry.plan import JobRequest, MediaPlan, SourceType
from mediaferry.sources.base import Source

__all__ = ["UnsupportedLink"]


class UnsupportedLink(Source):
    """A link no source can fetch (e.g. ftp:, file:, mailto:)."""

    name: ClassVar[SourceType] = SourceType.UNSUPPORTED
    example: ClassVar[str] = "ftp://ftp.example.org/pub/lecture.mp3"

    async def describe(self, request: JobRequest) -> MediaPlan:
        raise UnsupportedSource("this link is not supported; send an http(s) or magnet link")
