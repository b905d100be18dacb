"""One case followed through the logs: every JSON line about it carries the
service, the case reference as correlation id and, where an event is
handled or published, that event's id — and none carries what the citizen
wrote or who they are.

intake takes the case in (its request's lines), its relay publishes
``case_received`` (the relay's line), routing handles it (the handler's own
line, written by the service's code without naming any id).
"""

from __future__ import annotations

import json
from typing import Any

from labornet_testkit.harness import capture_logs, case_payload, wait_until


def _lines(capture: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for _, _, line in capture.records]


def test_the_case_reference_and_event_id_follow_the_case(
    intake_api, routing_api, queue_tap
):
    tap = queue_tap("intake.events", "case_received")
    payload = case_payload()
    with capture_logs("labornet") as capture:
        answer = intake_api.post("/v1/cases", json=payload)
        assert answer.status_code == 201
        reference = answer.json()["reference"]
        (event,) = tap.drain(expected=1)

        def referred() -> list[dict[str, Any]]:
            return [
                line
                for line in _lines(capture)
                if line["logger"] == "labornet.routing"
                and "referred to" in line["message"]
            ]

        (routed,) = wait_until(referred, timeout=20)
    lines = _lines(capture)
    published = [
        line
        for line in lines
        if line["logger"] == "labornet_shared.outbox"
        and line["message"] == "published case_received"
        and line.get("event_id") == event["event_id"]
    ]
    assert len(published) == 1, lines
    assert published[0]["correlation_id"] == reference
    # routing's code logs the reference in words only: the ids come from
    # the event it handles
    assert routed["correlation_id"] == reference
    assert routed["event_id"] == event["event_id"]
    assert all(line["service"] == "labornet" for line in lines)
    text = "\n".join(raw for _, raw, _ in capture.records)
    citizen = payload["citizen"]
    for value in (citizen["name"], citizen["phone"], citizen["national_id"]):
        if value:
            assert value not in text
