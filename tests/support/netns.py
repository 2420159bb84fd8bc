"""Refusal tests without risk: a marked test runs where only loopback exists.

A test marked ``@pytest.mark.netns`` is not run in the pytest process. The plugin runs
the marked tests again, all in one child pytest, under ``unshare --net`` (as root; otherwise with
``--map-root-user`` if unprivileged user namespaces are allowed). In that network
namespace the only interface is ``lo``, which the child brings up before anything
else and checks is alone, so if a refusal ever fails the packet has nowhere to go.
Where namespaces are not permitted the test is skipped and the reason printed.

The child sees ``MEDIAFERRY_TEST_NETNS=1`` and runs the test as usual (fixtures,
local servers on 127.0.0.1, SQLite; PostgreSQL on the host's loopback is not
reachable from there).
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

ENV = "MEDIAFERRY_TEST_NETNS"
REPORT_ENV = "MEDIAFERRY_TEST_NETNS_REPORT"
CHILD_TIMEOUT_S = 900

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def in_netns() -> bool:
    return os.environ.get(ENV) == "1"


def bring_up_loopback() -> None:
    """``ip link set lo up`` without needing iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))


# A globally reachable address (by the IANA table) that exists only inside the
# namespace, on lo: a server bound to it is "the public internet" for the URL policy,
# so tests can check redirects from a public host to a private one end to end.
PUBLIC_TEST_ADDRESS = "93.184.216.34"
_SIOCSIFADDR = 0x8916
_SIOCSIFNETMASK = 0x891C


def add_public_test_address() -> None:
    """``ip addr add 93.184.216.34/32 dev lo`` (as the alias ``lo:1``), in the namespace."""

    def ifreq_in(name: bytes, address: str) -> bytes:
        sockaddr = struct.pack("H2s4s8s", socket.AF_INET, b"", socket.inet_aton(address), b"")
        return struct.pack("16s16s", name, sockaddr)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, _SIOCSIFADDR, ifreq_in(b"lo:1", PUBLIC_TEST_ADDRESS))
        fcntl.ioctl(s, _SIOCSIFNETMASK, ifreq_in(b"lo:1", "255.255.255.255"))


def only_loopback() -> bool:
    return [name for _index, name in socket.if_nameindex()] == ["lo"]


def _unshare_command() -> list[str]:
    unshare = shutil.which("unshare") or "unshare"
    if os.geteuid() == 0:
        return [unshare, "--net"]
    return [unshare, "--net", "--map-root-user"]


@functools.cache
def netns_unavailable() -> str | None:
    """Why tests cannot run in a loopback-only network namespace here, or None."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed"
    check = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from tests.support.netns import bring_up_loopback, only_loopback;"
        "bring_up_loopback(); assert only_loopback()"
    )
    root = str(Path(__file__).resolve().parents[2])
    try:
        probe = subprocess.run(
            [*_unshare_command(), sys.executable, "-c", check, root],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare --net failed: {exc}"
    if probe.returncode != 0:
        lines = (probe.stderr or probe.stdout).strip().splitlines() or ["no output"]
        return f"unshare --net is not permitted here: {lines[-1]}"
    return None


_RESULTS = pytest.StashKey[dict[str, tuple[str, str]]]()


def _run_children(config: pytest.Config, targets: list[str]) -> dict[str, tuple[str, str]]:
    """Run every marked test in one child pytest (one start-up, one set of session
    fixtures); ``{nodeid: (outcome, text)}`` as the child recorded it."""
    report = Path(config.rootpath) / f".netns-report-{os.getpid()}.json"
    env = {**os.environ, ENV: "1", REPORT_ENV: str(report)}
    command = [*_unshare_command(), sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    try:
        done = subprocess.run(
            [*command, *targets],
            cwd=config.rootpath,
            env=env,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
            check=False,
        )
        results: dict[str, tuple[str, str]] = {}
        if report.exists():
            results = {k: (v[0], v[1]) for k, v in json.loads(report.read_text()).items()}
    finally:
        report.unlink(missing_ok=True)
    tail = (done.stdout + done.stderr)[-6000:]
    for target in targets:
        results.setdefault(target, ("failed", f"no result (child exit {done.returncode}):\n{tail}"))
    return results


class NetnsItem(pytest.Item):
    """Stands in for a marked test: its outcome comes from the child pytest that ran
    all marked tests inside the namespace."""

    def __init__(self, *, target: str, location: tuple[str, int | None, str], **kw: Any) -> None:
        super().__init__(**kw)
        self.target = target
        self._location = location

    def runtest(self) -> None:
        reason = netns_unavailable()
        if reason is not None:
            print(f"SKIPPED {self.target}: {reason}")
            pytest.skip(reason)
        results = self.config.stash.get(_RESULTS, None)
        if results is None:
            targets = [i.target for i in self.session.items if isinstance(i, NetnsItem)]
            results = _run_children(self.config, targets)
            self.config.stash[_RESULTS] = results
        outcome, text = results[self.target]
        if outcome == "skipped":
            pytest.skip(text)
        if outcome != "passed":
            pytest.fail(f"inside unshare --net: {text}", False)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return self._location


class _Recorder:
    """In the child: each test's outcome, for the parent to report."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.results: dict[str, tuple[str, str]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.outcome != "passed":
            if report.skipped and isinstance(report.longrepr, tuple):
                text = str(report.longrepr[2])
            else:
                text = report.longreprtext
            if report.nodeid not in self.results or report.outcome != "passed":
                self.results[report.nodeid] = (report.outcome, text)

    def pytest_sessionfinish(self) -> None:
        self.path.write_text(json.dumps(self.results))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "netns: run in a network namespace with only loopback (unshare --net)"
    )
    if in_netns():
        bring_up_loopback()
        if not only_loopback():
            pytest.exit("MEDIAFERRY_TEST_NETNS is set but interfaces besides lo exist", 3)
        add_public_test_address()
        if os.environ.get(REPORT_ENV):
            config.pluginmanager.register(_Recorder(Path(os.environ[REPORT_ENV])), "netns-recorder")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if in_netns():
        return
    for i, item in enumerate(items):
        if item.get_closest_marker("netns") is None:
            continue
        stand_in = NetnsItem.from_parent(
            item.parent,
            name=item.name,
            target=item.nodeid,
            location=item.reportinfo()[:3]
            if isinstance(item, pytest.Function)
            else (str(item.path), None, item.name),
        )
        stand_in.own_markers.extend(_markers(item))
        items[i] = stand_in


def _markers(item: pytest.Item) -> Iterable[pytest.Mark]:
    """Marks that select or skip (``-m``, skipif); not the ones that need a function."""
    return [m for m in item.iter_markers() if m.name in _KEPT_MARKS]


_KEPT_MARKS = frozenset({"netns", "postgres", "slow", "skip", "skipif", "xfail"})
