"""The admin config file: its schema, and a loader that reports every mistake with its place.

    load_config(path) -> AppConfig        raises ConfigError listing every ConfigIssue at once
    check_config(path) -> list[ConfigIssue]
    parse_config(data) -> AppConfig       the same checks for an already-parsed mapping (tests, tools)

Every model forbids unknown keys so a typo is reported, not silently ignored. Secrets are refused
here on purpose: they come from the environment (`service.settings`), never from this file.
An issue's `location` is a dotted path with indices (`routing.rules[2].use`); its `line` is the
line of that key in the file, or of its closest parent present when the key itself is missing.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from service.domain.meeting import CompanyDomains, InvalidTimezone, MeetingKind, ProviderName, parse_timezone
from service.domain.routing import RouteCondition, RouteRule, RoutingTable

Loc = tuple[str | int, ...]


# --------------------------------------------------------------------------------------------------
# Issues and the error that carries them


@dataclass(frozen=True)
class ConfigIssue:
    location: str
    message: str
    line: int | None = None


class ConfigError(Exception):
    """The config file is unusable; `issues` holds every problem found, in file order."""

    def __init__(self, issues: list[ConfigIssue], *, path: Path | None = None) -> None:
        self.issues = list(issues)
        self.path = path
        super().__init__(self._render())

    def _render(self) -> str:
        source = str(self.path) if self.path is not None else "<config>"
        lines = []
        for issue in self.issues:
            place = f"{source}:{issue.line}" if issue.line is not None else source
            lines.append(f"{place}: {issue.location}: {issue.message}")
        return "\n".join(lines)


FILE_LOCATION = "<file>"


def format_location(loc: Sequence[str | int]) -> str:
    """`("routing", "rules", 2, "use")` -> `routing.rules[2].use`; odd keys (e-mails) are quoted."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


# --------------------------------------------------------------------------------------------------
# Field types


def _custom(kind: str, message: str, **context: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message, context or None)


_EMAIL = re.compile(r"[^@\s]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+")
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+")
_SHA256_KEY_HASH = re.compile(r"sha256:[0-9a-f]{64}")
_BARE_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_PUBSUB_TOPIC = re.compile(r"projects/[^/\s]+/topics/[^/\s]+")
_CURRENCY = re.compile(r"[A-Z]{3}")


def _email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise _custom("email", "not an e-mail address: {value}", value=repr(value))
    return email


def _domain(value: str) -> str:
    domain = value.strip().lower().lstrip("@").rstrip(".")
    if not _DOMAIN.fullmatch(domain):
        raise _custom("domain", "not a domain name: {value}", value=repr(value))
    return domain


def _http_url(value: str) -> str:
    # The value is not echoed: a URL may carry credentials someone pasted by mistake.
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value.strip():
        raise _custom("http_url", "must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise _custom(
            "url_credentials", "must not carry credentials; secrets are not read from the config file"
        )
    return value.strip()


def _public_url(value: str) -> str:
    url = _http_url(value)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise _custom("public_url", "must be a base URL without query or fragment")
    # Stored without the trailing slash so callers can append "/webhooks/zoom" safely.
    return url.rstrip("/")


def _timezone(value: str) -> str:
    try:
        parse_timezone(value)
    except InvalidTimezone as exc:
        raise _custom(
            "timezone", "{reason} (expected an IANA name like 'Europe/Berlin')", reason=str(exc)
        ) from exc
    return value


def _known_provider(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() in {p.value for p in ProviderName}:
        return value.strip().lower()
    raise _custom("unknown_provider", "unknown provider {name}", name=repr(value))


def _one_or_many(value: object) -> object:
    """`organizer: ann@acme.com` is read as a one-item list; it cannot mean anything else."""
    return [value] if isinstance(value, str) else value


def _api_key_hash(value: str) -> str:
    # Never echo the value: if it is a plain key, echoing it would leak it into logs.
    if _SHA256_KEY_HASH.fullmatch(value):
        return value
    if _BARE_HEX_DIGEST.fullmatch(value.strip()):
        raise _custom("api_key_hash", "missing the 'sha256:' prefix; write it as 'sha256:<64 lowercase hex>'")
    if value.startswith("sha256:"):
        raise _custom("api_key_hash", "must be 'sha256:' followed by 64 lowercase hex digits")
    raise _custom(
        "plain_api_key",
        "looks like a plain API key: the config file holds only its hash, 'sha256:<64 lowercase hex>' "
        "(`salesmeet api-key new` prints the line to paste); the value is not shown here",
    )


def _pubsub_topic(value: str) -> str:
    if not _PUBSUB_TOPIC.fullmatch(value.strip()):
        raise _custom("pubsub_topic", "must look like 'projects/<project>/topics/<topic>'")
    return value.strip()


def _currency(value: str) -> str:
    code = value.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise _custom("currency", "must be a three-letter ISO 4217 code such as 'USD'")
    return code


Email = Annotated[str, AfterValidator(_email)]
Domain = Annotated[str, AfterValidator(_domain)]
HttpEndpoint = Annotated[str, AfterValidator(_http_url)]
Provider = Annotated[ProviderName, BeforeValidator(_known_provider)]
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
EmailList = Annotated[tuple[Email, ...], BeforeValidator(_one_or_many), Field(min_length=1)]
DomainList = Annotated[tuple[Domain, ...], BeforeValidator(_one_or_many), Field(min_length=1)]
PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]


# --------------------------------------------------------------------------------------------------
# The schema


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ProviderBase(_Section):
    """Settings every provider shares; `required_when_live` are ids needed unless `sandbox: true`."""

    required_when_live: ClassVar[tuple[str, ...]] = ()

    enabled: bool = False
    sandbox: bool = False
    timeout_seconds: PositiveSeconds = 10.0
    max_concurrency: int = Field(8, ge=1)

    @property
    def live(self) -> bool:
        """Enabled against the real service (not the built-in emulator), so real secrets are needed."""
        return self.enabled and not self.sandbox


class ZoomConfig(_ProviderBase):
    required_when_live: ClassVar[tuple[str, ...]] = ("account_id", "client_id")

    account_id: NonEmptyText | None = None
    client_id: NonEmptyText | None = None
    token_url: HttpEndpoint = "https://zoom.us/oauth/token"  # noqa: S105 (an endpoint, not a secret)
    api_base_url: HttpEndpoint = "https://api.zoom.us/v2"
    webhook_timestamp_tolerance_seconds: int = Field(300, ge=1)
    waiting_room: bool = False
    passcode: bool = True
    join_before_host: bool = False
    reconcile_delay_seconds: int = Field(120, ge=0)


class TeamsConfig(_ProviderBase):
    required_when_live: ClassVar[tuple[str, ...]] = ("tenant_id", "client_id")

    tenant_id: NonEmptyText | None = None
    client_id: NonEmptyText | None = None
    authority_url: HttpEndpoint = "https://login.microsoftonline.com"
    graph_base_url: HttpEndpoint = "https://graph.microsoft.com/v1.0"
    ca_bundle: Path | None = None

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Relative paths are relative to the config file, so the file means the same from any cwd."""
        if value is None:
            return None
        path = value.expanduser()
        base_dir = info.context.get("base_dir") if isinstance(info.context, dict) else None
        if not path.is_absolute() and isinstance(base_dir, Path):
            path = base_dir / path
        if not path.is_file():
            raise _custom("file_not_found", "no such file: {path}", path=str(path))
        return path


class MeetConfig(_ProviderBase):
    required_when_live: ClassVar[tuple[str, ...]] = ("delegated_user",)

    service_account_email: Email | None = None
    delegated_user: Email | None = None
    calendar_api_url: HttpEndpoint = "https://www.googleapis.com/calendar/v3/"
    meet_api_url: HttpEndpoint = "https://meet.googleapis.com"
    token_url: HttpEndpoint = "https://oauth2.googleapis.com/token"  # noqa: S105 (an endpoint, not a secret)
    certs_url: HttpEndpoint = "https://www.googleapis.com/oauth2/v1/certs"
    workspace_events_url: HttpEndpoint = "https://workspaceevents.googleapis.com/v1"
    pubsub_topic: Annotated[str, AfterValidator(_pubsub_topic)] | None = None
    push_service_account: Email | None = None


ProviderConfig = ZoomConfig | TeamsConfig | MeetConfig

_PROVIDER_MODELS: dict[ProviderName, type[ZoomConfig] | type[TeamsConfig] | type[MeetConfig]] = {
    ProviderName.ZOOM: ZoomConfig,
    ProviderName.TEAMS: TeamsConfig,
    ProviderName.MEET: MeetConfig,
}


class ProvidersConfig(_Section):
    zoom: ZoomConfig | None = None
    teams: TeamsConfig | None = None
    meet: MeetConfig | None = None


class HourlyCostConfig(_Section):
    default: Money = 0.0
    currency: Annotated[str, AfterValidator(_currency)] = "USD"
    overrides: dict[Email, Money] = Field(default_factory=dict)


class CompanyConfig(_Section):
    name: NonEmptyText
    internal_domains: DomainList
    min_attendance_seconds: int = Field(60, ge=0)
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    hourly_cost: HourlyCostConfig = Field(default_factory=HourlyCostConfig)


class RouteWhenConfig(_Section):
    """Every condition given must hold; an empty `when` matches every meeting."""

    kind: MeetingKind | None = None
    organizer: EmailList | None = None
    organizer_domain: DomainList | None = None
    attendee_domain: DomainList | None = None


def _none_as_empty(value: object) -> object:
    return {} if value is None else value


class RouteRuleConfig(_Section):
    when: Annotated[RouteWhenConfig, BeforeValidator(_none_as_empty)] = Field(default_factory=RouteWhenConfig)
    use: Provider
    fallback: Provider | None = None

    def to_rule(self) -> RouteRule:
        condition = RouteCondition(
            kind=self.when.kind,
            organizers=self.when.organizer,
            organizer_domains=self.when.organizer_domain,
            attendee_domains=self.when.attendee_domain,
        )
        return RouteRule(when=condition, use=self.use, fallback=self.fallback)


class RoutingConfig(_Section):
    rules: tuple[RouteRuleConfig, ...] = ()
    default: Provider

    def to_table(self) -> RoutingTable:
        return RoutingTable(rules=tuple(rule.to_rule() for rule in self.rules), default=self.default)


class ApiKeyScope(StrEnum):
    CRM = "crm"
    REPORTS = "reports"
    ADMIN = "admin"


def hash_api_key(plain_key: str) -> str:
    """The form an API key is stored in: `sha256:<hex of the key>`."""
    return "sha256:" + hashlib.sha256(plain_key.encode("utf-8")).hexdigest()


class ApiKeyConfig(_Section):
    name: NonEmptyText
    scope: ApiKeyScope
    hash: Annotated[str, AfterValidator(_api_key_hash)]


class WorkerConfig(_Section):
    poll_interval_seconds: PositiveSeconds = 0.5
    batch_size: int = Field(100, ge=1)
    max_attempts: int = Field(8, ge=1)
    reconcile_sweep_interval_seconds: PositiveSeconds = 300.0


class AppConfig(_Section):
    public_url: Annotated[str, AfterValidator(_public_url)]
    company: CompanyConfig
    providers: ProvidersConfig = Field(default_factory=ProvidersConfig)
    routing: RoutingConfig
    api_keys: tuple[ApiKeyConfig, ...] = ()
    worker: WorkerConfig = Field(default_factory=WorkerConfig)

    def company_domains(self) -> CompanyDomains:
        return CompanyDomains.of(self.company.internal_domains)

    def hourly_cost_for(self, email: str) -> float:
        """The person's override when there is one, else the company default."""
        return self.company.hourly_cost.overrides.get(email.strip().lower(), self.company.hourly_cost.default)

    def provider_config(self, name: ProviderName) -> ProviderConfig | None:
        section: ProviderConfig | None = getattr(self.providers, name.value)
        return section

    def enabled_providers(self) -> list[ProviderName]:
        return [
            name for name in ProviderName if (cfg := self.provider_config(name)) is not None and cfg.enabled
        ]

    def routing_table(self) -> RoutingTable:
        return self.routing.to_table()

    def url_for(self, path: str) -> str:
        """An absolute URL under `public_url`, e.g. `url_for("/webhooks/zoom")`."""
        return f"{self.public_url}/{path.lstrip('/')}"


# --------------------------------------------------------------------------------------------------
# Loading


def load_config(path: Path) -> AppConfig:
    """Read, parse and validate the config file; raise ConfigError with every issue found."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            [ConfigIssue(FILE_LOCATION, f"cannot read the config file: {reason}")], path=path
        ) from exc
    try:
        document = _read_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_issue(exc)], path=path) from exc
    try:
        return _validate(document, base_dir=path.parent)
    except ConfigError as exc:
        raise ConfigError(exc.issues, path=path) from None


def check_config(path: Path) -> list[ConfigIssue]:
    """Every issue in the config file; empty when it is valid."""
    try:
        load_config(path)
    except ConfigError as exc:
        return exc.issues
    return []


def parse_config(data: object, *, base_dir: Path | None = None) -> AppConfig:
    """Validate an already-parsed mapping with the same checks as `load_config` (no line numbers)."""
    return _validate(_YamlDocument(data, {}, []), base_dir=base_dir)


@dataclass(frozen=True)
class _YamlDocument:
    data: object
    lines: dict[Loc, int]
    duplicates: list[tuple[Loc, str]]


def _read_yaml(text: str) -> _YamlDocument:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    duplicates: list[tuple[Loc, str]] = []
    if node is not None:
        _index_lines(node, (), lines, duplicates, set())
    return _YamlDocument(data, lines, duplicates)


def _index_lines(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], duplicates: list[tuple[Loc, str]], active: set[int]
) -> None:
    """Record the line of every mapping key and sequence item, and any key repeated in one mapping."""
    if id(node) in active:  # an alias pointing back into itself
        return
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            child = (*loc, key)
            if key in first_seen:
                duplicates.append(
                    (
                        child,
                        f"duplicate key (first at line {first_seen[key]}); YAML would keep only the last one",
                    )
                )
            else:
                first_seen[key] = line
            lines[child] = line
            _index_lines(value_node, child, lines, duplicates, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*loc, index)
            lines[child] = item.start_mark.line + 1
            _index_lines(item, child, lines, duplicates, active)
    active.discard(id(node))


def _yaml_issue(exc: yaml.YAMLError) -> ConfigIssue:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        return ConfigIssue(FILE_LOCATION, f"not valid YAML: {problem}", mark.line + 1 if mark else None)
    return ConfigIssue(FILE_LOCATION, f"not valid YAML: {exc}")


# --------------------------------------------------------------------------------------------------
# Validation: pydantic for each key, then the checks that span keys


def _validate(document: _YamlDocument, *, base_dir: Path | None) -> AppConfig:
    if document.data is None:
        raise ConfigError([ConfigIssue(FILE_LOCATION, "the config file is empty", None)])
    if not isinstance(document.data, dict):
        kind = type(document.data).__name__
        raise ConfigError(
            [ConfigIssue(FILE_LOCATION, f"the config file must be a mapping of keys, not a {kind}", 1)]
        )

    context = {"base_dir": base_dir}
    data = copy.deepcopy(document.data)
    problems: list[tuple[Loc, str]] = list(document.duplicates)
    problems += _remove_secrets(data, ())
    config: AppConfig | None = None
    try:
        config = AppConfig.model_validate(data, context=context)
    except ValidationError as exc:
        problems += [(_clean_loc(err["loc"]), _message_for(err)) for err in exc.errors(include_input=False)]
    problems += _cross_checks(data, context)

    if problems or config is None:
        issues = {_issue(loc, message, document.lines) for loc, message in problems}
        raise ConfigError(sorted(issues, key=_file_order))
    return config


def _issue(loc: Loc, message: str, lines: Mapping[Loc, int]) -> ConfigIssue:
    line = None
    for depth in range(len(loc), 0, -1):
        line = lines.get(loc[:depth])
        if line is not None:
            break
    return ConfigIssue(format_location(loc), message, line)


def _file_order(issue: ConfigIssue) -> tuple[int, str, str]:
    return (issue.line if issue.line is not None else 0, issue.location, issue.message)


def _clean_loc(loc: tuple[str | int, ...]) -> Loc:
    # pydantic marks a bad dict key as (..., key, "[key]"); the key itself is the place.
    return tuple(part for part in loc if part != "[key]")


def _message_for(err: ErrorDetails) -> str:
    kind, loc = err["type"], _clean_loc(err["loc"])
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return _unknown_key_message(loc)
    if kind in ("tuple_type", "list_type"):
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a mapping of keys"
    if kind == "too_short":
        ctx = err.get("ctx") or {}
        return f"must list at least {ctx.get('min_length', 1)} item(s)"
    return err["msg"]


def _unknown_key_message(loc: Loc) -> str:
    key = loc[-1]
    if loc in {("database",), ("database_url",)}:
        return "the database URL is not read from the config file; set SALESMEET_DATABASE_URL"
    if len(loc) == 2 and loc[0] == "providers":
        known = ", ".join(p.value for p in ProviderName)
        return f"unknown provider {key!r} (known: {known})"
    allowed = _keys_allowed_at(loc[:-1])
    close = difflib.get_close_matches(str(key), allowed, n=1)
    if close:
        return f"unknown key {key!r} (did you mean {close[0]!r}?)"
    if allowed:
        return f"unknown key {key!r}; expected one of: {', '.join(allowed)}"
    return f"unknown key {key!r}"


def _keys_allowed_at(loc: Loc) -> list[str]:
    """The keys the schema accepts at a place, found by walking the models along the path."""
    model: type[BaseModel] | None = AppConfig
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue  # the list's item model was already unwrapped with its field
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


# Secrets: refused wherever they appear, naming the variable that should hold them instead.
_SECRET_KEYS = frozenset(
    {
        "client_secret",
        "secret",
        "secret_token",
        "webhook_secret_token",
        "verification_token",
        "client_state",
        "private_key",
        "private_key_id",
        "service_account_key",
        "service_account_json",
        "credentials",
        "password",
        "access_token",
        "refresh_token",
        "api_secret",
    }
)
_SECRET_ENV_BY_KEY: dict[tuple[str, str], str] = {
    ("zoom", "secret_token"): "SALESMEET_ZOOM_WEBHOOK_SECRET_TOKEN",
    ("zoom", "webhook_secret_token"): "SALESMEET_ZOOM_WEBHOOK_SECRET_TOKEN",
    ("zoom", "verification_token"): "SALESMEET_ZOOM_WEBHOOK_SECRET_TOKEN",
    ("teams", "client_state"): "SALESMEET_TEAMS_CLIENT_STATE",
}
_SECRET_ENV_BY_PROVIDER: dict[str, str] = {
    "zoom": "SALESMEET_ZOOM_CLIENT_SECRET",
    "teams": "SALESMEET_TEAMS_CLIENT_SECRET",
    "meet": "SALESMEET_GOOGLE_SERVICE_ACCOUNT_FILE",
}
SECRET_ENV_VARS = frozenset(_SECRET_ENV_BY_PROVIDER.values()) | frozenset(_SECRET_ENV_BY_KEY.values())


def _looks_secret(key: str) -> bool:
    key = key.lower()
    return key in _SECRET_KEYS or key.endswith(("_secret", "_password", "_private_key"))


def _secret_env_var(loc: Loc) -> str | None:
    if len(loc) == 1 and f"SALESMEET_{str(loc[0]).upper()}" in SECRET_ENV_VARS:
        return f"SALESMEET_{str(loc[0]).upper()}"  # a setting's own name, written at the top level
    if len(loc) < 2 or loc[0] != "providers" or not isinstance(loc[1], str):
        return None
    provider, key = loc[1], str(loc[-1]).lower()
    return _SECRET_ENV_BY_KEY.get((provider, key)) or _SECRET_ENV_BY_PROVIDER.get(provider)


def _remove_secrets(node: object, loc: Loc) -> list[tuple[Loc, str]]:
    """Drop secret-looking keys (so they are reported once, as secrets) and say where they belong."""
    found: list[tuple[Loc, str]] = []
    if isinstance(node, dict):
        for key in list(node):
            child = (*loc, str(key))
            if isinstance(key, str) and _looks_secret(key):
                del node[key]
                env_var = _secret_env_var(child)
                where = f"set {env_var}" if env_var else "set it in the environment (SALESMEET_...)"
                found.append((child, f"secrets are not read from the config file; {where}"))
            else:
                found += _remove_secrets(node[key], child)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _remove_secrets(item, (*loc, index))
    return found


_M = TypeVar("_M", bound=BaseModel)


def _try_model(model: type[_M], raw: object, context: dict[str, Any]) -> _M | None:
    """The section as a cross-check sees it: unknown keys dropped, so a typo elsewhere in it hides nothing."""
    if isinstance(raw, dict):
        raw = {key: value for key, value in raw.items() if key in model.model_fields}
    try:
        return model.model_validate(raw, context=context)
    except ValidationError:
        return None  # already reported by the whole-file validation


_PROVIDER_NAME = TypeAdapter(Provider)


def _cross_checks(data: Mapping[str, Any], context: dict[str, Any]) -> list[tuple[Loc, str]]:
    """Rules spanning several keys, run section by section so one typo elsewhere does not hide them."""
    enabled = _enabled_state(data.get("providers"), context)
    problems = _required_ids(data.get("providers"), context)
    problems += _routing_problems(data.get("routing"), enabled, context)
    problems += _duplicate_api_keys(data.get("api_keys"))
    return problems


def _enabled_state(raw_providers: object, context: dict[str, Any]) -> dict[ProviderName, bool]:
    """Whether each provider is enabled; a provider whose own section is invalid is left out (unknown)."""
    sections = raw_providers if isinstance(raw_providers, dict) else {}
    state: dict[ProviderName, bool] = {}
    for name, model in _PROVIDER_MODELS.items():
        raw = sections.get(name.value)
        if raw is None:
            state[name] = False
        elif (section := _try_model(model, raw, context)) is not None:
            state[name] = section.enabled
    return state


def _required_ids(raw_providers: object, context: dict[str, Any]) -> list[tuple[Loc, str]]:
    sections = raw_providers if isinstance(raw_providers, dict) else {}
    problems: list[tuple[Loc, str]] = []
    for name, model in _PROVIDER_MODELS.items():
        section = _try_model(model, sections.get(name.value), context) if name.value in sections else None
        if section is None or not section.live:
            continue
        for key in model.required_when_live:
            if getattr(section, key) is None:
                problems.append(
                    (
                        ("providers", name.value, key),
                        f"required when {name.value} is enabled without sandbox: true",
                    )
                )
    return problems


def _routing_problems(
    raw_routing: object, enabled: Mapping[ProviderName, bool], context: dict[str, Any]
) -> list[tuple[Loc, str]]:
    if not isinstance(raw_routing, dict):
        return []
    problems: list[tuple[Loc, str]] = []

    def check_enabled(loc: Loc, name: ProviderName) -> None:
        if enabled.get(name) is False:
            problems.append((loc, f"provider {name.value!r} is not enabled"))

    rules = raw_routing.get("rules")
    for index, raw_rule in enumerate(rules if isinstance(rules, list) else []):
        rule = _try_model(RouteRuleConfig, raw_rule, context)
        if rule is None:
            continue
        loc: Loc = ("routing", "rules", index)
        check_enabled((*loc, "use"), rule.use)
        if rule.fallback is not None:
            check_enabled((*loc, "fallback"), rule.fallback)
            if rule.fallback is rule.use:
                problems.append(((*loc, "fallback"), "the fallback must be a different provider than 'use'"))
    if "default" in raw_routing:
        with contextlib.suppress(ValidationError):  # an unknown name is already reported
            check_enabled(("routing", "default"), _PROVIDER_NAME.validate_python(raw_routing["default"]))
    return problems


def _duplicate_api_keys(raw_keys: object) -> list[tuple[Loc, str]]:
    """Names identify keys in logs, and one hash under two names would make the scope ambiguous."""
    problems: list[tuple[Loc, str]] = []
    first_index: dict[tuple[str, str], int] = {}
    for index, raw_key in enumerate(raw_keys if isinstance(raw_keys, list) else []):
        if not isinstance(raw_key, dict):
            continue
        for field in ("name", "hash"):
            value = raw_key.get(field)
            if not isinstance(value, str):
                continue
            seen = (field, value.strip())
            if seen in first_index:
                what = f"name {value.strip()!r}" if field == "name" else "key (the same hash)"
                problems.append(
                    (("api_keys", index, field), f"duplicate {what} (also api_keys[{first_index[seen]}])")
                )
            else:
                first_index[seen] = index
    return problems
