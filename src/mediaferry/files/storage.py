"""The one place that builds paths on disk (DESIGN.md §9).

Temp work lives in ``TMP_ROOT/jobs/<job_id>/``; archived media in
``ARCHIVE_ROOT/<source>/<yyyy-mm>/<sanitised title> [<media id>].<ext>``. Every
archive path is checked to resolve inside ``ARCHIVE_ROOT``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from datetime import datetime
from pathlib import Path, PurePosixPath

from mediaferry.config import Settings
from mediaferry.errors import DiskFull, MediaferryError
from mediaferry.files.names import sanitize_filename

__all__ = ["Storage"]

_MAX_NAME_BYTES = 200  # leaves room for " (NN)" and the extension under NAME_MAX=255
_MAX_UNIQUE = 10_000


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


class Storage:
    """Builds, checks and moves the paths Mediaferry writes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tmp_root = settings.tmp_dir
        self.archive_root = settings.archive_dir
        self.jobs_root = self.tmp_root / "jobs"

    # temp ---------------------------------------------------------------
    def tmp_dir_for(self, job_id: int) -> Path:
        """``TMP_ROOT/jobs/<job_id>/``, created."""
        if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id < 0:
            raise ValueError(f"not a job id: {job_id!r}")
        path = self.jobs_root / str(job_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def remove_tmp(self, job_id: int) -> None:
        """Delete a job's temp dir (nothing happens if there is none)."""
        path = self.jobs_root / str(int(job_id))
        if path.is_symlink():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path, ignore_errors=True)

    # archive ------------------------------------------------------------
    def archive_path_for(
        self,
        source_type: str,
        title: str | None,
        media_id: str | None,
        ext: str,
        when: datetime,
    ) -> Path:
        """A free path ``ARCHIVE_ROOT/<source>/<yyyy-mm>/<title> [<id>].<ext>``.

        Names are sanitised; a taken name gets `` (2)``, `` (3)``...; the folder is
        created. The result always resolves inside ``ARCHIVE_ROOT``.
        """
        source = sanitize_filename(str(source_type).lower(), max_bytes=40, fallback="other")
        folder = self.archive_root / source / f"{when:%Y-%m}"
        ext = sanitize_filename(ext.lstrip("."), max_bytes=16, fallback="bin").replace(".", "")
        ext = ext or "bin"
        stem = self._stem(title, media_id)
        candidate = folder / f"{stem}.{ext}"
        for number in range(2, _MAX_UNIQUE):
            if not candidate.exists() and not candidate.is_symlink():
                break
            candidate = folder / f"{stem} ({number}).{ext}"
        else:
            raise MediaferryError(f"no free archive name for {stem!r}")
        if not _inside(candidate, self.archive_root):
            raise MediaferryError(f"refusing an archive path outside the archive: {candidate}")
        folder.mkdir(parents=True, exist_ok=True)
        return candidate

    def archive_path_relative(self, relative: PurePosixPath) -> Path:
        """A free path ``ARCHIVE_ROOT/<relative>`` for an already sanitised relative path
        (a rendered template); a taken name gets `` (2)``...; folders are created."""
        if relative.is_absolute() or any(p in ("", ".", "..") for p in relative.parts):
            raise MediaferryError(f"refusing an archive path outside the archive: {relative}")
        base = self.archive_root.joinpath(*relative.parts)
        folder, stem, ext = base.parent, base.stem, base.suffix
        candidate = base
        for number in range(2, _MAX_UNIQUE):
            if not candidate.exists() and not candidate.is_symlink():
                break
            candidate = folder / f"{stem} ({number}){ext}"
        else:
            raise MediaferryError(f"no free archive name for {stem!r}")
        if not _inside(candidate, self.archive_root):
            raise MediaferryError(f"refusing an archive path outside the archive: {candidate}")
        folder.mkdir(parents=True, exist_ok=True)
        return candidate

    @staticmethod
    def _stem(title: str | None, media_id: str | None) -> str:
        suffix = ""
        if media_id:
            clean_id = sanitize_filename(media_id, max_bytes=64, fallback="")
            suffix = f" [{clean_id}]" if clean_id else ""
        budget = _MAX_NAME_BYTES - len(suffix.encode())
        stem = sanitize_filename(title or "untitled", max_bytes=budget)
        return sanitize_filename(stem + suffix, max_bytes=_MAX_NAME_BYTES)

    def move_into_archive(self, src: Path, dest: Path) -> Path:
        """Move ``src`` to ``dest`` atomically (copy, fsync, rename across filesystems)."""
        if not _inside(dest, self.archive_root):
            raise MediaferryError(f"refusing to move outside the archive: {dest}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(src, dest)
            return dest
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        partial = dest.with_name(f".{dest.name}.part")
        try:
            with src.open("rb") as reader, partial.open("wb") as writer:
                shutil.copyfileobj(reader, writer, 4 * 1024 * 1024)
                writer.flush()
                os.fsync(writer.fileno())
            os.replace(partial, dest)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            if exc.errno == errno.ENOSPC:
                raise DiskFull("no space left to archive the file") from exc
            raise
        _fsync_dir(dest.parent)
        src.unlink()
        return dest


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
