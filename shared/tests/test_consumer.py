"""Consuming events on the real RabbitMQ: bounded retries with backoff, the
dead-letter queue and its replay, the idempotent consumer, commit before ack.

The consuming test service is called ``routing`` (the real consumer of
``case_received``), so the broker policies ``labornet setup-broker`` declares
for routing apply to its queues.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import eventlet
import kombu
import pytest
from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from labornet_shared.broker import DELIVERY_LIMIT, Management
from labornet_shared.consumer import (
    apply_once,
    dead_letter_queue_name,
    event_handler,
    processed_events_table,
    retry_queue_name,
)
from labornet_shared.db import Database, make_engine
from labornet_shared.dlq import (
    list_dead_letters,
    purge_dead_letters,
    replay_dead_letters,
)
from labornet_shared.events import Event
from labornet_shared.health import Readiness
from labornet_testkit.events import fixed_case_received_event
from labornet_testkit.harness import MANAGEMENT_URL, wait_until

SERVICE = "routing"
CONSUMER = "routing.on_case_received"
HANDLER_QUEUE = "evt-intake-case_received--routing.on_case_received"
RETRY_DELAYS_MS = (20, 40, 80)

metadata = MetaData()
processed_events = processed_events_table(metadata)
screened = Table(
    "screened_cases",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("reference", String(20), nullable=False),
    # checked at COMMIT: lets a test make the commit itself fail
    Column(
        "agency_id",
        Integer,
        ForeignKey("agencies.id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    ),
)
agencies = Table("agencies", metadata, Column("id", Integer, primary_key=True))

# what the handler does and saw; reset for every test
STATE: dict[str, Any] = {}


class Routing:
    """A consumer of intake's case_received, as routing will be."""

    name = SERVICE
    db = Database(metadata)
    readiness = Readiness()

    @event_handler("intake", "case_received", accept_versions={1, 2})
    def on_case_received(self, event: Event) -> None:
        STATE["calls"].append((event.event_id, time.monotonic()))
        if STATE["failing"]:
            raise RuntimeError("routing rules are not loaded")
        if not apply_once(self.db, CONSUMER, event):
            STATE["skipped"].append(event.event_id)
            return
        self.db.session.execute(
            screened.insert().values(
                event_id=event.event_id,
                reference=event.payload["reference"],
                agency_id=STATE["agency_id"],
            )
        )


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=2)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def routing(
    engine: Engine, db_url: str, broker: dict[str, Any], container_factory: Any
) -> dict[str, Any]:
    STATE.clear()
    STATE.update(failing=False, calls=[], skipped=[], agency_id=None)
    config = {
        **broker,
        "DATABASE_URL": db_url,
        "EVENT_RETRY_DELAYS_MS": ",".join(map(str, RETRY_DELAYS_MS)),
    }
    container = container_factory(Routing, config)
    container.start()
    STATE["container"] = container
    return config


case_received = fixed_case_received_event


def publish(amqp_uri: str, body: Any, routing_key: str = "case_received") -> None:
    """Publish to intake's events exchange, as intake's relay does."""
    with kombu.Connection(amqp_uri) as connection:
        producer = connection.Producer()
        producer.publish(
            body,
            exchange="intake.events",
            routing_key=routing_key,
            serializer="json",
            delivery_mode=2,
        )


def ready(amqp_uri: str, queue: str) -> int:
    """Messages waiting in ``queue`` (0 if it does not exist)."""
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        try:
            return int(channel.queue_declare(queue, passive=True).message_count)
        except Exception:  # not declared
            return 0


def rows(engine: Engine, table: Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(table)).mappings()]


def calls_for(event_id: str) -> list[float]:
    return [at for (seen, at) in STATE["calls"] if seen == event_id]


def parked(amqp_uri: str, count: int) -> list[Any]:
    """Wait until the DLQ holds ``count`` messages; return their description."""
    wait_until(lambda: ready(amqp_uri, dead_letter_queue_name(SERVICE)) >= count)
    return list_dead_letters(amqp_uri, SERVICE)


def test_failing_handler_is_retried_with_backoff_then_dead_lettered_and_replayed(
    routing, engine
):
    amqp_uri = routing["AMQP_URI"]
    STATE["failing"] = True
    event = case_received()
    publish(amqp_uri, event.to_body())

    [letter] = parked(amqp_uri, 1)
    attempts = calls_for(event.event_id)
    assert len(attempts) == 1 + 5
    # each retry waited at least its level's delay
    for retry, (before, after) in enumerate(pairwise(attempts), start=1):
        delay = RETRY_DELAYS_MS[min(retry, len(RETRY_DELAYS_MS)) - 1]
        assert after - before >= delay / 1000 * 0.9
    assert letter.event_id == event.event_id
    assert letter.event_type == "case_received"
    assert letter.correlation_id == "LN-2568-00000042"
    assert letter.queue == HANDLER_QUEUE
    assert letter.attempts == 6
    assert letter.error is not None
    assert letter.error.startswith("RuntimeError: routing rules are not loaded")
    assert letter.failed_at
    # nothing lost, nothing left behind: the one message sits in the DLQ
    assert ready(amqp_uri, HANDLER_QUEUE) == 0
    for delay in RETRY_DELAYS_MS:
        assert ready(amqp_uri, retry_queue_name(SERVICE, delay)) == 0
    assert rows(engine, screened) == []
    assert rows(engine, processed_events) == []
    # listing does not consume
    assert [d.event_id for d in list_dead_letters(amqp_uri, SERVICE)] == [
        event.event_id
    ]

    # the operator fixes the cause and replays
    STATE["failing"] = False
    assert replay_dead_letters(amqp_uri, SERVICE) == 1
    wait_until(lambda: rows(engine, screened))
    assert len(calls_for(event.event_id)) == 7
    assert [r["reference"] for r in rows(engine, screened)] == ["LN-2568-00000042"]
    [applied] = rows(engine, processed_events)
    assert (applied["consumer"], applied["event_id"]) == (CONSUMER, event.event_id)
    assert list_dead_letters(amqp_uri, SERVICE) == []
    assert ready(amqp_uri, HANDLER_QUEUE) == 0


def test_replay_of_one_event_leaves_the_others_parked(routing, engine):
    amqp_uri = routing["AMQP_URI"]
    STATE["failing"] = True
    first, second = case_received("LN-2568-00000001"), case_received("LN-2568-00000002")
    publish(amqp_uri, first.to_body())
    publish(amqp_uri, second.to_body())
    parked(amqp_uri, 2)
    STATE["failing"] = False
    assert replay_dead_letters(amqp_uri, SERVICE, event_id=second.event_id) == 1
    wait_until(lambda: rows(engine, screened))
    assert [r["event_id"] for r in rows(engine, screened)] == [second.event_id]
    assert [d.event_id for d in list_dead_letters(amqp_uri, SERVICE)] == [
        first.event_id
    ]


def test_redelivered_duplicate_is_applied_once(routing, engine):
    amqp_uri = routing["AMQP_URI"]
    event = case_received()
    publish(amqp_uri, event.to_body())
    wait_until(lambda: rows(engine, screened))
    publish(amqp_uri, event.to_body())  # the relay re-sent it after a crash
    wait_until(lambda: STATE["skipped"])
    assert len(calls_for(event.event_id)) == 2
    assert STATE["skipped"] == [event.event_id]
    assert len(rows(engine, screened)) == 1
    assert len(rows(engine, processed_events)) == 1
    assert ready(amqp_uri, HANDLER_QUEUE) == 0
    assert list_dead_letters(amqp_uri, SERVICE) == []


def test_unknown_version_and_broken_envelopes_go_straight_to_the_dlq(routing, engine):
    amqp_uri = routing["AMQP_URI"]
    future = case_received("LN-2568-00000007").to_body()
    future["schema_version"] = 99
    broken = case_received("LN-2568-00000008").to_body()
    del broken["occurred_at"]
    publish(amqp_uri, future)
    publish(amqp_uri, broken)
    publish(amqp_uri, ["not", "an", "envelope"])

    letters = parked(amqp_uri, 3)
    assert STATE["calls"] == []  # the handler never saw them
    # parked concurrently: in any order
    errors = {d.event_id: d.error or "" for d in letters}
    assert set(errors) == {future["event_id"], broken["event_id"], None}
    assert errors[future["event_id"]].startswith("UnknownEventVersion")
    assert errors[broken["event_id"]].startswith("InvalidEvent")
    assert errors[None].startswith("InvalidEvent")
    assert [d.attempts for d in letters] == [0, 0, 0]
    assert all(d.queue == HANDLER_QUEUE for d in letters)
    assert rows(engine, processed_events) == []

    assert purge_dead_letters(amqp_uri, SERVICE) == 3
    assert list_dead_letters(amqp_uri, SERVICE) == []
    assert purge_dead_letters(amqp_uri, SERVICE) == 0


def publish_raw(amqp_uri: str, body: bytes, content_type: str) -> None:
    with kombu.Connection(amqp_uri) as connection:
        connection.Producer().publish(
            body,
            exchange="intake.events",
            routing_key="case_received",
            content_type=content_type,
            content_encoding="binary",
            delivery_mode=2,
        )


def test_undecodable_body_is_parked_as_it_came_not_acked_away(routing, engine):
    amqp_uri = routing["AMQP_URI"]
    # kombu would ack these and log their raw bytes (maybe personal data)
    publish_raw(amqp_uri, b'{"name": "\xe0\xb8\xaa', "application/json")
    publish_raw(amqp_uri, b"\x80\x04K\x01.", "application/x-python-serialize")
    letters = parked(amqp_uri, 2)
    assert STATE["calls"] == []
    for letter in letters:
        assert letter.error is not None
        assert letter.error.startswith("InvalidEvent: body cannot be decoded")
        assert letter.queue == HANDLER_QUEUE
        assert letter.attempts == 0
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        kept = [channel.basic_get(dead_letter_queue_name(SERVICE)) for _ in range(2)]
        assert {(m.body, m.content_type) for m in kept} == {
            (b'{"name": "\xe0\xb8\xaa', "application/json"),
            (b"\x80\x04K\x01.", "application/x-python-serialize"),
        }
        channel.close()
    # and the consumer goes on with the next, good event
    event = case_received()
    publish(amqp_uri, event.to_body())
    wait_until(lambda: rows(engine, screened))
    assert len(list_dead_letters(amqp_uri, SERVICE)) == 2


def test_effect_is_committed_before_the_ack(routing, engine):
    amqp_uri = routing["AMQP_URI"]
    # the handler runs fine but its COMMIT fails (a deferred foreign key):
    # had the message been acked first, it would be gone with its effect
    STATE["agency_id"] = 99
    event = case_received()
    publish(amqp_uri, event.to_body())
    [letter] = parked(amqp_uri, 1)
    assert len(calls_for(event.event_id)) == 6
    assert letter.event_id == event.event_id
    assert letter.error is not None and "IntegrityError" in letter.error
    assert rows(engine, screened) == []
    assert rows(engine, processed_events) == []

    with engine.begin() as conn:
        conn.execute(agencies.insert().values(id=99))
    assert replay_dead_letters(amqp_uri, SERVICE) == 1
    # once the message has left every queue, its effect is in the database
    wait_until(lambda: len(calls_for(event.event_id)) == 7)
    wait_until(lambda: ready(amqp_uri, HANDLER_QUEUE) == 0)
    wait_until(lambda: rows(engine, screened))
    assert rows(engine, screened)[0]["agency_id"] == 99
    assert len(rows(engine, processed_events)) == 1
    assert list_dead_letters(amqp_uri, SERVICE) == []


def test_handler_queue_is_quorum_with_the_delivery_limit_policy(routing):
    management = Management.from_urls(MANAGEMENT_URL, routing["AMQP_URI"])

    def policy_applied() -> dict[str, Any] | None:
        queue = management.queue(HANDLER_QUEUE)
        if queue.get("effective_policy_definition"):
            return queue
        return None

    # the management API shows policies with its statistics, every ~5-10 s
    queue = wait_until(policy_applied, timeout=30)
    assert queue["type"] == "quorum"
    assert queue["durable"] is True
    definition = queue["effective_policy_definition"]
    assert definition["delivery-limit"] == DELIVERY_LIMIT
    assert definition["dead-letter-exchange"] == ""
    assert definition["dead-letter-routing-key"] == dead_letter_queue_name(SERVICE)
    assert management.queue(dead_letter_queue_name(SERVICE))["type"] == "quorum"


def test_apply_once_claims_an_event_only_with_its_transaction(engine):
    event = case_received()
    with Session(engine) as session:
        session.info["metadata"] = metadata
        assert apply_once(session, CONSUMER, event) is True
        session.rollback()  # the effect failed: the claim goes with it
    with Session(engine) as session:
        session.info["metadata"] = metadata
        assert apply_once(session, CONSUMER, event) is True
        session.commit()
    with Session(engine) as session:
        session.info["metadata"] = metadata
        assert apply_once(session, CONSUMER, event.event_id) is False
        # another consumer of the same event applies it on its own
        assert apply_once(session, "notify.on_case_received", event) is True
        session.commit()
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(processed_events))
        assert count.scalar() == 2


def test_message_that_kills_its_consumer_is_parked_by_the_delivery_limit(routing):
    """No exception to catch (the process dies mid-handling): RabbitMQ's own
    delivery-limit parks the message instead of redelivering it forever."""
    amqp_uri = routing["AMQP_URI"]
    STATE["container"].stop()  # its queue stays; a raw consumer plays the victim
    event = case_received()
    publish(amqp_uri, event.to_body())
    deliveries = 0
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        while (message := channel.basic_get(HANDLER_QUEUE)) is not None:
            deliveries += 1
            assert deliveries <= DELIVERY_LIMIT + 1, "redelivered forever"
            channel.basic_reject(message.delivery_tag, requeue=True)
        channel.close()
    assert deliveries == DELIVERY_LIMIT + 1
    [letter] = list_dead_letters(amqp_uri, SERVICE)
    assert letter.event_id == event.event_id
    assert letter.queue == HANDLER_QUEUE
    assert letter.attempts == DELIVERY_LIMIT + 1
    assert letter.error is not None and "delivery limit" in letter.error
    assert letter.failed_at
    # replayed into its queue like any other parked message
    assert replay_dead_letters(amqp_uri, SERVICE) == 1
    assert ready(amqp_uri, HANDLER_QUEUE) == 1
    assert list_dead_letters(amqp_uri, SERVICE) == []


def readiness_of(container: Any) -> dict[str, Any]:
    [provider] = [p for p in container.dependencies if isinstance(p, Readiness)]
    return provider.check()


def test_ready_only_while_the_handler_really_consumes(routing: dict[str, Any]) -> None:
    state = readiness_of(STATE["container"])
    assert state == {
        "ready": True,
        "checks": {"broker": True, "database": True, "consumers": True},
    }


def test_not_ready_while_the_handler_queue_cannot_be_declared(
    engine: Engine, db_url: str, broker: dict[str, Any], container_factory: Any
) -> None:
    STATE.clear()
    STATE.update(failing=False, calls=[], skipped=[], agency_id=None)
    # the handler's queue exists already as a classic queue: declaring it as
    # quorum fails PRECONDITION_FAILED, and nameko retries forever while
    # everything else of the service looks alive
    with kombu.Connection(broker["AMQP_URI"]) as connection:
        channel = connection.channel()
        channel.queue_declare(HANDLER_QUEUE, durable=True, auto_delete=False)
        channel.close()
    container = container_factory(Routing, {**broker, "DATABASE_URL": db_url})
    starting = eventlet.spawn(container.start)
    eventlet.sleep(2.5)  # several refused declarations
    state = readiness_of(container)
    assert state["checks"]["consumers"] is False
    assert state["ready"] is False

    # the operator removes the stray queue: the next retry consumes
    with kombu.Connection(broker["AMQP_URI"]) as connection:
        channel = connection.channel()
        channel.queue_delete(HANDLER_QUEUE)
        channel.close()
    wait_until(lambda: readiness_of(container)["ready"], timeout=15)
    starting.wait()
