"""PDPA across the platform: one case end to end (a field agent registered, a
citizen's case taken in, screened, referred, its contact read by the office
that handles it, resolved, closed, told to the citizen by SMS, erased), and
then every event on the broker and every log line any service wrote is
searched for what the citizen and the agent submitted.

Every event — intake's too: ``case_received`` carries what routing needs,
never who the citizen is (DESIGN, Privacy) — is free of the citizen's name,
phone, e-mail, LINE id and national ID; no log line holds the citizen's or
the agent's. The field agent's name, phone, e-mail, LINE id and national ID
travel only on ``registry.events`` (its agent records, for routing's and
notify's projections): a referral names its follow-up agent by id, and the
office reads the contact from registry's audited contact read.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from labornet_shared.events import REFERRALS_EXCHANGE
from labornet_shared.reference import generate_national_id
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import (
    capture_logs,
    case_payload,
    load_service_config,
    wait_until,
)
from labornet_testkit.providers import FakeThaiBulkSms
from labornet_testkit.registry import agent_payload

THREE_PROBLEMS = "ถูกเลิกจ้างไม่ได้ค่าชดเชย อยากขอเงินว่างงานและหางานใหม่"
NATIONAL_ID = generate_national_id(random.Random(20261207))
NAME_TH = "ประภาพร วิเศษสุวรรณ"
NAME_EN = "Prapaporn Wisetsuwan"
PHONE = "089-765-4321"
EMAIL = "prapaporn.w@example.org"
LINE_ID = "prapaporn_line_77"
AGENT_LINE_ID = "U" + "7" * 32

CITIZEN = (
    NAME_TH,
    "วิเศษสุวรรณ",
    NAME_EN,
    "Wisetsuwan",
    "897654321",  # inside 0897654321 and +66897654321
    "765-4321",
    NATIONAL_ID,
    EMAIL,
    "prapaporn.w",
    LINE_ID,
)

EXCHANGES = (
    "intake.events",
    "routing.events",
    "registry.events",
    "notify.events",
    REFERRALS_EXCHANGE,
)


SERVICES = ("intake", "routing", "registry", "notify")


@contextmanager
def configured_loggers(services: tuple[str, ...]) -> Iterator[None]:
    """The levels each service's config.yml gives its loggers (the tests
    leave LOGGING out), with the root at DEBUG: what the services write at
    their most verbose setting, LABORNET_LOG_LEVEL=DEBUG."""
    saved: dict[str, int] = {}
    for service in services:
        loggers = load_service_config(service)["LOGGING"].get("loggers", {})
        for name, settings in loggers.items():
            logger = logging.getLogger(name)
            saved.setdefault(name, logger.level)
            logger.setLevel(settings["level"])
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def leaks(text: str, secrets: tuple[str, ...]) -> list[str]:
    return [secret for secret in secrets if secret in text]


def test_no_submitted_personal_data_in_any_event_or_log_line(
    start_intake, start_routing, start_registry, start_notify, queue_tap
) -> None:
    taps = {exchange: queue_tap(exchange, "#") for exchange in EXCHANGES}
    agent_body = agent_payload(
        random.Random(7),
        email="somkiat.volunteer@example.org",
        line_user_id=AGENT_LINE_ID,
    )
    agent_secrets = (
        f"{agent_body['first_name_th']} {agent_body['last_name_th']}",
        agent_body["national_id"],
        agent_body["phone"][1:],  # the national number, in any spelling's tail
        agent_body["email"],
        AGENT_LINE_ID,
    )
    with (
        capture_logs() as logs,
        configured_loggers(SERVICES),
        FakeThaiBulkSms(api_key="k", api_secret="s") as gateway,
    ):
        registry = start_registry()
        routing = start_routing()
        intake = start_intake()
        notify = start_notify(
            SMS_API_KEY="k",
            SMS_API_SECRET="s",
            SMS_BASE_URL=gateway.url,
            SMS_QUIET_HOURS="",
            DELIVERY_POLL_SECONDS=0.1,
        )
        agent_id = _one_case_end_to_end(
            registry, routing, intake, notify, gateway, agent_body
        )
        for api in (registry, routing, intake, notify):
            api.close()

    events = {exchange: tap.drain() for exchange, tap in taps.items()}
    for exchange in ("intake.events", "routing.events", "registry.events"):
        assert events[exchange], f"no event seen on {exchange}: the tap is broken"
    assert events[REFERRALS_EXCHANGE], "no referral message seen"
    found = [
        (exchange, event["event_type"], leaks(raw, CITIZEN))
        for exchange, seen in events.items()
        for event in seen
        for raw in [json.dumps(event, ensure_ascii=False)]
        if leaks(raw, CITIZEN)
    ]
    assert not found, found
    # the field agent's contact stays on registry's own feed: referrals (to
    # the offices' queues and to notify) name the follow-up agent by id
    referrals = [
        event
        for exchange in (REFERRALS_EXCHANGE, "routing.events")
        for event in events[exchange]
        if event["event_type"] == "referral_issued"
    ]
    assert referrals and all(
        e["payload"]["follow_up_agent"]["agent_id"] == agent_id for e in referrals
    ), "no referral names the follow-up agent: the check below proves nothing"
    found = [
        (exchange, event["event_type"], leaks(raw, agent_secrets))
        for exchange, seen in events.items()
        if exchange != "registry.events"
        for event in seen
        for raw in [json.dumps(event, ensure_ascii=False)]
        if leaks(raw, agent_secrets)
    ]
    assert not found, found
    # the free-text address stays in intake too
    assert not [e for seen in events.values() for e in seen if "บ้านของ" in str(e)]

    assert len(logs.records) > 20, "too little logged: the capture is broken"
    logged_by = {name.split(".")[0] for name, _, _ in logs.records}
    assert "labornet" in logged_by and "nameko" in logged_by, logged_by
    found_lines = [
        (name, leaks(raw + line, CITIZEN + agent_secrets), line[:300])
        for name, raw, line in logs.records
        if leaks(raw + line, CITIZEN + agent_secrets)
    ]
    assert not found_lines, found_lines[:5]


def _one_case_end_to_end(
    registry: Any,
    routing: Any,
    intake: Any,
    notify: Any,
    gateway: Any,
    agent_body: dict[str, Any],
) -> str:
    """Run the case; the field agent's id."""
    secret = load_service_config("intake")["TOKEN_SECRET"]

    def bearer(scope: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(secret, scope, **claims)}"}

    operator = bearer("operator", name="operator-somsri")
    made = registry.post("/v1/agents", json=agent_body, headers=operator)
    assert made.status_code == 201, made.text
    agent = bearer("agent", agent_id=made.json()["id"])
    assert registry.get(f"/v1/agents/{made.json()['id']}", headers=agent).ok

    body = case_payload(
        random.Random(1),
        description=THREE_PROBLEMS,
        location={
            "province_code": "TH-52",
            "subdistrict_code": "520101",
            "address": f"บ้านของ {NAME_TH} โทร {PHONE}",
        },
    )
    body["citizen"] = {
        "name": NAME_TH,
        "phone": PHONE,
        "email": EMAIL,
        "national_id": NATIONAL_ID,
        "line_user_id": LINE_ID,
        "language": "th",
        "contact_channel": "sms",
    }
    body["consent"]["agencies_may_contact"] = True
    created = intake.post("/v1/cases", json=body, headers=agent)
    assert created.status_code == 201, created.text
    reference = created.json()["reference"]
    follow = {"X-Tracking-Code": created.json()["tracking_code"]}

    def routed() -> bool:
        case = intake.get(f"/v1/cases/{reference}", headers=follow).json()
        return case["status"] == "routed" and len(case.get("referrals", [])) == 3

    wait_until(routed, timeout=20)
    sso = bearer("agency", agency="sso", province="TH-52")
    contact = intake.get(f"/v1/cases/{reference}/contact", headers=sso)
    assert contact.status_code == 200, contact.text
    assert contact.json()["name"] == NAME_TH  # the data was really there
    # the office calls the follow-up agent: the contact comes from registry
    agent_id = str(made.json()["id"])
    reached = registry.get(f"/v1/agents/{agent_id}/contact", headers=sso)
    assert reached.status_code == 200, reached.text
    assert reached.json()["line_user_id"] == AGENT_LINE_ID
    whole = intake.get(f"/v1/cases/{reference}", headers=operator)
    assert whole.json()["citizen"]["national_id"] == NATIONAL_ID

    for agency, outcome in (
        ("sso", "resolved"),
        ("dlpw", "resolved"),
        ("doe", "not_eligible"),
    ):
        office = bearer("agency", agency=agency, province="TH-52")
        (referral,) = routing.get("/v1/referrals", headers=office).json()["referrals"]
        path = f"/v1/referrals/{referral['id']}"
        assert routing.post(f"{path}/accept", headers=office).status_code == 200
        noted = routing.post(
            f"{path}/progress", json={"note": "โทรหาผู้ร้องแล้ว"}, headers=office
        )
        assert noted.status_code == 200, noted.text
        resolved = routing.post(
            f"{path}/resolve", json={"outcome": outcome}, headers=office
        )
        assert resolved.status_code == 200, resolved.text

    def closed() -> bool:
        case = intake.get(f"/v1/cases/{reference}", headers=follow).json()
        return bool(case["status"] == "closed")

    wait_until(closed, timeout=20)
    # the receipt and the request to rate the service reached the phone
    wait_until(lambda: len(gateway.messages_to("+66897654321")) >= 2, timeout=20)
    listed = notify.get(
        "/v1/deliveries", params={"reference": reference}, headers=operator
    )
    assert listed.status_code == 200, listed.text

    erased = intake.delete(f"/v1/cases/{reference}/personal-data", headers=operator)
    assert erased.status_code == 204, erased.text
    return agent_id
