"""Every user-facing string of the bot. All text is sent with ``parse_mode=HTML``;
anything that comes from outside (titles, URLs, error messages) goes through
:func:`esc` so a title like ``<b>&`` can never break a send."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

from mediaferry.errors import user_message

__all__ = [
    "HELP_ADMIN",
    "HELP_USER",
    "STAGE_NAMES",
    "esc",
    "failed",
    "human_duration",
    "human_size",
    "progress",
]

PARSE_MODE = "HTML"
MAX_TEXT = 4096

STAGE_NAMES: dict[str, str] = {
    "METADATA": "Looking up",
    "CHECK": "Checking",
    "DOWNLOAD": "Downloading",
    "POSTPROCESS": "Converting",
    "VALIDATE": "Checking the file",
    "DELIVER": "Uploading",
}

COMMANDS: list[tuple[str, str]] = [
    ("start", "What this bot does"),
    ("help", "How to use it"),
    ("video", "/video <link>: download as video"),
    ("audio", "/audio <link>: download as audio (or reply it to a video)"),
    ("archive", "Reply to a file: keep it in the archive"),
    ("get", "/get <link> <quality>: e.g. 720p, audio"),
    ("status", "Your jobs"),
    ("queue", "What is queued and running"),
    ("job", "/job <id>: details of a job"),
    ("cancel", "/cancel <id>: cancel a job"),
    ("retry", "/retry <id>: retry a failed job"),
    ("settings", "Defaults of this chat"),
    ("archive_on", "Keep downloads in the archive"),
    ("archive_off", "Do not archive downloads"),
    ("follow", "/follow <link>: get each new item of a channel or feed"),
    ("following", "What you follow"),
    ("unfollow", "/unfollow <id>: stop following"),
]

HELP_USER = (
    "Send me a link (or several, or a .txt file of links) and I send the media back, "
    "ready to play.\n\n"
    "/video &lt;link&gt; — as video, at once\n"
    "/audio &lt;link&gt; — as audio, at once\n"
    "Send or forward me a file (video, audio, voice, document):\n"
    "• with the caption /archive (or in a chat with /archive_on) I keep it in the "
    "archive, byte for byte\n"
    "• reply /audio to a video to get its sound as audio\n"
    "• reply /archive to a file to keep it\n"
    "/get &lt;link&gt; &lt;quality&gt; — e.g. 720p, 480p, audio\n"
    "/status — your jobs\n"
    "/queue — what is queued and running\n"
    "/job &lt;id&gt; — details of a job\n"
    "/cancel &lt;id&gt; — cancel a job\n"
    "/follow &lt;link&gt; [audio|video] [every 6h] [backfill 5] — new items of a channel, "
    "playlist or feed, sent here\n"
    "/following, /unfollow &lt;id&gt; — what you follow\n"
    "/retry &lt;id&gt; — retry a failed job\n"
    "/settings — defaults of this chat (type, quality, ask)\n"
    "/archive_on, /archive_off — keep downloads in the archive"
)

HELP_ADMIN = (
    "\n\nAdmin:\n"
    "/health — jobs, workers, disk, versions\n"
    "/pause, /resume — stop and restart taking new work\n"
    "/clear — delete failed and cancelled jobs\n"
    "/debug_on &lt;id&gt;, /debug_off &lt;id&gt; — verbose logs for a job\n"
    "/maintenance_on, /maintenance_off — refuse new jobs"
)

START = "Hello! I download videos and audio from links and send them back ready to play."
REFUSED_USER = "Sorry, you are not allowed to use this bot. Your user id is <code>{uid}</code>."
REFUSED_ADMIN = "That command is for admins only."
MAINTENANCE = "The bot is under maintenance; new downloads are paused. Please try again later."
UNKNOWN_COMMAND = "I don't know that command. Send /help for what I can do."
NO_LINKS = "I found no link in that message. Send /help for what I can do."
QUEUED = "⏳ Queued"
CANCELLED = "✖️ Cancelled."
DONE_ELSEWHERE = "✅ Done."
NOT_YOURS = "That is not your request."
ASK = "What should I fetch?"
ALREADY_RUNNING = "⏳ This link is already being fetched (job #{id}); you will get it too."
TXT_TOO_BIG = "That file is too big ({size}); a list of links may be at most {limit}."
TXT_BINARY = "That file is not a text file of links."
TXT_EMPTY = "I found no links in that file."
FILE_HINT_VIDEO = (
    "Reply /audio to this video to get its audio; send it with the caption /archive "
    "or turn on /archive_on to keep it in the archive."
)
FILE_HINT = (
    "Send it with the caption /archive (or reply /archive to it), or turn on "
    "/archive_on, to keep it in the archive."
)
STICKER = "Stickers are not files I can keep; send a video, audio or document."
PHOTO = (
    "Photos are not supported; send the picture as a file (📎 → File) to keep it in the archive."
)
ARCHIVE_USAGE = "Reply /archive to a file (video, audio, voice, document) to keep it."
AUDIO_NOT_VIDEO = "Reply /audio to a video to get its sound; that message holds no video."
AUDIO_ALREADY = "⏳ The audio of this video is already on its way (job #{id})."
ALREADY_ARCHIVED = "✅ That file is already in the archive (job #{id})."
ALREADY_ARCHIVING = "⏳ That file is already being archived (job #{id})."
ARCHIVED = "✅ Archived: <b>{title}</b> ({size}) — job #{id}. It is in the library (search it)."
TOO_MANY_LINKS = "That has {n} links; at most {limit} are accepted at once. Nothing was queued."


def esc(text: object) -> str:
    """Escape for ``parse_mode=HTML``."""
    return html.escape(str(text), quote=False)


def human_size(n: float | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def human_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "?"
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def progress(
    stage: str | None,
    title: str | None,
    bytes_done: int | None = None,
    bytes_total: int | None = None,
    speed: float | None = None,
    eta: float | None = None,
    *,
    note: str | None = None,
) -> str:
    """The progress message: stage, percent, size, speed and ETA (and a wait note)."""
    name = STAGE_NAMES.get(stage or "", "Working")
    lines = [f"⏳ <b>{esc(name)}</b>"]
    if stage == "DOWNLOAD" and bytes_done:
        head = human_size(bytes_done)
        if bytes_total:
            pct = min(100, int(bytes_done * 100 / bytes_total))
            head = f"{pct}% · {head} / {human_size(bytes_total)}"
        if speed:
            head += f" · {human_size(speed)}/s"
        if eta is not None and bytes_total:
            head += f" · ETA {human_duration(eta)}"
        lines[0] += f" — {head}"
    if note:
        lines.append(f"⌛ {esc(_clip(note, 120))}")
    if title:
        lines.append(esc(_clip(title, 200)))
    return "\n".join(lines)


def failed(error_type: str | None, attempts_left: bool = False) -> str:
    msg = user_message(error_type)
    if attempts_left:
        return f"⏳ {esc(msg)} Trying again soon."
    return f"❌ {esc(msg)}"


def summary(queued: int, duplicates: int, refused: Mapping[str, str]) -> str:
    """The one reply to a batch of links (.txt file or a message with several)."""
    lines = [f"Queued: {queued}", f"Already queued or done: {duplicates}"]
    if refused:
        lines.append(f"Refused: {len(refused)}")
        for url, reason in list(refused.items())[:10]:
            lines.append(f"• {esc(_clip(url, 80))} — {esc(reason)}")
        if len(refused) > 10:
            lines.append(f"… and {len(refused) - 10} more")
    return "\n".join(lines)


def bullet_list(items: Iterable[str]) -> str:
    return "\n".join(f"• {item}" for item in items)


def playlist(info: Mapping[str, int]) -> str:
    """The reply to a playlist: how many entries were queued."""
    return (
        f"📃 Playlist: {info.get('created', 0)} of {info.get('entries', 0)} entries queued"
        f" ({info.get('duplicates', 0)} already queued or done, {info.get('refused', 0)} refused)."
    )
