"""Google user ids to e-mails, through the Admin SDK Directory (`users.get`, `viewType=domain_public`).

Meet names signed-in participants only by their user id. The Directory knows the domain's users;
one it does not know (404) is a signed-in user from outside the domain: they keep their user id.
Answers are cached (ids never change owner), the misses too, per process.
"""

from __future__ import annotations

import threading
from typing import Any

from integrations.base import ProviderNotFound
from integrations.meet.client import DIRECTORY, GoogleApis
from integrations.meet.errors import MEET


class DirectoryEmails:
    def __init__(self, apis: GoogleApis, delegated_user: str) -> None:
        self._apis = apis
        self._delegated_user = delegated_user
        self._lock = threading.Lock()
        self._known: dict[str, str | None] = {}

    def email_of(self, user_id: str) -> str | None:
        """The primary e-mail of a user id (`users/` prefix optional); None for a user outside the domain."""
        key = user_id.removeprefix("users/")
        with self._lock:
            if key in self._known:
                return self._known[key]
        try:
            user: Any = self._apis.call(
                DIRECTORY,
                self._delegated_user,
                lambda s: s.users().get(userKey=key, viewType="domain_public"),
            )
        except ProviderNotFound:
            email = None
        else:
            found = user.get("primaryEmail") if isinstance(user, dict) else None
            email = found.lower() if isinstance(found, str) and found else None
        with self._lock:
            self._known[key] = email
        return email

    def user_id_of(self, email: str) -> str:
        """The Directory id of a domain user (for Workspace Events user subscriptions)."""
        user: Any = self._apis.call(
            DIRECTORY, self._delegated_user, lambda s: s.users().get(userKey=email, viewType="domain_public")
        )
        found = user.get("id") if isinstance(user, dict) else None
        if not isinstance(found, str) or not found:
            raise ProviderNotFound(MEET, f"no Directory id for {email}")
        with self._lock:
            self._known[found] = email.lower()
        return found
