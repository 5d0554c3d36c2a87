"""A process serving the real error handlers and logging set-up, with routes that fail, as
`salesmeet serve` runs them (JSON logs, uvicorn at warning, no access log).

    python -m tests.api.failing_app PORT
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from service.api.errors import install_error_handlers
from service.logging import configure_logging


class Note(BaseModel):
    text: str


def build_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

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
