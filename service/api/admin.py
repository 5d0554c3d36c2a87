"""/v1/admin/providers: credential health per provider, before a meeting fails."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from service.api.deps import AdminCaller, ServicesDep
from service.domain.meeting import ProviderName
from service.storage import provider_status_repo

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class SubscriptionOut(BaseModel):
    id: str
    resource: str
    expires_at: datetime | None


class ProviderHealthOut(BaseModel):
    provider: ProviderName
    sandbox: bool
    token_obtainable: bool
    token_detail: str | None
    subscriptions: list[SubscriptionOut]
    last_webhook_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


@router.get("/providers", response_model=list[ProviderHealthOut])
async def provider_health(caller: AdminCaller, svc: ServicesDep) -> list[ProviderHealthOut]:
    def collect() -> list[ProviderHealthOut]:
        with svc.db.read() as conn:
            status = provider_status_repo.load_all(conn)
        result = []
        for name in svc.providers.names():
            health = svc.providers.get(name).check_health()
            row = status.get(name.value, {})
            section = svc.config.provider_config(name)
            result.append(
                ProviderHealthOut(
                    provider=name,
                    sandbox=bool(section and section.sandbox),
                    token_obtainable=health.token_obtainable,
                    token_detail=health.detail,
                    # Zoom pushes to the endpoint saved in its app; Graph and Workspace Events
                    # subscriptions (with expiry) are listed here once those providers land.
                    subscriptions=[],
                    last_webhook_at=row.get("last_webhook_at"),
                    last_error=row.get("last_error"),
                    last_error_at=row.get("last_error_at"),
                )
            )
        return result

    return await run_in_threadpool(collect)
