"""A database error in a log line says what failed, never the values in the row (PostgreSQL's DETAIL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import structlog
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from service.logging import configure_logging
from service.storage.database import create_database_engine, upgrade_database
from service.storage.tables import job_leases

PERSONAL = "dana.mueller@acme.example"


def test_a_logged_postgresql_error_carries_no_detail_line(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_database_engine(postgres_url)
    upgrade_database(engine)
    row = {"name": PERSONAL, "owner": "o", "lease_until": datetime(2026, 12, 1, 9, tzinfo=UTC)}
    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        conn.execute(insert(job_leases).values(**row))
        conn.execute(insert(job_leases).values(**row))  # PostgreSQL quotes the existing key
    engine.dispose()
    assert PERSONAL in str(caught.value)  # what would leak without the filter

    configure_logging(json_format=True)
    structlog.get_logger("test").error("storage.failed", error=repr(caught.value), exc_info=caught.value)

    line = capsys.readouterr().err.strip()
    record = json.loads(line)
    assert record["event"] == "storage.failed"
    assert "UniqueViolation" in record["error"] and "UniqueViolation" in record["exception"]
    assert PERSONAL not in line
    assert "DETAIL:" not in line
