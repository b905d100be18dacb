"""notify's channels: the real protocols of SMS, LINE, e-mail and webhooks.

Each channel turns one :class:`Message` into one attempt at its provider and
answers a :class:`SendResult`; it never raises for what a provider answers
(an outage, a refusal, a timeout) and raises only for programming errors
(a message without what the channel needs, a bad configuration). The
service around it keeps the delivery rows, the retries and the fallbacks.

What is sent where:

* SMS — ThaiBulkSMS API v2 (``POST {base_url}/sms``, form-encoded, HTTP
  basic auth with the API key and secret). ``msisdn`` is sent in the
  international form without ``+`` (``66812345678``): the gateway accepts it
  as well as ``0812345678``, it is the form the gateway answers with in
  ``phone_number_list``, and it says the same thing for a number abroad. The
  text is fitted to the SMS segment rules first (:func:`fit_sms`).
* LINE — Messaging API push with ``X-Line-Retry-Key``: a UUID derived from
  the delivery id, so a retried push is shown once; LINE's ``409`` with
  ``x-line-accepted-request-id`` means "already accepted" and is success.
* E-mail — SMTP (STARTTLS when configured, never a silent downgrade),
  multipart/alternative plain text + HTML, ``Message-ID`` derived from the
  delivery id so a resend is recognisable.
* Webhooks — Standard Webhooks signatures (:func:`sign_webhook`); the URL is
  re-checked against server-side request forgery at every send
  (:func:`check_webhook_url`) and the connection goes to the address that was
  checked (no second DNS lookup that a rebinding name could answer
  differently), with the Host header and TLS SNI/verification still for the
  name.

Answers map the same way everywhere: 2xx accepted; 408, 425, 429, 5xx,
timeouts and connection errors are transient (``retry=True``, with
``Retry-After`` honoured, as seconds or an HTTP date); any other 4xx is
permanent. ``maybe_delivered`` says that the provider may have taken the
message although no answer came (the request was sent, then the connection
failed): webhooks and LINE deduplicate a retry by its id; ThaiBulkSMS and
SMTP relays cannot, so a retry after such a failure may show twice.

Nothing personal goes into ``SendResult.provider_response``: it is a short
summary (status, provider codes) with e-mail addresses, long digit runs and
LINE user ids blanked.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.policy
import hashlib
import hmac
import http.client
import ipaddress
import re
import secrets as secrets_module
import smtplib
import socket
import ssl
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr, parsedate_to_datetime
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests

from labornet_shared.reference.errors import ReferenceError as _ReferenceError
from labornet_shared.reference.phone import mask_phone, normalize_phone

__all__ = [
    "Channel",
    "LineChannel",
    "Message",
    "RateLimiter",
    "SendResult",
    "SmtpChannel",
    "ThaiBulkSmsChannel",
    "UnsafeUrl",
    "WebhookChannel",
    "build_email",
    "check_webhook_url",
    "email_message_id",
    "fit_sms",
    "generate_webhook_secret",
    "line_retry_key",
    "mask_email",
    "mask_line_id",
    "mask_phone",
    "mask_recipient",
    "mask_webhook_url",
    "parse_retry_after",
    "preload_word_breaker",
    "sign_webhook",
    "sms_encoding",
    "sms_segments",
    "thaibulksms_msisdn",
]

# --- messages and results ----------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One rendered message for one recipient on one channel.

    ``to`` is the channel's address: an E.164 phone number (SMS), a LINE user
    id, an e-mail address, or a webhook URL. ``idempotency_key`` is the
    delivery's id: it becomes LINE's retry key, the e-mail's Message-ID and
    the webhook's ``webhook-id``, so every attempt of one delivery is
    recognisably the same message. ``signing_secrets`` are the webhook
    subscription's ``whsec_`` secrets (two while a secret is being rotated).
    The repr leaves the address and the texts out, so a logged message leaks
    nothing.
    """

    to: str = field(repr=False)
    text: str = field(repr=False)
    idempotency_key: str
    subject: str | None = field(default=None, repr=False)
    html: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    signing_secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class SendResult:
    """What one attempt came to.

    Exactly one of: ``accepted``; ``retry`` (transient, try again, not before
    ``retry_after`` seconds when the provider said so); ``permanent_error``
    (a stable snake_case code: retrying will not help). ``provider_response``
    is a short summary without personal data, fit to store and log.
    """

    accepted: bool
    provider_message_id: str | None = None
    provider_response: str = ""
    retry: bool = False
    retry_after: float | None = None
    permanent_error: str | None = None
    maybe_delivered: bool = False

    @classmethod
    def ok(cls, provider_message_id: str | None, response: str) -> SendResult:
        """The provider took the message."""
        return cls(True, provider_message_id, _scrub(response))

    @classmethod
    def transient(
        cls,
        response: str,
        retry_after: float | None = None,
        *,
        maybe_delivered: bool = False,
    ) -> SendResult:
        """A failure worth retrying."""
        return cls(
            False,
            provider_response=_scrub(response),
            retry=True,
            retry_after=retry_after,
            maybe_delivered=maybe_delivered,
        )

    @classmethod
    def permanent(
        cls, error: str, response: str, *, maybe_delivered: bool = False
    ) -> SendResult:
        """A failure that will not go away by retrying."""
        return cls(
            False,
            provider_response=_scrub(response),
            permanent_error=error,
            maybe_delivered=maybe_delivered,
        )


@runtime_checkable
class Channel(Protocol):
    """A way to reach a recipient: one attempt per :meth:`send`."""

    kind: ClassVar[str]  # "sms", "line", "email", "webhook"

    def send(self, message: Message) -> SendResult:
        """Attempt delivery once; never raises for the provider's answers."""
        ...


# --- summaries without personal data ------------------------------------------

_EMAILS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")
_LINE_IDS = re.compile(r"\b[UCR][0-9a-f]{32}\b")
# Phone numbers in any spelling: 6+ digits possibly split by separators.
_DIGIT_RUNS = re.compile(r"\+?\d(?:[\d \-]{4,}\d)")
_SUMMARY_LIMIT = 200


def _scrub(text: str) -> str:
    """Blank addresses and numbers from a provider's text; keep it short."""
    text = _EMAILS.sub("[email]", text)
    text = _LINE_IDS.sub("[line-id]", text)
    text = _DIGIT_RUNS.sub(
        lambda m: m.group() if len(re.sub(r"\D", "", m.group())) < 6 else "[number]",
        text,
    )
    text = " ".join(text.split())
    if len(text) > _SUMMARY_LIMIT:
        text = text[: _SUMMARY_LIMIT - 1] + "…"
    return text


# --- HTTP answers ------------------------------------------------------------

_TRANSIENT_STATUSES = frozenset({408, 425, 429})


def _now_utc() -> datetime:
    return datetime.now(UTC)


def parse_retry_after(
    value: str | None, now: Callable[[], datetime] = _now_utc
) -> float | None:
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
    now: Callable[[], datetime],
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


# --- SMS segments --------------------------------------------------------------

# GSM 03.38 default alphabet (without the escape character) and its extension
# table, whose characters take two septets.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
_LIMITS = {"gsm7": (160, 153), "ucs2": (70, 67)}  # (single, per concatenated part)

# What shortening must never cut: links, case references, tracking codes.
_PROTECTED = re.compile(
    r"https?://\S+"
    r"|LN-[0-9]{4}-[0-9]{8}"
    r"|(?<![0-9A-Za-z])[0-9A-Z]{5}-[0-9A-Z]{5}(?![0-9A-Za-z])"
)
# Text without spaces longer than this is a run of Thai (or Myanmar) words,
# which are written without spaces between words: cut it inside if needed.
_LONG_RUN = 20
_THAI_LEADING_VOWELS = frozenset("เแโใไ")


def sms_encoding(text: str) -> str:
    """``"gsm7"`` when every character is in the GSM 7-bit alphabet, else
    ``"ucs2"`` (Thai, Myanmar, emoji, "…")."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text):
        return "gsm7"
    return "ucs2"


def _unit_cost(ch: str, encoding: str) -> int:
    if encoding == "gsm7":
        return 2 if ch in _GSM7_EXTENSION else 1
    # UTF-16 code units: characters beyond the BMP take a surrogate pair.
    return 2 if ord(ch) > 0xFFFF else 1


def sms_segments(text: str) -> list[str]:
    """The parts the network sends ``text`` as.

    GSM-7 texts take 160 septets in one SMS, 153 per part when concatenated
    (extension characters such as ``€`` or ``[`` count two); anything else
    is UCS-2: 70 characters in one SMS, 67 per part (characters beyond the
    BMP count two). An escape pair or surrogate pair is never split. The
    gateway bills one credit per part.
    """
    encoding = sms_encoding(text)
    single, per_part = _LIMITS[encoding]
    if sum(_unit_cost(ch, encoding) for ch in text) <= single:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        cost = _unit_cost(ch, encoding)
        if used + cost > per_part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost
    parts.append("".join(current))
    return parts


@dataclass(frozen=True)
class _Unit:
    separator: str  # the whitespace before the unit
    text: str
    protected: bool


def _units(text: str) -> list[_Unit]:
    """Words and protected tokens, in order, with their leading whitespace."""
    units: list[_Unit] = []
    separator = ""
    position = 0
    matches: list[re.Match[str] | None] = [*_PROTECTED.finditer(text), None]
    for match in matches:
        end = match.start() if match else len(text)
        for piece in re.split(r"(\s+)", text[position:end]):
            if not piece:
                continue
            if piece.isspace():
                separator += piece
            else:
                units.append(_Unit(separator, piece, False))
                separator = ""
        if match:
            units.append(_Unit(separator, match.group(), True))
            separator = ""
            position = match.end()
    return units


def _is_cut_point(text: str, index: int) -> bool:
    """May ``text`` be cut before ``index`` without breaking a letter?"""
    if index <= 0 or index >= len(text):
        return False
    # A combining vowel or tone mark belongs to the letter before it, and a
    # Thai leading vowel to the consonant after it.
    if unicodedata.category(text[index])[0] == "M":
        return False
    return text[index - 1] not in _THAI_LEADING_VOWELS


def _cut_points(run: str) -> list[int]:
    """Where a run of text without spaces may be cut: between words when
    ``pythainlp`` is installed (Thai has no spaces between words), else
    between letters."""
    try:
        from pythainlp.tokenize import word_tokenize
    except ImportError:
        return [i for i in range(len(run)) if _is_cut_point(run, i)]
    points, position = [], 0
    for word in word_tokenize(run, engine="newmm", keep_whitespace=True):
        position += len(word)
        if _is_cut_point(run, position):
            points.append(position)
    return points


def preload_word_breaker() -> None:
    """Load ``pythainlp``'s dictionary now (about a second of CPU) rather than
    inside the first send that shortens a Thai SMS; nothing without it."""
    with contextlib.suppress(ImportError):
        from pythainlp.tokenize import word_tokenize

        word_tokenize("ทดสอบ", engine="newmm")


def fit_sms(text: str, max_segments: int = 3) -> str:
    """``text`` shortened, if needed, to fit in ``max_segments`` SMS parts.

    Words are dropped from the end and an ellipsis added (``…`` in UCS-2
    texts, ``...`` in GSM-7 ones, where ``…`` would force UCS-2). Links,
    case references and tracking codes are never cut: one that falls after
    the cut is kept after the ellipsis. A run of Thai words without spaces
    is cut between words (with ``pythainlp``; between letters, never inside
    a letter with its marks, without it) when the whole run does not fit.
    Only when the protected tokens alone do not fit is the answer longer
    than ``max_segments`` parts.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")

    def fits(candidate: str) -> bool:
        return len(sms_segments(candidate)) <= max_segments

    if fits(text):
        return text
    units = _units(text)
    ellipsis = "…" if sms_encoding(text) == "ucs2" else "..."

    def render(count: int, partial: str = "") -> str:
        head = "".join(u.separator + u.text for u in units[:count])
        rest = units[count:]
        if partial:
            head += rest[0].separator + partial
            rest = rest[1:]
        head = head.strip() + ellipsis
        kept = [u.text for u in rest if u.protected]
        return " ".join([head, *kept]) if kept else head

    best = 0
    for count in range(len(units)):
        if fits(render(count)):
            best = count
    following = units[best] if best < len(units) else None
    if following and not following.protected and len(following.text) > _LONG_RUN:
        cuts = _cut_points(following.text)
        low, high, chosen = 0, len(cuts) - 1, 0
        while low <= high:
            middle = (low + high) // 2
            if fits(render(best, following.text[: cuts[middle]])):
                chosen, low = cuts[middle], middle + 1
            else:
                high = middle - 1
        if chosen:
            return render(best, following.text[:chosen])
    return render(best)


# --- ThaiBulkSMS ---------------------------------------------------------------

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
        now: Callable[[], datetime] = _now_utc,
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


# --- LINE ----------------------------------------------------------------------

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
        now: Callable[[], datetime] = _now_utc,
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


# --- e-mail --------------------------------------------------------------------


def email_message_id(idempotency_key: str, domain: str) -> str:
    """The ``Message-ID`` of a delivery: ``<delivery.<id>@<domain>>``, the
    same for every attempt."""
    token = re.sub(r"[^A-Za-z0-9._-]", "-", idempotency_key)
    return f"<delivery.{token}@{domain}>"


_EMAIL_POLICY = email.policy.SMTP.clone(cte_type="7bit")


def build_email(
    message: Message, sender: str, message_id_domain: str | None = None
) -> EmailMessage:
    """The e-mail of a message: plain text, plus HTML as an alternative.

    The body is encoded for 7-bit transport (quoted-printable or base64,
    whichever is shorter) so no relay has to convert Thai text. Raises
    ``ValueError`` for a sender without a domain.
    """
    sender_address = parseaddr(sender)[1]
    domain = message_id_domain or sender_address.rpartition("@")[2]
    if not domain:
        raise ValueError("the sender needs an address with a domain")
    mail = EmailMessage(policy=_EMAIL_POLICY)
    mail["From"] = sender
    mail["To"] = message.to
    # One line: a template's stray newline must not become a header break.
    mail["Subject"] = " ".join((message.subject or "").split())
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = email_message_id(message.idempotency_key, domain)
    # RFC 3834: automatic mail; auto-responders should not answer it.
    mail["Auto-Submitted"] = "auto-generated"
    for name, value in message.headers.items():
        mail[name] = value
    mail.set_content(message.text)
    if message.html is not None:
        mail.add_alternative(message.html, subtype="html")
    return mail


class SmtpChannel:
    """E-mail over SMTP.

    With ``starttls`` the session is upgraded before anything is sent and a
    server that does not offer STARTTLS is a permanent failure: never a
    downgrade to clear text. ``ssl_context`` defaults to the system's
    trusted CAs with hostname checking. SMTP 4xx replies, connection errors,
    timeouts and TLS errors are transient; 5xx replies are permanent.
    """

    kind: ClassVar[str] = "email"

    def __init__(
        self,
        *,
        host: str,
        sender: str,
        port: int = 587,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        message_id_domain: str | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self._sender_address = parseaddr(sender)[1]
        if "@" not in self._sender_address:
            raise ValueError("sender must be an e-mail address")
        self._credentials = (username, password or "") if username else None
        self.starttls = starttls
        self.timeout = timeout
        self._ssl_context = ssl_context
        self.message_id_domain = message_id_domain
        # Once: smtplib would look the FQDN up again for every connection.
        self.local_hostname = local_hostname or socket.getfqdn()

    def send(self, message: Message) -> SendResult:
        """Send one e-mail; see the class docstring for what the answer means."""
        if not _EMAIL_ADDRESS.fullmatch(message.to):
            return SendResult.permanent(
                "bad_email_address", "not an e-mail address; not sent"
            )
        mail = build_email(message, self.sender, self.message_id_domain)
        message_id = str(mail["Message-ID"])
        stage = "connect"
        smtp: smtplib.SMTP | None = None
        try:
            smtp = smtplib.SMTP(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
            )
            stage = "ehlo"
            smtp.ehlo()
            if self.starttls:
                stage = "starttls"
                smtp.starttls(context=self._ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if self._credentials:
                stage = "auth"
                smtp.login(*self._credentials)
            stage = "mail"
            code, reply = smtp.mail(self._sender_address)
            if code != 250:
                return _smtp_refusal(code, reply, "sender refused")
            stage = "rcpt"
            code, reply = smtp.rcpt(message.to)
            if code not in (250, 251):
                return _smtp_refusal(code, reply, "recipient refused")
            stage = "data"
            code, reply = smtp.data(mail.as_bytes())
            if code != 250:
                return _smtp_refusal(code, reply, "message refused")
        except smtplib.SMTPNotSupportedError:
            return SendResult.permanent(
                "starttls_not_supported", "server does not offer STARTTLS; not sent"
            )
        except smtplib.SMTPResponseException as exc:
            return _smtp_refusal(exc.smtp_code, exc.smtp_error, f"{stage} failed")
        except (OSError, smtplib.SMTPException) as exc:
            # Timeouts, refused connections, disconnects, TLS errors.
            return SendResult.transient(
                f"smtp {stage}: {type(exc).__name__}",
                maybe_delivered=stage == "data",
            )
        finally:
            if smtp is not None:
                _quit_quietly(smtp)
        return SendResult.ok(message_id, f"{code} {_text(reply)}")


_EMAIL_ADDRESS = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\".]+")


def _quit_quietly(smtp: smtplib.SMTP) -> None:
    """End the session; once the message is taken, how QUIT goes does not
    matter (and must not turn a delivered message into a retry)."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _smtp_refusal(code: int, reply: bytes | str, what: str) -> SendResult:
    response = f"{code} {what}: {_text(reply)}"
    if 400 <= code < 500:
        return SendResult.transient(response)
    return SendResult.permanent(f"smtp_{code}", response)


# --- webhooks: signatures ------------------------------------------------------

WEBHOOK_SECRET_PREFIX = "whsec_"


def generate_webhook_secret(size: int = 32) -> str:
    """A new Standard Webhooks secret: ``whsec_`` + base64 of random bytes."""
    key = secrets_module.token_bytes(size)
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def _secret_key(secret: str) -> bytes:
    encoded = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret must be whsec_ + base64") from exc
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def sign_webhook(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: str | bytes
) -> dict[str, str]:
    """Standard Webhooks headers for one request.

    ``webhook-signature`` holds ``v1,<base64 HMAC-SHA256>`` over
    ``{msg_id}.{timestamp}.{body}`` for each secret, space-separated: while
    a secret is rotated both are valid and the receiver accepts either.
    ``timestamp`` is in seconds since the epoch.
    """
    if not secrets:
        raise ValueError("at least one webhook secret is needed")
    if isinstance(body, str):
        body = body.encode("utf-8")
    signed = f"{msg_id}.{int(timestamp)}.".encode() + body
    signatures = [
        "v1,"
        + base64.b64encode(
            hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
        ).decode("ascii")
        for secret in secrets
    ]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(signatures),
    }


# --- webhooks: where they may go -----------------------------------------------


class UnsafeUrl(ValueError):
    """A webhook URL notify must not call; ``reason`` is a snake_case code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class HostNotFound(UnsafeUrl):
    """The URL's host does not resolve (now): transient at send time."""


Resolver = Callable[[str, int], Sequence[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _address_problem(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> str | None:
    """Why ``address`` is not a public one notify may call, or ``None``."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = (
            address.ipv4_mapped or address.sixtofour
        )
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            problem = _address_problem(embedded)
            if problem:
                return problem
        if address.is_site_local:
            return "private"
    for problem, flag in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link_local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return problem
    if not address.is_global:
        return "not_global"  # e.g. 100.64.0.0/10, documentation ranges
    return None


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def _is_localhost_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


_LEGACY_IPV4 = re.compile(r"[0-9][0-9a-fA-FxX.]*")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f]")


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names by itself, also in the legacy IPv4 forms
    (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) that resolvers accept."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _check_target(
    url: str, allow_insecure_local: bool, resolver: Resolver | None = None
) -> _Target:
    if _CONTROL_OR_SPACE.search(url):
        # urlsplit quietly drops CR, LF and tab (WHATWG), so the URL checked
        # would not be the URL kept and sent: refuse them outright
        raise UnsafeUrl("malformed", "control characters or spaces in the URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl("malformed", "not a valid URL") from exc
    if port == 0:  # checked before a missing port becomes the scheme's
        raise UnsafeUrl("malformed", "port 0 is not a port")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ("https", "http"):
        raise UnsafeUrl("scheme", "the URL must start with https://")
    if not host:
        raise UnsafeUrl("malformed", "the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("credentials", "credentials in the URL are not accepted")
    port = port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    local_name = _is_localhost_name(host)
    if local_name and not allow_insecure_local:
        raise UnsafeUrl("localhost", "localhost is not a public address")
    literal = _ip_literal(host)
    if literal is not None:
        raw = [str(literal)]
    else:
        try:
            raw = list((resolver or _system_resolver)(host, port))
        except (OSError, UnicodeError) as exc:
            raise HostNotFound("host_not_found", "the host does not resolve") from exc
        if not raw:
            raise HostNotFound("host_not_found", "the host does not resolve")

    addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in raw]
    loopback_only = all(a.is_loopback for a in addresses)
    if allow_insecure_local and loopback_only:
        # Development only: a local agency system on this machine.
        return _Target(scheme, host, port, path, tuple(str(a) for a in addresses))
    if local_name:
        raise UnsafeUrl("localhost", "localhost is not a public address")
    for address in addresses:
        problem = _address_problem(address)
        if problem:
            raise UnsafeUrl(
                problem, f"the host resolves to a {problem.replace('_', '-')} address"
            )
    if scheme != "https":
        raise UnsafeUrl("scheme", "the URL must start with https://")
    return _Target(scheme, host, port, path, tuple(str(a) for a in addresses))


def check_webhook_url(
    url: str, allow_insecure_local: bool = False, resolver: Resolver | None = None
) -> None:
    """Refuse a webhook URL notify must not call (server-side request forgery).

    Accepted: ``https`` URLs whose host — a name is resolved, and *every*
    address it resolves to counts — is a public address, on any port (a
    public service on an odd port is reachable by anyone anyway; what must
    not be reachable is this network's inside). Refused: other schemes,
    credentials in the URL, ``localhost`` and ``*.localhost``, and private,
    loopback, link-local (cloud metadata at 169.254.169.254), multicast,
    reserved, unspecified, shared (100.64/10) and documentation addresses,
    also when wrapped in IPv6 (IPv4-mapped, 6to4, Teredo, NAT64).
    ``allow_insecure_local`` (development settings only) also accepts
    ``http``/``https`` to loopback: ``http://127.0.0.1:<port>``,
    ``http://localhost:<port>``, ``http://[::1]:<port>``; other private
    addresses stay refused.

    Raises:
        UnsafeUrl: with ``reason`` (``scheme``, ``credentials``,
            ``localhost``, ``loopback``, ``private``, ``link_local``,
            ``multicast``, ``reserved``, ``unspecified``, ``not_global``,
            ``malformed``) or :class:`HostNotFound` (``host_not_found``).
    """
    _check_target(url, allow_insecure_local, resolver)


# --- webhooks: delivery --------------------------------------------------------


def _connect(address: str, port: int, timeout: float | None) -> socket.socket:
    sock = socket.create_connection((address, port), timeout)
    # As http.client does: the request's writes must not wait for ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to an address checked beforehand, whatever DNS says now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = _connect(self._address, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with SNI and certificate check for the
    name in the URL."""

    def __init__(
        self,
        host: str,
        port: int,
        address: str,
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = _connect(self._address, self.port, self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class WebhookChannel:
    """Signed webhooks to agency systems (Standard Webhooks).

    ``message.to`` is the URL, ``message.text`` the JSON body,
    ``message.signing_secrets`` the subscription's secrets and
    ``message.idempotency_key`` the ``webhook-id`` (the same on every
    attempt, so the receiver can drop a duplicate).

    Every send re-checks the URL (:func:`check_webhook_url`), then connects
    to one of the addresses just checked — not to what a second DNS lookup
    would answer — so a name that rebinds to an inside address between the
    check and the connection still cannot reach it. Redirects are not
    followed. An unsafe URL is a permanent failure (``unsafe_url``); a host
    that does not resolve is transient.
    """

    kind: ClassVar[str] = "webhook"
    ANSWER_LIMIT = 4096  # bytes of the receiver's answer read, at most

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        allow_insecure_local: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        resolver: Resolver | None = None,
        clock: Callable[[], float] = time.time,
        user_agent: str = "labornet-notify",
        now: Callable[[], datetime] = _now_utc,
    ) -> None:
        self.timeout = timeout
        self.allow_insecure_local = allow_insecure_local
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._resolver = resolver
        self._clock = clock
        self.user_agent = user_agent
        self._now = now

    def send(self, message: Message) -> SendResult:
        """POST one signed webhook; see the class docstring."""
        if not message.signing_secrets:
            raise ValueError("a webhook message needs its signing secrets")
        try:
            target = _check_target(
                message.to, self.allow_insecure_local, self._resolver
            )
        except HostNotFound:
            return SendResult.transient("webhook: host does not resolve")
        except UnsafeUrl as exc:
            return SendResult.permanent("unsafe_url", f"refused: {exc.reason}")
        body = message.text.encode("utf-8")
        headers = {
            **message.headers,
            **sign_webhook(
                message.signing_secrets,
                message.idempotency_key,
                int(self._clock()),
                body,
            ),
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
        }
        last_error: OSError | None = None
        for address in target.addresses:
            connection = self._connection(target, address)
            sent = False
            try:
                connection.connect()
                connection.request("POST", target.path, body=body, headers=headers)
                sent = True
                response = connection.getresponse()
                answer = response.read(self.ANSWER_LIMIT)
                status = response.status
                response_headers = dict(response.getheaders())
            except (OSError, http.client.HTTPException) as exc:
                if not sent and isinstance(exc, OSError):
                    last_error = exc  # try the next checked address
                    continue
                return SendResult.transient(
                    f"webhook: {type(exc).__name__} waiting for the answer",
                    maybe_delivered=True,
                )
            finally:
                connection.close()
            if status == 410:
                return SendResult.permanent("gone", "410 the receiver is gone")
            return _http_result(
                status,
                response_headers,
                _text(answer[:80]) if status >= 300 else "delivered",
                self._now,
            )
        return SendResult.transient(
            f"webhook: connection failed ({type(last_error).__name__})"
        )

    def _connection(self, target: _Target, address: str) -> http.client.HTTPConnection:
        if target.scheme == "https":
            return _PinnedHTTPSConnection(
                target.host, target.port, address, self.timeout, self._ssl_context
            )
        return _PinnedHTTPConnection(target.host, target.port, address, self.timeout)


# --- masking -----------------------------------------------------------------


def mask_email(address: str) -> str:
    """``somchai.j@gmail.com`` gives ``s***@g***.com``: enough to tell two
    recipients apart in a list, not enough to write to them."""
    local, _, domain = address.strip().rpartition("@")
    if not local or not domain:
        return "***"
    name, dot, tld = domain.rpartition(".")
    masked_domain = f"{name[:1]}***.{tld}" if dot and name else f"{domain[:1]}***"
    return f"{local[:1]}***@{masked_domain}"


def mask_line_id(user_id: str) -> str:
    """``U4af4980629...`` gives ``U…29ab``: the kind letter and the last four."""
    user_id = user_id.strip()
    if len(user_id) < 8:
        return "U…"
    return f"{user_id[0]}…{user_id[-4:]}"


def mask_webhook_url(url: str) -> str:
    """Scheme, host and port only: paths and queries may hold tokens."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"
    except ValueError:
        return "…"


def mask_recipient(kind: str, address: str) -> str:
    """The form of a recipient's address notify stores and logs.

    Phone numbers use ``labornet_shared``'s :func:`mask_phone`
    (``+66 8x xxx 5678``).
    """
    maskers: dict[str, Callable[[str], str]] = {
        "sms": mask_phone,
        "line": mask_line_id,
        "email": mask_email,
        "webhook": mask_webhook_url,
    }
    try:
        return maskers[kind](address)
    except KeyError:
        raise ValueError(f"unknown channel kind {kind!r}") from None


# --- rate limiting -------------------------------------------------------------


class RateLimiter:
    """A token bucket per provider: ``rate_per_second`` sustained, ``burst``
    at once.

    :meth:`acquire` *reserves* a token and sleeps until its turn, so a burst
    of 10,000 messages is spread out at the provider's rate rather than
    failed, and waiters go in the order they asked. Safe across threads and
    green threads (a lock around the arithmetic; the sleep is outside it).
    ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate_per_second)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now

    def acquire(self, timeout: float | None = None) -> bool:
        """Wait for a token; ``False`` (and nothing taken) if the wait would
        exceed ``timeout`` seconds."""
        with self._lock:
            self._refill()
            wait = max(0.0, (1.0 - self._tokens) / self.rate)
            if timeout is not None and wait > timeout:
                return False
            # Reserve now: the tokens may go negative, and the next caller
            # then waits behind this one.
            self._tokens -= 1.0
        if wait > 0:
            self._sleep(wait)
        return True

    def try_acquire(self) -> bool:
        """Take a token if one is there now, without waiting."""
        return self.acquire(timeout=0.0)
