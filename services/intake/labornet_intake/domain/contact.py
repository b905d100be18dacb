"""The citizen's contact and consent: for the agencies handling the case
(:func:`contact_for`) and for notify when it sends
(:func:`contact_for_notification`). Every read of personal data is audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from labornet_intake.domain.cases import OPEN_STATUSES, CaseNotFound, _load_case, audit
from labornet_intake.domain.timeline import OPEN_REFERRAL_STATUSES
from labornet_intake.domain.tracking import tracking_code
from labornet_intake.models import Case, CaseReferral
from labornet_shared.clock import Clock, utc_now
from labornet_shared.tokens import Principal


def _referral_open_to(case: Case, principal: Principal) -> CaseReferral | None:
    """The open referral that lets this agency token call the citizen."""
    if principal.scope != "agency" or not principal.agency:
        return None
    contact = case.contact
    if contact is None or not contact.agencies_may_contact:
        return None
    if case.status not in OPEN_STATUSES:
        # a withdrawn case is not followed up, even before routing withdraws
        # its referrals
        return None
    for referral in case.referrals:
        if (
            referral.agency == principal.agency
            and referral.status in OPEN_REFERRAL_STATUSES
            and principal.province in (None, referral.province_code)
        ):
            return referral
    return None


def _agency_actor(principal: Principal) -> str:
    """``sso.TH-52`` (and the token's name when it has its own)."""
    actor = str(principal.agency)
    if principal.province:
        actor += f".{principal.province}"
    if principal.subject not in (principal.agency, actor):
        actor += f" ({principal.subject})"
    return actor


def contact_for(
    session: Session,
    reference: str,
    principal: Principal | None,
    clock: Clock = utc_now,
) -> Case:
    """The case whose citizen ``principal`` may call now; the read is audited.

    An agency may while one of its offices (in its province, if the token
    names one) holds an open referral of the case and the citizen's consent
    covers contact by the agencies; an operator may always; nobody once the
    personal data is erased. Else :class:`CaseNotFound`, whichever rule said
    no.
    """
    case = _load_case(session, reference)
    if (
        case is None
        or principal is None
        or case.contact is None
        or case.personal_data_erased_at is not None
    ):
        raise CaseNotFound()
    if principal.is_operator:
        audit(session, principal, "read_contact", reference, clock=clock)
        return case
    referral = _referral_open_to(case, principal)
    if referral is None:
        raise CaseNotFound()
    audit(
        session,
        principal,
        "read_contact",
        reference,
        purpose=f"referral {referral.referral_id}",
        clock=clock,
        actor=_agency_actor(principal),
    )
    return case


#: who asks over RPC, as the audit log names it
NOTIFY = Principal(scope="service", subject="notify")

_CONTACT_FIELDS = ("name", "phone", "email", "line_user_id")


def contact_for_notification(
    session: Session,
    reference: str,
    purpose: str,
    pepper: str,
    clock: Clock = utc_now,
) -> dict[str, Any] | None:
    """How notify reaches the citizen of ``reference`` for ``purpose`` (e.g.
    ``case_received sms``); None for a case intake does not have.

    The contact comes only while the citizen's consent stands and their
    personal data is not erased; otherwise ``consent`` or ``erased`` says
    why, the contact is null and the channel ``none``: notify sends nothing.
    Every answer carrying personal data is audited (actor ``notify``,
    ``read_contact``, the purpose). The tracking code is derived, as always.
    """
    case = _load_case(session, reference)
    if case is None:
        return None
    contact = case.contact
    erased = case.personal_data_erased_at is not None
    consent = contact is not None and contact.consent_given_at is not None
    reachable = contact if consent and not erased else None
    details = {name: getattr(reachable, name, None) for name in _CONTACT_FIELDS}
    if any(value is not None for value in details.values()):
        audit(session, NOTIFY, "read_contact", reference, purpose, clock=clock)
    return {
        "reference": case.reference,
        "language": case.language,
        "language_chosen": case.language_chosen,
        "contact_channel": reachable.contact_channel if reachable else "none",
        **details,
        "tracking_code": tracking_code(pepper, case.reference),
        "consent": consent,
        "erased": erased,
        "status": case.status,
    }
