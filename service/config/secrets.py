"""Process settings and secrets: from `SALESMEET_*` environment variables or files in a secrets dir.

Secrets live here and never in the config file. Which secrets exist is declared by the provider
plugins (`SecretSpec`): a secret `zoom_client_secret` is read from `SALESMEET_ZOOM_CLIENT_SECRET`.
Set `SALESMEET_SECRETS_DIR` to a directory holding one file per variable (e.g.
`/run/secrets/SALESMEET_ZOOM_CLIENT_SECRET`, the Docker/Kubernetes convention); an environment
variable wins over a file of the same name. An empty value counts as unset.

    Settings()                       read the environment (and the secrets dir, if set)
    settings.redacted()              a dict safe to log: secrets as "***" or "unset"
    require_secret(settings, name)  the secret's value, or MissingSecretError naming its variable
    missing_secrets(config, s)       the secrets the enabled non-sandbox providers need but lack
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import PrivateAttr, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from integrations.registry import DEFAULT_PLUGINS, PluginRegistry
from service.config.errors import ConfigIssue
from service.config.schema import AppConfig

ENV_PREFIX = "SALESMEET_"
SECRETS_DIR_ENV = "SALESMEET_SECRETS_DIR"

SECRET_NAMES: tuple[str, ...] = tuple(spec.name for spec in DEFAULT_PLUGINS.secrets())
SECRET_ENV_VARS = frozenset(spec.env_var for spec in DEFAULT_PLUGINS.secrets())

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class MissingSecretError(RuntimeError):
    """A secret the service needs is not set; the message names the variable to set."""

    def __init__(self, name: str) -> None:
        self.env_var = env_var_for(name)
        super().__init__(
            f"{self.env_var} is not set: set the environment variable, or put a file of that name "
            f"in the directory named by {SECRETS_DIR_ENV}"
        )


def env_var_for(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    config: Path = Path("config/salesmeet.yaml")
    database_url: str = "sqlite:///./data/salesmeet.db"
    log_format: Literal["json", "console"] = "console"
    log_level: str = "INFO"
    # Where sandbox emulators keep their generated credentials; default: `sandbox/` next to the
    # SQLite database file (none for PostgreSQL: they then change at every start).
    sandbox_dir: Path | None = None

    # Read once, when the settings are made: the environment's SALESMEET_* values and the secrets dir.
    _environment: dict[str, str] = PrivateAttr(default_factory=dict)
    _secrets_dir: Path | None = PrivateAttr(default=None)
    _given: dict[str, SecretStr] = PrivateAttr(default_factory=dict)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return level

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Checked here, before validation: a missing secrets mount must stop the start-up, not
        leave every secret unset."""
        secrets_dir = os.environ.get(SECRETS_DIR_ENV, "").strip()
        if secrets_dir and not Path(secrets_dir).expanduser().is_dir():
            raise SettingsError(f"{SECRETS_DIR_ENV}={secrets_dir!r} is not a directory")
        return (init_settings, env_settings, dotenv_settings)

    def model_post_init(self, context: object, /) -> None:
        self._environment = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
        secrets_dir = self._environment.get(SECRETS_DIR_ENV, "").strip()
        self._secrets_dir = Path(secrets_dir).expanduser() if secrets_dir else None

    def with_secrets(self, secrets: Mapping[str, str]) -> Settings:
        """A copy whose named secrets are these values (tools and benchmarks that set them in code)."""
        copy = self.model_copy()
        copy._given = {**self._given, **{name: SecretStr(value) for name, value in secrets.items()}}
        return copy

    def secret(self, name: str) -> SecretStr | None:
        value = self._given.get(name)
        if value is None:
            value = self._read(env_var_for(name))
        return value if value is not None and value.get_secret_value().strip() else None

    def _read(self, env_var: str) -> SecretStr | None:
        if env_var in self._environment:
            return SecretStr(self._environment[env_var])
        if self._secrets_dir is not None:
            path = self._secrets_dir / env_var
            if path.is_file():
                return SecretStr(path.read_text(encoding="utf-8").strip())
        return None

    def sandbox_state_dir(self) -> Path | None:
        if self.sandbox_dir is not None:
            return self.sandbox_dir
        database = sqlite_file_of(self.database_url)
        return database.parent / "sandbox" if database is not None else None

    def redacted(self, registry: PluginRegistry = DEFAULT_PLUGINS) -> dict[str, str]:
        """Every setting as text fit for a log line: secrets masked, a database password masked too."""
        shown: dict[str, str] = {
            "config": str(self.config),
            "database_url": redact_url(self.database_url),
            "log_format": self.log_format,
            "log_level": self.log_level,
        }
        for spec in registry.secrets():
            shown[spec.name] = "***" if self.secret(spec.name) is not None else "unset"
        return shown


def sqlite_file_of(database_url: str) -> Path | None:
    """The file of a `sqlite:///path` URL; None for an in-memory or server database."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return None
    path = database_url.removeprefix(prefix).split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def redact_url(url: str) -> str:
    """Mask the password of a URL such as `postgresql://app:pw@db/salesmeet`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def require_secret(settings: Settings, name: str) -> str:
    value = settings.secret(name)
    if value is None:
        raise MissingSecretError(name)
    return value.get_secret_value()


def missing_secrets(
    config: AppConfig, settings: Settings, registry: PluginRegistry = DEFAULT_PLUGINS
) -> list[ConfigIssue]:
    """Secrets needed by enabled providers that talk to the real service (sandbox ones need none)."""
    issues: list[ConfigIssue] = []
    for provider in config.enabled_providers():
        section = config.provider_config(provider)
        plugin = registry.get(provider)
        if section is None or section.sandbox or plugin is None:
            continue
        for spec in plugin.secrets:
            if settings.secret(spec.name) is None:
                issues.append(
                    ConfigIssue(
                        f"env.{spec.env_var}",
                        f"not set, and providers.{provider.value} is enabled without sandbox: true",
                    )
                )
    for crm in config.enabled_crms():
        crm_section = config.crm.section(crm)
        crm_plugin = registry.crms.get(crm)
        if crm_section is None or crm_section.sandbox or crm_plugin is None:
            continue
        for spec in crm_plugin.required_secrets(crm_section):
            if settings.secret(spec.name) is None:
                issues.append(
                    ConfigIssue(
                        f"env.{spec.env_var}", f"not set, and crm.{crm} is enabled without sandbox: true"
                    )
                )
    return issues
