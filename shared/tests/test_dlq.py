"""``labornet dlq replay`` on the real RabbitMQ: each message present when it
starts is replayed once, even when replayed messages fail again at once and
come back to the dead-letter queue during the replay."""

from __future__ import annotations

import json
from typing import Any

import amqp
import kombu

from labornet_shared.consumer import dead_letter_queue_name
from labornet_shared.dlq import replay_dead_letters
from labornet_shared.events import make_event
from labornet_testkit.harness import wait_until, withdrawn_event_body

SERVICE = "routing"
DLQ = dead_letter_queue_name(SERVICE)
# a queue that hands every message straight back to the dead-letter queue,
# as a consumer does with a message that fails again at once
BOUNCING = "test-bounces-back"


def park(channel: Any, count: int) -> list[str]:
    ids = []
    for n in range(count):
        body = withdrawn_event_body(f"LN-2568-{n:08d}")
        event = make_event("case_withdrawn", body["payload"], event_id=body["event_id"])
        channel.basic_publish_confirm(
            amqp.Message(
                json.dumps(event.to_body()),
                content_type="application/json",
                delivery_mode=2,
                application_headers={"x-labornet-queue": BOUNCING},
            ),
            exchange="",
            routing_key=DLQ,
        )
        ids.append(event.event_id)
    return ids


def waiting(channel: Any, queue: str) -> int:
    return int(channel.queue_declare(queue, passive=True).message_count)


def test_replay_counts_each_parked_message_once_though_they_bounce_back(
    broker: dict[str, Any],
) -> None:
    amqp_uri = broker["AMQP_URI"]
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        channel.queue_declare(
            BOUNCING,
            durable=True,
            auto_delete=False,
            arguments={
                "x-message-ttl": 0,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": DLQ,
            },
        )
        channel.confirm_select()
        park(channel, 5)
        assert waiting(channel, DLQ) == 5

        assert replay_dead_letters(amqp_uri, SERVICE) == 5

        # they all came back (failed again), once each
        wait_until(lambda: waiting(channel, DLQ) == 5)
        channel.close()
