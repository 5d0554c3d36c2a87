"""zoomus's constructor fetches a token with no timeout; the adapter bounds it."""

from __future__ import annotations

import threading

import pytest

from integrations.zoom.client import _within


def test_a_setup_that_hangs_is_abandoned_after_the_deadline() -> None:
    release = threading.Event()
    with pytest.raises(TimeoutError):
        _within(0.2, lambda: release.wait(30))
    release.set()


def test_a_setup_that_fails_raises_its_own_error() -> None:
    def broken() -> None:
        raise ValueError("token endpoint answered HTML")

    with pytest.raises(ValueError, match="answered HTML"):
        _within(5, broken)


def test_a_setup_that_finishes_returns_its_result() -> None:
    assert _within(5, lambda: 42) == 42
