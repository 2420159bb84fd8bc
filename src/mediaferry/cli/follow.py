"""``mediaferry follow …``: watch playlists, channels and feeds for new entries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from mediaferry.cli import _render as render
from mediaferry.cli._args import ChatArgCommand

if TYPE_CHECKING:
    from mediaferry.follows.service import FollowService

__all__ = ["follow_app", "register"]

T = TypeVar("T")
follow_app = typer.Typer(
    help="Follow playlists, channels and feeds: new entries become jobs.", no_args_is_help=True
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
IdArg = Annotated[int, typer.Argument(metavar="ID", help="The follow's id.")]


def _with_follows(work: Callable[[FollowService], Awaitable[T]]) -> T:
    """Run ``work`` with the follow service (bad input: one line, exit 2)."""
    from mediaferry.app import Services
    from mediaferry.cli.app import _run, _settings
    from mediaferry.errors import UnsupportedSource, UrlRejected

    settings = _settings()

    async def go() -> T:
        services = await Services.create(settings, start_bus=False)
        try:
            return await work(services.follows)
        except UnsupportedSource as exc:  # not a playlist, feed or chat: bad input, exit 2
            raise UrlRejected(exc.message) from exc
        finally:
            await services.close()

    return _run(go)


def _ago(value: str | None) -> str:
    return value.replace("T", " ")[:16] if value else "-"


def follows_table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    for name in ("id", "kind", "title / url", "type", "every", "next check", "new", "state"):
        table.add_column(name)
    for r in rows:
        state = "paused" if r["paused"] else ("failing" if r["failures"] else "ok")
        if r["last_error"]:
            state += f": {r['last_error'][:40]}"
        every = f"{r['every_s'] // 3600}h" if r["every_s"] % 3600 == 0 else f"{r['every_s']}s"
        table.add_row(
            str(r["id"]), r["kind"], (r["title"] or r["url"])[:60], r["job_type"], every,
            _ago(r["next_check_at"]), str(r["items_queued"]), state,
        )  # fmt: skip
    return table


@follow_app.command("add", cls=ChatArgCommand)
def add(
    url: Annotated[str, typer.Argument(help="A playlist, channel or feed URL.")],
    audio: Annotated[bool, typer.Option("--audio", help="Fetch audio.")] = False,
    video: Annotated[bool, typer.Option("--video", help="Fetch video (default).")] = False,
    quality: Annotated[str, typer.Option(help="e.g. best, 720p, worst.")] = "best",
    kind: Annotated[
        str | None,
        typer.Option(help="Telegram chats: audio, video, voice, document or all (default)."),
    ] = None,
    every: Annotated[str | None, typer.Option(help="How often: 30m, 6h, 1d.")] = None,
    start: Annotated[
        str, typer.Option("--from", help="First check: now (only what appears later).")
    ] = "now",
    backfill: Annotated[int, typer.Option(help="Also fetch the newest N right away.")] = 0,
    since: Annotated[str | None, typer.Option(help="Also fetch what was published since.")] = None,
    include: Annotated[str | None, typer.Option(help="Title must match (regex).")] = None,
    exclude: Annotated[str | None, typer.Option(help="Title must not match (regex).")] = None,
    min_duration: Annotated[float | None, typer.Option(help="Seconds.")] = None,
    max_duration: Annotated[float | None, typer.Option(help="Seconds.")] = None,
    archive: Annotated[bool, typer.Option("--archive", help="Keep results in the library.")] = (
        False
    ),
    keep_last: Annotated[int | None, typer.Option(help="Keep this many archived items.")] = None,
    keep_days: Annotated[int | None, typer.Option(help="Keep archived items this long.")] = None,
    check: Annotated[bool, typer.Option(help="Run the first check now.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Follow URL. The first check runs now (unless --no-check)."""
    from mediaferry.follows.service import follow_to_dict

    if audio and video:
        from mediaferry.cli.app import fail

        fail("choose --audio or --video, not both")

    async def go(follows: FollowService) -> dict[str, Any]:
        follow = await follows.add(
            url,
            job_type="audio" if audio else "video",
            quality=quality,
            every=every,
            start="backfill" if backfill and start == "now" else start,
            backfill=backfill,
            since=since,
            include=include,
            exclude=exclude,
            min_duration_s=min_duration,
            max_duration_s=max_duration,
            archive=archive,  # without a chat, results always land in the library
            keep_last=keep_last,
            keep_days=keep_days,
            tg_kind=kind,
        )
        out = follow_to_dict(follow)
        if check:
            result = await follows.check(follow.id)
            out = follow_to_dict(await follows.get(follow.id))
            out["check"] = {"new": result.new, "jobs": result.job_ids, "error": result.error}
        return out

    data = _with_follows(go)
    if as_json:
        render.print_json(data)
        return
    render.console.print(f"follow {data['id']} added: {data['title'] or data['url']}")
    if "check" in data:
        render.console.print(f"first check: {data['check']['new']} new job(s)")


@follow_app.command("list")
def list_follows(as_json: JsonOpt = False) -> None:
    """Every follow with its last check, new items and errors."""
    from mediaferry.follows.service import follow_to_dict

    async def go(follows: FollowService) -> list[dict[str, Any]]:
        return [follow_to_dict(f) for f in await follows.list_follows()]

    rows = _with_follows(go)
    if as_json:
        render.print_json(rows)
    elif rows:
        render.console.print(follows_table(rows))
    else:
        render.console.print("no follows")


@follow_app.command("show")
def show(follow_id: IdArg, as_json: JsonOpt = False) -> None:
    """One follow in full."""
    from mediaferry.follows.service import follow_to_dict

    async def go(follows: FollowService) -> dict[str, Any]:
        return follow_to_dict(await follows.get(follow_id))

    data = _with_follows(go)
    if as_json:
        render.print_json(data)
        return
    for key, value in data.items():
        render.console.print(f"{key:>16}: {value if value is not None else '-'}", highlight=False)


def _pause(follow_id: int, paused: bool) -> None:
    async def go(follows: FollowService) -> None:
        await follows.set_paused(follow_id, paused)

    _with_follows(go)
    render.console.print(f"follow {follow_id} {'paused' if paused else 'resumed'}")


@follow_app.command("pause")
def pause(follow_id: IdArg) -> None:
    """Stop checking a follow."""
    _pause(follow_id, True)


@follow_app.command("resume")
def resume(follow_id: IdArg) -> None:
    """Check a paused follow again."""
    _pause(follow_id, False)


@follow_app.command("remove")
def remove(follow_id: IdArg) -> None:
    """Stop following (jobs already made and archived files stay)."""

    async def go(follows: FollowService) -> None:
        await follows.remove(follow_id)

    _with_follows(go)
    render.console.print(f"follow {follow_id} removed")


@follow_app.command("check")
def check(
    follow_id: Annotated[int | None, typer.Argument(metavar="[ID]", help="One follow.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check one follow (or every follow that is not paused) now."""

    async def go(follows: FollowService) -> list[dict[str, Any]]:
        ids = (
            [follow_id]
            if follow_id is not None
            else [f.id for f in await follows.list_follows() if not f.paused]
        )
        out = []
        for fid in ids:
            r = await follows.check(fid)
            out.append(
                {"id": fid, "new": r.new, "duplicates": r.duplicates, "skipped": r.skipped,
                 "remaining": r.remaining, "not_modified": r.not_modified, "error": r.error,
                 "jobs": r.job_ids}
            )  # fmt: skip
        return out

    rows = _with_follows(go)
    if as_json:
        render.print_json(rows)
        return
    for r in rows:
        if r["error"]:
            render.console.print(f"follow {r['id']}: failed: {r['error']}", highlight=False)
        else:
            render.console.print(f"follow {r['id']}: {r['new']} new job(s)", highlight=False)
    if any(r["error"] for r in rows):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``follow`` to the ``mediaferry`` command."""
    app.add_typer(follow_app, name="follow")
