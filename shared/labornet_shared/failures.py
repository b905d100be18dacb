"""Why an event handler failed: the moment, a missing prerequisite, or the
message itself.

The consumer treats the three differently (see :mod:`labornet_shared.consumer`):

* **transient** — the database or the broker is unreachable, locked or slow
  (a timeout). The message is not at fault: it is retried with capped backoff
  for as long as the outage lasts, up to a window (an hour by default);
* **prerequisite** — the handler raised :class:`PrerequisiteMissing`: an
  event it builds on has not arrived yet. Retried over its own window, then
  dead-lettered saying what never came;
* **content** — anything else: the message makes the handler fail. Retried a
  bounded number of times, then dead-lettered.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import kombu.exceptions
import sqlalchemy.exc
from kombu.transport.pyamqp import Transport

from labornet_shared.inbox import PrerequisiteMissing as PrerequisiteMissing

TRANSIENT = "transient"
PREREQUISITE = "prerequisite"
CONTENT = "content"
KINDS = (TRANSIENT, PREREQUISITE, CONTENT)

# kombu's own tuples for the transport labornet uses (amqp errors, OSError:
# refused, reset, socket timeouts), never a list written by hand
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    *Transport.connection_errors,
    *Transport.recoverable_connection_errors,
    kombu.exceptions.OperationalError,
)

# sqlite3 raises OperationalError for a busy file and for a syntax error
# alike: only these messages say the database, not the statement, is at fault
_SQLITE_TRANSIENT = (
    "database is locked",
    "database table is locked",
    "database schema is locked",
    "database is busy",
    "unable to open database file",
    "disk i/o error",
)


def classify(error: BaseException) -> str:
    """:data:`TRANSIENT`, :data:`PREREQUISITE` or :data:`CONTENT`.

    An error raised ``from`` a transient one (a handler wrapping a database
    error) is transient too.
    """
    for link in _causes(error):
        if isinstance(link, PrerequisiteMissing):
            return PREREQUISITE
        if is_transient(link):
            return TRANSIENT
    return CONTENT


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` itself says the database or the broker is
    unavailable, locked or timing out (not the message's fault)."""
    if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(
        error, sqlalchemy.exc.TimeoutError | sqlalchemy.exc.DisconnectionError
    ):
        return True  # no pooled connection came in time; a dropped connection
    if isinstance(error, sqlite3.OperationalError):
        return str(error).lower().startswith(_SQLITE_TRANSIENT)
    psycopg2 = sys.modules.get("psycopg2")  # not imported: cannot be its error
    if psycopg2 is not None and isinstance(
        error, psycopg2.OperationalError | psycopg2.InterfaceError
    ):
        # lost or refused connections, lock and statement timeouts, deadlocks
        # and serialisation failures (TransactionRollbackError), shutdown
        return True
    if isinstance(error, sqlalchemy.exc.OperationalError):
        # by the DB-API, an error of the database's operation; sqlite3's
        # (checked above through ``orig``) is the one that is not always
        # (labornet's own SQLite writer lock, timed out, raises one too)
        if isinstance(error.orig, sqlite3.OperationalError):
            return is_transient(error.orig)
        return True
    return isinstance(error, BROKER_ERRORS)


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen and len(seen) < 10:
        seen.add(id(link))
        yield link
        orig = getattr(link, "orig", None)
        if isinstance(orig, BaseException) and id(orig) not in seen:
            yield orig
            seen.add(id(orig))
        link = link.__cause__


_REFERENCE = re.compile(r"\bLN-\d+-\d+\b")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_NUMBER = re.compile(r"\d+")


def reason_label(error: BaseException) -> str:
    """A bounded label for a metric: the error's type, or for
    :class:`PrerequisiteMissing` its reason (its message with references,
    ids and numbers blanked, so one label stands for every case)."""
    if not isinstance(error, PrerequisiteMissing):
        return type(error).__name__
    if error.reason:
        return error.reason[:80]
    text = _REFERENCE.sub("<case>", str(error))
    text = _UUID.sub("<id>", text)
    return _NUMBER.sub("<n>", text)[:80] or "unspecified"


# --- what a message's failures so far allow --------------------------------------

ATTEMPT_HEADER = "x-labornet-attempt"
KIND_HEADER = "x-labornet-failure-kind"
COUNT_HEADERS = {kind: f"x-labornet-{kind}-failures" for kind in KINDS}
SINCE_HEADERS = {
    TRANSIENT: "x-labornet-transient-since",
    PREREQUISITE: "x-labornet-prerequisite-since",
}

DEFAULT_MAX_RETRIES = 5
DEFAULT_RETRY_DELAYS_MS = (1000, 5000, 30_000, 60_000)
DEFAULT_TRANSIENT_RETRY_SECONDS = 3600
DEFAULT_PREREQUISITE_WAIT_SECONDS = 3600
# a few levels, each a queue of its own per service; none longer than this
MAX_RETRY_LEVELS = 8
MAX_RETRY_DELAY_MS = 15 * 60_000


@dataclass(frozen=True)
class FailureRecord:
    """What a message's headers say about its failed deliveries so far:
    how many of each kind, and since when it fails transiently or waits for a
    prerequisite (the windows are counted from there)."""

    attempts: int = 0
    counts: tuple[tuple[str, int], ...] = ()
    since: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_headers(cls, headers: Mapping[str, Any] | None) -> FailureRecord:
        """Read the ``x-labornet-*`` failure headers (absent: none yet)."""
        headers = headers or {}
        counts = tuple(
            (kind, int(headers.get(header) or 0))
            for kind, header in COUNT_HEADERS.items()
        )
        since = tuple(
            (kind, str(headers[header]))
            for kind, header in SINCE_HEADERS.items()
            if headers.get(header)
        )
        return cls(int(headers.get(ATTEMPT_HEADER) or 0), counts, since)

    def count(self, kind: str) -> int:
        """Failures of ``kind`` so far."""
        return dict(self.counts).get(kind, 0)

    def started(self, kind: str) -> datetime | None:
        """When the first failure of ``kind`` happened."""
        value = dict(self.since).get(kind)
        return datetime.fromisoformat(value) if value else None

    def after(self, kind: str, now: datetime) -> FailureRecord:
        """The record once this delivery failed with ``kind``."""
        counts = dict(self.counts)
        counts[kind] = counts.get(kind, 0) + 1
        since = dict(self.since)
        if kind in SINCE_HEADERS:
            since.setdefault(kind, now.isoformat())
        return FailureRecord(
            self.attempts + 1, tuple(counts.items()), tuple(since.items())
        )

    def headers(self) -> dict[str, Any]:
        """The headers that carry this record to the next delivery."""
        headers: dict[str, Any] = {ATTEMPT_HEADER: self.attempts}
        for kind, header in COUNT_HEADERS.items():
            headers[header] = self.count(kind)
        for kind, value in self.since:
            headers[SINCE_HEADERS[kind]] = value
        return headers


@dataclass(frozen=True)
class Verdict:
    """Retry after ``delay_ms``, or (``delay_ms`` None) dead-letter saying
    ``reason``."""

    delay_ms: int | None
    reason: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    """How long each kind of failure is retried, and how far apart."""

    max_retries: int = DEFAULT_MAX_RETRIES
    delays_ms: tuple[int, ...] = DEFAULT_RETRY_DELAYS_MS
    transient_seconds: float = DEFAULT_TRANSIENT_RETRY_SECONDS
    prerequisite_seconds: float = DEFAULT_PREREQUISITE_WAIT_SECONDS

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], max_retries: int | None = None
    ) -> RetryPolicy:
        """The policy a service's config.yml sets (``EVENT_*`` keys)."""
        return cls(
            max_retries=int(
                max_retries
                if max_retries is not None
                else config.get("EVENT_MAX_RETRIES", DEFAULT_MAX_RETRIES)
            ),
            delays_ms=retry_delays(
                config.get("EVENT_RETRY_DELAYS_MS", DEFAULT_RETRY_DELAYS_MS)
            ),
            transient_seconds=float(
                config.get(
                    "EVENT_TRANSIENT_RETRY_SECONDS", DEFAULT_TRANSIENT_RETRY_SECONDS
                )
            ),
            prerequisite_seconds=float(
                config.get(
                    "EVENT_PREREQUISITE_WAIT_SECONDS", DEFAULT_PREREQUISITE_WAIT_SECONDS
                )
            ),
        )

    def delay_ms(self, retry: int) -> int:
        """The wait before retry number ``retry`` (1-based) of one kind: the
        levels in turn, then the last one."""
        return self.delays_ms[min(max(retry, 1), len(self.delays_ms)) - 1]

    def decide(self, record: FailureRecord, kind: str, now: datetime) -> Verdict:
        """What to do with a message whose failures, this one included, are
        ``record`` and whose latest failure is of ``kind``."""
        if kind == CONTENT:
            failures = record.count(CONTENT)
            if failures > self.max_retries:
                return Verdict(None, f"failed {failures} times for its content")
            return Verdict(self.delay_ms(failures))
        window = (
            self.transient_seconds if kind == TRANSIENT else self.prerequisite_seconds
        )
        started = record.started(kind) or now
        if (now - started).total_seconds() > window:
            what = (
                "the database or broker stayed unavailable"
                if kind == TRANSIENT
                else "its prerequisite never arrived"
            )
            return Verdict(None, f"{what} for more than {window:g} s")
        return Verdict(self.delay_ms(record.count(kind)))


def retry_delays(value: Any) -> tuple[int, ...]:
    """Retry delay levels in ms from config: ``"1000,5000,30000"``, a list, or
    one number. Each at most 15 minutes, at most 8 levels."""
    if isinstance(value, str):
        items: list[Any] = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, int | float):
        items = [value]
    else:
        items = list(value)
    delays = tuple(int(item) for item in items)
    if not delays or len(delays) > MAX_RETRY_LEVELS:
        raise ValueError(
            f"between 1 and {MAX_RETRY_LEVELS} retry delays, not {value!r}"
        )
    if any(d <= 0 or d > MAX_RETRY_DELAY_MS for d in delays):
        raise ValueError(f"retry delays are 1..{MAX_RETRY_DELAY_MS} ms, not {value!r}")
    return delays
