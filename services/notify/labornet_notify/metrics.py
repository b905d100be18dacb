"""notify's Prometheus metrics (served on ``/metrics`` with the others).

Labels carry kinds and reasons, never a case, a recipient or an address.
"""

from __future__ import annotations

from prometheus_client import Counter

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
