"""What an emulated Zoom account looks like: credentials, licensed users, limits, webhook target."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from integrations.sandbox.clock import Clock, utc_now


@dataclass(frozen=True)
class ZoomUser:
    """A licensed user of the account; `id` is Zoom's opaque user id."""

    email: str
    id: str
    first_name: str = ""
    last_name: str = ""

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email


@dataclass(frozen=True)
class ZoomRealism:
    """How unkind the emulator is, behaviour by behaviour; the defaults are what Zoom does.

    - `hide_external_identities`: someone outside the account (not a user, not in a licensed
      domain) has no e-mail and no user id in webhooks and report rows, unless they registered.
    - `registrant_emails_visible`: a registrant's e-mail is shown (Zoom's exception for
      registrants); off, only their `registrant_id` tells who they are.
    - `new_ids_on_rejoin`: every join gets a new per-meeting `user_id` and `participant_uuid`.
    - `waiting_room_rows`: the report lists waiting-room time as rows with status `in_waiting_room`.
    - `no_report_below_two_participants`: an instance with fewer than two participants has no
      participants report (404, code 3001).

    A meeting id can always be started again, any day later: that needs no switch.
    """

    hide_external_identities: bool = True
    registrant_emails_visible: bool = True
    new_ids_on_rejoin: bool = True
    waiting_room_rows: bool = True
    no_report_below_two_participants: bool = True

    @classmethod
    def kind(cls) -> ZoomRealism:
        """Everything told, stable ids, no waiting rows, a report for every meeting."""
        return cls(
            hide_external_identities=False,
            registrant_emails_visible=True,
            new_ids_on_rejoin=False,
            waiting_room_rows=False,
            no_report_below_two_participants=False,
        )


@dataclass(frozen=True)
class ZoomEmulatorConfig:
    account_id: str = "sandbox-account"
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"  # noqa: S105 - sandbox credential, not a real secret
    webhook_secret_token: str = "sandbox-webhook-secret"  # noqa: S105 - sandbox credential
    users: tuple[ZoomUser, ...] = (ZoomUser("host@example.com", "u_host0001", "Sandbox", "Host"),)
    token_expires_in: int = 3600
    scope: str = "meeting:read:admin meeting:write:admin report:read:admin user:read:admin"
    # The `api_url` field of the token answer; None means "this emulator's own origin".
    api_url: str | None = None
    daily_create_update_limit: int = 100
    # Requests per second per account on /v2; None disables the check (as Zoom's plan-based QPS).
    per_second_limit: int | None = None
    page_token_ttl_seconds: int = 15 * 60
    join_url_base: str = "https://sandbox.zoom.example"
    webhook_target_url: str | None = None
    # Seconds Zoom waits for a webhook answer (3 s on the real service).
    webhook_answer_timeout: float = 3.0
    # Delays before each retry; Zoom uses +5 min, +20 min, +60 min. Short here so a test can wait.
    webhook_retry_delays: tuple[float, ...] = (0.0, 0.0, 0.0)
    seed: int = 0
    # Every address in these domains (and their subdomains) is a licensed user of the account, as
    # the reps of a real account would be; `users` are licensed whatever their domain.
    licensed_domains: tuple[str, ...] = ()
    realism: ZoomRealism = ZoomRealism()
    clock: Clock = field(default=utc_now, compare=False)

    def in_account(self, email: str, zoom_user_id: str = "") -> bool:
        """Whether someone is a user of this account (Zoom shows their identity to the host)."""
        if zoom_user_id and any(u.id == zoom_user_id for u in self.users):
            return True
        return bool(email.strip()) and self.user_by_ref(email.strip()) is not None

    def user_by_ref(self, ref: str) -> ZoomUser | None:
        """Resolve a `userId` path segment: an email, a user id, or `me` (the first user)."""
        if ref == "me":
            return self.users[0] if self.users else None
        lowered = ref.lower()
        listed = next((u for u in self.users if u.email.lower() == lowered or u.id == ref), None)
        if listed is not None:
            return listed
        return licensed_user(lowered, self.licensed_domains)


def licensed_user(email: str, domains: tuple[str, ...]) -> ZoomUser | None:
    """The user an address in a licensed domain is, with a stable id derived from the address."""
    local, _, domain = email.partition("@")
    if not local or not domain:
        return None
    if not any(domain == d or domain.endswith(f".{d}") for d in domains):
        return None
    digest = hashlib.sha256(email.encode("utf-8")).hexdigest()[:12]
    return ZoomUser(email, f"u_{digest}", "Sandbox", local)
