"""The base of every config section, and of every provider's section (`providers.<name>`).

A provider's own section model lives in its package (`integrations/<name>/config.py`) and derives
from `ProviderSection`; the config schema gathers them from the plugin registry.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from service.config.fields import PositiveSeconds


class Section(BaseModel):
    """Unknown keys are refused (a typo is reported, not ignored); a loaded config is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderSection(Section):
    """Settings every provider shares; `required_when_live` are ids needed unless `sandbox: true`."""

    required_when_live: ClassVar[tuple[str, ...]] = ()

    enabled: bool = False
    sandbox: bool = False
    timeout_seconds: PositiveSeconds = 10.0
    max_concurrency: int = Field(8, ge=1)
    # How long after the provider says a meeting ended its post-meeting report is asked for.
    reconcile_delay_seconds: int = Field(120, ge=0)
    # A provider meeting id can be started again days later (a late click on an old invite): only
    # instances starting within this window around the scheduled slot belong to the meeting; later
    # ones are meetings of their own (`origin: provider`).
    instance_window_before_minutes: int = Field(60, ge=0)
    instance_window_after_minutes: int = Field(1440, ge=0)

    @property
    def live(self) -> bool:
        """Enabled against the real service (not the built-in emulator), so real secrets are needed."""
        return self.enabled and not self.sandbox
