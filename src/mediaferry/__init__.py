"""Mediaferry: a self-hosted media download service driven from Telegram."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
