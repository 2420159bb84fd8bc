"""The refusal tests' safety net: a ``netns`` test runs where only loopback exists."""

from __future__ import annotations

import errno
import socket

import pytest

from tests.support.media_server import MediaServer
from tests.support.netns import in_netns, only_loopback


@pytest.mark.netns
def test_marked_tests_run_with_only_loopback(media_server: MediaServer) -> None:
    assert in_netns() and only_loopback()
    # loopback works: the local media server answers
    with socket.create_connection(("127.0.0.1", media_server.port), timeout=5):
        pass
    # anything else has no route, so not a single packet leaves (192.0.2.1 is TEST-NET-1)
    with socket.socket() as s, pytest.raises(OSError) as info:
        s.settimeout(5)
        s.connect(("192.0.2.1", 80))
    assert info.value.errno == errno.ENETUNREACH
