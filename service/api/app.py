"""`create_app(runtime)`: the FastAPI application over the parts the composition root built."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from service.api import admin, dashboard, health, meetings, reports
from service.api.auth import ApiKeyMiddleware
from service.api.body_limit import BodySizeLimit
from service.api.errors import install_error_handlers
from service.bootstrap import Runtime
from webhooks.zoom_receiver import zoom_webhook_router

MAX_BODY_BYTES = 1024 * 1024
# Provider calls block a thread each; meeting creation is bounded by the providers, not by us.
THREADPOOL_SIZE = 100


def create_app(runtime: Runtime, *, run_worker: bool = False) -> FastAPI:
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
    if runtime.zoom is not None:
        app.include_router(
            zoom_webhook_router(
                runtime.inbox,
                runtime.zoom.webhook_secret_tokens,
                tolerance_seconds=runtime.zoom.tolerance_seconds,
            )
        )
    app.include_router(meetings.router)
    app.include_router(reports.router)
    app.include_router(dashboard.router)
    app.include_router(admin.router)
    app.include_router(health.router)
    # The last added runs first: keys are checked before anything, even a body's size, is looked at.
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(ApiKeyMiddleware, keyring=runtime.services.keyring)
    return app
