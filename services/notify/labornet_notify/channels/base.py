"""What every channel shares: the :class:`Message` it is given, the
:class:`SendResult` it answers, the :class:`Channel` interface, and the
summary of a provider's answer without personal data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable


@dataclass(frozen=True)
class Message:
    """One rendered message for one recipient on one channel.

    ``to`` is the channel's address: an E.164 phone number (SMS), a LINE user
    id, an e-mail address, or a webhook URL. ``idempotency_key`` is the
    delivery's id: it becomes LINE's retry key, the e-mail's Message-ID and
    the webhook's ``webhook-id``, so every attempt of one delivery is
    recognisably the same message. ``signing_secrets`` are the webhook
    subscription's ``whsec_`` secrets (two while a secret is being rotated).
    ``language`` is the one the text is written in (None for a webhook's
    JSON): providers ignore it; the console channel shows it.
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
    language: str | None = None


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


def _text(reply: bytes | str) -> str:
    """A provider's reply (SMTP, a webhook receiver) as text."""
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
