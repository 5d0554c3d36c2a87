"""The CRM plugins salesmeet knows. Adding a CRM is one package and one line here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from integrations.crm.hubspot.plugin import PLUGIN as HUBSPOT
from integrations.crm.plugin import CrmPlugin
from integrations.crm.salesforce.plugin import PLUGIN as SALESFORCE
from integrations.plugin import SecretSpec


class CrmRegistry:
    """An ordered set of CRM plugins, by name; hashable (the config schema is cached per registry)."""

    def __init__(self, plugins: Iterable[CrmPlugin[Any]]) -> None:
        self._plugins: dict[str, CrmPlugin[Any]] = {}
        for plugin in plugins:
            if plugin.name in self._plugins:
                raise ValueError(f"two CRM plugins are named {plugin.name!r}")
            self._plugins[plugin.name] = plugin

    def __iter__(self) -> Iterator[CrmPlugin[Any]]:
        return iter(self._plugins.values())

    def __len__(self) -> int:
        return len(self._plugins)

    def __hash__(self) -> int:
        return hash(tuple(self._plugins.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CrmRegistry) and self._plugins == other._plugins

    def names(self) -> tuple[str, ...]:
        return tuple(self._plugins)

    def get(self, name: str) -> CrmPlugin[Any] | None:
        return self._plugins.get(name)

    def secrets(self) -> list[SecretSpec]:
        return [spec for plugin in self for spec in plugin.secrets]

    def with_plugin(self, plugin: CrmPlugin[Any]) -> CrmRegistry:
        """This registry plus one more CRM (a test's fake CRM, say)."""
        return CrmRegistry((*self, plugin))


DEFAULT_CRMS = CrmRegistry((HUBSPOT, SALESFORCE))
