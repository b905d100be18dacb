"""Local servers that speak the providers' real protocols.

For tests, ``make run`` demos and the bench: each is a real server on a free
port of 127.0.0.1, served from a thread (a green thread under eventlet's
monkey-patching, as in ``nameko test`` and ``nameko run``), recording what
it received and able to fail on command.

* :class:`FakeThaiBulkSms` — ThaiBulkSMS API v2 ``POST /sms``.
* :class:`FakeLineApi` — LINE Messaging API push, with retry keys.
* :class:`FakeSmtpServer` — SMTP (aiosmtpd), optionally STARTTLS and AUTH.
* :class:`WebhookReceiver` — an agency system verifying Standard Webhooks
  signatures with the ``standardwebhooks`` package.

Each has ``url``/``port``, ``start()``, ``stop()`` and is a context manager.
The HTTP fakes also have ``fail_next(n, status, retry_after)``, ``slow()``
(answer late, for timeouts) and ``down()``/``up()`` (connections refused,
then served again on the same port). They log nothing: what they receive
is personal data.

``aiosmtpd`` and ``standardwebhooks`` are imported only when their fake is
started, so importing this module needs neither.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self, cast
from urllib.parse import parse_qs

from labornet_notify.channels import sms_segments

__all__ = [
    "FakeLineApi",
    "FakeSmtpServer",
    "FakeThaiBulkSms",
    "LinePush",
    "ReceivedEmail",
    "ReceivedWebhook",
    "RecordedRequest",
    "RefusedWebhook",
    "SentSms",
    "WebhookReceiver",
    "client_ssl_context",
    "free_port",
    "gateway_number",
    "self_signed_certificate",
]

Answer = tuple[int, dict[str, str], bytes]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _json_answer(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> Answer:
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return status, {"Content-Type": "application/json", **(headers or {})}, payload


# --- certificates --------------------------------------------------------------


def self_signed_certificate(
    directory: Path, hostname: str = "localhost"
) -> tuple[Path, Path] | None:
    """A throw-away certificate for ``hostname`` and 127.0.0.1, and its key.

    Made with ``cryptography`` when it is installed, else with the
    ``openssl`` command; ``None`` when neither is there (then TLS can be
    tested for configuration only).
    """
    cert, key = directory / "cert.pem", directory / "key.pem"
    if _certificate_with_cryptography(cert, key, hostname):
        return cert, key
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={hostname}",
            "-addext",
            f"subjectAltName=DNS:{hostname},IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _certificate_with_cryptography(cert: Path, key: Path, hostname: str) -> bool:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        return False
    import datetime
    import ipaddress

    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(hostname),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return True


def client_ssl_context(cert: Path) -> ssl.SSLContext:
    """A client context trusting only ``cert`` (hostname checks stay on)."""
    return ssl.create_default_context(cafile=str(cert))


def _server_ssl_context(tls: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls[0]), str(tls[1]))
    return context


# --- HTTP fakes ----------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One HTTP request as a fake received it, and the status it answered."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    status: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections in a burst, and
    # the client's SYN retry costs a second each.
    request_queue_size = 128
    fake: _HttpFake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
    # Headers and body go out in two writes: without this, Nagle and the
    # client's delayed ACK add 40 ms to every answer.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._remember_connection(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._forget_connection(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: requests carry phone numbers and messages."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            self.command,
            self.path,
            {name.lower(): value for name, value in self.headers.items()},
            body,
        )
        answer = self.server.fake._answer(request)
        if answer is None:  # went down while answering
            self.close_connection = True
            return
        status, headers, payload = answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class _HttpFake:
    """What every HTTP fake shares: lifecycle, recording, failing."""

    def __init__(self, *, tls: tuple[Path, Path] | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._failures: deque[tuple[int, float | str | None, Any]] = deque()
        self._delay = 0.0
        self._released = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._tls = tls
        self._down = False

    # lifecycle

    @property
    def port(self) -> int:
        """The port the fake listens on (the same across down/up)."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL: ``http://127.0.0.1:<port>``, or
        ``https://localhost:<port>`` with a certificate."""
        if self._tls:
            return f"https://localhost:{self._port}"
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> Self:
        """Listen on a free port and serve from a thread."""
        self._released.clear()
        self._open(self._port)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        self._released.set()
        self._close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def down(self) -> None:
        """Refuse connections (and cut open ones) until :meth:`up`."""
        with self._lock:
            self._down = True
        self._close()

    def up(self) -> None:
        """Serve again, on the same port."""
        with self._lock:
            self._down = False
        self._open(self._port)

    def _open(self, port: int) -> None:
        server = _Server(("127.0.0.1", port), _Handler)
        server.fake = self
        if self._tls:
            server.socket = _server_ssl_context(self._tls).wrap_socket(
                server.socket, server_side=True
            )
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self._port}",
            daemon=True,
        )
        self._thread.start()

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _remember_connection(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _forget_connection(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    # failing on command

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        retry_after: float | str | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next ``n`` requests with ``status`` (and a
        ``Retry-After`` of seconds or an HTTP date), in the provider's error
        format unless ``body`` is given."""
        with self._lock:
            self._failures.extend([(status, retry_after, body)] * n)

    def slow(self, seconds: float) -> None:
        """Answer every request ``seconds`` late (0 to stop); released at
        :meth:`stop`."""
        self._delay = seconds

    def _answer(self, request: RecordedRequest) -> Answer | None:
        if self._delay:
            self._released.wait(self._delay)
        with self._lock:
            if self._down or self._released.is_set():
                return None
            if self._failures:
                status, retry_after, body = self._failures.popleft()
                answer = self._failure(status, retry_after, body)
            else:
                answer = self.handle(request)
            request.status = answer[0]
            self.requests.append(request)
            return answer

    def _failure(
        self, status: int, retry_after: float | str | None, body: Any
    ) -> Answer:
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = (
                str(int(retry_after))
                if isinstance(retry_after, int | float)
                else retry_after
            )
        return _json_answer(
            status, body if body is not None else self.error_body(status), headers
        )

    # for subclasses

    def handle(self, request: RecordedRequest) -> Answer:
        """The provider's answer to a request (called under the lock)."""
        raise NotImplementedError

    def error_body(self, status: int) -> Any:
        """The provider's error body for a failure on command."""
        return {"message": f"failure on command ({status})"}


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


# --- ThaiBulkSMS ---------------------------------------------------------------


@dataclass(frozen=True)
class SentSms:
    """One SMS the gateway accepted, for one number."""

    msisdn: str  # as the gateway answers it: 66812345678
    message: str
    sender: str
    force: str
    message_id: str
    used_credit: int


_THAIBULKSMS_FIELDS = frozenset(
    {"msisdn", "message", "sender", "force", "shorten_url", "scheduled_delivery"}
)
_THAI_MOBILE = re.compile(r"(?:0|66)([689][0-9]{8})")
_ERROR_NAMES = {
    400: "ERROR_PARAMETER",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
}


def gateway_number(value: str) -> str | None:
    """A Thai mobile number in the gateway's answer form (``66812345678``),
    from ``0812345678`` or ``66812345678``; ``None`` for anything else."""
    match = _THAI_MOBILE.fullmatch(value.strip())
    return f"66{match.group(1)}" if match else None


class FakeThaiBulkSms(_HttpFake):
    """ThaiBulkSMS API v2 ``POST /sms``, as strict as the gateway.

    HTTP basic auth with the API key and secret (401 otherwise); a
    form-encoded body (the encoding notify sends) with ``msisdn`` (numbers
    separated by commas, ``0812345678`` or ``66812345678``) and ``message``
    required, ``sender`` (one of ``senders`` when given) and ``force``
    (``standard``/``corporate``) optional, and no unknown field (the gateway
    would ignore one; the fake refuses it so a misspelt field shows in
    tests). Each number is answered in ``phone_number_list`` or, when it is
    not a Thai mobile number or is in ``bad_numbers``, in
    ``bad_phone_number_list``. Errors use the gateway's body
    ``{"error": {"code", "name", "description"}}``.
    """

    def __init__(
        self,
        *,
        api_key: str = "fake-api-key",
        api_secret: str = "fake-api-secret",  # noqa: S107 - a fake's own
        senders: Iterable[str] | None = None,
        bad_numbers: Iterable[str] = (),
        credit: int = 1_000_000,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.api_secret = api_secret
        self.senders = frozenset(senders) if senders is not None else None
        self.bad_numbers = {gateway_number(n) or n for n in bad_numbers}
        self.credit = credit
        self.sent: list[SentSms] = []
        self._ids = itertools.count(1)

    def add_bad_number(self, number: str) -> None:
        """Answer ``number`` in ``bad_phone_number_list`` from now on."""
        with self._lock:
            self.bad_numbers.add(gateway_number(number) or number)

    def messages_to(self, number: str) -> list[str]:
        """The texts accepted for ``number`` (any spelling, E.164 too)."""
        wanted = gateway_number(number.removeprefix("+")) or number
        return [sms.message for sms in self.sent if sms.msisdn == wanted]

    def error_body(self, status: int) -> Any:
        """The gateway's error body."""
        return _thaibulksms_error(status, "failure on command")

    def handle(self, request: RecordedRequest) -> Answer:
        """Check and answer one ``POST /sms``."""
        if request.method != "POST" or request.path.split("?")[0] != "/sms":
            return _json_answer(404, _thaibulksms_error(404, "no such endpoint"))
        if _basic_credentials(request.headers.get("authorization")) != (
            self.api_key,
            self.api_secret,
        ):
            return _json_answer(
                401, _thaibulksms_error(401, "API key or secret is invalid")
            )
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return _bad_request("body must be application/x-www-form-urlencoded")
        try:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            return _bad_request("body is not a form")
        unknown = sorted(set(form) - _THAIBULKSMS_FIELDS)
        if unknown:
            return _bad_request(f"unknown field {unknown[0]}")
        if any(len(values) > 1 for values in form.values()):
            return _bad_request("a field is repeated")
        fields = {name: values[0] for name, values in form.items()}
        message, msisdn = fields.get("message", ""), fields.get("msisdn", "")
        sender, force = fields.get("sender", ""), fields.get("force", "standard")
        if not msisdn.strip():
            return _bad_request("msisdn is required")
        if not message:
            return _bad_request("message is required")
        if force not in ("standard", "corporate"):
            return _bad_request("force must be standard or corporate")
        if self.senders is not None and sender not in self.senders:
            return _bad_request("sender is not approved for this account")
        used_credit = len(sms_segments(message))
        accepted, bad = [], []
        for raw in msisdn.split(","):
            number = gateway_number(raw)
            if number is None or number in self.bad_numbers:
                bad.append({"number": raw.strip(), "message": "Invalid phone number"})
                continue
            message_id = f"{next(self._ids):08d}{secrets.token_hex(6)}"
            self.credit -= used_credit
            self.sent.append(
                SentSms(number, message, sender, force, message_id, used_credit)
            )
            accepted.append(
                {"number": number, "message_id": message_id, "used_credit": used_credit}
            )
        return _json_answer(
            201,
            {
                "remaining_credit": self.credit,
                "total_use_credit": used_credit * len(accepted),
                "credit_type": force,
                "phone_number_list": accepted,
                "bad_phone_number_list": bad,
            },
        )


def _thaibulksms_error(status: int, description: str) -> dict[str, Any]:
    name = _ERROR_NAMES.get(status, "ERROR")
    return {"error": {"code": status, "name": name, "description": description}}


def _bad_request(description: str) -> Answer:
    return _json_answer(400, _thaibulksms_error(400, description))


# --- LINE ----------------------------------------------------------------------


@dataclass(frozen=True)
class LinePush:
    """One push LINE accepted: what the user was shown."""

    to: str
    messages: list[dict[str, Any]]
    retry_key: str | None
    request_id: str


_LINE_USER_ID = re.compile(r"U[0-9a-f]{32}")


class FakeLineApi(_HttpFake):
    """LINE Messaging API ``POST /v2/bot/message/push``.

    Checks the channel access token (``Authorization: Bearer``), the JSON
    body (``to`` a user id, 1–5 text messages of at most 5,000 characters)
    and ``X-Line-Retry-Key`` (a UUID). A retry key already accepted answers
    409 with ``x-line-accepted-request-id`` and is not shown again; a request
    that failed (on command) did not accept its key.
    """

    def __init__(
        self,
        *,
        access_token: str = "fake-line-token",  # noqa: S107 - a fake's own
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.pushes: list[LinePush] = []
        self._accepted: dict[str, tuple[str, list[dict[str, str]]]] = {}
        self._ids = itertools.count(460_000_000_000_000_001)

    def shown_to(self, user_id: str) -> list[str]:
        """The texts ``user_id`` was shown, in order."""
        return [
            message.get("text", "")
            for push in self.pushes
            if push.to == user_id
            for message in push.messages
        ]

    def error_body(self, status: int) -> Any:
        """LINE's error body."""
        if status == 429:
            return {"message": "The API rate limit has been exceeded. Try again later."}
        return {"message": "An error occurred in the backend server."}

    def handle(self, request: RecordedRequest) -> Answer:
        """Check and answer one push."""
        if request.method != "POST" or request.path != "/v2/bot/message/push":
            return _json_answer(404, {"message": "Not found"})
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return _json_answer(
                401,
                {
                    "message": "Authentication failed. Confirm that the access "
                    "token in the authorization header is valid."
                },
            )
        retry_key = request.headers.get("x-line-retry-key")
        if retry_key is not None:
            try:
                uuid.UUID(retry_key)
            except ValueError:
                return _json_answer(
                    400, {"message": "The value of the X-Line-Retry-Key is invalid"}
                )
            if retry_key in self._accepted:
                request_id, sent = self._accepted[retry_key]
                return _json_answer(
                    409,
                    {
                        "message": "The retry key is already accepted",
                        "sentMessages": sent,
                    },
                    {"x-line-accepted-request-id": request_id},
                )
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _json_answer(415, {"message": "Unsupported Media Type"})
        problem = _line_body_problem(request.body)
        if problem:
            return _json_answer(
                400,
                {
                    "message": "The request body has 1 error(s)",
                    "details": [{"message": problem[1], "property": problem[0]}],
                },
            )
        body = json.loads(request.body)
        request_id = str(uuid.uuid4())
        sent = [
            {"id": str(next(self._ids)), "quoteToken": secrets.token_urlsafe(16)}
            for _ in body["messages"]
        ]
        self.pushes.append(
            LinePush(body["to"], body["messages"], retry_key, request_id)
        )
        if retry_key is not None:
            self._accepted[retry_key] = (request_id, sent)
        return _json_answer(
            200, {"sentMessages": sent}, {"x-line-request-id": request_id}
        )


def _line_body_problem(raw: bytes) -> tuple[str, str] | None:
    """(property, message) of the first thing LINE would refuse."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return "", "The request body is not valid JSON"
    if not isinstance(body, dict):
        return "", "The request body must be an object"
    if not isinstance(body.get("to"), str) or not _LINE_USER_ID.fullmatch(body["to"]):
        return "to", "The property, 'to', in the request body is invalid"
    messages = body.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return "messages", "Size must be between 1 and 5"
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("type") != "text":
            return f"{where}.type", "Only text messages are expected here"
        text = message.get("text")
        if not isinstance(text, str) or not text:
            return f"{where}.text", "Must not be empty"
        if len(text) > 5000:
            return f"{where}.text", "Length must be between 0 and 5000"
    return None


# --- webhooks ------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedWebhook:
    """A webhook whose signature verified."""

    msg_id: str
    timestamp: int
    payload: Any
    path: str
    signatures: tuple[str, ...]


@dataclass(frozen=True)
class RefusedWebhook:
    """A webhook refused: bad or missing signature, stale timestamp."""

    reason: str
    msg_id: str | None
    path: str


class WebhookReceiver(_HttpFake):
    """An agency system receiving notify's webhooks.

    Verifies every request with ``standardwebhooks.Webhook(secret).verify``
    for any of its valid ``secrets`` (so a rotation with two secrets can be
    followed): verified ones answer 204 and are kept in ``received``, others
    401 and are kept in ``refused``. ``fail_next`` makes it fail on command
    (before verifying). With ``tls`` it serves HTTPS for ``localhost``.
    """

    def __init__(
        self, secrets: Sequence[str], *, tls: tuple[Path, Path] | None = None
    ) -> None:
        super().__init__(tls=tls)
        self.secrets = list(secrets)
        self.received: list[ReceivedWebhook] = []
        self.refused: list[RefusedWebhook] = []

    def start(self) -> Self:
        """Listen (``standardwebhooks`` must be installed)."""
        import standardwebhooks  # noqa: F401 - fail at start, not per request

        return super().start()

    def set_secrets(self, secrets: Sequence[str]) -> None:
        """Accept signatures by these secrets from now on."""
        with self._lock:
            self.secrets = list(secrets)

    def received_ids(self) -> list[str]:
        """``webhook-id`` of every verified request, duplicates included."""
        return [hook.msg_id for hook in self.received]

    def handle(self, request: RecordedRequest) -> Answer:
        """Verify one webhook."""
        from standardwebhooks import Webhook
        from standardwebhooks.webhooks import WebhookVerificationError

        msg_id = request.headers.get("webhook-id")
        reason = "no valid secret"
        for secret in self.secrets:
            try:
                payload = Webhook(secret).verify(request.body, request.headers)
            except WebhookVerificationError as exc:
                reason = str(exc)
                continue
            except ValueError as exc:  # a body that is not JSON
                reason = f"body: {type(exc).__name__}"
                break
            self.received.append(
                ReceivedWebhook(
                    msg_id or "",
                    int(request.headers["webhook-timestamp"]),
                    payload,
                    request.path,
                    tuple(request.headers.get("webhook-signature", "").split()),
                )
            )
            return 204, {}, b""
        self.refused.append(RefusedWebhook(reason, msg_id, request.path))
        return _json_answer(401, {"error": "invalid signature"})


# --- SMTP ----------------------------------------------------------------------


@dataclass
class ReceivedEmail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None
    message: EmailMessage = field(init=False)

    def __post_init__(self) -> None:
        # policy.default parses into EmailMessage.
        self.message = cast(
            EmailMessage, BytesParser(policy=policy.default).parsebytes(self.data)
        )


class _SmtpHandler:
    def __init__(self, fake: FakeSmtpServer) -> None:
        self.fake = fake

    async def handle_RCPT(
        self,
        server: Any,
        session: Any,
        envelope: Any,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.fake._next_refusal()
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        auth = getattr(session, "auth_data", None)
        login = getattr(auth, "login", None)
        received = ReceivedEmail(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            bytes(envelope.original_content or envelope.content),
            tls=session.ssl is not None,
            login=login.decode("utf-8") if isinstance(login, bytes) else None,
        )
        queue_id = self.fake._record(received)
        return f"250 2.0.0 Ok: queued as {queue_id}"


class FakeSmtpServer:
    """A real SMTP server (aiosmtpd) on a free port, recording messages.

    With ``tls`` (a certificate and key, see :func:`self_signed_certificate`)
    it offers STARTTLS (``require_starttls`` refuses mail without it); with
    ``credentials`` it requires AUTH, offered only after STARTTLS as real
    servers do. ``fail_next(n, code)`` refuses the next recipients with an
    SMTP reply (``451`` transient, ``550`` permanent).
    """

    def __init__(
        self,
        *,
        tls: tuple[Path, Path] | None = None,
        require_starttls: bool = False,
        credentials: tuple[str, str] | None = None,
        hostname: str = "127.0.0.1",
    ) -> None:
        self.hostname = hostname
        self.tls = tls
        self.require_starttls = require_starttls
        self.credentials = credentials
        self.messages: list[ReceivedEmail] = []
        self._lock = threading.Lock()
        self._refusals: deque[str] = deque()
        self._controller: Any = None
        self._port = 0
        self._ids = itertools.count(1)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._port

    @property
    def url(self) -> str:
        """``smtp://127.0.0.1:<port>``."""
        return f"smtp://{self.hostname}:{self._port}"

    def start(self) -> Self:
        """Listen on a free port (the same one again after :meth:`stop`)."""
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> Any:
            login = getattr(auth_data, "login", b"")
            password = getattr(auth_data, "password", b"")
            given = (login.decode("utf-8"), password.decode("utf-8"))
            if given != self.credentials:
                return AuthResult(success=False, handled=False)  # 535
            return AuthResult(success=True, auth_data=auth_data)

        options: dict[str, Any] = {}
        if self.tls:
            options["tls_context"] = _server_ssl_context(self.tls)
            options["require_starttls"] = self.require_starttls
        if self.credentials:
            options.update(
                authenticator=authenticate, auth_required=True, auth_require_tls=True
            )
        # aiosmtpd cannot take port 0: it connects to its own port to check
        # that it started.
        self._port = self._port or free_port()
        self._controller = Controller(
            _SmtpHandler(self),
            hostname=self.hostname,
            port=self._port,
            server_hostname="fake-smtp.labornet.test",
            ready_timeout=5.0,
            **options,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    down = stop

    def up(self) -> None:
        """Listen again on the same port."""
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail_next(self, n: int = 1, code: int = 451, text: str | None = None) -> None:
        """Refuse the next ``n`` recipients with ``code``."""
        default = "4.3.0 try again later" if code < 500 else "5.1.1 no such user"
        reply = f"{code} {text or default}"
        with self._lock:
            self._refusals.extend([reply] * n)

    def messages_to(self, address: str) -> list[ReceivedEmail]:
        """The messages accepted for ``address``."""
        return [m for m in self.messages if address in m.rcpt_tos]

    def _next_refusal(self) -> str | None:
        with self._lock:
            return self._refusals.popleft() if self._refusals else None

    def _record(self, received: ReceivedEmail) -> str:
        with self._lock:
            self.messages.append(received)
            return f"FAKE{next(self._ids):06d}"
