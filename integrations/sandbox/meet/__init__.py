"""Loopback Google emulator: OAuth (service account, DWD), Calendar with Meet conferences, Meet REST
v2, Directory users.get, Workspace Events subscriptions, and a player that pushes Meet events."""

from integrations.sandbox.clock import ManualClock
from integrations.sandbox.meet.app import create_meet_emulator, emulator_state
from integrations.sandbox.meet.config import MeetEmulatorConfig, WorkspaceUser
from integrations.sandbox.meet.keys import ServiceAccount, SigningKey
from integrations.sandbox.meet.player import (
    End,
    Join,
    Leave,
    MeetingPlayer,
    PersonKind,
    PlaySummary,
    PushFaults,
    ScriptError,
    ScriptPerson,
    Start,
    TruthSession,
)
from integrations.sandbox.meet.pushes import PushMessage, PushSender, oidc_token, push_sender_for
from integrations.sandbox.meet.state import MeetEmulatorState

__all__ = [
    "End",
    "Join",
    "Leave",
    "ManualClock",
    "MeetEmulatorConfig",
    "MeetEmulatorState",
    "MeetingPlayer",
    "PersonKind",
    "PlaySummary",
    "PushFaults",
    "PushMessage",
    "PushSender",
    "ScriptError",
    "ScriptPerson",
    "ServiceAccount",
    "SigningKey",
    "Start",
    "TruthSession",
    "WorkspaceUser",
    "create_meet_emulator",
    "emulator_state",
    "oidc_token",
    "push_sender_for",
]
