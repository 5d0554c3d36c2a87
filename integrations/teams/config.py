"""`providers.teams` in the config file: the Entra app registration and Graph endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import ValidationInfo, field_validator

from service.config.fields import HttpEndpoint, NonEmptyText, config_error
from service.config.sections import ProviderSection


class TeamsConfig(ProviderSection):
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
            raise config_error("file_not_found", "no such file: {path}", path=str(path))
        return path
