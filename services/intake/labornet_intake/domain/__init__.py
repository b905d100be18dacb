"""intake's rules: take a case in, let the citizen follow it, keep PDPA.

Plain Python over a SQLAlchemy session; no nameko, no HTTP. Every state
change that others must hear about writes its event to the outbox in the same
transaction (:func:`labornet_shared.outbox.add_event`). One module per part:

* :mod:`.cases` — statuses, errors, loading and reading a case, the audit
  log, withdrawal;
* :mod:`.tracking` — the citizen's tracking code;
* :mod:`.submission` — taking a case in, once per Idempotency-Key;
* :mod:`.timeline` — routing's events: the timeline, the status and intake's
  copy of the referrals;
* :mod:`.contact` — the citizen's contact and consent, for the agencies
  handling the case and for notify when it sends;
* :mod:`.erasure` — PDPA erasure;
* :mod:`.georeport` — Open311 requests: filing one, finding them;
* :mod:`.feedback` — the citizen's rating of a closed case.

Every public name is importable from here (``from labornet_intake import
domain``; ``domain.submit_case``), as is the clock (``utc_now``, ``as_utc``,
``aware``: :mod:`labornet_shared.clock`).
"""

from __future__ import annotations

from labornet_intake.domain.cases import (
    ERASED,
    OPEN_STATUSES,
    SERVICE,
    CaseInvalid,
    CaseNotFound,
    CaseNotOpen,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    _load_case,
    audit,
    case_for_agent_link,
    case_for_citizen,
    case_for_principal,
    list_cases,
    may_see_case,
    withdraw_case,
)
from labornet_intake.domain.contact import (
    NOTIFY,
    contact_for,
    contact_for_notification,
)
from labornet_intake.domain.erasure import erase_personal_data
from labornet_intake.domain.feedback import (
    CaseNotClosed,
    FeedbackAlreadyGiven,
    FeedbackGiven,
    give_feedback,
    open_feedback_link,
)
from labornet_intake.domain.georeport import (
    OPEN311_STATUSES,
    file_open311_request,
    open311_request,
    open311_requests,
    open311_status,
)
from labornet_intake.domain.submission import (
    Accepted,
    SubmittedCase,
    case_location,
    case_received_payload,
    complete_idempotency_key,
    request_fingerprint,
    reserve_idempotency_key,
    submit_case,
    take_case_in,
)
from labornet_intake.domain.timeline import (
    AGENCY_NAMES_TH,
    OPEN_REFERRAL_STATUSES,
    ROUTING_EVENTS,
    UnknownCase,
    agency_name,
    apply_case_closed,
    apply_case_routed,
    apply_referral_overdue,
    apply_referral_status_changed,
    apply_routing_event,
)
from labornet_intake.domain.tracking import (
    check_tracking_code,
    normalise_tracking_code,
    tracking_code,
)
from labornet_shared.clock import Clock, as_utc, aware, utc_now

__all__ = [
    "AGENCY_NAMES_TH",
    "ERASED",
    "NOTIFY",
    "OPEN311_STATUSES",
    "OPEN_REFERRAL_STATUSES",
    "OPEN_STATUSES",
    "ROUTING_EVENTS",
    "SERVICE",
    "Accepted",
    "CaseInvalid",
    "CaseNotClosed",
    "CaseNotFound",
    "CaseNotOpen",
    "Clock",
    "FeedbackAlreadyGiven",
    "FeedbackGiven",
    "IdempotencyKeyInProgress",
    "IdempotencyKeyReused",
    "SubmittedCase",
    "UnknownCase",
    "_load_case",
    "agency_name",
    "apply_case_closed",
    "apply_case_routed",
    "apply_referral_overdue",
    "apply_referral_status_changed",
    "apply_routing_event",
    "as_utc",
    "audit",
    "aware",
    "case_for_agent_link",
    "case_for_citizen",
    "case_for_principal",
    "case_location",
    "case_received_payload",
    "check_tracking_code",
    "complete_idempotency_key",
    "contact_for",
    "contact_for_notification",
    "erase_personal_data",
    "file_open311_request",
    "give_feedback",
    "list_cases",
    "may_see_case",
    "normalise_tracking_code",
    "open311_request",
    "open311_requests",
    "open311_status",
    "open_feedback_link",
    "request_fingerprint",
    "reserve_idempotency_key",
    "submit_case",
    "take_case_in",
    "tracking_code",
    "utc_now",
    "withdraw_case",
]
