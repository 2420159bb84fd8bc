"""The ``mediaferry`` entry point: decide what a command needs before importing it.

Typer, Rich, pydantic, SQLAlchemy, httpx and yt-dlp together cost ~0.6 s of imports,
more than ``mediaferry jobs --json`` needs in total. So this module imports only the
standard library and picks one of three paths:

- ``--help``, ``version``, and the read-only JSON commands (``jobs --json``,
  ``job ID --json`` on a SQLite database already at head): served by
  :mod:`mediaferry.cli._fast` with the standard library alone;
- ``add``: parsed here, then :mod:`mediaferry.cli.add` imports what creating (and
  with ``--wait``, running) a job needs, and no Typer;
- everything else, and anything this light parser does not understand (``--help`` of
  a command, an unknown option, PostgreSQL...): the full Typer app in
  :mod:`mediaferry.cli.app`, which also gives the usual error messages.

The imports below inside functions are those per-command choices, in this one place.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence

__all__ = ["COMMANDS", "HELP", "main", "resume_gc"]

#: (name, one-line help) of every top-level command, in the order ``--help`` lists
#: them; a test checks it against the Typer app.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("search", "Search the library of archived media."),
    (
        "cleanup",
        "Remove old temp work and orphaned partial files (never the archive or live jobs).",
    ),
    ("run", "Run everything in one process: workers, and the bot and web when configured."),
    ("worker", "Run workers only, as a separate process sharing the database."),
    ("add", "Queue downloads (and with --wait, see them through)."),
    ("jobs", "List jobs, newest first."),
    ("job", "Show one job with its event timeline."),
    ("cancel", "Cancel a job (running jobs stop within seconds; temp files are removed)."),
    ("retry", "Retry a failed job."),
    ("pause", "Pause all workers (running jobs finish; no new job starts)."),
    ("resume", "Resume workers after a pause."),
    (
        "doctor",
        "Check the external tools and the database; say what is missing and how to install it.",
    ),
    ("update", "Upgrade yt-dlp (with its extras) in Mediaferry's environment; print old → new."),
    ("version", "Print the version."),
    ("db", "Database maintenance."),
    ("auth", "Cookie profiles per source (for sites that need a login)."),
    ("follow", "Follow playlists, channels and feeds: new entries become jobs."),
    ("tg", "Telegram over MTProto: the user account and channel archiving."),
)

HELP = (
    "Usage: mediaferry [OPTIONS] COMMAND [ARGS]...\n\n"
    "Mediaferry: download media from links, deliver it to Telegram, keep an archive.\n\n"
    "Options:\n  --help  Show this message and exit.\n\nCommands:\n"
    + "".join(f"  {name:<9} {text}\n" for name, text in COMMANDS)
    + "\nRun 'mediaferry COMMAND --help' for a command's options.\n"
)


def _help(_: Sequence[str]) -> int | None:
    sys.stdout.write(HELP)
    return 0


def _no_command(_: Sequence[str]) -> int | None:
    sys.stdout.write(HELP)
    return 2  # as Click does when a command is missing


def _version(args: Sequence[str]) -> int | None:
    if args:
        return None
    from mediaferry import __version__

    sys.stdout.write(f"{__version__}\n")
    return 0


def _jobs(args: Sequence[str]) -> int | None:
    from mediaferry.cli._fast import jobs_json  # stdlib + sqlite3 only

    return jobs_json(args)


def _job(args: Sequence[str]) -> int | None:
    from mediaferry.cli._fast import job_json  # stdlib + sqlite3 only

    return job_json(args)


def _add(args: Sequence[str]) -> int | None:
    # httpx imports its own command-line client (click, rich, pygments) whenever it is
    # imported and they are installed; this process never runs it. A ``None`` entry is
    # Python's way to make that one import fail, and httpx then skips it.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from mediaferry.cli.add import main as add_main  # settings, job service, detection

    return add_main(args)


_FAST: dict[str, Callable[[Sequence[str]], int | None]] = {
    "--help": _help,
    "-h": _help,
    "help": _help,
    "--version": _version,
    "version": _version,
    "jobs": _jobs,
    "job": _job,
    "add": _add,
}


def resume_gc() -> None:
    """Everything built so far lives as long as the process: leave it out of
    collections, and collect from now on (long-running commands call this)."""
    gc.freeze()
    gc.enable()


def main() -> None:
    """Run one ``mediaferry`` command (see the module docstring for the paths)."""
    # start-up builds ~100,000 long-lived objects; collecting while importing them is
    # wasted. Long-running commands (add --wait, run, worker) call ``resume_gc``.
    gc.disable()
    argv = sys.argv[1:]
    handler = _FAST.get(argv[0]) if argv else _no_command
    code = handler(argv[1:]) if handler is not None else None
    if code is None:
        from mediaferry.cli.app import main as full_main  # Typer, Rich, pydantic

        full_main()
        return
    _exit(code)


def _exit(code: int) -> None:
    """Leave at once, as the full app does: the interpreter's teardown is pure cost."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: nothing more can be said
        code = code or 1
    os._exit(code)
