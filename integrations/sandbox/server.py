"""Run an ASGI app on a loopback socket in a daemon thread (the sandbox emulators' host).

The socket is bound to port 0 before uvicorn starts, so the port is known up front and two
emulators never race for one. `serve_in_thread` returns only once uvicorn reports `started`.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import uvicorn

_START_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for an HTTPS emulator (msal refuses plain http authorities)."""

    certfile: str
    keyfile: str


class RunningServer:
    """A started uvicorn server; `stop()` (or leaving the `with` block) shuts it down."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket, scheme: str):
        self._server = server
        self._thread = thread
        self._socket = sock
        host, port = sock.getsockname()[:2]
        self.host: str = host
        self.port: int = port
        self.url = f"{scheme}://{host}:{port}"

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    ssl: TlsFiles | None = None,
    *,
    lifespan: Literal["auto", "on", "off"] = "off",
) -> RunningServer:
    """Serve `app` on `host` at a free port in a daemon thread; block until it accepts connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
        ssl_certfile=ssl.certfile if ssl else None,
        ssl_keyfile=ssl.keyfile if ssl else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="sandbox-server"
    )
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("sandbox server did not start")
        time.sleep(0.01)
    return RunningServer(server, thread, sock, "https" if ssl else "http")
