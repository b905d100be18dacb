"""Signed webhooks to agency systems (Standard Webhooks).

The URL is re-checked against server-side request forgery at every send
(:func:`~labornet_notify.webhook_urls.check_webhook_url`) and the connection
goes to the address that was checked (no second DNS lookup that a rebinding
name could answer differently), with the Host header and TLS
SNI/verification still for the name. The ``webhook-id`` is the delivery id,
so a receiver drops a repeated attempt.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from typing import ClassVar

from labornet_notify.channels.base import Message, SendResult, _text
from labornet_notify.channels.http_answers import _http_result
from labornet_notify.webhook_signatures import sign_webhook
from labornet_notify.webhook_urls import (
    HostNotFound,
    Resolver,
    UnsafeUrl,
    _check_target,
    _Target,
)
from labornet_shared.clock import Clock, utc_now


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
        now: Clock = utc_now,
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
