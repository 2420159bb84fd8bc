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
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil
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
_CHILD_PIDS: set[int] = set()  # the child pytests this process started
_CHILD = pytest.StashKey["_Child"]()
# set by the pytest that runs the session (under pytest-xdist, the controller) for its
# workers: a folder where the worker that ran the child pytest leaves its results
SHARED_ENV = "MEDIAFERRY_TEST_NETNS_SHARED"
_SHARED_RESULTS = "results.json"


class _Child:
    """The child pytest that runs every marked test under ``unshare --net``, started as
    the run begins so that it goes on beside the other tests; a thread waits for it and
    keeps its results (and, under pytest-xdist, leaves them for the other workers)."""

    def __init__(self, config: pytest.Config, targets: list[str], publish: Path | None) -> None:
        self.targets = targets
        self.publish = publish
        self.report = Path(config.rootpath) / f".netns-report-{os.getpid()}.json"
        env = {**os.environ, ENV: "1", REPORT_ENV: str(self.report)}
        command = [*_unshare_command(), sys.executable, "-m", "pytest", "-q"]
        self.proc = subprocess.Popen(
            [*command, "-p", "no:cacheprovider", *targets],
            cwd=config.rootpath,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _CHILD_PIDS.add(self.proc.pid)
        self.results: dict[str, tuple[str, str]] = {}
        self._thread = threading.Thread(target=self._collect, name="netns-child", daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        results: dict[str, tuple[str, str]] = {}
        try:
            try:
                out, err = self.proc.communicate(timeout=CHILD_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, err = self.proc.communicate()
                err += f"\nthe child pytest ran over {CHILD_TIMEOUT_S} s and was killed"
            if self.report.exists():
                results = {k: (v[0], v[1]) for k, v in json.loads(self.report.read_text()).items()}
            tail = (out + err)[-6000:]
        except Exception as exc:
            tail = f"reading the child pytest's results failed: {exc!r}"
        finally:
            self.report.unlink(missing_ok=True)
        why = f"no result (child exit {self.proc.returncode}):\n{tail}"
        for target in self.targets:
            results.setdefault(target, ("failed", why))
        self.results = results
        if self.publish is not None:
            part = self.publish.with_suffix(".part")
            part.write_text(json.dumps(results))
            part.rename(self.publish)

    def wait(self) -> dict[str, tuple[str, str]]:
        self._thread.join()
        return self.results

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self._thread.join()


def own_descendants() -> list[psutil.Process]:
    """This process's descendants, without the child pytest that runs the ``netns``
    tests beside the others (and whatever it started): what a test here started."""
    out = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if _CHILD_PIDS.isdisjoint(p.pid for p in [proc, *proc.parents()]):
                out.append(proc)
        except psutil.NoSuchProcess:
            continue
    return out


def _worker_id(config: pytest.Config) -> str | None:
    """This pytest-xdist worker's id (``gw0``, ...), or None outside pytest-xdist."""
    workerinput = getattr(config, "workerinput", None)
    return None if workerinput is None else str(workerinput["workerid"])


def _published_results(folder: Path) -> dict[str, tuple[str, str]]:
    """The results the worker ``gw0`` left in ``folder`` (waits for them)."""
    path = folder / _SHARED_RESULTS
    deadline = time.monotonic() + CHILD_TIMEOUT_S + 60
    while not path.exists():
        if time.monotonic() > deadline:
            return {}
        time.sleep(0.2)
    return {k: (v[0], v[1]) for k, v in json.loads(path.read_text()).items()}


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
            child = self.config.stash.get(_CHILD, None)
            shared = os.environ.get(SHARED_ENV)
            if child is None and _worker_id(self.config) not in (None, "gw0") and shared:
                results = _published_results(Path(shared))
            else:
                if child is None:  # not started with the run (no pytest_runtestloop)
                    child = _start_child(self.session)
                assert child is not None
                results = child.wait()
            self.config.stash[_RESULTS] = results
        outcome, text = results.get(
            self.target, ("failed", "no result from the child pytest that worker gw0 ran")
        )
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


def _start_child(session: pytest.Session) -> _Child | None:
    """Start the child pytest for this session's marked tests, if it is this process's
    to run: under pytest-xdist the worker ``gw0`` runs it for every worker (each
    collects every test)."""
    config = session.config
    targets = [i.target for i in session.items if isinstance(i, NetnsItem)]
    if not targets or netns_unavailable() is not None:
        return None
    worker = _worker_id(config)
    shared = os.environ.get(SHARED_ENV)
    if worker not in (None, "gw0") and shared:
        return None
    publish = Path(shared) / _SHARED_RESULTS if worker is not None and shared else None
    child = _Child(config, targets, publish)
    config.stash[_CHILD] = child
    return child


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # before pytest-xdist starts its workers (its own hook is trylast): they inherit it
    if not in_netns() and _worker_id(session.config) is None:
        folder = tempfile.mkdtemp(prefix="mf-netns-")
        os.environ[SHARED_ENV] = folder
        session.config.add_cleanup(functools.partial(shutil.rmtree, folder, True))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """The marked tests' child pytest starts now, beside the tests run here."""
    if not in_netns() and not session.config.option.collectonly:
        _start_child(session)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    child = session.config.stash.get(_CHILD, None)
    if child is None:
        return
    # another worker may still wait for the results: let the child finish
    if child.publish is not None and exitstatus != pytest.ExitCode.INTERRUPTED:
        child.wait()
    else:
        child.stop()


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
    # the stand-ins last: their child pytest, started with the run, goes on meanwhile
    items.sort(key=lambda item: isinstance(item, NetnsItem))


def _markers(item: pytest.Item) -> Iterable[pytest.Mark]:
    """Marks that select or skip (``-m``, skipif); not the ones that need a function."""
    return [m for m in item.iter_markers() if m.name in _KEPT_MARKS]


_KEPT_MARKS = frozenset({"netns", "postgres", "slow", "skip", "skipif", "xfail"})
