"""`make bench-announcements`: an announcement to every field agent
(8,879, registry's whole roster by default), planned and sent by notify.

One run: a throwaway RabbitMQ vhost and a fresh database (SQLite by
default); ``--agents`` agents projected straight into notify's tables as its
``agent_registered`` handler projects them (a third on LINE, the rest on SMS
only, spread over 77 provinces), then notify started as ``nameko run`` (its
sender inside) and one announcement to all of them taken in. Printed: the
seconds planning took (the sender writes the deliveries in batches, sending
between them), the seconds until every delivery was sent through the local
LINE and ThaiBulkSMS servers, and the longest single planning batch (how long
one transaction held the database).

Provider rate limits are raised for the run; everything started is stopped
in ``finally``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))

from bench_intake import Broker, Databases, say, workspace
from bench_notify import start_notify

from labornet_notify.domain import announcements, deliveries
from labornet_notify.models import Announcement, Delivery
from labornet_shared.broker import declare_topology
from labornet_shared.db import normalise_url
from labornet_shared.reference.geography.provinces import provinces
from labornet_testkit.harness import migrate, wait_until
from labornet_testkit.providers import FakeLineApi, FakeThaiBulkSms
from labornet_testkit.routing import agent_event


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=8879)
    parser.add_argument("--db", default="sqlite", help="sqlite or postgresql://...")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--clients", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quiet-wait", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def project_agents(db: str, count: int) -> None:
    """``count`` active agents, as notify's handler projects them."""
    codes = [p.iso_code for p in provinces()]
    engine = create_engine(normalise_url(db))
    with Session(engine) as session, session.begin():
        for number in range(count):
            contact = {
                "phone": f"+6681{number:07d}",
                "email": None,
                "line_user_id": f"U{number:032x}" if number % 3 == 0 else None,
            }
            area = {
                "province_code": codes[number % len(codes)],
                "district_code": None,
                "subdistrict_code": None,
            }
            deliveries.apply_agent(
                session,
                agent_event(
                    agent_id=f"agent-{number:05d}",
                    contact=contact,
                    areas=[area],
                    languages=[("th", "en", "my")[number % 3]],
                ),
            )
    engine.dispose()


def announce(db: str) -> str:
    """One announcement to every agent (the sender plans it)."""
    engine = create_engine(normalise_url(db))
    with Session(engine) as session, session.begin():
        created = announcements.create(
            session,
            {
                "text_th": "ขอเชิญอาสาสมัครแรงงานทุกท่านร่วมประชุมออนไลน์ วันจันทร์ 9.00 น.",
                "text_en": "All labour volunteers: online meeting Monday 9:00.",
                "target": {"all": True},
            },
            created_by="bench",
            idempotency_key=None,
        )
        announcement_id = created.announcement.id
    engine.dispose()
    return announcement_id


def state(db: str, announcement_id: str) -> tuple[str, int, float | None]:
    """(status, deliveries sent, planned_at as epoch seconds)."""
    engine = create_engine(normalise_url(db))
    with Session(engine) as session:
        row = session.get(Announcement, announcement_id)
        assert row is not None
        sent = session.scalar(
            select(func.count()).where(
                Delivery.event_id == announcement_id, Delivery.status == "sent"
            )
        )
        planned_at = row.planned_at.timestamp() if row.planned_at else None
        status = row.status
    engine.dispose()
    return status, int(sent or 0), planned_at


def longest_batch(db: str) -> float:
    """Seconds one planning batch (one transaction) takes, the longest of
    second announcement to the same agents planned in this process (no
    sender)."""
    engine = create_engine(normalise_url(db))
    announcement_id = announce(db)
    longest = 0.0
    more = True
    while more:
        started = time.perf_counter()
        with Session(engine) as session, session.begin():
            more = announcements.plan_batch(
                session, announcement_id, retry_window=timedelta(hours=24)
            )
        longest = max(longest, time.perf_counter() - started)
    engine.dispose()
    return longest


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("LABORNET_ALLOW_DEVELOPMENT_SECRETS", "true")
    amqp = os.environ.get("LABORNET_AMQP_URI", "amqp://guest:guest@localhost:5672/")
    management = os.environ.get(
        "LABORNET_RABBIT_MANAGEMENT_URL", "http://guest:guest@localhost:15672"
    )
    broker = Broker(amqp, management)
    with workspace() as tmp:
        databases = Databases(args.db, tmp)
        process = None
        broker.create()
        try:
            declare_topology(broker.amqp_uri, management)
            db = databases.fresh("notify")
            migrate("notify", db)
            project_agents(db, args.agents)
            with (
                FakeLineApi(access_token="line-token") as line,
                FakeThaiBulkSms(api_key="sms-key", api_secret="sms-secret") as sms,
            ):
                process = start_notify(
                    tmp, db, broker.amqp_uri, line, sms, args.concurrency
                )
                started = time.time()
                announcement_id = announce(db)
                wait_until(
                    lambda: state(db, announcement_id)[1] >= args.agents,
                    timeout=args.timeout,
                )
                drained = time.time() - started
                _status, sent, planned_at = state(db, announcement_id)
                planning = (planned_at or started) - started
                process.kill()
                process = None
                batch = longest_batch(db)
        finally:
            if process is not None:
                process.kill()
            databases.drop_all()
            broker.delete()
    say(
        f"labornet bench: one announcement to {args.agents} field agents "
        f"(a third on LINE, the rest SMS), {args.db}"
    )
    say(
        f"  planning   {planning:8.2f} s   (the sender, in batches of "
        f"{announcements.BATCH}, sending between them)"
    )
    say(f"  drained    {drained:8.2f} s   {sent} sent, {sent / drained:.0f}/s")
    say(f"  longest planning batch (one transaction): {batch * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
