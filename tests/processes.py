"""`salesmeet` as real child processes (serve, worker), for the tests that kill, restart and scale them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

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
