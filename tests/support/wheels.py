"""Throwaway Python environments and yt-dlp wheels built in the test, for `update`.

Nothing here touches the project's own ``.venv``: each environment is a fresh venv
under the test's tmp dir, and the wheels are real wheels (zip + dist-info + RECORD)
of the *installed* yt-dlp's code with another version number, so the environment
runs a working yt-dlp at whatever version the test needs. The venv sees Mediaferry's
``src`` (for the yt-dlp child module) and the few pure-Python packages that module
imports through a ``.pth`` file, never the project's site-packages.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import idna
import pip
import yt_dlp

import mediaferry

__all__ = ["build_ytdlp_wheel", "isolated_pip_env", "make_venv", "venv_with_ytdlp"]

_EXTRAS = ("default", "curl-cffi", "deno")


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_ytdlp_wheel(dest: Path, version: str) -> Path:
    """A wheel named yt-dlp ``version`` holding the installed yt-dlp's code."""
    source = Path(yt_dlp.__file__).parent
    dist = f"yt_dlp-{version}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted(source.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        name = "yt_dlp/" + path.relative_to(source).as_posix()
        files[name] = path.read_bytes()
    files["yt_dlp/version.py"] = (
        f"__version__ = {version!r}\nRELEASE_GIT_HEAD = ''\nVARIANT = None\n"
        "UPDATE_HINT = None\nCHANNEL = 'stable'\nORIGIN = 'yt-dlp/yt-dlp'\n"
        "_pkg_version = __version__\n"
    ).encode()
    files[f"{dist}/METADATA"] = (
        "Metadata-Version: 2.1\nName: yt-dlp\n"
        f"Version: {version}\nSummary: test build\n"
        + "".join(f"Provides-Extra: {extra}\n" for extra in _EXTRAS)
    ).encode()
    files[f"{dist}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: mediaferry-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    files[f"{dist}/top_level.txt"] = b"yt_dlp\n"
    record = [_record_line(n, d) for n, d in files.items()] + [f"{dist}/RECORD,,"]
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"yt_dlp-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel


def isolated_pip_env(**extra: str) -> dict[str, str]:
    """The environment for pip runs: no machine-wide pip configuration (its index and
    wheel folders), one retry, no bytecode compiling (speed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    # one retry: pip says why a connection failed only when it retries
    # (pip reads PIP_NO_COMPILE as the value of "compile": "0" means --no-compile)
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_RETRIES="1", PIP_NO_COMPILE="0", **extra)
    return env


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    out = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


_TEMPLATES: dict[str, Path] = {}


def _installed_template(version: str) -> Path:
    """yt-dlp ``version`` installed once by pip (``--target``) into a folder of its own."""
    if version not in _TEMPLATES:
        root = Path(tempfile.mkdtemp(prefix="mf-ytdlp-template-"))
        atexit.register(shutil.rmtree, root, True)
        wheel = build_ytdlp_wheel(root / "wheels", version)
        target = root / "site"
        pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index"]
        subprocess.run(
            [*pip, "--target", str(target), str(wheel)],
            check=True,
            env=isolated_pip_env(),
            capture_output=True,
        )
        _TEMPLATES[version] = target
    return _TEMPLATES[version]


def venv_with_ytdlp(root: Path, version: str) -> str:
    """A fresh venv with yt-dlp ``version`` installed (pip's files and dist-info, copied
    from a pip installation made once per test session); its python."""
    python = make_venv(root)
    site = _site_packages(python)
    for item in _installed_template(version).iterdir():
        if item.is_dir():
            shutil.copytree(item, site / item.name)
        else:
            shutil.copy2(item, site / item.name)
    return str(python)


def make_venv(root: Path) -> Path:
    """A fresh venv that can run pip and Mediaferry's yt-dlp child; its python.

    Made without ensurepip (slow): this interpreter's pip, Mediaferry's ``src`` and
    ``idna`` are reached through a ``.pth`` file; pip installs into the venv."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = _site_packages(python)
    shared = root / "mediaferry-src"
    shared.mkdir()
    (shared / "idna").symlink_to(Path(idna.__file__).parent)
    (shared / "pip").symlink_to(Path(pip.__file__).parent)
    src = Path(mediaferry.__file__).parent.parent
    (site / "mediaferry-src.pth").write_text(f"{src}\n{shared}\n")
    return python
