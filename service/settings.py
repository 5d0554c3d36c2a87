"""Process settings and secrets: from `SALESMEET_*` environment variables or files in a secrets dir.

Secrets live here and never in the config file. Set `SALESMEET_SECRETS_DIR` to a directory holding
one file per variable (e.g. `/run/secrets/SALESMEET_ZOOM_CLIENT_SECRET`, the Docker/Kubernetes
convention); an environment variable wins over a file of the same name.

    Settings()                       read the environment (and the secrets dir, if set)
    settings.redacted()              a dict safe to log: secrets as "***" or "unset"
    require_secret(settings, name)  the secret's value, or MissingSecretError naming its variable
    missing_secrets(config, s)       the secrets the enabled non-sandbox providers need but lack
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from service.config import AppConfig, ConfigIssue
from service.domain.meeting import ProviderName

ENV_PREFIX = "SALESMEET_"
SECRETS_DIR_ENV = "SALESMEET_SECRETS_DIR"

SecretName = Literal[
    "zoom_client_secret",
    "zoom_webhook_secret_token",
    "teams_client_secret",
    "teams_client_state",
    "google_service_account_file",
]
SECRET_NAMES: tuple[SecretName, ...] = get_args(SecretName)

# What each provider needs from the environment when it talks to the real service.
_SECRETS_NEEDED: dict[ProviderName, tuple[SecretName, ...]] = {
    ProviderName.ZOOM: ("zoom_client_secret", "zoom_webhook_secret_token"),
    ProviderName.TEAMS: ("teams_client_secret", "teams_client_state"),
    ProviderName.MEET: ("google_service_account_file",),
}

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class MissingSecretError(RuntimeError):
    """A secret the service needs is not set; the message names the variable to set."""

    def __init__(self, name: SecretName) -> None:
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

    zoom_client_secret: SecretStr | None = None
    zoom_webhook_secret_token: SecretStr | None = None
    teams_client_secret: SecretStr | None = None
    teams_client_state: SecretStr | None = None
    # The path of the Google service-account JSON key; kept secret-typed so it is never logged.
    google_service_account_file: SecretStr | None = None

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return level

    @field_validator(*SECRET_NAMES)
    @classmethod
    def _empty_means_unset(cls, value: SecretStr | None) -> SecretStr | None:
        # `export SALESMEET_ZOOM_CLIENT_SECRET=` (or an empty secret file) must not pass as a secret.
        return value if value is not None and value.get_secret_value().strip() else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The secrets dir is itself named by the environment, so it is chosen here, at load time."""
        secrets_dir = os.environ.get(SECRETS_DIR_ENV, "").strip()
        if not secrets_dir:
            return (init_settings, env_settings, dotenv_settings, file_secret_settings)
        directory = Path(secrets_dir).expanduser()
        if not directory.is_dir():
            # pydantic-settings would only warn; a missing secrets mount must stop the start-up.
            raise SettingsError(f"{SECRETS_DIR_ENV}={secrets_dir!r} is not a directory")
        files = SecretsSettingsSource(settings_cls, secrets_dir=directory)
        return (init_settings, env_settings, dotenv_settings, files)

    def secret(self, name: SecretName) -> SecretStr | None:
        value: SecretStr | None = getattr(self, name)
        return value

    def redacted(self) -> dict[str, str]:
        """Every setting as text fit for a log line: secrets masked, a database password masked too."""
        shown: dict[str, str] = {
            "config": str(self.config),
            "database_url": redact_url(self.database_url),
            "log_format": self.log_format,
            "log_level": self.log_level,
        }
        for name in SECRET_NAMES:
            shown[name] = "***" if self.secret(name) is not None else "unset"
        return shown


def redact_url(url: str) -> str:
    """Mask the password of a URL such as `postgresql://app:pw@db/salesmeet`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def require_secret(settings: Settings, name: SecretName) -> str:
    value = settings.secret(name)
    if value is None:
        raise MissingSecretError(name)
    return value.get_secret_value()


def missing_secrets(config: AppConfig, settings: Settings) -> list[ConfigIssue]:
    """Secrets needed by enabled providers that talk to the real service (sandbox ones need none)."""
    issues: list[ConfigIssue] = []
    for provider in config.enabled_providers():
        section = config.provider_config(provider)
        if section is None or section.sandbox:
            continue
        for name in _SECRETS_NEEDED[provider]:
            if settings.secret(name) is None:
                issues.append(
                    ConfigIssue(
                        f"env.{env_var_for(name)}",
                        f"not set, and providers.{provider.value} is enabled without sandbox: true",
                    )
                )
    return issues
