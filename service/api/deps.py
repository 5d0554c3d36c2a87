"""FastAPI dependencies: the services built by the composition root, and the authenticated caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request

from service.api.auth import ApiKeyring, Caller
from service.config import AppConfig
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
    keyring: ApiKeyring
    attendance_policy: AttendancePolicy
    clock: Callable[[], datetime]


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def authenticated(request: Request) -> Caller:
    return services(request).keyring.authenticate(request.headers.get("authorization"))
