"""Loopback Zoom emulator: OAuth, meetings API, reports, and a meeting player that sends webhooks."""

from integrations.sandbox.clock import ManualClock
from integrations.sandbox.zoom.app import create_zoom_emulator, emulator_state
from integrations.sandbox.zoom.config import ZoomEmulatorConfig, ZoomRealism, ZoomUser
from integrations.sandbox.zoom.player import (
    End,
    Join,
    Leave,
    MeetingPlayer,
    PlaySummary,
    ScriptError,
    ScriptPerson,
    Start,
    TruthSession,
    Wait,
    WebhookFaults,
)
from integrations.sandbox.zoom.state import ZoomEmulatorState
from integrations.sandbox.zoom.webhooks import WebhookSender, zoom_signature

__all__ = [
    "End",
    "Join",
    "Leave",
    "ManualClock",
    "MeetingPlayer",
    "PlaySummary",
    "ScriptError",
    "ScriptPerson",
    "Start",
    "TruthSession",
    "Wait",
    "WebhookFaults",
    "WebhookSender",
    "ZoomEmulatorConfig",
    "ZoomEmulatorState",
    "ZoomRealism",
    "ZoomUser",
    "create_zoom_emulator",
    "emulator_state",
    "zoom_signature",
]
