"""intake's HTTP API on a real RabbitMQ vhost and a real database."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text

from labornet_shared.db import normalise_url
from labornet_testkit.harness import anonymous_case_payload, case_payload


def count_rows(url: str, table: str) -> int:
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        value = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    engine.dispose()
    return int(value or 0)


def test_submitted_case_is_stored_and_announced_once(intake_api, queue_tap, intake_db):
    tap = queue_tap("intake.events", "case_received")
    response = intake_api.post("/v1/cases", json=case_payload())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["reference"].startswith("LN-25")
    assert body["status"] == "received"
    events = tap.drain(expected=1)
    assert len(events) == 1
    event = events[0]
    assert event["event_type"] == "case_received"
    assert event["correlation_id"] == body["reference"]
    assert event["payload"]["reference"] == body["reference"]
    assert event["_properties"]["delivery_mode"] == 2
    assert count_rows(intake_db, "cases") == 1


def test_case_received_carries_no_personal_data(intake_api, queue_tap):
    tap = queue_tap("intake.events")
    payload = case_payload()
    citizen = payload["citizen"]
    assert intake_api.post("/v1/cases", json=payload).status_code == 201
    [event] = tap.drain(expected=1)
    raw = json.dumps(event, ensure_ascii=False)
    for secret in (citizen["name"], citizen["phone"], citizen["national_id"]):
        assert secret not in raw


def test_same_idempotency_key_gives_same_case(intake_api, intake_db):
    payload = case_payload()
    headers = {"Idempotency-Key": "retry-me-1"}
    first = intake_api.post("/v1/cases", json=payload, headers=headers)
    second = intake_api.post("/v1/cases", json=payload, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert count_rows(intake_db, "cases") == 1
    other = intake_api.post(
        "/v1/cases",
        json=case_payload(description="อีกเรื่องหนึ่ง ต่างจากเดิม"),
        headers=headers,
    )
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


def test_citizen_follows_case_with_tracking_code_only(intake_api):
    created = intake_api.post("/v1/cases", json=case_payload()).json()
    reference, code = created["reference"], created["tracking_code"]
    status = intake_api.get(f"/v1/cases/{reference}", headers={"X-Tracking-Code": code})
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "received"
    assert [entry["status"] for entry in body["timeline"]] == ["received"]
    assert "citizen" not in body and "description" not in body
    wrong = intake_api.get(
        f"/v1/cases/{reference}", headers={"X-Tracking-Code": "AAAAA-AAAAA"}
    )
    assert wrong.status_code == 404
    assert intake_api.get(f"/v1/cases/{reference}").status_code == 404


def test_unknown_route_is_problem_json(intake_api):
    response = intake_api.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_health_and_readiness(intake_api, intake_db):
    assert intake_api.get("/healthz").json() == {"status": "ok"}
    ready = intake_api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "database": True,
        "broker": True,
        "outbox_relay": True,
        "consumers": True,  # the handlers of routing's events
    }
    assert ready.json()["outbox"] == {"parked": 0}

    # an event the broker kept refusing, parked: said, and still ready (it
    # needs an operator's `labornet outbox retry`, not a restart)
    engine = create_engine(normalise_url(intake_db))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO outbox_messages (event_id, exchange, routing_key,"
                " event_type, body, created_at, attempts, failures, parked_at)"
                " VALUES ('e5b0c7a4-0000-4000-8000-000000000001', 'nowhere',"
                " 'case_received', 'case_received', '{}', :now, 10, 10, :now)"
            ),
            {"now": "2026-01-01 00:00:00"},
        )
    engine.dispose()
    ready = intake_api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["outbox"] == {"parked": 1}
    metrics = intake_api.get("/metrics").text
    assert 'labornet_outbox_parked_events{service="intake"} 1.0' in metrics


def test_anonymous_case_needs_no_consent(intake_api):
    response = intake_api.post("/v1/cases", json=anonymous_case_payload())
    assert response.status_code == 201, response.text
