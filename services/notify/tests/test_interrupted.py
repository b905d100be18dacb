"""An SMS gateway that answers after the client gave up may have sent the
message: it is never sent again by itself. The delivery is ``interrupted``,
counted, and listed for operators, who may retry it explicitly.

The gateway is the local server speaking ThaiBulkSMS's API, made slower than
notify's SMS timeout; it records every message it accepts.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from labornet_shared.db import normalise_url
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import publish_event, wait_until
from labornet_testkit.providers import FakeThaiBulkSms
from labornet_testkit.routing import agent_event, case_received_event

SMS_KEY, SMS_SECRET = "sms-key", "sms-secret"
PHONE = "+66812345670"
INTERRUPTED = re.compile(
    r'^labornet_notify_deliveries_interrupted_total\{channel="sms",'
    r'reason="no_answer"\} ([0-9.e+]+)$',
    re.MULTILINE,
)


@pytest.fixture
def sms() -> Iterator[FakeThaiBulkSms]:
    with FakeThaiBulkSms(api_key=SMS_KEY, api_secret=SMS_SECRET) as gateway:
        yield gateway


def start_with_sms(start_notify: Any, sms: FakeThaiBulkSms, timeout: float) -> Any:
    """notify sending SMS through ``sms``, giving up on an answer after
    ``timeout`` seconds."""
    return start_notify(
        SMS_API_KEY=SMS_KEY,
        SMS_API_SECRET=SMS_SECRET,
        SMS_BASE_URL=sms.url,
        SMS_TIMEOUT_SECONDS=timeout,
        SMS_QUIET_HOURS="",
        DELIVERY_POLL_SECONDS=0.1,
        DELIVERY_BACKOFF_SECONDS=0.2,
        DELIVERY_BACKOFF_CAP_SECONDS=0.4,
    )


@pytest.fixture
def notify(start_notify, sms) -> Iterator[Any]:
    with start_with_sms(start_notify, sms, timeout=0.3) as api:
        yield api


@pytest.fixture
def operator(notify_config) -> dict[str, str]:
    token = issue_token(notify_config["TOKEN_SECRET"], "operator", name="ops")
    return {"Authorization": f"Bearer {token}"}


def interrupted_count(api: Any) -> float:
    """``labornet_notify_deliveries_interrupted_total`` for SMS without an
    answer, as Prometheus scrapes it."""
    found = INTERRUPTED.search(api.get("/metrics").text)
    return float(found.group(1)) if found else 0.0


def agent_sms_rows(config: dict[str, Any]) -> list[Any]:
    engine = create_engine(normalise_url(config["DATABASE_URL"]))
    with engine.connect() as conn:
        rows = list(
            conn.execute(
                text(
                    "SELECT id, status, last_error, attempts FROM deliveries"
                    " WHERE recipient_id = 'agent-sms'"
                )
            )
        )
    engine.dispose()
    return rows


def test_an_sms_answered_after_the_timeout_is_sent_once_and_interrupted(
    notify, notify_config, broker, sms, operator
) -> None:
    before = interrupted_count(notify)
    contact = {"phone": PHONE, "email": None, "line_user_id": None}
    publish_event(
        broker["AMQP_URI"], agent_event(agent_id="agent-sms", contact=contact)
    )
    wait_until(lambda: notify.get("/readyz").status_code == 200, timeout=15)
    time.sleep(0.5)  # the agent is projected before the case
    sms.slow(1.0)  # the gateway takes the message, then answers too late
    publish_event(broker["AMQP_URI"], case_received_event())

    def interrupted() -> list[dict[str, Any]]:
        answer = notify.get(
            "/v1/deliveries",
            params={"status": "interrupted", "recipient": "agent-sms"},
            headers=operator,
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["deliveries"])

    (row,) = wait_until(interrupted, timeout=20)
    assert row["channel"] == "sms"
    assert row["last_error"] == "no_answer"
    assert row["attempts"] == 1
    wait_until(lambda: sms.messages_to(PHONE), timeout=5)
    # several backoff periods later: still one message, still interrupted
    time.sleep(2)
    assert len(sms.messages_to(PHONE)) == 1
    assert [(r.status, r.attempts) for r in agent_sms_rows(notify_config)] == [
        ("interrupted", 1)
    ]
    assert interrupted_count(notify) == before + 1

    # an operator who checked with the citizen may send it again
    sms.slow(0)
    retried = notify.post(f"/v1/deliveries/{row['id']}/retry", headers=operator)
    assert retried.status_code == 200, retried.text
    wait_until(lambda: len(sms.messages_to(PHONE)) == 2, timeout=15)
    wait_until(
        lambda: [r.status for r in agent_sms_rows(notify_config)] == ["sent"],
        timeout=10,
    )


def test_a_send_in_flight_is_marked_before_its_provider_answers(
    start_notify, notify_config, broker, sms
) -> None:
    # what the lease's recovery reads if notify dies now: the provider was
    # called, on SMS (a row claimed but not yet called is simply due again)
    with start_with_sms(start_notify, sms, timeout=10) as notify:
        rows, at_the_gateway = marked_before_the_answer(
            notify, notify_config, broker, sms
        )
    assert rows == [("sending", "sms")]
    assert at_the_gateway == []  # still with the provider


def marked_before_the_answer(
    notify, notify_config, broker, sms
) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """The agent's SMS row while the gateway still holds its request, and
    what the gateway has accepted by then."""
    contact = {"phone": PHONE, "email": None, "line_user_id": None}
    publish_event(
        broker["AMQP_URI"], agent_event(agent_id="agent-sms", contact=contact)
    )
    wait_until(lambda: notify.get("/readyz").status_code == 200, timeout=15)
    time.sleep(0.5)  # the agent is projected before the case
    sms.slow(3.0)  # the gateway holds the request
    publish_event(broker["AMQP_URI"], case_received_event())
    engine = create_engine(normalise_url(notify_config["DATABASE_URL"]))

    def in_flight() -> list[Any]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT status, sent_channel FROM deliveries"
                        " WHERE recipient_id = 'agent-sms'"
                    )
                )
            )

    try:
        # the test's own assertion says what was found, should it not come
        with contextlib.suppress(AssertionError):
            wait_until(
                lambda: [tuple(r) for r in in_flight()] == [("sending", "sms")], 2
            )
        return [tuple(r) for r in in_flight()], list(sms.sent)
    finally:
        engine.dispose()
        sms.slow(0)
