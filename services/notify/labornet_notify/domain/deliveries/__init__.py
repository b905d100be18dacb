"""Deliveries: who hears of an event on which channel, written down before
anything is sent, and what each attempt came to.

Plain Python over a SQLAlchemy session. The rules:

* an event becomes delivery rows in the same transaction that records it as
  applied; the unique (event, recipient, channel) key makes a redelivered
  event a no-op;
* a sender *claims* a due row (a conditional UPDATE to ``sending`` with a
  lease) and commits before it sends, so two senders never send one row;
* an event whose case notify has not seen yet (its ``case_received``
  travels on another queue) plans nothing and raises
  :class:`~labornet_shared.inbox.PrerequisiteMissing`: it is retried, never
  acknowledged with nobody told; a notice that finds nobody for a known
  case is counted with its reason;
* a failure before the provider is called (the contact, the broker, the
  database) is retried: nothing left;
* a message that may have reached its provider without an answer (a timeout,
  or a sender killed mid-send: its lease ran out) is sent again only on
  channels that drop duplicates themselves (LINE's retry key, the webhook
  id); an SMS or e-mail is recorded ``interrupted``, counted, and never sent
  twice by itself (an operator may retry it);
* transient failures retry with exponential backoff and jitter until the
  row's ``give_up_at``; a final failure emits ``notification_failed`` and
  falls back to the recipient's next channel.

The modules: :mod:`.planning` (an event's deliveries), :mod:`.sending` (the
sender's state changes), :mod:`.timing` (quiet hours, backoff),
:mod:`.languages` (which language a citizen's notice is in),
:mod:`.cases_and_agents` (what notify keeps of cases and field agents),
:mod:`.operator_actions` (listing, sending again). Every name is re-exported
here, as the service and the sender call them (``deliveries.plan``).
"""

from __future__ import annotations

from labornet_notify.domain.deliveries.cases_and_agents import (
    CASE_STATE_EVENTS,
    apply_agent,
    erase_case_text,
    note_case_state,
    remember_case,
)
from labornet_notify.domain.deliveries.languages import (
    citizens_language,
    note_screened_language,
    sending_language,
)
from labornet_notify.domain.deliveries.operator_actions import (
    list_deliveries,
    retry_now,
)
from labornet_notify.domain.deliveries.planning import (
    CASE_AUDIENCES,
    CITIZENS_CHOICE,
    Recipient,
    area_agents,
    plan,
    recipients,
    why_nobody,
)
from labornet_notify.domain.deliveries.sending import (
    IDEMPOTENT_CHANNELS,
    INTERRUPTED,
    SERVICE,
    claim_due,
    fail,
    interrupt,
    mark_calling,
    recover_interrupted,
    release_unsent,
    retry_later,
    sent,
    skip,
)
from labornet_notify.domain.deliveries.timing import (
    BANGKOK,
    QUIET_FROM,
    QUIET_UNTIL,
    backoff,
    parse_quiet_hours,
    quiet_until,
)
from labornet_shared.clock import Clock, aware, utc_now

__all__ = [
    "BANGKOK",
    "CASE_AUDIENCES",
    "CASE_STATE_EVENTS",
    "CITIZENS_CHOICE",
    "IDEMPOTENT_CHANNELS",
    "INTERRUPTED",
    "QUIET_FROM",
    "QUIET_UNTIL",
    "SERVICE",
    "Clock",
    "Recipient",
    "apply_agent",
    "area_agents",
    "aware",
    "backoff",
    "citizens_language",
    "claim_due",
    "erase_case_text",
    "fail",
    "interrupt",
    "list_deliveries",
    "mark_calling",
    "note_case_state",
    "note_screened_language",
    "parse_quiet_hours",
    "plan",
    "quiet_until",
    "recipients",
    "recover_interrupted",
    "release_unsent",
    "remember_case",
    "retry_later",
    "retry_now",
    "sending_language",
    "sent",
    "skip",
    "utc_now",
    "why_nobody",
]
