"""Shared fixtures. Fixture modules live in tests/support/ and are registered here."""

from __future__ import annotations

pytest_plugins: list[str] = [
    "tests.support.media_fixtures",
    "tests.support.media_server",
    "tests.support.fake_telegram",
    "tests.support.db_fixtures",
]
