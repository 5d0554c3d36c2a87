"""Loopback Teams emulator: Entra token endpoint (TLS), Graph online meetings, attendance reports,
call records and subscriptions, and a meeting player that sends change notifications."""

from integrations.sandbox.clock import ManualClock
from integrations.sandbox.teams.app import create_teams_emulator, emulator_state
from integrations.sandbox.teams.config import GRAPH_SCOPE, EntraUser, TeamsEmulatorConfig
from integrations.sandbox.teams.notifications import NotificationFaults, NotificationSender
from integrations.sandbox.teams.player import (
    End,
    Join,
    Leave,
    MeetingPlayer,
    PersonKind,
    PlaySummary,
    ScriptError,
    ScriptPerson,
    Start,
    Step,
    TruthSession,
)
from integrations.sandbox.teams.state import TeamsEmulatorState
from integrations.sandbox.teams.tls import SandboxCertificates, generate_sandbox_certificates

__all__ = [
    "GRAPH_SCOPE",
    "End",
    "EntraUser",
    "Join",
    "Leave",
    "ManualClock",
    "MeetingPlayer",
    "NotificationFaults",
    "NotificationSender",
    "PersonKind",
    "PlaySummary",
    "SandboxCertificates",
    "ScriptError",
    "ScriptPerson",
    "Start",
    "Step",
    "TeamsEmulatorConfig",
    "TeamsEmulatorState",
    "TruthSession",
    "create_teams_emulator",
    "emulator_state",
    "generate_sandbox_certificates",
]
