"""Kill test: the outbox relay, run as its own process (``labornet relay
intake``) and killed with SIGKILL in the middle of a batch, loses nothing
once restarted. The events the broker already had from the unfinished batch
leave a second time, and an idempotent consumer applies each event once.

To kill it *mid-batch* for certain, the test freezes the relay (SIGSTOP) as
soon as events appear on the broker and compares what the broker holds with
what the outbox marked sent; only when the broker holds more (a batch
published but not yet marked) does it SIGKILL; otherwise it lets the relay
run on (SIGCONT) and tries again.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import kombu
import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    select,
    text,
)
from sqlalchemy.orm import Session

from labornet_intake import domain
from labornet_intake.models import Base
from labornet_intake.schemas import CaseCreateSchema
from labornet_shared.consumer import apply_once, event_handler, processed_events_table
from labornet_shared.db import Database, make_engine, normalise_url
from labornet_shared.events import Event
from labornet_testkit.harness import TEST_DB_ENV, ChildProcess, case_payload, wait_until

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LABORNET = Path(sys.executable).parent / "labornet"
CASES = 2000
BATCH_SIZE = 100
CONSUMER = "fault_case_counter.on_case_received"

# --- an idempotent consumer of case_received -----------------------------------

consumer_metadata = MetaData()
processed_events_table(consumer_metadata)
# every committed handler run, duplicates included
deliveries = Table(
    "deliveries",
    consumer_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
)
# the effect; deliberately no unique constraint, so a second application of
# one event would show here instead of failing
applied_cases = Table(
    "applied_cases",
    consumer_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("reference", String(20), nullable=False),
)


class CaseCounter:
    """Counts the cases it hears about, once each."""

    name = "fault_case_counter"

    db = Database(consumer_metadata)

    @event_handler("intake", "case_received")
    def on_case_received(self, event: Event) -> None:
        session = self.db.session
        session.execute(deliveries.insert().values(event_id=event.event_id))
        if apply_once(self.db, CONSUMER, event):
            session.execute(
                applied_cases.insert().values(
                    event_id=event.event_id, reference=event.payload["reference"]
                )
            )


@pytest.fixture
def consumer_db(tmp_path: Path) -> Iterator[str]:
    """The consumer's own database: a SQLite file or a PostgreSQL schema."""
    base = os.environ.get(TEST_DB_ENV)
    if not base:
        url = f"sqlite:///{tmp_path / 'consumer.db'}"
        engine = make_engine(url)
        consumer_metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(base))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        engine = make_engine(url)
        consumer_metadata.create_all(engine)
        engine.dispose()
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class ConsumerState:
    """What the consumer recorded (read on a connection of our own)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, pool_size=2)

    def count(self, table: Table) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(table)).scalar() or 0
            )

    def applied_event_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(applied_cases.c.event_id)).scalars())


@pytest.fixture
def case_counter(
    consumer_db: str, container_factory: Callable[..., Any], broker: dict[str, Any]
) -> Iterator[ConsumerState]:
    """The consumer running (its queue bound before any event is published)."""
    container = container_factory(
        CaseCounter,
        {
            "AMQP_URI": broker["AMQP_URI"],
            "DATABASE_URL": consumer_db,
            "max_workers": 10,
            "EVENT_RETRY_DELAYS_MS": "50,100,200",
        },
    )
    container.start()
    state = ConsumerState(consumer_db)
    try:
        yield state
    finally:
        state.engine.dispose()


# --- the relay process -------------------------------------------------------------


def RelayProcess(name: str, tmp_path: Path, env: dict[str, str]) -> ChildProcess:
    """``labornet relay intake`` as a child process, logs to files."""
    return ChildProcess(name, [str(LABORNET), "relay", "intake"], tmp_path, env)


def relay_env(intake_db: str, amqp_uri: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LABORNET_ROOT=str(REPO),
        LABORNET_INTAKE_DB=intake_db,
        LABORNET_AMQP_URI=amqp_uri,
        LABORNET_OUTBOX_BATCH_SIZE=str(BATCH_SIZE),
        # the killed relay's lease lapses after 5 s (not 30) for the next one
        LABORNET_OUTBOX_LEASE_SECONDS="5",
        LABORNET_LOG_LEVEL="INFO",
    )
    return env


class QueueDepth:
    """Ready messages in one queue, read at once (passive declare)."""

    def __init__(self, amqp_uri: str, queue: str) -> None:
        self.queue = queue
        self.connection = kombu.Connection(amqp_uri, connect_timeout=5)
        self.channel = self.connection.channel()

    def __call__(self) -> int:
        return int(self.channel.queue_declare(self.queue, passive=True).message_count)

    def settled(self, timeout: float = 10.0) -> int:
        """The depth once it stopped changing (frozen publisher, data in flight)."""
        deadline = time.monotonic() + timeout
        last, same = -1, 0
        while time.monotonic() < deadline:
            depth = self()
            same = same + 1 if depth == last else 0
            if same >= 5:  # unchanged for a quarter of a second
                return depth
            last = depth
            time.sleep(0.05)
        raise AssertionError(f"queue {self.queue} never settled")

    def close(self) -> None:
        self.connection.release()


def fill_outbox(url: str, count: int) -> None:
    """Take ``count`` cases in through intake's domain, in a few transactions."""
    rng = random.Random(5150)
    schema = CaseCreateSchema()
    engine = make_engine(url, pool_size=1)
    try:
        for start in range(0, count, 500):
            with Session(engine) as session:
                session.info["metadata"] = Base.metadata
                for _ in range(min(500, count - start)):
                    domain.submit_case(
                        session,
                        schema.load(case_payload(rng)),
                        principal=None,
                        pepper="fault-test-pepper",
                    )
                session.commit()
    finally:
        engine.dispose()


def freeze_mid_batch(
    relay: RelayProcess, depth: QueueDepth, outbox: Any, total: int
) -> tuple[int, int]:
    """SIGSTOP the relay at a moment when the broker holds events the outbox
    has not marked sent. Returns (events on the broker, events marked sent);
    the relay is left stopped."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert relay.alive(), "relay died before the kill\n" + relay.logs()
        on_broker = depth()
        if on_broker >= total:
            raise AssertionError(
                "the relay published everything before it could be interrupted"
            )
        if on_broker >= total // 4:  # a few batches done: some marked sent
            relay.signal(signal.SIGSTOP)
            on_broker, sent = depth.settled(), outbox.sent()
            if 0 < sent < on_broker < total:
                return on_broker, sent
            relay.signal(signal.SIGCONT)  # between batches: try again
        time.sleep(0.002)
    raise AssertionError("could not catch the relay in the middle of a batch")


def test_relay_killed_mid_batch_loses_nothing_and_consumer_applies_once(
    intake_db, intake_outbox, broker, queue_tap, case_counter, tmp_path
):
    fill_outbox(intake_db, CASES)
    event_ids = intake_outbox.event_ids()
    assert len(event_ids) == CASES
    assert intake_outbox.unsent() == CASES

    tap = queue_tap("intake.events", "case_received")
    depth = QueueDepth(broker["AMQP_URI"], tap.name)
    env = relay_env(intake_db, broker["AMQP_URI"])
    relays: list[RelayProcess] = []
    passed = False
    try:
        first = RelayProcess("relay-1", tmp_path, env)
        relays.append(first)
        on_broker, sent = freeze_mid_batch(first, depth, intake_outbox, CASES)
        first.kill()
        assert first.proc.returncode == -signal.SIGKILL
        # the unfinished batch was not marked: its events are still owed
        assert intake_outbox.unsent() == CASES - sent
        assert depth() == on_broker

        second = RelayProcess("relay-2", tmp_path, env)
        relays.append(second)
        wait_until(lambda: intake_outbox.unsent() == 0 or not second.alive(), 60)
        assert second.alive(), "restarted relay died\n" + second.logs()
        assert intake_outbox.unsent() == 0

        # the batch the broker had but the outbox had not marked left twice
        resent = event_ids[sent:on_broker]
        assert resent, "no event was in flight at the kill"
        published = CASES + len(resent)
        wait_until(lambda: depth() >= published, timeout=30)
        events = tap.drain(expected=published, timeout=60)
        copies = Counter(event["event_id"] for event in events)
        assert set(copies) == set(event_ids), "an event was lost"
        assert sorted(e for e, n in copies.items() if n == 2) == sorted(resent)
        assert max(copies.values()) == 2
        assert len(events) == published

        # the consumer got every copy and applied each event once
        wait_until(lambda: case_counter.count(deliveries) >= published, timeout=60)
        assert case_counter.count(deliveries) == published
        applied = case_counter.applied_event_ids()
        assert len(applied) == CASES
        assert set(applied) == set(event_ids)
        assert case_counter.count(consumer_metadata.tables["processed_events"]) == (
            CASES
        )

        # one more copy of an event applied long ago: still applied once
        with kombu.Connection(broker["AMQP_URI"]) as conn:
            conn.Producer().publish(
                intake_outbox.body(event_ids[0]).encode(),
                exchange="intake.events",
                routing_key="case_received",
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )
        wait_until(lambda: case_counter.count(deliveries) == published + 1, 30)
        assert len(case_counter.applied_event_ids()) == CASES
        passed = True
    finally:
        for relay in relays:
            relay.kill()
        depth.close()
        if not passed:
            for relay in relays:
                print(relay.logs())
