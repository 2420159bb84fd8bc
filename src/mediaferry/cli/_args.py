"""A command whose argument may be a negative number: a Telegram chat id ``-100<id>``.

Click reads ``-1001234567890`` as the short options ``-1``, ``-0``, … ("No such
option: -1"). :class:`ChatArgCommand` moves such a token (when it is not the value of
an option before it, like ``--priority -5``) behind ``--``, so it reaches the argument.
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperCommand

__all__ = ["ChatArgCommand"]

_NEGATIVE = re.compile(r"-\d+")


class ChatArgCommand(TyperCommand):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        takes_value = {
            name
            for p in self.params
            if getattr(p, "param_type_name", "") == "option" and not getattr(p, "is_flag", False)
            for name in p.opts
        }
        kept: list[str] = []
        moved: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                kept.extend(args[i:])
                break
            if _NEGATIVE.fullmatch(arg) and not (kept and kept[-1] in takes_value):
                moved.append(arg)
            else:
                kept.append(arg)
        if moved:
            kept = [*kept, *([] if "--" in kept else ["--"]), *moved]
        return list(super().parse_args(ctx, kept))
