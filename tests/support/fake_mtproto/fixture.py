"""pytest fixtures: ``fake_mtproto`` (a running server with an empty world) and
``mtproto_public_key`` (its PEM public key written to a file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import FakeMTProtoServer
from .world import World


@pytest.fixture
def fake_mtproto(tmp_path: Path) -> Iterator[FakeMTProtoServer]:
    """A fake MTProto server on 127.0.0.1 (random port); uploads land under tmp_path."""
    server = FakeMTProtoServer(World(storage_dir=tmp_path / "fake-mtproto-store")).start()
    try:
        yield server
    finally:
        server.stop()
    # A handler that raised is a bug in the fake, not in the client: say so loudly.
    assert not server.stats.crashes, f"fake MTProto handlers crashed: {server.stats.crashes}"


@pytest.fixture
def mtproto_public_key(fake_mtproto: FakeMTProtoServer, tmp_path: Path) -> Path:
    """The server's RSA public key as a PKCS#1 PEM file."""
    return fake_mtproto.write_public_key(tmp_path / "fake-mtproto.pem")
