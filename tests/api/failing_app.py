"""A process serving the real error handlers and logging set-up, with routes that fail, as
`salesmeet serve` runs them (JSON logs, uvicorn at warning, no access log).

    python -m tests.api.failing_app PORT
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel
from starlette.middleware.base import RequestResponseEndpoint

from service.api.errors import install_error_handlers
from service.logging import configure_logging


class Note(BaseModel):
    text: str


def build_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.middleware("http")
    async def failing_outside_the_routes(request: Request, call_next: RequestResponseEndpoint) -> Response:
        # Added after the error handlers, so it wraps them: its errors reach Starlette's own
        # outermost middleware, which calls the API's handler and then re-raises to the server.
        if request.url.path == "/boom-outside":
            raise RuntimeError("a bug in a middleware")
        return await call_next(request)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug in a route")

    @app.post("/notes")
    async def notes(note: Note) -> Note:
        return note

    return app


if __name__ == "__main__":
    configure_logging(json_format=True)
    uvicorn.run(build_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
