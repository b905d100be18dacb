"""With ``--keep``: what the reconciliation read, written next to the
services' logs, so a failed row can be traced to notify's delivery rows and
to what the fake providers took (the PostgreSQL databases are dropped at
the end of the run; the fakes live only in the suite's process).

- ``deliveries.jsonl``: notify's delivery rows (no message text, no address);
- ``sms.jsonl``: each SMS the fake gateway took (msisdn, text, message id);
- ``line.jsonl``: each LINE push (to, retry key = notify's delivery id).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from labornet_shared.db import normalise_url

from .stack import Stack

DELIVERY_COLUMNS = (
    "id, event_id, event_type, case_reference, recipient_kind, recipient_id,"
    " channel, sent_channel, message, status, attempts, last_error,"
    " provider_response, provider_message_id, lease_until, next_attempt_at,"
    " created_at, updated_at, sent_at"
)


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w") as out:
        for row in rows:
            out.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")


def dump(stack: Stack, directory: Path) -> None:
    """Write the three files into ``directory``."""
    engine = create_engine(normalise_url(stack.urls["notify"]))
    try:
        with engine.connect() as conn:
            result = conn.execute(text(f"SELECT {DELIVERY_COLUMNS} FROM deliveries"))
            rows = [dict(row._mapping) for row in result]
    finally:
        engine.dispose()
    _write(directory / "deliveries.jsonl", rows)
    _write(
        directory / "sms.jsonl",
        [
            {"msisdn": s.msisdn, "message": s.message, "message_id": s.message_id}
            for s in stack.sms.sent
        ],
    )
    _write(
        directory / "line.jsonl",
        [
            {"to": p.to, "retry_key": p.retry_key, "messages": p.messages}
            for p in stack.line.pushes
        ],
    )
