"""PDPA: a citizen's name, phone, national ID and e-mail never reach a log
line or an event, whatever the request and however verbose the logging."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from labornet_shared.reference import generate_national_id
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import LogCapture, capture_logs, case_payload

NATIONAL_ID = generate_national_id(random.Random(20260315))
NAME_TH = "ประภาพร วิเศษสุวรรณ"
NAME_EN = "Prapaporn Wisetsuwan"
PHONE = "089-765-4321"
EMAIL = "prapaporn.w@example.org"
LINE_ID = "prapaporn_line_77"

# every spelling that would give the citizen away
SECRETS = (
    NAME_TH,
    "ประภาพร",
    "วิเศษสุวรรณ",
    NAME_EN,
    "Prapaporn",
    "Wisetsuwan",
    "897654321",  # the phone's national number: inside 0897654321, +66897654321
    "765-4321",
    "765 4321",
    NATIONAL_ID,
    "-".join(
        (
            NATIONAL_ID[0],
            NATIONAL_ID[1:5],
            NATIONAL_ID[5:10],
            NATIONAL_ID[10:12],
            NATIONAL_ID[12],
        )
    ),
    EMAIL,
    "prapaporn.w",
    LINE_ID,
)


@pytest.fixture
def logs(intake_api) -> Iterator[LogCapture]:
    """Capture everything at DEBUG while the test talks to intake."""
    with capture_logs("intake") as capture:
        yield capture


def citizen_body(**citizen: Any) -> dict[str, Any]:
    body = case_payload(random.Random(3))
    body["location"] = {
        "province_code": "TH-52",
        "subdistrict_code": "520105",
        "address": f"บ้านของ {NAME_TH} โทร {PHONE}",
    }
    body["citizen"] = {
        "name": NAME_TH,
        "phone": PHONE,
        "email": EMAIL,
        "national_id": NATIONAL_ID,
        "line_user_id": LINE_ID,
        "language": "th",
        "contact_channel": "sms",
        **citizen,
    }
    return body


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_no_personal_data_in_logs_or_events(intake_api, logs, queue_tap, intake_config):
    tap = queue_tap("intake.events")
    operator = {
        "Authorization": "Bearer "
        + issue_token(intake_config["TOKEN_SECRET"], "operator")
    }

    # accepted, then read whole by an operator, withdrawn with a reason naming
    # the citizen, and erased
    created = intake_api.post(
        "/v1/cases",
        json=citizen_body(),
        headers={"Idempotency-Key": "privacy-1", "X-Correlation-Id": "privacy"},
    )
    assert created.status_code == 201, created.text
    reference = created.json()["reference"]
    code = created.json()["tracking_code"]
    whole = intake_api.get(f"/v1/cases/{reference}", headers=operator)
    assert whole.json()["citizen"]["name"] == NAME_TH  # it was really there
    withdrawn = intake_api.post(
        f"/v1/cases/{reference}/withdraw",
        json={"reason": f"{NAME_TH} ขอถอนเรื่อง ติดต่อ {PHONE}"},
        headers={"X-Tracking-Code": code},
    )
    assert withdrawn.status_code == 200, withdrawn.text

    # refused in every way a request carrying personal data can be refused
    refused = [
        ("bad national ID", citizen_body(national_id=NATIONAL_ID[:-1] + "0")),
        ("bad phone", citizen_body(phone=PHONE + "99")),
        ("bad e-mail", citizen_body(email="prapaporn.w@@example")),
        ("no consent", {**citizen_body(), "consent": None}),
        ("unknown field", {**citizen_body(), "nickname": NAME_EN}),
        ("too short", {**citizen_body(), "description": NAME_EN[:9]}),
        (
            "gazetteer",
            {
                **citizen_body(),
                "location": {"province_code": "TH-10", "subdistrict_code": "520105"},
            },
        ),
    ]
    if NATIONAL_ID.endswith("0"):
        refused[0] = (
            "bad national ID",
            citizen_body(national_id=NATIONAL_ID[:-1] + "1"),
        )
    for label, body in refused:
        response = intake_api.post("/v1/cases", json=body)
        assert response.status_code == 400, (label, response.text)
        assert not leaks(response.text), label
    broken = json.dumps(citizen_body(), ensure_ascii=False)[:-40]
    response = intake_api.post(
        "/v1/cases",
        data=broken.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    for path in (f"/v1/cases/{NATIONAL_ID}", f"/v1/cases/{PHONE}"):
        assert intake_api.get(path, headers=operator).status_code == 404
    response = intake_api.get("/v1/cases", params={"q": NAME_EN}, headers=operator)
    assert response.status_code == 400

    erased = intake_api.delete(f"/v1/cases/{reference}/personal-data", headers=operator)
    assert erased.status_code == 204

    # the events: what routing needs, never who the citizen is
    events = tap.drain(expected=3)
    assert [e["event_type"] for e in events] == [
        "case_received",
        "case_withdrawn",
        "case_personal_data_erased",
    ]
    for event in events:
        raw = json.dumps(event, ensure_ascii=False)
        assert not leaks(raw), (event["event_type"], leaks(raw))
        assert "บ้านของ" not in raw  # the free-text address stays in intake

    # the logs: something was logged (the capture works), nothing personal
    assert logs.records, "nothing was logged: the capture is broken"
    assert any(name == "labornet.http" for name, _, _ in logs.records)
    found = [
        (name, leaks(raw) or leaks(line), line)
        for name, raw, line in logs.records
        if leaks(raw) or leaks(line)
    ]
    assert not found, found[:5]
