from __future__ import annotations

import random

import pytest

from mediaferry.errors import (
    AuthError,
    DiskFull,
    ExtractorUpdateRequired,
    FormatNotFound,
    GeoBlocked,
    HttpError,
    JobError,
    NetworkError,
    ProtectedContent,
    RateLimited,
    SizeLimitExceeded,
    StageTimeout,
    TelegramError,
    UnsupportedSource,
)
from mediaferry.jobs.retry import RetryPolicy

policy = RetryPolicy(base=2.0, maximum=60.0, rng=random.Random(7))


@pytest.mark.parametrize(
    "error",
    [
        NetworkError(),
        RateLimited(),
        StageTimeout(),
        HttpError(status=500),
        HttpError(status=503),
        TelegramError(),
    ],
)
def test_retryable_errors_are_retried_with_backoff(error: JobError) -> None:
    decision = policy.decide(error, attempts=1, max_attempts=4)
    assert decision is not None
    assert 1.0 <= decision.delay <= 2.0
    assert decision.counts_attempt


@pytest.mark.parametrize(
    "error",
    [
        AuthError(),
        SizeLimitExceeded(),
        FormatNotFound(),
        ProtectedContent(),
        UnsupportedSource(),
        ExtractorUpdateRequired(),
        GeoBlocked(),
        HttpError(status=404),
        HttpError(status=410),
    ],
)
def test_final_errors_fail_at_once(error: JobError) -> None:
    assert policy.decide(error, attempts=1, max_attempts=10) is None


def test_attempts_run_out() -> None:
    assert policy.decide(NetworkError(), attempts=4, max_attempts=4) is None
    assert policy.decide(NetworkError(), attempts=3, max_attempts=4) is not None


def test_backoff_grows_exponentially_and_is_capped() -> None:
    p = RetryPolicy(base=1.0, maximum=10.0, jitter=0.0)
    assert [p.backoff(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_stays_within_the_window() -> None:
    p = RetryPolicy(base=4.0, maximum=100.0, jitter=0.5, rng=random.Random(1))
    delays = [p.backoff(3) for _ in range(200)]
    assert all(8.0 <= d <= 16.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > 50


def test_retry_after_is_honoured() -> None:
    decision = policy.decide(RateLimited(retry_after=42), attempts=1, max_attempts=4)
    assert decision is not None and decision.delay == 42


def test_disk_full_waits_without_spending_an_attempt() -> None:
    decision = policy.decide(DiskFull(), attempts=99, max_attempts=4)
    assert decision is not None and not decision.counts_attempt
