"""schemathesis against the running server's ``/openapi.json``: no request it generates,
valid or not, gets a 5xx."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from tests.integration.test_web_harness import API_KEY, WebFactory
from tests.integration.test_web_harness import make_web_fixture as make_web_fixture

EXAMPLES = 12
SKIP = {"/api/events"}  # an endless stream; covered by the SSE tests


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The API's answers to bad input do not depend on the database: SQLite only."""
    return f"sqlite+aiosqlite:///{tmp_path / 'mf.db'}"


def _fuzz(base_url: str) -> tuple[int, list[str]]:
    """Run every operation with positive and negative cases; returns (calls, failures)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    auth = {"Authorization": f"Bearer {API_KEY}"}
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIP:
            continue
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                response = case.call(base_url=base_url, headers=auth, timeout=10)
                # /health answers 503 by design here: no worker runs (it would fetch
                # whatever URLs the fuzzer makes up)
                expected = case.operation.path == "/health" and response.status_code == 503
                if response.status_code >= 500 and not expected:
                    failures.append(f"{response.status_code}: {case.as_curl_command()}")

            try:
                check()
            except Unsatisfiable:  # no invalid request exists (an operation without input)
                pass
    return calls, failures


async def test_no_generated_request_gets_a_server_error(make_web: WebFactory) -> None:
    web = await make_web(workers=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hypothesis/schemathesis chatter in the thread
        calls, failures = await asyncio.to_thread(_fuzz, web.url)
    assert calls > 100
    assert failures == []
