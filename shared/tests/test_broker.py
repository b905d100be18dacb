"""The broker topology on the real RabbitMQ: idempotent, nothing on the floor."""

from __future__ import annotations

import json
import re
from typing import Any

import kombu
import pytest

from labornet_shared import SERVICES
from labornet_shared.broker import (
    UNROUTED_OVERFLOW_QUEUE,
    UNROUTED_QUEUE,
    BrokerUnavailable,
    Management,
    check_broker,
    declare_topology,
)
from labornet_shared.consumer import retry_queue_name
from labornet_shared.failures import DEFAULT_RETRY_DELAYS_MS
from labornet_shared.subscriptions import SUBSCRIPTIONS
from labornet_shared.unrouted import list_unrouted_events, replay_unrouted_events
from labornet_testkit.harness import (
    MANAGEMENT_URL,
    take_all,
    wait_until,
    withdrawn_event_body,
)

withdrawn_body = withdrawn_event_body


def publish(amqp_uri: str, exchange: str, routing_key: str, body: Any) -> None:
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        channel.confirm_select()
        producer = kombu.Producer(channel)
        producer.publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            serializer="json",
            delivery_mode=2,
        )
        channel.close()


def ready(amqp_uri: str, queue: str) -> int:
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        count = int(channel.queue_declare(queue, passive=True).message_count)
        channel.close()
    return count


def test_declare_topology_is_idempotent(broker: dict[str, Any]) -> None:
    amqp_uri = broker["AMQP_URI"]
    # the fixture declared it once already; again, and again, changes nothing
    first = declare_topology(amqp_uri, MANAGEMENT_URL)
    second = declare_topology(amqp_uri, MANAGEMENT_URL)
    assert first == second
    for service in SERVICES:
        assert f"exchange {service}.events" in first
        assert f"queue {service}.dlq" in first
        assert f"policy labornet-{service}-handlers" in first
    management = Management.from_urls(MANAGEMENT_URL, amqp_uri)
    for service in SERVICES:
        assert management.queue(f"{service}.dlq")["type"] == "quorum"
    assert management.queue(UNROUTED_QUEUE)["type"] == "quorum"


def test_topology_matches_what_nameko_declares(
    broker: dict[str, Any], container_factory: Any
) -> None:
    """A nameko service that dispatches intake's events starts against the
    declared exchange (same arguments), and the topology can be declared
    again while it runs."""
    from nameko.events import EventDispatcher
    from nameko.rpc import rpc
    from nameko.standalone.rpc import ServiceRpcProxy

    class Notify:
        name = "notify"
        dispatch = EventDispatcher()

        @rpc
        def announce(self, body: dict[str, Any]) -> None:
            self.dispatch("notification_failed", body)

    container = container_factory(Notify, broker)
    container.start()
    declare_topology(broker["AMQP_URI"], MANAGEMENT_URL)
    body = withdrawn_body("LN-2568-00000009")
    with ServiceRpcProxy("notify", broker) as notify:
        notify.announce(body)
    # nobody consumes notification_failed: kept aside, not dropped
    [message] = wait_until(lambda: take_all(broker["AMQP_URI"], UNROUTED_QUEUE))
    assert json.loads(message.body)["event_id"] == body["event_id"]


def test_unrouted_event_lands_in_the_unrouted_queue(broker: dict[str, Any]) -> None:
    amqp_uri = broker["AMQP_URI"]
    body = withdrawn_body("LN-2568-00000001")
    publish(amqp_uri, "intake.events", "case_withdrawn", body)
    [message] = wait_until(lambda: take_all(amqp_uri, UNROUTED_QUEUE))
    assert json.loads(message.body) == body
    assert message.delivery_info["routing_key"] == "case_withdrawn"
    assert message.delivery_info["exchange"] == "intake.events"


def test_routed_event_does_not_go_to_the_unrouted_queue(
    broker: dict[str, Any], queue_tap: Any
) -> None:
    amqp_uri = broker["AMQP_URI"]
    tap = queue_tap("intake.events", "case_withdrawn")
    publish(amqp_uri, "intake.events", "case_withdrawn", withdrawn_body("LN-2568-1"))
    # an unbound key on the same exchange still goes aside
    publish(amqp_uri, "intake.events", "case_received", {"x": 1})
    assert len(tap.drain(expected=1)) == 1
    [aside] = wait_until(lambda: take_all(amqp_uri, UNROUTED_QUEUE))
    assert json.loads(aside.body) == {"x": 1}
    assert ready(amqp_uri, UNROUTED_QUEUE) == 0


def test_check_broker_reports_the_real_brokers_version(broker: dict[str, Any]) -> None:
    version = check_broker(broker["AMQP_URI"])
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", version), version


def test_closed_port_is_broker_unavailable(closed_port: int) -> None:
    closed = f"amqp://guest:guest@127.0.0.1:{closed_port}/"
    with pytest.raises(BrokerUnavailable):
        check_broker(closed, timeout=1)
    with pytest.raises(BrokerUnavailable):
        declare_topology(closed, MANAGEMENT_URL)


def test_unreachable_management_api_is_broker_unavailable(
    broker: dict[str, Any], closed_port: int
) -> None:
    with pytest.raises(BrokerUnavailable):
        declare_topology(broker["AMQP_URI"], f"http://127.0.0.1:{closed_port}")


# --- every consumer's queue, declared before any service starts -------------------


def test_every_handler_queue_is_declared_quorum_and_bound(
    broker: dict[str, Any],
) -> None:
    amqp_uri = broker["AMQP_URI"]
    declared = declare_topology(amqp_uri, MANAGEMENT_URL)
    management = Management.from_urls(MANAGEMENT_URL, amqp_uri)
    assert len(SUBSCRIPTIONS) == 21
    for subscription in SUBSCRIPTIONS:
        assert (
            f"queue {subscription.queue} <- {subscription.exchange} "
            f"{subscription.event_type}"
        ) in declared
        assert management.queue(subscription.queue)["type"] == "quorum"
        bindings = management.queue_bindings(subscription.queue)
        assert {(b["source"], b["routing_key"]) for b in bindings if b["source"]} == {
            (subscription.exchange, subscription.event_type)
        }
    for service in ("intake", "routing", "notify"):
        for delay in DEFAULT_RETRY_DELAYS_MS:
            assert f"queue {retry_queue_name(service, delay)}" in declared
    assert not any(line.startswith("queue registry.retry") for line in declared)


def test_event_published_before_its_consumer_first_starts_is_not_missed(
    broker: dict[str, Any], container_factory: Any
) -> None:
    from labornet_shared.consumer import event_handler
    from labornet_shared.events import Event

    amqp_uri = broker["AMQP_URI"]
    declare_topology(amqp_uri, MANAGEMENT_URL)
    body = withdrawn_body("LN-2568-00000010")
    # intake's relay publishes before routing ever ran
    publish(amqp_uri, "intake.events", "case_withdrawn", body)
    queue = "evt-intake-case_withdrawn--routing.on_case_withdrawn"
    wait_until(lambda: ready(amqp_uri, queue) == 1)
    assert ready(amqp_uri, "evt-intake-case_withdrawn--notify.on_case_withdrawn") == 1
    assert ready(amqp_uri, UNROUTED_QUEUE) == 0
    seen: list[str] = []

    class Routing:
        name = "routing"

        @event_handler("intake", "case_withdrawn", accept_versions={1})
        def on_case_withdrawn(self, event: Event) -> None:
            seen.append(event.event_id)

    # the service declares the same queue with the same arguments: no
    # PRECONDITION_FAILED, and the waiting event is handled
    container = container_factory(Routing, broker)
    container.start()
    wait_until(lambda: seen)
    assert seen == [body["event_id"]]


def test_unrouted_queue_is_bounded_and_overflows_into_its_dead_letter_queue(
    broker: dict[str, Any],
) -> None:
    amqp_uri = broker["AMQP_URI"]
    declare_topology(amqp_uri, MANAGEMENT_URL, unrouted_max_length=3)
    ids = []
    for n in range(5):
        body = withdrawn_body(f"LN-2568-0000002{n}")
        ids.append(body["event_id"])
        # nobody consumes notification_failed
        publish(amqp_uri, "notify.events", "notification_failed", body)
    wait_until(lambda: ready(amqp_uri, UNROUTED_OVERFLOW_QUEUE) == 2)
    kept = [json.loads(m.body)["event_id"] for m in take_all(amqp_uri, UNROUTED_QUEUE)]
    overflowed = [
        json.loads(m.body)["event_id"]
        for m in take_all(amqp_uri, UNROUTED_OVERFLOW_QUEUE)
    ]
    # the newest stay readable, the oldest went aside, none lost
    assert kept == ids[2:]
    assert overflowed == ids[:2]


def test_unrouted_events_are_listed_and_replayed_each_once(
    broker: dict[str, Any], queue_tap: Any
) -> None:
    amqp_uri = broker["AMQP_URI"]
    bodies = [withdrawn_body(f"LN-2568-0000003{n}") for n in range(3)]
    for body in bodies:
        publish(amqp_uri, "notify.events", "notification_failed", body)
    wait_until(lambda: ready(amqp_uri, UNROUTED_QUEUE) == 3)
    listed = list_unrouted_events(amqp_uri)
    assert [e.event_id for e in listed] == [b["event_id"] for b in bodies]
    assert {(e.exchange, e.routing_key) for e in listed} == {
        ("notify.events", "notification_failed")
    }
    assert ready(amqp_uri, UNROUTED_QUEUE) == 3  # listing removes nothing

    # still nobody binds: each comes back once, and is replayed once
    result = replay_unrouted_events(amqp_uri)
    assert (result.republished, result.came_back) == (3, 3)
    assert ready(amqp_uri, UNROUTED_QUEUE) == 3

    # a consumer binds: the replay delivers them there, to their own key
    tap = queue_tap("notify.events", "notification_failed")
    result = replay_unrouted_events(amqp_uri, event_id=bodies[1]["event_id"])
    assert (result.republished, result.delivered) == (1, 1)
    result = replay_unrouted_events(amqp_uri)
    assert (result.republished, result.delivered, result.came_back) == (2, 2, 0)
    delivered = tap.drain(expected=3)
    assert sorted(d["event_id"] for d in delivered) == sorted(
        b["event_id"] for b in bodies
    )
    assert ready(amqp_uri, UNROUTED_QUEUE) == 0
