"""How an HTTP provider's answer becomes a :class:`SendResult`: 2xx
accepted; 408, 425, 429, 5xx, timeouts and connection errors transient
(``Retry-After`` honoured, as seconds or an HTTP date); other 4xx permanent.
Shared by ThaiBulkSMS, LINE and webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from labornet_notify.channels.base import SendResult
from labornet_shared.clock import Clock, utc_now

_TRANSIENT_STATUSES = frozenset({408, 425, 429})


def parse_retry_after(value: str | None, now: Clock = utc_now) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date).

    An unreadable value is ignored (``None``); a date in the past is 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now()).total_seconds())


def _http_result(
    status: int,
    headers: Mapping[str, str],
    summary: str,
    now: Clock,
    provider_message_id: str | None = None,
) -> SendResult:
    """The common mapping of an HTTP status to a result."""
    if 200 <= status < 300:
        return SendResult.ok(provider_message_id, f"{status} {summary}".strip())
    response = f"{status} {summary}".strip()
    if status in _TRANSIENT_STATUSES or status >= 500:
        return SendResult.transient(
            response, parse_retry_after(_header(headers, "Retry-After"), now)
        )
    if 300 <= status < 400:
        # Redirects are not followed: a redirect could lead anywhere,
        # including past the address checks.
        return SendResult.permanent("redirect_not_followed", response)
    return SendResult.permanent(f"http_{status}", response)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _requests_failure(exc: requests.RequestException, what: str) -> SendResult:
    """A transport failure of ``requests``: transient, maybe delivered."""
    if isinstance(exc, requests.ConnectTimeout):
        return SendResult.transient(f"{what}: connect timeout")
    if isinstance(exc, requests.Timeout):
        return SendResult.transient(f"{what}: no answer in time", maybe_delivered=True)
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    never_sent = type(reason).__name__ in {
        "NewConnectionError",
        "NameResolutionError",
        "ConnectTimeoutError",
        "SSLError",
    }
    return SendResult.transient(
        f"{what}: connection failed ({type(reason or exc).__name__})",
        maybe_delivered=not never_sent,
    )


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _session() -> requests.Session:
    session = requests.Session()
    # Never take proxies or credentials from the environment or ~/.netrc.
    session.trust_env = False
    return session
