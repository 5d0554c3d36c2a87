"""Secrets never come from the config file: not as keys, and not hidden in an endpoint's query string."""

from __future__ import annotations

from typing import Any

import pytest

from service.config.errors import ConfigError
from service.config.loader import parse_config
from tests.support import sandbox_config


def _issues(**zoom: Any) -> list[str]:
    data = sandbox_config()
    data["providers"]["zoom"] = {"enabled": True, "sandbox": True, **zoom}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return [f"{issue.location}: {issue.message}" for issue in caught.value.issues]


@pytest.mark.parametrize(
    "url",
    [
        "https://zoom.us/oauth/token?client_secret=abc",
        "https://zoom.us/oauth/token?access_token=abc",
        "https://zoom.us/oauth/token?x=1&ApiKey=abc",
        "https://zoom.us/oauth/token?sig=abc",
    ],
)
def test_an_endpoint_carrying_a_secret_in_its_query_is_refused_without_echoing_it(url: str) -> None:
    issues = _issues(token_url=url)
    assert issues == [
        "providers.zoom.token_url: must not carry a secret in its query string; secrets are not read "
        "from the config file"
    ]
    assert all("abc" not in issue for issue in issues)


def test_an_ordinary_query_string_is_kept() -> None:
    data = sandbox_config()
    data["providers"]["zoom"]["api_base_url"] = "https://proxy.acme.example/zoom/v2?region=eu"
    config = parse_config(data)
    section = config.provider_config(config.enabled_providers()[0])
    assert section is not None and section.model_dump()["api_base_url"].endswith("?region=eu")


@pytest.mark.parametrize(
    ("key", "variable"),
    [
        ("webhook_secret", "SALESMEET_ZOOM_WEBHOOK_SECRET_TOKEN"),
        ("secret_token", "SALESMEET_ZOOM_WEBHOOK_SECRET_TOKEN"),
        ("client_secret", "SALESMEET_ZOOM_CLIENT_SECRET"),
        ("zoom_client_secret", "SALESMEET_ZOOM_CLIENT_SECRET"),
        ("api_key", "SALESMEET_ZOOM_CLIENT_SECRET"),
    ],
)
def test_a_secret_written_in_the_file_names_the_variable_that_holds_it(key: str, variable: str) -> None:
    assert _issues(**{key: "s3cr3t"}) == [
        f"providers.zoom.{key}: secrets are not read from the config file; set {variable}"
    ]
