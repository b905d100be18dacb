"""Transient failures, missing prerequisites and content failures on the real
RabbitMQ: an outage longer than the content budget parks nothing, an event
waits for the one it builds on, and only a message at fault is dead-lettered.

The consuming test service is called ``notify`` (a real consumer of
``case_received`` and ``case_withdrawn``), so the broker policies ``labornet
setup-broker`` declares for notify apply to its queues.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import kombu
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Column, MetaData, String, Table, select
from sqlalchemy.engine import Engine

from labornet_shared.consumer import (
    PrerequisiteMissing,
    apply_once,
    dead_letter_queue_name,
    event_handler,
    processed_events_table,
    retry_queue_name,
)
from labornet_shared.db import Database, make_engine
from labornet_shared.dlq import list_dead_letters, replay_dead_letters
from labornet_shared.events import Event, make_event
from labornet_shared.health import Readiness
from labornet_testkit.events import fixed_case_received_event
from labornet_testkit.harness import (
    TcpProxy,
    publish_event,
    wait_until,
    withdrawn_event_body,
)

SERVICE = "notify"
MAX_RETRIES = 2
RETRY_DELAYS_MS = "20,50"

metadata = MetaData()
processed_events = processed_events_table(metadata)
cases = Table("cases", metadata, Column("reference", String(20), primary_key=True))
withdrawals = Table(
    "withdrawals", metadata, Column("reference", String(20), primary_key=True)
)

# what the handlers saw; reset for every test
CALLS: list[tuple[str, str]] = []
BROKEN: set[str] = set()  # references whose case_received fails for its content
FAIL_ONCE: set[str] = set()  # ... fails the first time only


class Notify:
    """Keeps cases and their withdrawals; a withdrawal needs its case."""

    name = SERVICE
    db = Database(metadata)
    readiness = Readiness()

    @event_handler("intake", "case_received", accept_versions={1, 2})
    def on_case_received(self, event: Event) -> None:
        CALLS.append(("case_received", event.event_id))
        reference = event.payload["reference"]
        if reference in BROKEN:
            raise ValueError("this case's category has no template")
        if reference in FAIL_ONCE:
            FAIL_ONCE.discard(reference)
            raise ValueError("the template store hiccupped")
        if apply_once(self.db, "notify.on_case_received", event):
            self.db.session.execute(cases.insert().values(reference=reference))

    @event_handler("intake", "case_withdrawn", accept_versions={1})
    def on_case_withdrawn(self, event: Event) -> None:
        CALLS.append(("case_withdrawn", event.event_id))
        reference = event.payload["reference"]
        known = self.db.session.execute(
            select(cases.c.reference).where(cases.c.reference == reference)
        ).first()
        if known is None:
            raise PrerequisiteMissing(f"case {reference} not received yet")
        if apply_once(self.db, "notify.on_case_withdrawn", event):
            self.db.session.execute(withdrawals.insert().values(reference=reference))


case_received = fixed_case_received_event


def case_withdrawn(reference: str) -> Event:
    body = withdrawn_event_body(reference)
    return make_event(
        "case_withdrawn",
        body["payload"],
        correlation_id=reference,
        event_id=body["event_id"],
    )


def calls(event: Event) -> int:
    return sum(1 for _, event_id in CALLS if event_id == event.event_id)


def rows(engine: Engine, table: Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(table)).mappings()]


def ready(amqp_uri: str, queue: str) -> int:
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        try:
            return int(channel.queue_declare(queue, passive=True).message_count)
        except Exception:  # not declared
            return 0


def readiness(container: Any) -> dict[str, Any]:
    [provider] = [p for p in container.dependencies if isinstance(p, Readiness)]
    return provider.check()


def retries_counted(kind: str, reason: str, consumer: str) -> float:
    value = REGISTRY.get_sample_value(
        "labornet_event_retries_total",
        {"service": SERVICE, "consumer": consumer, "kind": kind, "reason": reason},
    )
    return value or 0.0


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=2)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


class Outage:
    """The consumer's database unavailable, then back: on SQLite another
    connection holds an exclusive transaction (writers get "database is
    locked"); on PostgreSQL the connection goes through a TCP proxy that is
    cut (connections dropped, new ones refused)."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.proxy: TcpProxy | None = None
        self.lock: sqlite3.Connection | None = None
        if db_url.startswith("sqlite"):
            # the consumer's writers give up after 50 ms instead of 30 s
            self.consumer_url = f"{db_url}?timeout=0.05"
        else:
            parsed = urlparse(db_url)
            self.proxy = TcpProxy((parsed.hostname or "", parsed.port or 5432))
            self.proxy.start()
            netloc = parsed.netloc.replace(
                f"{parsed.hostname}:{parsed.port}", f"127.0.0.1:{self.proxy.port}"
            )
            self.consumer_url = parsed._replace(netloc=netloc).geturl()

    def begin(self) -> None:
        if self.proxy is not None:
            self.proxy.cut()
            return
        self.lock = sqlite3.connect(
            self.db_url[len("sqlite:///") :], isolation_level=None
        )
        self.lock.execute("BEGIN EXCLUSIVE")

    def end(self) -> None:
        if self.proxy is not None:
            self.proxy.restore()
        if self.lock is not None:
            self.lock.execute("ROLLBACK")
            self.lock.close()
            self.lock = None

    def close(self) -> None:
        self.end()
        if self.proxy is not None:
            self.proxy.stop()


@pytest.fixture
def outage(db_url: str) -> Iterator[Outage]:
    outage = Outage(db_url)
    yield outage
    outage.close()


@pytest.fixture
def start_notify(
    engine: Engine,
    outage: Outage,
    broker: dict[str, Any],
    container_factory: Any,
) -> Any:
    CALLS.clear()
    BROKEN.clear()
    FAIL_ONCE.clear()

    def start(**overrides: Any) -> Any:
        config = {
            **broker,
            "DATABASE_URL": outage.consumer_url,
            "EVENT_MAX_RETRIES": MAX_RETRIES,
            "EVENT_RETRY_DELAYS_MS": RETRY_DELAYS_MS,
            **overrides,
        }
        container = container_factory(Notify, config)
        container.start()
        return container

    return start


def test_database_outage_longer_than_the_retry_budget_parks_nothing(
    start_notify: Any, engine: Engine, outage: Outage, broker: dict[str, Any]
) -> None:
    container = start_notify()
    amqp_uri = broker["AMQP_URI"]
    outage.begin()
    event = case_received("LN-2568-00000101")
    publish_event(amqp_uri, event)
    # far more failed deliveries than a content failure gets (1 + 2) ...
    wait_until(lambda: calls(event) >= 4 * (1 + MAX_RETRIES), timeout=30)
    # ... and /readyz says which handler retries what, since when
    state = readiness(container)
    assert state["ready"] is False
    assert state["checks"]["consumers"] is False
    [retrying] = state["retrying"]
    assert retrying["consumer"] == "notify.on_case_received"
    assert retrying["failure"] == "transient"
    assert retrying["error"] == "OperationalError"
    assert retrying["since"]
    assert retrying["retries"] >= 4 * (1 + MAX_RETRIES) - 1
    assert ready(amqp_uri, dead_letter_queue_name(SERVICE)) == 0
    outage.end()

    wait_until(lambda: rows(engine, cases), timeout=15)
    assert rows(engine, cases) == [{"reference": "LN-2568-00000101"}]
    assert len(rows(engine, processed_events)) == 1
    assert list_dead_letters(amqp_uri, SERVICE) == []
    wait_until(lambda: readiness(container)["ready"])
    assert "retrying" not in readiness(container)


def test_transient_failure_past_its_window_is_parked_saying_so(
    start_notify: Any, engine: Engine, outage: Outage, broker: dict[str, Any]
) -> None:
    start_notify(EVENT_TRANSIENT_RETRY_SECONDS=0.3)
    amqp_uri = broker["AMQP_URI"]
    outage.begin()
    event = case_received("LN-2568-00000102")
    publish_event(amqp_uri, event)
    wait_until(lambda: ready(amqp_uri, dead_letter_queue_name(SERVICE)), timeout=20)
    outage.end()
    [letter] = list_dead_letters(amqp_uri, SERVICE)
    assert letter.event_id == event.event_id
    assert letter.kind == "transient"
    assert letter.reason is not None
    assert "unavailable for more than 0.3 s" in letter.reason
    assert letter.failures is not None
    assert letter.failures["content"] == 0
    assert letter.failures["transient"] == letter.attempts >= 2


def test_content_failure_is_parked_after_the_bounded_tries(
    start_notify: Any, engine: Engine, broker: dict[str, Any]
) -> None:
    start_notify()
    amqp_uri = broker["AMQP_URI"]
    BROKEN.add("LN-2568-00000103")
    event = case_received("LN-2568-00000103")
    publish_event(amqp_uri, event)
    wait_until(lambda: ready(amqp_uri, dead_letter_queue_name(SERVICE)))
    [letter] = list_dead_letters(amqp_uri, SERVICE)
    assert calls(event) == 1 + MAX_RETRIES
    assert letter.kind == "content"
    assert letter.attempts == 1 + MAX_RETRIES
    assert letter.failures == {"transient": 0, "prerequisite": 0, "content": 3}
    assert letter.error is not None
    assert letter.error.startswith("ValueError: this case's category")
    assert letter.reason == "failed 3 times for its content"
    assert rows(engine, cases) == []


def test_event_waits_for_its_prerequisite_and_is_applied_once_it_comes(
    start_notify: Any,
    engine: Engine,
    broker: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="labornet_shared.consumer")
    container = start_notify()
    amqp_uri = broker["AMQP_URI"]
    consumer = "notify.on_case_withdrawn"
    reason = "case <case> not received yet"
    before = retries_counted("prerequisite", reason, consumer)
    withdrawn = case_withdrawn("LN-2568-00000104")
    publish_event(amqp_uri, withdrawn)  # before its case_received
    # waiting is not a content failure: more tries than those, nothing parked
    wait_until(lambda: calls(withdrawn) >= 3 * (1 + MAX_RETRIES), timeout=20)
    assert ready(amqp_uri, dead_letter_queue_name(SERVICE)) == 0
    assert rows(engine, withdrawals) == []
    # waiting for another event is no outage: the service stays ready
    assert readiness(container) == {
        "ready": True,
        "checks": {"broker": True, "database": True, "consumers": True},
    }
    # each wait is counted with its reason (one label for every case) and
    # logged with what is missing
    assert retries_counted("prerequisite", reason, consumer) - before >= 8
    waits = [r for r in caplog.records if "prerequisite missing" in r.getMessage()]
    assert waits
    assert "case LN-2568-00000104 not received yet" in waits[0].getMessage()

    publish_event(amqp_uri, case_received("LN-2568-00000104"))
    wait_until(lambda: rows(engine, withdrawals), timeout=10)
    assert rows(engine, withdrawals) == [{"reference": "LN-2568-00000104"}]
    assert len(rows(engine, processed_events)) == 2
    assert list_dead_letters(amqp_uri, SERVICE) == []


def test_prerequisite_that_never_comes_is_parked_with_the_reason(
    start_notify: Any, engine: Engine, broker: dict[str, Any]
) -> None:
    container = start_notify(EVENT_PREREQUISITE_WAIT_SECONDS=0.3)
    amqp_uri = broker["AMQP_URI"]
    withdrawn = case_withdrawn("LN-2568-00000105")
    publish_event(amqp_uri, withdrawn)
    assert "retrying" not in readiness(container)
    wait_until(lambda: ready(amqp_uri, dead_letter_queue_name(SERVICE)))
    [letter] = list_dead_letters(amqp_uri, SERVICE)
    assert letter.event_id == withdrawn.event_id
    assert letter.kind == "prerequisite"
    assert letter.error is not None
    assert letter.error.startswith(
        "PrerequisiteMissing: case LN-2568-00000105 not received yet"
    )
    assert letter.reason == "its prerequisite never arrived for more than 0.3 s"
    assert letter.failures is not None and letter.failures["content"] == 0

    # once the case is there, the operator's replay applies it
    publish_event(amqp_uri, case_received("LN-2568-00000105"))
    wait_until(lambda: rows(engine, cases))
    assert replay_dead_letters(amqp_uri, SERVICE) == 1
    wait_until(lambda: rows(engine, withdrawals))


def test_a_short_retry_does_not_wait_behind_a_long_one(
    start_notify: Any, engine: Engine, broker: dict[str, Any]
) -> None:
    """One queue per delay level: a message due in 50 ms is not held behind
    one due in 5 s (RabbitMQ expires messages only at a queue's head)."""
    start_notify(EVENT_RETRY_DELAYS_MS="50,5000", EVENT_MAX_RETRIES=5)
    amqp_uri = broker["AMQP_URI"]
    slow = case_withdrawn("LN-2568-00000106")
    publish_event(amqp_uri, slow)
    # its second failure sends it to the 5 s level
    wait_until(lambda: ready(amqp_uri, retry_queue_name(SERVICE, 5000)) == 1)
    # a case_received fails once: it goes to the 50 ms level
    FAIL_ONCE.add("LN-2568-00000107")
    quick = case_received("LN-2568-00000107")
    publish_event(amqp_uri, quick)
    wait_until(lambda: rows(engine, cases))
    # it came back and got through while the slow one still waits its 5 s
    assert calls(quick) == 2
    assert calls(slow) == 2
    assert ready(amqp_uri, retry_queue_name(SERVICE, 5000)) == 1
    assert rows(engine, cases) == [{"reference": "LN-2568-00000107"}]
