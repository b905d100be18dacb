"""Broker outage: intake keeps taking cases while RabbitMQ cannot be reached,
and once it can again, every accepted case's ``case_received`` arrives — and
none twice.

intake talks to RabbitMQ through a local TCP proxy that the test cuts and
restores; the test itself reads ``intake.events`` through a queue it binds
directly on the broker, so it sees exactly what got through.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from labornet_testkit.harness import (
    Api,
    TcpProxy,
    amqp_through,
    case_payload,
    wait_until,
)

pytestmark = pytest.mark.slow

BEFORE_OUTAGE = 10
DURING_OUTAGE = 30


def submit(api: Api, rng: random.Random, count: int) -> list[str]:
    """Post ``count`` cases; each must be accepted. Returns their references."""
    references = []
    for _ in range(count):
        response = api.post("/v1/cases", json=case_payload(rng), timeout=10)
        assert response.status_code == 201, response.text
        references.append(response.json()["reference"])
    return references


def readiness(api: Api) -> tuple[int, dict[str, Any]]:
    response = api.get("/readyz", timeout=10)
    return response.status_code, response.json()


def test_cases_taken_during_broker_outage_are_announced_once_it_returns(
    broker_proxy: TcpProxy, start_intake, queue_tap, broker, intake_outbox
):
    tap = queue_tap("intake.events", "case_received")
    api = start_intake(AMQP_URI=amqp_through(broker["AMQP_URI"], broker_proxy.port))
    rng = random.Random(20240603)
    with api:
        status, body = readiness(api)
        assert status == 200, body
        assert body["checks"]["broker"] is True

        accepted = submit(api, rng, BEFORE_OUTAGE)
        events = tap.drain(expected=BEFORE_OUTAGE, timeout=15)
        assert sorted(e["payload"]["reference"] for e in events) == sorted(accepted)
        # confirmed and marked sent: no batch is in flight when the cable goes
        wait_until(lambda: intake_outbox.unsent() == 0, timeout=10)

        broker_proxy.cut()
        during = submit(api, rng, DURING_OUTAGE)
        accepted += during

        # the load balancer is told (readiness caches the broker check ~2 s;
        # the relay's failing health may say "not ready" before it does)
        def broker_not_ready() -> dict[str, Any] | None:
            status, body = readiness(api)
            return body if status == 503 and not body["checks"]["broker"] else None

        body = wait_until(broker_not_ready, timeout=15)
        assert body["ready"] is False
        assert body["checks"]["broker"] is False
        assert body["checks"]["database"] is True
        # nothing got out; the accepted cases' events wait in the outbox
        assert tap.drain(expected=0, timeout=2) == []
        assert intake_outbox.unsent() == DURING_OUTAGE

        broker_proxy.restore()
        # the relay resumes by itself (its backoff is at most ~5 s)
        events += tap.drain(expected=DURING_OUTAGE, timeout=30)
        wait_until(lambda: readiness(api)[0] == 200, timeout=15)
        wait_until(lambda: intake_outbox.unsent() == 0, timeout=10)
        events += tap.drain(expected=0, timeout=1)  # any late second copy

    references = Counter(e["payload"]["reference"] for e in events)
    assert set(references) == set(accepted), "an accepted case was never announced"
    assert [r for r, n in references.items() if n > 1] == [], "announced twice"
    assert len(events) == len(accepted) == BEFORE_OUTAGE + DURING_OUTAGE
    assert len({e["event_id"] for e in events}) == len(events)
    assert all(e["event_type"] == "case_received" for e in events)
    assert all(e["_properties"]["delivery_mode"] == 2 for e in events)
