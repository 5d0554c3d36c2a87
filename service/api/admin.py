"""/v1/admin/providers: credential health per provider, before a meeting fails."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from service.api.deps import AdminCaller, ServicesDep
from service.domain.meeting import ProviderName
from service.storage import provider_status_repo, subscriptions_repo

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class SubscriptionOut(BaseModel):
    resource: str
    id: str | None
    expires_at: datetime | None
    state: str
    last_error: str | None
    updated_at: datetime


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
            subscriptions = subscriptions_repo.load_all(conn)
        result = []
        for name in svc.providers.names():
            health = svc.providers.get(name).check_health()
            row = status.get(name.value, {})
            result.append(
                ProviderHealthOut(
                    provider=name,
                    sandbox=name in svc.sandboxed,
                    token_obtainable=health.token_obtainable,
                    token_detail=health.detail,
                    # Only providers whose plugin keeps subscriptions have any (Zoom pushes to
                    # the endpoint saved in its Marketplace app).
                    subscriptions=[
                        SubscriptionOut(
                            resource=s.resource,
                            id=s.provider_subscription_id,
                            expires_at=s.expires_at,
                            state=s.state,
                            last_error=s.last_error,
                            updated_at=s.updated_at,
                        )
                        for s in subscriptions
                        if s.provider == name.value
                    ],
                    last_webhook_at=row.get("last_webhook_at"),
                    last_error=row.get("last_error"),
                    last_error_at=row.get("last_error_at"),
                )
            )
        return result

    return await run_in_threadpool(collect)
