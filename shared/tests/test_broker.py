"""The broker topology on the real RabbitMQ: idempotent, nothing on the floor."""

from __future__ import annotations

import json
import re
from typing import Any

import kombu
import pytest

from labornet_shared import SERVICES
from labornet_shared.broker import (
    UNROUTED_QUEUE,
    BrokerUnavailable,
    Management,
    check_broker,
    declare_topology,
)
from labornet_shared.testing import (
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

    class Intake:
        name = "intake"
        dispatch = EventDispatcher()

        @rpc
        def announce(self, body: dict[str, Any]) -> None:
            self.dispatch("case_withdrawn", body)

    container = container_factory(Intake, broker)
    container.start()
    declare_topology(broker["AMQP_URI"], MANAGEMENT_URL)
    body = withdrawn_body("LN-2568-00000009")
    with ServiceRpcProxy("intake", broker) as intake:
        intake.announce(body)
    # nobody consumes intake's events yet: kept aside, not dropped
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
