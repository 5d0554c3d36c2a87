"""The provider plugins salesmeet knows. Adding a provider is one package and one line here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from integrations.crm.plugin import CrmPlugin
from integrations.crm.registry import DEFAULT_CRMS, CrmRegistry
from integrations.meet.plugin import PLUGIN as MEET
from integrations.plugin import ProviderPlugin, SecretSpec
from integrations.teams.plugin import PLUGIN as TEAMS
from integrations.zoom.plugin import PLUGIN as ZOOM
from service.domain.meeting import ProviderName


class PluginRegistry:
    """An ordered set of plugins, by name; hashable, as the config schema is cached per registry.

    It carries the CRM plugins too (`crms`), so everything that takes the registry (config schema,
    composition root, CLI) sees both kinds of plugin.
    """

    def __init__(self, plugins: Iterable[ProviderPlugin[Any]], crms: CrmRegistry = DEFAULT_CRMS) -> None:
        self.crms = crms
        self._plugins: dict[ProviderName, ProviderPlugin[Any]] = {}
        for plugin in plugins:
            if plugin.name in self._plugins:
                raise ValueError(f"two plugins are named {plugin.name.value!r}")
            self._plugins[plugin.name] = plugin

    def __iter__(self) -> Iterator[ProviderPlugin[Any]]:
        return iter(self._plugins.values())

    def __len__(self) -> int:
        return len(self._plugins)

    def __hash__(self) -> int:
        return hash((tuple(self._plugins.items()), self.crms))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PluginRegistry) and (self._plugins, self.crms) == (
            other._plugins,
            other.crms,
        )

    def names(self) -> tuple[ProviderName, ...]:
        return tuple(self._plugins)

    def get(self, name: str) -> ProviderPlugin[Any] | None:
        # Names are interned: a plain string that names a plugin finds it.
        return next((plugin for key, plugin in self._plugins.items() if key == name), None)

    def secrets(self) -> list[SecretSpec]:
        return [spec for plugin in self for spec in plugin.secrets] + self.crms.secrets()

    def with_plugin(self, plugin: ProviderPlugin[Any]) -> PluginRegistry:
        """This registry plus one more plugin (a test's fake provider, say)."""
        return PluginRegistry((*self, plugin), self.crms)

    def with_crm(self, plugin: CrmPlugin[Any]) -> PluginRegistry:
        """This registry plus one more CRM plugin (a test's fake CRM, say)."""
        return PluginRegistry(self, self.crms.with_plugin(plugin))


DEFAULT_PLUGINS = PluginRegistry((ZOOM, TEAMS, MEET), DEFAULT_CRMS)
