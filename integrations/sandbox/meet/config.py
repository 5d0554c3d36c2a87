"""What an emulated Google Workspace looks like: its users, its service account, limits, push target."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from integrations.sandbox.clock import Clock, utc_now
from integrations.sandbox.meet.keys import ServiceAccount, SigningKey


@dataclass(frozen=True)
class WorkspaceUser:
    """A user of the emulated Workspace domain; `id` is the Directory's numeric user id."""

    email: str
    id: str
    full_name: str = ""

    @property
    def display_name(self) -> str:
        return self.full_name or self.email.split("@")[0]


@dataclass(frozen=True)
class MeetEmulatorConfig:
    users: tuple[WorkspaceUser, ...] = (
        WorkspaceUser("host@example.com", "100000000000000000001", "Sandbox Host"),
    )
    # Generated at run time, never committed; `service_account` is who may ask for tokens.
    service_account: ServiceAccount = field(default_factory=ServiceAccount.generate, compare=False)
    # Google's key for the OIDC tokens on Pub/Sub pushes (served at /oauth2/v1/certs).
    push_signing_key: SigningKey = field(
        default_factory=lambda: SigningKey.generate("accounts.google.com"), compare=False
    )
    token_expires_in: int = 3599
    # Reads of a new event before its conference leaves `pending` (Google answers pending at times).
    conference_pending_reads: int = 0
    # Longest subscription life (ttl "0s" means this); Meet's is said to be 7 days.
    max_subscription_ttl_seconds: int = 7 * 24 * 3600
    # Pub/Sub push: where it posts, the audience and e-mail in its OIDC token, the names it shows.
    push_target_url: str | None = None
    push_audience: str | None = None
    push_service_account: str = "pubsub-push@salesmeet-sandbox.iam.gserviceaccount.com"
    pubsub_topic: str = "projects/salesmeet-sandbox/topics/meet-events"
    pubsub_subscription: str = "projects/salesmeet-sandbox/subscriptions/meet-events-push"
    # Redeliveries of a push Pub/Sub did not get a 2xx for (it retries for days; short here).
    push_retry_delays: tuple[float, ...] = (0.0, 0.0, 0.0)
    push_answer_timeout: float = 10.0
    meeting_link_base: str = "https://meet.google.com"
    seed: int = 0
    # Every address in these domains (and subdomains) is a user of the Workspace, as a real
    # domain's reps would be; `users` are users whatever their domain.
    licensed_domains: tuple[str, ...] = ()
    clock: Clock = field(default=utc_now, compare=False)
    _by_domain: dict[str, WorkspaceUser] = field(default_factory=dict, compare=False, repr=False)

    def user_by_email(self, email: str) -> WorkspaceUser | None:
        lowered = email.lower()
        listed = next((u for u in self.users if u.email.lower() == lowered), None)
        if listed is not None:
            return listed
        local, _, domain = lowered.partition("@")
        if local and any(domain == d or domain.endswith(f".{d}") for d in self.licensed_domains):
            user_id = str(200000000000000000000 + int(hashlib.sha256(lowered.encode()).hexdigest()[:15], 16))
            return self._by_domain.setdefault(user_id, WorkspaceUser(lowered, user_id, local))
        return None

    def user_by_key(self, key: str) -> WorkspaceUser | None:
        """A Directory `userKey`: the primary e-mail or the numeric id."""
        found = self.user_by_email(key) or next((u for u in self.users if u.id == key), None)
        return found or self._by_domain.get(key)
