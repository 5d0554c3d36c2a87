"""What the admin page shows per provider: last webhook, last error."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from service.storage.tables import provider_status


def record_error(conn: Connection, provider: str, message: str, now: datetime) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(provider_status).values(
        provider=provider, last_error=message[:1000], last_error_at=now
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["provider"], set_={"last_error": message[:1000], "last_error_at": now}
        )
    )


def load_all(conn: Connection) -> dict[str, dict[str, object]]:
    rows = conn.execute(select(provider_status)).all()
    return {r.provider: dict(r._mapping) for r in rows}
