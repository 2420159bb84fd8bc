"""``fetch_bot_message``: the product's read of a message sent to the bot, by its Bot
API chat and message id, against the fake MTProto server (stock Telethon underneath):
a private chat, a basic group (the bot's own box), a supergroup (channels.getMessages
with the bot's own access hash, learned once), and never another chat's message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from telethon import TelegramClient
from telethon.sessions import StringSession

from mediaferry.telegram._errors import ChatNotFound, NoMedia
from mediaferry.telegram.chats import fetch_bot_message, media_of
from tests.support.fake_mtproto import FakeMTProtoServer, FakeUser

API_ID, API_HASH = 611335, "d524b414d21f4d37f08684c1df41ac9c"


@asynccontextmanager
async def bot_client(server: FakeMTProtoServer, bot: FakeUser) -> AsyncIterator[TelegramClient]:
    client = server.prepare_client(TelegramClient(StringSession(), API_ID, API_HASH))
    try:
        await client.start(bot_token=bot.bot_token)
        yield client
    finally:
        await client.disconnect()


async def test_the_bot_reads_its_messages_in_every_kind_of_chat(
    fake_mtproto: FakeMTProtoServer,
) -> None:
    world = fake_mtproto.world
    bot = world.add_bot("readerbot")
    user = world.add_user("Member")
    team = world.add_channel("Team", megagroup=True, members=[bot, user])
    other = world.add_channel("Other team", megagroup=True, members=[bot, user])
    outside = world.add_channel("Outside", megagroup=True, members=[user])
    family = world.add_group("Family", members=[bot, user])
    doc = world.add_document(b"x" * 1000, file_name="notes.pdf", mime_type="application/pdf")
    world.post(team, "hello", from_user=user)
    in_team = world.post(team, "the file", media=doc, from_user=user)
    world.post(other, "a", from_user=user)
    world.post(other, "b", from_user=user)
    world.post(outside, "c", from_user=user)
    world.post(outside, "d", from_user=user)
    _, private = world.send_private(user, bot, "to the bot", media=doc)
    in_family = world.send_to_group(user, family, "in family", media=doc)[bot.id]
    team_id, other_id = -1_000_000_000_000 - team.id, -1_000_000_000_000 - other.id
    async with bot_client(fake_mtproto, bot) as client:
        got = await fetch_bot_message(client, team_id, in_team.id)
        media = media_of(got, team_id)
        assert media is not None and (media.document_id, media.message_id) == (doc.id, 2)
        assert (await fetch_bot_message(client, user.id, private.id)).message == "to the bot"
        got = await fetch_bot_message(client, -family.id, in_family.id)
        assert got.message == "in family"
        # the same id in another chat is that chat's message, never this one
        with pytest.raises(NoMedia):
            await fetch_bot_message(client, -family.id, private.id)
        with pytest.raises(NoMedia):
            await fetch_bot_message(client, user.id, in_family.id)
        assert (await fetch_bot_message(client, other_id, 2)).message == "b"
        with pytest.raises(NoMedia):  # gone (or never there)
            await fetch_bot_message(client, team_id, 99)
        # a supergroup the bot is not in: refused, as Telegram refuses it
        with pytest.raises(ChatNotFound):
            await fetch_bot_message(client, -1_000_000_000_000 - outside.id, 2)
    # the bot asked its own hash of each supergroup once: Team (read three times), Other
    # and Outside (refused)
    assert fake_mtproto.stats.requests["channels.getChannels"] == 3
