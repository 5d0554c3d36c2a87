"""The demo's config: `config/sandbox.yaml` (its company, its three sandboxed providers and its
published API keys), with the org's routing, its people's hourly costs, and the address the demo
serves on. Reconciliation runs as soon as a meeting ends: the month is played in minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sandbox_demo.org import (
    ACCOUNT_EXECUTIVES,
    ACCOUNTS,
    HEAD_OF_SALES,
    HOURLY_COST_OVERRIDES,
    SOLUTIONS_ENGINEER,
)

SANDBOX_CONFIG = Path(__file__).resolve().parents[1] / "config" / "sandbox.yaml"
# The keys config/sandbox.yaml publishes (its header lists them next to their hashes).
CRM_KEY = "sm_sandbox_crm_3f9a1c7e5b2d4086"
REPORTS_KEY = "sm_sandbox_reports_8d2e6b4a1f0c9753"


def demo_config(public_url: str, sandbox_file: Path = SANDBOX_CONFIG) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(sandbox_file.read_text(encoding="utf-8"))
    config["public_url"] = public_url
    config["company"]["name"] = "Acme (salesmeet demo)"
    config["company"]["hourly_cost"]["overrides"] = dict(HOURLY_COST_OVERRIDES)
    for section in config["providers"].values():
        section["reconcile_delay_seconds"] = 0
    alex, bea, chen, dara, eli = (p.email for p in ACCOUNT_EXECUTIVES)
    microsoft_customers = [a.domain for a in ACCOUNTS if a.on_microsoft]
    # Every colleague is named in a rule: the sandboxes make the people the rules name their users
    # (Meet subscribes to their meetings' events).
    config["routing"] = {
        "rules": [
            {"when": {"kind": "customer", "attendee_domain": microsoft_customers}, "use": "teams"},
            {"when": {"organizer": [chen, dara]}, "use": "teams"},
            {"when": {"organizer": [eli, HEAD_OF_SALES.email]}, "use": "meet"},
            {"when": {"organizer": [alex, bea, SOLUTIONS_ENGINEER.email]}, "use": "zoom"},
        ],
        "default": "zoom",
    }
    config["worker"] = {
        "poll_interval_seconds": 0.2,
        "reconcile_sweep_interval_seconds": 30,
        # Small batches, so the demo's concurrent drains share HubSpot's deliveries out.
        "batch_size": 10,
    }
    return config
