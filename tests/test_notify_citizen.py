"""The citizen hears of their case, on the channel they chose, from notify —
which asks intake for the contact at send time and keeps only its masked
form — and answers the closing request to rate the service through the
signed link, at intake.

intake and notify run as nameko containers on one vhost, each on its own
database; the SMS gateway is a local server speaking ThaiBulkSMS's API.
"""

from __future__ import annotations

import random
import re
from typing import Any

from labornet_notify.fakes import FakeThaiBulkSms
from labornet_shared.events import make_event
from labornet_shared.testing import case_payload, publish_event, wait_until
from labornet_shared.tokens import issue_token


def operator_headers(config: dict[str, Any]) -> dict[str, str]:
    token = issue_token(config["TOKEN_SECRET"], "operator", name="ops")
    return {"Authorization": f"Bearer {token}"}


def test_the_citizen_gets_their_sms_and_rates_the_service(
    start_intake, start_notify, intake_config, notify_config, broker
) -> None:
    with FakeThaiBulkSms(api_key="k", api_secret="s") as gateway:
        intake = start_intake()
        notify = start_notify(
            SMS_API_KEY="k",
            SMS_API_SECRET="s",
            SMS_BASE_URL=gateway.url,
            SMS_QUIET_HOURS="",
            DELIVERY_POLL_SECONDS=0.1,
            FEEDBACK_URL="https://mol.example/f/<reference>?t=<token>",
        )
        body = case_payload(random.Random(3))
        body["citizen"]["contact_channel"] = "sms"
        phone = body["citizen"]["phone"]
        created = intake.post("/v1/cases", json=body)
        assert created.status_code == 201, created.text
        reference = created.json()["reference"]
        code = created.json()["tracking_code"]

        def texts() -> list[str]:
            return gateway.messages_to("+66" + phone.lstrip("0"))

        (receipt,) = wait_until(texts, timeout=20)
        assert reference in receipt and code in receipt
        # notify keeps who and how, never the number itself
        listed = notify.get(
            "/v1/deliveries",
            params={"reference": reference},
            headers=operator_headers(notify_config),
        ).json()["deliveries"]
        citizen = [d for d in listed if d["recipient_kind"] == "citizen"]
        assert citizen[0]["sent_channel"] == "sms"
        assert phone[-4:] in citizen[0]["address"]
        assert phone[1:-4] not in citizen[0]["address"].replace(" ", "")

        # routing closes the case: the citizen is asked to rate the service
        closed = make_event(
            "case_closed",
            {
                "reference": reference,
                "referrals": [],
                "outcomes": {},
                "closed_at": "2026-11-26T08:00:00+00:00",
            },
            reference,
        )
        publish_event(broker["AMQP_URI"], closed)
        wait_until(lambda: len(texts()) >= 2, timeout=20)
        link = re.search(r"https://mol\.example/f/\S+\?t=([A-Za-z0-9_\-]+)", texts()[1])
        assert link, texts()[1]
        answer = intake.post(
            f"/v1/cases/{reference}/feedback",
            json={"token": link.group(1), "rating": 5, "solved": True},
        )
        assert answer.status_code == 201, answer.text
        again = intake.post(
            f"/v1/cases/{reference}/feedback",
            json={"token": link.group(1), "rating": 1, "solved": False},
        )
        assert again.status_code == 409
        for api in (intake, notify):
            api.close()


def test_nothing_is_sent_once_the_citizen_s_data_is_erased(
    start_intake, start_notify, intake_config, notify_config, broker
) -> None:
    with FakeThaiBulkSms(api_key="k", api_secret="s") as gateway:
        intake = start_intake()
        # the sender looks for due deliveries every 3 s: the erasure below
        # comes before its first look at this case
        notify = start_notify(
            SMS_API_KEY="k",
            SMS_API_SECRET="s",
            SMS_BASE_URL=gateway.url,
            SMS_QUIET_HOURS="",
            DELIVERY_POLL_SECONDS=3,
        )
        body = case_payload(random.Random(4))
        body["citizen"]["contact_channel"] = "sms"
        created = intake.post("/v1/cases", json=body)
        assert created.status_code == 201, created.text
        reference = created.json()["reference"]
        erased = intake.delete(
            f"/v1/cases/{reference}/personal-data",
            headers=operator_headers(intake_config),
        )
        assert erased.status_code == 204

        def skipped() -> list[dict[str, Any]]:
            return [
                d
                for d in notify.get(
                    "/v1/deliveries",
                    params={"reference": reference},
                    headers=operator_headers(notify_config),
                ).json()["deliveries"]
                if d["recipient_kind"] == "citizen" and d["status"] == "skipped"
            ]

        (row,) = wait_until(skipped, timeout=20)
        assert row["last_error"] == "personal data erased"
        assert gateway.sent == []
        for api in (intake, notify):
            api.close()
