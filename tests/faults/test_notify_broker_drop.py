"""The broker drops while notify asks intake for a citizen's contact: the SMS
was never handed to the gateway, so it is retried and sent once the broker
is back — never written off as ``interrupted``.

intake and notify run as nameko containers on one vhost; notify reaches
RabbitMQ through a TCP proxy the test cuts. The SMS gateway is the local
server speaking ThaiBulkSMS's API.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import create_engine, text

from labornet_notify.service import NotifyService
from labornet_shared.db import normalise_url
from labornet_testkit.harness import TcpProxy, case_payload, wait_until
from labornet_testkit.providers import FakeThaiBulkSms


def through(proxy: TcpProxy, amqp_uri: str) -> str:
    """``amqp_uri`` with the proxy's address instead of the broker's."""
    parts = urlsplit(amqp_uri)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{proxy.port}"))


@pytest.fixture
def rabbit_proxy(broker) -> Iterator[TcpProxy]:
    """A proxy in front of the test's RabbitMQ. A container behind it must
    be stopped before it closes: its consumer would wait for the broker
    forever (nameko's fixtures tear containers down last)."""
    target = urlsplit(broker["AMQP_URI"])
    proxy = TcpProxy((target.hostname or "127.0.0.1", target.port or 5672)).start()
    yield proxy
    proxy.stop()


def citizen_rows(config: dict[str, Any], reference: str) -> list[Any]:
    engine = create_engine(normalise_url(config["DATABASE_URL"]))
    with engine.connect() as conn:
        rows = list(
            conn.execute(
                text(
                    "SELECT status, last_error, provider_response FROM deliveries"
                    " WHERE case_reference = :reference"
                    " AND recipient_kind = 'citizen'"
                ),
                {"reference": reference},
            )
        )
    engine.dispose()
    return rows


def test_a_broker_drop_while_asking_intake_retries_the_sms(
    rabbit_proxy, start_intake, container_factory, notify_config, broker
) -> None:
    proxy = rabbit_proxy
    with FakeThaiBulkSms(api_key="k", api_secret="s") as gateway:
        intake = start_intake()
        config = dict(
            notify_config,
            AMQP_URI=through(proxy, broker["AMQP_URI"]),
            SMS_API_KEY="k",
            SMS_API_SECRET="s",
            SMS_BASE_URL=gateway.url,
            SMS_QUIET_HOURS="",
            DELIVERY_POLL_SECONDS=0.1,
            DELIVERY_BACKOFF_SECONDS=0.5,
            DELIVERY_BACKOFF_CAP_SECONDS=1,
            # a claimed row would be written off quickly, were it left
            DELIVERY_LEASE_SECONDS=1,
            CONTACT_RPC_TIMEOUT_SECONDS=2,
        )
        notify = container_factory(NotifyService, config)
        notify.start()
        try:
            reference, phone = deliver_through_a_broker_drop(
                proxy, intake, gateway, notify_config
            )
            # sent once, after the broker came back, never written off
            assert [r.status for r in citizen_rows(notify_config, reference)] == [
                "sent"
            ]
            (receipt,) = gateway.messages_to(phone)
            assert reference in receipt
        finally:
            proxy.restore()  # the container stops only with its broker
            notify.kill()
            intake.close()


def deliver_through_a_broker_drop(
    proxy: TcpProxy, intake: Any, gateway: FakeThaiBulkSms, notify_config: Any
) -> tuple[str, str]:
    """Post a case; cut the broker while notify asks for the contact; wait
    for its SMS row to settle. Returns the case's reference and phone."""
    # the first try reaches the gateway, which asks to come back in 2 s:
    # notify's next call to intake finds the broker gone
    gateway.fail_next(1, status=503, retry_after=2)
    body = case_payload(random.Random(11))
    body["citizen"].update(contact_channel="sms")
    phone = "+66" + body["citizen"]["phone"].lstrip("0")
    created = intake.post("/v1/cases", json=body)
    assert created.status_code == 201, created.text
    reference = created.json()["reference"]
    wait_until(lambda: gateway.requests, timeout=20)
    proxy.cut()
    # longer than the lease and the RPC timeout: attempts fail on the
    # dead connection meanwhile
    time.sleep(5)
    during = [row.status for row in citizen_rows(notify_config, reference)]
    assert during in (["pending"], ["sending"]), during
    assert gateway.messages_to(phone) == []
    proxy.restore()

    def sent() -> bool:
        rows = citizen_rows(notify_config, reference)
        return [row.status for row in rows] == ["sent"]

    # the test's assertion shows the rows as they are, should it not come
    with contextlib.suppress(AssertionError):
        wait_until(sent, timeout=30)
    return reference, phone
