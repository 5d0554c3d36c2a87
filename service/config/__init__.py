"""The admin's configuration: the YAML file (schema and loader) and the secrets from the environment.

    fields.py    value types (e-mail, domain, endpoint URL...) shared with the providers' sections
    sections.py  the base of every section, and of every provider's own section
    errors.py    the issues found in a file, with their places
    schema.py    the file's schema; provider sections come from the plugin registry
    loader.py    reading and checking a file, with the place of every mistake
    secrets.py   process settings and secrets (environment, secrets dir)

Import from the modules themselves. This package imports nothing on its own, so a provider's
section (which needs `fields` and `sections`) loads while the schema gathers the plugins.
"""
