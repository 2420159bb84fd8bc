"""The URL policy holds at connect time, for every connection and redirect."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaferry.config import load_settings
from mediaferry.errors import JobError
from mediaferry.plan import MediaPlan
from mediaferry.transfer.http import HttpTransfer
from tests.support.media_server import MediaServer


def _transfer(tmp_path: Path, allow: bool) -> HttpTransfer:
    return HttpTransfer(load_settings(data_dir=tmp_path, allow_private_networks=allow))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_private_address_refused_when_connecting(
    tmp_path: Path, media_server: MediaServer, host: str
) -> None:
    url = media_server.url("/media/audio.mp3").replace("127.0.0.1", host)
    transfer = _transfer(tmp_path, allow=False)
    try:
        with pytest.raises(JobError, match="private or local"):
            await transfer.fetch(MediaPlan(url=url), tmp_path / "dl", lambda p: None)
    finally:
        await transfer.close()
    assert not list((tmp_path / "dl").glob("*"))


async def test_allowed_when_configured(tmp_path: Path, media_server: MediaServer) -> None:
    transfer = _transfer(tmp_path, allow=True)
    try:
        result = await transfer.fetch(
            MediaPlan(url=media_server.url("/media/audio.mp3")), tmp_path / "dl", lambda p: None
        )
    finally:
        await transfer.close()
    assert result.path.name == "audio.mp3" and result.size > 0
