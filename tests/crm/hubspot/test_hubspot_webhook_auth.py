"""HubSpot's two ways of proving a request: the workflow action's API key (its own secret) and the
app's client secret (HubSpot's signatures). With `webhook_auth: api_key` the workflow takes the key
and the video-conferencing extension still takes the app's signatures; each secret is needed only
where it is used, and the config check names the variable that is missing or misplaced."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from integrations.crm.hubspot.config import HubSpotConfig
from integrations.crm.hubspot.plugin import PLUGIN, build_hubspot
from integrations.crm.hubspot.signature import sign_v3
from integrations.crm.plugin import CrmContext, CrmParts
from integrations.plugin import Accept, Reject, WebhookRequest
from service.bootstrap import build_runtime
from service.cli import app
from service.config.errors import ConfigError
from service.config.loader import parse_config
from service.config.secrets import MissingSecretError, Settings, missing_secrets
from tests.support import sandbox_config

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
PUBLIC_URL = "https://salesmeet.acme.example"
ACCESS_TOKEN = "pat-na1-0f3e9d2c-token"
APP_SECRET = "app-client-secret-7b1d9e"
API_KEY = "workflow-key-5c2a8f61e0d94b37"
BODY = json.dumps({"hs_object_id": "4711", "meeting_start": 1796119200000}).encode()

runner = CliRunner()


def built(secrets: dict[str, str], **section: Any) -> CrmParts:
    return build_hubspot(
        CrmContext(
            section=HubSpotConfig(enabled=True, **section),
            secrets={"hubspot_access_token": ACCESS_TOKEN, **secrets},
            public_url=PUBLIC_URL,
            internal_domains=("acme.example",),
            clock=lambda: NOW,
        )
    )


def v3_headers(secret: str, url: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(NOW.timestamp() * 1000))
    return {
        "x-hubspot-signature-v3": sign_v3(secret, "POST", url, body, timestamp),
        "x-hubspot-request-timestamp": timestamp,
    }


async def workflow_verdict(parts: CrmParts, headers: dict[str, str], query: bytes = b"") -> Accept | Reject:
    (endpoint,) = parts.inbound
    verdict = await endpoint.check(WebhookRequest(BODY, headers, query))
    assert isinstance(verdict, Accept | Reject)
    return verdict


def refusal(verdict: Accept | Reject) -> tuple[int, str]:
    assert isinstance(verdict, Reject), verdict
    return verdict.status, verdict.code


# --- the workflow in api_key mode ----------------------------------------------------------------


async def test_api_key_mode_accepts_the_key_and_refuses_a_wrong_or_missing_one() -> None:
    parts = built({"hubspot_webhook_api_key": API_KEY}, webhook_auth="api_key")
    assert isinstance(await workflow_verdict(parts, {"x-salesmeet-key": API_KEY}), Accept)
    wrong = await workflow_verdict(parts, {"x-salesmeet-key": API_KEY[:-1] + "0"})
    assert refusal(wrong) == (401, "bad_api_key")
    longer = await workflow_verdict(parts, {"x-salesmeet-key": API_KEY + "0"})
    assert refusal(longer) == (401, "bad_api_key")
    assert refusal(await workflow_verdict(parts, {})) == (401, "missing_api_key")
    assert refusal(await workflow_verdict(parts, {"x-salesmeet-key": ""})) == (401, "missing_api_key")
    signed = v3_headers(APP_SECRET, f"{PUBLIC_URL}/webhooks/hubspot", BODY)
    assert refusal(await workflow_verdict(parts, signed)) == (401, "missing_api_key")
    (endpoint,) = parts.inbound
    assert endpoint.credential_headers == frozenset({"x-salesmeet-key"})  # checked, never stored


async def test_the_app_secret_is_not_taken_as_the_api_key() -> None:
    parts = built(
        {"hubspot_webhook_api_key": API_KEY, "hubspot_app_secret": APP_SECRET}, webhook_auth="api_key"
    )
    assert refusal(await workflow_verdict(parts, {"x-salesmeet-key": APP_SECRET})) == (401, "bad_api_key")


async def test_a_key_in_the_query_string_is_read_from_the_named_parameter() -> None:
    parts = built(
        {"hubspot_webhook_api_key": API_KEY},
        webhook_auth="api_key",
        api_key_location="query",
        api_key_name="key",
    )
    assert isinstance(await workflow_verdict(parts, {}, f"key={API_KEY}".encode()), Accept)
    assert refusal(await workflow_verdict(parts, {}, b"key=guess")) == (401, "bad_api_key")
    assert refusal(await workflow_verdict(parts, {}, f"other={API_KEY}".encode())) == (401, "missing_api_key")


async def test_signature_mode_still_takes_only_the_app_secrets_signature() -> None:
    parts = built({"hubspot_app_secret": APP_SECRET, "hubspot_webhook_api_key": API_KEY})
    url = f"{PUBLIC_URL}/webhooks/hubspot"
    assert isinstance(await workflow_verdict(parts, v3_headers(APP_SECRET, url, BODY)), Accept)
    assert refusal(await workflow_verdict(parts, v3_headers(API_KEY, url, BODY))) == (401, "bad_signature")
    assert refusal(await workflow_verdict(parts, {"x-salesmeet-key": API_KEY})) == (401, "missing_signature")


# --- the extension in api_key mode ---------------------------------------------------------------


async def test_the_extensions_signed_calls_verify_with_the_app_secret_in_api_key_mode() -> None:
    parts = built(
        {"hubspot_webhook_api_key": API_KEY, "hubspot_app_secret": APP_SECRET}, webhook_auth="api_key"
    )
    assert {a.path for a in parts.actions} == {
        "/crm/hubspot/video/create",
        "/crm/hubspot/video/update",
        "/crm/hubspot/video/delete",
        "/crm/hubspot/video/verify-user",
    }
    body = b'{"portalId": 62515, "userEmail": "host@acme.example"}'
    for action in parts.actions:
        url = f"{PUBLIC_URL}{action.path}"
        accepted = await action.check(WebhookRequest(body, v3_headers(APP_SECRET, url, body)))
        assert isinstance(accepted, Accept), action.path
        by_key = await action.check(WebhookRequest(body, v3_headers(API_KEY, url, body)))
        assert refusal(by_key) == (401, "bad_signature")
        bare_key = await action.check(WebhookRequest(body, {"x-salesmeet-key": API_KEY}))
        assert refusal(bare_key) == (401, "missing_signature")


def test_without_the_app_secret_api_key_mode_runs_the_workflow_and_leaves_the_extension_out() -> None:
    parts = built({"hubspot_webhook_api_key": API_KEY}, webhook_auth="api_key")
    assert len(parts.inbound) == 1
    assert parts.actions == ()


# --- which secrets a section needs, and what the config check says ---------------------------------


def live_hubspot(**section: Any) -> dict[str, Any]:
    data = sandbox_config(PUBLIC_URL)
    data["crm"] = {"hubspot": {"enabled": True, **section}}
    return data


def test_each_mode_needs_its_own_secret_and_the_access_token() -> None:
    names = {spec.name for spec in PLUGIN.required_secrets(HubSpotConfig(enabled=True))}
    assert names == {"hubspot_access_token", "hubspot_app_secret"}
    api_key = HubSpotConfig(enabled=True, webhook_auth="api_key")
    assert {spec.name for spec in PLUGIN.required_secrets(api_key)} == {
        "hubspot_access_token",
        "hubspot_webhook_api_key",
    }


def test_api_key_mode_with_only_the_app_secret_names_the_new_variable() -> None:
    config = parse_config(live_hubspot(webhook_auth="api_key"))
    settings = Settings().with_secrets({"hubspot_access_token": ACCESS_TOKEN, "hubspot_app_secret": API_KEY})
    issues = missing_secrets(config, settings)
    assert [(i.location, i.message) for i in issues] == [
        (
            "env.SALESMEET_HUBSPOT_WEBHOOK_API_KEY",
            "not set, and crm.hubspot is enabled without sandbox: true",
        )
    ]
    with_key = settings.with_secrets({"hubspot_webhook_api_key": API_KEY})
    assert missing_secrets(config, with_key) == []
    only_key = Settings().with_secrets(
        {"hubspot_access_token": ACCESS_TOKEN, "hubspot_webhook_api_key": API_KEY}
    )
    assert missing_secrets(config, only_key) == []  # the extension is optional


def test_signature_mode_names_the_app_secret_even_when_an_api_key_is_set() -> None:
    config = parse_config(live_hubspot())
    settings = Settings().with_secrets(
        {"hubspot_access_token": ACCESS_TOKEN, "hubspot_webhook_api_key": API_KEY}
    )
    assert [i.location for i in missing_secrets(config, settings)] == ["env.SALESMEET_HUBSPOT_APP_SECRET"]


@pytest.mark.parametrize(
    ("key", "variable"),
    [
        ("api_key_value", "SALESMEET_HUBSPOT_WEBHOOK_API_KEY"),
        ("webhook_api_key", "SALESMEET_HUBSPOT_WEBHOOK_API_KEY"),
        ("api_key", "SALESMEET_HUBSPOT_WEBHOOK_API_KEY"),
        ("app_secret", "SALESMEET_HUBSPOT_APP_SECRET"),
        ("client_secret", "SALESMEET_HUBSPOT_APP_SECRET"),
        ("access_token", "SALESMEET_HUBSPOT_ACCESS_TOKEN"),
    ],
)
def test_a_secret_written_under_crm_hubspot_names_its_variable(key: str, variable: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(live_hubspot(webhook_auth="api_key", **{key: "hunter2-in-the-file"}))
    assert [(i.location, i.message) for i in refused.value.issues] == [
        (f"crm.hubspot.{key}", f"secrets are not read from the config file; set {variable}")
    ]
    assert "hunter2" not in str(refused.value)


def test_config_check_refuses_api_key_mode_with_only_the_app_secret_and_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "salesmeet.yaml"
    path.write_text(yaml.safe_dump(live_hubspot(webhook_auth="api_key")), encoding="utf-8")
    monkeypatch.delenv("SALESMEET_SECRETS_DIR", raising=False)
    monkeypatch.delenv("SALESMEET_HUBSPOT_WEBHOOK_API_KEY", raising=False)
    monkeypatch.setenv("SALESMEET_HUBSPOT_ACCESS_TOKEN", ACCESS_TOKEN)
    monkeypatch.setenv("SALESMEET_HUBSPOT_APP_SECRET", API_KEY)  # where the key's value used to go
    refused = runner.invoke(app, ["config", "check", str(path)])
    assert refused.exit_code == 2, refused.output
    assert f"{path}: env.SALESMEET_HUBSPOT_WEBHOOK_API_KEY: not set" in refused.output
    assert API_KEY not in refused.output and ACCESS_TOKEN not in refused.output
    monkeypatch.setenv("SALESMEET_HUBSPOT_WEBHOOK_API_KEY", API_KEY)
    passed = runner.invoke(app, ["config", "check", str(path)])
    assert passed.exit_code == 0, passed.output
    assert API_KEY not in passed.output


def test_startup_refuses_api_key_mode_with_only_the_app_secret(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'salesmeet.db'}").with_secrets(
        {"hubspot_access_token": ACCESS_TOKEN, "hubspot_app_secret": API_KEY}
    )
    with pytest.raises(MissingSecretError, match=r"^SALESMEET_HUBSPOT_WEBHOOK_API_KEY is not set") as refused:
        build_runtime(parse_config(live_hubspot(webhook_auth="api_key")), settings)
    assert API_KEY not in str(refused.value)
