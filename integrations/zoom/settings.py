"""The Zoom adapter's plain settings (the composition root builds them from config + secrets)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ZoomAdapterSettings:
    account_id: str
    client_id: str
    # Kept out of repr so a logged settings object never shows it.
    client_secret: str = field(repr=False)
    token_url: str = "https://zoom.us/oauth/token"  # noqa: S105 - a URL, not a secret
    api_base_url: str = "https://api.zoom.us/v2"
    timeout_seconds: float = 10
    waiting_room: bool = False
    # True: salesmeet generates a numeric passcode for every new meeting.
    passcode: bool = True
    join_before_host: bool = False
    # Retries after the first try for retryable failures (429 other than the daily limit, 5xx...).
    max_retries: int = 3
    retry_base_delay_seconds: float = 0.5
    # Longest single wait between retries, whatever Retry-After asks for.
    max_retry_wait_seconds: float = 30.0
    report_page_size: int = 300

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if self.max_retries < 0:
            raise ValueError("max_retries must not be negative")
        if not 1 <= self.report_page_size <= 300:
            raise ValueError("report_page_size must be within 1..300 (Zoom's maximum)")
