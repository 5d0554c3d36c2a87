"""The error contract at the HTTP edge: one log record per failure, clean codes, closed connections."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text

from service.api.auth import Caller, Scope, require_scope
from service.api.errors import install_error_handlers
from service.errors import Forbidden
from service.storage.database import Database, create_database_engine

ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.api.failing_app", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/nowhere", timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.parametrize(
    ("path", "bug"), [("/boom", "a bug in a route"), ("/boom-outside", "a bug in a middleware")]
)
def test_an_unhandled_error_is_logged_once_as_json_and_the_connection_is_closed(
    served: tuple[str, subprocess.Popen[str]], path: str, bug: str
) -> None:
    base, process = served
    with httpx.Client() as client:
        response = client.get(f"{base}{path}")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert response.headers["connection"] == "close"

    process.terminate()
    _, stderr = process.communicate(timeout=10)
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is JSON
    errors = [r for r in records if r.get("level") == "error"]
    assert [r["event"] for r in errors] == ["api.unhandled_error"]
    assert bug in errors[0]["exception"]


def test_invalid_utf8_in_a_json_body_is_malformed_json(served: tuple[str, subprocess.Popen[str]]) -> None:
    base, _ = served
    response = httpx.post(
        f"{base}/notes", content=b'{"text": "\xff\xfe"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


@pytest.mark.parametrize(
    ("scope", "allowed", "needed"),
    [
        (Scope.CRM, (Scope.ADMIN,), "needs admin"),
        (Scope.CRM, (Scope.REPORTS,), "needs reports or admin"),
        (Scope.REPORTS, (Scope.CRM, Scope.ADMIN), "needs crm or admin"),
    ],
)
def test_forbidden_names_each_scope_that_would_do_once(
    scope: Scope, allowed: tuple[Scope, ...], needed: str
) -> None:
    with pytest.raises(Forbidden) as caught:
        require_scope(Caller("key", scope), *allowed)
    assert caught.value.message.endswith(needed)


async def test_a_busy_database_pool_answers_503_database_busy_with_retry_after(database_url: str) -> None:
    engine = create_database_engine(database_url, pool_size=1, pool_timeout=0.2)
    db = Database(engine)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/count")
    async def count() -> int:
        def query() -> int:
            with db.read() as conn:
                return int(conn.execute(text("SELECT 1")).scalar_one())

        return await run_in_threadpool(query)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        with ExitStack() as held:
            for _ in range(2):  # pool_size + max_overflow
                held.enter_context(db.read()).execute(text("SELECT 1"))
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                response = await client.get("/count")
    finally:
        db.dispose()
    assert response.status_code == 503
    assert response.json()["code"] == "database_busy"
    assert int(response.headers["retry-after"]) >= 1
