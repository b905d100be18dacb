"""Rate limits as citizens behind a shared gateway rely on them: anonymous
clients counted per client address (forwarded by a trusted proxy only),
wrong tracking codes counted per case and per client, agency tokens per
office. Real intake, real RabbitMQ vhost and database."""

from __future__ import annotations

from typing import Any

from labornet_testkit.citizen_pages import BROWSER
from labornet_testkit.harness import case_payload

TRACKING = "X-Tracking-Code"


def created(api: Any, operator: dict[str, str]) -> tuple[str, str]:
    answer = api.post("/v1/cases", json=case_payload(), headers=operator)
    assert answer.status_code == 201, answer.text
    return answer.json()["reference"], answer.json()["tracking_code"]


def via(client: str, **headers: str) -> dict[str, str]:
    """What the gateway adds: the address it took the request from."""
    return {"X-Forwarded-For": client, **headers}


def read(api: Any, reference: str, code: str, client: str) -> int:
    answer = api.get(f"/v1/cases/{reference}", headers=via(client, **{TRACKING: code}))
    return int(answer.status_code)


def test_behind_a_trusted_gateway_each_citizen_has_own_count(
    start_intake, intake_bearer
):
    api = start_intake(RATE_LIMIT_ANONYMOUS="3/minute", TRUSTED_PROXIES="127.0.0.1")
    with api:
        reference, code = created(api, intake_bearer("operator"))
        for _ in range(3):
            assert read(api, reference, code, "203.0.113.7") == 200
        assert read(api, reference, code, "203.0.113.7") == 429
        # the citizen next in line at the same gateway is not blocked
        assert read(api, reference, code, "198.51.100.20") == 200
        # RFC 7239's header counts the same way
        forwarded = {
            "Forwarded": 'for="[2001:db8::7]:4711";proto=https',
            TRACKING: code,
        }
        for _ in range(3):
            answer = api.get(f"/v1/cases/{reference}", headers=forwarded)
            assert answer.status_code == 200
        assert api.get(f"/v1/cases/{reference}", headers=forwarded).status_code == 429
        # a forged left-most entry does not buy a new count: the gateway's
        # own (right-most) entry is the client
        forged = "10.9.9.9, 203.0.113.7"
        assert read(api, reference, code, forged) == 429


def test_forwarding_headers_from_an_untrusted_peer_are_ignored(
    start_intake, intake_bearer
):
    # no proxy listed: a client cannot pick its own count with the header
    api = start_intake(RATE_LIMIT_ANONYMOUS="3/minute")
    with api:
        reference, code = created(api, intake_bearer("operator"))
        for index in range(3):
            assert read(api, reference, code, f"203.0.113.{index}") == 200
        assert read(api, reference, code, "203.0.113.99") == 429


def test_wrong_codes_are_counted_per_case_so_a_spread_guesser_stops(
    start_intake, intake_bearer
):
    api = start_intake(
        TRUSTED_PROXIES="127.0.0.0/8",
        RATE_LIMIT_TRACKING_CODE_PER_CASE="3/hour",
        RATE_LIMIT_TRACKING_CODE_PER_CLIENT="100/hour",
    )
    with api:
        operator = intake_bearer("operator")
        target, target_code = created(api, operator)
        other, other_code = created(api, operator)
        # a right code is not a guess: a citizen may look as often as allowed
        for _ in range(5):
            assert read(api, target, target_code, "198.51.100.1") == 200
        # three wrong codes, each from another address
        for index in range(3):
            assert read(api, target, "AAAAA-AAAAA", f"203.0.113.{index}") == 404
        # the fourth, from yet another address, is refused before it is tried
        answer = api.get(
            f"/v1/cases/{target}",
            headers=via("203.0.113.50", **{TRACKING: "AAAAA-AAAAB"}),
        )
        assert answer.status_code == 429
        assert answer.json()["code"] == "rate_limited"
        assert int(answer.headers["Retry-After"]) >= 1
        # and the right code too: else the answer would tell a guess was right
        assert read(api, target, target_code, "198.51.100.1") == 429
        withdraw = api.post(
            f"/v1/cases/{target}/withdraw",
            headers=via("198.51.100.1", **{TRACKING: target_code}),
        )
        assert withdraw.status_code == 429
        follow = api.post(
            f"/t/{target}",
            data={"code": target_code, "lang": "en"},
            headers=via("198.51.100.1", **BROWSER),
        )
        assert follow.status_code == 429
        # the storm on one case leaves every other case alone
        assert read(api, other, other_code, "203.0.113.0") == 200
        # and tokens are not guesses
        whole = api.get(f"/v1/cases/{target}", headers=operator)
        assert whole.status_code == 200


def test_wrong_codes_are_counted_per_client_across_cases(start_intake, intake_bearer):
    api = start_intake(
        TRUSTED_PROXIES="127.0.0.1",
        RATE_LIMIT_TRACKING_CODE_PER_CASE="100/hour",
        RATE_LIMIT_TRACKING_CODE_PER_CLIENT="3/hour",
    )
    with api:
        operator = intake_bearer("operator")
        cases = [created(api, operator) for _ in range(5)]
        for reference, _ in cases[:3]:
            assert read(api, reference, "AAAAA-AAAAA", "203.0.113.66") == 404
        reference, code = cases[3]
        # the guesser is stopped on a fresh case, even with its right code
        assert read(api, reference, code, "203.0.113.66") == 429
        # another citizen is not
        assert read(api, reference, code, "203.0.113.67") == 200


def test_agency_tokens_count_per_office(start_intake, intake_bearer):
    api = start_intake(RATE_LIMIT_AGENCY="3/minute")
    with api:
        lampang = intake_bearer("agency", agency="dlpw", province="TH-52")
        lampang_again = intake_bearer("agency", agency="dlpw", province="TH-52")
        chiang_mai = intake_bearer("agency", agency="dlpw", province="TH-50")
        agency_wide = intake_bearer("agency", agency="dlpw")
        reference = "LN-2569-09999999"
        path = f"/v1/cases/{reference}/contact"
        for _ in range(3):
            assert api.get(path, headers=lampang).status_code == 404
        # another token of the same office shares its count
        assert api.get(path, headers=lampang_again).status_code == 429
        # the agency's other offices, and its agency-wide token, do not
        assert api.get(path, headers=chiang_mai).status_code == 404
        assert api.get(path, headers=agency_wide).status_code == 404
