"""``mediaferry search`` (the library) and ``mediaferry cleanup`` (temp files)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from mediaferry.cli import _render as render

if TYPE_CHECKING:
    from mediaferry.db.models import MediaItem

__all__ = ["item_to_dict", "register"]


def item_to_dict(item: MediaItem) -> dict[str, Any]:
    """A library item as plain JSON-ready data."""
    return {
        "id": item.id,
        "title": item.title,
        "performer": item.performer,
        "album": item.album,
        "duration": item.duration,
        "format": item.file_format,
        "size": item.size,
        "sha256": item.sha256,
        "source_type": item.source_type,
        "origin_url": item.origin_url,
        # a Telegram item (issue 10): the chat and message it was archived from
        "channel_id": item.channel_id,
        "message_id": item.message_id,
        "path": item.path,
        "created_at": item.created_at.isoformat() if item.created_at else None,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def items_table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    for name in ("id", "title", "performer", "duration", "format", "size", "source", "path"):
        table.add_column(name, overflow="fold" if name == "path" else "ellipsis")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["title"] or "",
            r["performer"] or "",
            _duration(r["duration"]),
            r["format"] or "",
            _human(r["size"] or 0),
            (r["source_type"] or "").lower(),
            r["path"],
        )
    return table


def search(
    query: Annotated[str, typer.Argument(help="Words of the title, performer or album.")],
    fuzzy: Annotated[bool, typer.Option("--fuzzy", help="Tolerate typos.")] = False,
    fmt: Annotated[
        str | None, typer.Option("--format", help="Only this file format: mp3, m4a, mp4...")
    ] = None,
    min_size: Annotated[str | None, typer.Option(help="At least this size: 10MB, 1.5GB...")] = None,
    max_size: Annotated[str | None, typer.Option(help="At most this size.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source: youtube...")] = None,
    chat: Annotated[
        str | None,
        typer.Option(
            help="Only items of this chat: a Telegram chat's @name, title, -100<id> or id "
            "(archived with tg archive), or a bot chat's id."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Search the library of archived media."""
    from mediaferry.cli.app import _run, _settings, fail
    from mediaferry.jobs.database import migrated_database
    from mediaferry.jobs.library import Library, LibraryQueryError, parse_size

    if not query.strip():
        fail("the search query is empty")
    try:
        low = parse_size(min_size) if min_size is not None else None
        high = parse_size(max_size) if max_size is not None else None
    except LibraryQueryError as exc:
        fail(str(exc))
    if low is not None and high is not None and low > high:
        fail("--min-size is larger than --max-size")
    settings = _settings()

    async def go() -> list[dict[str, Any]]:
        async with migrated_database(settings, pool_size=10) as db:
            library = Library(db)
            by_chat = await library.chat_filter(chat) if chat is not None else {}
            found = await library.search(
                query, fuzzy=fuzzy, fmt=fmt, min_size=low, max_size=high,
                source=source, limit=limit, **by_chat,
            )  # fmt: skip
            return [item_to_dict(i) for i in found]

    rows = _run(go)
    if as_json:
        render.print_json(rows)
    elif rows:
        render.console.print(items_table(rows))
    else:
        render.console.print("no matches" + ("" if fuzzy else " (try --fuzzy)"))


def cleanup(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be removed.")
    ] = False,
    max_age_hours: Annotated[
        float | None,
        typer.Option(min=0, help="Age of untouched temp work to remove (default: setting)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Remove old temp work and orphaned partial files (never the archive or live jobs)."""
    from mediaferry.cli.app import _run, _settings
    from mediaferry.jobs.database import migrated_database
    from mediaferry.jobs.service import JobService

    settings = _settings()

    async def go() -> Any:
        async with migrated_database(settings) as db:
            jobs = JobService(db, settings)
            return await jobs.clean_temp(max_age_hours=max_age_hours, dry_run=dry_run)

    report = _run(go)
    if as_json:
        render.print_json(
            {
                "dry_run": dry_run,
                "removed": [str(p) for p in report.removed],
                "bytes_freed": report.bytes_freed,
                "skipped_live": [str(p) for p in report.skipped_live],
            }
        )
        return
    verb = "would remove" if dry_run else "removed"
    for path in report.removed:
        render.console.print(f"{verb} {path}", highlight=False)
    freed = "would free" if dry_run else "freed"
    render.console.print(
        f"{len(report.removed)} item(s) {verb}, {freed} {_human(report.bytes_freed)}"
        f" ({report.bytes_freed} bytes); {len(report.skipped_live)} live job dir(s) kept",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``search`` and ``cleanup`` to the ``mediaferry`` command."""
    app.command()(search)
    app.command()(cleanup)
