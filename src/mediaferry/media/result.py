"""What POSTPROCESS produced and how it is saved on the job (``meta["processed"]``).

Plain data used by the pipeline (which saves it), the deliverers (which send and
archive it) and the bot (which re-sends a finished job): none of them needs
post-processing itself to read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mediaferry.media.probe import ProbeInfo

__all__ = ["Kind", "Part", "Processed", "processed_from_meta", "processed_to_meta"]

Kind = Literal["video", "audio", "document"]


@dataclass(slots=True)
class Part:
    """One file to send. Several parts when a file was split to fit the limit.

    VALIDATE fills in ``size``, ``sha256`` and ``probe`` once; deliverers and the
    archive use them instead of measuring the file again.
    """

    path: Path
    size: int
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    thumbnail: Path | None = None
    probe: ProbeInfo | None = None
    sha256: str | None = None
    # a collection's parts are separate media, each with its own title and performer
    title: str | None = None
    performer: str | None = None


@dataclass(slots=True)
class Processed:
    """What POSTPROCESS produced: ``kind`` picks sendVideo/sendAudio/sendDocument."""

    kind: Kind
    parts: list[Part] = field(default_factory=list)
    title: str | None = None
    performer: str | None = None
    album: str | None = None
    # several media files of one download (a multi-file torrent): media/collection.py
    extras: list[Path] = field(default_factory=list)  # kept and listed, not sent as media
    collection: bool = False

    @property
    def duration(self) -> float | None:
        """The total duration of all parts, if known."""
        known = [p.duration for p in self.parts if p.duration is not None]
        return sum(known) if known else None


def processed_to_meta(p: Processed) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "title": p.title,
        "performer": p.performer,
        "album": p.album,
        "parts": [
            {
                "path": str(part.path),
                "size": part.size,
                "duration": part.duration,
                "width": part.width,
                "height": part.height,
                "thumbnail": str(part.thumbnail) if part.thumbnail else None,
                "sha256": part.sha256,
                "title": part.title,
                "performer": part.performer,
            }
            for part in p.parts
        ],
        "extras": [str(extra) for extra in p.extras],
        "collection": p.collection,
    }


def processed_from_meta(data: dict[str, Any]) -> Processed | None:
    """The saved result, if every file of it is still on disk."""
    try:
        parts = [
            Part(
                path=Path(p["path"]),
                size=int(p["size"]),
                duration=p.get("duration"),
                width=p.get("width"),
                height=p.get("height"),
                thumbnail=Path(p["thumbnail"]) if p.get("thumbnail") else None,
                sha256=p.get("sha256"),
                title=p.get("title"),
                performer=p.get("performer"),
            )
            for p in data["parts"]
        ]
    except (KeyError, TypeError, ValueError):
        return None
    if not parts or not all(part.path.is_file() for part in parts):
        return None
    return Processed(
        data["kind"],
        parts,
        data.get("title"),
        data.get("performer"),
        data.get("album"),
        extras=[Path(e) for e in data.get("extras") or [] if Path(e).is_file()],
        collection=bool(data.get("collection")),
    )
