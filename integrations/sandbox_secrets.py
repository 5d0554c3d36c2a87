"""Credentials for a provider's emulator in sandbox mode: generated once, kept across restarts.

A sandbox with a well-known webhook secret would let anyone who can reach it forge attendance, so
every secret is random. It is kept in `<state dir>/<provider>.json` (readable by its owner only), so
a restarted service still verifies what its emulator signs; without a state dir the secrets live as
long as the process. A secret the admin sets in the environment wins (to share it with a test rig).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path


def sandbox_secrets(
    provider: str, names: Iterable[str], *, state_dir: Path | None, preset: Mapping[str, str]
) -> dict[str, str]:
    wanted = list(names)
    kept: dict[str, str] = {}
    path = state_dir / f"{provider}.json" if state_dir is not None else None
    if path is not None and path.is_file():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        kept = {k: v for k, v in loaded.items() if isinstance(v, str)} if isinstance(loaded, dict) else {}
    missing = [name for name in wanted if name not in kept]
    if missing:
        kept.update({name: secrets.token_urlsafe(24) for name in missing})
        if path is not None:
            _write_private(path, json.dumps(kept, indent=2, sort_keys=True))
    return {name: preset.get(name) or kept[name] for name in wanted}


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    temporary.replace(path)
