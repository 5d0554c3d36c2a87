"""What the API's routes use: the parts the composition root built, in one bundle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from service.config.schema import AppConfig
from service.domain.meeting import ProviderName
from service.storage.database import Database
from service.usecases.provider_registry import ProviderRegistry
from service.usecases.record_attendance import AttendancePolicy
from service.usecases.schedule_meeting import MeetingScheduler


@dataclass
class Services:
    config: AppConfig
    db: Database
    scheduler: MeetingScheduler
    providers: ProviderRegistry
    attendance_policy: AttendancePolicy
    clock: Callable[[], datetime]
    # Providers running on their built-in emulator.
    sandboxed: frozenset[ProviderName] = field(default_factory=frozenset)
