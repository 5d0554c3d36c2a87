"""Shared fixtures: every storage/API test runs on SQLite and on a real PostgreSQL.

PostgreSQL tests use a fresh schema per test, created by running the real migrations. Without a
reachable server they skip, unless SALESMEET_REQUIRE_POSTGRES=1 (as `.ci/run` sets): then they fail.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

POSTGRES_URL = os.environ.get(
    "SALESMEET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("SALESMEET_REQUIRE_POSTGRES") == "1"


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError as exc:
        return str(exc).splitlines()[0]
    return None


@functools.cache
def postgres_problem() -> str | None:
    return _postgres_available()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections land in a brand-new schema, dropped afterwards."""
    with module_postgres_url() as url:
        yield url


@contextmanager
def module_postgres_url() -> Iterator[str]:
    """`postgres_url` for any scope: skips (or fails under SALESMEET_REQUIRE_POSTGRES=1) without a server."""
    problem = postgres_problem()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (SALESMEET_REQUIRE_POSTGRES=1) but unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/salesmeet.db"
    url: str = request.getfixturevalue("postgres_url")
    return url
