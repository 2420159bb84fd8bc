"""Addresses and host names refused at intake, driven through the CLI.

Marked ``netns``: they run where only loopback exists, so a refusal that failed could
not reach any network.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import cli_env, mf

pytestmark = pytest.mark.netns


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://192.0.0.192/latest/meta-data/", "192.0.0.0/24"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.0.0/16"),
        ("http://[64:ff9b::a9fe:a9fe]/latest/", "169.254.169.254"),
        ("http://2130706433/", "127.0.0.0/8"),
        ("http://0x7f.1/", "127.0.0.0/8"),
        ("http://425.510.425.510/", "not a valid IP address"),
        ("http://ⓔⓧⓐⓜⓟⓛⓔ.ⓒⓞⓜ/", "reads as example.com"),
        ("http://xn--zz.com/", "not valid"),
    ],
)
def test_cli_refuses_at_intake_with_one_clear_line(tmp_path: Path, url: str, reason: str) -> None:
    env = cli_env(tmp_path / "data", MEDIAFERRY_ALLOW_PRIVATE_NETWORKS="false")
    out = mf(env, "add", url)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "refused" in out.stderr and reason in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert json.loads(mf(env, "jobs", "--json").stdout) == []
