"""API fault injection for the Google emulator: latency, rate limits and 5xx, counted or by seeded rate.

Counted faults ("the next N calls") are consumed first; rates draw from a seeded generator so a
run with the same seed injects the same faults at the same calls. A rate limit is answered the way
the API being called answers it (Calendar: 403 `rateLimitExceeded`; Meet, Directory, Workspace
Events: 429 `RESOURCE_EXHAUSTED`).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"


@dataclass(frozen=True)
class InjectedFault:
    kind: FaultKind
    status: int = 429
    # Calendar's 403 reason for a rate limit: rateLimitExceeded, userRateLimitExceeded, quotaExceeded.
    reason: str = "rateLimitExceeded"


class ApiFaults:
    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 - reproducible faults, not security
        self._queued: list[InjectedFault] = []
        self.latency_seconds = 0.0
        self.rate_limit_rate = 0.0
        self.server_error_rate = 0.0
        self.server_error_status = 503

    def rate_limit_next(self, count: int, reason: str = "rateLimitExceeded") -> None:
        with self._lock:
            self._queued.extend(InjectedFault(FaultKind.RATE_LIMIT, 429, reason) for _ in range(count))

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._queued.extend(InjectedFault(FaultKind.SERVER_ERROR, status) for _ in range(count))

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()
            self.latency_seconds = 0.0
            self.rate_limit_rate = 0.0
            self.server_error_rate = 0.0

    def next_fault(self) -> InjectedFault | None:
        """The fault for the call being served now, if any (consumes a counted fault)."""
        with self._lock:
            if self._queued:
                return self._queued.pop(0)
            if self.rate_limit_rate and self._random.random() < self.rate_limit_rate:
                return InjectedFault(FaultKind.RATE_LIMIT)
            if self.server_error_rate and self._random.random() < self.server_error_rate:
                return InjectedFault(FaultKind.SERVER_ERROR, self.server_error_status)
            return None
