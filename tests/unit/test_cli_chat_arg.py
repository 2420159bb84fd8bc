"""A Telegram chat id ``-100<id>`` is an argument on the command line, not options."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from mediaferry.cli._args import ChatArgCommand
from mediaferry.cli.app import app

toy = typer.Typer()


@toy.command(cls=ChatArgCommand)
def archive(
    chat: str,
    priority: Annotated[int, typer.Option()] = 0,
    wait: Annotated[bool, typer.Option("--wait")] = False,
) -> None:
    print(f"{chat}|{priority}|{wait}")


@pytest.mark.parametrize(
    ("args", "seen"),
    [
        (["-1001234"], "-1001234|0|False"),
        (["-1001234", "--priority", "-5", "--wait"], "-1001234|-5|True"),
        (["--priority", "-5", "-1001234"], "-1001234|-5|False"),
        (["--priority=-5", "--", "-1001234"], "-1001234|-5|False"),
        (["@name", "--priority", "-7"], "@name|-7|False"),
    ],
)
def test_a_negative_id_reaches_the_argument(args: list[str], seen: str) -> None:
    out = CliRunner().invoke(toy, args)
    assert out.exit_code == 0, out.output
    assert out.output.strip() == seen


def test_a_mistyped_option_is_still_an_error() -> None:
    out = CliRunner().invoke(toy, ["-1001234", "--prio", "3"])
    assert out.exit_code == 2
    assert "No such option: --prio" in out.output


def test_follow_add_and_tg_archive_take_a_negative_chat_id() -> None:
    tg = next(g for g in app.registered_groups if g.name == "tg").typer_instance
    follow = next(g for g in app.registered_groups if g.name == "follow").typer_instance
    assert tg is not None and follow is not None
    commands = {c.name: c for c in [*tg.registered_commands, *follow.registered_commands]}
    assert commands["archive"].cls is ChatArgCommand
    assert commands["add"].cls is ChatArgCommand
