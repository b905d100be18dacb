"""E-mail over SMTP: STARTTLS when configured (never a silent downgrade),
multipart/alternative plain text + HTML, ``Message-ID`` derived from the
delivery id so a resend is recognisable. An SMTP relay cannot drop a
repeated message: a retry after a lost answer may show twice.
"""

from __future__ import annotations

import email.policy
import re
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import ClassVar

from labornet_notify.channels.base import Message, SendResult, _text
from labornet_shared.clock import utc_now


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
    mail["Date"] = format_datetime(utc_now())
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


def _smtp_refusal(code: int, reply: bytes | str, what: str) -> SendResult:
    response = f"{code} {what}: {_text(reply)}"
    if 400 <= code < 500:
        return SendResult.transient(response)
    return SendResult.permanent(f"smtp_{code}", response)
