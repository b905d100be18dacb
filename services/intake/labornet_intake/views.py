"""What intake's endpoints answer about a case: the view builders that turn
a case (as the domain loaded it) into the JSON of its schema.

One instance of each schema: building one deep-copies its fields, which
costs more than validating a case.
"""

from __future__ import annotations

from typing import Any

from labornet_intake import domain
from labornet_intake.schemas import (
    CaseCreatedSchema,
    CaseLinkSummarySchema,
    CaseSchema,
    CaseStatusSchema,
    CaseSummarySchema,
    CitizenContactOutSchema,
)

CASE_STATUS = CaseStatusSchema()
CASE = CaseSchema()
CASE_LINK_SUMMARY = CaseLinkSummarySchema()
CASE_CREATED = CaseCreatedSchema()
CASE_SUMMARY = CaseSummarySchema()
CITIZEN_CONTACT = CitizenContactOutSchema()


def categories_data(case: Any) -> list[dict[str, Any]]:
    """The problems routing found in the case or referred, best first, each
    with the offices that have it: every referral of it but a rejected one
    (a rejecting office passed it on; the next one is listed)."""
    holding = [r for r in case.referrals if r.status != "rejected"]
    answer = []
    for row in case.screened_categories:
        offices = {
            r.office: {
                "office": r.office,
                "agency": r.agency,
                "province_code": r.province_code,
            }
            for r in holding
            if row.category in r.categories
        }
        answer.append(
            {
                "category": row.category,
                "score": row.score,
                "referred": row.referred,
                "offices": list(offices.values()),
            }
        )
    return answer


def status_data(case: Any) -> dict[str, Any]:
    """What every view of a case starts from: status, offices, timeline."""
    return {
        "reference": case.reference,
        "status": case.status,
        "category": case.category,
        "categories": categories_data(case),
        "created_at": domain.aware(case.created_at),
        "updated_at": domain.aware(case.updated_at),
        "timeline": [
            {
                "status": entry.status,
                "note": entry.note,
                "agency": entry.agency,
                "office": entry.office,
                "outcome": entry.outcome,
                "escalated_to": entry.escalated_to,
                "occurred_at": domain.aware(entry.occurred_at),
            }
            for entry in case.timeline
        ],
        "referrals": [
            {
                "agency": referral.agency,
                "agency_name": domain.agency_name(referral.agency),
                "office": referral.office,
                "status": referral.status,
                "since": domain.aware(referral.since),
                "note": referral.last_note,
                "outcome": referral.outcome,
                "expected_by": domain.aware(referral.due_resolve_at),
            }
            for referral in case.referrals
        ],
    }


def case_view(case: Any, whole: bool) -> dict[str, Any]:
    """The case as its citizen (``whole`` False: the status view) or its agent
    and the operators (the whole case) see it."""
    data = status_data(case)
    if not whole:
        return dict(CASE_STATUS.dump(data))
    contact = case.contact
    data.update(
        description=case.description,
        channel=case.channel,
        language=case.language,
        language_chosen=case.language_chosen,
        location={
            **domain.case_location(case),
            "coordinates_source": case.coordinates_source,
            "address": case.address,
        },
        abroad_country=case.abroad_country,
        submitted_by_agent_id=case.submitted_by_agent_id,
        personal_data_erased_at=domain.aware(case.personal_data_erased_at),
        citizen=None
        if contact is None
        else {
            "name": contact.name,
            "phone": contact.phone,
            "email": contact.email,
            "national_id": contact.national_id,
            "line_user_id": contact.line_user_id,
            "contact_channel": contact.contact_channel,
            "consent_purpose": contact.consent_purpose,
            "consent_given_at": domain.aware(contact.consent_given_at),
            "agencies_may_contact": contact.agencies_may_contact,
        },
    )
    return dict(CASE.dump(data))


def case_link_view(case: Any) -> dict[str, Any]:
    """The anonymous summary an agent's case link shows
    (:class:`CaseLinkSummarySchema`); ``case`` is loaded without its
    personal data (:func:`domain.case_for_agent_link`)."""
    data = status_data(case)
    data["location"] = domain.case_location(case)
    return dict(CASE_LINK_SUMMARY.dump(data))


def contact_view(case: Any) -> dict[str, Any]:
    """How the office handling the case reaches the citizen."""
    contact = case.contact
    return dict(
        CITIZEN_CONTACT.dump(
            {
                "name": contact.name,
                "phone": contact.phone,
                "email": contact.email,
                "line_user_id": contact.line_user_id,
                "language": case.language,
                "language_chosen": case.language_chosen,
                "contact_channel": contact.contact_channel,
            }
        )
    )


def created_view(reference: str, code: str) -> dict[str, Any]:
    """``201`` to a submission: the reference, the tracking code, the links."""
    return dict(
        CASE_CREATED.dump(
            {
                "reference": reference,
                "tracking_code": code,
                "status": "received",
                "links": {
                    "self": f"/v1/cases/{reference}",
                    "withdraw": f"/v1/cases/{reference}/withdraw",
                },
            }
        )
    )


def summary_view(case: Any) -> dict[str, Any]:
    """A row of ``GET /v1/cases``: no personal data."""
    return dict(
        CASE_SUMMARY.dump(
            {
                "reference": case.reference,
                "status": case.status,
                "category": case.category,
                "categories": [row.category for row in case.screened_categories],
                "channel": case.channel,
                "province_code": case.province_code,
                "district_code": case.district_code,
                "submitted_by_agent_id": case.submitted_by_agent_id,
                "created_at": domain.aware(case.created_at),
            }
        )
    )
