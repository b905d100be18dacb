"""PDPA erasure: wipe the citizen's personal data, keep the anonymous case."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from labornet_intake.domain.cases import (
    ERASED,
    SERVICE,
    CaseNotFound,
    _load_case,
    audit,
)
from labornet_intake.models import Case, CaseFeedback, outbox_messages
from labornet_shared.clock import Clock, now_from, utc_now
from labornet_shared.events import make_event
from labornet_shared.outbox import add_event
from labornet_shared.tokens import Principal


def erase_personal_data(
    session: Session, reference: str, principal: Principal, clock: Clock = utc_now
) -> Case:
    """PDPA erasure: wipe the citizen's data, keep the anonymous case."""
    case = _load_case(session, reference)
    if case is None or not principal.is_operator:
        raise CaseNotFound()
    now = now_from(clock)
    contact = case.contact
    if contact is not None:
        for name in ("name", "phone", "email", "national_id", "line_user_id"):
            setattr(contact, name, None)
        contact.contact_channel = "none"
    # free text may name the citizen or their house: it goes too, including
    # the notes of the timeline and of the referrals (a withdrawal reason is
    # the citizen's words; an office's note may quote them)
    case.address = None
    case.description = ERASED
    if case.open311 is not None:
        case.open311.media_url = None
    for entry in case.timeline:
        entry.note = None
    for referral in case.referrals:
        referral.last_note = None
    # the rating stays for the statistics; the comment is the citizen's words
    session.execute(
        update(CaseFeedback).where(CaseFeedback.case_id == case.id).values(comment=None)
    )
    # published copies of its events (kept a while for operators) carry the
    # description; events not yet published must still reach their consumers
    session.execute(
        delete(outbox_messages).where(
            outbox_messages.c.correlation_id == reference,
            outbox_messages.c.sent_at.is_not(None),
        )
    )
    case.personal_data_erased_at = now
    case.updated_at = now
    # routing and notify keep copies of the description and notes: they wipe
    # them on this event
    add_event(
        session,
        SERVICE,
        make_event(
            "case_personal_data_erased",
            {"reference": reference, "erased_at": now.isoformat()},
            correlation_id=reference,
            occurred_at=now,
        ),
    )
    audit(session, principal, "erase_personal_data", reference, clock=clock)
    return case
