"""Agencies' webhook subscriptions as an operator manages them, checked by an
agency system that verifies every message with the ``standardwebhooks``
package (a local receiver speaking the real protocol)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from labornet_shared.tokens import issue_token
from labornet_testkit.providers import WebhookReceiver

PROBLEM = "application/problem+json"


@pytest.fixture
def bearer(notify_config: dict[str, Any]) -> Callable[..., dict[str, str]]:
    secret = notify_config["TOKEN_SECRET"]

    def make(scope: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(secret, scope, **claims)}"}

    return make


@pytest.fixture
def operator(bearer) -> dict[str, str]:
    return bearer("operator", name="operator-somsri")


def subscribe(api: Any, operator: dict, url: str, **fields: Any) -> dict:
    answer = api.post(
        "/v1/subscriptions",
        json={"url": url, "agency": "sso", **fields},
        headers=operator,
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    return dict(answer.json())


def test_the_secret_is_shown_once_and_signs_a_ping_the_agency_verifies(
    notify_api, operator
) -> None:
    with WebhookReceiver([]) as receiver:
        created = subscribe(
            notify_api, operator, f"{receiver.url}/hooks", provinces=["TH-52"]
        )
        assert created["secret"].startswith("whsec_")
        receiver.set_secrets([created["secret"]])
        listed = notify_api.get("/v1/subscriptions", headers=operator).json()
        (shown,) = listed["subscriptions"]
        assert shown["id"] == created["id"] and "secret" not in shown
        ping = notify_api.post(
            f"/v1/subscriptions/{created['id']}/ping", headers=operator
        ).json()
        assert ping["delivered"] is True, ping
        (received,) = receiver.received
        assert received.payload["type"] == "ping"
        assert received.payload["data"]["subscription_id"] == created["id"]


def test_during_a_rotation_both_secrets_sign(notify_api, operator) -> None:
    with WebhookReceiver([]) as receiver:
        created = subscribe(notify_api, operator, receiver.url)
        rotated = notify_api.post(
            f"/v1/subscriptions/{created['id']}/rotate-secret", headers=operator
        )
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret != created["secret"] and rotated.json()["rotating_until"]
        # an agency still on the old secret, and one already on the new one
        for secret in (created["secret"], new_secret):
            receiver.set_secrets([secret])
            ping = notify_api.post(
                f"/v1/subscriptions/{created['id']}/ping", headers=operator
            ).json()
            assert ping["delivered"] is True, ping
        assert len(receiver.received[-1].signatures) == 2
        receiver.set_secrets(
            ["whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="]
        )
        refused = notify_api.post(
            f"/v1/subscriptions/{created['id']}/ping", headers=operator
        ).json()
        assert refused["delivered"] is False
        assert receiver.refused


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hooks",
        "https://192.168.1.10/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://127.0.0.1/hooks",
        "http://127.0.0.1:8080/hooks",
        "ftp://example.org/hooks",
    ],
)
def test_private_and_insecure_urls_are_refused_in_production(
    start_notify, operator, url
) -> None:
    api = start_notify(WEBHOOK_ALLOW_LOCAL="false")
    with api:
        answer = api.post(
            "/v1/subscriptions", json={"url": url, "agency": "sso"}, headers=operator
        )
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"] == PROBLEM
    (error,) = answer.json()["errors"]
    assert (error["field"], error["code"]) == ("url", "unsafe_url")


def test_development_settings_still_refuse_private_networks(
    notify_api, operator
) -> None:
    answer = notify_api.post(
        "/v1/subscriptions",
        json={"url": "http://10.0.0.5/hooks", "agency": "sso"},
        headers=operator,
    )
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hooks\r\nX-Injected: 1",
        "http://127.0.0.1:9/ho\nks",
        "http://127.0.0.1:9/hooks\r",
        "http://127.0.0.1:9/\thooks",
        "http://127.0.0.1:9/a hook",
        "http://127.0.0.1:0/",
        "http://127.0.0.1:00/hooks",
        "http://localhost:0/hooks",
    ],
)
def test_urls_with_line_breaks_or_port_zero_are_refused_even_locally(
    notify_api, operator, url
) -> None:
    """Development settings (local URLs allowed) still refuse a URL whose
    line breaks would be dropped by the check but kept in the record, and
    port 0."""
    answer = notify_api.post(
        "/v1/subscriptions", json={"url": url, "agency": "sso"}, headers=operator
    )
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"] == PROBLEM
    (error,) = answer.json()["errors"]
    assert (error["field"], error["code"]) == ("url", "unsafe_url")
    listed = notify_api.get("/v1/subscriptions", headers=operator).json()
    assert all(s["url"] != url for s in listed["subscriptions"])


def test_pause_and_resume(notify_api, operator) -> None:
    created = subscribe(notify_api, operator, "http://127.0.0.1:9/hooks")
    path = f"/v1/subscriptions/{created['id']}"
    paused = notify_api.post(
        f"{path}/pause", json={"reason": "agency maintenance"}, headers=operator
    ).json()
    assert (paused["status"], paused["paused_reason"]) == (
        "paused",
        "agency maintenance",
    )
    resumed = notify_api.post(f"{path}/resume", headers=operator).json()
    assert (resumed["status"], resumed["paused_reason"]) == ("active", None)


def test_only_operators_manage_subscriptions(notify_api, bearer) -> None:
    agency = bearer("agency", agency="sso")
    for answer in (
        notify_api.get("/v1/subscriptions", headers=agency),
        notify_api.post(
            "/v1/subscriptions",
            json={"url": "https://example.org/h", "agency": "sso"},
            headers=agency,
        ),
    ):
        assert answer.status_code == 404
    assert notify_api.get("/v1/subscriptions").status_code == 401
    unknown = "01a21815-065e-7180-827c-ed4fc4e55c68"
    operator = bearer("operator")
    assert (
        notify_api.post(f"/v1/subscriptions/{unknown}/ping", headers=operator)
    ).status_code == 404
