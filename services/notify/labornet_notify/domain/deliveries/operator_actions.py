"""What an operator sees of deliveries and does with them: a page of
deliveries, and sending a failed, skipped or interrupted one again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labornet_notify.domain.deliveries.sending import INTERRUPTED
from labornet_notify.models import Delivery
from labornet_shared.clock import Clock, utc_now


def list_deliveries(
    session: Session, filters: dict[str, Any], limit: int, after_id: str | None
) -> tuple[list[Delivery], str | None]:
    """A page of deliveries, oldest first."""
    query = select(Delivery).order_by(Delivery.id)
    for name, column in (
        ("reference", Delivery.case_reference),
        ("recipient", Delivery.recipient_id),
        ("channel", Delivery.channel),
        ("status", Delivery.status),
    ):
        if filters.get(name):
            query = query.where(column == filters[name])
    if after_id is not None:
        query = query.where(Delivery.id > after_id)
    rows = list(session.scalars(query.limit(limit + 1)))
    next_id = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_id


def retry_now(
    session: Session, delivery_id: str, window: timedelta, clock: Clock = utc_now
) -> Delivery | None:
    """An operator sends a failed, skipped or interrupted delivery again (a
    new window); an interrupted one may then reach its recipient twice."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    if delivery.status not in ("failed", "skipped", INTERRUPTED):
        raise ValueError(delivery.status)
    now = clock()
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.give_up_at = now + window
    delivery.last_error = None
    delivery.updated_at = now
    return delivery
