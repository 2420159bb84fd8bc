"""A file's sha256 and the identity of the file it was computed over.

A transfer backend hashes the bytes as it writes them; VALIDATE re-uses that hash
only if the file it validates is still the very file that was hashed: same device
and inode, same size and same modification time (which every write changes). Any
stage that rewrites, remuxes or replaces the file makes the digest not apply, and
the file is hashed again.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileDigest", "sha256_path"]

_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileDigest:
    """``sha256`` of a file's bytes, taken when the file had ``identity``."""

    sha256: str
    identity: tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns

    @classmethod
    def of_fd(cls, fd: int, sha256: str) -> FileDigest:
        """The digest of the open file ``fd`` whose whole content ``sha256`` covers."""
        return cls(sha256, _identity(os.fstat(fd)))

    def applies_to(self, path: Path) -> bool:
        """Is ``path`` still exactly the file this digest was computed over?"""
        try:
            return _identity(path.stat()) == self.identity
        except OSError:
            return False


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def sha256_path(path: Path, *, limit: int | None = None) -> hashlib._Hash:
    """A sha256 object fed with ``path``'s first ``limit`` bytes (all by default)."""
    digest = hashlib.sha256()
    remaining = limit
    with path.open("rb", buffering=0) as handle:
        while remaining is None or remaining > 0:
            block = handle.read(_BLOCK if remaining is None else min(_BLOCK, remaining))
            if not block:
                break
            digest.update(block)
            if remaining is not None:
                remaining -= len(block)
    if remaining:
        raise OSError(f"{path.name} is shorter than the {limit} bytes expected")
    return digest
