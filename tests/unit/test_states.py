from __future__ import annotations

import itertools

import pytest

from mediaferry.jobs.states import TRANSITIONS, JobStatus, allowed_from, is_allowed

S = JobStatus
EXPECTED = {
    (S.PENDING, S.QUEUED),
    (S.QUEUED, S.RUNNING),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.PENDING),
    (S.PENDING, S.FAILED),
    (S.QUEUED, S.FAILED),
    (S.PENDING, S.CANCELLED),
    (S.QUEUED, S.CANCELLED),
    (S.RUNNING, S.CANCELLED),
    (S.FAILED, S.PENDING),
}


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(JobStatus, JobStatus)))
def test_every_pair_is_allowed_exactly_as_designed(src: JobStatus, dst: JobStatus) -> None:
    assert is_allowed(src, dst) == ((src, dst) in EXPECTED)


def test_table_is_the_design_table() -> None:
    assert set(TRANSITIONS) == EXPECTED


def test_finished_jobs_never_move_except_manual_retry() -> None:
    assert [d for d in JobStatus if is_allowed(S.COMPLETED, d)] == []
    assert [d for d in JobStatus if is_allowed(S.CANCELLED, d)] == []
    assert [d for d in JobStatus if is_allowed(S.FAILED, d)] == [S.PENDING]


def test_allowed_from() -> None:
    assert allowed_from(S.CANCELLED) == [S.PENDING, S.QUEUED, S.RUNNING]
