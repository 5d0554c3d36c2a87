"""Named leases in the database: a periodic job runs on one replica at a time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, or_, update
from sqlalchemy.dialects import postgresql, sqlite

from service.storage.tables import job_leases


def try_acquire(conn: Connection, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Take or extend the lease; False while another owner holds an unexpired one."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(job_leases)
        .values(name=name, owner=owner, lease_until=now - timedelta(seconds=1))
        .on_conflict_do_nothing(index_elements=["name"])
    )
    c = job_leases.c
    taken = conn.execute(
        update(job_leases)
        .where(c.name == name, or_(c.owner == owner, c.lease_until < now))
        .values(owner=owner, lease_until=now + ttl)
    )
    return bool(taken.rowcount == 1)
