"""Rich rendering for the CLI: tables, job detail, live progress."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

__all__ = ["console", "err_console", "job_detail", "jobs_table", "make_progress", "print_json"]

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _size(n: int | None) -> str:
    if not n:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table(show_lines=False)
    for col in ("id", "status", "stage", "type", "source", "title / url", "size", "error"):
        table.add_column(col)
    for j in jobs:
        done, total = j.get("bytes_done") or 0, j.get("bytes_total")
        pct = f" {100 * done / total:.0f}%" if total and j["status"] == "RUNNING" else ""
        table.add_row(
            str(j["id"]),
            j["status"] + pct,
            j.get("stage") or "",
            j["job_type"],
            j["source_type"],
            (j.get("title") or j["url"])[:60],
            _size(j.get("file_size") or total),
            j.get("error_type") or "",
        )
    return table


def job_detail(j: dict[str, Any]) -> None:
    console.print(f"[bold]Job #{j['id']}[/bold]  {j['status']}  stage={j.get('stage') or '-'}")
    shown = {**j, "message": _message(j), "caption": _clip(j.get("caption"), 200)}
    for key in ("url", "title", "performer", "source_type", "job_type", "quality",
                "chat", "message", "caption", "attempts", "file_path"):  # fmt: skip
        if shown.get(key) not in (None, ""):
            console.print(f"  {key:<12} {escape(str(shown[key]))}")
    if j.get("file_size"):
        console.print(f"  {'size':<12} {_size(j['file_size'])}")
    if j.get("sha256"):
        console.print(f"  {'sha256':<12} {j['sha256']}")
    if j.get("error_type"):
        console.print(
            f"  [red]{'error':<12} {j['error_type']}: {escape(str(j.get('error_message')))}[/red]"
        )
    events = j.get("events") or []
    if events:
        table = Table(title="events")
        table.add_column("at")
        table.add_column("event")
        table.add_column("data")
        for e in events:
            data = ", ".join(f"{k}={v}" for k, v in (e.get("data") or {}).items())
            table.add_row(e["at"][11:23], e["type"], data[:90])
        console.print(table)


def _message(j: dict[str, Any]) -> str | None:
    """A Telegram job's message: its id and date."""
    if j.get("message_id") is None:
        return None
    date = str(j.get("message_date") or "")[:16].replace("T", " ")
    return f"{j['message_id']}" + (f" ({date} UTC)" if date else "")


def _clip(text: Any, limit: int) -> str | None:
    if not text:
        return None
    one = " ".join(str(text).split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def make_progress() -> Progress:
    return Progress(
        TextColumn("[bold]#{task.fields[job_id]}[/bold] {task.fields[stage]:<11}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
