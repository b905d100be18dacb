"""`make bench-notify`: deliveries per second through notify, to local
servers speaking LINE's and ThaiBulkSMS's protocols.

One run: a throwaway RabbitMQ vhost and a fresh database; notify started as
``nameko run`` (as in production, its sender inside); field agents projected
from ``agent_registered`` events (half on LINE, half on SMS only); then
``--cases`` cases published as intake publishes them, each heard by the
agents of its subdistrict. Printed: deliveries/s from the first case to the
last delivery sent, p50/p99 of event-to-sent, and — the baseline, in the
same run — the same number of messages sent straight through the channel
classes in this process (what the providers and the protocol cost without
notify's rows, claims and retries), then the ratio.

Provider rate limits are raised for the run (the real account limits would
be what is measured otherwise); everything started is stopped in ``finally``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parent))

from bench_intake import Broker, Databases, percentile, say, workspace

from labornet_notify.channels import LineChannel, Message, ThaiBulkSmsChannel
from labornet_shared.broker import declare_topology
from labornet_shared.db import normalise_url
from labornet_testkit.harness import (
    ChildProcess,
    free_port,
    migrate,
    publish_event,
    repo_root,
    wait_until,
)
from labornet_testkit.providers import FakeLineApi, FakeThaiBulkSms
from labornet_testkit.routing import agent_event, case_received_event

NAMEKO = str(Path(sys.executable).parent / "nameko")
SUBDISTRICTS = ("520101", "520102", "520103", "520104")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--db", default="sqlite", help="sqlite or postgresql://...")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300.0)
    # `make bench` gives every bench the same BENCH_ARGS: these two are the
    # other benches' and mean nothing here
    parser.add_argument("--clients", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quiet-wait", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def start_notify(
    tmp: Path, db: str, amqp_uri: str, line: Any, sms: Any, concurrency: int
) -> ChildProcess:
    port = free_port()
    env = dict(os.environ)
    env.update(
        LABORNET_ROOT=str(repo_root()),
        LABORNET_NOTIFY_DB=db,
        LABORNET_AMQP_URI=amqp_uri,
        LABORNET_NOTIFY_PORT=str(port),
        LABORNET_NOTIFY_LINE_ACCESS_TOKEN="line-token",
        LABORNET_NOTIFY_LINE_BASE_URL=line.url,
        LABORNET_NOTIFY_LINE_RATE_PER_SECOND="100000",
        LABORNET_NOTIFY_SMS_API_KEY="sms-key",
        LABORNET_NOTIFY_SMS_API_SECRET="sms-secret",
        LABORNET_NOTIFY_SMS_BASE_URL=sms.url,
        LABORNET_NOTIFY_SMS_RATE_PER_SECOND="100000",
        LABORNET_NOTIFY_SMS_QUIET_HOURS="",
        LABORNET_NOTIFY_DELIVERY_POLL_SECONDS="0.05",
        LABORNET_NOTIFY_DELIVERY_CONCURRENCY=str(concurrency),
        LABORNET_LOG_LEVEL="WARNING",
        PYTHONWARNINGS="ignore",
    )
    config = str(repo_root() / "services" / "notify" / "config.yml")
    process = ChildProcess(
        "notify",
        [NAMEKO, "run", "--config", config, "labornet_notify.service"],
        tmp,
        env,
    )
    import requests

    def ready() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).ok
        except requests.RequestException:
            return False

    wait_until(ready, timeout=60)
    return process


def start_contacts(tmp: Path, amqp_uri: str) -> ChildProcess:
    """intake's contact RPC, stood in for (tests/bench/intake_contacts_service)."""
    env = dict(os.environ)
    env.update(PYTHONPATH=str(Path(__file__).parent), PYTHONWARNINGS="ignore")
    process = ChildProcess(
        "intake-contacts",
        [NAMEKO, "run", "--broker", amqp_uri, "intake_contacts_service"],
        tmp,
        env,
    )
    time.sleep(2.0)  # its RPC queue is declared
    return process


def delivered(db: str) -> list[tuple[Any, Any]]:
    """(created_at, sent_at) of the agents' sent deliveries."""
    engine = create_engine(normalise_url(db))
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT created_at, sent_at FROM deliveries WHERE status = 'sent'")
        ).all()
    engine.dispose()
    return [(row[0], row[1]) for row in rows]


def _seconds(moment: Any) -> float:
    from datetime import UTC, datetime

    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return float(moment.timestamp())


def baseline(line: Any, sms: Any, count: int) -> float:
    """Messages/s sent straight through the channel classes, one process."""
    channels = [
        LineChannel(access_token="line-token", base_url=line.url),
        ThaiBulkSmsChannel(
            api_key="sms-key", api_secret="sms-secret", sender="MOL", base_url=sms.url
        ),
    ]
    started = time.perf_counter()
    for number in range(count):
        channel = channels[number % 2]
        to = f"U{number:032x}" if number % 2 == 0 else "+66812345678"
        result = channel.send(
            Message(
                to=to,
                text="มีเรื่องใหม่ในพื้นที่ LN-2569-00000001",
                idempotency_key=str(uuid.uuid4()),
            )
        )
        assert result.accepted, result
    return count / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # the services under measure run with config.yml's development secrets
    os.environ.setdefault("LABORNET_ALLOW_DEVELOPMENT_SECRETS", "true")
    amqp = os.environ.get("LABORNET_AMQP_URI", "amqp://guest:guest@localhost:5672/")
    management = os.environ.get(
        "LABORNET_RABBIT_MANAGEMENT_URL", "http://guest:guest@localhost:15672"
    )
    broker = Broker(amqp, management)
    with workspace() as tmp:
        databases = Databases(args.db, tmp)
        process = None
        contacts = None
        broker.create()
        try:
            declare_topology(broker.amqp_uri, management)
            db = databases.fresh("notify")
            migrate("notify", db)
            with (
                FakeLineApi(access_token="line-token") as line,
                FakeThaiBulkSms(api_key="sms-key", api_secret="sms-secret") as sms,
            ):
                contacts = start_contacts(tmp, broker.amqp_uri)
                process = start_notify(
                    tmp, db, broker.amqp_uri, line, sms, args.concurrency
                )
                for number in range(args.agents):
                    on_line = number % 2 == 0
                    area = {
                        "province_code": "TH-52",
                        "district_code": "5201",
                        "subdistrict_code": SUBDISTRICTS[number % len(SUBDISTRICTS)],
                    }
                    contact = {
                        "phone": f"+6681{number:07d}",
                        "email": None,
                        "line_user_id": f"U{number:032x}" if on_line else None,
                    }
                    publish_event(
                        broker.amqp_uri,
                        agent_event(
                            agent_id=f"agent-{number}", contact=contact, areas=[area]
                        ),
                    )
                time.sleep(1.0)
                # the agents of each case's subdistrict, and its citizen
                expected = args.cases * (args.agents // len(SUBDISTRICTS) + 1)
                started = time.time()
                for number in range(args.cases):
                    sub = SUBDISTRICTS[number % len(SUBDISTRICTS)]
                    publish_event(
                        broker.amqp_uri,
                        case_received_event(location={"subdistrict_code": sub}),
                    )
                wait_until(lambda: len(delivered(db)) >= expected, timeout=args.timeout)
                rows = delivered(db)
                finished = max(_seconds(sent) for _c, sent in rows)
                latency = sorted(_seconds(s) - _seconds(c) for c, s in rows)
                rate = len(rows) / (finished - started)
                base = baseline(line, sms, min(expected, 1000))
        finally:
            if process is not None:
                process.kill()
            if contacts is not None:
                contacts.kill()
            databases.drop_all()
            broker.delete()
    per_case = args.agents // len(SUBDISTRICTS)
    say(
        f"labornet bench: notify, {args.cases} cases x ({per_case} agents + the"
        f" citizen) = {expected} deliveries on LINE and SMS, {args.db}"
    )
    p50, p99 = percentile(latency, 50) * 1000, percentile(latency, 99) * 1000
    say(
        f"  notify     {rate:8.1f} deliveries/s"
        f"   row to sent: p50 {p50:.0f} ms, p99 {p99:.0f} ms"
    )
    say(f"  baseline   {base:8.1f} messages/s, one at a time through the channels")
    say(f"  ratio notify/baseline: {rate / base:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
