"""The benchmark's baseline: the naive dual write, as small as nameko allows.

``POST /v1/cases`` inserts one row with SQLAlchemy, commits, then dispatches
``case_received`` with nameko's own ``EventDispatcher`` (publisher confirms on,
nameko's default) and answers 201. Nothing else: no validation beyond JSON, no
outbox, no rate limit, no metrics. A broker outage between the commit and the
dispatch loses the event — this is the design intake's outbox replaces, and
the figure intake's throughput is compared with.

Run by ``tests/bench/bench_intake.py`` as
``nameko run --config CONFIG baseline_service`` (this directory on the path);
the config holds ``AMQP_URI``, ``WEB_SERVER_ADDRESS``, ``max_workers`` and
``DATABASE_URL``. The engine is labornet's own (same SQLite pragmas and pool,
psycopg2 made green on PostgreSQL), so the two services differ only in what
they do per request.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from nameko.events import EventDispatcher
from nameko.extensions import DependencyProvider
from nameko.web.handlers import http
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
)
from sqlalchemy.engine import Engine
from werkzeug.wrappers import Request

from labornet_shared.db import make_engine

SERVICE_NAME = "bench_baseline"
EVENTS_EXCHANGE = f"{SERVICE_NAME}.events"

metadata = MetaData()
baseline_cases = Table(
    "bench_baseline_cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("description", Text, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("province_code", String(5), nullable=False),
    Column("subdistrict_code", String(6)),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class EngineProvider(DependencyProvider):
    """The SQLAlchemy engine of ``DATABASE_URL``; creates the one table."""

    def setup(self) -> None:
        config = self.container.config
        self.engine = make_engine(
            str(config["DATABASE_URL"]), int(config.get("DATABASE_POOL_SIZE", 10))
        )
        metadata.create_all(self.engine)

    def stop(self) -> None:
        self.engine.dispose()

    def get_dependency(self, worker_ctx: Any) -> Engine:
        return self.engine


class BaselineService:
    """Insert, commit, dispatch with confirms, answer."""

    name = SERVICE_NAME

    engine = EngineProvider()
    dispatch = EventDispatcher()

    @http("POST", "/v1/cases")
    def submit_case(self, request: Request) -> Any:
        try:
            body = json.loads(request.get_data())
            location = body["location"]
            row = {
                "description": str(body["description"]),
                "channel": str(body["channel"]),
                "province_code": str(location["province_code"]),
                "subdistrict_code": location.get("subdistrict_code"),
            }
        except (ValueError, KeyError, TypeError):
            return 400, '{"code": "invalid"}'
        with self.engine.begin() as conn:
            case_id = conn.execute(
                insert(baseline_cases).values(
                    body=json.dumps(body, ensure_ascii=False),
                    created_at=datetime.now(UTC),
                    **row,
                )
            ).inserted_primary_key[0]
        # committed: now the dual write's second half, confirmed by the broker
        reference = f"BL-{case_id:08d}"
        self.dispatch(
            "case_received",
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "case_received",
                "schema_version": 1,
                "occurred_at": datetime.now(UTC).isoformat(),
                "correlation_id": reference,
                "payload": {"reference": reference, **row},
            },
        )
        return 201, json.dumps({"reference": reference, "status": "received"})

    @http("GET", "/healthz")
    def healthz(self, request: Request) -> Any:
        return 200, '{"status": "ok"}'
