"""The admin config file, the environment settings and the routing rules they feed."""

from __future__ import annotations

import hashlib
import os
import re
import textwrap
from pathlib import Path
from typing import get_args

import pytest
import yaml
from pydantic import BaseModel
from pydantic_settings import SettingsError

from service.api.auth import ApiKeyring, Scope
from service.config.errors import ConfigError, ConfigIssue, format_location
from service.config.loader import check_config, load_config, parse_config
from service.config.schema import config_model, hash_api_key
from service.config.secrets import (
    SECRET_ENV_VARS,
    SECRET_NAMES,
    SECRETS_DIR_ENV,
    MissingSecretError,
    Settings,
    env_var_for,
    missing_secrets,
    redact_url,
    require_secret,
)
from service.domain.meeting import MeetingKind, ProviderName
from service.domain.routing import RouteChoice, RouteCondition, RouteRule, RoutingTable, choose_provider
from service.errors import Unauthorized

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "salesmeet.example.yaml"
SANDBOX = REPO / "config" / "sandbox.yaml"

CRM_HASH = "sha256:" + "a" * 64
ADMIN_HASH = "sha256:" + "b" * 64

# A small valid file; tests break one line of it and look for that line in the issue.
BASE = textwrap.dedent(
    f"""\
    public_url: https://meet.acme.example/
    company:
      name: Acme
      internal_domains: [Acme.Example, "@labs.acme.example"]
      timezone: Europe/Berlin
      hourly_cost:
        default: 50
        overrides:
          CRO@acme.example: 200
    providers:
      zoom:
        enabled: true
        account_id: acct-1
        client_id: cid-1
      teams:
        enabled: true
        sandbox: true
      meet:
        enabled: false
    routing:
      rules:
        - when: {{kind: customer}}
          use: teams
          fallback: zoom
        - when: {{organizer_domain: [emea.acme.example]}}
          use: zoom
        - use: zoom
      default: zoom
    api_keys:
      - name: hubspot
        scope: crm
        hash: "{CRM_HASH}"
      - name: ops
        scope: admin
        hash: "{ADMIN_HASH}"
    """
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the real environment: start every test without the machine's SALESMEET_* values."""
    for name in list(os.environ):
        if name.startswith("SALESMEET_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "salesmeet.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once in the test config"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    matches = [number for number, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(matches) == 1, f"{needle!r} must be on exactly one line"
    return matches[0]


def only_issue(tmp_path: Path, text: str) -> ConfigIssue:
    issues = check_config(write(tmp_path, text))
    assert len(issues) == 1, issues
    return issues[0]


# --------------------------------------------------------------------------------------------------
# Valid files


def test_base_config_loads_and_normalises(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE))

    assert config.public_url == "https://meet.acme.example"
    assert config.company.internal_domains == ("acme.example", "labs.acme.example")
    assert config.company.min_attendance_seconds == 60
    assert config.company.hourly_cost.currency == "USD"
    assert config.enabled_providers() == [ProviderName.ZOOM, ProviderName.TEAMS]
    assert config.providers.zoom is not None
    assert config.providers.zoom.token_url == "https://zoom.us/oauth/token"
    assert config.providers.zoom.api_base_url == "https://api.zoom.us/v2"
    assert config.worker.batch_size == 100
    assert config.url_for("/webhooks/zoom") == "https://meet.acme.example/webhooks/zoom"


def test_helpers_for_the_rest_of_the_service(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE))

    domains = config.company_domains()
    assert domains.is_internal("ann@eu.acme.example")
    assert domains.is_internal("bob@labs.acme.example")
    assert not domains.is_internal("carol@notacme.example")
    assert config.hourly_cost_for(" cro@ACME.example ") == 200.0
    assert config.hourly_cost_for("rep@acme.example") == 50.0
    assert config.provider_config(ProviderName.MEET) is not None
    assert config.routing_table().rules[0] == RouteRule(
        RouteCondition(kind=MeetingKind.CUSTOMER), ProviderName.TEAMS, ProviderName.ZOOM
    )


def test_api_keys_match_only_their_own_plain_key() -> None:
    config = parse_config(
        yaml.safe_load(
            edit(CRM_HASH, hash_api_key("sm_live_crm_key")).replace(
                ADMIN_HASH, hash_api_key("sm_live_admin_key")
            )
        )
    )

    keyring = ApiKeyring((k.name, k.scope.value, k.hash) for k in config.api_keys)
    crm = keyring.authenticate("Bearer sm_live_crm_key")
    admin = keyring.authenticate("Bearer sm_live_admin_key")
    assert (crm.key_name, crm.scope) == ("hubspot", Scope.CRM)
    assert admin.scope is Scope.ADMIN
    with pytest.raises(Unauthorized):
        keyring.authenticate("Bearer sm_live_crm_keyX")
    assert hash_api_key("abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()


def test_example_file_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.enabled_providers() == [ProviderName.ZOOM, ProviderName.TEAMS, ProviderName.MEET]


def _schema_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every leaf key the schema accepts, list items written without an index (`api_keys.name`)."""
    paths: set[str] = set()
    for name, field in model.model_fields.items():
        nested = _model_in(field.annotation)
        paths |= _schema_paths(nested, f"{prefix}{name}.") if nested else {f"{prefix}{name}"}
    return paths


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((found for arg in get_args(annotation) if (found := _model_in(arg))), None)


def _file_paths(node: object, prefix: str = "") -> set[str]:
    if isinstance(node, dict) and not prefix.endswith("overrides."):
        return set().union(*(_file_paths(value, f"{prefix}{key}.") for key, value in node.items()))
    if isinstance(node, list) and node and all(isinstance(item, dict) for item in node):
        return set().union(*(_file_paths(item, prefix) for item in node))
    return {prefix.rstrip(".")}


def test_example_file_shows_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    in_file = _file_paths(yaml.safe_load(text))
    missing = _schema_paths(config_model()) - in_file
    # The CA bundle must name an existing file, and HubSpot's signed_base_url and mapping `end`
    # are alternatives to a default, so the example shows them in comments (Salesforce's key file
    # must exist, like the CA bundle); a mapping's `context` is a free map, shown by its entries.
    assert missing == {
        "providers.teams.ca_bundle",
        "crm.hubspot.signed_base_url",
        "crm.hubspot.mapping.end",
        "crm.hubspot.mapping.context",
        "crm.salesforce.mapping.context",
        "crm.salesforce.private_key_file",
    }
    assert "# ca_bundle:" in text
    assert "# private_key_file:" in text
    assert "# signed_base_url:" in text
    assert "`end: meeting_end`" in text
    assert "context: {deal_id:" in text


def test_sandbox_file_loads_with_its_documented_keys() -> None:
    config = load_config(SANDBOX)

    assert config.public_url == "http://127.0.0.1:8080"
    assert config.enabled_providers() == [ProviderName.ZOOM, ProviderName.TEAMS, ProviderName.MEET]
    assert all(
        (section := config.provider_config(name)) and section.sandbox for name in config.enabled_providers()
    )
    assert config.routing.default is ProviderName.ZOOM
    documented = re.findall(
        r"#\s+(crm|reports|admin)\s+(sm_sandbox_\w+)", SANDBOX.read_text(encoding="utf-8")
    )
    assert len(documented) == 3
    keyring = ApiKeyring((k.name, k.scope.value, k.hash) for k in config.api_keys)
    for scope, plain_key in documented:
        assert keyring.authenticate(f"Bearer {plain_key}").scope == Scope(scope)
    assert missing_secrets(config, Settings()) == []


# --------------------------------------------------------------------------------------------------
# Each kind of mistake, with its place


@pytest.mark.parametrize(
    ("old", "new", "needle", "location", "message"),
    [
        (
            "public_url: https://meet.acme.example/",
            "public_url: ftp://meet.acme.example",
            "public_url",
            "public_url",
            "must be an http:// or https:// URL with a host",
        ),
        (
            "public_url: https://meet.acme.example/",
            "public_url: https://meet.acme.example/?x=1",
            "public_url",
            "public_url",
            "must be a base URL without query or fragment",
        ),
        (
            '  internal_domains: [Acme.Example, "@labs.acme.example"]',
            "  internal_domains: []",
            "internal_domains",
            "company.internal_domains",
            "must list at least 1 item(s)",
        ),
        (
            '"@labs.acme.example"]',
            '"not a domain"]',
            "internal_domains",
            "company.internal_domains[1]",
            "not a domain name: 'not a domain'",
        ),
        (
            "timezone: Europe/Berlin",
            "timezone: Mars/Olympus",
            "timezone",
            "company.timezone",
            "unknown time zone 'Mars/Olympus' (expected an IANA name like 'Europe/Berlin')",
        ),
        (
            "    default: 50",
            "    default: -5",
            "default: -5",
            "company.hourly_cost.default",
            "Input should be greater than or equal to 0",
        ),
        (
            "CRO@acme.example: 200",
            "CRO: 200",
            "CRO: 200",
            "company.hourly_cost.overrides.CRO",
            "not an e-mail address: 'CRO'",
        ),
        (
            "  timezone: Europe/Berlin",
            "  timzone: Europe/Berlin",
            "timzone",
            "company.timzone",
            "unknown key 'timzone' (did you mean 'timezone'?)",
        ),
        (
            "    sandbox: true",
            "    sandbox: true\n    frobnicate: 3",
            "frobnicate",
            "providers.teams.frobnicate",
            "unknown key 'frobnicate'; expected one of: enabled, sandbox, timeout_seconds, max_concurrency, "
            "reconcile_delay_seconds, instance_window_before_minutes, instance_window_after_minutes, "
            "tenant_id, client_id, authority_url, graph_base_url, ca_bundle, "
            "max_retries, retry_base_delay_seconds, max_retry_wait_seconds, subscription_lifetime_minutes, "
            "subscription_renew_before_minutes",
        ),
        (
            "  meet:\n",
            "  webex:\n",
            "webex",
            "providers.webex",
            "unknown provider 'webex' (known: zoom, teams, meet)",
        ),
        (
            "    account_id: acct-1\n",
            "",
            "  zoom:",
            "providers.zoom.account_id",
            "required when zoom is enabled without sandbox: true",
        ),
        (
            "    - use: zoom",
            "    - use: webex",
            "use: webex",
            "routing.rules[2].use",
            "unknown provider 'webex'",
        ),
        (
            "  default: zoom",
            "  default: meet",
            "default: meet",
            "routing.default",
            "provider 'meet' is not enabled",
        ),
        (
            "      fallback: zoom",
            "      fallback: meet",
            "fallback: meet",
            "routing.rules[0].fallback",
            "provider 'meet' is not enabled",
        ),
        (
            "      fallback: zoom",
            "      fallback: teams",
            "fallback: teams",
            "routing.rules[0].fallback",
            "the fallback must be a different provider than 'use'",
        ),
        (
            "{kind: customer}",
            "{kind: prospect}",
            "kind: prospect",
            "routing.rules[0].when.kind",
            "Input should be 'internal' or 'customer'",
        ),
        (
            "[emea.acme.example]",
            "[]",
            "organizer_domain",
            "routing.rules[1].when.organizer_domain",
            "must list at least 1 item(s)",
        ),
        (
            "  default: zoom",
            "",
            "routing:",
            "routing.default",
            "required key is missing",
        ),
        (
            "    scope: admin",
            "    scope: root",
            "scope: root",
            "api_keys[1].scope",
            "Input should be 'crm', 'reports' or 'admin'",
        ),
        (
            "  - name: ops",
            "  - name:  hubspot ",
            "name:  hubspot ",
            "api_keys[1].name",
            "duplicate name 'hubspot' (also api_keys[0])",
        ),
        (
            f'hash: "{ADMIN_HASH}"',
            f'hash:   "{CRM_HASH}"',
            'hash:   "',
            "api_keys[1].hash",
            "duplicate key (the same hash) (also api_keys[0])",
        ),
        (
            CRM_HASH,
            "sha256:" + "A" * 64,
            "AAAA",
            "api_keys[0].hash",
            "must be 'sha256:' followed by 64 lowercase hex digits",
        ),
        (
            CRM_HASH,
            "a" * 64,
            "a" * 64,
            "api_keys[0].hash",
            "missing the 'sha256:' prefix; write it as 'sha256:<64 lowercase hex>'",
        ),
        (
            "api_keys:",
            "database: postgresql://db/salesmeet\napi_keys:",
            "database:",
            "database",
            "the database URL is not read from the config file; set SALESMEET_DATABASE_URL",
        ),
        (
            "routing:",
            "worker:\n  batch_size: 0\nrouting:",
            "batch_size",
            "worker.batch_size",
            "Input should be greater than or equal to 1",
        ),
    ],
)
def test_each_mistake_is_reported_with_its_place(
    tmp_path: Path, old: str, new: str, needle: str, location: str, message: str
) -> None:
    text = edit(old, new)
    issue = only_issue(tmp_path, text)
    assert issue == ConfigIssue(location, message, line_of(text, needle))


def test_duplicate_key_names_the_first_line(tmp_path: Path) -> None:
    text = edit("    sandbox: true", "    sandbox: true\n    enabled: false")
    first = line_of(text, "  teams:") + 1
    second = first + 2
    assert text.splitlines()[second - 1] == "    enabled: false"

    issues = check_config(write(tmp_path, text))

    # YAML keeps the last value, so teams is now disabled and routing to it is reported as well.
    assert (
        ConfigIssue(
            "providers.teams.enabled",
            f"duplicate key (first at line {first}); YAML would keep only the last one",
            second,
        )
        in issues
    )
    assert (
        ConfigIssue("routing.rules[0].use", "provider 'teams' is not enabled", line_of(text, "use: teams"))
        in issues
    )


def test_a_missing_top_level_key_has_no_line(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, edit("public_url: https://meet.acme.example/\n", ""))
    assert issue == ConfigIssue("public_url", "required key is missing", None)


def test_ca_bundle_is_resolved_next_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "proxy.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    config = load_config(
        write(tmp_path, edit("    sandbox: true", "    sandbox: true\n    ca_bundle: proxy.pem"))
    )
    assert config.providers.teams is not None
    assert config.providers.teams.ca_bundle == tmp_path / "proxy.pem"


def test_a_missing_ca_bundle_is_reported(tmp_path: Path) -> None:
    text = edit("    sandbox: true", "    sandbox: true\n    ca_bundle: nowhere.pem")
    issue = only_issue(tmp_path, text)
    assert issue == ConfigIssue(
        "providers.teams.ca_bundle", f"no such file: {tmp_path / 'nowhere.pem'}", line_of(text, "ca_bundle")
    )


def test_every_issue_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        BASE.replace("https://meet.acme.example/", "meet.acme.example")
        .replace("Europe/Berlin", "Nowhere/Town")
        .replace("  name: Acme", "  nmae: Acme")
        .replace("    - use: zoom", "    - use: webex")
        .replace("    scope: admin", "    scope: root")
    )
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    located = [(issue.location, issue.line) for issue in caught.value.issues]
    assert located == [
        ("public_url", 1),
        ("company.name", 2),  # missing, so the line of its parent
        ("company.nmae", 3),
        ("company.timezone", 5),
        ("routing.rules[2].use", line_of(text, "use: webex")),
        ("api_keys[1].scope", line_of(text, "scope: root")),
    ]
    rendered = str(caught.value).splitlines()
    assert len(rendered) == 6
    assert f"{path}:{line_of(text, 'use: webex')}: routing.rules[2].use: unknown provider 'webex'" in rendered
    assert f"{path}:2: company.name: required key is missing" in rendered


def test_parse_config_applies_the_same_checks_without_lines() -> None:
    data = yaml.safe_load(edit("  default: zoom", "  default: meet"))
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.issues == [ConfigIssue("routing.default", "provider 'meet' is not enabled", None)]
    assert str(caught.value) == "<config>: routing.default: provider 'meet' is not enabled"


# --------------------------------------------------------------------------------------------------
# Secrets and plain keys never belong in the file


@pytest.mark.parametrize(
    ("provider_line", "secret_key", "env_var"),
    [
        ("  zoom:", "client_secret", "SALESMEET_ZOOM_CLIENT_SECRET"),
        ("  zoom:", "secret_token", "SALESMEET_ZOOM_WEBHOOK_SECRET_TOKEN"),
        ("  zoom:", "webhook_secret_token", "SALESMEET_ZOOM_WEBHOOK_SECRET_TOKEN"),
        ("  teams:", "client_secret", "SALESMEET_TEAMS_CLIENT_SECRET"),
        ("  teams:", "client_state", "SALESMEET_TEAMS_CLIENT_STATE"),
        ("  meet:", "private_key", "SALESMEET_GOOGLE_SERVICE_ACCOUNT_FILE"),
    ],
)
def test_secrets_in_the_file_are_refused(
    tmp_path: Path, provider_line: str, secret_key: str, env_var: str
) -> None:
    text = edit(f"{provider_line}\n", f"{provider_line}\n    {secret_key}: hunter2-very-secret\n")
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    provider = provider_line.strip(" :")
    assert caught.value.issues == [
        ConfigIssue(
            f"providers.{provider}.{secret_key}",
            f"secrets are not read from the config file; set {env_var}",
            line_of(text, secret_key),
        )
    ]
    assert "hunter2" not in str(caught.value)


def test_secrets_nested_deeper_are_refused_too(tmp_path: Path) -> None:
    text = edit("  meet:\n", "  meet:\n    keys:\n      - private_key: '-----BEGIN PRIVATE KEY-----'\n")
    issues = check_config(write(tmp_path, text))
    assert (
        ConfigIssue(
            "providers.meet.keys[0].private_key",
            "secrets are not read from the config file; set SALESMEET_GOOGLE_SERVICE_ACCOUNT_FILE",
            line_of(text, "private_key"),
        )
        in issues
    )
    assert not any("BEGIN" in issue.message for issue in issues)


def test_a_plain_api_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    text = edit(CRM_HASH, "sm_live_4f8a0c2e9b7d1e35")
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    [issue] = caught.value.issues
    assert (issue.location, issue.line) == ("api_keys[0].hash", line_of(text, "sm_live_"))
    assert issue.message.startswith("looks like a plain API key")
    assert "sm_live_4f8a0c2e9b7d1e35" not in str(caught.value)
    assert "4f8a0c2e" not in repr(caught.value.issues)


# --------------------------------------------------------------------------------------------------
# The file itself


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.issues == [
        ConfigIssue("<file>", "cannot read the config file: No such file or directory")
    ]
    assert str(caught.value) == f"{path}: <file>: cannot read the config file: No such file or directory"


def test_a_yaml_syntax_error_carries_its_line(tmp_path: Path) -> None:
    text = edit("  name: Acme", "  name: [Acme")
    [issue] = check_config(write(tmp_path, text))
    assert issue.location == "<file>"
    assert issue.message.startswith("not valid YAML:")
    assert issue.line is not None and issue.line >= line_of(text, "name: [Acme")


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("", "the config file is empty", None),
        ("# only a comment\n", "the config file is empty", None),
        ("- a\n- b\n", "the config file must be a mapping of keys, not a list", 1),
        ("just text\n", "the config file must be a mapping of keys, not a str", 1),
    ],
)
def test_a_file_that_is_not_a_mapping_is_refused(
    tmp_path: Path, text: str, message: str, line: int | None
) -> None:
    assert check_config(write(tmp_path, text)) == [ConfigIssue("<file>", message, line)]


def test_location_format() -> None:
    assert format_location(("routing", "rules", 2, "use")) == "routing.rules[2].use"
    assert format_location(("company", "hourly_cost", "overrides", "a@b.example")) == (
        'company.hourly_cost.overrides["a@b.example"]'
    )
    assert format_location(("api_keys", 0)) == "api_keys[0]"


# --------------------------------------------------------------------------------------------------
# Routing


ROUTES = RoutingTable(
    rules=(
        RouteRule(RouteCondition(organizers=("ceo@acme.example",)), ProviderName.MEET),
        RouteRule(
            RouteCondition(kind=MeetingKind.CUSTOMER, attendee_domains=("contoso.example",)),
            ProviderName.TEAMS,
            fallback=ProviderName.ZOOM,
        ),
        RouteRule(RouteCondition(organizer_domains=("emea.acme.example",)), ProviderName.MEET),
        RouteRule(RouteCondition(kind=MeetingKind.INTERNAL), ProviderName.TEAMS),
    ),
    default=ProviderName.ZOOM,
)


@pytest.mark.parametrize(
    ("kind", "organizer", "attendees", "expected"),
    [
        # organizer list, case-insensitive; wins over later rules
        (MeetingKind.INTERNAL, "CEO@acme.example", [], RouteChoice(ProviderName.MEET, None, 0)),
        # kind + attendee domain (a subdomain counts), with the rule's fallback
        (
            MeetingKind.CUSTOMER,
            "rep@acme.example",
            ["x@other.example", "buyer@EU.Contoso.example"],
            RouteChoice(ProviderName.TEAMS, ProviderName.ZOOM, 1),
        ),
        # every condition must hold: attendee domain matches but the kind does not
        (
            MeetingKind.INTERNAL,
            "rep@acme.example",
            ["buyer@contoso.example"],
            RouteChoice(ProviderName.TEAMS, None, 3),
        ),
        # a look-alike domain is not a subdomain
        (
            MeetingKind.CUSTOMER,
            "rep@acme.example",
            ["buyer@notcontoso.example"],
            RouteChoice(ProviderName.ZOOM, None, None),
        ),
        # organizer domain, subdomain included
        (MeetingKind.CUSTOMER, "rep@paris.emea.acme.example", [], RouteChoice(ProviderName.MEET, None, 2)),
        (MeetingKind.CUSTOMER, "rep@emea.acme.example", [], RouteChoice(ProviderName.MEET, None, 2)),
        # kind only
        (MeetingKind.INTERNAL, "rep@acme.example", [], RouteChoice(ProviderName.TEAMS, None, 3)),
        # nothing matches: the default, which has no fallback
        (
            MeetingKind.CUSTOMER,
            "rep@acme.example",
            ["a@b.example"],
            RouteChoice(ProviderName.ZOOM, None, None),
        ),
    ],
)
def test_routing_choice(
    kind: MeetingKind, organizer: str, attendees: list[str], expected: RouteChoice
) -> None:
    assert (
        choose_provider(ROUTES, kind=kind, organizer_email=organizer, attendee_emails=attendees) == expected
    )


def test_a_rule_with_an_empty_when_matches_everything() -> None:
    table = RoutingTable(rules=(RouteRule(RouteCondition(), ProviderName.TEAMS),), default=ProviderName.ZOOM)
    choice = choose_provider(
        table, kind=MeetingKind.CUSTOMER, organizer_email="x@y.example", attendee_emails=[]
    )
    assert choice == RouteChoice(ProviderName.TEAMS, None, 0)


def test_routing_from_the_config_file(tmp_path: Path) -> None:
    text = edit("    - use: zoom\n", "").replace(
        "{organizer_domain: [emea.acme.example]}",
        "{organizer: CRO@acme.example, attendee_domain: beta.example}",
    )
    table = load_config(write(tmp_path, text)).routing_table()

    assert table.rules[1].when == RouteCondition(
        organizers=("cro@acme.example",), attendee_domains=("beta.example",)
    )
    internal = choose_provider(
        table,
        kind=MeetingKind.INTERNAL,
        organizer_email="cro@acme.example",
        attendee_emails=["a@x.beta.example"],
    )
    assert internal == RouteChoice(ProviderName.ZOOM, None, 1)
    other = choose_provider(
        table, kind=MeetingKind.INTERNAL, organizer_email="rep@acme.example", attendee_emails=[]
    )
    assert other == RouteChoice(ProviderName.ZOOM, None, None)


# --------------------------------------------------------------------------------------------------
# Settings from the environment and a secrets dir


def test_settings_defaults() -> None:
    settings = Settings()
    assert settings.config == Path("config/salesmeet.yaml")
    assert settings.database_url == "sqlite:///./data/salesmeet.db"
    assert (settings.log_format, settings.log_level) == ("console", "INFO")
    assert all(settings.secret(name) is None for name in SECRET_NAMES)


def test_settings_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESMEET_CONFIG", "/etc/salesmeet/prod.yaml")
    monkeypatch.setenv("SALESMEET_DATABASE_URL", "postgresql://app:pw@db/salesmeet")
    monkeypatch.setenv("SALESMEET_LOG_FORMAT", "json")
    monkeypatch.setenv("SALESMEET_LOG_LEVEL", "debug")
    monkeypatch.setenv("SALESMEET_ZOOM_CLIENT_SECRET", "zs-123")
    monkeypatch.setenv("SALESMEET_TEAMS_CLIENT_STATE", "   ")  # blank means unset

    settings = Settings()

    assert settings.config == Path("/etc/salesmeet/prod.yaml")
    assert settings.log_format == "json"
    assert settings.log_level == "DEBUG"
    assert require_secret(settings, "zoom_client_secret") == "zs-123"
    assert settings.secret("teams_client_state") is None


def test_settings_from_a_secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "SALESMEET_TEAMS_CLIENT_SECRET").write_text("from-file\n", encoding="utf-8")
    (tmp_path / "SALESMEET_ZOOM_CLIENT_SECRET").write_text("file-loses", encoding="utf-8")
    monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("SALESMEET_ZOOM_CLIENT_SECRET", "env-wins")

    settings = Settings()

    assert require_secret(settings, "teams_client_secret") == "from-file"
    assert require_secret(settings, "zoom_client_secret") == "env-wins"


def test_a_secrets_dir_that_does_not_exist_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path / "not-mounted"))
    with pytest.raises(SettingsError, match="SALESMEET_SECRETS_DIR"):
        Settings()


def test_invalid_log_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESMEET_LOG_LEVEL", "chatty")
    with pytest.raises(ValueError, match="log_level"):
        Settings()


def test_redacted_settings_hide_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESMEET_DATABASE_URL", "postgresql+psycopg://app:s3cr3t@db:5432/salesmeet")
    monkeypatch.setenv("SALESMEET_ZOOM_WEBHOOK_SECRET_TOKEN", "wh-token-value")

    shown = Settings().redacted()

    assert shown["database_url"] == "postgresql+psycopg://app:***@db:5432/salesmeet"
    assert shown["zoom_webhook_secret_token"] == "***"
    assert shown["zoom_client_secret"] == "unset"
    assert set(shown) == {"config", "database_url", "log_format", "log_level", *SECRET_NAMES}
    assert "s3cr3t" not in repr(shown) and "wh-token-value" not in repr(shown)
    assert "wh-token-value" not in repr(Settings())
    assert redact_url("sqlite:///./data/salesmeet.db") == "sqlite:///./data/salesmeet.db"


def test_require_secret_names_the_variable() -> None:
    with pytest.raises(MissingSecretError, match="SALESMEET_GOOGLE_SERVICE_ACCOUNT_FILE is not set"):
        require_secret(Settings(), "google_service_account_file")


def test_missing_secrets_only_for_enabled_live_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    data = yaml.safe_load(
        edit("    enabled: false", "    enabled: true\n    delegated_user: bot@acme.example")
    )
    config = parse_config(data)  # zoom and meet live, teams sandboxed
    monkeypatch.setenv("SALESMEET_ZOOM_CLIENT_SECRET", "zs")

    issues = missing_secrets(config, Settings())

    assert [issue.location for issue in issues] == [
        "env.SALESMEET_ZOOM_WEBHOOK_SECRET_TOKEN",
        "env.SALESMEET_GOOGLE_SERVICE_ACCOUNT_FILE",
    ]
    assert issues[0].message == "not set, and providers.zoom is enabled without sandbox: true"


def test_every_secret_the_file_points_to_is_a_setting() -> None:
    assert {env_var_for(name) for name in SECRET_NAMES} == SECRET_ENV_VARS
