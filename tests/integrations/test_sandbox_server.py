"""serve_in_thread: a started server on a free loopback port, gone after stop()."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from integrations.sandbox.server import serve_in_thread


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"answer": "pong"}

    return app


def test_serves_until_stopped() -> None:
    with serve_in_thread(_app()) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{server.url}/ping").json() == {"answer": "pong"}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/ping", timeout=1)


def test_two_servers_get_two_ports() -> None:
    with serve_in_thread(_app()) as first, serve_in_thread(_app()) as second:
        assert first.port != second.port
