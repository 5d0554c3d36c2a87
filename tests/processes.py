"""`salesmeet` as real child processes (serve, worker), for the tests that kill, restart and scale them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from service.storage import inbox_repo
from service.storage.database import Database
from service.storage.tables import meetings

SALESMEET = str(Path(sys.executable).with_name("salesmeet"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SalesmeetProcess:
    """A `salesmeet` child process logging JSON lines to its own file (appended to, so a process
    restarted on the same file keeps one log)."""

    def __init__(
        self,
        name: str,
        args: list[str],
        database_url: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        environment = {
            **os.environ,
            "SALESMEET_DATABASE_URL": database_url,
            "SALESMEET_LOG_FORMAT": "json",
            "SALESMEET_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        with log_path.open("ab") as log:
            self.process = subprocess.Popen([SALESMEET, *args], env=environment, stdout=log, stderr=log)

    def log_events(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def logged(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.log_events() if e.get("event") == event]

    def assert_alive(self) -> None:
        assert self.process.poll() is None, f"{self.name} exited:\n{self.log_path.read_text()}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


class ServeProcess(SalesmeetProcess):
    """`salesmeet serve` on `port` (a free one when not given), extra arguments after the port."""

    def __init__(
        self,
        name: str,
        config: Path,
        database_url: str,
        log_path: Path,
        *,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["serve", "--config", str(config), "--port", str(self.port), *extra_args]
        super().__init__(name, args, database_url, log_path, env)

    def ready(self) -> bool:
        self.assert_alive()
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.ready():
            assert time.monotonic() < deadline, (
                f"{self.name} did not become ready:\n{self.log_path.read_text()}"
            )
            time.sleep(0.05)


class WorkerProcess(SalesmeetProcess):
    def __init__(
        self, name: str, config: Path, database_url: str, log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(name, ["worker", "--config", str(config)], database_url, log_path, env)


def work_settled(db: Database, meetings_known: int) -> bool:
    """The workers are done: no delivery pending, no attendance record stale, every meeting known."""
    with db.read() as conn:
        pending = inbox_repo.counts_by_status(conn).get(inbox_repo.PENDING, 0)
        dirty = conn.execute(
            select(func.count()).select_from(meetings).where(meetings.c.attendance_dirty.is_(True))
        ).scalar_one()
        known = conn.execute(select(func.count()).select_from(meetings)).scalar_one()
    return pending == 0 and dirty == 0 and known == meetings_known


def wait_until(
    condition: Callable[[], bool], what: str, processes: Sequence[SalesmeetProcess], seconds: float = 40
) -> None:
    """Wait for `condition`, failing at once if one of `processes` exits, and after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        for process in processes:
            process.assert_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
