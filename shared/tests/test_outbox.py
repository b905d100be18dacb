"""The transactional outbox and its relay, on a real database and RabbitMQ."""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import eventlet
import kombu
import pytest
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcProxy
from prometheus_client import REGISTRY
from sqlalchemy import MetaData, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from labornet_shared.db import Database, make_engine
from labornet_shared.events import Event, make_event
from labornet_shared.ops.outbox_admin import list_parked, retry_parked
from labornet_shared.outbox import (
    ConfirmingPublisher,
    OutboxRelay,
    Relay,
    RelayLoop,
    add_event,
    bind_outbox,
    outbox_table,
)
from labornet_testkit.harness import (
    TcpProxy,
    migrate,
    run_labornet,
    wait_until,
)

metadata = MetaData()
outbox = outbox_table(metadata)
lease = metadata.tables["outbox_relay_lease"]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=4)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def publishers() -> Iterator[list[ConfirmingPublisher]]:
    made: list[ConfirmingPublisher] = []
    yield made
    for publisher in made:
        publisher.close()


@pytest.fixture
def make_relay(
    engine: Engine, broker: dict[str, Any], publishers: list[ConfirmingPublisher]
) -> Any:
    def make(amqp_uri: str | None = None, **kwargs: Any) -> Relay:
        publisher = ConfirmingPublisher(amqp_uri or broker["AMQP_URI"])
        publishers.append(publisher)
        return Relay(engine, metadata, publisher, **kwargs)

    return make


def withdrawn(reference: str, n: int = 0) -> Event:
    return make_event(
        "case_withdrawn",
        {
            "reference": reference,
            "withdrawn_at": f"2025-11-26T04:00:{n % 60:02d}+00:00",
            "withdrawn_by": "citizen",
        },
        correlation_id=reference,
    )


def received(reference: str) -> Event:
    return make_event(
        "case_received",
        {
            "reference": reference,
            "category": None,
            "description": "ถูกเลิกจ้างโดยไม่ได้รับค่าชดเชย",
            "location": {"province_code": "TH-52", "lat": 18.29, "long": 99.49},
            "channel": "web",
            "language": "th",
            "language_chosen": True,
            "abroad_country": None,
            "submitted_by_agent_id": None,
            "received_at": "2025-11-26T04:00:00+00:00",
        },
        correlation_id=reference,
    )


def commit_events(engine: Engine, *events: Event) -> None:
    with Session(engine) as session:
        bind_outbox(session, metadata)
        for event in events:
            add_event(session, "intake", event)
        session.commit()


def rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(row)
            for row in conn.execute(select(outbox).order_by(outbox.c.id)).mappings()
        ]


def via_proxy(amqp_uri: str, port: int) -> str:
    parsed = urlparse(amqp_uri)
    netloc = f"{parsed.username}:{parsed.password}@127.0.0.1:{port}"
    return parsed._replace(netloc=netloc).geturl()


def test_rolled_back_event_is_never_published(engine, make_relay, queue_tap):
    tap = queue_tap("intake.events")
    with Session(engine) as session:
        bind_outbox(session, metadata)
        add_event(session, "intake", withdrawn("LN-2568-00000001"))
        session.rollback()
    relay = make_relay()
    assert relay.drain() == 0
    assert rows(engine) == []
    assert tap.drain(expected=0) == []


def test_committed_events_leave_in_order_persistent_and_are_marked_sent(
    engine, make_relay, queue_tap
):
    everything = queue_tap("intake.events")
    received_tap = queue_tap("intake.events", "case_received")
    withdrawn_tap = queue_tap("intake.events", "case_withdrawn")
    events = [received(f"LN-2568-{n:08d}") for n in range(1, 6)]
    events += [withdrawn(f"LN-2568-{n:08d}", n) for n in range(1, 4)]
    commit_events(engine, *events[:4])
    commit_events(engine, *events[4:])
    assert [row["sent_at"] for row in rows(engine)] == [None] * 8

    relay = make_relay(batch_size=3)  # several batches
    assert relay.drain() == 8
    assert relay.pending_count() == 0

    published = everything.drain(expected=8)
    assert [body["event_id"] for body in published] == [e.event_id for e in events]
    for body, event in zip(published, events, strict=True):
        assert body["_properties"]["delivery_mode"] == 2  # persistent
        assert body["_properties"]["message_id"] == event.event_id
        assert body["_properties"]["content_type"] == "application/json"
        assert {k: v for k, v in body.items() if not k.startswith("_")} == json.loads(
            json.dumps(event.to_body())
        )
    # routing key = event type: each typed binding got exactly its own events
    assert [b["event_type"] for b in received_tap.drain(expected=5)] == [
        "case_received"
    ] * 5
    assert [b["event_type"] for b in withdrawn_tap.drain(expected=3)] == [
        "case_withdrawn"
    ] * 3
    stored = rows(engine)
    assert all(row["sent_at"] is not None for row in stored)
    assert all(row["attempts"] == 1 for row in stored)
    assert {row["exchange"] for row in stored} == {"intake.events"}
    # a second pass has nothing to do
    assert relay.drain() == 0
    assert everything.drain(expected=0) == []


def test_a_large_batch_to_several_queues_is_confirmed_once(
    engine, make_relay, queue_tap, broker
):
    """RabbitMQ confirms a message routed to several queues when the last
    has it, so confirms come out of order and several at a time; the relay
    must wait for each one, not just the batch's last tag."""
    amqp_uri = broker["AMQP_URI"]
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        # the two event types go to different sets of queues of both kinds
        for key, queue_type in (
            ("case_received", "quorum"),
            ("case_withdrawn", "classic"),
            ("#", "quorum"),
        ):
            name = f"test-{queue_type}-{key.strip('#') or 'all'}"
            channel.queue_declare(
                name,
                durable=True,
                auto_delete=False,
                arguments={"x-queue-type": queue_type},
            )
            channel.queue_bind(name, "intake.events", key)
        channel.close()
    tap = queue_tap("intake.events")
    events = [
        received(f"LN-2568-{n:08d}") if n % 3 else withdrawn(f"LN-2568-{n:08d}", n)
        for n in range(600)
    ]
    commit_events(engine, *events)
    relay = make_relay(batch_size=300)
    for _ in range(2):
        assert relay.publish_pending() == 300  # raises if a confirm is missed
    assert relay.pending_count() == 0
    ids = [body["event_id"] for body in tap.drain(expected=600, timeout=30)]
    assert ids == [event.event_id for event in events]


def test_failed_publish_leaves_rows_unsent_until_the_broker_is_back(
    engine, make_relay, queue_tap, broker, closed_port
):
    tap = queue_tap("intake.events")
    closed = make_relay(f"amqp://guest:guest@127.0.0.1:{closed_port}/")
    commit_events(engine, withdrawn("LN-2568-00000001"))
    with pytest.raises(Exception):  # any connection error
        closed.publish_pending()
    [row] = rows(engine)
    assert row["sent_at"] is None
    assert row["attempts"] == 1

    proxy = TcpProxy(("127.0.0.1", 5672)).start()
    try:
        relay = make_relay(via_proxy(broker["AMQP_URI"], proxy.port))
        assert relay.drain() == 1  # the parked event, once the broker is there
        commit_events(engine, withdrawn("LN-2568-00000002"))
        assert relay.drain() == 1

        proxy.cut()  # the relay's open connection dies
        commit_events(
            engine, withdrawn("LN-2568-00000003"), withdrawn("LN-2568-00000004")
        )
        with pytest.raises(Exception):  # any connection error
            relay.publish_pending()
        assert [r["sent_at"] is None for r in rows(engine)] == [
            False,
            False,
            True,
            True,
        ]
        proxy.restore()
        assert relay.drain() == 2  # the same relay reconnects by itself
    finally:
        proxy.stop()

    stored = rows(engine)
    assert all(r["sent_at"] is not None for r in stored)
    published = [b["correlation_id"] for b in tap.drain(expected=4)]
    assert published == [f"LN-2568-{n:08d}" for n in range(1, 5)]


def test_relay_loop_backs_off_and_resumes_by_itself(
    engine, make_relay, queue_tap, broker
):
    tap = queue_tap("intake.events")
    proxy = TcpProxy(("127.0.0.1", 5672)).start()
    proxy.cut()
    loop = RelayLoop(
        make_relay(via_proxy(broker["AMQP_URI"], proxy.port)),
        poll_seconds=0.05,
        max_backoff=0.2,
    )
    thread = eventlet.spawn(loop.run)
    try:
        commit_events(engine, withdrawn("LN-2568-00000001"))
        wait_until(lambda: loop.failures >= 2)
        assert not loop.healthy
        assert rows(engine)[0]["sent_at"] is None
        proxy.restore()
        [body] = tap.drain(expected=1)
        assert body["correlation_id"] == "LN-2568-00000001"
        wait_until(lambda: loop.healthy and loop.failures == 0)
    finally:
        loop.stop()
        thread.wait()
        proxy.stop()
    assert rows(engine)[0]["sent_at"] is not None


def test_wake_makes_a_sleeping_relay_publish_at_once(engine, make_relay, queue_tap):
    tap = queue_tap("intake.events")
    # it would poll only every 10 minutes: what arrives promptly was woken
    loop = RelayLoop(make_relay(), poll_seconds=600)
    thread = eventlet.spawn(loop.run)
    try:
        eventlet.sleep(0.2)  # the loop has drained the empty table and sleeps
        commit_events(engine, withdrawn("LN-2568-00000001"))
        assert tap.drain(expected=0, timeout=0.5) == []  # not polled meanwhile
        loop.wake()
        [body] = tap.drain(expected=1, timeout=10)
        assert body["correlation_id"] == "LN-2568-00000001"
        commit_events(engine, withdrawn("LN-2568-00000002"))
        loop.wake()
        [body] = tap.drain(expected=1, timeout=10)
        assert body["correlation_id"] == "LN-2568-00000002"
    finally:
        loop.stop()
        thread.wait()
    assert loop.relay.pending_count() == 0


class OutboxWriter:
    """A nameko service that writes an event in its unit of work."""

    name = "outbox_writer"
    db = Database(metadata)
    relay = OutboxRelay()

    @rpc
    def withdraw(self, reference: str, fail: bool = False) -> None:
        add_event(self.db, "intake", withdrawn(reference))
        if fail:
            raise RuntimeError("the state change failed")


def test_inline_relay_is_woken_by_the_commit(
    engine, db_url, broker, container_factory, queue_tap
):
    tap = queue_tap("intake.events")
    config = {
        **broker,
        "DATABASE_URL": db_url,
        "OUTBOX_POLL_SECONDS": 600,  # only a wake-up can publish in time
    }
    container = container_factory(OutboxWriter, config)
    container.start()
    with ServiceRpcProxy("outbox_writer", config) as writer:
        writer.withdraw("LN-2568-00000001")
        [body] = tap.drain(expected=1, timeout=10)
        assert body["correlation_id"] == "LN-2568-00000001"
        with pytest.raises(Exception, match="RuntimeError"):
            writer.withdraw("LN-2568-00000002", fail=True)
        writer.withdraw("LN-2568-00000003")
        [body] = tap.drain(expected=1, timeout=10)
        assert body["correlation_id"] == "LN-2568-00000003"
    # the failed worker's event was rolled back with it
    assert [r["correlation_id"] for r in rows(engine)] == [
        "LN-2568-00000001",
        "LN-2568-00000003",
    ]


def test_two_relays_never_publish_an_event_twice(engine, make_relay, queue_tap):
    tap = queue_tap("intake.events")
    cases = [f"LN-2568-{n:08d}" for n in range(1, 9)]
    events = []
    for step in range(15):  # interleaved: case 1, 2, ... 8, 1, 2, ...
        for case in cases:
            events.append(withdrawn(case, step))
    for start in range(0, len(events), 20):
        commit_events(engine, *events[start : start + 20])

    relays = [make_relay(batch_size=7) for _ in range(2)]
    contended = []

    def work(relay: Relay) -> int:
        published = 0
        while relay.pending_count():
            count = relay.publish_pending()
            if count < 0:
                contended.append(1)
                eventlet.sleep(0)
            else:
                published += count
        return published

    threads = [eventlet.spawn(work, relay) for relay in relays]
    counts = [thread.wait() for thread in threads]
    assert sum(counts) == len(events)
    assert contended, "the relays ran at the same time"

    published = tap.drain(expected=len(events), timeout=20)
    ids = [body["event_id"] for body in published]
    assert len(ids) == len(set(ids)) == len(events)
    assert ids == [event.event_id for event in events]  # global, so per case too
    for case in cases:
        mine = [
            b["payload"]["withdrawn_at"]
            for b in published
            if b["correlation_id"] == case
        ]
        assert mine == sorted(mine)


def test_relay_loops_side_by_side_publish_each_event_once(
    engine, make_relay, queue_tap
):
    """Defect 8: a roster import's relay beside the running service's relay
    published every agent twice on SQLite. Two relay loops on one outbox,
    both woken by every commit (as the import's and the service's are),
    publish each event exactly once, in order."""
    tap = queue_tap("intake.events")
    loops = [RelayLoop(make_relay(batch_size=5), poll_seconds=0.05) for _ in range(2)]
    threads = [eventlet.spawn(loop.run) for loop in loops]
    events = [withdrawn(f"LN-2568-{n:08d}", n) for n in range(1, 121)]
    try:
        for start in range(0, len(events), 8):  # one chunk per commit
            commit_events(engine, *events[start : start + 8])
            for loop in loops:
                loop.wake()
            eventlet.sleep(0.01)
        wait_until(lambda: loops[0].relay.pending_count() == 0, timeout=20)
        published = tap.drain(expected=len(events), timeout=20)
    finally:
        for loop in loops:
            loop.stop()
        for thread in threads:
            thread.wait()
    per_event = collections.Counter(body["event_id"] for body in published)
    assert {n for n in per_event.values()} == {1}
    assert [body["event_id"] for body in published] == [e.event_id for e in events]
    assert sum(loop.relay.published for loop in loops) == len(events)


def test_prune_removes_only_old_sent_rows(engine, make_relay):
    commit_events(engine, *(withdrawn(f"LN-2568-{n:08d}") for n in range(1, 5)))
    now = datetime.now(UTC)
    ids = [row["id"] for row in rows(engine)]
    with engine.begin() as conn:
        # 1: sent long ago; 2: sent recently; 3: old but never sent; 4: fresh
        conn.execute(
            update(outbox)
            .where(outbox.c.id == ids[0])
            .values(sent_at=now - timedelta(days=30))
        )
        conn.execute(
            update(outbox)
            .where(outbox.c.id == ids[1])
            .values(sent_at=now - timedelta(hours=1))
        )
        conn.execute(
            update(outbox)
            .where(outbox.c.id == ids[2])
            .values(created_at=now - timedelta(days=60))
        )
    relay = make_relay(retention=timedelta(days=7))
    assert relay.prune() == 1
    assert [row["id"] for row in rows(engine)] == ids[1:]
    assert relay.prune() == 0
    assert relay.pending_count() == 2


def test_relay_declares_a_missing_events_exchange_instead_of_stalling(
    engine: Engine, rabbit_config: dict[str, Any], publishers: list[Any]
) -> None:
    # a vhost where setup-broker never ran and no service has started yet
    publisher = ConfirmingPublisher(rabbit_config["AMQP_URI"])
    publishers.append(publisher)
    relay = Relay(engine, metadata, publisher)
    commit_events(engine, withdrawn("LN-2568-00000501"))

    assert relay.drain() == 1
    assert [row["sent_at"] is not None for row in rows(engine)] == [True]
    with kombu.Connection(rabbit_config["AMQP_URI"]) as connection:
        channel = connection.channel()
        # passive: raises if the exchange does not exist
        channel.exchange_declare("intake.events", "topic", passive=True)
        channel.close()


def test_a_relay_that_lost_its_lease_mid_batch_marks_and_publishes_nothing_more(
    engine, make_relay, queue_tap
):
    """A relay stalled past its lease (another relay took it over) while a
    batch was in flight: it marks nothing of that batch (the new holder
    sends it) and publishes nothing more until it holds the lease again."""
    tap = queue_tap("intake.events")
    events = [withdrawn(f"LN-2568-{n:08d}", n) for n in range(1, 7)]
    commit_events(engine, *events)
    relay = make_relay(batch_size=3)
    publish = relay.publisher.publish_batch

    def taken_over_meanwhile(messages: list[dict[str, Any]]) -> None:
        with engine.begin() as conn:
            conn.execute(
                update(lease).values(
                    holder="another-relay",
                    expires_at=datetime.now(UTC) + timedelta(minutes=5),
                )
            )
        publish(messages)

    relay.publisher.publish_batch = taken_over_meanwhile  # type: ignore[method-assign]
    assert relay.publish_pending() == -1
    assert [row["sent_at"] for row in rows(engine)] == [None] * 6
    relay.publisher.publish_batch = publish  # type: ignore[method-assign]
    assert relay.drain() == -1
    in_flight = tap.drain(expected=3)
    assert [b["event_id"] for b in in_flight] == [e.event_id for e in events[:3]]

    # the other relay died: once its lease lapses this one takes over
    with engine.begin() as conn:
        conn.execute(update(lease).values(expires_at=datetime.now(UTC)))
    assert relay.drain() == 6
    assert [b["event_id"] for b in tap.drain(expected=6)] == [
        e.event_id for e in events
    ]
    # the outbox is empty: the lease is given back for the next relay
    with engine.connect() as conn:
        assert conn.execute(select(lease.c.holder)).scalar() is None


def park_one_of_five(engine: Engine, make_relay: Any) -> tuple[list[Event], Relay]:
    """Five events, the second for an exchange that does not exist (the
    broker closes the channel on it every time); a relay allowed 3 tries
    publishes until nothing waits."""
    events = [withdrawn(f"LN-2568-{n:08d}", n) for n in range(1, 6)]
    with Session(engine) as session:
        bind_outbox(session, metadata)
        for n, event in enumerate(events):
            add_event(
                session,
                "intake",
                event,
                exchange="labornet.nowhere" if n == 1 else None,
            )
        session.commit()
    relay = make_relay(batch_size=10, max_failures=3, service="intake")
    loop = RelayLoop(relay, poll_seconds=0.05, max_backoff=0.05)
    thread = eventlet.spawn(loop.run)
    try:
        wait_until(lambda: relay.pending_count() == 0, timeout=20)
    finally:
        loop.stop()
        thread.wait()
    return events, relay


def test_a_row_the_broker_keeps_refusing_is_parked_and_the_rows_behind_go_on(
    engine, make_relay, queue_tap, caplog
):
    tap = queue_tap("intake.events")
    events, relay = park_one_of_five(engine, make_relay)

    published = [b["event_id"] for b in tap.drain(expected=4)]
    # each once at least (one confirmed just before a refusal may repeat)
    assert list(dict.fromkeys(published)) == [events[n].event_id for n in (0, 2, 3, 4)]
    stored = rows(engine)
    assert [row["parked_at"] is not None for row in stored] == [
        False,
        True,
        False,
        False,
        False,
    ]
    assert [row["sent_at"] is not None for row in stored] == [
        True,
        False,
        True,
        True,
        True,
    ]
    assert stored[1]["failures"] == 3
    assert "NotFound 404" in stored[1]["last_error"]
    assert relay.parked_count() == 1
    assert (
        REGISTRY.get_sample_value(
            "labornet_outbox_parked_events", {"service": "intake"}
        )
        == 1
    )
    # one alert naming the event, never its content
    [alert] = [r for r in caplog.records if "parked" in r.getMessage()]
    assert alert.levelname == "ERROR"
    assert events[1].event_id in alert.getMessage()
    assert "case_withdrawn" in alert.getMessage()
    assert "LN-2568-00000002" not in alert.getMessage()
    assert "citizen" not in alert.getMessage()


def test_an_operator_lists_and_retries_a_parked_row(
    engine, make_relay, queue_tap, broker
):
    events, relay = park_one_of_five(engine, make_relay)
    [parked] = list_parked(engine, metadata)
    assert parked.event_id == events[1].event_id
    assert parked.exchange == "labornet.nowhere"
    assert parked.failures == 3
    assert retry_parked(engine, metadata, "no-such-event") == 0

    # the cause is fixed: the exchange exists now
    nowhere = queue_tap("labornet.nowhere")
    assert retry_parked(engine, metadata, events[1].event_id) == 1
    assert list_parked(engine, metadata) == []
    assert relay.drain() == 1
    [body] = nowhere.drain(expected=1)
    assert body["event_id"] == events[1].event_id
    assert all(row["sent_at"] is not None for row in rows(engine))
    assert relay.refresh_parked() == 0


def test_labornet_outbox_list_and_retry(fresh_database, broker) -> None:
    url = fresh_database("intake")
    migrate("intake", url)
    from labornet_intake.models import Base

    engine = make_engine(url, pool_size=1)
    event = withdrawn("LN-2568-00000009")
    with Session(engine) as session:
        bind_outbox(session, Base.metadata)
        add_event(session, "intake", event)
        session.commit()
    parked = Base.metadata.tables["outbox_messages"]
    with engine.begin() as conn:
        conn.execute(
            update(parked).values(
                parked_at=datetime.now(UTC), failures=10, last_error="NotFound 404"
            )
        )

    def labornet(*args: str) -> Any:
        return run_labornet(
            "outbox", *args, amqp_uri=broker["AMQP_URI"], LABORNET_INTAKE_DB=url
        )

    listed = labornet("list", "intake", "--json")
    assert listed.returncode == 0, listed.stderr
    [shown] = json.loads(listed.stdout)
    assert shown["event_id"] == event.event_id
    assert shown["last_error"] == "NotFound 404"
    assert "body" not in shown and "payload" not in shown
    assert event.event_id in labornet("list", "intake").stdout

    missing = labornet("retry", "intake", "--event-id", "no-such-event")
    assert missing.returncode == 1
    retried = labornet("retry", "intake")
    assert retried.returncode == 0, retried.stderr
    assert "1 parked outbox event(s)" in retried.stdout
    assert "no parked outbox events" in labornet("list", "intake").stdout
    with engine.connect() as conn:
        row = conn.execute(select(parked)).mappings().one()
    assert row["parked_at"] is None and row["failures"] == 0
    engine.dispose()
