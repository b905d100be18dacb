"""What every service's HTTP layer does with hostile input (issue 13):
huge ids in paths (6), made-up methods and paths in the metrics and who may
read them (7), correlation ids that could carry personal data (8), and
personal answers kept out of caches (9)."""

from __future__ import annotations

import io
import json
import logging
import random
import re
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from labornet_shared.logs import JsonFormatter, accepted_correlation_id
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import case_payload, logging_everything_to
from labornet_testkit.registry import agent_payload


def token(config: dict[str, Any], scope: str, **claims: Any) -> dict[str, str]:
    signed = issue_token(config["TOKEN_SECRET"], scope, **claims)
    return {"Authorization": f"Bearer {signed}"}


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log line this process writes during the test, as the services
    write them (JSON lines)."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonFormatter("test"))
    with logging_everything_to(handler):
        yield written


# --- 6: numbers in paths ---------------------------------------------------------


def test_ids_too_large_for_the_database_are_not_found(
    start_registry, start_routing, registry_config, routing_config
) -> None:
    registry, routing = start_registry(), start_routing()
    with registry, routing:
        for huge in ("99999999999999999999999", str(2**63)):
            answer = registry.get(
                f"/v1/agents/imports/{huge}/rejected.csv",
                headers=token(registry_config, "operator"),
            )
            assert answer.status_code == 404, answer.text
            assert answer.json()["code"] == "not_found"
            answer = routing.delete(
                f"/v1/rules/{huge}", headers=token(routing_config, "operator")
            )
            assert answer.status_code == 404, answer.text
            assert answer.json()["code"] == "not_found"
        # the largest id a BIGINT holds still reaches the service: not found
        largest = str(2**63 - 1)
        answer = routing.delete(
            f"/v1/rules/{largest}", headers=token(routing_config, "operator")
        )
        assert answer.status_code == 404, answer.text


# --- 7: metrics --------------------------------------------------------------------


def series(text: str, name: str) -> list[str]:
    """The sample lines of one metric."""
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def test_made_up_methods_and_paths_add_no_metric_series(intake_api, log_lines):
    for method in ("PROPFIND", "X0812345678", "BREW"):
        answer = intake_api.request(method, "/healthz")
        assert answer.status_code == 405
        answer = intake_api.request(method, f"/made-up/{uuid.uuid4()}")
        assert answer.status_code in (404, 405)
    for _ in range(3):
        assert intake_api.get(f"/made-up/{uuid.uuid4()}").status_code == 404

    requests_total = series(
        intake_api.get("/metrics").text, "labornet_http_requests_total"
    )
    labels = "\n".join(requests_total)
    for invented in ("PROPFIND", "X0812345678", "BREW", "made-up"):
        assert invented not in labels
    assert 'method="other",route="unmatched",service="intake",status="405"' in labels
    assert 'method="GET",route="unmatched",service="intake",status="404"' in labels
    assert "X0812345678" not in log_lines.getvalue()


def test_metrics_answer_loopback_not_through_a_proxy(intake_api):
    assert intake_api.get("/metrics").status_code == 200
    proxied = intake_api.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 404
    assert "labornet_http" not in proxied.text


def test_metrics_token_when_loopback_is_not_enough(start_intake):
    api = start_intake(METRICS_LOOPBACK=False, METRICS_TOKEN="scrape-secret-1")
    with api:
        assert api.get("/metrics").status_code == 404
        wrong = {"Authorization": "Bearer scrape-secret-2"}
        assert api.get("/metrics", headers=wrong).status_code == 404
        right = {"Authorization": "Bearer scrape-secret-1"}
        answer = api.get("/metrics", headers=right)
        assert answer.status_code == 200
        assert "labornet_http_requests_total" in answer.text


# --- 8: correlation ids --------------------------------------------------------------

PHONE_LIKE = ("0812345678", "081-234-5678", "+66812345678", "3100500012345")


@pytest.mark.parametrize(
    "sent",
    [
        "req-2f9c.a_1",
        "LN-2026-00000042",
        "550e8400-e29b-41d4-a716-446655440000",
        "x" * 64,
    ],
)
def test_a_short_token_like_correlation_id_is_kept(sent: str) -> None:
    assert accepted_correlation_id(sent) == sent


@pytest.mark.parametrize(
    "sent",
    [
        *PHONE_LIKE,
        "x" * 65,
        "somchai@example.com",
        "สมชาย ใจดี",
        "call 0812345678",
        "",
        None,
    ],
)
def test_anything_else_gets_a_new_correlation_id(sent: str | None) -> None:
    made = accepted_correlation_id(sent)
    assert made != sent
    assert uuid.UUID(made)


def test_a_phone_number_sent_as_correlation_id_never_reaches_a_log_line(
    intake_api, log_lines
) -> None:
    answers = []
    for phone in PHONE_LIKE:
        headers = {"X-Correlation-Id": phone}
        created = intake_api.post(
            "/v1/cases", json=case_payload(random.Random(5)), headers=headers
        )
        assert created.status_code == 201, created.text
        answers.append((phone, created))
        assert intake_api.get("/no/such/path", headers=headers).status_code == 404
        # the worker's own log lines too: an invalid body is logged as a 400
        assert intake_api.post("/v1/cases", json={}, headers=headers).status_code == 400
    kept = intake_api.get("/healthz", headers={"X-Correlation-Id": "probe-7.a"})

    written = log_lines.getvalue()
    digits = re.sub(r"\D", "", written)
    for phone in PHONE_LIKE:
        assert phone not in written
        assert re.sub(r"\D", "", phone) not in digits
    lines = [json.loads(line) for line in written.splitlines() if line]
    assert any(line.get("correlation_id") == "probe-7.a" for line in lines)
    # the caller learns the id its request was logged under
    assert kept.headers.get("X-Correlation-Id") == "probe-7.a"
    for phone, created in answers:
        assert uuid.UUID(created.headers.get("X-Correlation-Id", "")), phone


# --- 9: caching --------------------------------------------------------------------


def test_personal_answers_are_never_stored_in_caches(
    start_intake, start_registry, intake_config, registry_config
) -> None:
    intake, registry = start_intake(), start_registry()
    with intake, registry:
        created = intake.post("/v1/cases", json=case_payload(random.Random(9)))
        assert created.status_code == 201, created.text
        reference = created.json()["reference"]
        operator = token(intake_config, "operator")
        answers = {
            "created case": created,
            "whole case": intake.get(f"/v1/cases/{reference}", headers=operator),
            "contact": intake.get(f"/v1/cases/{reference}/contact", headers=operator),
            "cases": intake.get("/v1/cases", headers=operator),
            "refused": intake.get(f"/v1/cases/{reference}"),
            "unknown path": intake.get("/v1/nothing-here"),
        }
        agent = registry.post(
            "/v1/agents",
            json=agent_payload(random.Random(9)),
            headers=token(registry_config, "operator"),
        )
        assert agent.status_code == 201, agent.text
        agent_id = agent.json()["id"]
        answers["agent"] = registry.get(
            f"/v1/agents/{agent_id}", headers=token(registry_config, "operator")
        )
        answers["agent itself"] = registry.get(
            f"/v1/agents/{agent_id}",
            headers=token(registry_config, "agent", agent_id=agent_id),
        )
        answers["agents"] = registry.get(
            "/v1/agents", headers=token(registry_config, "operator")
        )
        for name, answer in answers.items():
            assert answer.status_code < 500, (name, answer.text)
            assert answer.headers.get("Cache-Control") == "no-store", name
        assert {answers[n].status_code for n in ("whole case", "contact", "agent")} == {
            200
        }

        # public reference data may be cached
        spec = requests.get(intake.base_url + "/openapi.json", timeout=30)
        assert "no-store" not in spec.headers.get("Cache-Control", "")


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        (b"Content-Length: \x8a\r\n", "Content-Length"),
        (b"Content-Length: -5\r\n", "Content-Length"),
        (b"Content-Length: 1, 2\r\n", "Content-Length"),
        (b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "Transfer-Encoding"),
    ],
    ids=["not-a-number", "negative", "two-values", "beside-transfer-encoding"],
)
def test_a_body_length_nobody_can_read_gets_a_problem_naming_the_header(
    intake_api, headers: bytes, field: str
) -> None:
    # eventlet answers these before the application with a bare 400 and no
    # body; a client must still learn which header was wrong (found by the
    # fuzz test: a generated Content-Length header)
    host, port = intake_api.base_url.rsplit("/", 1)[-1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET /v1/cases HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert b"Content-Type: application/problem+json" in head, head
    problem = json.loads(body)
    assert problem["code"] == "validation_failed"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [(field, "invalid")]
