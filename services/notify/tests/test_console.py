"""The console channel (``make run``): with no provider set up, every message
is recorded in notify's database as it would have left — the citizen's Thai
SMS fitted to its parts, the field agent's LINE text, an SMS held by quiet
hours with the time it will go — and shown by ``labornet messages tail`` and
notify's ``GET /console`` page; none of it reaches a log.

intake and notify run as nameko containers on one vhost (notify asks intake
for the citizen's contact at send time, as it does in production); nothing
stands in for a provider but notify's own console channel.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from labornet_notify.channels import ConsoleLog, Message, mask_webhook_url
from labornet_notify.models import ConsoleMessage
from labornet_shared.db import normalise_url
from labornet_shared.ops.cli import app as labornet
from labornet_shared.reference.phone import mask_phone, normalize_phone
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import (
    capture_logs,
    case_payload,
    publish_event,
    wait_until,
)
from labornet_testkit.providers import WebhookReceiver
from labornet_testkit.routing import (
    agent_event,
    case_received_event,
    referral_issued_event,
)

BANGKOK = ZoneInfo("Asia/Bangkok")
LINE_ID = "U" + "c0" * 16
AREA = {"province_code": "TH-52", "district_code": "5201", "subdistrict_code": "520105"}


def console_rows(config: dict[str, Any]) -> list[ConsoleMessage]:
    engine = create_engine(normalise_url(config["DATABASE_URL"]))
    try:
        with Session(engine) as session:
            return list(session.scalars(select(ConsoleMessage).order_by("id")))
    finally:
        engine.dispose()


def bearer(config: dict[str, Any], scope: str, **claims: Any) -> dict[str, str]:
    token = issue_token(config["TOKEN_SECRET"], scope, **claims)
    return {"Authorization": f"Bearer {token}"}


def tail(config: dict[str, Any], *args: str) -> str:
    """``labornet messages tail ARGS`` against this test's notify database,
    found through notify's config as on an operator's machine."""
    result = CliRunner().invoke(
        labornet,
        ["messages", "tail", *args],
        env={"LABORNET_NOTIFY_DB": str(config["DATABASE_URL"])},
    )
    assert result.exit_code == 0, result.output
    return str(result.output)


def registered(config: dict[str, Any], agent_id: str) -> None:
    engine = create_engine(normalise_url(config["DATABASE_URL"]))
    from sqlalchemy import text

    def projected() -> bool:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM agent_contacts WHERE id = :id")
            return bool(conn.execute(query, {"id": agent_id}).scalar())

    wait_until(projected, timeout=15)
    engine.dispose()


def test_make_run_shows_what_the_citizen_and_the_agent_would_get(
    start_intake, start_notify, notify_config, broker
) -> None:
    with capture_logs("notify") as logs:
        intake = start_intake()
        notify = start_notify(
            CONSOLE_CHANNEL=True,
            SMS_QUIET_HOURS="",
            DELIVERY_POLL_SECONDS=0.1,
        )
        publish_event(
            broker["AMQP_URI"],
            agent_event(
                agent_id="agent-line",
                areas=[AREA],
                contact={"phone": None, "email": None, "line_user_id": LINE_ID},
            ),
        )
        registered(notify_config, "agent-line")
        body = case_payload(random.Random(11))
        body["location"] = {"province_code": "TH-52", "subdistrict_code": "520105"}
        body["citizen"].update(contact_channel="sms", language="th")
        phone = normalize_phone(body["citizen"]["phone"])
        created = intake.post("/v1/cases", json=body)
        assert created.status_code == 201, created.text
        reference = created.json()["reference"]
        code = created.json()["tracking_code"]

        def both() -> list[ConsoleMessage]:
            rows = [r for r in console_rows(notify_config) if r.status == "sent"]
            return rows if {r.channel for r in rows} >= {"sms", "line"} else []

        rows = wait_until(both, timeout=30)
        # the deliveries went through as with a provider: sent, by the console
        listed = notify.get(
            "/v1/deliveries",
            params={"reference": reference},
            headers=bearer(notify_config, "operator", name="ops"),
        ).json()["deliveries"]
        assert {
            (d["recipient_kind"], d["sent_channel"], d["status"]) for d in listed
        } >= {
            ("citizen", "sms", "sent"),
            ("area_agents", "line", "sent"),
        }
        assert all(
            d["provider_response"] == "console: shown, not sent"
            for d in listed
            if d["status"] == "sent"
        )

    (sms,) = [r for r in rows if r.channel == "sms"]
    (line,) = [r for r in rows if r.channel == "line"]
    # the citizen's receipt, in Thai, with its reference and tracking code,
    # fitted to SMS parts; the number masked as the deliveries keep it
    assert sms.text.startswith("กระทรวงแรงงานได้รับเรื่องของท่านแล้ว")
    assert reference in sms.text and code in sms.text
    assert (sms.recipient_kind, sms.language, sms.message) == (
        "citizen",
        "th",
        "case_received",
    )
    assert sms.case_reference == reference
    assert sms.recipient_masked == mask_phone(phone)
    assert sms.segments is not None and sms.segments >= 2  # Thai: 70 a part
    # the area's field agent on LINE: the case, the agent's own case link
    assert reference in line.text and "/a/" in line.text
    assert (line.recipient_kind, line.message) == ("area_agents", "new_case_in_area")
    assert line.recipient_masked == "U…c0c0"
    assert line.segments is None

    # `labornet messages tail`: both, newest last, the Thai text as written
    shown = tail(notify_config, "-n", "10")
    assert sms.text.splitlines()[0] in shown
    assert line.text.splitlines()[0] in shown
    assert f"SMS → {mask_phone(phone)} (citizen)" in shown
    assert "LINE → U…c0c0 (area_agents)" in shown
    assert phone not in shown and LINE_ID not in shown
    older, newer = sorted((sms, line), key=lambda row: row.id)
    assert shown.index(f"delivery {older.delivery_id}") < shown.index(
        f"delivery {newer.delivery_id}"
    )
    only_line = tail(notify_config, "--channel", "line")
    assert "LINE →" in only_line and "SMS →" not in only_line
    assert "no message" in tail(notify_config, "--case", "LN-2500-00000001")

    # the page: an operator sees the texts; another token sees nothing there
    page = notify.get("/console", headers=bearer(notify_config, "operator", name="o"))
    assert page.status_code == 200, page.text
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "<script" not in page.text
    assert sms.text.splitlines()[0] in page.text and code in page.text
    assert f'id="m{line.id}"' in page.text
    only_sms = notify.get(
        "/console",
        params={"channel": "sms", "case": reference},
        headers=bearer(notify_config, "operator", name="o"),
    )
    assert f'id="m{sms.id}"' in only_sms.text
    assert f'id="m{line.id}"' not in only_sms.text
    agent = bearer(notify_config, "agent", agent_id="agent-line")
    refused = notify.get("/console", headers=agent)
    assert refused.status_code == 404 and code not in refused.text
    # a browser on this machine while the console is on: yes; the same
    # request through a proxy (from elsewhere): a token is needed
    assert notify.get("/console").status_code == 200
    proxied = notify.get("/console", headers={"X-Forwarded-For": "203.0.113.7"})
    assert proxied.status_code == 401 and code not in proxied.text
    bad = notify.get(
        "/console",
        params={"channel": "fax"},
        headers=bearer(notify_config, "operator", name="o"),
    )
    assert bad.status_code == 400 and "channel" in bad.text

    # nothing of the messages reached a log: no text, code, number, LINE id
    # (nameko.rpc's DEBUG lines carry intake's reply whole: config.yml keeps
    # that logger at INFO, as every deployment runs it)
    logged = "\n".join(
        raw + json
        for name, raw, json in logs.records
        if not (name == "nameko.rpc" and '"level": "debug"' in json)
    )
    assert logged, "nothing captured: the check below would prove nothing"
    for secret in (code, phone, phone[3:], LINE_ID, sms.text[:30], line.text[:30]):
        assert secret not in logged
    for api in (intake, notify):
        api.close()


def quiet_now() -> tuple[str, datetime]:
    """Quiet hours around now (Bangkok), and the moment they end (UTC)."""
    now = datetime.now(UTC).astimezone(BANGKOK).replace(second=0, microsecond=0)
    begin, end = now - timedelta(hours=1), now + timedelta(hours=2)
    return f"{begin:%H:%M}-{end:%H:%M}", end.astimezone(UTC)


def test_an_sms_in_quiet_hours_shows_as_held_until_the_morning(
    start_notify, notify_config, broker
) -> None:
    hours, end = quiet_now()
    notify = start_notify(
        CONSOLE_CHANNEL=True, SMS_QUIET_HOURS=hours, DELIVERY_POLL_SECONDS=0.1
    )
    publish_event(
        broker["AMQP_URI"],
        agent_event(
            agent_id="agent-sms",
            areas=[AREA],
            contact={"phone": "+66812345678", "email": None, "line_user_id": None},
        ),
    )
    registered(notify_config, "agent-sms")
    case = case_received_event(location={"subdistrict_code": "520105"})
    publish_event(broker["AMQP_URI"], case)

    (held,) = wait_until(
        lambda: [
            r for r in console_rows(notify_config) if r.recipient_kind == "area_agents"
        ],
        timeout=20,
    )
    assert held.status == "held" and held.channel == "sms"
    until = held.held_until
    assert until is not None
    assert until.replace(tzinfo=until.tzinfo or UTC) == end
    assert case.payload["reference"] in held.text  # the text that will leave
    assert held.recipient_masked == "+66 8x xxx 5678"
    # the delivery waits for that time, not sent, no try counted
    listed = notify.get(
        "/v1/deliveries",
        params={"recipient": "agent-sms"},
        headers=bearer(notify_config, "operator", name="ops"),
    ).json()["deliveries"]
    (row,) = listed
    assert (row["status"], row["attempts"]) == ("pending", 0)
    # (now + the seconds until then: a few microseconds of float rounding)
    next_attempt = datetime.fromisoformat(row["next_attempt_at"])
    assert abs(next_attempt - end) < timedelta(seconds=1)
    # held once: the sender, looking every 0.1 s, leaves it until then
    time.sleep(1)
    shown = tail(notify_config)
    assert f"HELD until {end.astimezone(BANGKOK):%H:%M} (quiet hours)" in shown
    page = notify.get("/console", headers=bearer(notify_config, "operator", name="o"))
    assert f"held until {end.astimezone(BANGKOK):%H:%M}" in page.text
    assert len(console_rows(notify_config)) == 1
    notify.close()


def test_the_console_is_off_unless_make_run_turns_it_on(
    notify_api, notify_config
) -> None:
    assert notify_config["CONSOLE_CHANNEL"] in (False, "false")
    # nothing to see, and no page for a browser without a token
    assert notify_api.get("/console").status_code == 401
    page = notify_api.get(
        "/console", headers=bearer(notify_config, "operator", name="o")
    )
    assert page.status_code == 200
    assert "console channel is off" in page.text


@pytest.fixture
def engine(session: Session) -> Any:
    return session.get_bind()


def test_the_table_keeps_only_the_newest_messages(engine) -> None:
    console = ConsoleLog(keep=3)
    console.bind(engine)
    for number in range(5):
        console.record(
            Message(to="+66812345678", text=f"ข้อความ {number}", idempotency_key="d"),
            channel="sms",
            recipient_masked="+66 8x xxx 5678",
            text=f"ข้อความ {number}",
            status="sent",
        )
    with Session(engine) as session:
        kept = session.scalars(select(ConsoleMessage.text).order_by("id")).all()
    assert kept == ["ข้อความ 2", "ข้อความ 3", "ข้อความ 4"]


def test_webhooks_still_reach_the_agency_and_show_on_the_console(
    start_notify, notify_config, broker
) -> None:
    # an agency system a developer runs on 127.0.0.1: the console does not
    # take its place, it records what went there and what it answered
    notify = start_notify(CONSOLE_CHANNEL=True, DELIVERY_POLL_SECONDS=0.1)
    operator = bearer(notify_config, "operator", name="ops")
    with WebhookReceiver([]) as receiver:
        receiver.fail_next(1, status=503)
        created = notify.post(
            "/v1/subscriptions",
            json={"url": receiver.url, "agency": "sso", "provinces": ["TH-52"]},
            headers=operator,
        ).json()
        receiver.set_secrets([created["secret"]])
        issued = referral_issued_event()
        publish_event(broker["AMQP_URI"], issued)
        wait_until(lambda: receiver.received, timeout=20)
        rows = wait_until(
            lambda: [r for r in console_rows(notify_config) if r.status == "sent"],
            timeout=5,
        )
    (retried,) = [r for r in console_rows(notify_config) if r.status == "retry"]
    assert retried.note and retried.note.startswith("503")
    (sent,) = rows
    assert (sent.channel, sent.recipient_kind) == ("webhook", "agency_webhooks")
    assert sent.recipient_masked == mask_webhook_url(receiver.url)
    referral_id = issued.payload["referral"]["referral_id"]
    assert referral_id in sent.text  # the body as it left, signed
    (hook,) = receiver.received
    assert hook.msg_id == sent.delivery_id
    notify.close()
