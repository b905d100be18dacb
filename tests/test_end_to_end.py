"""One case across the running services, as it happens in a province: a
field agent is registered, a citizen's case is taken in, screened and
referred, the offices' queues receive it, the offices answer through their
API, and the citizen follows it to ``closed`` with the tracking code.

intake, routing and registry run as nameko containers on one RabbitMQ vhost,
each on its own database, talking only through events and HTTP.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import create_engine, text

from labornet_shared.db import normalise_url
from labornet_shared.events import ERASED_TEXT, REFERRALS_EXCHANGE
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import case_payload, wait_until
from labornet_testkit.registry import agent_payload

THREE_PROBLEMS = "ถูกเลิกจ้างไม่ได้ค่าชดเชย อยากขอเงินว่างงานและหางานใหม่"


def token(config: dict[str, Any], scope: str, **claims: Any) -> dict[str, str]:
    signed = issue_token(config["TOKEN_SECRET"], scope, **claims)
    return {"Authorization": f"Bearer {signed}"}


def test_a_case_from_intake_to_the_offices_and_back_to_the_citizen(
    start_intake,
    start_routing,
    start_registry,
    intake_config,
    routing_config,
    queue_tap,
) -> None:
    registry = start_registry()
    routing = start_routing()
    intake = start_intake()
    operator = token(intake_config, "operator", name="operator-somsri")
    sso_queue = queue_tap(REFERRALS_EXCHANGE, "sso.#")
    lampang_queue = queue_tap(REFERRALS_EXCHANGE, "*.TH-52.*")

    # a labour volunteer who speaks Myanmar covers the subdistrict
    volunteer = registry.post(
        "/v1/agents",
        json=agent_payload(random.Random(7), languages=["th", "my"]),
        headers=operator,
    )
    assert volunteer.status_code == 201, volunteer.text
    agent_id = volunteer.json()["id"]
    # routing learns of the volunteer from registry's event
    routing_db = create_engine(normalise_url(routing_config["DATABASE_URL"]))

    def projected() -> bool:
        with routing_db.connect() as conn:
            query = text("SELECT count(*) FROM agents WHERE id = :id")
            return bool(conn.execute(query, {"id": agent_id}).scalar())

    wait_until(projected, timeout=15)
    routing_db.dispose()

    body = case_payload(
        random.Random(1),
        description=THREE_PROBLEMS,
        location={"province_code": "TH-52", "subdistrict_code": "520101"},
    )
    body["consent"]["agencies_may_contact"] = True
    created = intake.post("/v1/cases", json=body)
    assert created.status_code == 201, created.text
    reference = created.json()["reference"]
    follow = {"X-Tracking-Code": created.json()["tracking_code"]}

    # the offices' queues: SSO sees its part only, Lampang sees all three
    (to_sso,) = sso_queue.drain(expected=1, timeout=20)
    assert to_sso["event_type"] == "referral_issued"
    assert to_sso["payload"]["reference"] == reference
    assert to_sso["payload"]["referral"]["office"] == "sso.TH-52"
    assert to_sso["payload"]["follow_up_agent"]["agent_id"] == agent_id
    for personal in (body["citizen"]["name"], body["citizen"]["national_id"]):
        assert personal not in str(to_sso)
    offices = sorted(
        m["payload"]["referral"]["office"] for m in lampang_queue.drain(expected=3)
    )
    assert offices == ["dlpw.TH-52", "doe.TH-52", "sso.TH-52"]

    # the citizen sees which offices have the case
    def routed() -> bool:
        case = intake.get(f"/v1/cases/{reference}", headers=follow).json()
        return case["status"] == "routed" and len(case.get("referrals", [])) == 3

    wait_until(routed, timeout=15)

    # SSO must call the citizen: intake answers while SSO handles the case
    sso = token(intake_config, "agency", agency="sso", province="TH-52")
    contact = intake.get(f"/v1/cases/{reference}/contact", headers=sso)
    assert contact.status_code == 200, contact.text
    assert contact.json()["phone"].startswith("+66")
    tosh = token(intake_config, "agency", agency="tosh")
    assert intake.get(f"/v1/cases/{reference}/contact", headers=tosh).status_code == 404

    # each office accepts and resolves its referral
    for agency, outcome in (
        ("sso", "resolved"),
        ("dlpw", "resolved"),
        ("doe", "not_eligible"),
    ):
        office = token(intake_config, "agency", agency=agency, province="TH-52")
        (referral,) = routing.get("/v1/referrals", headers=office).json()["referrals"]
        path = f"/v1/referrals/{referral['id']}"
        assert routing.post(f"{path}/accept", headers=office).status_code == 200
        resolved = routing.post(
            f"{path}/resolve", json={"outcome": outcome}, headers=office
        )
        assert resolved.status_code == 200, resolved.text

    # ... and the citizen follows the case to "closed"
    def closed() -> dict[str, Any] | None:
        case = intake.get(f"/v1/cases/{reference}", headers=follow).json()
        return case if case["status"] == "closed" else None

    case = wait_until(closed, timeout=20)
    statuses = [entry["status"] for entry in case["timeline"]]
    assert statuses[0] == "received"
    assert statuses[-1] == "closed"
    assert statuses.count("accepted") == 3 and statuses.count("resolved") == 3
    assert {r["status"] for r in case["referrals"]} == {"resolved"}
    # once the case is closed, no office may read the contact any more
    assert intake.get(f"/v1/cases/{reference}/contact", headers=sso).status_code == 404

    # PDPA erasure at intake reaches routing's copy of the citizen's words
    erased = intake.delete(f"/v1/cases/{reference}/personal-data", headers=operator)
    assert erased.status_code == 204, erased.text
    office = token(intake_config, "agency", agency="sso", province="TH-52")
    (referral,) = routing.get("/v1/referrals", headers=office).json()["referrals"]

    def wiped() -> bool:
        seen = routing.get(f"/v1/referrals/{referral['id']}", headers=office)
        return bool(seen.json()["description"] == ERASED_TEXT)

    wait_until(wiped, timeout=15)
