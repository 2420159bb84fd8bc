"""Parse ``MEDIAFERRY_YTDLP_EXTRACTOR_ARGS`` into yt-dlp's ``extractor_args`` dict.

Two spellings are accepted:

* yt-dlp's own ``--extractor-args`` syntax, ``IE_KEY:ARG=VAL1,VAL2;ARG2=VAL3``; several
  extractors are separated by whitespace (a space or a new line), e.g.
  ``youtube:player_client=web;po_token=web.gvs+TOKEN youtubepot-bgutilhttp:base_url=http://127.0.0.1:4416``.
  As in yt-dlp, ``\\,`` is a literal comma inside a value, argument names are
  lower-cased with ``-`` turned into ``_``, and an argument without ``=`` gets ``[""]``.
* a JSON object, ``{"youtube": {"player_client": ["web", "tv"], "po_token": "…"}}``,
  whose values are strings or lists of strings.

The result is always ``{ie_key: {arg: [str, ...]}}``, the form yt-dlp expects.
"""

from __future__ import annotations

import json
import re

__all__ = ["ExtractorArgs", "parse_extractor_args", "secret_values"]

ExtractorArgs = dict[str, dict[str, list[str]]]

_IE_KEY = re.compile(r"[\w-]+")
_ARG = re.compile(r"[\w-]+")
# values that are credentials: registered with the log redactor
_SECRET_ARGS = frozenset({"po_token", "visitor_data", "data_sync_id"})


def _arg_name(name: str, where: str) -> str:
    name = name.strip()
    if not _ARG.fullmatch(name):
        raise ValueError(f"bad argument name in {where}: use ARG=VALUE")
    return name.lower().replace("-", "_")


def _ie_key(key: str, where: str) -> str:
    key = key.strip()
    if not _IE_KEY.fullmatch(key):
        raise ValueError(f"bad extractor key in {where} (expected IE_KEY:ARG=VALUE)")
    return key.lower()


def _parse_cli(text: str) -> ExtractorArgs:
    # messages name the entry by position and key only: values may be tokens
    out: ExtractorArgs = {}
    for n, entry in enumerate(text.split(), 1):
        key, sep, rest = entry.partition(":")
        where = f"entry {n}"
        if not sep:
            raise ValueError(f"{where} has no ':' (expected IE_KEY:ARG=VALUE[;ARG=VALUE])")
        ie = _ie_key(key, where)
        args: dict[str, list[str]] = {}
        for part in rest.split(";"):
            if not part.strip():
                raise ValueError(f"empty argument in {where} ({ie}:…)")
            name, _, vals = part.partition("=")
            args[_arg_name(name, f"{where} ({ie}:…)")] = [
                val.replace(r"\,", ",").strip() for val in re.split(r"(?<!\\),", vals)
            ]
        out.setdefault(ie, {}).update(args)
    return out


def _parse_json(text: str) -> ExtractorArgs:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(data, dict):
        raise ValueError("JSON must be an object of {IE_KEY: {ARG: value}}")
    out: ExtractorArgs = {}
    for key, args in data.items():
        if not isinstance(args, dict):
            raise ValueError(f"JSON value for {key!r} must be an object of {{ARG: value}}")
        clean: dict[str, list[str]] = {}
        for name, value in args.items():
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, str) for v in values):
                raise ValueError(f"{key}:{name} must be a string or a list of strings")
            clean[_arg_name(str(name), f"the JSON object {key!r}")] = [str(v) for v in values]
        out[_ie_key(str(key), "the JSON object")] = clean
    return out


def parse_extractor_args(value: object) -> ExtractorArgs:
    """``value`` (text as above, or an already-built dict) as ``{ie: {arg: [str]}}``."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return _parse_json(json.dumps(value))
    if not isinstance(value, str):
        raise ValueError("expected text in yt-dlp --extractor-args syntax or JSON")
    text = value.strip()
    if not text:
        return {}
    return _parse_json(text) if text.startswith(("{", "[")) else _parse_cli(text)


def secret_values(args: ExtractorArgs) -> list[str]:
    """Values that must never appear in logs (PO tokens, visitor data)."""
    out: list[str] = []
    for ie_args in args.values():
        for name, values in ie_args.items():
            if name not in _SECRET_ARGS:
                continue
            for v in values:
                # a PO token is written CLIENT.CONTEXT+TOKEN: the token part alone too
                out.extend(p for p in (v, v.rpartition("+")[2]) if len(p) >= 8)
    return out
