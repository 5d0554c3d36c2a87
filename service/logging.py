"""Structured logs (JSON in production) that never carry secrets."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEY = re.compile(
    r"secret|token|password|authorization|api_key|private_key|client_state|signature", re.I
)
REDACTED = "***"


def redact_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop the value of any field whose name looks like a secret, however a caller passed it."""
    for key in list(event):
        if key != "event" and _SECRET_KEY.search(key):
            event[key] = REDACTED
    return event


# PostgreSQL's DETAIL line quotes row values ("Key (email)=(dana@acme.example) already exists"),
# which `hide_parameters` does not cover. It is matched up to the next line break, real or as
# repr() writes it ("\\n"), so the error's other lines (its kind, the SQL without values) remain.
_DATABASE_DETAIL = re.compile(r"(?:\\n|\n)?DETAIL:[^\n]*?(?=\\n|\n|$)")


def strip_database_detail(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Remove PostgreSQL DETAIL lines from every text field, the formatted traceback included."""
    for key, value in event.items():
        if isinstance(value, str) and "DETAIL:" in value:
            event[key] = _DATABASE_DETAIL.sub("", value)
    return event


_LOGGED = "_salesmeet_logged"


def mark_logged(exc: BaseException) -> None:
    """Record that `exc` has been logged, with its traceback, as a structured event."""
    setattr(exc, _LOGGED, True)


class _DropServerCopies(logging.Filter):
    """Drops the server's plain-text copy of an error that was already logged as an event.

    Starlette answers an unhandled error through the API's handler (which logs it) and then
    re-raises it to the server, which logs it again ("Exception in ASGI application").
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not getattr(exc, _LOGGED, False)


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(sys.stderr)


def configure_logging(*, json_format: bool, level: str = "INFO") -> None:
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # uvicorn's own logging configuration replaces handlers, never filters, so this one stays.
    server_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropServerCopies) for f in server_errors.filters):
        server_errors.addFilter(_DropServerCopies())
    logging.basicConfig(
        format="%(message)s", stream=sys.stderr, level=getattr(logging, level.upper(), logging.INFO)
    )
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_format else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            strip_database_detail,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        # sys.stderr is looked up per logger, not bound once: a redirected stream is always honoured.
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
