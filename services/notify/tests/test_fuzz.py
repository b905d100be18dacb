"""Bad input never gets a 500: property-based tests from notify's own OpenAPI.

The harness (:mod:`labornet_testkit.fuzzing`) sends, for each operation,
schemathesis' coverage cases and Hypothesis-driven random requests,
schema-conforming and mutated, with the operator's token and without: every
answer must be below 500 and as documented, every 4xx a problem+json with a
``code``. notify adds what the generators cannot know: subscriptions that
exist (one whose agency system answers, so a ping reaches its 200) and
deliveries that failed (so a retry reaches its 200).
"""

from __future__ import annotations

from typing import Any

from labornet_shared.tokens import issue_token
from labornet_testkit.fuzzing import fuzz_operations, semantic_operations, signed
from labornet_testkit.harness import publish_event, wait_until
from labornet_testkit.providers import WebhookReceiver
from labornet_testkit.routing import referral_issued_event

OPERATIONS = [
    ("GET", "/v1/deliveries"),
    ("POST", "/v1/deliveries/{delivery_id}/retry"),
    ("POST", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions"),
    ("POST", "/v1/subscriptions/{subscription_id}/rotate-secret"),
    ("POST", "/v1/subscriptions/{subscription_id}/ping"),
    ("POST", "/v1/subscriptions/{subscription_id}/pause"),
    ("POST", "/v1/subscriptions/{subscription_id}/resume"),
    ("GET", "/console"),
    ("POST", "/v1/announcements"),
    ("GET", "/v1/announcements"),
    ("GET", "/v1/announcements/{announcement_id}"),
]

# a retry, a pause or a resume depends on the state it finds (409), a URL on
# where its host is (400: private, unresolvable), a ping on the agency's
# system (a paused one is not pinged): schema-valid input may get these
# (and a cursor is opaque: a schema-valid one may be a 400)
OPERATION_CONFIG = semantic_operations(OPERATIONS, also=[("GET", "/v1/deliveries")])
MAX_EXAMPLES = 60


def test_bad_input_never_gets_a_500(start_notify, notify_config, broker, subtests):
    api = start_notify(
        RATE_LIMIT_ANONYMOUS="1000000/minute",
        DELIVERY_POLL_SECONDS=0.1,
        DELIVERY_BACKOFF_SECONDS=0.1,
        DELIVERY_BACKOFF_CAP_SECONDS=0.2,
        DELIVERY_RETRY_HOURS=0.0003,  # about a second: failures come quickly
    )
    token = issue_token(notify_config["TOKEN_SECRET"], "operator", name="fuzz")
    operator = {"Authorization": f"Bearer {token}"}
    with api, WebhookReceiver([]) as answering:
        # an agency system that answers, and one that is gone (port 9: discard,
        # nobody listens), whose deliveries fail
        live = [
            api.post(
                "/v1/subscriptions",
                json={"url": f"{answering.url}/hooks", "agency": "doe"},
                headers=operator,
            ).json()["id"]
            for _ in range(3)
        ]
        gone = api.post(
            "/v1/subscriptions",
            json={"url": "http://127.0.0.1:9/hooks", "agency": "sso"},
            headers=operator,
        )
        assert gone.status_code == 201, gone.text
        for _ in range(4):
            publish_event(broker["AMQP_URI"], referral_issued_event("sso"))

        def failed() -> list[str]:
            rows = api.get(
                "/v1/deliveries", params={"status": "failed"}, headers=operator
            ).json()["deliveries"]
            return [row["id"] for row in rows]

        failures = wait_until(lambda: len(failed()) >= 4 and failed(), timeout=30)
        announced = api.post(
            "/v1/announcements",
            json={"text_th": "ประชุมอาสาสมัคร", "target": {"provinces": ["TH-52"]}},
            headers=operator,
        )
        assert announced.status_code == 201, announced.text

        def answered_by(case: Any) -> Any:
            """A generated subscription to the agency system that answers."""
            if isinstance(case.body, dict):
                case.body = {**case.body, "url": f"{answering.url}/fuzz"}
            return case

        def strategies_for(operation: Any) -> list[Any]:
            if operation.path == "/v1/subscriptions" and operation.method == "post":
                return [signed(operation.as_strategy().map(answered_by), token)]
            if "{subscription_id}" in operation.path:
                return [
                    signed(
                        operation.as_strategy(
                            path_parameters={"subscription_id": found}
                        ),
                        token,
                    )
                    for found in live
                ]
            if "{announcement_id}" in operation.path:
                return [
                    signed(
                        operation.as_strategy(
                            path_parameters={"announcement_id": announced.json()["id"]}
                        ),
                        token,
                    )
                ]
            if "{delivery_id}" in operation.path:
                return [
                    signed(
                        operation.as_strategy(path_parameters={"delivery_id": found}),
                        token,
                    )
                    for found in failures
                ]
            return []

        seen = fuzz_operations(
            api.base_url,
            OPERATIONS,
            token,
            subtests,
            strategies_for=strategies_for,
            operation_config=OPERATION_CONFIG,
            max_examples=MAX_EXAMPLES,
        )
        served = {
            f"{method.upper()} {path}"
            for path, operations in api.get("/openapi.json").json()["paths"].items()
            for method in operations
            if not path.startswith(
                ("/healthz", "/readyz", "/metrics", "/openapi", "/asyncapi")
            )
        }
    # every operation notify serves was fuzzed, and none answered 5xx
    assert set(seen) == served
    for label, statuses in seen.items():
        assert not [s for (_m, s) in statuses if s >= 500], (label, statuses)
