"""What an emulated Entra tenant with Teams looks like: the app registration, its users, limits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from integrations.sandbox.clock import Clock, utc_now

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


@dataclass(frozen=True)
class EntraUser:
    """A licensed user of the tenant: `id` is the Entra object id, `upn` doubles as the e-mail."""

    upn: str
    id: str
    display_name: str


@dataclass(frozen=True)
class TeamsEmulatorConfig:
    tenant_id: str = "5a1e5a1e-0000-4000-8000-00000000a11e"
    client_id: str = "5a1e5a1e-0000-4000-8000-0000000c11e7"
    client_secret: str = "sandbox-teams-client-secret"  # noqa: S105 - sandbox credential
    users: tuple[EntraUser, ...] = (
        EntraUser("host@example.com", "0b5e0000-0000-4000-8000-000000000001", "Sandbox Host"),
    )
    # Users the tenant's application access policy grants this app (None: every user).
    access_policy_user_ids: frozenset[str] | None = None
    # Over 300 s, or msal ignores the cached token (libraries.md §2).
    token_expires_in: int = 3599
    join_url_base: str = "https://teams.sandbox.example/l/meetup-join"
    # Graph answers at most this many rows per page (attendance records, call record sessions).
    page_size: int = 50
    # callRecords subscriptions live at most 4,230 minutes.
    max_subscription_minutes: int = 4230
    # Graph waits this long for the validation handshake answer.
    validation_timeout_seconds: float = 10.0
    # Graph expects a notification to be answered 2xx within 3 s.
    notification_answer_timeout_seconds: float = 3.0
    # Delays before each redelivery of a notification not answered 2xx (Graph retries for 4 h).
    notification_retry_delays: tuple[float, ...] = (0.0, 0.0, 0.0)
    # Notifications per POST when several are due at once.
    notification_batch_size: int = 3
    seed: int = 0
    # Every address in these domains (and subdomains) is a user of the tenant, as a real tenant's
    # reps would be; `users` are users whatever their domain.
    licensed_domains: tuple[str, ...] = ()
    clock: Clock = field(default=utc_now, compare=False)
    _by_domain: dict[str, EntraUser] = field(default_factory=dict, compare=False, repr=False)

    def user(self, ref: str) -> EntraUser | None:
        """A user by object id or UPN (case-insensitive), as `/users/{id | userPrincipalName}` takes."""
        lowered = ref.lower()
        listed = next((u for u in self.users if u.id == ref or u.upn.lower() == lowered), None)
        if listed is not None:
            return listed
        if in_domains(lowered, self.licensed_domains):
            object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"salesmeet-sandbox:{lowered}"))
            return self._by_domain.setdefault(object_id, EntraUser(lowered, object_id, lowered.split("@")[0]))
        return self._by_domain.get(ref)

    def user_by_id(self, object_id: str) -> EntraUser | None:
        listed = next((u for u in self.users if u.id == object_id), None)
        return listed or self._by_domain.get(object_id)


def in_domains(email: str, domains: tuple[str, ...]) -> bool:
    local, _, domain = email.partition("@")
    return bool(local) and any(domain == d or domain.endswith(f".{d}") for d in domains)
