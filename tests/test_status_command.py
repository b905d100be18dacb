"""``labornet status`` against a running piece of the platform: intake and
routing (the test kit's containers on their own databases), a broker vhost
of their own. Run as an operator runs it: its own process, configured only
by LABORNET_* settings.

Healthy: both ready with their version, both outboxes empty, routing's
handler queues consumed, no dead letter: exit 0. Unhealthy: a service that
does not answer (nor its database), an outbox event waiting over a minute,
a poison message in routing's dead-letter queue, a handler queue with
messages and no consumer: exit 1, each named on its own line with why.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import kombu
from sqlalchemy import create_engine, text

from labornet_shared.db import normalise_url
from labornet_testkit.harness import (
    case_payload,
    free_port,
    run_labornet,
    wait_until,
)


def _settings(service: str, config: dict[str, Any]) -> dict[str, str]:
    host, _, port = config["WEB_SERVER_ADDRESS"].rpartition(":")
    prefix = f"LABORNET_{service.upper()}"
    return {
        f"{prefix}_HOST": host,
        f"{prefix}_PORT": port,
        f"{prefix}_DB": config["DATABASE_URL"],
    }


def status(broker: dict[str, Any], *services: str, **settings: str) -> Any:
    """``labornet status --json SERVICES``: (exit code, lines by name)."""
    result = run_labornet(
        "status", "--json", *services, amqp_uri=broker["AMQP_URI"], **settings
    )
    assert result.returncode in (0, 1), result.stderr
    lines = {
        (line["section"], line["name"]): line for line in json.loads(result.stdout)
    }
    return result.returncode, lines


def test_a_healthy_platform_exits_0(
    intake_api, routing_api, intake_config, routing_config, broker
):
    settings = {
        **_settings("intake", intake_config),
        **_settings("routing", routing_config),
    }
    assert intake_api.post("/v1/cases", json=case_payload()).status_code == 201

    def settled() -> Any:
        code, lines = status(broker, "intake", "routing", **settings)
        # the management API's consumer counts lag a few seconds
        consumed = lines[("queues", "routing")]["state"] == "ok"
        return (code, lines) if code == 0 and consumed else None

    _, lines = wait_until(settled, timeout=30)
    for service in ("intake", "routing"):
        line = lines[("services", service)]
        assert line["state"] == "ok"
        assert line["detail"] == "ready, version 0.1.0"
        assert lines[("outbox", service)]["state"] == "ok"
    assert lines[("outbox", "intake")]["detail"] == "0 waiting"
    consumed = lines[("queues", "routing")]
    assert consumed["state"] == "ok"
    assert consumed["detail"].startswith("6 handler queues, 0 messages waiting")
    assert lines[("dead letters", "routing.dlq")]["state"] == "ok"
    assert lines[("referrals", "overdue")]["state"] in ("ok", "warn")
    # the screen for people says the same in words
    screen = run_labornet(
        "status", "intake", "routing", amqp_uri=broker["AMQP_URI"], **settings
    )
    assert screen.returncode == 0, screen.stdout + screen.stderr
    assert screen.stdout.rstrip().endswith("healthy")


def test_what_is_wrong_is_named_and_exits_1(
    start_intake,
    routing_api,
    intake_config,
    routing_config,
    intake_db,
    broker,
    tmp_path,
):
    intake = start_intake(OUTBOX_RELAY="off")  # nothing publishes intake's events
    settings = {
        **_settings("intake", intake_config),
        **_settings("routing", routing_config),
        # registry was never installed here: nothing answers, no database
        "LABORNET_REGISTRY_PORT": str(free_port()),
        "LABORNET_REGISTRY_DB": f"sqlite:///{tmp_path / 'registry.db'}",
    }
    assert intake.post("/v1/cases", json=case_payload()).status_code == 201
    engine = create_engine(normalise_url(intake_db))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE outbox_messages SET created_at = :at"),
            {"at": datetime.now(UTC) - timedelta(minutes=3)},
        )
    engine.dispose()
    amqp_uri = broker["AMQP_URI"]
    with kombu.Connection(amqp_uri, transport_options={"confirm_publish": True}) as c:
        channel = c.channel()
        producer = kombu.Producer(channel)
        # a poison message for routing: dead-lettered at once
        producer.publish(
            json.dumps({"not": "an event"}),
            exchange="intake.events",
            routing_key="case_received",
            content_type="application/json",
        )
        # notify's queue with a message waiting and notify not running
        queue = "evt-intake-case_received--notify.on_case_received"
        channel.queue_declare(
            queue, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"}
        )
        producer.publish("{}", exchange="", routing_key=queue)
        channel.close()

    def all_seen() -> Any:
        code, lines = status(broker, "intake", "routing", "registry", **settings)
        wanted = [
            ("dead letters", "routing.dlq"),
            ("queues", queue),
        ]
        return (code, lines) if all(key in lines for key in wanted) else None

    code, lines = wait_until(all_seen, timeout=30)
    assert code == 1
    registry = lines[("services", "registry")]
    assert (registry["state"], registry["detail"]) == ("FAIL", "down")
    assert "/readyz" in registry["reason"]
    nowhere = lines[("outbox", "registry")]
    assert (nowhere["state"], nowhere["detail"]) == ("FAIL", "database unreachable")
    # intake is ready (it runs no relay), but its outbox waits
    assert lines[("services", "intake")]["state"] == "ok"
    outbox = lines[("outbox", "intake")]
    assert outbox["state"] == "FAIL"
    assert outbox["detail"].startswith("1 waiting, oldest 3m")
    assert "over a minute" in outbox["reason"]
    assert lines[("services", "routing")]["state"] == "ok"
    assert lines[("outbox", "routing")]["state"] == "ok"
    dead = lines[("dead letters", "routing.dlq")]
    assert (dead["state"], dead["detail"]) == ("FAIL", "1 messages")
    assert "labornet dlq list routing" in dead["reason"]
    stuck = lines[("queues", queue)]
    assert (stuck["state"], stuck["reason"]) == ("FAIL", "messages and no consumer")
    assert lines[("queues", "notify")]["state"] == "warn"
    # and on the screen: each problem on its line, with its reason
    screen = run_labornet(
        "status", "intake", "routing", "registry", amqp_uri=amqp_uri, **settings
    )
    assert screen.returncode == 1
    failing = [line for line in screen.stdout.splitlines() if "FAIL" in line]
    assert len(failing) == 5, screen.stdout
    assert screen.stdout.rstrip().endswith("unhealthy: 5 problem(s)")
