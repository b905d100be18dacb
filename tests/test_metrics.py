"""What Prometheus reads from each service moves by exactly what happened.

Through running services (the test kit's containers, a real broker, a real
database): a request counted under its route's template with its status and
its latency; an event published counted by type once the broker confirmed
it, and the outbox backlog and its oldest row's age while nobody publishes;
an event handled counted by consumer and type, a poison message counted as
a dead letter; routing's referrals open and overdue by agency and province
equal to its rows; notify's deliveries by channel and status equal to its
rows. Each series is looked up by its full label set.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import kombu
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from labornet_shared.db import normalise_url
from labornet_shared.events import make_event
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import case_payload, publish_event, wait_until
from labornet_testkit.routing import case_received_event


def scrape(api: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a service's ``/metrics``: (name, labels) → value."""
    answer = api.get("/metrics")
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(api: Any, name: str, **labels: str) -> float:
    """One series (0 when it does not exist yet)."""
    return scrape(api).get((name, frozenset(labels.items())), 0.0)


def series(api: Any, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every series of one metric: labels → value."""
    return {labels: v for (n, labels), v in scrape(api).items() if n == name}


def test_requests_are_counted_by_route_template_status_and_latency(intake_api):
    route = "/v1/cases/<reference>"
    labels = {"service": "intake", "method": "GET", "route": route}
    answers = [intake_api.get(f"/v1/cases/LN-2569-{n:08d}") for n in (91, 92)]
    status = str(answers[0].status_code)
    assert {a.status_code for a in answers} == {int(status)}
    before = value(intake_api, "labornet_http_requests_total", **labels, status=status)
    timed = value(
        intake_api,
        "labornet_http_request_duration_seconds_count",
        service="intake",
        route=route,
    )
    for n in (93, 94, 95):
        assert intake_api.get(f"/v1/cases/LN-2569-{n:08d}").status_code == int(status)
    after = value(intake_api, "labornet_http_requests_total", **labels, status=status)
    assert after == before + 3
    assert (
        value(
            intake_api,
            "labornet_http_request_duration_seconds_count",
            service="intake",
            route=route,
        )
        == timed + 3
    )
    # the template, never the path a client sent: bounded series, no case
    assert "LN-2569-00000093" not in intake_api.get("/metrics").text


def test_outbox_backlog_and_age_while_nobody_publishes(start_intake):
    api = start_intake(OUTBOX_RELAY="off")
    with api:
        published = value(
            api,
            "labornet_events_published_total",
            service="intake",
            event_type="case_received",
        )
        assert value(api, "labornet_outbox_backlog_events", service="intake") == 0
        assert (
            value(api, "labornet_outbox_oldest_event_age_seconds", service="intake")
            == 0
        )
        for _ in range(2):
            assert api.post("/v1/cases", json=case_payload()).status_code == 201
        assert value(api, "labornet_outbox_backlog_events", service="intake") == 2
        age = value(api, "labornet_outbox_oldest_event_age_seconds", service="intake")
        assert 0 < age < 60
        assert (
            value(
                api,
                "labornet_metrics_query_up",
                collector="outbox",
                service="intake",
            )
            == 1
        )
        # nothing left this outbox: nothing counted as published
        assert (
            value(
                api,
                "labornet_events_published_total",
                service="intake",
                event_type="case_received",
            )
            == published
        )


def test_published_events_are_counted_once_the_broker_confirmed_them(
    intake_api, queue_tap
):
    tap = queue_tap("intake.events", "case_received")
    labels = {"service": "intake", "event_type": "case_received"}
    before = value(intake_api, "labornet_events_published_total", **labels)
    for _ in range(3):
        assert intake_api.post("/v1/cases", json=case_payload()).status_code == 201
    assert len(tap.drain(expected=3)) == 3
    wait_until(
        lambda: (
            value(intake_api, "labornet_events_published_total", **labels) == before + 3
        )
    )
    assert value(intake_api, "labornet_outbox_backlog_events", service="intake") == 0


def _publish_raw(amqp_uri: str, exchange: str, routing_key: str, body: str) -> None:
    with kombu.Connection(
        amqp_uri, transport_options={"confirm_publish": True}
    ) as connection:
        channel = connection.channel()
        kombu.Producer(channel).publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
        )
        channel.close()


def test_consumed_events_and_dead_letters_are_counted_by_consumer(routing_api, broker):
    consumer = "routing.on_case_received"
    consumed = {"service": "routing", "consumer": consumer}
    dead = {"service": "routing", "consumer": consumer, "kind": "content"}
    handled = value(
        routing_api,
        "labornet_events_consumed_total",
        **consumed,
        event_type="case_received",
    )
    parked = value(routing_api, "labornet_events_dead_lettered_total", **dead)

    publish_event(broker["AMQP_URI"], case_received_event())
    wait_until(
        lambda: (
            value(
                routing_api,
                "labornet_events_consumed_total",
                **consumed,
                event_type="case_received",
            )
            == handled + 1
        ),
        timeout=20,
    )
    # a body that is no envelope: dead-lettered at once, not consumed
    _publish_raw(
        broker["AMQP_URI"],
        "intake.events",
        "case_received",
        json.dumps({"not": "an event"}),
    )
    wait_until(
        lambda: (
            value(routing_api, "labornet_events_dead_lettered_total", **dead)
            == parked + 1
        ),
        timeout=20,
    )
    assert (
        value(
            routing_api,
            "labornet_events_consumed_total",
            **consumed,
            event_type="case_received",
        )
        == handled + 1
    )


def test_referrals_open_and_overdue_by_agency_and_province(
    routing_api, routing_db, broker
):
    events = [
        case_received_event(),
        case_received_event(),
        case_received_event(location={"province_code": "TH-10"}),
    ]
    for event in events:
        publish_event(broker["AMQP_URI"], event)
    engine = create_engine(normalise_url(routing_db))
    references = [e.payload["reference"] for e in events]

    def referrals() -> list[Any]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT id, agency, province_code, status FROM referrals"
                        " WHERE case_reference IN (:a, :b, :c)"
                    ),
                    dict(zip("abc", references, strict=True)),
                )
            )

    def routed() -> list[Any] | None:
        cases = {reference for (reference,) in _cases(engine)}
        return referrals() if cases >= set(references) else None

    rows = wait_until(routed, timeout=30)
    assert {row.status for row in rows} == {"pending"}
    # one referral of Lampang's first agency is past its accept clock
    late = next(row for row in rows if row.province_code == "TH-52")
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE referrals SET due_accept_at = :due WHERE id = :id"),
            {"due": datetime.now(UTC) - timedelta(hours=1), "id": late.id},
        )
    engine.dispose()

    expected: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row.agency, row.province_code)
        expected[key] = expected.get(key, 0) + 1
    open_ = {
        (dict(k)["agency"], dict(k)["province"]): v
        for k, v in series(routing_api, "labornet_referrals_open").items()
    }
    overdue = {
        (dict(k)["agency"], dict(k)["province"]): v
        for k, v in series(routing_api, "labornet_referrals_overdue").items()
    }
    assert open_ == expected
    assert {k for k, v in overdue.items() if v} == {(late.agency, "TH-52")}
    assert overdue[(late.agency, "TH-52")] == 1
    assert {"TH-52", "TH-10"} <= {province for _, province in open_}


def _cases(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT reference FROM cases")))


def test_deliveries_by_channel_and_status_equal_notify_s_rows(
    start_notify, notify_db, notify_config, broker
):
    # the sender rests after its first (empty) claim: its rows stay pending,
    # so the rows and the gauges describe one state however slow the machine
    # (with it running, each row flipped pending → sending → pending while
    # intake's contact was missing, and under CI load the two views never met)
    notify_api = start_notify(DELIVERY_POLL_SECONDS=3600)
    received = case_received_event()
    reference = received.payload["reference"]
    publish_event(broker["AMQP_URI"], received)
    routed = make_event(
        "case_routed",
        {
            "reference": reference,
            "screening": {
                "method": "lexicon",
                "needs_review": False,
                "labels": [],
                "language": "th",
            },
            "referrals": [
                {
                    "referral_id": "0193f0c2-7a6e-7c3b-9a51-000000000777",
                    "agency": "dlpw",
                    "province_code": "TH-52",
                    "office": "dlpw.TH-52",
                    "categories": ["unpaid_wages"],
                    "status": "pending",
                    "due_accept_at": "2026-11-30T10:00:00+00:00",
                    "due_resolve_at": "2026-12-17T10:00:00+00:00",
                    "agent_id": None,
                }
            ],
            "routed_at": "2026-11-26T03:16:00+00:00",
        },
        reference,
    )
    publish_event(broker["AMQP_URI"], routed)
    operator = {
        "Authorization": "Bearer "
        + issue_token(notify_config["TOKEN_SECRET"], "operator", name="ops")
    }
    wait_until(
        lambda: notify_api.get(
            "/v1/deliveries", params={"reference": reference}, headers=operator
        ).json()["deliveries"],
        timeout=20,
    )
    engine = create_engine(normalise_url(notify_db))

    def rows_and_gauges() -> tuple[dict[Any, float], dict[Any, float]]:
        with engine.connect() as conn:
            rows = {
                (channel, status): float(count)
                for channel, status, count in conn.execute(
                    text(
                        "SELECT channel, status, count(*) FROM deliveries"
                        " GROUP BY channel, status"
                    )
                )
            }
        shown = {
            (dict(k)["channel"], dict(k)["status"]): v
            for k, v in series(notify_api, "labornet_notify_deliveries").items()
        }
        return rows, shown

    try:
        # the routed event may plan its notices a retry later: poll until
        # both views are of one moment, then say what differs if not
        with contextlib.suppress(AssertionError):
            wait_until(lambda: _agree(*rows_and_gauges()), timeout=15)
        rows, shown = rows_and_gauges()
    finally:
        engine.dispose()
    assert rows, "notify planned no delivery for the case"
    assert shown == rows


def _agree(rows: dict[Any, float], shown: dict[Any, float]) -> bool:
    return bool(rows) and rows == shown


def test_the_exposition_is_one_prometheus_accepts(routing_api, broker):
    """Several collectors in one process (routing's outbox and referrals)
    still make each metric family once: Prometheus drops a whole scrape
    with a second HELP or TYPE line for one name."""
    publish_event(broker["AMQP_URI"], case_received_event())
    wait_until(lambda: series(routing_api, "labornet_referrals_open"), timeout=20)
    exposition = routing_api.get("/metrics").text
    types = [
        line.split()[2] for line in exposition.splitlines() if line.startswith("# TYPE")
    ]
    assert len(types) == len(set(types))
    assert "labornet_metrics_query_up" in types
    up = series(routing_api, "labornet_metrics_query_up")
    assert up[frozenset({("collector", "referrals"), ("service", "routing")})] == 1
    assert up[frozenset({("collector", "outbox"), ("service", "routing")})] == 1
    promtool = shutil.which("promtool")
    if promtool is not None:  # CI has it (tests/test_prometheus_config.py)
        checked = subprocess.run(
            [promtool, "check", "metrics"],
            input=exposition,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_slow_database_costs_a_gap_not_a_stuck_scrape(db_url):
    """A scrape-time query is stopped after half a second: its gauges are
    missing from that scrape and ``labornet_metrics_query_up`` says so."""
    from labornet_shared.db import make_engine
    from labornet_shared.metrics import QUERY_TIMEOUT, DatabaseCollector, Source

    class Slow(DatabaseCollector):
        name = "slow"

        def families(self) -> dict[str, Any]:
            return {}

        def measure(self, conn: Any, source: Source) -> Any:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_sleep(5)"))
            else:  # a few seconds of counting
                conn.execute(
                    text(
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL"
                        " SELECT i + 1 FROM n WHERE i < 100000000)"
                        " SELECT count(*) FROM n"
                    )
                )
            return []

    engine = make_engine(db_url, pool_size=1)
    slow = Slow()
    slow._sources[1] = Source("test", engine)
    started = time.monotonic()
    try:
        _, answered = slow.gather()
    finally:
        engine.dispose()
    assert answered == [("test", False)]
    assert time.monotonic() - started < QUERY_TIMEOUT + 1.0
