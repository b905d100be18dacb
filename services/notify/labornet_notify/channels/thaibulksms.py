"""SMS through ThaiBulkSMS API v2 (``POST {base_url}/sms``, form-encoded,
HTTP basic auth with the API key and secret).

``msisdn`` is sent in the international form without ``+``
(``66812345678``): the gateway accepts it as well as ``0812345678``, it is
the form the gateway answers with in ``phone_number_list``, and it says the
same thing for a number abroad. The text is fitted to the SMS segment rules
first (:func:`~labornet_notify.channels.segments.fit_sms`). The gateway
cannot drop a repeated message: a retry after a lost answer may show twice.
"""

from __future__ import annotations

from typing import Any, ClassVar

import requests

from labornet_notify.channels.base import Message, SendResult
from labornet_notify.channels.http_answers import (
    _http_result,
    _json,
    _requests_failure,
    _session,
)
from labornet_notify.channels.segments import fit_sms
from labornet_shared.clock import Clock, utc_now
from labornet_shared.reference.errors import ReferenceError as _ReferenceError
from labornet_shared.reference.phone import normalize_phone

THAIBULKSMS_URL = "https://api-v2.thaibulksms.com"


def thaibulksms_msisdn(phone: str) -> str:
    """The ``msisdn`` ThaiBulkSMS is sent: E.164 without the ``+``.

    ``+66812345678`` (or any spelling :func:`normalize_phone` reads) gives
    ``66812345678``.

    Raises:
        labornet_shared.reference.PhoneError: not a readable phone number.
    """
    return normalize_phone(phone).removeprefix("+")


class ThaiBulkSmsChannel:
    """SMS through ThaiBulkSMS API v2.

    ``force`` is the credit type (``"corporate"``: delivery reports to the
    handset; ``"standard"``: to the operator only). Texts are fitted to
    ``max_segments`` parts (:func:`fit_sms`); the gateway concatenates the
    parts and bills one credit each. A number in ``bad_phone_number_list`` is
    a permanent failure for that message.
    """

    kind: ClassVar[str] = "sms"
    FORCES: ClassVar[frozenset[str]] = frozenset({"standard", "corporate"})

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        sender: str,
        base_url: str = THAIBULKSMS_URL,
        force: str = "corporate",
        timeout: float | tuple[float, float] = 10.0,
        max_segments: int = 3,
        session: requests.Session | None = None,
        now: Clock = utc_now,
    ) -> None:
        if force not in self.FORCES:
            raise ValueError(f"force must be one of {sorted(self.FORCES)}")
        if max_segments < 1:
            raise ValueError("max_segments must be at least 1")
        self.url = base_url.rstrip("/") + "/sms"
        self._auth = (api_key, api_secret)
        self.sender = sender
        self.force = force
        self.timeout = timeout
        self.max_segments = max_segments
        self._session = session or _session()
        self._now = now

    def send(self, message: Message) -> SendResult:
        """Send one SMS; see the class docstring for what the answer means."""
        try:
            msisdn = thaibulksms_msisdn(message.to)
        except _ReferenceError:
            return SendResult.permanent(
                "bad_phone_number", "not a phone number; not sent"
            )
        form = {
            "msisdn": msisdn,
            "message": fit_sms(message.text, self.max_segments),
            "sender": self.sender,
            "force": self.force,
        }
        try:
            response = self._session.post(
                self.url, data=form, auth=self._auth, timeout=self.timeout
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            return _requests_failure(exc, "thaibulksms")
        body = _json(response)
        if not 200 <= response.status_code < 300:
            return _http_result(
                response.status_code,
                response.headers,
                _thaibulksms_error(body),
                self._now,
            )
        return self._read_answer(response.status_code, body, msisdn)

    def _read_answer(self, status: int, body: Any, msisdn: str) -> SendResult:
        if not isinstance(body, dict):
            return SendResult.permanent(
                "unexpected_answer",
                f"{status} answer is not JSON",
                maybe_delivered=True,
            )
        for entry in body.get("phone_number_list") or ():
            if isinstance(entry, dict) and _same_msisdn(entry.get("number"), msisdn):
                return SendResult.ok(
                    str(entry.get("message_id") or "") or None,
                    f"{status} accepted used_credit={entry.get('used_credit')}"
                    f" credit_type={body.get('credit_type')}",
                )
        for entry in body.get("bad_phone_number_list") or ():
            if isinstance(entry, dict) and _same_msisdn(entry.get("number"), msisdn):
                return SendResult.permanent(
                    "bad_phone_number",
                    f"{status} bad phone number: {entry.get('message', '')}",
                )
        return SendResult.permanent(
            "unexpected_answer",
            f"{status} number in neither list",
            maybe_delivered=True,
        )


def _same_msisdn(number: Any, msisdn: str) -> bool:
    if not isinstance(number, str | int):
        return False
    try:
        return thaibulksms_msisdn(str(number)) == msisdn
    except _ReferenceError:
        return False


def _thaibulksms_error(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    # code and name only: a description may repeat what was sent.
    return f"error code={error.get('code')} name={error.get('name')}"
