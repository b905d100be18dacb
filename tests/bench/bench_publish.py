"""The relay's publishing cost per event: its own frames against py-amqp's.

``ConfirmingPublisher.publish_batch`` encodes a batch's ``basic.publish``
frames itself (``labornet_shared.frames``) and sends them at once; before,
each message went through py-amqp's ``basic_publish`` (its generic property
serializer, one ``sendall`` each). This script publishes the same events
both ways, in batches of 500 with publisher confirms, to a throwaway
exchange on a throwaway vhost, in the same process, alternating the two
(ABAB...), and prints CPU and wall time per event and the ratio.

    .venv/bin/python tests/bench/bench_publish.py [--events 8879] [--rounds 3]

Needs RabbitMQ with its management plugin (the vhost is created and deleted
through it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import amqp
from bench_intake import DEFAULT_AMQP, DEFAULT_MANAGEMENT, Broker

from labornet_shared.outbox import ConfirmingPublisher

EXCHANGE = "bench_publish.events"


class PyAmqpPublisher(ConfirmingPublisher):
    """The relay's publisher as it was: one ``basic_publish`` per event."""

    def publish_batch(self, messages: list[dict[str, Any]]) -> None:
        """Publish through py-amqp message by message, then wait for confirms."""
        if self._channel is None:
            self._connect()
        channel, connection = self._channel, self._connection
        assert connection is not None
        self._unconfirmed.clear()
        for message in messages:
            self._declare(message["exchange"])
            self._unconfirmed.add(self._next_tag)
            self._next_tag += 1
            channel.basic_publish(
                amqp.Message(
                    message["body"],
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    message_id=message["event_id"],
                    type=message["event_type"],
                    timestamp=int(time.time()),
                    correlation_id=message.get("correlation_id") or "",
                    application_headers={
                        "nameko.correlation_id": message.get("correlation_id") or "",
                        "nameko.event_id": message["event_id"],
                    },
                ),
                exchange=message["exchange"],
                routing_key=message["routing_key"],
            )
        while self._unconfirmed:
            connection.drain_events(timeout=self.confirm_timeout)
        if self._nacked:
            raise RuntimeError("broker refused (nacked) a message")


def events(count: int) -> list[dict[str, Any]]:
    """Outbox rows shaped like registry's ``agent_registered`` (~700 bytes)."""
    body = {"payload": {"name_th": "สมชาย ใจดี", "areas": ["520101"] * 8}}
    return [
        {
            "exchange": EXCHANGE,
            "routing_key": "agent_registered",
            "event_type": "agent_registered",
            "event_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
            "body": json.dumps({**body, "n": n}, ensure_ascii=False),
        }
        for n in range(count)
    ]


def measure(
    publisher: ConfirmingPublisher, rows: list[dict[str, Any]]
) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to publish ``rows`` in batches of 500."""
    publisher.publish_batch(rows[:10])  # connect and declare first
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(rows), 500):
        publisher.publish_batch(rows[start : start + 500])
    return time.process_time() - cpu, time.perf_counter() - wall


def main(argv: list[str] | None = None) -> int:
    """Publish both ways, alternating; print per-event figures and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=8879)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--amqp-uri", default=DEFAULT_AMQP)
    parser.add_argument("--management-url", default=DEFAULT_MANAGEMENT)
    args = parser.parse_args(argv)
    rows = events(args.events)
    results: dict[str, list[tuple[float, float]]] = {"frames": [], "py-amqp": []}
    makers: dict[str, Callable[[str], ConfirmingPublisher]] = {
        "frames": ConfirmingPublisher,
        "py-amqp": PyAmqpPublisher,
    }
    broker = Broker(args.amqp_uri, args.management_url)
    try:
        broker.create()
        for _ in range(args.rounds):
            for name, make in makers.items():
                publisher = make(broker.amqp_uri)
                try:
                    results[name].append(measure(publisher, rows))
                finally:
                    publisher.close()
    finally:
        broker.delete()
    print(f"{args.events} events per round, {args.rounds} rounds, medians:")
    median = {}
    for name, runs in results.items():
        cpu = statistics.median(r[0] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        median[name] = cpu
        print(
            f"  {name:<8} CPU {1e6 * cpu / args.events:6.1f} µs/event"
            f"  wall {wall:5.2f} s  ({args.events / wall:,.0f} events/s)"
        )
    ratio = median["py-amqp"] / max(median["frames"], 1e-9)
    print(f"  CPU per event, py-amqp / frames: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
