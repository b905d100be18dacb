"""The transactional outbox and its relay.

A producer never publishes inside a request. It writes the event into the
``outbox_messages`` table in the same transaction as the state change
(:func:`add_event`); the relay reads unsent rows in order, publishes them
persistent to the service's nameko exchange (``<service>.events``, routing
key = event type) with publisher confirms, and marks them sent only once the
broker has confirmed them. A broker outage delays events, never loses them; a
crash between confirm and mark re-sends a few, which idempotent consumers
absorb.

The relay runs inside each service process (:class:`OutboxRelay`, woken on
commit and polling as a fallback) or alone (``labornet relay SERVICE``).
Several relays may share one outbox (service instances, ``labornet registry
import``), on SQLite as on PostgreSQL: a lease row (:mod:`labornet_shared.lease`)
lets exactly one publish at a time, so no event leaves twice and the events
of a case leave in the order they were written.

A row the broker refuses every time (an exchange that cannot exist, a body
it will not take) is not left to stall the rows behind it: after
``max_failures`` refusals it is parked (``parked_at``), an alert is logged,
and the relay goes on; ``labornet outbox list|retry SERVICE`` shows it and
sends it again.

The write side and the transport are apart: :mod:`.table` (the table and
:func:`add_event`, what domain code imports: SQLAlchemy only),
:mod:`.publisher` (AMQP with confirms), :mod:`.relay` (the relay and its
loop) and :mod:`.extension` (the nameko extension). Importing this package
loads only the table; the transport's names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from labornet_shared.outbox.table import (
    OUTBOX_TABLE,
    add_event,
    add_events,
    bind_outbox,
    events_exchange,
    outbox_table,
)

if TYPE_CHECKING:
    from labornet_shared.outbox.extension import OutboxRelay
    from labornet_shared.outbox.publisher import BatchRefused, ConfirmingPublisher
    from labornet_shared.outbox.relay import (
        PARKED,
        PARKED_CHECK_SECONDS,
        PARKED_TOTAL,
        Published,
        Relay,
        RelayLoop,
        publish_all,
        relay_settings,
    )

# the transport's names and their modules: imported when first asked for, so
# that a domain module's ``add_event`` does not bring in kombu and nameko
_TRANSPORT = {
    "BatchRefused": "publisher",
    "ConfirmingPublisher": "publisher",
    "PARKED": "relay",
    "PARKED_CHECK_SECONDS": "relay",
    "PARKED_TOTAL": "relay",
    "Published": "relay",
    "Relay": "relay",
    "RelayLoop": "relay",
    "publish_all": "relay",
    "relay_settings": "relay",
    "OutboxRelay": "extension",
}

__all__ = [
    "OUTBOX_TABLE",
    "PARKED",
    "PARKED_CHECK_SECONDS",
    "PARKED_TOTAL",
    "BatchRefused",
    "ConfirmingPublisher",
    "OutboxRelay",
    "Published",
    "Relay",
    "RelayLoop",
    "add_event",
    "add_events",
    "bind_outbox",
    "events_exchange",
    "outbox_table",
    "publish_all",
    "relay_settings",
]


def __getattr__(name: str) -> Any:
    module = _TRANSPORT.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once found, an ordinary attribute
    return value
