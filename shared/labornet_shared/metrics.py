"""Metrics every service shares, and gauges read from a database at scrape
time.

Counters are counted where things happen (HTTP in :mod:`.http`, dead
letters and retries in :mod:`.consumer`); the events published and consumed
are defined here. What is a *state* — the outbox backlog, referrals open and
overdue, deliveries by status — is not kept in memory (it would be wrong in
every instance but the one that changed it) but read from the service's
database when Prometheus scrapes: a :class:`DatabaseCollector` asks each
running container's database (all of them through the one registered
:data:`SCRAPED`), each query bounded by half a second
(PostgreSQL's ``statement_timeout``, SQLite's progress handler), so a slow
database costs a scrape a gap, never a stuck worker. Labels are kinds,
types, agencies, provinces, channels, statuses: never a case, a person or an
address. No framework here (notify's domain counts into its metrics): the
nameko extension that adds a container's database is
:class:`labornet_shared.web.ScrapedDatabase`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

#: the longest a scrape-time query may run (seconds): Prometheus waits 10 s
#: for a whole scrape, and a gap says more than a stuck one
QUERY_TIMEOUT = 0.5

EVENTS_PUBLISHED = Counter(
    "labornet_events_published_total",
    "Events the outbox relay published and the broker confirmed",
    ["service", "event_type"],
)
EVENTS_CONSUMED = Counter(
    "labornet_events_consumed_total",
    "Events an event handler handled (committed and acknowledged)",
    ["service", "consumer", "event_type"],
)


@dataclass
class Source:
    """One running container's database, measured at scrape time."""

    service: str
    engine: Engine
    timeout: float = QUERY_TIMEOUT
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def bounded(engine: Engine, timeout: float) -> Iterator[Connection]:
    """A read-only connection whose statements stop after ``timeout``
    seconds: PostgreSQL cancels them (``statement_timeout``), SQLite is
    interrupted by its progress handler."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            with conn.begin():
                # SET LOCAL: the pool's next user gets the connection as it was
                conn.exec_driver_sql(
                    f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}"
                )
                yield conn
            return
        raw = conn.connection.driver_connection
        deadline = time.monotonic() + timeout
        setter = getattr(raw, "set_progress_handler", None)
        if setter is not None:
            # a non-zero answer aborts the statement (sqlite3.OperationalError)
            setter(lambda: int(time.monotonic() > deadline), 1000)
        try:
            yield conn
        finally:
            if setter is not None:
                setter(None, 0)


class DatabaseCollector:
    """Gauges read from the databases of this process's running containers
    (usually one; the test suite runs many), at each scrape, through
    :data:`SCRAPED`.

    A subclass names its metrics in :meth:`families` and fills them in
    :meth:`measure`, once per source (:meth:`combine` merges one series
    seen by several). ``labornet_metrics_query_up`` says whether each
    source answered in time (0: its gauges are missing from this scrape).
    """

    #: the collector's name in ``labornet_metrics_query_up``
    name = "database"

    def __init__(self) -> None:
        self._sources: dict[int, Source] = {}
        self._lock = threading.Lock()

    def add(self, source: Source) -> int:
        """Measure ``source`` from now on; returns its key for :meth:`remove`.
        The collector joins the default registry with its first source."""
        SCRAPED.join(self)
        with self._lock:
            key = id(source)
            self._sources[key] = source
            return key

    def remove(self, key: int) -> None:
        """Stop measuring a source (its container stopped)."""
        with self._lock:
            self._sources.pop(key, None)

    def families(self) -> dict[str, GaugeMetricFamily]:
        """Fresh, empty metric families (name → family)."""
        raise NotImplementedError

    def measure(
        self, conn: Connection, source: Source
    ) -> Iterable[tuple[str, tuple[str, ...], float]]:
        """``(family name, label values, value)`` of one source."""
        raise NotImplementedError

    def combine(self, old: float, new: float, family: str) -> float:
        """Two sources' values of one series: two containers of a service in
        one process share its database, so they saw the same rows — the
        larger (the later) value, not their sum."""
        return max(old, new)

    def gather(self) -> tuple[list[Metric], list[tuple[str, bool]]]:
        """Query every source now, each within its timeout: the metric
        families, and (service, answered) for each source's service."""
        families = self.families()
        values: dict[tuple[str, tuple[str, ...]], float] = {}
        with self._lock:
            sources = list(self._sources.values())
        answered: dict[str, bool] = {}
        for source in sources:
            try:
                with bounded(source.engine, source.timeout) as conn:
                    measured = list(self.measure(conn, source))
            except Exception as exc:  # the database is away or slow: a gap
                log.warning(
                    "metrics: %s query of %s failed (%s)",
                    self.name,
                    source.service,
                    type(exc).__name__,
                )
                answered[source.service] = False
                continue
            answered.setdefault(source.service, True)
            for family, labels, value in measured:
                key = (family, labels)
                values[key] = (
                    self.combine(values[key], value, family) if key in values else value
                )
        for (family, labels), value in sorted(values.items()):
            families[family].add_metric(list(labels), value)
        return list(families.values()), sorted(answered.items())


class ScrapedCollectors(Collector):
    """The one registered collector over every :class:`DatabaseCollector` of
    the process: a metric family appears once in the exposition however many
    collectors report whether their query answered."""

    def __init__(self) -> None:
        self._members: list[DatabaseCollector] = []
        self._lock = threading.Lock()

    def join(self, member: DatabaseCollector) -> None:
        """Include ``member`` (registering with Prometheus on the first)."""
        with self._lock:
            if member in self._members:
                return
            if not self._members:
                REGISTRY.register(self)
            self._members.append(member)

    def describe(self) -> Iterable[Metric]:
        """Nothing: the families are known at collection (an empty describe
        makes the registry call :meth:`collect` only when scraped)."""
        return []

    def collect(self) -> Iterable[Metric]:
        """Every member's families, then ``labornet_metrics_query_up``."""
        up = GaugeMetricFamily(
            "labornet_metrics_query_up",
            "Whether the scrape-time query of a service's database answered",
            labels=["collector", "service"],
        )
        with self._lock:
            members = list(self._members)
        for member in members:
            families, answered = member.gather()
            yield from families
            for service, ok in answered:
                up.add_metric([member.name, service], 1.0 if ok else 0.0)
        yield up


#: the collectors this process reads its databases with
SCRAPED = ScrapedCollectors()


class OutboxCollector(DatabaseCollector):
    """Each service's outbox backlog and the age of its oldest unsent row."""

    name = "outbox"

    def families(self) -> dict[str, GaugeMetricFamily]:
        """``labornet_outbox_backlog_events`` and its oldest row's age."""
        return {
            "backlog": GaugeMetricFamily(
                "labornet_outbox_backlog_events",
                "Outbox events waiting to be published (parked ones excluded)",
                labels=["service"],
            ),
            "age": GaugeMetricFamily(
                "labornet_outbox_oldest_event_age_seconds",
                "Age of the oldest outbox event waiting to be published (0: none)",
                labels=["service"],
            ),
        }

    def measure(
        self, conn: Connection, source: Source
    ) -> Iterable[tuple[str, tuple[str, ...], float]]:
        """One count and one minimum over the unsent rows (the partial index
        of unsent rows serves both)."""
        table = source.extra["table"]
        count, oldest = conn.execute(
            select(func.count(), func.min(table.c.created_at)).where(
                table.c.sent_at.is_(None), table.c.parked_at.is_(None)
            )
        ).one()
        age = 0.0
        if oldest is not None:
            if oldest.tzinfo is None:  # SQLite keeps no zone: it is UTC
                oldest = oldest.replace(tzinfo=UTC)
            age = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
        yield "backlog", (source.service,), float(count or 0)
        yield "age", (source.service,), age


#: the one outbox collector of this process
OUTBOX = OutboxCollector()


def add_source(
    collector: DatabaseCollector,
    service: str,
    database: Any,
    extra: dict[str, Any] | None = None,
) -> int:
    """Have ``collector`` measure a running container's database."""
    return collector.add(Source(service, database.engine, extra=extra or {}))
