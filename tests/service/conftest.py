"""Fixtures for service tests: the wired service (no HTTP server) over a fresh database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.bootstrap import Runtime, build_runtime
from service.config.loader import parse_config
from service.config.secrets import Settings
from service.storage.database import upgrade_database
from tests.support import sandbox_config


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    built = build_runtime(parse_config(sandbox_config()), Settings(database_url=database_url))
    upgrade_database(built.db.engine)
    try:
        yield built
    finally:
        built.close()
