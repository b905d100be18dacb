"""Several broker addresses (a cluster's nodes, ``a;b;c``): every client
labornet builds moves on to the next address when one does not answer, on
the real RabbitMQ (an address that refuses stands for a stopped node;
``make test-cluster`` stops a real one)."""

from __future__ import annotations

import socket
import uuid
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import kombu
import pytest

from labornet_shared.broker import (
    BrokerUnavailable,
    Management,
    broker_addresses,
    with_vhost,
)
from labornet_shared.consumer import ReliableQueueConsumer
from labornet_shared.outbox.publisher import ConfirmingPublisher
from labornet_testkit.harness import MANAGEMENT_URL, wait_until


def at_port(uri: str, port: int) -> str:
    """``uri`` (credentials and vhost kept) at 127.0.0.1:``port``."""
    parts = urlsplit(uri)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{port}"))


def queue_with_one_message(amqp_uri: str) -> str:
    name = f"test-failover-{uuid.uuid4().hex[:8]}"
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        channel.queue_declare(name, durable=True, auto_delete=False)
        kombu.Producer(channel).publish(
            {"n": 1}, exchange="", routing_key=name, serializer="json"
        )
        channel.close()
    return name


def ready(amqp_uri: str, queue: str) -> int:
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        count = int(channel.queue_declare(queue, passive=True).message_count)
        channel.close()
    return count


def test_addresses_are_split_and_each_gets_the_vhost() -> None:
    uri = "amqp://u:p@a:5672/;amqp://u:p@b:5673/ ; amqp://u:p@c:5674/"
    assert broker_addresses(uri) == [
        "amqp://u:p@a:5672/",
        "amqp://u:p@b:5673/",
        "amqp://u:p@c:5674/",
    ]
    assert with_vhost(uri, "labornet/x") == (
        "amqp://u:p@a:5672/labornet%2Fx;amqp://u:p@b:5673/labornet%2Fx;"
        "amqp://u:p@c:5674/labornet%2Fx"
    )
    assert broker_addresses("amqp://u:p@a:5672/") == ["amqp://u:p@a:5672/"]


def test_the_relay_publisher_moves_on_to_the_next_address(
    broker: dict[str, Any], closed_port: int
) -> None:
    amqp_uri = broker["AMQP_URI"]
    name = f"test-failover-{uuid.uuid4().hex[:8]}"
    with kombu.Connection(amqp_uri) as connection:
        connection.channel().queue_declare(name, durable=True, auto_delete=False)
    publisher = ConfirmingPublisher(f"{at_port(amqp_uri, closed_port)};{amqp_uri}")
    message = {
        "exchange": "",
        "routing_key": name,
        "body": b"{}",
        "event_type": "test",
        "event_id": str(uuid.uuid4()),
        "correlation_id": "",
        "headers": {},
    }
    try:
        publisher.publish_batch([message])  # confirmed, or it raises
    finally:
        publisher.close()
    assert ready(amqp_uri, name) == 1


def test_the_relay_publisher_fails_fast_when_no_address_answers(
    broker: dict[str, Any], closed_port: int
) -> None:
    down = at_port(broker["AMQP_URI"], closed_port)
    # one attempt per address, no sleep: the relay's own backoff paces it
    with pytest.raises(Exception) as caught:
        ConfirmingPublisher(f"{down};{down}").publish_batch([])
    assert isinstance(caught.value, (OSError, kombu.exceptions.OperationalError))


def test_management_asks_the_next_node_when_one_does_not_answer(
    broker: dict[str, Any], closed_port: int
) -> None:
    down = f"http://guest:guest@127.0.0.1:{closed_port}"
    management = Management.from_urls(f"{down};{MANAGEMENT_URL}", broker["AMQP_URI"])
    assert management.base_url == f"http://127.0.0.1:{closed_port}"
    assert management.cluster_size() == 1
    with pytest.raises(BrokerUnavailable, match=str(closed_port)):
        Management.from_urls(down, broker["AMQP_URI"]).cluster_size()


def test_a_single_node_gets_no_mirroring_policy(broker: dict[str, Any]) -> None:
    management = Management.from_urls(MANAGEMENT_URL, broker["AMQP_URI"])
    names = [p["name"] for p in management.request("GET", "policies").json()]
    assert "labornet-events-unrouted" in names  # the topology is declared
    assert "labornet-classic-mirrored" not in names


def test_an_ack_on_a_dropped_connection_leaves_the_message_for_redelivery(
    broker: dict[str, Any],
) -> None:
    # a stopped node resets its clients' sockets: nameko lets the ack's
    # OSError end the service; labornet's consumer logs it and goes on
    amqp_uri = broker["AMQP_URI"]
    name = queue_with_one_message(amqp_uri)
    consumer = ReliableQueueConsumer()
    consumer.container = SimpleNamespace(config={"AMQP_URI": amqp_uri})
    with kombu.Connection(amqp_uri) as connection:
        message = kombu.Queue(name, durable=True)(connection.channel()).get()
        assert message is not None
        connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)
        consumer.ack_message(message)  # no exception
        consumer.requeue_message(message)
    assert wait_until(lambda: ready(amqp_uri, name) == 1)


def test_no_node_password_reaches_a_log_line() -> None:
    from nameko.utils import sanitize_url

    from labornet_shared.logs import scrub

    uri = "amqp://labornet:s3cr3t@mq1:5672/ln;amqp://labornet:s3cr3t@mq2:5672/ln"
    # what nameko logs when it cannot connect: only the first one masked
    line = f"Error connecting to broker at {sanitize_url(uri)} (refused)."
    assert "s3cr3t" in line
    assert "s3cr3t" not in scrub(line)
    assert "mq2:5672/ln" in scrub(line)
