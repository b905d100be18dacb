"""notify's domain: plain Python over a SQLAlchemy session, no transport.

* :mod:`.audience` — who hears what: the table of which event is told to
  whom, with which message;
* :mod:`.deliveries` — the deliveries an event calls for, written down
  before anything is sent, and what each attempt came to;
* :mod:`.subscriptions` — agencies' webhook subscriptions and their secrets.

The subscriptions' rules are re-exported here, as the service calls them
(``domain.create_subscription``).
"""

from __future__ import annotations

from labornet_notify.domain.subscriptions import (
    PAUSE_AFTER,
    SubscriptionInvalid,
    SubscriptionNotFound,
    create_subscription,
    list_subscriptions,
    ping_body,
    rotate_secret,
    set_status,
    signing_secrets,
    subscription,
    subscription_view,
    webhook_failed,
    webhook_succeeded,
)
from labornet_shared.clock import Clock, aware, utc_now

__all__ = [
    "PAUSE_AFTER",
    "Clock",
    "SubscriptionInvalid",
    "SubscriptionNotFound",
    "aware",
    "create_subscription",
    "list_subscriptions",
    "ping_body",
    "rotate_secret",
    "set_status",
    "signing_secrets",
    "subscription",
    "subscription_view",
    "utc_now",
    "webhook_failed",
    "webhook_succeeded",
]
