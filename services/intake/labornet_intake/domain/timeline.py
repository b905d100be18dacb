"""routing's events on intake's side: the case's timeline, its status,
intake's copy of its referrals (which decides who may call the citizen and
which offices have the case) and the categories routing found for it.

Events of one case arrive in any order and may arrive twice: each is
applied once (:func:`~labornet_shared.inbox.apply_once`), a status never
moves back, an older change only fills what the copy lacks, and the
categories only grow (a union: the same in any order).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from marshmallow import Schema
from sqlalchemy.orm import Session

from labornet_intake.domain.cases import _load_case
from labornet_intake.models import Case, CaseCategory, CaseReferral, TimelineEntry
from labornet_shared.categories import AGENCIES
from labornet_shared.clock import Clock, as_utc, aware, now_from, utc_now
from labornet_shared.events import EVENT_TYPES, RESOLUTION_OUTCOMES, Event
from labornet_shared.inbox import apply_once

#: the agencies' Thai names (English: labornet_shared.categories.AGENCIES)
AGENCY_NAMES_TH: dict[str, str] = {
    "ops": "สำนักงานปลัดกระทรวงแรงงาน",
    "doe": "กรมการจัดหางาน",
    "dsd": "กรมพัฒนาฝีมือแรงงาน",
    "dlpw": "กรมสวัสดิการและคุ้มครองแรงงาน",
    "sso": "สำนักงานประกันสังคม",
    "tosh": "สถาบันส่งเสริมความปลอดภัย อาชีวอนามัย และสภาพแวดล้อมในการทำงาน",
}

#: a referral's statuses in which its office works on the case
OPEN_REFERRAL_STATUSES = ("pending", "accepted", "in_progress")

# A referral only moves forward: pending → accepted → in_progress → an end.
# Ranks break ties between changes routing stamped with the same time.
_REFERRAL_RANK = {
    "pending": 0,
    "accepted": 1,
    "in_progress": 2,
    "resolved": 3,
    "rejected": 3,
    "withdrawn": 3,
}

# received → routed → closed, never back ("in_progress" is a routed case)
_CASE_RANK = {"received": 0, "routed": 1, "in_progress": 1, "closed": 2}

_OUTCOMES = frozenset(RESOLUTION_OUTCOMES)


class UnknownCase(Exception):
    """A routing event names a case intake never took in.

    intake created every case routing knows, so this is a bug or an event of
    another environment: the handler fails, is retried, and is parked in
    ``intake.dlq`` for an operator, never silently dropped.
    """


def agency_name(agency: str) -> dict[str, str]:
    """The agency's name in Thai and English, for the citizen."""
    return {
        "th": AGENCY_NAMES_TH.get(agency, agency),
        "en": AGENCIES.get(agency, agency),
    }


@functools.cache
def _payload_schema(event_type: str, version: int) -> Schema:
    return EVENT_TYPES[(event_type, version)][1]()


def _payload(event: Event) -> dict[str, Any]:
    """The event's payload with its dates as datetimes (already validated)."""
    schema = _payload_schema(event.event_type, event.schema_version)
    return dict(schema.load(event.payload))


def _case_of(session: Session, reference: str) -> Case:
    case = _load_case(session, reference, lock=True)
    if case is None:
        raise UnknownCase(f"no case {reference}")
    return case


def _update_referral_copy(
    case: Case,
    referral: dict[str, Any],
    at: datetime,
    note_and_outcome: tuple[str | None, str | None] | None = None,
) -> CaseReferral:
    """Bring intake's copy of a referral up to ``referral``, routing's view
    of it at ``at``; ``note_and_outcome`` is what the office said with this
    change.

    Events arrive in any order: a change older than the one the copy holds
    never takes its status back; it only fills a note the copy lacks.
    """
    at = _utc(at)
    status = referral["status"]
    _add_categories(case, list(referral["categories"]), referred=True)
    copy = next(
        (r for r in case.referrals if r.referral_id == referral["referral_id"]), None
    )
    if copy is None:
        copy = CaseReferral(
            referral_id=referral["referral_id"], status=status, since=at, updated_at=at
        )
        case.referrals.append(copy)
    note, outcome = note_and_outcome if note_and_outcome is not None else (None, None)
    if case.personal_data_erased_at is not None:
        # an office's note may quote the citizen, who asked to be forgotten
        note = None
    current = (_utc(copy.updated_at), _REFERRAL_RANK[copy.status])
    if (at, _REFERRAL_RANK[status]) < current:
        if status == copy.status:
            # the same status, told earlier (a closing snapshot came first):
            # the referral has had it since then
            copy.since = min(_utc(copy.since), at)
            if note_and_outcome is not None:
                copy.last_note = copy.last_note or note
                copy.outcome = copy.outcome or outcome
        return copy
    if status != copy.status:
        # what was said belonged to the previous status
        copy.since = at
        copy.last_note = None
        copy.outcome = None
    copy.status = status
    copy.agency = referral["agency"]
    copy.province_code = referral["province_code"]
    copy.office = referral["office"]
    copy.categories = list(referral["categories"])
    copy.due_resolve_at = _utc(referral["due_resolve_at"])
    copy.updated_at = at
    if note is not None:
        copy.last_note = note
    if outcome is not None:
        copy.outcome = outcome
    return copy


def _add_categories(
    case: Case,
    categories: list[str],
    *,
    scores: dict[str, float] | None = None,
    referred: bool = False,
) -> None:
    """Record problems routing found (``scores``: screening's labels) or gave
    an office (``referred``); a category only gains: its best score, and
    once referred, referred."""
    rows = {row.category: row for row in case.screened_categories}
    for category in categories:
        row = rows.get(category)
        if row is None:
            row = rows[category] = CaseCategory(category=category, referred=False)
            case.screened_categories.append(row)
        score = (scores or {}).get(category)
        if score is not None and (row.score is None or score > row.score):
            row.score = score
        if referred:
            row.referred = True


def _utc(moment: datetime) -> datetime:
    """Aware UTC (a naive time from SQLite was stored as UTC)."""
    utc = as_utc(aware(moment))
    assert utc is not None
    return utc


def _add_timeline_entry(
    case: Case,
    event: Event,
    status: str,
    at: datetime,
    *,
    referral: dict[str, Any] | None = None,
    note: str | None = None,
    outcome: str | None = None,
    escalated_to: str | None = None,
) -> None:
    """Add a timeline entry for one of routing's events."""
    case.timeline.append(
        TimelineEntry(
            status=status,
            note=None if case.personal_data_erased_at is not None else note,
            agency=referral["agency"] if referral else None,
            office=referral["office"] if referral else None,
            outcome=outcome,
            escalated_to=escalated_to,
            occurred_at=_utc(at),
            event_id=event.event_id,
        )
    )


def _advance_case(case: Case, status: str, clock: Clock) -> None:
    """Move the case forward to ``status``, never back; a withdrawn case stays
    withdrawn (its timeline still grows)."""
    if case.status in _CASE_RANK and _CASE_RANK[case.status] < _CASE_RANK[status]:
        case.status = status
    case.updated_at = now_from(clock)


def apply_case_routed(session: Session, event: Event, clock: Clock = utc_now) -> Case:
    """``case_routed``: the case is referred; one ``routed`` step per office."""
    payload = _payload(event)
    case = _case_of(session, payload["reference"])
    labels = payload["screening"]["labels"]
    _add_categories(
        case,
        [label["category"] for label in labels],
        scores={label["category"]: label["score"] for label in labels},
    )
    for referral in payload["referrals"]:
        _update_referral_copy(case, referral, payload["routed_at"])
        _add_timeline_entry(
            case, event, "routed", payload["routed_at"], referral=referral
        )
    _advance_case(case, "routed", clock)
    return case


def apply_referral_status_changed(
    session: Session, event: Event, clock: Clock = utc_now
) -> Case:
    """``referral_status_changed``: an office accepted, rejected, reported
    progress, resolved, or the referral was withdrawn; with what it said."""
    payload = _payload(event)
    case = _case_of(session, payload["reference"])
    referral = payload["referral"]
    note_and_outcome = (payload["note"], payload["outcome"])
    _update_referral_copy(
        case, referral, payload["changed_at"], note_and_outcome=note_and_outcome
    )
    _add_timeline_entry(
        case,
        event,
        referral["status"],
        payload["changed_at"],
        referral=referral,
        note=payload["note"],
        outcome=payload["outcome"],
    )
    # a change of a referral means the case was routed, whatever came first
    _advance_case(case, "routed", clock)
    return case


def apply_referral_overdue(
    session: Session, event: Event, clock: Clock = utc_now
) -> Case:
    """``referral_overdue``: an office missed its deadline; the case is
    escalated to the province's ``ops`` office, which now holds a referral."""
    payload = _payload(event)
    case = _case_of(session, payload["reference"])
    referral, escalation = payload["referral"], payload["escalated_to"]
    _update_referral_copy(case, referral, payload["detected_at"])
    if escalation["referral_id"] != referral["referral_id"]:
        _update_referral_copy(case, escalation, payload["detected_at"])
    _add_timeline_entry(
        case,
        event,
        "overdue",
        payload["detected_at"],
        referral=referral,
        escalated_to=escalation["office"],
    )
    _advance_case(case, "routed", clock)
    return case


def apply_case_closed(session: Session, event: Event, clock: Clock = utc_now) -> Case:
    """``case_closed``: every referral is resolved or withdrawn."""
    payload = _payload(event)
    case = _case_of(session, payload["reference"])
    for referral in payload["referrals"]:
        copy = _update_referral_copy(case, referral, payload["closed_at"])
        outcome = payload["outcomes"].get(referral["referral_id"])
        if copy.outcome is None and outcome in _OUTCOMES:
            copy.outcome = outcome
    _add_timeline_entry(case, event, "closed", payload["closed_at"])
    _advance_case(case, "closed", clock)
    return case


_APPLY: dict[str, Callable[[Session, Event, Clock], Case]] = {
    "case_routed": apply_case_routed,
    "referral_status_changed": apply_referral_status_changed,
    "referral_overdue": apply_referral_overdue,
    "case_closed": apply_case_closed,
}

#: routing's events intake applies, each in its own handler
ROUTING_EVENTS = tuple(_APPLY)


def apply_routing_event(
    session: Session, consumer: str, event: Event, clock: Clock = utc_now
) -> bool:
    """Apply one of routing's events once for ``consumer``, in the caller's
    transaction; False (and nothing changed) for an event applied before.
    Raises :class:`UnknownCase` for a case intake does not have."""
    if not apply_once(session, consumer, event):
        return False
    _APPLY[event.event_type](session, event, clock)
    return True
