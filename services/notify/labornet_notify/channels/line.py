"""LINE Messaging API push messages, with ``X-Line-Retry-Key``: a UUID
derived from the delivery id, so a retried push is shown once; LINE's
``409`` with ``x-line-accepted-request-id`` means "already accepted" and is
success.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

import requests

from labornet_notify.channels.base import Message, SendResult
from labornet_notify.channels.http_answers import (
    _http_result,
    _json,
    _requests_failure,
    _session,
)
from labornet_shared.clock import Clock, utc_now

LINE_URL = "https://api.line.me"
LINE_TEXT_LIMIT = 5000
# Fixed, so the same delivery id always gives the same retry key.
_RETRY_KEY_NAMESPACE = uuid.UUID("5b0c3f7e-4d1a-5c8e-9a61-6c61626f726e")


def line_retry_key(idempotency_key: str) -> str:
    """The ``X-Line-Retry-Key`` of a delivery: its id if it is a UUID, else a
    UUID derived from it (uuid5), the same on every attempt."""
    try:
        return str(uuid.UUID(idempotency_key))
    except ValueError:
        return str(uuid.uuid5(_RETRY_KEY_NAMESPACE, idempotency_key))


class LineChannel:
    """LINE Messaging API push messages to a user id (``U`` + 32 hex)."""

    kind: ClassVar[str] = "line"

    def __init__(
        self,
        *,
        access_token: str,
        base_url: str = LINE_URL,
        timeout: float | tuple[float, float] = 10.0,
        session: requests.Session | None = None,
        now: Clock = utc_now,
    ) -> None:
        self.url = base_url.rstrip("/") + "/v2/bot/message/push"
        self._token = access_token
        self.timeout = timeout
        self._session = session or _session()
        self._now = now

    def send(self, message: Message) -> SendResult:
        """Push one text message; a repeated attempt is never shown twice."""
        text = message.text
        if len(text) > LINE_TEXT_LIMIT:
            text = text[: LINE_TEXT_LIMIT - 1] + "…"
        try:
            response = self._session.post(
                self.url,
                json={"to": message.to, "messages": [{"type": "text", "text": text}]},
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "X-Line-Retry-Key": line_retry_key(message.idempotency_key),
                },
                timeout=self.timeout,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            return _requests_failure(exc, "line")
        status, headers = response.status_code, response.headers
        body = _json(response)
        detail = body.get("message", "") if isinstance(body, dict) else ""
        if status == 409:
            accepted_id = headers.get("x-line-accepted-request-id")
            if accepted_id:
                # The retry key was accepted before: the message was shown.
                return SendResult.ok(accepted_id, "409 retry key already accepted")
            return SendResult.permanent("http_409", f"409 {detail}")
        if status == 429 and "monthly limit" in str(detail).lower():
            # The plan's monthly quota, not a rate: no retry today helps.
            return SendResult.permanent("monthly_limit", f"429 {detail}")
        if 200 <= status < 300:
            # The request id, not a message id: a retry answered 409 names
            # the same request, so both attempts record the same id.
            return SendResult.ok(headers.get("x-line-request-id"), f"{status} pushed")
        return _http_result(status, headers, str(detail), self._now)
