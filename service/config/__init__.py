"""The admin's configuration: the YAML file (schema and loader) and the secrets from the environment.

    fields.py    value types (e-mail, domain, endpoint URL...) shared with the providers' sections
    sections.py  the base of every section, and of every provider's own section
    schema.py    the file's schema; provider sections come from the plugin registry
    loader.py    reading and checking a file, with the place of every mistake
    secrets.py   process settings and secrets (environment, secrets dir)
"""

from service.config.errors import FILE_LOCATION, ConfigError, ConfigIssue, format_location
from service.config.loader import check_config, load_config, parse_config
from service.config.schema import AppConfig, ApiKeyScope, config_model, hash_api_key
from service.config.secrets import SECRET_ENV_VARS

__all__ = [
    "FILE_LOCATION",
    "SECRET_ENV_VARS",
    "ApiKeyScope",
    "AppConfig",
    "ConfigError",
    "ConfigIssue",
    "check_config",
    "config_model",
    "format_location",
    "hash_api_key",
    "load_config",
    "parse_config",
]
