"""Retry policy: decide whether a failed attempt is tried again, and when."""

from __future__ import annotations

import random
from dataclasses import dataclass

from mediaferry.errors import DatabaseUnavailable, DiskFull, JobError

__all__ = ["RetryDecision", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryDecision:
    delay: float  # seconds until the job may run again
    counts_attempt: bool = True  # DISK_FULL and a database outage wait without spending one


@dataclass(slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; an error's own Retry-After wins."""

    base: float = 5.0
    maximum: float = 900.0
    jitter: float = 0.5  # fraction of the delay that is randomised
    disk_wait: float = 60.0
    rng: random.Random | None = None

    def backoff(self, attempts: int) -> float:
        """Delay before try number ``attempts + 1`` (attempts = failures so far)."""
        raw: float = min(self.maximum, self.base * float(1 << max(0, min(attempts - 1, 30))))
        draw: float = (self.rng or random).random()
        return raw * (1 - self.jitter) + raw * self.jitter * draw

    def decide(self, error: JobError, attempts: int, max_attempts: int) -> RetryDecision | None:
        """``None`` means fail now. ``attempts`` counts failures including this one."""
        if isinstance(error, DiskFull):
            return RetryDecision(delay=self.disk_wait, counts_attempt=False)
        if isinstance(error, DatabaseUnavailable):
            # not the job's fault: run it again as soon as the database is back
            return RetryDecision(delay=self.backoff(1), counts_attempt=False)
        if not error.is_retryable or attempts >= max_attempts:
            return None
        if error.retry_after is not None:
            # the site (or Telegram) said when: honour it, within an hour
            return RetryDecision(delay=min(max(error.retry_after, 0.0), 3600.0))
        return RetryDecision(delay=self.backoff(attempts))
