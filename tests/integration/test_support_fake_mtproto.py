"""The fake MTProto server, driven by STOCK Telethon over real loopback sockets.

These tests prove the fake is a faithful Telegram for what the product uses: the key
exchange and transports, login flows, history paging and search, downloads and uploads
with Telegram's own size rules, random_id dedup and the fault switches.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from telethon import TelegramClient, errors, functions, types
from telethon.network import connection as tconn
from telethon.sessions import StringSession

from tests.support.fake_mtproto import FakeChannel, FakeMTProtoServer, FakeUser, World

API_ID, API_HASH = 611335, "d524b414d21f4d37f08684c1df41ac9c"
MiB = 1024 * 1024


@asynccontextmanager
async def telethon(
    server: FakeMTProtoServer,
    *,
    bot: FakeUser | None = None,
    user: FakeUser | None = None,
    connection: Any = tconn.ConnectionTcpFull,
    **kwargs: Any,
) -> AsyncIterator[TelegramClient]:
    """A stock TelegramClient pointed at the fake: a bot by token, or a user by session."""
    session = StringSession(server.session_string(user) if user else None)
    client = server.prepare_client(
        TelegramClient(session, API_ID, API_HASH, connection=connection, **kwargs)
    )
    try:
        if bot is not None:
            await client.start(bot_token=bot.bot_token)
        else:
            await client.connect()
        yield client
    finally:
        await client.disconnect()


def _channel_with_media(server: FakeMTProtoServer, member: FakeUser) -> FakeChannel:
    world = server.world
    channel = world.add_channel("Lectures", username="lectures", members=[member])
    world.post(channel, "hello")
    world.post(
        channel, "song one", media=world.add_audio(os.urandom(5000), title="One", performer="A")
    )
    world.post(channel, "", media=world.add_voice(os.urandom(3000)))
    world.post(channel, "clip", media=world.add_video(os.urandom(7000)))
    world.post(channel, "pic", media=world.add_photo(os.urandom(2000)))
    world.post(channel, "notes", media=world.add_document(os.urandom(100), file_name="notes.pdf"))
    world.post(
        channel, "song two", media=world.add_audio(os.urandom(4000), title="Two", performer="B")
    )
    return channel


@pytest.mark.parametrize(
    "connection",
    [tconn.ConnectionTcpFull, tconn.ConnectionTcpAbridged, tconn.ConnectionTcpIntermediate],
    ids=["full", "abridged", "intermediate"],
)
async def test_bot_logs_in_with_token_over_each_transport(
    fake_mtproto: FakeMTProtoServer, connection: Any
) -> None:
    bot = fake_mtproto.world.add_bot("ferrybot", first_name="Ferry")
    async with telethon(fake_mtproto, bot=bot, connection=connection) as client:
        me = await client.get_me()
        assert (me.id, me.username, me.bot) == (bot.id, "ferrybot", True)
        assert await client.is_user_authorized()
        nearest = await client(functions.help.GetNearestDcRequest())
        assert nearest.this_dc == nearest.nearest_dc == fake_mtproto.dc_id
        config = await client(functions.help.GetConfigRequest())
        (dc,) = config.dc_options
        assert (dc.id, dc.ip_address, dc.port) == (2, "127.0.0.1", fake_mtproto.port)
    assert fake_mtproto.stats.requests["auth.importBotAuthorization"] == 1
    assert (
        fake_mtproto.stats.connections[0].transport
        == {
            tconn.ConnectionTcpFull: "full",
            tconn.ConnectionTcpAbridged: "abridged",
            tconn.ConnectionTcpIntermediate: "intermediate",
        }[connection]
    )


async def test_wrong_bot_token_is_refused(fake_mtproto: FakeMTProtoServer) -> None:
    bot = fake_mtproto.world.add_bot("ferrybot")
    with pytest.raises(errors.AccessTokenInvalidError):
        async with telethon(fake_mtproto, bot=FakeUser(**{**bot.__dict__, "bot_token": "1:no"})):
            pass


async def test_user_logs_in_with_code_and_2fa_password(fake_mtproto: FakeMTProtoServer) -> None:
    user = fake_mtproto.world.add_user(
        "Amina", username="amina", phone="+15550001", password="s3cret", login_code="24680"
    )
    async with telethon(fake_mtproto) as client:
        assert await client.get_me() is None
        await client.send_code_request("+15550001")
        with pytest.raises(errors.PhoneCodeInvalidError):
            await client.sign_in("+15550001", code="11111")
        with pytest.raises(errors.SessionPasswordNeededError):
            await client.sign_in("+15550001", code="24680")
        with pytest.raises(errors.PasswordHashInvalidError):
            await client.sign_in(password="wrong")
        await client.sign_in(password="s3cret")
        me = await client.get_me()
        assert (me.id, me.username, me.phone, me.bot) == (user.id, "amina", "15550001", False)
        full = await client(functions.users.GetFullUserRequest(types.InputUserSelf()))
        assert full.full_user.id == user.id
        assert await client.log_out()
    # Logged out: no key is bound to the account any more. (There may be two keys: a DH
    # result starting with a zero byte makes Telethon 1.45 retry the exchange once.)
    assert fake_mtproto.sessions_of(user.id) == []
    assert {a.user_id for a in fake_mtproto.auth_keys.values()} == {None}


async def test_session_string_logs_in_and_an_unknown_key_is_refused(
    fake_mtproto: FakeMTProtoServer,
) -> None:
    user = fake_mtproto.world.add_user("Omar", username="omar")
    async with telethon(fake_mtproto, user=user) as client:
        assert (await client.get_me()).id == user.id
    # A session whose key the server forgot (revoked, or from another server): Telegram
    # answers with transport error -404 and Telethon refuses to go on with that key.
    stale = StringSession(fake_mtproto.session_string(user))
    fake_mtproto.auth_keys.clear()
    client = fake_mtproto.prepare_client(TelegramClient(stale, API_ID, API_HASH))
    try:
        with pytest.raises(errors.AuthKeyNotFound):
            await client.connect()
    finally:
        await client.disconnect()


async def test_iter_messages_pages_a_channel_and_filters_server_side(
    fake_mtproto: FakeMTProtoServer,
) -> None:
    world = fake_mtproto.world
    user = world.add_user("Reader")
    channel = world.add_channel("Big", username="bigchannel")
    for i in range(1, 251):
        world.post(channel, f"post {i}")
    small = _channel_with_media(fake_mtproto, user)
    async with telethon(fake_mtproto, user=user) as client:
        ids = [m.id async for m in client.iter_messages("bigchannel", wait_time=0)]
        assert ids == list(range(250, 0, -1))
        assert fake_mtproto.stats.requests["messages.getHistory"] == 3
        rev = [
            m.id
            async for m in client.iter_messages("bigchannel", reverse=True, wait_time=0, min_id=240)
        ]
        assert rev == list(range(241, 251))
        window = [
            m.id
            async for m in client.iter_messages("bigchannel", offset_id=101, limit=5, wait_time=0)
        ]
        assert window == [100, 99, 98, 97, 96]

        music = [
            m
            async for m in client.iter_messages(
                "lectures", filter=types.InputMessagesFilterMusic, wait_time=0
            )
        ]
        assert [m.file.title for m in music] == ["Two", "One"]
        voice = await client.get_messages(
            "lectures", filter=types.InputMessagesFilterVoice, limit=10
        )
        assert [m.id for m in voice] == [3]
        video = await client.get_messages(
            "lectures", filter=types.InputMessagesFilterVideo, limit=10
        )
        assert [m.id for m in video] == [4]
        docs = await client.get_messages(
            "lectures", filter=types.InputMessagesFilterDocument, limit=10
        )
        assert [m.file.name for m in docs] == ["notes.pdf"]
        found = await client.get_messages("lectures", search="song", limit=10)
        assert [m.id for m in found] == [7, 2]
        assert found.total == 2
        one = await client.get_messages(small.username, ids=[2, 99])
        assert one[0].file.performer == "A" and one[1] is None

        dialogs = [d.name async for d in client.iter_dialogs()]
        assert dialogs == ["Lectures"]


async def test_resolving_missing_and_private_chats_fails_like_telegram(
    fake_mtproto: FakeMTProtoServer,
) -> None:
    world = fake_mtproto.world
    user = world.add_user("Outsider")
    secret = world.add_channel("Secret")
    world.post(secret, "hidden")
    async with telethon(fake_mtproto, user=user) as client:
        with pytest.raises(ValueError, match="No user has"):
            await client.get_entity("nobody_here")
        with pytest.raises(errors.UsernameInvalidError):
            await client(functions.contacts.ResolveUsernameRequest("x!"))
        peer = types.InputPeerChannel(secret.id, secret.hash_for(user.id))
        with pytest.raises(errors.ChannelPrivateError):
            await client.get_messages(peer, limit=1)
        with pytest.raises(errors.ChannelInvalidError):
            await client.get_messages(types.InputPeerChannel(secret.id, 1), limit=1)
        # a channel's id is not a basic group's ("chat"): messages.getChats refuses it
        with pytest.raises(errors.ChatIdInvalidError):
            await client(functions.messages.GetChatsRequest([secret.id]))


async def test_download_media_is_byte_identical_and_follows_the_chunk_rules(
    fake_mtproto: FakeMTProtoServer,
) -> None:
    world = fake_mtproto.world
    user = world.add_user("Listener")
    channel = world.add_channel("Audio", username="audiochan", members=[user])
    payload = os.urandom(3 * MiB + 12345)
    world.post(
        channel, "long lecture", media=world.add_audio(payload, title="Long", performer="Sheikh")
    )
    async with telethon(fake_mtproto, user=user) as client:
        (msg,) = await client.get_messages("audiochan", limit=1)
        data = await client.download_media(msg, file=bytes)
    assert hashlib.sha256(data).digest() == hashlib.sha256(payload).digest()
    offsets = fake_mtproto.stats.get_file_offsets
    assert offsets and all(o % 4096 == 0 and MiB % lim == 0 for _, o, lim in offsets)
    assert fake_mtproto.stats.file_bytes_served == len(payload)
    # The server acknowledges requests in a msg_container together with its answer.
    (conn,) = fake_mtproto.stats.connections
    assert conn.containers_out > 0


@pytest.mark.parametrize(
    ("offset", "limit", "error"),
    [
        (1000, 4096, errors.OffsetInvalidError),  # offset not a multiple of 4 KiB
        (0, 5000, errors.LimitInvalidError),  # limit not a multiple of 4 KiB
        (0, 12288, errors.LimitInvalidError),  # 1 MiB % limit != 0
        (MiB - 4096, 8192, errors.LimitInvalidError),  # crosses the 1 MiB boundary
    ],
)
async def test_get_file_refuses_what_telegram_refuses(
    fake_mtproto: FakeMTProtoServer, offset: int, limit: int, error: type[Exception]
) -> None:
    world = fake_mtproto.world
    user = world.add_user("Prober")
    doc = world.add_document(os.urandom(2 * MiB))
    location = types.InputDocumentFileLocation(doc.id, doc.access_hash, doc.file_reference, "")
    async with telethon(fake_mtproto, user=user) as client:
        with pytest.raises(error):
            await client(functions.upload.GetFileRequest(location, offset=offset, limit=limit))
        ok = await client(functions.upload.GetFileRequest(location, offset=MiB, limit=MiB))
        assert ok.bytes == doc.read(MiB, MiB)
        # Requests queued together go out in one msg_container; each gets its own answer.
        parts = await asyncio.gather(
            *(
                client(functions.upload.GetFileRequest(location, offset=i * 65536, limit=65536))
                for i in range(4)
            )
        )
        assert b"".join(p.bytes for p in parts) == doc.read(0, 4 * 65536)
        assert sum(c.containers_in for c in fake_mtproto.stats.connections) >= 1
        stale = types.InputDocumentFileLocation(doc.id, doc.access_hash, b"old", "")
        with pytest.raises(errors.FileReferenceExpiredError):
            await client(functions.upload.GetFileRequest(stale, offset=0, limit=4096))


def _jpeg(path: Path, source: str) -> bytes:
    """One frame of an ffmpeg lavfi ``source`` as a JPEG."""
    args = ["-loglevel", "error", "-f", "lavfi", "-i", source, "-frames:v", "1", "-y", str(path)]
    subprocess.run(["ffmpeg", *args], check=True)
    return path.read_bytes()


@pytest.fixture
def jpeg_thumb(tmp_path: Path) -> bytes:
    """A real 160x90 JPEG made by ffmpeg."""
    return _jpeg(tmp_path / "thumb.jpg", "color=c=blue:s=160x90")


async def test_send_file_over_10_mb_uses_big_parts_and_round_trips(
    fake_mtproto: FakeMTProtoServer, tmp_path: Any, jpeg_thumb: bytes
) -> None:
    world = fake_mtproto.world
    bot = world.add_bot("uploader")
    channel = world.add_channel("Drop", username="dropzone", members=[bot])
    source = tmp_path / "big.mp4"
    source.write_bytes(os.urandom(11 * MiB + 777))
    thumb = jpeg_thumb
    async with telethon(fake_mtproto, bot=bot) as client:
        sent = await client.send_file(
            "dropzone",
            source,
            caption="big one",
            thumb=thumb,
            attributes=[types.DocumentAttributeVideo(12.5, 1280, 720, supports_streaming=True)],
        )
        assert sent.id == 1 and sent.message == "big one"
        assert sent.file.size == source.stat().st_size
        video = next(
            a for a in sent.document.attributes if isinstance(a, types.DocumentAttributeVideo)
        )
        assert video.supports_streaming and (video.w, video.h) == (1280, 720)
        back = await client.download_media(sent, file=bytes)
    assert back == source.read_bytes()
    # Telethon picks 128 KiB parts below 100 MB: 88 full parts and a short last one.
    assert fake_mtproto.stats.requests["upload.saveBigFilePart"] == 89
    assert fake_mtproto.stats.requests["upload.saveFilePart"] == 1  # the thumbnail
    stored = channel.messages[1].document
    assert stored is not None and stored.thumb == (160, 90, thumb)
    assert [(t.w, t.h, t.size) for t in sent.document.thumbs] == [(160, 90, len(thumb))]


async def test_channel_hashes_are_per_account_and_bad_thumbnails_are_dropped(
    fake_mtproto: FakeMTProtoServer, jpeg_thumb: bytes, tmp_path: Path
) -> None:
    # 640x360: over Telegram's 320 px for thumbnails
    big_jpeg = await asyncio.to_thread(_jpeg, tmp_path / "big.jpg", "testsrc=size=640x360")
    world = fake_mtproto.world
    bot = world.add_bot("grouper")
    user = world.add_user("Member")
    group = world.add_channel("Group", megagroup=True, members=[bot, user])
    outside = world.add_channel("Outside", megagroup=True, members=[user])
    assert group.hash_for(bot.id) != group.hash_for(user.id)
    async with telethon(fake_mtproto, bot=bot) as client:
        send = functions.messages.SendMessageRequest
        # a bot learns its own hash of a channel it is in with access_hash 0 …
        got = await client(functions.channels.GetChannelsRequest([types.InputChannel(group.id, 0)]))
        assert got.chats[0].access_hash == group.hash_for(bot.id)
        with pytest.raises(errors.ChannelInvalidError):
            await client(functions.channels.GetChannelsRequest([types.InputChannel(outside.id, 0)]))
        # … and must send with it: 0, or another account's hash, is refused
        for wrong in (0, group.hash_for(user.id)):
            with pytest.raises(errors.ChannelInvalidError):
                await client(send(types.InputPeerChannel(group.id, wrong), "hi", random_id=1))
        mine = types.InputPeerChannel(group.id, group.hash_for(bot.id))
        await client(send(mine, "hi", random_id=2))
        # a thumbnail that is no JPEG, or over 320 px, is dropped, not refused
        for thumb in (b"not a picture", big_jpeg, jpeg_thumb):
            await client.send_file(mine, os.urandom(5000), thumb=thumb, force_document=True)
    assert group.messages[1].text == "hi"
    assert [m.document.thumb is not None for m in group.messages.values() if m.document] == [
        False, False, True,
    ]  # fmt: skip
    assert world.ignored_thumbs == ["not a JPEG", "640x360 px (at most 320 a side)"]


async def test_upload_part_rules_are_enforced(fake_mtproto: FakeMTProtoServer) -> None:
    world = fake_mtproto.world
    user = world.add_user("Sender")
    channel = world.add_channel("Mine", username="minechan", members=[user])
    async with telethon(fake_mtproto, user=user) as client:
        save_big = functions.upload.SaveBigFilePartRequest
        with pytest.raises(errors.FilePartSizeInvalidError):
            await client(save_big(file_id=1, file_part=0, file_total_parts=3, bytes=b"x" * 1000))
        await client(save_big(file_id=2, file_part=0, file_total_parts=3, bytes=b"x" * 65536))
        with pytest.raises(errors.FilePartSizeChangedError):
            await client(save_big(file_id=2, file_part=1, file_total_parts=3, bytes=b"x" * 131072))
        with pytest.raises(errors.FilePartsInvalidError):
            await client(save_big(file_id=3, file_part=0, file_total_parts=4001, bytes=b"x" * 1024))
        # Small-file parts for more than 10 MB: Telegram wants saveBigFilePart instead.
        part = os.urandom(512 * 1024)
        for i in range(21):
            await client(functions.upload.SaveFilePartRequest(file_id=4, file_part=i, bytes=part))
        media = types.InputMediaUploadedDocument(
            file=types.InputFile(id=4, parts=21, name="x.bin", md5_checksum=""),
            mime_type="application/octet-stream",
            attributes=[],
        )
        with pytest.raises(errors.FilePartsInvalidError):
            await client(functions.messages.SendMediaRequest("minechan", media, "", random_id=5))
        await client(functions.upload.SaveFilePartRequest(file_id=6, file_part=1, bytes=part))
        media.file = types.InputFile(id=6, parts=2, name="y.bin", md5_checksum="")
        with pytest.raises(errors.BadRequestError, match="File part 0 missing"):
            await client(functions.messages.SendMediaRequest("minechan", media, "", random_id=7))
    assert channel.messages == {}


async def test_repeated_random_id_returns_the_earlier_message(
    fake_mtproto: FakeMTProtoServer,
) -> None:
    world = fake_mtproto.world
    bot = world.add_bot("dedupbot")
    user = world.add_user("Listener")
    channel = world.add_channel("Out", username="outchan", members=[bot])
    doc = world.add_audio(os.urandom(9000), title="Cached")
    async with telethon(fake_mtproto, bot=bot) as client:
        media = types.InputMediaDocument(
            types.InputDocument(doc.id, doc.access_hash, doc.file_reference)
        )
        first = await client(
            functions.messages.SendMediaRequest("outchan", media, "", random_id=42)
        )
        again = await client(
            functions.messages.SendMediaRequest("outchan", media, "", random_id=42)
        )
        other = await client(
            functions.messages.SendMediaRequest("outchan", media, "", random_id=43)
        )
        ids = [
            next(u.id for u in r.updates if isinstance(u, types.UpdateMessageID))
            for r in (first, again, other)
        ]
        assert ids == [1, 1, 2]
        # The replay is the old message with pts_count 0: nothing new happened in the chat.
        assert [u.pts_count for u in again.updates[1:]] == [0]
        assert first.updates[1].pts == again.updates[1].pts
        # The bot writes to a user by id with access_hash 0, as Telegram allows bots.
        dm = await client.send_message(types.InputPeerUser(user.id, 0), "hi")
        dm_again = await client(
            functions.messages.SendMessageRequest(
                types.InputPeerUser(user.id, 0), "hi", random_id=99
            )
        )
        dm_dup = await client(
            functions.messages.SendMessageRequest(
                types.InputPeerUser(user.id, 0), "hi", random_id=99
            )
        )
        assert dm.id == 1
        assert dm_again.updates[0].id == dm_dup.updates[0].id == 2
        # Bots read messages by id only; history, search and dialogs are refused to them.
        (mine,) = await client.get_messages(types.InputPeerUser(user.id, 0), ids=[1])
        assert mine.message == "hi" and mine.out
        with pytest.raises(errors.BotMethodInvalidError):
            await client.get_messages("outchan", limit=1)
        # Re-send by id with an outdated reference is refused.
        world.expire_reference(doc)
        with pytest.raises(errors.FileReferenceExpiredError):
            await client(functions.messages.SendMediaRequest("outchan", media, "", random_id=44))
    assert sorted(channel.messages) == [1, 2]
    assert all(m.document is doc for m in channel.messages.values())
    assert len(world.box(user.id).messages) == 2


async def test_dropped_connection_mid_download_resumes_and_completes(
    fake_mtproto: FakeMTProtoServer,
) -> None:
    world = fake_mtproto.world
    user = world.add_user("Patient")
    channel = world.add_channel("Files", username="fileschan", members=[user])
    payload = os.urandom(2 * MiB)
    world.post(channel, "", media=world.add_document(payload, file_name="a.bin"))
    async with telethon(fake_mtproto, user=user) as client:
        (msg,) = await client.get_messages("fileschan", limit=1)
        fake_mtproto.faults.drop_after_bytes(700 * 1024, file_bytes_only=True)
        data = await client.download_media(msg, file=bytes)
    assert data == payload
    assert fake_mtproto.faults.drops_done == 1
    assert sum(c.dropped for c in fake_mtproto.stats.connections) == 1
    assert len(fake_mtproto.stats.connections) >= 2  # the client reconnected


async def test_dropped_connection_mid_upload_resends_and_completes(
    fake_mtproto: FakeMTProtoServer,
) -> None:
    world = fake_mtproto.world
    user = world.add_user("Uploader")
    channel = world.add_channel("Up", username="upchan", members=[user])
    payload = os.urandom(3 * MiB)
    async with telethon(fake_mtproto, user=user) as client:
        fake_mtproto.faults.drop_after_bytes(MiB, incoming=True)
        sent = await client.send_file("upchan", payload, force_document=True)
    assert fake_mtproto.faults.drops_done == 1
    assert sum(c.dropped for c in fake_mtproto.stats.connections) == 1
    assert channel.messages[sent.id].document.content() == payload  # type: ignore[union-attr]


async def test_expired_file_reference_once_then_refetched(fake_mtproto: FakeMTProtoServer) -> None:
    world = fake_mtproto.world
    user = world.add_user("Archivist")
    channel = world.add_channel("Refs", username="refschan", members=[user])
    doc = world.add_document(os.urandom(300_000), file_name="r.bin")
    world.post(channel, "", media=doc)
    async with telethon(fake_mtproto, user=user) as client:
        (msg,) = await client.get_messages("refschan", limit=1)
        fake_mtproto.faults.expire_file_reference(doc.id)
        data = await client.download_media(msg, file=bytes)  # Telethon re-fetches the message
    assert data == doc.content()
    assert fake_mtproto.faults.references_expired == [doc.id]
    assert fake_mtproto.stats.requests["channels.getMessages"] >= 1


async def test_flood_wait_on_a_chosen_method_once(fake_mtproto: FakeMTProtoServer) -> None:
    world = fake_mtproto.world
    user = world.add_user("Hasty")
    channel = world.add_channel("Flood", username="floodchan", members=[user])
    payload = os.urandom(200_000)
    world.post(channel, "", media=world.add_document(payload, file_name="f.bin"))
    async with telethon(fake_mtproto, user=user, flood_sleep_threshold=0) as client:
        fake_mtproto.faults.flood_wait("messages.getHistory", 7)
        with pytest.raises(errors.FloodWaitError) as info:
            await client.get_messages("floodchan", limit=5)
        assert info.value.seconds == 7
    async with telethon(fake_mtproto, user=user) as client:
        (msg,) = await client.get_messages("floodchan", limit=1)
        fake_mtproto.faults.flood_wait("upload.getFile", 1)
        assert await client.download_media(msg, file=bytes) == payload  # waited 1 s, retried
    assert fake_mtproto.faults.floods_done == [("messages.getHistory", 7), ("upload.getFile", 1)]
    assert fake_mtproto.stats.requests["upload.getFile"] == 3  # refused + 2 chunks of 128 KiB


async def test_throughput_cap_and_per_connection_counters(fake_mtproto: FakeMTProtoServer) -> None:
    world = fake_mtproto.world
    users = [world.add_user("A"), world.add_user("B")]
    channel = world.add_channel("Shared", username="sharedchan", members=users)
    payload = os.urandom(512 * 1024)
    world.post(channel, "", media=world.add_document(payload, file_name="s.bin"))
    fake_mtproto.faults.throughput_cap = 4 * MiB
    async with (
        telethon(fake_mtproto, user=users[0]) as one,
        telethon(fake_mtproto, user=users[1]) as two,
    ):
        results = [
            await c.download_media((await c.get_messages("sharedchan", limit=1))[0], file=bytes)
            for c in (one, two)
        ]
        serving = [c for c in fake_mtproto.stats.connections if c.file_bytes_served]
        assert [c.file_bytes_served for c in serving] == [len(payload), len(payload)]
        # Every byte went through the cap's accounting (the rate itself is measured in
        # bench/fake_mtproto.py, never timed in a test).
        assert all(c.capped_bytes_out >= len(payload) for c in serving)
        # Uploads are capped too: what the server reads goes through the same accounting.
        before = [c.capped_bytes_in for c in fake_mtproto.stats.connections]
        upload = await two.send_file("sharedchan", os.urandom(MiB), force_document=True)
        assert upload.file.size == MiB
        after = [c.capped_bytes_in for c in fake_mtproto.stats.connections]
        assert after[1] - before[1] >= MiB and after[0] == before[0]
        assert fake_mtproto.stats.connections[1].uploaded_bytes == MiB
    assert results == [payload, payload]
    assert fake_mtproto.stats.connections_serving_files() == 2
    assert world.uploaded[0].content() == channel.messages[2].document.content()  # type: ignore[union-attr]


def test_world_ids_can_be_chosen() -> None:
    world = World()
    user = world.add_user("Fixed", user_id=1001)
    bot = world.add_bot("tokenbot", token="5555:abc")
    assert (user.id, bot.id, world.user_by_token("5555:abc")) == (1001, 5555, bot)
    with pytest.raises(ValueError, match="taken"):
        world.add_user("Again", user_id=1001)


async def test_albums_keep_their_grouped_id(fake_mtproto: FakeMTProtoServer) -> None:
    world = fake_mtproto.world
    user = world.add_user("Viewer")
    channel = world.add_channel("Album", username="albumchan")
    for _ in range(3):
        world.post(channel, "", media=world.add_photo(os.urandom(500)), grouped_id=777)
    world.post(channel, "after")
    async with telethon(fake_mtproto, user=user) as client:
        msgs = await client.get_messages("albumchan", limit=10)
    assert [m.grouped_id for m in msgs] == [None, 777, 777, 777]


async def test_parallel_connections_on_one_auth_key_each_serve_a_part(
    fake_mtproto: FakeMTProtoServer,
) -> None:
    world = fake_mtproto.world
    user = world.add_user("Parallel")
    channel = world.add_channel("Par", username="parchan", members=[user])
    docs = [world.add_document(os.urandom(MiB), file_name=f"{i}.bin") for i in range(2)]
    for doc in docs:
        world.post(channel, "", media=doc)
    session = fake_mtproto.session_string(user)  # one auth key, two connections/sessions
    clients = [
        # The product's settings: intermediate transport, no update handling.
        fake_mtproto.prepare_client(
            TelegramClient(
                StringSession(session),
                API_ID,
                API_HASH,
                connection=tconn.ConnectionTcpIntermediate,
                receive_updates=False,
            )
        )
        for _ in range(2)
    ]
    try:
        await asyncio.gather(*(c.connect() for c in clients))
        msgs = await clients[0].get_messages("parchan", limit=2)
        fake_mtproto.faults.throughput_cap = 8 * MiB  # keep both transfers in flight together
        got = await asyncio.gather(
            *(c.download_media(m, file=bytes) for c, m in zip(clients, msgs, strict=True))
        )
    finally:
        await asyncio.gather(*(c.disconnect() for c in clients))
    assert sorted(got) == sorted(d.content() for d in docs)
    stats = fake_mtproto.stats
    assert stats.connections_serving_files() == 2
    assert stats.file_bytes_by_document == {d.id: MiB for d in docs}
    (auth,) = fake_mtproto.sessions_of(user.id)
    assert len(auth.sessions) == 2


def test_script_serves_a_world_from_a_spec_and_answers_commands(tmp_path: Any) -> None:
    spec = {
        "bots": [{"username": "scriptbot", "token": "4242:secret-token"}],
        "users": [{"username": "scriptuser"}],
        "channels": [
            {
                "title": "Script",
                "username": "scriptchan",
                "members": ["scriptuser"],
                "messages": [{"text": "hi", "repeat": 3, "audio": {"size": 5000, "title": "S"}}],
            }
        ],
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.Popen(  # stderr goes to the test's captured output on failure
        [
            sys.executable,
            "-m",
            "tests.support.fake_mtproto",
            "--world",
            str(tmp_path / "spec.json"),
            "--storage",
            str(tmp_path / "store"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        address = proc.stdout.readline().strip()
        key_file = proc.stdout.readline().strip()
        info = json.loads(proc.stdout.readline())
        host, port = address.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) == info["port"]
        pem = Path(key_file).read_text()
        assert pem.startswith("-----BEGIN RSA PUBLIC KEY-----")
        assert info["bots"] == {"scriptbot": "4242:secret-token"}

        async def fetch() -> list[str]:
            from telethon.crypto import rsa

            rsa.add_key(pem, old=False)
            session = StringSession(info["sessions"]["scriptuser"])
            async with TelegramClient(session, API_ID, API_HASH) as client:
                return [m.file.title async for m in client.iter_messages("scriptchan", wait_time=0)]

        assert asyncio.run(fetch()) == ["S", "S", "S"]
        proc.stdin.write('{"cmd": "stats"}\n')
        proc.stdin.flush()
        stats = json.loads(proc.stdout.readline())
        assert stats["requests"]["messages.getHistory"] == 1
    finally:
        proc.stdin.close()
        code = proc.wait(timeout=120)
    assert code == 0, "the fake MTProto script failed; its stderr is in the captured output"


async def test_raw_protocol_errors_are_answered_like_telegram(
    fake_mtproto: FakeMTProtoServer,
) -> None:
    # An auth key the server does not know: transport error -404, then the connection closes.
    reader, writer = await asyncio.open_connection(fake_mtproto.host, fake_mtproto.port)
    packet = struct.pack("<Q", 0x1234567890) + os.urandom(16) + os.urandom(32)
    writer.write(b"\xee\xee\xee\xee" + struct.pack("<i", len(packet)) + packet)
    (length,) = struct.unpack("<i", await reader.readexactly(4))
    assert struct.unpack("<i", await reader.readexactly(length)) == (-404,)
    assert await reader.read() == b""
    writer.close()
    # Bytes that fit no transport (e.g. an obfuscated header): closed without an answer.
    reader, writer = await asyncio.open_connection(fake_mtproto.host, fake_mtproto.port)
    writer.write(b"\x7f\xff\xff\xff" + os.urandom(60))
    assert await reader.read() == b""
    writer.close()
    # A full-transport frame with a broken CRC32: closed.
    reader, writer = await asyncio.open_connection(fake_mtproto.host, fake_mtproto.port)
    body = struct.pack("<qqi", 0, 0, 0)
    writer.write(struct.pack("<ii", len(body) + 12, 0) + body + b"\0\0\0\0")
    assert await reader.read() == b""
    writer.close()


def _rsa_pad(key: Any, data: bytes) -> bytes:
    """RSA_PAD as newer clients send p_q_inner_data (core.telegram.org/mtproto/auth_key)."""
    from hashlib import sha256

    from telethon.crypto import AES

    data_with_padding = data + os.urandom(192 - len(data))
    while True:
        temp_key = os.urandom(32)
        data_with_hash = data_with_padding[::-1] + sha256(temp_key + data_with_padding).digest()
        aes_encrypted = AES.encrypt_ige(data_with_hash, temp_key, bytes(32))
        digest = sha256(aes_encrypted).digest()
        block = bytes(a ^ b for a, b in zip(temp_key, digest, strict=True)) + aes_encrypted
        value = int.from_bytes(block, "big")
        if value < key.public.n:
            return pow(value, key.public.e, key.public.n).to_bytes(256, "big")


def test_key_exchange_accepts_rsa_pad_too() -> None:
    from telethon.crypto import Factorization

    from tests.support.fake_mtproto.handshake import HandshakeError, KeyExchange
    from tests.support.fake_mtproto.server import shared_rsa_key

    key = shared_rsa_key()
    for corrupt in (False, True):
        exchange = KeyExchange(key)
        nonce = int.from_bytes(os.urandom(16), "little", signed=True)
        res_pq = exchange.handle(functions.ReqPqMultiRequest(nonce))
        pq = int.from_bytes(res_pq.pq, "big")
        p, q = Factorization.factorize(pq)
        p_b, q_b = (x.to_bytes((x.bit_length() + 7) // 8, "big") for x in (p, q))
        inner = bytes(
            types.PQInnerDataDc(
                pq=res_pq.pq,
                p=p_b,
                q=q_b,
                nonce=nonce,
                server_nonce=res_pq.server_nonce,
                new_nonce=int.from_bytes(os.urandom(32), "little", signed=True),
                dc=2,
            )
        )
        encrypted = _rsa_pad(key, inner)
        if corrupt:
            encrypted = _rsa_pad(key, inner[:-4] + b"\0\0\0\0")[:-1] + b"\1"
        request = functions.ReqDHParamsRequest(
            nonce, res_pq.server_nonce, p_b, q_b, key.fingerprint, encrypted
        )
        if corrupt:
            with pytest.raises((HandshakeError, ValueError)):
                exchange.handle(request)
        else:
            answer = exchange.handle(request)
            assert isinstance(answer, types.ServerDHParamsOk) and answer.nonce == nonce


async def test_a_forwarded_file_in_the_bots_box_is_read_by_id(
    fake_mtproto: FakeMTProtoServer, tmp_path: Path
) -> None:
    """A user forwards a channel's video to the bot: the bot's copy sits under the id the
    test chose (the Bot API's message id), says where it came from, and the bot reads
    it with messages.getMessages and downloads the same document."""
    world = fake_mtproto.world
    user = world.add_user("Ann", user_id=4242)
    bot = world.add_bot("filesbot")
    channel = world.add_channel("Talks", username="talks")
    data = os.urandom(300_000)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(data)
    video = world.add_video(path=clip)
    post = world.post(channel, "a talk", media=video)
    mine, its = world.send_private(
        user, bot, "a talk", media=video, forwarded_from=channel, forwarded_post=post.id,
        recipient_message_id=57,
    )  # fmt: skip
    assert (its.id, mine.id) == (57, 1)
    with pytest.raises(ValueError, match="taken"):
        world.send_private(user, bot, "again", recipient_message_id=40)
    async with telethon(fake_mtproto, bot=bot) as client:
        got = await client(functions.messages.GetMessagesRequest([types.InputMessageID(57)]))
        [message] = got.messages
        assert isinstance(message, types.Message)
        assert message.peer_id == types.PeerUser(user.id) and not message.out
        assert message.fwd_from is not None
        assert message.fwd_from.from_id == types.PeerChannel(channel.id)
        assert message.fwd_from.channel_post == post.id
        assert [c.id for c in got.chats] == [channel.id]
        assert message.media.document.id == video.id
        assert await client.download_media(message, bytes) == data


async def test_a_bot_reads_group_messages_only_where_telegram_lets_it(
    fake_mtproto: FakeMTProtoServer,
) -> None:
    """A supergroup's messages: channels.getMessages with the bot's own hash, for a
    supergroup it is in (another's hash: CHANNEL_INVALID; not a member, even of a public
    one: CHANNEL_PRIVATE). A basic group's: in the bot's own box (messages.getMessages),
    under the id of that box; an id of a supergroup's message there is another or none."""
    world = fake_mtproto.world
    bot = world.add_bot("groupreader")
    user = world.add_user("Member")
    team = world.add_channel("Team", megagroup=True, members=[bot, user])
    outside = world.add_channel("Town", username="townsquare", megagroup=True, members=[user])
    family = world.add_group("Family", members=[bot, user])
    for n in range(4):
        world.post(team, f"team {n}", from_user=user)
    world.post(outside, "public", from_user=user)
    copies = world.send_to_group(user, family, "family hi", message_ids={bot.id: 9})
    assert (copies[bot.id].id, copies[user.id].id) == (9, 1)
    with pytest.raises(ValueError, match="taken"):
        world.post(team, "late", message_id=2)
    ids = [types.InputMessageID(4)]
    async with telethon(fake_mtproto, bot=bot) as client:
        mine = types.InputChannel(team.id, team.hash_for(bot.id))
        got = await client(functions.channels.GetMessagesRequest(mine, ids))
        [message] = got.messages
        assert (message.peer_id, message.message) == (types.PeerChannel(team.id), "team 3")
        for wrong in (0, team.hash_for(user.id)):
            with pytest.raises(errors.ChannelInvalidError):
                await client(
                    functions.channels.GetMessagesRequest(types.InputChannel(team.id, wrong), ids)
                )
        public = types.InputChannel(outside.id, outside.hash_for(bot.id))
        with pytest.raises(errors.ChannelPrivateError):
            await client(functions.channels.GetMessagesRequest(public, [types.InputMessageID(1)]))
        # the bot's own box: the basic group's message under its id there, with the group
        got = await client(functions.messages.GetMessagesRequest([9, 4]))
        [in_group, none] = got.messages
        assert (in_group.peer_id, in_group.message) == (types.PeerChat(family.id), "family hi")
        assert isinstance(none, types.MessageEmpty)  # id 4 is the supergroup's, not the box's
        assert [(type(c), c.id) for c in got.chats] == [(types.Chat, family.id)]
        assert user.id in [u.id for u in got.users]
