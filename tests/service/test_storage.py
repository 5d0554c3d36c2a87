"""The schema: migrations and table definitions agree; instants round-trip as aware UTC on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, select

from service.storage import leases
from service.storage.database import create_database_engine, schema_is_current, upgrade_database
from service.storage.tables import job_leases, metadata


def test_migrations_build_exactly_the_tables_the_code_queries(database_url: str) -> None:
    engine = create_database_engine(database_url)
    assert not schema_is_current(engine)
    upgrade_database(engine)
    upgrade_database(engine)  # idempotent: every start runs it
    assert schema_is_current(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    engine.dispose()


def test_instants_come_back_aware_and_in_utc(database_url: str) -> None:
    engine = create_database_engine(database_url)
    upgrade_database(engine)
    berlin = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 29, 3, 30, tzinfo=berlin)
    with engine.begin() as conn:
        conn.execute(insert(job_leases).values(name="t", owner="o", lease_until=moment))
        stored = conn.execute(select(job_leases.c.lease_until)).scalar_one()
    assert stored == moment and stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    engine.dispose()


def test_a_lease_has_one_holder_until_it_expires(database_url: str) -> None:
    engine = create_database_engine(database_url)
    upgrade_database(engine)
    now = datetime(2026, 11, 29, tzinfo=UTC)
    ttl = timedelta(seconds=60)
    with engine.begin() as conn:
        assert leases.try_acquire(conn, "reconcile", "a", now, ttl)
        assert not leases.try_acquire(conn, "reconcile", "b", now + timedelta(seconds=30), ttl)
        assert leases.try_acquire(conn, "reconcile", "a", now + timedelta(seconds=30), ttl)  # renewal
        assert leases.try_acquire(conn, "reconcile", "b", now + timedelta(seconds=91), ttl)  # expired
    engine.dispose()
