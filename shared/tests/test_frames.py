"""The relay's own basic.publish frames: byte for byte what py-amqp sends for
the same message, and read back by RabbitMQ with every property intact."""

from __future__ import annotations

import json
from typing import Any

import amqp
import kombu
import pytest
from amqp import spec
from amqp.method_framing import frame_writer
from amqp.serialization import dumps

from labornet_shared.frames import publish_frames
from labornet_shared.outbox import ConfirmingPublisher


class _Wire:
    """py-amqp's transport as far as its frame writer uses it."""

    def __init__(self) -> None:
        self.sent = bytearray()

    def write(self, data: Any) -> None:
        self.sent += bytes(data)


class _Connection:
    def __init__(self, frame_max: int) -> None:
        self.frame_max = frame_max
        self.bytes_sent = 0


def _py_amqp_frames(frame_max: int, message: dict[str, Any]) -> bytes:
    wire = _Wire()
    write = frame_writer(_Connection(frame_max), wire)
    content = amqp.Message(
        message["body"],
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=2,
        message_id=message["message_id"],
        type=message["event_type"],
        timestamp=message["timestamp"],
        correlation_id=message["correlation_id"],
        application_headers={
            "nameko.correlation_id": message["correlation_id"],
            "nameko.event_id": message["message_id"],
        },
    )
    args = dumps(
        "Bssbb", (0, message["exchange"], message["routing_key"], False, False)
    )
    write(1, 7, spec.Basic.Publish, args, content)
    return bytes(wire.sent)


def _message(body: bytes) -> dict[str, Any]:
    return {
        "exchange": "intake.events",
        "routing_key": "case_received",
        "body": body,
        "message_id": "0196b7e0-7a34-7c4e-9f00-1a2b3c4d5e6f",
        "event_type": "case_received",
        "correlation_id": "LN-2569-00000042",
        "timestamp": 1_764_130_000,
    }


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        json.dumps({"description": "นายจ้างไม่จ่ายค่าจ้าง" * 10}).encode(),
        # larger than one frame: several body frames
        b"x" * 10_000,
        b"",
    ],
    ids=["small", "thai", "several-frames", "empty"],
)
def test_the_frames_are_those_py_amqp_sends_for_the_same_message(body: bytes) -> None:
    message = _message(body)
    frame_max = 4096
    ours = publish_frames(7, frame_max, **message)
    assert ours == _py_amqp_frames(frame_max, message)


def test_a_name_longer_than_a_short_string_is_refused() -> None:
    message = {**_message(b"{}"), "routing_key": "k" * 256}
    with pytest.raises(ValueError, match="short string"):
        publish_frames(1, 4096, **message)


def test_rabbitmq_delivers_a_batch_with_every_property(broker: dict[str, Any]) -> None:
    exchange = "framestest.events"
    publisher = ConfirmingPublisher(broker["AMQP_URI"])
    with kombu.Connection(broker["AMQP_URI"]) as connection:
        channel = connection.channel()
        queue = kombu.Queue(
            "framestest-tap",
            kombu.Exchange(exchange, type="topic", durable=True),
            routing_key="#",
            exclusive=True,
        )
        queue(channel).declare()
        thai = json.dumps({"description": "ค่าจ้างค้างจ่าย " * 20_000})  # > frame_max
        batch = [
            {
                "exchange": exchange,
                "routing_key": f"case_received.{n}",
                "event_type": "case_received",
                "event_id": f"event-{n}",
                "correlation_id": f"LN-2569-{n:08d}",
                "body": thai if n == 1 else json.dumps({"n": n}),
            }
            for n in range(3)
        ]
        try:
            publisher.publish_batch(batch)
            publisher.publish_batch(batch[:1])  # tags continue on the channel
        finally:
            publisher.close()
        got = []
        for _ in range(4):
            message = queue(channel).get(no_ack=True)
            assert message is not None
            got.append(message)
    assert [m.delivery_info["routing_key"] for m in got] == [
        "case_received.0",
        "case_received.1",
        "case_received.2",
        "case_received.0",
    ]
    assert got[1].body == thai  # kombu decodes by content_encoding
    first = got[0]
    assert first.properties["message_id"] == "event-0"
    assert first.properties["type"] == "case_received"
    assert first.properties["correlation_id"] == "LN-2569-00000000"
    assert first.properties["delivery_mode"] == 2
    assert first.content_type == "application/json"
    assert first.content_encoding == "utf-8"
    assert first.headers == {
        "nameko.correlation_id": "LN-2569-00000000",
        "nameko.event_id": "event-0",
    }
