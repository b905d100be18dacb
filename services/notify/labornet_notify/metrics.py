"""notify's Prometheus metrics (served on ``/metrics`` with the others).

Labels carry kinds and reasons, never a case, a recipient or an address.
Counters count what happened; the deliveries by channel and status are read
from notify's database at scrape time (:class:`DeliveryCollector`).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from labornet_shared.metrics import DatabaseCollector, Source

#: a notice of the table (:mod:`labornet_notify.domain.audience`) that planned no
#: delivery for an event, and why; ``message`` is ``any`` for a reason that
#: concerns the whole event (nothing applies, or its case is not known yet
#: and the event is retried)
NOT_PLANNED = Counter(
    "labornet_notify_notices_not_planned_total",
    "Notices an event planned nobody for, by reason",
    ["event_type", "message", "reason"],
)

#: a delivery that may have reached its provider without an answer, on a
#: channel that cannot drop a repeat (SMS, e-mail): recorded ``interrupted``
#: and never sent again by itself — an operator decides
INTERRUPTED = Counter(
    "labornet_notify_deliveries_interrupted_total",
    "Deliveries that may have left and are not repeated, by channel and reason",
    ["channel", "reason"],
)

#: an attempt that failed before anything was handed to the provider (the
#: citizen's contact from intake, the broker, the database, the message):
#: nothing left, so it is simply tried again later
NOT_SENT = Counter(
    "labornet_notify_attempts_not_sent_total",
    "Attempts that failed before the provider call and are retried, by stage",
    ["stage"],
)


class DeliveryCollector(DatabaseCollector):
    """``labornet_notify_deliveries``: notify's deliveries by channel and
    status, counted from its database when Prometheus scrapes (every
    instance sees every row; a few dozen series at most)."""

    name = "deliveries"

    def families(self) -> dict[str, GaugeMetricFamily]:
        """The one gauge."""
        return {
            "deliveries": GaugeMetricFamily(
                "labornet_notify_deliveries",
                "Deliveries by channel and status (pending, sending, sent,"
                " failed, skipped, interrupted)",
                labels=["channel", "status"],
            )
        }

    def measure(
        self, conn: Connection, source: Source
    ) -> Iterable[tuple[str, tuple[str, ...], float]]:
        """One grouped count."""
        from labornet_notify.models import Delivery

        table = Delivery.__table__
        rows = conn.execute(
            select(table.c.channel, table.c.status, func.count()).group_by(
                table.c.channel, table.c.status
            )
        ).all()
        for channel, status, count in rows:
            yield "deliveries", (channel, status), float(count)


#: the one delivery collector of this process
DELIVERIES = DeliveryCollector()
