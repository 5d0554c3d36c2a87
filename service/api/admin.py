"""/v1/admin/providers: credential health per provider, before a meeting fails; /v1/admin/crm: CRM
deliveries and the write-back outbox."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from service.api.deps import AdminCaller, ServicesDep
from service.api.error_docs import error_responses
from service.domain.meeting import ProviderName
from service.storage import crm_repo, provider_status_repo, subscriptions_repo

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=error_responses(401, 403, 503))

_PARKED_ERROR = f"Why it was parked: the stored error, cut to {crm_repo.ERROR_PREVIEW_CHARS} characters."


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


class ParkedDeliveryOut(BaseModel):
    delivery_key: str
    attempts: int
    parked_at: datetime | None
    error: str | None = Field(description=_PARKED_ERROR)


class CrmDeliveriesOut(BaseModel):
    pending: int
    done: int
    parked: int
    recent_parked: list[ParkedDeliveryOut] = Field(
        description=f"The {crm_repo.RECENT_PARKED} most recently parked deliveries, newest first."
    )


class ParkedWriteBackOut(BaseModel):
    meeting_id: str
    record_id: str | None = Field(description="The CRM record the meeting came from.")
    remote_id: str | None = Field(description="The CRM object written to, once one was created.")
    attempts: int
    parked_at: datetime
    error: str | None = Field(description=_PARKED_ERROR)


class CrmOutboxOut(BaseModel):
    pending: int
    done: int
    parked: int
    oldest_pending_at: datetime | None
    last_written_at: datetime | None
    last_error: str | None
    recent_parked: list[ParkedWriteBackOut] = Field(
        description=f"The {crm_repo.RECENT_PARKED} most recently parked write-backs, newest first."
    )


class CrmStatusOut(BaseModel):
    crm: str
    sandbox: bool
    write_back: bool
    deliveries: CrmDeliveriesOut
    outbox: CrmOutboxOut


@router.get("/crm", response_model=list[CrmStatusOut])
async def crm_status(caller: AdminCaller, svc: ServicesDep) -> list[CrmStatusOut]:
    """Per enabled CRM: inbound deliveries by status and the write-back outbox's state, with the
    most recently parked of each and why they were parked."""

    def collect() -> list[CrmStatusOut]:
        result = []
        with svc.db.read() as conn:
            deliveries = crm_repo.delivery_counts(conn)
            for name, section in svc.config.crm.sections():
                if not section.enabled:
                    continue
                outbox = crm_repo.outbox_summary(conn, name)
                parked_deliveries = crm_repo.recent_parked_deliveries(conn, name)
                parked_write_backs = crm_repo.recent_parked_write_backs(conn, name)
                result.append(
                    CrmStatusOut(
                        crm=name,
                        sandbox=section.sandbox,
                        write_back=section.write_back,
                        deliveries=CrmDeliveriesOut(
                            **{s: deliveries.get((name, s), 0) for s in crm_repo.STATES},
                            recent_parked=[ParkedDeliveryOut(**asdict(p)) for p in parked_deliveries],
                        ),
                        outbox=CrmOutboxOut(
                            **outbox.counts,
                            oldest_pending_at=outbox.oldest_pending_at,
                            last_written_at=outbox.last_written_at,
                            last_error=outbox.last_error,
                            recent_parked=[ParkedWriteBackOut(**asdict(p)) for p in parked_write_backs],
                        ),
                    )
                )
        return result

    return await run_in_threadpool(collect)
