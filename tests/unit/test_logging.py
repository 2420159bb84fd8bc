from __future__ import annotations

import io
import json
import logging

import pytest

from mediaferry.logging import DEBUG_JOBS, add_secret, configure_logging, log_context, redact

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


@pytest.fixture
def stream() -> io.StringIO:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    yield out
    configure_logging("INFO", "json")


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"POST https://api.telegram.org/bot{TOKEN}/sendVideo", TOKEN),
        ("Authorization: Bearer sk-live-abcdef123456", "sk-live-abcdef123456"),
        ("https://x.example/a.mp4?token=s3cr3tvalue&b=1", "s3cr3tvalue"),
        ('{"api_key": "hunter2hunter2"}', "hunter2hunter2"),
        ("cookie=SID=31d4d96e407aad42", "31d4d96e407aad42"),
    ],
)
def test_secret_looking_values_are_redacted(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_registered_secrets_never_reach_a_log_line(stream: io.StringIO) -> None:
    add_secret("my-very-private-cookie-value")
    log = logging.getLogger("mediaferry.test")
    log.info(
        "sending with my-very-private-cookie-value",
        extra={"header": "my-very-private-cookie-value"},
    )
    try:
        raise RuntimeError("failed with my-very-private-cookie-value")
    except RuntimeError:
        log.exception("boom")
    text = stream.getvalue()
    assert "my-very-private-cookie-value" not in text
    assert text.count("***") >= 3


def test_lines_are_json_with_job_context(stream: io.StringIO) -> None:
    log = logging.getLogger("mediaferry.test")
    with log_context(job_id=42, user_id=7, source_type="YOUTUBE", stage="DOWNLOAD"):
        log.warning("slow site", extra={"http_status": 429})
    log.warning("outside")
    first, second = lines(stream)
    assert first["level"] == "WARNING" and first["logger"] == "mediaferry.test"
    assert first["message"] == "slow site" and "ts" in first
    assert (first["job_id"], first["user_id"], first["source_type"], first["stage"]) == (
        42,
        7,
        "YOUTUBE",
        "DOWNLOAD",
    )
    assert first["http_status"] == 429
    assert "job_id" not in second


def test_uvicorns_coloured_copy_of_the_message_is_left_out(stream: io.StringIO) -> None:
    # uvicorn logs every line with extra={"color_message": <the message with ANSI codes>}
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 7, extra={"color_message": "Started \x1b[36m%d\x1b[0m"}
    )
    (line,) = lines(stream)
    assert line["message"] == "Started server process [7]" and "color_message" not in line


def test_debug_can_be_switched_on_for_one_job(stream: io.StringIO) -> None:
    log = logging.getLogger("mediaferry.test")
    DEBUG_JOBS.add(5)
    try:
        with log_context(job_id=5):
            log.debug("details for job 5")
        with log_context(job_id=6):
            log.debug("details for job 6")
    finally:
        DEBUG_JOBS.discard(5)
    messages = [line["message"] for line in lines(stream)]
    assert messages == ["details for job 5"]
