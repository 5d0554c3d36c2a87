"""Graph fault injection: latency, 429 with a (fractional) Retry-After, 5xx, by count or by rate.

Counted faults ("the next N calls") are consumed first; rates draw from a seeded generator so a
run with the same seed injects the same faults at the same calls.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class InjectedFault:
    status: int
    # The Retry-After header to send (Graph sends seconds, sometimes fractional), or None.
    retry_after: str | None = None


class GraphFaults:
    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 - reproducible faults, not security
        self._queued: list[InjectedFault] = []
        self._token_queued: list[InjectedFault] = []
        self.latency_seconds = 0.0
        self.rate_limit_rate = 0.0
        self.rate_limit_retry_after: str | None = "0.05"
        self.server_error_rate = 0.0
        self.server_error_status = 503

    def rate_limit_next(self, count: int, retry_after: str | None = "0.05") -> None:
        with self._lock:
            self._queued.extend(InjectedFault(429, retry_after) for _ in range(count))

    def fail_next(self, count: int, status: int = 503, retry_after: str | None = None) -> None:
        with self._lock:
            self._queued.extend(InjectedFault(status, retry_after) for _ in range(count))

    def fail_next_token_requests(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._token_queued.extend(InjectedFault(status) for _ in range(count))

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()
            self._token_queued.clear()
            self.latency_seconds = 0.0
            self.rate_limit_rate = 0.0
            self.server_error_rate = 0.0

    def next_fault(self) -> InjectedFault | None:
        """The fault for the Graph call being served now, if any (consumes a counted fault)."""
        with self._lock:
            if self._queued:
                return self._queued.pop(0)
            if self.rate_limit_rate and self._random.random() < self.rate_limit_rate:
                return InjectedFault(429, self.rate_limit_retry_after)
            if self.server_error_rate and self._random.random() < self.server_error_rate:
                return InjectedFault(self.server_error_status)
            return None

    def next_token_fault(self) -> InjectedFault | None:
        with self._lock:
            return self._token_queued.pop(0) if self._token_queued else None
