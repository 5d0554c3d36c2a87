"""The names of HubSpot's secrets (read from `SALESMEET_<NAME>`), shared by the plugin and its sandbox.

Each secret is one credential with one meaning: the app's client secret always signs what HubSpot
signs (workflow webhooks in `signature` mode, and every call of the video-conferencing extension),
so the workflow action's API key needs a secret of its own.
"""

from __future__ import annotations

# These are the secrets' names, not their values.
ACCESS_TOKEN = "hubspot_access_token"  # noqa: S105
APP_SECRET = "hubspot_app_secret"  # noqa: S105
WEBHOOK_API_KEY = "hubspot_webhook_api_key"
