"""The enabled providers, each behind its own concurrency limit."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from integrations.base import MeetingProvider, ProviderError
from service.domain.meeting import ProviderName
from service.errors import ProviderNotConfigured

T = TypeVar("T")


@dataclass
class _Slot:
    provider: MeetingProvider
    limit: threading.BoundedSemaphore


class ProviderRegistry:
    def __init__(
        self,
        providers: Mapping[ProviderName, tuple[MeetingProvider, int]],
        on_error: Callable[[ProviderName, ProviderError], None] | None = None,
    ) -> None:
        self._on_error = on_error
        self._slots = {
            name: _Slot(provider, threading.BoundedSemaphore(max(1, concurrency)))
            for name, (provider, concurrency) in providers.items()
        }

    def names(self) -> list[ProviderName]:
        return sorted(self._slots)

    def has(self, name: ProviderName) -> bool:
        return name in self._slots

    def get(self, name: ProviderName) -> MeetingProvider:
        slot = self._slots.get(name)
        if slot is None:
            raise ProviderNotConfigured(f"provider '{name.value}' is not enabled in the config file")
        return slot.provider

    def call(self, name: ProviderName, operation: Callable[[MeetingProvider], T]) -> T:
        """Run a blocking provider call, at most `max_concurrency` at once per provider."""
        provider = self.get(name)
        try:
            with self._slots[name].limit:
                return operation(provider)
        except ProviderError as exc:
            # Outside the slot: recording the error must never keep another call from the provider.
            if self._on_error is not None:
                self._on_error(name, exc)
            raise
