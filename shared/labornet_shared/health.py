"""Readiness: is the database answering, the broker reachable, the relay
publishing? Cached briefly so probes do not hammer the broker."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from labornet_shared.broker import BrokerUnavailable, check_broker

_cache: dict[str, tuple[float, bool]] = {}


def database_ready(engine: Engine) -> bool:
    """Whether a trivial query succeeds."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def broker_ready(amqp_uri: str, ttl: float = 2.0) -> bool:
    """Whether RabbitMQ accepts a connection (cached ``ttl`` seconds)."""
    cached = _cache.get(amqp_uri)
    now = time.monotonic()
    if cached and now - cached[0] < ttl:
        return cached[1]
    try:
        check_broker(amqp_uri, timeout=2.0)
        ok = True
    except BrokerUnavailable:
        ok = False
    _cache[amqp_uri] = (now, ok)
    return ok


def readiness(engine: Engine, amqp_uri: str, relay: Any = None) -> dict[str, Any]:
    """The checks, by name, and whether all passed."""
    checks = {
        "database": database_ready(engine),
        "broker": broker_ready(amqp_uri),
    }
    if relay is not None:
        checks["outbox_relay"] = bool(relay.healthy)
    return {"ready": all(checks.values()), "checks": checks}
