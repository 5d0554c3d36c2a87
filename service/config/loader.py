"""Loading the config file: YAML with the line of every key, validation against the schema, and
the checks that span several keys. Every mistake is reported at once, with its place.

    load_config(path) -> AppConfig        raises ConfigError listing every ConfigIssue at once
    check_config(path) -> list[ConfigIssue]
    parse_config(data) -> AppConfig       the same checks for an already-parsed mapping (tests, tools)

Every model forbids unknown keys so a typo is reported, not silently ignored. Secrets are refused
here on purpose: they come from the environment (`service.config.secrets`), never from this file.
An issue's `location` is a dotted path with indices (`routing.rules[2].use`); its `line` is the
line of that key in the file, or of its closest parent present when the key itself is missing.
Each `load_config`, `check_config` and `parse_config` takes the plugin registry whose provider
sections the file may hold (the default registry unless a test adds a plugin).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from integrations.registry import DEFAULT_PLUGINS, PluginRegistry
from service.config.errors import FILE_LOCATION, ConfigError, ConfigIssue, Loc, format_location
from service.config.schema import AppConfig, RouteRuleConfig, config_model
from service.domain.meeting import ProviderName


def load_config(path: Path, *, registry: PluginRegistry = DEFAULT_PLUGINS) -> AppConfig:
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
        return _validate(document, base_dir=path.parent, registry=registry)
    except ConfigError as exc:
        raise ConfigError(exc.issues, path=path) from None


def check_config(path: Path, *, registry: PluginRegistry = DEFAULT_PLUGINS) -> list[ConfigIssue]:
    """Every issue in the config file; empty when it is valid."""
    try:
        load_config(path, registry=registry)
    except ConfigError as exc:
        return exc.issues
    return []


def parse_config(
    data: object, *, base_dir: Path | None = None, registry: PluginRegistry = DEFAULT_PLUGINS
) -> AppConfig:
    """Validate an already-parsed mapping with the same checks as `load_config` (no line numbers)."""
    return _validate(_YamlDocument(data, {}, []), base_dir=base_dir, registry=registry)


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


def _validate(document: _YamlDocument, *, base_dir: Path | None, registry: PluginRegistry) -> AppConfig:
    if document.data is None:
        raise ConfigError([ConfigIssue(FILE_LOCATION, "the config file is empty", None)])
    if not isinstance(document.data, dict):
        kind = type(document.data).__name__
        raise ConfigError(
            [ConfigIssue(FILE_LOCATION, f"the config file must be a mapping of keys, not a {kind}", 1)]
        )

    context: dict[str, Any] = {"base_dir": base_dir, "registry": registry}
    model = config_model(registry)
    data = copy.deepcopy(document.data)
    problems: list[tuple[Loc, str]] = list(document.duplicates)
    problems += _remove_secrets(data, (), registry)
    config: AppConfig | None = None
    try:
        config = model.model_validate(data, context=context)
    except ValidationError as exc:
        problems += [
            (_clean_loc(err["loc"]), _message_for(err, model, registry))
            for err in exc.errors(include_input=False)
        ]
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


def _message_for(err: ErrorDetails, model: type[BaseModel], registry: PluginRegistry) -> str:
    kind, loc = err["type"], _clean_loc(err["loc"])
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return _unknown_key_message(loc, model, registry)
    if kind in ("tuple_type", "list_type"):
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a mapping of keys"
    if kind == "too_short":
        ctx = err.get("ctx") or {}
        return f"must list at least {ctx.get('min_length', 1)} item(s)"
    return err["msg"]


def _unknown_key_message(loc: Loc, model: type[BaseModel], registry: PluginRegistry) -> str:
    key = loc[-1]
    if loc in {("database",), ("database_url",)}:
        return "the database URL is not read from the config file; set SALESMEET_DATABASE_URL"
    if len(loc) == 2 and loc[0] == "providers":
        known = ", ".join(name.value for name in registry.names())
        return f"unknown provider {key!r} (known: {known})"
    allowed = _keys_allowed_at(model, loc[:-1])
    close = difflib.get_close_matches(str(key), allowed, n=1)
    if close:
        return f"unknown key {key!r} (did you mean {close[0]!r}?)"
    if allowed:
        return f"unknown key {key!r}; expected one of: {', '.join(allowed)}"
    return f"unknown key {key!r}"


def _keys_allowed_at(root: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the schema accepts at a place, found by walking the models along the path."""
    model: type[BaseModel] | None = root
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
        "api_key",
        "apikey",
    }
)


def _looks_secret(key: str, registry: PluginRegistry) -> bool:
    """A key named like a secret, or like one a plugin declares (its own name or its YAML aliases)."""
    key = key.lower()
    if key in _SECRET_KEYS or key.endswith(("_secret", "_password", "_private_key")):
        return True
    return any(key == spec.name or key in spec.yaml_keys for spec in registry.secrets())


def _secret_env_var(loc: Loc, registry: PluginRegistry) -> str | None:
    if len(loc) == 1:
        # A setting's own name written at the top level (`zoom_client_secret: ...`).
        top = f"SALESMEET_{str(loc[0]).upper()}"
        return top if any(spec.env_var == top for spec in registry.secrets()) else None
    if len(loc) < 2 or loc[0] not in ("providers", "crm") or not isinstance(loc[1], str):
        return None
    plugin = registry.get(loc[1]) if loc[0] == "providers" else registry.crms.get(loc[1])
    if plugin is None or not plugin.secrets:
        return None
    key = str(loc[-1]).lower()
    named = next((spec for spec in plugin.secrets if key in spec.yaml_keys), plugin.secrets[0])
    return named.env_var


def _remove_secrets(node: object, loc: Loc, registry: PluginRegistry) -> list[tuple[Loc, str]]:
    """Drop secret-looking keys (so they are reported once, as secrets) and say where they belong."""
    found: list[tuple[Loc, str]] = []
    if isinstance(node, dict):
        for key in list(node):
            child = (*loc, str(key))
            if isinstance(key, str) and _looks_secret(key, registry):
                del node[key]
                env_var = _secret_env_var(child, registry)
                where = f"set {env_var}" if env_var else "set it in the environment (SALESMEET_...)"
                found.append((child, f"secrets are not read from the config file; {where}"))
            else:
                found += _remove_secrets(node[key], child, registry)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _remove_secrets(item, (*loc, index), registry)
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


def _cross_checks(data: Mapping[str, Any], context: dict[str, Any]) -> list[tuple[Loc, str]]:
    """Rules spanning several keys, run section by section so one typo elsewhere does not hide them."""
    registry: PluginRegistry = context["registry"]
    enabled = _enabled_state(data.get("providers"), context, registry)
    problems = _required_ids(data.get("providers"), context, registry)
    problems += _routing_problems(data.get("routing"), enabled, context)
    problems += _duplicate_api_keys(data.get("api_keys"))
    return problems


def _enabled_state(
    raw_providers: object, context: dict[str, Any], registry: PluginRegistry
) -> dict[ProviderName, bool]:
    """Whether each provider is enabled; a provider whose own section is invalid is left out (unknown)."""
    sections = raw_providers if isinstance(raw_providers, dict) else {}
    state: dict[ProviderName, bool] = {}
    for plugin in registry:
        name, model = plugin.name, plugin.config_model
        raw = sections.get(name.value)
        if raw is None:
            state[name] = False
        elif (section := _try_model(model, raw, context)) is not None:
            state[name] = section.enabled
    return state


def _required_ids(
    raw_providers: object, context: dict[str, Any], registry: PluginRegistry
) -> list[tuple[Loc, str]]:
    sections = raw_providers if isinstance(raw_providers, dict) else {}
    problems: list[tuple[Loc, str]] = []
    for plugin in registry:
        name, model = plugin.name, plugin.config_model
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
    default = raw_routing.get("default")
    registry: PluginRegistry = context["registry"]
    if isinstance(default, str) and default.strip().lower() in registry.names():  # else already reported
        check_enabled(("routing", "default"), ProviderName(default.strip().lower()))
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
