"""notify's channels: the real protocols of SMS, LINE, e-mail and webhooks.

Each channel turns one :class:`Message` into one attempt at its provider and
answers a :class:`SendResult`; it never raises for what a provider answers
(an outage, a refusal, a timeout) and raises only for programming errors
(a message without what the channel needs, a bad configuration). The
service around it keeps the delivery rows, the retries and the fallbacks.

One module per channel — :mod:`.thaibulksms`, :mod:`.line`, :mod:`.smtp`,
:mod:`.webhooks`, and :mod:`.console`, which stands in for them under
``make run`` (the messages recorded, not sent) — over what they share:
:mod:`.base` (the message, the result, the interface), :mod:`.http_answers`,
:mod:`.segments` (SMS parts), :mod:`.masking` and :mod:`.rate_limit`.
Every public name is importable from this package. The webhook rules the
domain also needs (where a webhook may go, its secrets) are plain modules
outside it:
:mod:`labornet_notify.webhook_urls`, :mod:`labornet_notify.webhook_signatures`.

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

from labornet_notify.channels.base import Channel, Message, SendResult
from labornet_notify.channels.console import (
    ConsoleChannel,
    ConsoleLog,
    console_channels,
)
from labornet_notify.channels.http_answers import parse_retry_after
from labornet_notify.channels.line import LineChannel, line_retry_key
from labornet_notify.channels.masking import (
    mask_email,
    mask_line_id,
    mask_phone,
    mask_recipient,
    mask_webhook_url,
)
from labornet_notify.channels.rate_limit import RateLimiter
from labornet_notify.channels.segments import (
    fit_sms,
    preload_word_breaker,
    sms_encoding,
    sms_segments,
)
from labornet_notify.channels.smtp import SmtpChannel, build_email, email_message_id
from labornet_notify.channels.thaibulksms import (
    ThaiBulkSmsChannel,
    thaibulksms_msisdn,
)
from labornet_notify.channels.webhooks import WebhookChannel
from labornet_notify.webhook_signatures import generate_webhook_secret, sign_webhook
from labornet_notify.webhook_urls import UnsafeUrl, check_webhook_url

__all__ = [
    "Channel",
    "ConsoleChannel",
    "ConsoleLog",
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
    "console_channels",
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
