"""The `salesmeet` command: config check, api-key new, refusing to start, and logs without secrets."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from service.cli import app
from service.logging import configure_logging

runner = CliRunner()

BAD_CONFIG = """\
public_url: http://127.0.0.1:8080
company:
  name: Acme
  internal_domains: [acme.example]
providers:
  zoom: {enabled: true, sandbox: true, client_secret: "s3cr3t-value"}
routing:
  rules:
    - use: zoom
    - use: webex
  default: zoom
api_keys:
  - {name: crm, scope: crm, hash: "plain-key-here"}
"""


def test_config_check_reports_every_mistake_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "salesmeet.yaml"
    path.write_text(BAD_CONFIG)
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2
    out = result.output
    assert f"{path}:6: providers.zoom.client_secret: secrets are not read from the config file" in out
    assert f"{path}:10: routing.rules[1].use: unknown provider 'webex'" in out
    assert "api_keys[0].hash" in out
    assert "s3cr3t-value" not in out and "plain-key-here" not in out


def test_config_check_accepts_the_shipped_sandbox_file() -> None:
    result = runner.invoke(app, ["config", "check", "config/sandbox.yaml"])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_serve_refuses_to_start_on_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "salesmeet.yaml"
    path.write_text(BAD_CONFIG)
    result = runner.invoke(app, ["serve", "--config", str(path), "--port", "1"])
    assert result.exit_code == 2
    assert "routing.rules[1].use" in result.output


def test_serve_refuses_a_live_provider_without_its_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SALESMEET_ZOOM_CLIENT_SECRET", raising=False)
    path = tmp_path / "salesmeet.yaml"
    live = (
        BAD_CONFIG.replace(
            'zoom: {enabled: true, sandbox: true, client_secret: "s3cr3t-value"}',
            "zoom: {enabled: true, account_id: acct, client_id: cid}",
        )
        .replace("    - use: webex\n", "")
        .replace('hash: "plain-key-here"', 'hash: "sha256:' + "0" * 64 + '"')
    )
    path.write_text(live)
    result = runner.invoke(app, ["serve", "--config", str(path), "--port", "1"])
    assert result.exit_code == 2
    assert "SALESMEET_ZOOM_CLIENT_SECRET" in result.output


def test_api_key_new_prints_a_key_and_its_hash_line() -> None:
    result = runner.invoke(app, ["api-key", "new", "hubspot", "--scope", "crm"])
    assert result.exit_code == 0
    key = re.search(r"\(shown once, give it to the caller\): (\S+)", result.output)
    assert key is not None
    digest = hashlib.sha256(key.group(1).encode()).hexdigest()
    assert f'{{name: "hubspot", scope: crm, hash: "sha256:{digest}"}}' in result.output
    assert runner.invoke(app, ["api-key", "new", "x", "--scope", "root"]).exit_code == 2


def test_db_upgrade_creates_the_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "nested" / "salesmeet.db"
    monkeypatch.setenv("SALESMEET_DATABASE_URL", f"sqlite:///{target}")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert target.exists()
    status = runner.invoke(app, ["inbox", "status"])
    assert status.output.splitlines() == ["unresolved: 0", "pending: 0", "done: 0", "parked: 0"]


@pytest.fixture
def json_logging(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    configure_logging(json_format=True)
    yield
    # The configured logger holds pytest's captured stderr, which closes after this test.
    structlog.reset_defaults()


@pytest.mark.usefixtures("json_logging")
def test_logs_never_carry_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger("t").info(
        "provider.token",
        client_secret="abc123",
        authorization="Bearer xyz",
        webhook_secret_token="tok",
        meeting_id="m1",
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["meeting_id"] == "m1"
    assert {line["client_secret"], line["authorization"], line["webhook_secret_token"]} == {"***"}
    assert "abc123" not in json.dumps(line) and "xyz" not in json.dumps(line)
