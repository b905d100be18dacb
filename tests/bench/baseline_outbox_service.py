"""The benchmark's baseline with labornet's outbox instead of the dual write.

``baseline_service`` exactly — ``POST /v1/cases`` parses the JSON and inserts
one row — except that ``case_received`` is written to the outbox in the same
transaction (``labornet_shared.outbox.add_event``) and published by the
relay (``OutboxRelay``, inline, woken on commit), as intake does. Beside the
baseline it answers the issue's question with nothing else changed: what does
the outbox itself cost or save, per case, compared with dispatching each
event with confirms inside the request?

Run by ``tests/bench/bench_intake.py`` (target ``baseline-outbox``) as
``nameko run --config CONFIG baseline_outbox_service``, with the baseline's
config and the relay's settings (``OUTBOX_LINGER_SECONDS``, as intake's).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from baseline_service import SERVICE_NAME, baseline_cases, metadata
from nameko.extensions import DependencyProvider
from nameko.web.handlers import http
from sqlalchemy import insert
from werkzeug.wrappers import Request

from labornet_shared.db import Database, UnitOfWork, make_engine
from labornet_shared.events import Event
from labornet_shared.ids import new_time_ordered_id
from labornet_shared.outbox import OutboxRelay, add_event, outbox_table

outbox_table(metadata)


class Tables(DependencyProvider):
    """Creates the case table and the outbox before the first request."""

    def setup(self) -> None:
        engine = make_engine(str(self.container.config["DATABASE_URL"]), 1)
        metadata.create_all(engine)
        engine.dispose()


class BaselineOutboxService:
    """Insert the row and its event in one transaction, commit, answer."""

    name = SERVICE_NAME

    tables = Tables()
    db: UnitOfWork = Database(metadata)  # type: ignore[assignment]
    relay = OutboxRelay(database_attr="db")

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
        session = self.db.session
        now = datetime.now(UTC)
        case_id = session.execute(
            insert(baseline_cases).values(
                body=json.dumps(body, ensure_ascii=False), created_at=now, **row
            )
        ).inserted_primary_key[0]
        reference = f"BL-{case_id:08d}"
        add_event(
            session,
            SERVICE_NAME,
            Event(
                event_id=new_time_ordered_id(),
                event_type="case_received",
                schema_version=1,
                occurred_at=now,
                correlation_id=reference,
                payload={"reference": reference, **row},
            ),
        )
        # commit (and wake the relay) before the 201, as the baseline does
        if self.db.finish(None) is not None:
            return 500, '{"code": "commit_failed"}'
        return 201, json.dumps({"reference": reference, "status": "received"})

    @http("GET", "/healthz")
    def healthz(self, request: Request) -> Any:
        return 200, '{"status": "ok"}'
