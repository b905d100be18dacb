"""Deliveries through the running notify service to local servers that speak
the providers' protocols: field agents on LINE and SMS, agencies' webhooks
verified with ``standardwebhooks`` — each message exactly once, or a
recorded failure with a fallback, never silently missing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from labornet_shared.db import normalise_url
from labornet_shared.events import make_event
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import publish_event, wait_until
from labornet_testkit.providers import FakeLineApi, FakeThaiBulkSms, WebhookReceiver
from labornet_testkit.routing import (
    agent_event,
    case_received_event,
    referral_issued_event,
)

LINE_TOKEN = "line-channel-access-token"
SMS_KEY, SMS_SECRET = "sms-key", "sms-secret"


@pytest.fixture
def providers() -> Iterator[tuple[FakeLineApi, FakeThaiBulkSms]]:
    with (
        FakeLineApi(access_token=LINE_TOKEN) as line,
        FakeThaiBulkSms(api_key=SMS_KEY, api_secret=SMS_SECRET) as sms,
    ):
        yield line, sms


@pytest.fixture
def notify(start_notify, providers) -> Iterator[Any]:
    line, sms = providers
    api = start_notify(
        LINE_ACCESS_TOKEN=LINE_TOKEN,
        LINE_BASE_URL=line.url,
        SMS_API_KEY=SMS_KEY,
        SMS_API_SECRET=SMS_SECRET,
        SMS_BASE_URL=sms.url,
        SMS_QUIET_HOURS="",
        DELIVERY_POLL_SECONDS=0.1,
        DELIVERY_BACKOFF_SECONDS=0.2,
        DELIVERY_BACKOFF_CAP_SECONDS=0.5,
    )
    with api:
        yield api


@pytest.fixture
def operator(notify_config) -> dict[str, str]:
    token = issue_token(notify_config["TOKEN_SECRET"], "operator", name="ops")
    return {"Authorization": f"Bearer {token}"}


def deliveries(api: Any, headers: dict, **params: Any) -> list[dict]:
    answer = api.get("/v1/deliveries", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["deliveries"])


def known(config: dict[str, Any], agent_id: str) -> None:
    """Wait until notify has projected the agent from registry's event."""
    engine = create_engine(normalise_url(config["DATABASE_URL"]))

    def projected() -> bool:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM agent_contacts WHERE id = :id")
            return bool(conn.execute(query, {"id": agent_id}).scalar())

    wait_until(projected, timeout=15)
    engine.dispose()


def line_agent(**overrides: Any) -> Any:
    contact = {"phone": "+66812345678", "email": None, "line_user_id": "U" + "a1" * 16}
    return agent_event(agent_id="agent-line", contact=contact, **overrides)


def test_the_area_agent_hears_of_a_new_case_once(
    notify, notify_config, broker, providers, operator
) -> None:
    line, _sms = providers
    publish_event(broker["AMQP_URI"], line_agent())
    known(notify_config, "agent-line")
    case = case_received_event()
    publish_event(broker["AMQP_URI"], case)
    publish_event(broker["AMQP_URI"], case)  # redelivered
    wait_until(lambda: len(line.pushes) >= 1, timeout=15)
    wait_until(
        lambda: deliveries(notify, operator, status="sent", channel="line"), timeout=5
    )
    (push,) = line.pushes
    assert push.to == "U" + "a1" * 16
    assert case.payload["reference"] in push.messages[0]["text"]
    (row,) = deliveries(
        notify, operator, reference=case.payload["reference"], recipient="agent-line"
    )
    assert row["message"] == "new_case_in_area"
    assert row["address"] != push.to  # only the masked form is kept


def test_a_provider_failing_three_times_shows_the_message_once(
    notify, notify_config, broker, providers, operator
) -> None:
    line, _sms = providers
    publish_event(broker["AMQP_URI"], line_agent())
    known(notify_config, "agent-line")
    line.fail_next(3, status=503)
    case = case_received_event()
    publish_event(broker["AMQP_URI"], case)

    def sent() -> list[dict]:
        return deliveries(notify, operator, status="sent", recipient="agent-line")

    (row,) = wait_until(sent, timeout=20)
    assert row["attempts"] == 4
    assert len(line.pushes) == 1


def test_a_provider_down_past_the_window_falls_back_to_sms(
    start_notify, notify_config, broker, providers, operator
) -> None:
    line, sms = providers
    api = start_notify(
        LINE_ACCESS_TOKEN=LINE_TOKEN,
        LINE_BASE_URL=line.url,
        SMS_API_KEY=SMS_KEY,
        SMS_API_SECRET=SMS_SECRET,
        SMS_BASE_URL=sms.url,
        SMS_QUIET_HOURS="",
        DELIVERY_POLL_SECONDS=0.1,
        DELIVERY_BACKOFF_SECONDS=0.2,
        DELIVERY_BACKOFF_CAP_SECONDS=0.4,
        DELIVERY_RETRY_HOURS=0.0005,  # under two seconds
    )
    with api:
        line.down()
        publish_event(broker["AMQP_URI"], line_agent())
        known(notify_config, "agent-line")
        failures = []

        def fell_back() -> bool:
            rows = deliveries(api, operator, recipient="agent-line")
            failures[:] = [r for r in rows if r["status"] == "failed"]
            return any(r["channel"] == "sms" and r["status"] == "sent" for r in rows)

        publish_event(broker["AMQP_URI"], case_received_event())
        wait_until(fell_back, timeout=20)
    (failed,) = failures
    assert (failed["channel"], failed["last_error"]) == ("line", "retries_exhausted")
    assert failed["fallback_id"]
    (text,) = sms.messages_to("+66812345678")
    assert "LN-" in text


def test_agencies_get_referrals_as_signed_webhooks(notify, broker, operator) -> None:
    with WebhookReceiver([]) as receiver:
        created = notify.post(
            "/v1/subscriptions",
            json={"url": receiver.url, "agency": "sso", "provinces": ["TH-52"]},
            headers=operator,
        ).json()
        receiver.set_secrets([created["secret"]])
        referral = {
            "referral_id": "01a21815-065e-7180-827c-ed4fc4e55c68",
            "agency": "sso",
            "province_code": "TH-52",
            "office": "sso.TH-52",
            "categories": ["social_security_benefit"],
            "status": "pending",
            "due_accept_at": "2026-11-30T04:00:00+00:00",
            "due_resolve_at": "2026-12-24T04:00:00+00:00",
            "agent_id": None,
        }
        issued = make_event(
            "referral_issued",
            {
                "referral": referral,
                "reference": "LN-2569-00000042",
                "labels": [],
                "needs_review": False,
                "description": "ขอเงินว่างงาน",
                "location": {
                    "province_code": "TH-52",
                    "district_code": None,
                    "subdistrict_code": None,
                    "postcode": None,
                    "lat": 18.29,
                    "long": 99.49,
                },
                "abroad_country": None,
                "channel": "phone",
                "language": "th",
                "follow_up_agent": None,
                "hop": 1,
                "escalated_from": None,
                "issued_at": "2026-11-26T04:00:00+00:00",
            },
            "LN-2569-00000042",
        )
        elsewhere = make_event(
            "referral_issued",
            {
                **issued.payload,
                "referral": {**referral, "province_code": "TH-50"},
            },
            "LN-2569-00000043",
        )
        for event in (issued, issued, elsewhere):
            publish_event(broker["AMQP_URI"], event)
        wait_until(lambda: receiver.received, timeout=15)
        time.sleep(1.0)  # time for a duplicate or the other province's to arrive
        (hook,) = receiver.received
    assert hook.payload["event_id"] == issued.event_id
    assert hook.payload["payload"]["reference"] == "LN-2569-00000042"


def test_a_referral_queued_as_v1_or_issued_as_v2_reaches_the_agency(
    notify, broker, operator
) -> None:
    agent = {"agent_id": "agent-0001", "kind": "labour_volunteer"}
    issued = referral_issued_event("sso")
    v2 = make_event(
        "referral_issued",
        {**issued.payload, "follow_up_agent": agent},
        issued.correlation_id,
    )
    # published before routing moved to v2: the agent's contact inside
    older = referral_issued_event("sso")
    v1 = make_event(
        "referral_issued",
        {
            **older.payload,
            "follow_up_agent": {
                **agent,
                "name_th": "สมชาย ใจดี",
                "phone": "+66812345678",
                "line_user_id": None,
            },
        },
        older.correlation_id,
        schema_version=1,
    )
    assert (v1.schema_version, v2.schema_version) == (1, 2)
    with WebhookReceiver([]) as receiver:
        created = notify.post(
            "/v1/subscriptions",
            json={"url": receiver.url, "agency": "sso"},
            headers=operator,
        ).json()
        receiver.set_secrets([created["secret"]])
        for event in (v1, v2):
            publish_event(broker["AMQP_URI"], event)
        wait_until(lambda: len(receiver.received) >= 2, timeout=15)
    bodies = {hook.payload["event_id"]: hook.payload for hook in receiver.received}
    assert set(bodies) == {v1.event_id, v2.event_id}
    assert bodies[v2.event_id]["schema_version"] == 2
    assert bodies[v2.event_id]["payload"]["follow_up_agent"] == agent
