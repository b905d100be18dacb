"""Agencies' webhook subscriptions: their rules and state changes.

Plain Python over a SQLAlchemy session. A subscription's secret (``whsec_``)
is generated here and shown once, when it is created or rotated; during a
rotation the previous secret keeps signing until it expires, so the agency
can switch without losing a message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labornet_notify.models import WebhookSubscription
from labornet_notify.webhook_signatures import generate_webhook_secret
from labornet_notify.webhook_urls import UnsafeUrl, check_webhook_url
from labornet_shared.clock import Clock, aware, utc_now
from labornet_shared.ids import new_time_ordered_id
from labornet_shared.problems import FieldError
from labornet_shared.tokens import Principal

log = logging.getLogger("labornet.notify")


class SubscriptionNotFound(LookupError):
    """No such webhook subscription."""


class SubscriptionInvalid(ValueError):
    """The subscription breaks a rule; one entry per field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(",".join(f"{e.field}:{e.code}" for e in errors))
        self.errors = errors


def create_subscription(
    session: Session,
    principal: Principal,
    *,
    url: str,
    agency: str,
    provinces: Sequence[str],
    event_types: Sequence[str],
    allow_local: bool,
    clock: Clock = utc_now,
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its secret (the only time it is shown).

    Raises:
        SubscriptionInvalid: the URL is not https or not a public address
            (``allow_local`` lets ``http://127.0.0.1`` through, for development).
    """
    try:
        check_webhook_url(url, allow_insecure_local=allow_local)
    except UnsafeUrl as exc:
        raise SubscriptionInvalid([FieldError("url", "unsafe_url")]) from exc
    secret = generate_webhook_secret()
    subscription = WebhookSubscription(
        id=new_time_ordered_id(),
        url=url,
        agency=agency,
        provinces=sorted(set(provinces)),
        event_types=sorted(set(event_types)),
        secret=secret,
        status="active",
        created_by=principal.subject,
        created_at=clock(),
    )
    session.add(subscription)
    session.flush()
    return subscription, secret


def subscription(session: Session, subscription_id: str) -> WebhookSubscription:
    """One subscription, or :class:`SubscriptionNotFound`."""
    found = session.get(WebhookSubscription, subscription_id)
    if found is None:
        raise SubscriptionNotFound(subscription_id)
    return found


def list_subscriptions(
    session: Session, agency: str | None = None
) -> list[WebhookSubscription]:
    """Every subscription (of one agency), oldest first."""
    query = select(WebhookSubscription).order_by(WebhookSubscription.id)
    if agency is not None:
        query = query.where(WebhookSubscription.agency == agency)
    return list(session.scalars(query))


def rotate_secret(
    session: Session,
    subscription_id: str,
    overlap: timedelta,
    clock: Clock = utc_now,
) -> tuple[WebhookSubscription, str]:
    """A new secret; the old one keeps signing for ``overlap``."""
    found = subscription(session, subscription_id)
    new_secret = generate_webhook_secret()
    found.previous_secret = found.secret
    found.previous_secret_expires_at = clock() + overlap
    found.secret = new_secret
    return found, new_secret


def signing_secrets(found: WebhookSubscription, now: datetime) -> list[str]:
    """The secrets that sign a message now: the current one, and the previous
    one while its rotation overlap lasts."""
    secrets = [found.secret]
    expires = aware(found.previous_secret_expires_at)
    if found.previous_secret and expires is not None and expires > now:
        secrets.append(found.previous_secret)
    return secrets


def set_status(
    session: Session, subscription_id: str, status: str, reason: str | None = None
) -> WebhookSubscription:
    """Pause or resume a subscription (resuming forgets past failures)."""
    found = subscription(session, subscription_id)
    found.status = status
    found.paused_reason = reason if status == "paused" else None
    if status == "active":
        found.failing_since = None
    return found


def subscription_view(found: WebhookSubscription) -> dict[str, Any]:
    """A subscription as answered: never its secrets."""
    return {
        "id": found.id,
        "url": found.url,
        "agency": found.agency,
        "provinces": list(found.provinces),
        "event_types": list(found.event_types),
        "status": found.status,
        "paused_reason": found.paused_reason,
        "failing_since": aware(found.failing_since),
        "rotating_until": aware(found.previous_secret_expires_at)
        if found.previous_secret
        else None,
        "created_by": found.created_by,
        "created_at": aware(found.created_at),
    }


def ping_body(found: WebhookSubscription, now: datetime) -> dict[str, Any]:
    """The test message an operator sends to check an agency's endpoint."""
    return {
        "type": "ping",
        "timestamp": now.isoformat(),
        "data": {"subscription_id": found.id, "agency": found.agency},
    }


#: an endpoint failing this long is paused (and the operator told)
PAUSE_AFTER = timedelta(days=1)


def webhook_succeeded(session: Session, subscription_id: str) -> None:
    """The endpoint answered: it is not failing any more."""
    found = session.get(WebhookSubscription, subscription_id)
    if found is not None:
        found.failing_since = None


def webhook_failed(
    session: Session, subscription_id: str, clock: Clock = utc_now
) -> bool:
    """The endpoint failed an attempt; after a day of failing it is paused.

    Returns True when this failure paused it. The pause shows in the
    subscription (``paused_reason``) and in a warning for the operator; its
    messages wait (``POST .../resume`` sends them).
    """
    found = session.get(WebhookSubscription, subscription_id)
    if found is None or found.status != "active":
        return False
    now = clock()
    since = aware(found.failing_since)
    if since is None:
        found.failing_since = now
        return False
    if now - since < PAUSE_AFTER:
        return False
    found.status = "paused"
    found.paused_reason = "failing for a day"
    log.warning(
        "webhook subscription %s of %s paused: failing since %s",
        found.id,
        found.agency,
        since.isoformat(),
    )
    return True
