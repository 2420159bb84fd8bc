"""The typed handler context: every handler reaches the services through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ExtBot

if TYPE_CHECKING:
    from mediaferry.app import Services
    from mediaferry.bot.intake import PendingAsk
    from mediaferry.bot.progress import ProgressTracker
    from mediaferry.delivery.telegram import TelegramDeliverer

__all__ = ["ALBUMS_KEPT", "BotApp", "BotContext", "BotRuntime"]

ALBUMS_KEPT = 256


@dataclass
class BotRuntime:
    """What the bot keeps for its lifetime (one per Application)."""

    services: Services
    tracker: ProgressTracker
    deliverer: TelegramDeliverer
    pending: dict[str, PendingAsk] = field(default_factory=dict)
    # albums sent to the bot lately: media_group_id → archive them (issue 10)
    albums: dict[str, bool] = field(default_factory=dict)

    def remember_album(self, group: str, archive: bool) -> bool:
        """Whether the album ``group`` is to be archived, now that one of its messages
        asks so or not (the newest ``ALBUMS_KEPT`` albums are remembered)."""
        archive = self.albums.pop(group, False) or archive
        self.albums[group] = archive
        while len(self.albums) > ALBUMS_KEPT:
            del self.albums[next(iter(self.albums))]
        return archive


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """``context.runtime`` / ``context.services`` instead of untyped ``bot_data`` lookups."""

    @property
    def runtime(self) -> BotRuntime:
        runtime: BotRuntime = self.application.bot_data["runtime"]
        return runtime

    @property
    def services(self) -> Services:
        return self.runtime.services


BotApp = Application[ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]
