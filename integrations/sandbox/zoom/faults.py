"""API fault injection: latency, 429 (with or without Retry-After) and 5xx, by count or by rate;
expired tokens and late answers by rate.

Counted faults ("the next N calls") are consumed first; rates draw from a seeded generator so a
run with the same seed injects the same faults at the same calls.

A late answer is the fault a client cannot tell from a lost request: the call is carried out, and
only its answer is held back for `late_answer_seconds` (past the client's timeout). A create that
times out this way did create the meeting.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class InjectedFault:
    status: int
    # Value of the Retry-After header to send, or None to send none (one real 429 had none).
    retry_after: str | None = None
    # Only a call whose path ends with this is hit (None: any call), e.g. "/registrants".
    path_suffix: str | None = None


class ApiFaults:
    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 - reproducible faults, not security
        self._queued: list[InjectedFault] = []
        self.latency_seconds = 0.0
        self.rate_limit_rate = 0.0
        self.rate_limit_retry_after: str | None = "1"
        self.server_error_rate = 0.0
        self.server_error_status = 503
        # Every token issued so far expires at the call (Zoom's 401 code 124), as after an hour.
        self.token_expiry_rate = 0.0
        self.late_answer_rate = 0.0
        self.late_answer_seconds = 0.0

    def rate_limit_next(self, count: int, retry_after: str | None = "1") -> None:
        with self._lock:
            self._queued.extend(InjectedFault(429, retry_after) for _ in range(count))

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._queued.extend(InjectedFault(status) for _ in range(count))

    def fail_next_on(self, path_suffix: str, count: int, status: int = 503) -> None:
        """Fail the next `count` calls whose path ends with `path_suffix`; other calls pass."""
        with self._lock:
            self._queued.extend(InjectedFault(status, path_suffix=path_suffix) for _ in range(count))

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()
            self.latency_seconds = 0.0
            self.rate_limit_rate = 0.0
            self.server_error_rate = 0.0
            self.token_expiry_rate = 0.0
            self.late_answer_rate = 0.0

    def expire_tokens_now(self) -> bool:
        """Whether the call being served now finds every token expired."""
        with self._lock:
            return bool(self.token_expiry_rate) and self._random.random() < self.token_expiry_rate

    def late_answer_delay(self) -> float:
        """Seconds to hold back the answer of the call being served now (0: answer at once)."""
        with self._lock:
            if self.late_answer_rate and self._random.random() < self.late_answer_rate:
                return self.late_answer_seconds
            return 0.0

    def next_fault(self, path: str = "") -> InjectedFault | None:
        """The fault for the call being served now, if any (consumes a counted fault)."""
        with self._lock:
            for index, queued in enumerate(self._queued):
                if queued.path_suffix is None or path.endswith(queued.path_suffix):
                    return self._queued.pop(index)
            if self.rate_limit_rate and self._random.random() < self.rate_limit_rate:
                return InjectedFault(429, self.rate_limit_retry_after)
            if self.server_error_rate and self._random.random() < self.server_error_rate:
                return InjectedFault(self.server_error_status)
            return None
