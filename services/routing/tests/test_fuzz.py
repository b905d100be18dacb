"""Bad input never gets a 500: property-based tests from routing's own OpenAPI.

The harness (:mod:`labornet_testkit.fuzzing`) sends, for each operation,
schemathesis' coverage cases and Hypothesis-driven random requests,
schema-conforming and mutated: every answer must be below 500 and as
documented, and every 4xx a problem+json with a ``code`` (a 400 naming its
fields). Here routing adds what the generators cannot know: referrals that
exist, pending and accepted (so the offices' actions reach their 200s),
rules that exist (so a delete can succeed), and crafted cursors.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from labornet_shared.tokens import issue_token
from labornet_testkit.fuzzing import fuzz_operations, semantic_operations, signed
from labornet_testkit.harness import publish_event, wait_until
from labornet_testkit.routing import case_received_event

OPERATIONS = [
    ("GET", "/v1/referrals"),
    ("GET", "/v1/referrals/{referral_id}"),
    ("POST", "/v1/referrals/{referral_id}/accept"),
    ("POST", "/v1/referrals/{referral_id}/progress"),
    ("POST", "/v1/referrals/{referral_id}/resolve"),
    ("POST", "/v1/referrals/{referral_id}/reject"),
    ("GET", "/v1/rules"),
    ("POST", "/v1/rules"),
    ("DELETE", "/v1/rules/{rule_id}"),
    ("GET", "/v1/sla"),
    ("PUT", "/v1/sla"),
    ("GET", "/v1/holidays"),
    ("POST", "/v1/holidays"),
]

# a transition depends on the referral's status and a rule on its kind: a
# schema-valid request may be a 400 or 409 there (never anything else)
OPERATION_CONFIG = semantic_operations(OPERATIONS, also=[("GET", "/v1/referrals")])

DESCRIPTIONS = (
    "ถูกเลิกจ้างไม่ได้ค่าชดเชย อยากขอเงินว่างงานและหางานใหม่",
    "นายจ้างค้างค่าแรงสองเดือน 24,000 บาท",
    "ตกนั่งร้านขาหัก นายจ้างไม่ยอมแจ้งกองทุนเงินทดแทน ค้างค่าแรงด้วย",
)


def cursor(value: Any) -> str:
    raw = json.dumps({"id": value}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_bad_input_never_gets_a_500(start_routing, routing_config, broker, subtests):
    api = start_routing(RATE_LIMIT_ANONYMOUS="1000000/minute")
    with api:
        seen = _fuzz(api, routing_config, broker, subtests)
    # every operation was exercised, and nothing answered 5xx
    assert set(seen) == {f"{method} {path}" for method, path in OPERATIONS}
    for label, statuses in seen.items():
        assert statuses, label
        assert not [s for (_m, s) in statuses if s >= 500], (label, statuses)


def _fuzz(
    api: Any, routing_config: dict[str, Any], broker: dict[str, Any], subtests: Any
) -> dict[str, Any]:
    secret = routing_config["TOKEN_SECRET"]
    operator = issue_token(secret, "operator", name="fuzz")
    headers = {"Authorization": f"Bearer {operator}"}
    known, accepted, rules = _referrals_and_rules(api, broker, headers)

    def strategies_for(operation: Any) -> list[Any]:
        path = operation.path
        if "{referral_id}" in path:
            chosen = accepted if path.endswith(("progress", "resolve")) else known
            return [
                signed(
                    operation.as_strategy(path_parameters={"referral_id": r["id"]}),
                    operator,
                )
                for r in chosen
            ]
        if "{rule_id}" in path:
            return [
                signed(
                    operation.as_strategy(path_parameters={"rule_id": rule}), operator
                )
                for rule in rules
            ]
        return []

    seen = fuzz_operations(
        api.base_url,
        OPERATIONS,
        operator,
        subtests,
        strategies_for=strategies_for,
        regressions=_regressions,
        operation_config=OPERATION_CONFIG,
        max_examples=80,
    )
    # the referrals that were there are still there, each once
    after = {r["id"] for r in _all_referrals(api, headers)}
    assert {r["id"] for r in known} <= after
    return seen


def _all_referrals(api: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    return api.get("/v1/referrals", params={"limit": 200}, headers=headers).json()[
        "referrals"
    ]


def _referrals_and_rules(
    api: Any, broker: dict[str, Any], headers: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[int]]:
    """Six cases routed (12 referrals), half of those referrals accepted, and
    20 rules: what the fuzzed requests name."""
    for number in range(6):
        event = case_received_event(description=DESCRIPTIONS[number % 3])
        publish_event(broker["AMQP_URI"], event)
    wait_until(lambda: len(_all_referrals(api, headers)) >= 12, timeout=20)
    known = _all_referrals(api, headers)
    accepted = known[: len(known) // 2]
    for referral in accepted:
        answer = api.post(f"/v1/referrals/{referral['id']}/accept", headers=headers)
        assert answer.status_code == 200, answer.text
    rules = [
        api.post(
            "/v1/rules",
            json={"kind": "override", "category": "skill_training", "agency": "doe"},
            headers=headers,
        ).json()["id"]
        for _ in range(20)
    ]
    return known, accepted, rules


def _regressions(operation: Any) -> list[Any]:
    if (operation.method.upper(), operation.path) != ("GET", "/v1/referrals"):
        return []
    # ids in cursors reach the database driver unless checked first; an
    # offset beyond ±15:59 is valid ISO 8601 but not a PostgreSQL zone
    return [
        operation.Case(query={"cursor": cursor(value)})
        for value in ("\ud800", "\u0000", 7, "not-a-uuid")
    ] + [operation.Case(query={"since": "0108-12-30T10:31:22.73-16:42"})]
