"""MEDIAFERRY_YTDLP_EXTRACTOR_ARGS, _JS_RUNTIME and _AUTO_UPDATE: parsed at start-up,
bad values refused with one line naming the variable (and never echoing a token)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaferry._ytdlp_args import parse_extractor_args, secret_values
from mediaferry.config import load_settings
from mediaferry.errors import ConfigError
from mediaferry.jobs.ytdlp_health import release_date


def test_ytdlp_cli_syntax_as_ytdlp_reads_it() -> None:
    args = parse_extractor_args(
        "youtube:player_client=web,tv;po_token=web.gvs+TOKEN123;Skip-This=a\\,b\n"
        "  youtubepot-bgutilhttp:base_url=http://127.0.0.1:4416 youtubetab:approximate_date"
    )
    assert args == {
        "youtube": {
            "player_client": ["web", "tv"],
            "po_token": ["web.gvs+TOKEN123"],
            "skip_this": ["a,b"],
        },
        "youtubepot-bgutilhttp": {"base_url": ["http://127.0.0.1:4416"]},
        "youtubetab": {"approximate_date": [""]},
    }


def test_json_syntax() -> None:
    args = parse_extractor_args('{"YouTube": {"player_client": ["web", "tv"], "po_token": "x"}}')
    assert args == {"youtube": {"player_client": ["web", "tv"], "po_token": ["x"]}}
    assert parse_extractor_args("") == {} and parse_extractor_args("  ") == {}


def test_the_same_extractor_twice_merges() -> None:
    assert parse_extractor_args("youtube:a=1 youtube:b=2") == {"youtube": {"a": ["1"], "b": ["2"]}}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("youtube", "has no ':'"),
        ("youtube:", "empty argument"),
        ("you tube:x=1", "has no ':'"),
        ("you/tube:x=1", "bad extractor key"),
        ("youtube:=1", "bad argument name"),
        ("{bad", "not valid JSON"),
        ('["youtube"]', "JSON must be an object"),
        ('{"youtube": "web"}', "must be an object"),
        ('{"youtube": {"player_client": [1]}}', "string or a list of strings"),
    ],
)
def test_bad_extractor_args_are_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("MEDIAFERRY_YTDLP_EXTRACTOR_ARGS", value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = err.value.message
    assert message.startswith("invalid setting MEDIAFERRY_YTDLP_EXTRACTOR_ARGS:")
    assert says in message and "\n" not in message


def test_a_bad_entry_never_echoes_its_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAFERRY_YTDLP_EXTRACTOR_ARGS", "youtube:po_token=web+SECRET;=x")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "SECRET" not in err.value.message


def test_po_tokens_are_secrets() -> None:
    args = parse_extractor_args("youtube:po_token=web.gvs+SECRETTOKEN1;player_client=web")
    assert set(secret_values(args)) == {"web.gvs+SECRETTOKEN1", "SECRETTOKEN1"}


@pytest.mark.parametrize("value", ["off", "daily", "weekly", "Weekly", " off "])
def test_auto_update_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MEDIAFERRY_YTDLP_AUTO_UPDATE", value)
    assert load_settings().ytdlp_auto_update == value.strip().lower()


@pytest.mark.parametrize("value", ["hourly", "", "1", "on"])
def test_auto_update_refuses_others(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MEDIAFERRY_YTDLP_AUTO_UPDATE", value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.message.startswith("invalid setting MEDIAFERRY_YTDLP_AUTO_UPDATE:")
    assert "off, daily or weekly" in err.value.message


def test_auto_update_defaults_to_weekly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDIAFERRY_YTDLP_AUTO_UPDATE", raising=False)
    assert load_settings().ytdlp_auto_update == "weekly"


def test_unknown_js_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAFERRY_YTDLP_JS_RUNTIME", "rhino")
    with pytest.raises(ConfigError, match=r"MEDIAFERRY_YTDLP_JS_RUNTIME: .*unknown"):
        load_settings()


def test_release_dates() -> None:
    assert str(release_date("2026.10.26")) == "2026-10-26"
    assert str(release_date("2025.11.12.233011")) == "2025-11-12"
    assert release_date("2025.13.40") is None and release_date("nightly") is None


@given(st.text(max_size=60))
def test_the_parser_never_fails_otherwise(text: str) -> None:
    try:
        out = parse_extractor_args(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    assert all(isinstance(v, list) for args in out.values() for v in args.values())
