"""notify killed with SIGKILL in the middle of a burst, then restarted: each
field agent gets each message exactly once, or a recorded failure — nothing
twice, nothing silently missing.

notify runs as its own process (``nameko run``) against local servers that
speak LINE's and ThaiBulkSMS's protocols. Half the agents are on LINE (a
retried push carries the same retry key, so LINE shows it once), half only
have a phone (an SMS that may have left when notify died is recorded
``interrupted``, never sent again).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from labornet_shared.db import normalise_url
from labornet_testkit.harness import (
    ChildProcess,
    free_port,
    migrate,
    publish_event,
    repo_root,
    service_process,
    wait_until,
)
from labornet_testkit.providers import FakeLineApi, FakeThaiBulkSms
from labornet_testkit.routing import agent_event, case_received_event

AGENTS = 6
CASES = 30
SUBDISTRICTS = ("520101", "520102", "520103")


def notify_process(
    name: str, tmp_path: Path, db: str, amqp_uri: str, line: Any, sms: Any
) -> ChildProcess:
    """notify as its own process, once it is ready (its queues declared)."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        LABORNET_ROOT=str(repo_root()),
        LABORNET_NOTIFY_DB=db,
        LABORNET_AMQP_URI=amqp_uri,
        LABORNET_NOTIFY_PORT=str(port),
        LABORNET_NOTIFY_LINE_ACCESS_TOKEN="line-token",
        LABORNET_NOTIFY_LINE_BASE_URL=line.url,
        LABORNET_NOTIFY_SMS_API_KEY="sms-key",
        LABORNET_NOTIFY_SMS_API_SECRET="sms-secret",
        LABORNET_NOTIFY_SMS_BASE_URL=sms.url,
        LABORNET_NOTIFY_SMS_QUIET_HOURS="",
        LABORNET_NOTIFY_DELIVERY_POLL_SECONDS="0.05",
        LABORNET_NOTIFY_DELIVERY_LEASE_SECONDS="2",
        LABORNET_LOG_LEVEL="WARNING",
        PYTHONWARNINGS="ignore",
    )
    return service_process("notify", name, tmp_path, env, port)


def statuses(db: str) -> Counter[str]:
    engine = create_engine(normalise_url(db))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT status, count(*) FROM deliveries"
                " WHERE recipient_kind <> 'citizen' GROUP BY 1"
            )
        )
        found = Counter({status: int(count) for status, count in rows})
    engine.dispose()
    return found


def rows(db: str) -> list[Any]:
    engine = create_engine(normalise_url(db))
    with engine.connect() as conn:
        found = list(
            conn.execute(
                text(
                    "SELECT id, recipient_id, channel, status, last_error"
                    " FROM deliveries WHERE recipient_kind <> 'citizen'"
                )
            )
        )
    engine.dispose()
    return found


def test_notify_killed_mid_burst_sends_each_message_once(
    fresh_database, broker, tmp_path
) -> None:
    db = fresh_database("notify")
    migrate("notify", db)
    amqp = broker["AMQP_URI"]
    with (
        FakeLineApi(access_token="line-token") as line,
        FakeThaiBulkSms(api_key="sms-key", api_secret="sms-secret") as sms,
    ):
        # each send takes a while, so that some are in flight at the kill
        line.slow(0.05)
        sms.slow(0.05)
        first = notify_process("notify-1", tmp_path, db, amqp, line, sms)
        try:
            for number in range(AGENTS):
                on_line = number % 2 == 0
                contact = {
                    "phone": f"+6681{number:07d}",
                    "email": None,
                    "line_user_id": f"U{number:032x}" if on_line else None,
                }
                subdistrict = SUBDISTRICTS[number % len(SUBDISTRICTS)]
                area = {
                    "province_code": "TH-52",
                    "district_code": "5201",
                    "subdistrict_code": subdistrict,
                }
                publish_event(
                    amqp,
                    agent_event(
                        agent_id=f"agent-{number}", contact=contact, areas=[area]
                    ),
                )
            time.sleep(1)  # the agents are projected before the burst
            for number in range(CASES):
                subdistrict = SUBDISTRICTS[number % len(SUBDISTRICTS)]
                publish_event(
                    amqp,
                    case_received_event(location={"subdistrict_code": subdistrict}),
                )
            # each case's subdistrict has AGENTS / 3 agents
            planned = CASES * AGENTS // len(SUBDISTRICTS)
            try:
                wait_until(lambda: len(line.pushes) + len(sms.sent) >= planned // 4, 30)
            except AssertionError:
                raise AssertionError(f"{statuses(db)}\n{first.logs()}") from None
            first.kill()
        finally:
            first.kill()
        done_before = statuses(db)
        assert done_before["sent"] < planned, "the kill came too late to matter"
        second = notify_process("notify-2", tmp_path, db, amqp, line, sms)
        try:

            def settled() -> bool:
                found = statuses(db)
                return (
                    sum(found.values()) == planned
                    and found["pending"] + found["sending"] == 0
                )

            wait_until(settled, timeout=60)
        except Exception:
            raise AssertionError(second.logs()) from None
        finally:
            second.kill()
        final = rows(db)
    by_status = Counter(row.status for row in final)
    assert by_status["sent"] + by_status["interrupted"] == planned
    # LINE: every delivery sent, each shown once (the retry key)
    line_rows = [row for row in final if row.channel == "line"]
    assert {row.status for row in line_rows} == {"sent"}
    shown = Counter(push.retry_key for push in line.pushes)
    assert len(shown) == len(line_rows)
    # SMS: sent once, or recorded as interrupted — never twice
    sms_rows = [row for row in final if row.channel == "sms"]
    interrupted = [row for row in sms_rows if row.status == "interrupted"]
    assert all(row.last_error == "sender_lost" for row in interrupted)
    per_agent = Counter(row.recipient_id for row in sms_rows)
    sent_per_agent = Counter(
        row.recipient_id for row in sms_rows if row.status == "sent"
    )
    for number in range(1, AGENTS, 2):
        received = len(sms.messages_to(f"+6681{number:07d}"))
        agent = f"agent-{number}"
        assert sent_per_agent[agent] <= received <= per_agent[agent]
