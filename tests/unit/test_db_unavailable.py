"""The database boundary tells an outage (refused, lost, shutting down, disk full) from
a real query error, so jobs wait for the database instead of failing as UNKNOWN."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from mediaferry.db.engine import unavailable
from mediaferry.errors import DatabaseUnavailable


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.InterfaceError("connection is closed"),
        asyncpg.exceptions._base.InternalClientError("cannot switch to state 15"),
        sqlite3.OperationalError("database or disk is full"),
    ],
)
def test_outages_are_database_unavailable(exc: BaseException) -> None:
    assert isinstance(unavailable(exc), DatabaseUnavailable)


@pytest.mark.parametrize(
    "exc",
    [
        sqlite3.OperationalError("no such table: jobs"),
        asyncpg.exceptions.UndefinedTableError("relation does not exist"),
        ValueError("not a database error"),
    ],
)
def test_query_errors_are_left_alone(exc: BaseException) -> None:
    assert unavailable(exc) is None
