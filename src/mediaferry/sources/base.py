"""What a source is: it recognises URLs and *describes* what to fetch.

Sources never download. ``describe()`` returns a :class:`~mediaferry.plan.MediaPlan` (plain data:
URL, headers, protocol, title, size...), and a transfer backend chosen by
``plan.protocol`` fetches it (see :mod:`mediaferry.transfer`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from mediaferry.sources.detect import claims, media_id_for

if TYPE_CHECKING:
    from mediaferry.config import Settings
    from mediaferry.plan import JobRequest, MediaPlan, SourceType

__all__ = ["Source"]


class Source(ABC):
    """A kind of link. Subclasses set ``name`` and ``example``."""

    name: ClassVar[SourceType]
    example: ClassVar[str] = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def suitable(cls, url: str, settings: Settings) -> bool:
        """Offline and fast: does this source claim ``url``? (:mod:`.detect` decides.)"""
        return claims(cls.name, url, settings)

    def media_id(self, url: str) -> str | None:
        """A stable id for the media (for de-duplication), offline; None if unknown."""
        return media_id_for(url, self.name, self.settings)

    @abstractmethod
    async def describe(self, request: JobRequest) -> MediaPlan:
        """Find out what to fetch (METADATA stage). Raises JobError subclasses."""
