"""What a provider reports after a meeting: its own start and end, and every join session.

Domain values (the attendance engine reads them); provider adapters produce them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ReportedSession:
    """One join session from the provider's post-meeting report.

    `in_waiting_room`: the row is time spent waiting to be admitted, not attendance. `instance`
    names the provider's meeting instance the row belongs to, when the provider has instances.
    """

    email: str | None
    provider_participant_id: str | None
    name: str | None
    joined_at: datetime
    left_at: datetime
    registrant_id: str | None = None
    in_waiting_room: bool = False
    instance: str | None = None


@dataclass(frozen=True)
class AttendanceReport:
    """The provider's post-meeting account: its own start/end when it gives them, and every session."""

    actual_start: datetime | None
    actual_end: datetime | None
    sessions: tuple[ReportedSession, ...]
