"""`create_app(runtime)`: the FastAPI application over the parts the composition root built."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

import anyio.to_thread
from fastapi import FastAPI

from integrations.crm.plugin import CrmActionEndpoint, MeetingActions
from integrations.plugin import WebhookEndpoint
from service.api import admin, dashboard, health, meetings, reports
from service.api.auth import ApiKeyMiddleware, ApiKeyring
from service.api.body_limit import BodySizeLimit
from service.api.errors import install_error_handlers
from service.usecases.services import Services
from webhooks.crm import CrmDeliveryStore, crm_action_router
from webhooks.inbox import InboxWriter
from webhooks.receiver import BodyBudget, WebhookFrontDoor, webhook_receivers, webhook_router

MAX_BODY_BYTES = 1024 * 1024
# Provider calls block a thread each; meeting creation is bounded by the providers, not by us.
THREADPOOL_SIZE = 100


class BackgroundWorker(Protocol):
    def start_in_thread(self) -> None: ...

    def stop(self) -> None: ...


class AppRuntime(Protocol):
    """What the app runs on (the composition root's `Runtime`), without importing it."""

    @property
    def services(self) -> Services: ...

    @property
    def inbox(self) -> InboxWriter: ...

    @property
    def worker(self) -> BackgroundWorker: ...

    def webhook_endpoints(self) -> Sequence[tuple[str, WebhookEndpoint]]: ...

    # CRM connectors (integrations/crm): inbound endpoints, their store, and synchronous actions.
    def crm_webhook_endpoints(self) -> Sequence[tuple[str, WebhookEndpoint]]: ...

    def crm_action_endpoints(self) -> Sequence[tuple[str, CrmActionEndpoint]]: ...

    @property
    def crm_store(self) -> CrmDeliveryStore | None: ...

    @property
    def meeting_actions(self) -> MeetingActions | None: ...


def create_app(runtime: AppRuntime, *, run_worker: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADPOOL_SIZE
        await runtime.inbox.start()
        if run_worker:
            runtime.worker.start_in_thread()
        # Everything built so far lives as long as the process: move it out of the collector's
        # sight, so full collections under a webhook storm stay short (they were the whole p99).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await runtime.inbox.stop()
            if run_worker:
                runtime.worker.stop()

    app = FastAPI(
        title="salesmeet",
        version="1",
        summary="Sales meetings on Zoom, Teams and Google Meet: scheduling, attendance, comparison.",
        lifespan=lifespan,
    )
    app.state.services = runtime.services
    install_error_handlers(app)
    # Webhooks first: routes are matched in order, and a join storm is the hot path.
    # Bytes of unfinished webhook bodies, shared by every endpoint (kept on the app for tests).
    app.state.webhook_body_budget = BodyBudget()
    receivers = webhook_receivers(
        runtime.webhook_endpoints(), runtime.inbox, budget=app.state.webhook_body_budget
    )
    crm_endpoints = runtime.crm_webhook_endpoints()
    if crm_endpoints and runtime.crm_store is not None:
        receivers += webhook_receivers(crm_endpoints, runtime.crm_store, budget=app.state.webhook_body_budget)
    app.include_router(webhook_router(receivers))
    if runtime.meeting_actions is not None:
        app.include_router(crm_action_router(runtime.crm_action_endpoints(), runtime.meeting_actions))
    app.include_router(meetings.router)
    app.include_router(reports.router)
    app.include_router(dashboard.router)
    app.include_router(admin.router)
    app.include_router(health.router)
    # The last added runs first: keys are checked before anything, even a body's size, is looked at.
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    config = runtime.services.config
    keyring = ApiKeyring((k.name, k.scope.value, k.hash) for k in config.api_keys)
    app.add_middleware(ApiKeyMiddleware, keyring=keyring)
    # Outermost: webhooks go straight to their receivers (the hot path).
    app.add_middleware(WebhookFrontDoor, receivers=receivers)
    return app
