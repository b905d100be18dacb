"""JSON-lines logging with service, correlation id and event id.

Personal data never belongs in a log line. Code logs identifiers only; as a
second line of defence the formatter masks anything that looks like a Thai
national ID, a phone number or an e-mail address.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
event_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "event_id", default=None
)

_PII_PATTERNS = (
    # a broker URL's password: nameko masks only the first of a cluster's
    # ``amqp://u:p@a;amqp://u:p@b`` when it cannot connect
    (re.compile(r"(?<=://)[^\s:/@;]+:[^\s@;/]+@"), "[credentials]@"),
    # national IDs and phone numbers (with or without separators)
    (re.compile(r"(?<!\d)(?:\+?\d[\d\- ]{7,16}\d)(?!\d)"), "[number]"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[email]"),
)
# Identifiers we log on purpose and must not mask.
_SAFE = re.compile(
    r"LN-\d{4}-\d{8}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


# What a caller's X-Correlation-Id may be: a short token ...
_CORRELATION_TOKEN = re.compile(r"[A-Za-z0-9._-]{1,64}")
# ... that does not carry a phone number or a national ID: seven or more
# digits in a row, single separators between them allowed (081-234-5678)
_DIGIT_RUN = re.compile(r"\d(?:[._-]?\d){6,}")


def accepted_correlation_id(sent: str | None) -> str:
    """The correlation id a request is logged under: the caller's
    ``X-Correlation-Id`` when it is a UUID, a case reference, or a token of
    at most 64 letters, digits, ``.``, ``_`` and ``-`` with no run of seven
    or more digits; otherwise (none sent, or something that could be a
    phone number, a national ID, a name with spaces, an e-mail) a new UUID.
    The caller's value is never logged when refused."""
    if sent is not None:
        sent = sent.strip()
        if _SAFE.fullmatch(sent) or (
            _CORRELATION_TOKEN.fullmatch(sent) and not _DIGIT_RUN.search(sent)
        ):
            return sent
    return str(uuid.uuid4())


def scrub(text: str) -> str:
    """Mask personal-data look-alikes, keeping case references and UUIDs."""
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    text = _SAFE.sub(keep, text)
    for pattern, replacement in _PII_PATTERNS:
        text = pattern.sub(replacement, text)
    return re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, ids."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        correlation_id = getattr(record, "correlation_id", None) or (
            correlation_id_var.get()
        )
        event_id = getattr(record, "event_id", None) or event_id_var.get()
        if correlation_id:
            line["correlation_id"] = correlation_id
        if event_id:
            line["event_id"] = event_id
        if record.exc_info:
            line["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def setup_logging(service: str, level: str = "INFO") -> None:
    """Send every log record of this process to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # nameko logs whole worker contexts (with arguments) at debug level.
    logging.getLogger("nameko").setLevel(max(root.level, logging.INFO))
