"""Telegram over MTProto end to end: the real CLI (separate processes, real Telethon)
against the fake MTProto server on loopback, real SQLite, ffprobe and mutagen.

Covers issue 10's archive path: ``tg archive`` of a channel (exact jobs, identical
bytes, tags, library rows), a second run (nothing downloaded), the same document in
another channel (not downloaded again), resume after a dropped connection, an expired
file reference, a flood wait, t.me links through ``add``, and bad input.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mutagen.id3 import ID3, TIT2, TPE1

from tests.support.fake_mtproto import FakeChannel, FakeMTProtoServer, FakeUser

MF = str(Path(sys.executable).with_name("mediaferry"))
API_ID, API_HASH = "611335", "d524b414d21f4d37f08684c1df41ac9c"
MiB = 1024 * 1024


def sha(data: bytes | Path) -> str:
    raw = data.read_bytes() if isinstance(data, Path) else data
    return hashlib.sha256(raw).hexdigest()


@dataclass
class Tg:
    server: FakeMTProtoServer
    me: FakeUser
    env: dict[str, str]
    data_dir: Path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MF, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    def json(self, *args: str, code: int = 0) -> Any:
        out = self.run(*args, "--json")
        assert out.returncode == code, out.stderr[-2000:]
        return json.loads(out.stdout)

    def events(self, job_id: int) -> list[dict[str, Any]]:
        data = self.json("job", str(job_id))
        events: list[dict[str, Any]] = data["events"]
        return events


@pytest.fixture
def tg(fake_mtproto: FakeMTProtoServer, mtproto_public_key: Path, tmp_path: Path) -> Tg:
    me = fake_mtproto.world.add_user("Reader", username="reader", phone="+15550001")
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAFERRY_")}
    env.update(
        MEDIAFERRY_DATA_DIR=str(data_dir),
        MEDIAFERRY_MIN_FREE_GB="0",
        MEDIAFERRY_RETRY_BASE_S="0.1",
        MEDIAFERRY_RETRY_MAX_S="0.5",
        MEDIAFERRY_PROGRESS_INTERVAL_S="0.2",
        MEDIAFERRY_LOG_FORMAT="json",
        MEDIAFERRY_TELEGRAM_API_ID=API_ID,
        MEDIAFERRY_TELEGRAM_API_HASH=API_HASH,
        MEDIAFERRY_TELEGRAM_MTPROTO_SERVER=fake_mtproto.address,
        MEDIAFERRY_TELEGRAM_MTPROTO_PUBLIC_KEY=str(mtproto_public_key),
        MEDIAFERRY_TELEGRAM_USER_SESSION=fake_mtproto.session_string(me),
    )
    return Tg(fake_mtproto, me, env, data_dir)


def tagged_mp3(media_dir: Path, dest: Path, title: str, artist: str) -> bytes:
    shutil.copy(media_dir / "audio.mp3", dest)
    tags = ID3()
    tags.add(TIT2(encoding=3, text=[title]))
    tags.add(TPE1(encoding=3, text=[artist]))
    tags.save(dest, v2_version=3)
    return dest.read_bytes()


def lectures(tg: Tg, media_dir: Path, tmp_path: Path) -> dict[str, Any]:
    """A channel with music (attributes; tags only; neither), voice, video, a document,
    a photo and text."""
    w = tg.server.world
    chan = w.add_channel("Friday Lectures", username="lectures", members=[tg.me])
    w.post(chan, "welcome")
    tagged = tagged_mp3(media_dir, tmp_path / "t.mp3", "Patience", "Sheikh Tagged")
    untagged = (media_dir / "audio.mp3").read_bytes()
    video = (media_dir / "h264_aac.mp4").read_bytes()
    pdf = os.urandom(3 * MiB + 17)
    docs = {
        "attr": w.add_audio(tagged, title="On Patience", performer="Sheikh A", duration=4),
        "tags": w.add_audio(
            tagged, title=None, performer=None, duration=4, file_name="lecture.mp3"
        ),
        "bare": w.add_audio(
            untagged, title=None, performer=None, duration=4, file_name="Sheikh B - Gratitude.mp3"
        ),
        "voice": w.add_voice((media_dir / "audio.opus").read_bytes(), duration=4),
        "video": w.add_video(video, duration=5, w=320, h=240, file_name="clip.mp4"),
        "doc": w.add_document(pdf, file_name="notes.pdf", mime_type="application/pdf"),
    }
    msgs = {k: w.post(chan, f"caption {k}", media=d).id for k, d in docs.items()}
    w.post(chan, "a picture", media=w.add_photo(os.urandom(2000)))
    return {"chan": chan, "docs": docs, "msgs": msgs, "bytes": {
        "attr": tagged, "tags": tagged, "bare": untagged, "video": video,
        "voice": (media_dir / "audio.opus").read_bytes(), "doc": pdf,
    }}  # fmt: skip


def test_tg_archive_of_a_channel_then_again_then_elsewhere(
    tg: Tg, media_dir: Path, tmp_path: Path
) -> None:
    world = lectures(tg, media_dir, tmp_path)
    msgs, raw = world["msgs"], world["bytes"]

    out = tg.json("tg", "archive", "@lectures", "--wait")
    jobs = {j["message_id"]: j for j in out["jobs"]}
    assert out["refused"] == []
    # exactly one job per media message: no text, no photo
    assert set(jobs) == set(msgs.values())
    assert all(j["status"] == "COMPLETED" and j["source_type"] == "TELEGRAM" for j in jobs.values())
    assert all(j["chat"] == "Friday Lectures" for j in jobs.values())
    by = {k: jobs[m] for k, m in msgs.items()}
    # files with tags, video, voice and documents: byte for byte
    for key in ("attr", "tags", "voice", "video", "doc"):
        path = Path(by[key]["file_path"])
        assert path.read_bytes() == raw[key], key
        assert by[key]["sha256"] == sha(raw[key])
        assert path.is_relative_to(tg.data_dir / "archive" / "Friday Lectures")
    # metadata: audio attributes first, else the file's own tags, else the file name
    assert (by["attr"]["title"], by["attr"]["performer"]) == ("On Patience", "Sheikh A")
    # the message: chat, id, date and caption, in the JSON and in `mediaferry job ID`
    posted = world["chan"].messages[msgs["attr"]].date
    assert by["attr"]["message_date"] == posted.isoformat()
    assert by["attr"]["caption"] == "caption attr"
    shown = tg.run("job", str(by["attr"]["id"])).stdout
    for line in ("performer    Sheikh A", "chat         Friday Lectures",
                 f"message      {msgs['attr']} ({posted:%Y-%m-%d %H:%M} UTC)",
                 "caption      caption attr", f"sha256       {by['attr']['sha256']}"):  # fmt: skip
        assert line in shown, shown
    assert Path(by["attr"]["file_path"]).name == "Sheikh A - On Patience.mp3"
    assert (by["tags"]["title"], by["tags"]["performer"]) == ("Patience", "Sheikh Tagged")
    # an MP3 without any tags gets them written (the audio frames stay the same)
    bare = Path(by["bare"]["file_path"])
    assert by["bare"]["title"] == "Sheikh B - Gratitude"
    assert str(ID3(bare)["TIT2"].text[0]) == "Sheikh B - Gratitude"
    assert bare.read_bytes().endswith(raw["bare"])
    assert by["bare"]["sha256"] == sha(bare)
    # the library has them, searchable by chat
    found = tg.json("search", "patience", "--chat", "@lectures")
    assert {i["path"] for i in found} == {by["attr"]["file_path"], by["tags"]["file_path"]}
    assert tg.json("search", "patience", "--chat", "@nowhere") == []
    # by the chat's id as `tg chats` shows it, or -100<id>; items say where they came from
    for chat in (str(world["chan"].id), f"-100{world['chan'].id}"):
        by_id = tg.json("search", "patience", "--chat", chat)
        assert {(i["channel_id"], i["message_id"]) for i in by_id} == {
            (world["chan"].id, msgs["attr"]),
            (world["chan"].id, msgs["tags"]),
        }, chat
    served = tg.server.stats.requests["upload.getFile"]
    # the chat is resolved once per process, not once per message
    assert tg.server.stats.requests["contacts.resolveUsername"] <= 2

    # again: the same jobs, as duplicates, and nothing downloaded
    again = tg.json("tg", "archive", "@lectures")
    assert sorted(j["id"] for j in again["jobs"]) == sorted(j["id"] for j in jobs.values())
    assert tg.server.stats.requests["upload.getFile"] == served

    # the same document reposted in another channel: its job, not a new download
    w = tg.server.world
    other = w.add_channel("Reposts", username="reposts", members=[tg.me])
    repost = w.post(other, "repost", media=world["docs"]["attr"])
    third = tg.json("tg", "archive", "@reposts", "--kind", "audio", "--wait")
    assert [j["id"] for j in third["jobs"]] == [by["attr"]["id"]]
    assert third["jobs"][0]["status"] == "COMPLETED"
    assert tg.server.stats.requests["upload.getFile"] == served
    assert repost.id >= 1


def test_kind_search_and_limit_filter_server_side(tg: Tg, media_dir: Path, tmp_path: Path) -> None:
    world = lectures(tg, media_dir, tmp_path)
    msgs = world["msgs"]
    voice = tg.json("tg", "archive", "lectures", "--kind", "voice")
    assert [j["message_id"] for j in voice["jobs"]] == [msgs["voice"]]
    music = tg.json("tg", "archive", "https://t.me/lectures", "--kind", "audio", "--limit", "2")
    assert [j["message_id"] for j in music["jobs"]] == [msgs["bare"], msgs["tags"]]
    found = tg.json("tg", "archive", "@lectures", "--search", "caption doc")
    assert [j["message_id"] for j in found["jobs"]] == [msgs["doc"]]
    assert tg.server.stats.requests["messages.search"] >= 3


def test_a_chat_named_by_its_numeric_id(tg: Tg, media_dir: Path, tmp_path: Path) -> None:
    world = lectures(tg, media_dir, tmp_path)
    chan, msgs = world["chan"], world["msgs"]
    # -100<id> is an argument, not options -1 -0 -0 …, wherever it stands
    for args in (
        ["tg", "archive", f"-100{chan.id}", "--kind", "voice"],
        ["tg", "archive", "--kind", "voice", "--priority", "-5", f"-100{chan.id}"],
        # the bare id, as `tg chats` shows it: not a basic group, not a user, the channel
        ["tg", "archive", str(chan.id), "--kind", "voice"],
    ):
        out = tg.json(*args)
        assert [j["message_id"] for j in out["jobs"]] == [msgs["voice"]], args
    secret = tg.server.world.add_channel("Secret", public=False)
    for chat in (str(secret.id), "99999999999"):
        out = tg.run("tg", "archive", chat)
        assert out.returncode == 2, (out.stdout, out.stderr)
        assert (
            out.stderr.strip() == f"error: chat {chat}: no such chat, or this account cannot see it"
        )


def big_channel(tg: Tg, size: int) -> tuple[FakeChannel, Any, bytes]:
    w = tg.server.world
    chan = w.add_channel("Big", username="bigfiles", members=[tg.me])
    data = os.urandom(size)
    doc = w.add_document(data, file_name="big.bin")
    w.post(chan, "big", media=doc)
    return chan, doc, data


def test_a_dropped_connection_resumes_from_an_offset(tg: Tg) -> None:
    _, _, data = big_channel(tg, 24 * MiB + 5)
    tg.server.faults.drop_after_bytes(9 * MiB, file_bytes_only=True)
    out = tg.json("tg", "archive", "@bigfiles", "--wait", "--parallel", "4")
    job = out["jobs"][0]
    assert job["status"] == "COMPLETED"
    assert Path(job["file_path"]).read_bytes() == data
    assert tg.server.faults.drops_done == 1
    assert tg.server.stats.file_bytes_served < 1.4 * len(data)
    # parallel parts over several connections, each offset on Telegram's grid
    assert tg.server.stats.connections_serving_files() > 1
    assert all(off % (4096) == 0 and MiB % lim == 0 for _, off, lim in
               tg.server.stats.get_file_offsets)  # fmt: skip


def test_an_expired_reference_and_a_flood_wait_are_handled(tg: Tg) -> None:
    _, doc, data = big_channel(tg, 3 * MiB + 1)
    tg.server.faults.expire_file_reference(doc.id)
    tg.server.faults.flood_wait("upload.getFile", 2)
    out = tg.json("tg", "archive", "@bigfiles", "--wait")
    job = out["jobs"][0]
    assert job["status"] == "COMPLETED", job
    assert Path(job["file_path"]).read_bytes() == data
    assert tg.server.faults.references_expired == [doc.id]
    assert tg.server.faults.floods_done == [("upload.getFile", 2)]
    waits = [e for e in tg.events(job["id"]) if e["type"] == "WAITING"]
    assert [e["data"]["message"] for e in waits] == ["Telegram asks to wait 2 s"]


def test_wait_shows_a_flood_wait_in_its_progress(tg: Tg) -> None:
    import re

    big_channel(tg, 3 * MiB + 1)
    tg.server.faults.flood_wait("upload.getFile", 2)
    # a terminal as Rich sees one (live progress), logs quiet
    env = {**tg.env, "TTY_INTERACTIVE": "1", "TTY_COMPATIBLE": "1", "COLUMNS": "160",
           "MEDIAFERRY_LOG_LEVEL": "ERROR"}  # fmt: skip
    out = subprocess.run([MF, "tg", "archive", "@bigfiles", "--wait"], env=env,
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.stderr)
    assert "#1 download · Telegram asks to wait 2 s" in shown, shown[-2000:]
    assert tg.server.faults.floods_done == [("upload.getFile", 2)]


def test_t_me_links_through_add(tg: Tg, media_dir: Path, tmp_path: Path) -> None:
    world = lectures(tg, media_dir, tmp_path)
    msgs, raw = world["msgs"], world["bytes"]
    chan = world["chan"]
    # a Telegram job has the message's keys from the start, known once METADATA ran
    queued = tg.json("add", f"https://t.me/c/{chan.id}/{msgs['doc']}")["jobs"][0]
    assert (queued["chat"], queued["message_id"], queued["caption"]) == (None, None, None)
    one = tg.json("add", f"https://t.me/lectures/{msgs['video']}", "--wait")["jobs"][0]
    assert one["status"] == "COMPLETED"
    assert (one["chat"], one["message_id"]) == ("Friday Lectures", msgs["video"])
    assert one["caption"] == "caption video"
    assert one["message_date"] == chan.messages[msgs["video"]].date.isoformat()
    assert Path(one["file_path"]).read_bytes() == raw["video"]
    by_id = tg.json("add", f"https://t.me/c/{chan.id}/{msgs['doc']}", "--wait")["jobs"][0]
    assert Path(by_id["file_path"]).read_bytes() == raw["doc"]

    # an album: one job per item; ?single: only that one
    w = tg.server.world
    first, second = b"first" * 1000, b"second" * 1000
    a = w.post(chan, "album 1", media=w.add_document(first, file_name="a1.bin"), grouped_id=777)
    b = w.post(chan, "album 2", media=w.add_document(second, file_name="a2.bin"), grouped_id=777)
    album = tg.json("add", f"https://t.me/lectures/{a.id}", "--wait")["jobs"]
    assert album[0]["status"] == "COMPLETED"
    children = [j for j in album if j["url"].endswith("?single")]
    assert sorted(Path(c["file_path"]).read_bytes() for c in children) == [first, second]
    single = tg.json("add", f"https://t.me/lectures/{b.id}?single", "--wait")["jobs"][0]
    assert Path(single["file_path"]).read_bytes() == second

    # a message without media, and a private channel: clear error types
    text = tg.json("add", "https://t.me/lectures/1", "--wait", code=1)["jobs"][0]
    assert text["error_type"] == "FORMAT_NOT_FOUND"
    assert "has no file" in text["error_message"]
    secret = w.add_channel("Secret", public=False)
    w.post(secret, "x", media=w.add_document(b"x" * 100, file_name="x.bin"))
    private = tg.json("add", f"https://t.me/c/{secret.id}/1", "--wait", code=1)["jobs"][0]
    assert private["error_type"] == "AUTH_ERROR"
    assert "cannot see" in private["error_message"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["tg", "archive", "@nosuchchannel"], "no such chat"),
        (["tg", "archive", "@lectures", "--since", "2024/01/01"], "--since must be a date"),
        (["tg", "archive", "@lectures", "--template", "../{title}.{ext}"], "'..'"),
        (["tg", "archive", "@lectures", "--template", "/etc/{title}"], "relative path"),
        (["tg", "archive", "@lectures", "--kind", "pictures"], "unknown --kind"),
        (["tg", "archive", "https://t.me/"], "not a Telegram chat"),
        (["add", "https://t.me/c/abc/5"], "refused"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tg: Tg, media_dir: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    lectures(tg, media_dir, tmp_path)
    out = tg.run(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], out.stderr
    assert API_HASH not in out.stderr + out.stdout
    assert tg.env["MEDIAFERRY_TELEGRAM_USER_SESSION"] not in out.stderr + out.stdout


def test_session_and_settings_problems(tg: Tg) -> None:
    env = dict(tg.env)
    # an API id that is not a number
    bad = subprocess.run([MF, "tg", "whoami"], env={**env, "MEDIAFERRY_TELEGRAM_API_ID": "12ab"},
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert bad.returncode == 2 and "MEDIAFERRY_TELEGRAM_API_ID" in bad.stderr
    # without API id/hash: off, in one line
    off = {k: v for k, v in env.items() if "API_" not in k}
    out = subprocess.run([MF, "tg", "whoami"], env=off, capture_output=True, text=True,
                         check=False)  # fmt: skip
    assert out.returncode == 2 and "MTProto is off" in out.stderr
    # a corrupt session file
    no_string = {k: v for k, v in env.items() if k != "MEDIAFERRY_TELEGRAM_USER_SESSION"}
    session = tg.data_dir / "telegram" / "user.session"
    session.parent.mkdir(parents=True, exist_ok=True)
    session.write_bytes(b"this is not sqlite" * 100)
    out = subprocess.run([MF, "tg", "whoami"], env=no_string, capture_output=True, text=True,
                         check=False)  # fmt: skip
    assert out.returncode == 2 and "corrupt" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    # a session path that cannot be a file (a folder there, say): one line too
    session.unlink()
    session.mkdir()
    out = subprocess.run([MF, "tg", "whoami"], env=no_string, capture_output=True, text=True,
                         check=False)  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == (
        f"error: the Telegram session file {session} cannot be used: Is a directory"
    )
    session.rmdir()
    # who am I, with the string session (no phone number shown)
    me = tg.json("tg", "whoami")
    assert (me["id"], me["username"]) == (tg.me.id, "reader")
    assert "15550001" not in json.dumps(me)
    # a revoked session (the server forgot the key): log in again, exit 2
    for auth in tg.server.sessions_of(tg.me.id):
        auth.user_id = None
    out = tg.run("tg", "whoami")
    assert out.returncode == 2 and "tg login" in out.stderr


def test_tg_chats_lists_the_accounts_channels_and_groups(tg: Tg) -> None:
    w = tg.server.world
    news = w.add_channel("News", username="news", members=[tg.me])
    team = w.add_channel("Team", megagroup=True, public=False, members=[tg.me])
    w.add_channel("Elsewhere", username="elsewhere")  # not a member: not listed
    chats = {c["id"]: c for c in tg.json("tg", "chats")}
    assert chats == {
        news.id: {"id": news.id, "kind": "channel", "title": "News", "username": "news"},
        team.id: {"id": team.id, "kind": "supergroup", "title": "Team", "username": None},
    }
    table = tg.run("tg", "chats")
    assert table.returncode == 0 and "@news" in table.stdout and "supergroup" in table.stdout
    # the id it shows is what tg archive takes
    out = tg.json("tg", "archive", str(team.id))
    assert out == {"jobs": [], "refused": []}


def _login(tg: Tg, answers: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in tg.env.items() if k != "MEDIAFERRY_TELEGRAM_USER_SESSION"}
    return subprocess.run(
        [MF, "tg", "login"], env=env, input=answers, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def test_login_with_code_and_password_then_logout(tg: Tg) -> None:
    tg.server.world.add_user(
        "Owner", username="owner", phone="+15550002", password="s3cret-pass", login_code="24680"
    )
    wrong = _login(tg, "+15550002\n11111\n")
    assert wrong.returncode == 2 and "wrong code" in wrong.stderr
    session = tg.data_dir / "telegram" / "user.session"
    assert not session.exists()  # a failed login leaves no session behind
    bad_password = _login(tg, "+15550002\n24680\nnot-it\n")
    assert bad_password.returncode == 2 and "wrong password" in bad_password.stderr
    out = _login(tg, "+15550002\n24680\ns3cret-pass\n")
    assert out.returncode == 0, out.stderr
    assert "logged in as @owner" in out.stdout
    for secret in ("15550002", "24680", "s3cret-pass"):
        assert secret not in out.stdout + out.stderr  # nothing echoed or logged
    assert session.stat().st_mode & 0o777 == 0o600
    env = {k: v for k, v in tg.env.items() if k != "MEDIAFERRY_TELEGRAM_USER_SESSION"}
    who = subprocess.run([MF, "tg", "whoami", "--json"], env=env, capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert json.loads(who.stdout)["username"] == "owner"
    bye = subprocess.run([MF, "tg", "logout"], env=env, capture_output=True, text=True,
                         check=False)  # fmt: skip
    assert bye.returncode == 0 and "logged out" in bye.stdout
    assert not session.exists()
    again = subprocess.run([MF, "tg", "whoami"], env=env, capture_output=True, text=True,
                           check=False)  # fmt: skip
    assert again.returncode == 2 and "tg login" in again.stderr


def test_kill_9_mid_file_resumes_from_the_part_file(tg: Tg) -> None:
    import signal
    import time

    _, _, data = big_channel(tg, 40 * MiB + 3)
    tg.server.faults.throughput_cap = 2 * MiB  # per connection: ~8 MB/s with 4
    env = {**tg.env, "MEDIAFERRY_HEARTBEAT_S": "0.5", "MEDIAFERRY_STALE_AFTER_S": "2"}
    first = subprocess.Popen(
        [MF, "tg", "archive", "@bigfiles", "--wait", "--json"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    part: Path | None = None
    while time.monotonic() < deadline:
        found = list((tg.data_dir / "tmp").rglob("*.part"))
        if found and found[0].stat().st_size >= 12 * MiB:
            part = found[0]
            break
        time.sleep(0.05)
    assert part is not None, "the download never got going"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    served_before = tg.server.stats.file_bytes_served
    assert served_before < len(data)
    asked_before = len(tg.server.stats.get_file_offsets)
    tg.server.faults.throughput_cap = None
    # a restart after the crash: once the dead worker's heartbeat is old enough that the
    # next command runs the job itself (add --wait / tg archive --wait count a worker
    # with a heartbeat in the last 5 s as alive)
    db = sqlite3.connect(tg.data_dir / "mediaferry.db")
    try:
        while True:
            (beat,) = db.execute("SELECT max(heartbeat_at) FROM workers").fetchone()
            last = datetime.fromisoformat(beat) if beat else None
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            if last is None or datetime.now(UTC) - last > timedelta(seconds=5.5):
                break
            assert time.monotonic() < deadline + 30
            time.sleep(0.1)
    finally:
        db.close()
    out = subprocess.run(
        [MF, "tg", "archive", "@bigfiles", "--wait", "--json"], env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    job = json.loads(out.stdout)["jobs"][0]
    assert job["status"] == "COMPLETED"
    assert Path(job["file_path"]).read_bytes() == data
    # resumed from an offset, not from zero
    assert tg.server.stats.file_bytes_served < 1.4 * len(data)
    resumed = [o for _, o, _ in tg.server.stats.get_file_offsets[asked_before:]]
    assert resumed and min(resumed) >= 8 * MiB


def _run_worker_until_done(tg: Tg, env: dict[str, str], job_ids: list[int]) -> list[Any]:
    """A separate ``mediaferry worker`` runs the queued jobs; stopped once they are done."""
    import signal
    import time

    worker = subprocess.Popen(
        [MF, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            jobs = [tg.json("job", str(i)) for i in job_ids]
            if all(j["status"] in ("COMPLETED", "FAILED", "CANCELLED") for j in jobs):
                return jobs
            assert worker.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, [j["status"] for j in jobs]
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(20)


def test_parallel_is_kept_on_the_jobs_for_the_worker_that_runs_them(tg: Tg) -> None:
    chan, doc, data = big_channel(tg, 6 * MiB + 1)  # 7 parts of 1 MiB
    queued = tg.json("tg", "archive", "@bigfiles", "--parallel", "2")["jobs"]
    assert [j["status"] for j in queued] == ["PENDING"]
    w = tg.server.world
    other = os.urandom(6 * MiB + 2)
    second = w.add_document(other, file_name="second.bin")
    w.post(chan, "second", media=second)
    default = tg.json("tg", "archive", "@bigfiles")["jobs"]  # no --parallel: the setting's
    assert len(default) == 2
    env = {**tg.env, "MEDIAFERRY_TELEGRAM_CONNECTIONS": "5"}
    done = _run_worker_until_done(tg, env, [j["id"] for j in default])
    assert all(j["status"] == "COMPLETED" for j in done), done
    by_size = {Path(j["file_path"]).stat().st_size: j for j in done}
    assert Path(by_size[len(data)]["file_path"]).read_bytes() == data
    assert Path(by_size[len(other)]["file_path"]).read_bytes() == other
    served = tg.server.stats.connections_by_document
    assert len(served[doc.id]) == 2  # --parallel 2, though the worker's default is 5
    assert len(served[second.id]) == 5  # MEDIAFERRY_TELEGRAM_CONNECTIONS


def _db_rows(tg: Tg, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(tg.data_dir / "mediaferry.db")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def test_a_t_me_link_to_an_archived_document_is_its_job_and_a_repost_is_not_fetched(
    tg: Tg, media_dir: Path, tmp_path: Path
) -> None:
    world = lectures(tg, media_dir, tmp_path)
    msgs, docs, chan = world["msgs"], world["docs"], world["chan"]
    w = tg.server.world
    parts = [w.add_document(os.urandom(5000 + i), file_name=f"p{i}.bin") for i in range(2)]
    album = [w.post(chan, f"album {i}", media=d, grouped_id=4242) for i, d in enumerate(parts)]
    archived = {j["message_id"]: j for j in tg.json("tg", "archive", "@lectures", "--wait")["jobs"]}
    assert all(j["status"] == "COMPLETED" for j in archived.values())
    served = tg.server.stats.file_bytes_served
    asked = tg.server.stats.requests["channels.getMessages"]

    # a link to an archived message (by name or by id): the archive's job, a duplicate
    # found without asking Telegram
    for link in (
        f"https://t.me/lectures/{msgs['video']}",
        f"https://t.me/c/{chan.id}/{msgs['video']}",
    ):
        out = tg.run("add", link)
        assert out.returncode == 0 and "already known" in out.stdout, out.stderr
    dup = tg.json("add", f"https://t.me/lectures/{msgs['attr']}", "--audio", "--wait")["jobs"]
    assert [j["id"] for j in dup] == [archived[msgs["attr"]]["id"]]
    assert tg.server.stats.requests["channels.getMessages"] == asked
    # an album item without ?single is still the album: its items are the archive's jobs
    items = tg.json("add", f"https://t.me/lectures/{album[0].id}", "--wait")["jobs"]
    children = {j["id"] for j in items if j["url"].endswith("?single")}
    assert children == {archived[m.id]["id"] for m in album}

    # the same document reposted in a chat never archived: a new job, whose file is the
    # library's (no download), and the new message points at the library item
    other = w.add_channel("Reposts", username="reposts", members=[tg.me])
    repost = w.post(other, "repost", media=docs["doc"])
    got = tg.json("add", f"https://t.me/reposts/{repost.id}", "--wait")["jobs"][0]
    assert got["status"] == "COMPLETED" and got["id"] != archived[msgs["doc"]]["id"]
    assert got["file_path"] == archived[msgs["doc"]]["file_path"]
    assert "REUSED_ARCHIVE" in [e["type"] for e in tg.events(got["id"])]
    assert tg.server.stats.file_bytes_served == served
    # the documents table links each archived document to its library item …
    items_by_path = dict(_db_rows(tg, "SELECT path, id FROM media_items"))
    linked = dict(_db_rows(tg, "SELECT document_id, media_item_id FROM telegram_documents"))
    for key, message_id in msgs.items():
        assert linked[docs[key].id] == items_by_path[archived[message_id]["file_path"]], key
    # … and every message holding the document, in either chat, points at it
    pointing = _db_rows(
        tg, "SELECT channel_id, message_id FROM channel_messages WHERE media_item_id = ?",
        linked[docs["doc"].id],
    )  # fmt: skip
    assert sorted(pointing) == sorted([(chan.id, msgs["doc"]), (other.id, repost.id)])
    # and the repost's link is known now: asked again, the document's job
    again = tg.json("add", f"https://t.me/reposts/{repost.id}")["jobs"][0]
    assert again["id"] == archived[msgs["doc"]]["id"]


def test_a_link_added_before_tg_archive_is_archived_from_its_file(
    tg: Tg, media_dir: Path, tmp_path: Path
) -> None:
    world = lectures(tg, media_dir, tmp_path)
    msgs, docs, raw = world["msgs"], world["docs"], world["bytes"]
    first = tg.json("add", f"https://t.me/lectures/{msgs['attr']}", "--wait")["jobs"][0]
    assert first["status"] == "COMPLETED"
    kept = Path(first["file_path"])
    assert not kept.is_relative_to(tg.data_dir / "archive")  # not asked to archive
    fetched = dict(tg.server.stats.file_bytes_by_document)
    assert fetched[docs["attr"].id] == len(raw["attr"])

    # tg archive wants the file in the library: a job of its own, not the add job …
    out = tg.run("tg", "archive", "@lectures", "--kind", "audio")
    assert out.returncode == 0, out.stderr
    assert "3 media messages listed, 3 jobs queued, 0 already known" in out.stdout
    music = {j["message_id"]: j for j in tg.json("tg", "archive", "@lectures", "--kind",
                                                 "audio", "--wait")["jobs"]}  # fmt: skip
    archived = music[msgs["attr"]]
    assert archived["id"] != first["id"] and archived["status"] == "COMPLETED"
    # … which takes the add job's file (checked) instead of downloading it again
    path = Path(archived["file_path"])
    assert path == tg.data_dir / "archive" / "Friday Lectures" / "Sheikh A - On Patience.mp3"
    assert path.read_bytes() == raw["attr"] and archived["sha256"] == first["sha256"]
    events = {e["type"]: e["data"] for e in tg.events(archived["id"])}
    assert events["REUSED_FILE"]["job"] == first["id"]
    assert "DOWNLOAD_STARTED" not in events
    assert tg.server.stats.file_bytes_by_document[docs["attr"].id] == len(raw["attr"])
    # the add job keeps its own file; the library has the archived one, by chat
    assert kept.read_bytes() == raw["attr"]
    found = tg.json("search", "patience", "--chat", "@lectures")
    assert str(path) in [i["path"] for i in found]

    # from now on the archive's job answers: a whole-chat run, a link, an archive link
    whole = tg.json("tg", "archive", "@lectures", "--wait")["jobs"]
    assert archived["id"] in [j["id"] for j in whole]
    again = tg.json("add", f"https://t.me/lectures/{msgs['attr']}", "--archive")["jobs"][0]
    assert again["id"] == archived["id"]
    assert tg.server.stats.file_bytes_by_document[docs["attr"].id] == len(raw["attr"])


def test_add_then_add_archive_of_a_t_me_link_takes_the_first_file(
    tg: Tg, media_dir: Path, tmp_path: Path
) -> None:
    world = lectures(tg, media_dir, tmp_path)
    msgs, docs, raw = world["msgs"], world["docs"], world["bytes"]
    link = f"https://t.me/lectures/{msgs['doc']}"
    first = tg.json("add", link, "--wait")["jobs"][0]
    assert first["status"] == "COMPLETED"
    # the same link without --archive: the same job
    assert tg.json("add", link)["jobs"][0]["id"] == first["id"]
    # with --archive: a job that archives, from the first job's file
    second = tg.json("add", link, "--archive", "--wait")["jobs"][0]
    assert second["id"] != first["id"] and second["status"] == "COMPLETED"
    assert Path(second["file_path"]).is_relative_to(tg.data_dir / "archive")
    assert Path(second["file_path"]).read_bytes() == raw["doc"]
    assert "REUSED_FILE" in [e["type"] for e in tg.events(second["id"])]
    assert tg.server.stats.file_bytes_by_document[docs["doc"].id] == len(raw["doc"])
    # the library row knows the message it came from
    [row] = _db_rows(tg, "SELECT channel_id, message_id FROM media_items WHERE path = ?",
                     second["file_path"])  # fmt: skip
    assert row == (world["chan"].id, msgs["doc"])
    # the add job's file gone: tg archive finds the library's copy, nothing fetched
    Path(first["file_path"]).unlink()
    out = tg.json("tg", "archive", "@lectures", "--kind", "document", "--wait")["jobs"]
    assert [j["id"] for j in out] == [second["id"]]
    assert tg.server.stats.file_bytes_by_document[docs["doc"].id] == len(raw["doc"])


def test_an_archive_job_whose_earlier_file_is_gone_or_changed_downloads(
    tg: Tg, media_dir: Path, tmp_path: Path
) -> None:
    world = lectures(tg, media_dir, tmp_path)
    msgs, docs, raw = world["msgs"], world["docs"], world["bytes"]
    video = tg.json("add", f"https://t.me/lectures/{msgs['video']}", "--wait")["jobs"][0]
    doc = tg.json("add", f"https://t.me/lectures/{msgs['doc']}", "--wait")["jobs"][0]
    Path(video["file_path"]).unlink()  # gone (e.g. temp files cleaned up)
    with Path(doc["file_path"]).open("r+b") as fh:  # changed on disk: not trusted
        fh.write(b"X")
    out = tg.json("tg", "archive", "@lectures", "--kind", "video", "--wait")["jobs"]
    out += tg.json("tg", "archive", "@lectures", "--kind", "document", "--wait")["jobs"]
    by = {j["message_id"]: j for j in out}
    for key in ("video", "doc"):
        job = by[msgs[key]]
        assert job["status"] == "COMPLETED", job
        assert Path(job["file_path"]).read_bytes() == raw[key]
        assert "REUSED_FILE" not in [e["type"] for e in tg.events(job["id"])]
        assert tg.server.stats.file_bytes_by_document[docs[key].id] == 2 * len(raw[key])


def test_a_whole_chat_run_archives_a_message_an_older_run_left_to_an_add_job(
    tg: Tg, media_dir: Path, tmp_path: Path
) -> None:
    world = lectures(tg, media_dir, tmp_path)
    msgs, docs, raw = world["msgs"], world["docs"], world["bytes"]
    first = tg.json("add", f"https://t.me/lectures/{msgs['attr']}", "--wait")["jobs"][0]
    # as an older version left it: the whole chat seen, the message answered by the add job
    db = sqlite3.connect(tg.data_dir / "mediaferry.db")
    with db:
        db.execute("UPDATE telegram_channels SET last_message_id = ?", (max(msgs.values()),))
    db.close()
    assert _db_rows(tg, "SELECT job_id FROM channel_messages WHERE message_id = ?",
                    msgs["attr"]) == [(first["id"],)]  # fmt: skip
    whole = {j["message_id"]: j for j in tg.json("tg", "archive", "@lectures", "--wait")["jobs"]}
    archived = whole[msgs["attr"]]
    assert archived["id"] != first["id"] and archived["status"] == "COMPLETED"
    assert Path(archived["file_path"]).is_relative_to(tg.data_dir / "archive")
    assert tg.server.stats.file_bytes_by_document[docs["attr"].id] == len(raw["attr"])
    # and the next whole-chat run lists nothing again: the archive's jobs come back
    again = tg.json("tg", "archive", "@lectures")["jobs"]
    assert {j["id"] for j in again} == {j["id"] for j in whole.values()}
    out = tg.run("tg", "archive", "@lectures")
    assert "0 media messages listed, 0 jobs queued, 6 already known" in out.stdout, out.stdout


def test_messages_refused_for_a_full_queue_are_listed_again_by_the_next_run(
    tg: Tg, media_dir: Path, tmp_path: Path
) -> None:
    msgs = lectures(tg, media_dir, tmp_path)["msgs"]
    full = subprocess.run(
        [MF, "tg", "archive", "@lectures", "--json"], capture_output=True, text=True,
        env={**tg.env, "MEDIAFERRY_MAX_QUEUE_LENGTH": "2"}, timeout=120, check=False,
    )  # fmt: skip
    assert full.returncode == 0, full.stderr[-2000:]
    first = json.loads(full.stdout)
    assert len(first["jobs"]) == 2
    assert len(first["refused"]) == len(msgs) - 2
    assert all("queue is full" in r["error"] for r in first["refused"])
    # the chat's high-water mark stays below what was refused: nothing is skipped
    again = tg.json("tg", "archive", "@lectures")
    assert {j["message_id"] for j in again["jobs"]} == set(msgs.values())
    assert again["refused"] == []


def test_a_priority_out_of_range_is_refused_before_anything_is_listed(tg: Tg) -> None:
    out = tg.run("tg", "archive", "@nosuchchat", "--priority", "5000")
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.strip() == "error: --priority must be between -1000 and 1000"
    assert tg.server.stats.requests["contacts.resolveUsername"] == 0


def test_two_links_to_one_unseen_document_at_once_fetch_it_once(tg: Tg) -> None:
    w = tg.server.world
    data = os.urandom(6 * MiB + 7)
    doc = w.add_document(data, file_name="shared.bin")
    posts = []
    for name in ("first", "second"):
        chan = w.add_channel(name.title(), username=f"{name}chan", members=[tg.me])
        posts.append(f"https://t.me/{name}chan/{w.post(chan, name, media=doc).id}")
    tg.server.faults.throughput_cap = MiB  # per connection: the download takes a while
    jobs = tg.json("add", *posts, "--wait")["jobs"]
    assert [j["status"] for j in jobs] == ["COMPLETED", "COMPLETED"]
    assert all(Path(j["file_path"]).read_bytes() == data for j in jobs)
    assert jobs[0]["file_path"] != jobs[1]["file_path"]  # each job has its own file
    # one job fetched it; the other, which met the document while it was being
    # fetched, waited for it and took its file
    assert tg.server.stats.file_bytes_by_document[doc.id] == len(data)
    events = [{e["type"]: e["data"] for e in tg.events(j["id"])} for j in jobs]
    [(fetcher, fetched), (_, waited)] = sorted(
        zip(jobs, events, strict=True), key=lambda pair: "REUSED_FILE" in pair[1]
    )
    assert "DOWNLOADED" in fetched and "DOWNLOAD_STARTED" not in waited
    assert waited["REUSED_FILE"]["job"] == fetcher["id"]
    assert waited["WAITING"]["message"] == f"job #{fetcher['id']} is fetching the same file"
