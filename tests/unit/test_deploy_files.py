"""The deployment files (Dockerfile, compose.yaml, systemd units) name only settings
and commands that exist: a typo there would be silently ignored at run time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from mediaferry.cli.app import app
from mediaferry.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
FILES = [
    ROOT / "Dockerfile",
    ROOT / "compose.yaml",
    *sorted((ROOT / "deploy" / "systemd").glob("*.service")),
]
_VAR = re.compile(rf"\b{ENV_PREFIX}([A-Z0-9_]+)")
# read by compose.yaml itself (port and replica count), not by Mediaferry
_COMPOSE_ONLY = {"PORT", "WORKERS"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_setting_named_exists(path: Path) -> None:
    names = set(_VAR.findall(path.read_text(encoding="utf-8"))) - _COMPOSE_ONLY
    assert names, f"{path.name} names no setting"
    unknown = {n for n in names if n.lower() not in Settings.model_fields}
    assert unknown == set(), f"{path.name}: no such setting {sorted(unknown)}"


def _commands() -> set[str]:
    group = typer.main.get_command(app)
    return set(getattr(group, "commands", {}))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_command_run_exists(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    used = set(re.findall(r"(?:bin/mediaferry|\"mediaferry\",) \"?([a-z]+)", text))
    assert used, f"{path.name} runs no mediaferry command"
    assert used <= _commands()


def test_the_image_runs_the_service_as_a_user_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG BASE_IMAGE=debian:bookworm-slim$", text, re.M)
    # built on BASE_IMAGE, then flattened into one layer (deleted files weigh nothing)
    stage = re.search(r"^FROM \$\{BASE_IMAGE\} AS (\w+)$", text, re.M)
    assert stage is not None
    assert re.search(rf"^FROM scratch\nCOPY --from={stage[1]} / /$", text, re.M)
    assert text.count("\nFROM ") == 2
    assert re.search(r"^USER mediaferry$", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", text, re.M)
    assert re.search(r"^EXPOSE 8080$", text, re.M)
    assert re.search(r'^CMD \["mediaferry", "run"\]$', text, re.M)
    # secrets reach the build as mounts, never as build args or layers
    assert "--mount=type=secret,id=ca,required=false" in text
    assert not re.search(r"^ARG .*(CERT|CA|PIP)", text, re.M)
