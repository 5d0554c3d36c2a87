"""What is wrong with a config file, and where: the issues and the error that carries them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

Loc = tuple[str | int, ...]


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
