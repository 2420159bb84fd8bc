from __future__ import annotations

from pathlib import Path

import pytest

from mediaferry.config import load_settings
from mediaferry.errors import ConfigError


def test_defaults_derive_paths(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path)
    assert s.tmp_dir == tmp_path / "tmp"
    assert s.archive_dir == tmp_path / "archive"
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert s.max_parallel_jobs == 3


def test_environment_is_read_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAFERRY_MAX_PARALLEL_JOBS", "7")
    monkeypatch.setenv("MEDIAFERRY_ALLOWED_USERS", "1, 2,3")
    monkeypatch.setenv("MEDIAFERRY_SOURCE_LIMITS", "youtube=2,direct=4")
    s = load_settings()
    assert s.max_parallel_jobs == 7
    assert s.allowed_users == [1, 2, 3]
    assert s.source_limits == {"YOUTUBE": 2, "DIRECT": 4}


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("MEDIAFERRY_MAX_PARALLEL_JOBS", "zero"),
        ("MEDIAFERRY_MAX_PARALLEL_JOBS", "0"),
        ("MEDIAFERRY_LOG_FORMAT", "xml"),
        ("MEDIAFERRY_DATABASE_URL", "mysql://x"),
        ("MEDIAFERRY_ALLOWED_USERS", "12,abc"),
    ],
)
def test_invalid_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert var in message
    assert "\n" not in message


def test_secrets_are_hidden_in_repr() -> None:
    s = load_settings(telegram_token="123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij")
    assert "ABCDEFGHIJ" not in repr(s)
