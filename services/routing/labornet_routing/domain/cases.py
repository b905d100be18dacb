"""What intake tells routing about a case after it came in: the citizen
withdrew it (its open referrals are withdrawn, their offices told), or had
their words erased under the PDPA."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from labornet_routing.domain.errors import UnknownCase
from labornet_routing.domain.referrals import OPEN_STATUSES, change_status
from labornet_routing.models import ReferralNote, RoutedCase, outbox_messages
from labornet_routing.versions import lock_case
from labornet_shared.clock import Clock, utc_now
from labornet_shared.events import ERASED_TEXT, Event


def withdraw_case(session: Session, event: Event, clock: Clock = utc_now) -> int:
    """The citizen withdrew the case: withdraw its open referrals and tell
    their offices. Returns how many referrals were withdrawn."""
    reference = event.payload["reference"]
    if not lock_case(session, reference):
        raise UnknownCase(reference)
    case = session.get(RoutedCase, reference)
    assert case is not None
    if case.status != "routed":
        return 0  # closed meanwhile (or withdrawn already): nothing is open
    now = clock()
    count = 0
    for referral in list(case.referrals):
        if referral.status in OPEN_STATUSES:
            change_status(
                session,
                case,
                referral,
                "withdrawn",
                seen_version=referral.version,
                note="the citizen withdrew the case",
                outcome=None,
                author="citizen",
                now=now,
            )
            count += 1
    case.status = "withdrawn"
    case.closed_at = now
    return count


def erase_case_text(session: Session, event: Event) -> None:
    """PDPA erasure at intake: wipe routing's copies of the citizen's words —
    the case's description, the offices' notes (they may quote the citizen)
    and the published copies of routing's events about the case, kept a
    while in the outbox (unpublished ones must still reach their consumers).
    Category, place, referrals and their statuses stay for statistics."""
    reference = event.payload["reference"]
    case = session.get(RoutedCase, reference)
    if case is None:
        # its case_received has not been applied (redelivery order, or in
        # the dead-letter queue): retry, so the erasure follows it
        raise UnknownCase(reference)
    case.description = ERASED_TEXT
    referral_ids = [referral.id for referral in case.referrals]
    if referral_ids:
        session.execute(
            update(ReferralNote)
            .where(ReferralNote.referral_id.in_(referral_ids))
            .values(note=None)
        )
    session.execute(
        delete(outbox_messages).where(
            outbox_messages.c.correlation_id == reference,
            outbox_messages.c.sent_at.is_not(None),
        )
    )
