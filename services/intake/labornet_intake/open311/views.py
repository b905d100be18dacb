"""A request as Open311 shows it, and to whom: every client sees only what
identifies nobody; the api_key that filed it also sees the citizen's words,
the photo and the exact point, until the personal data is erased."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import geothai
from werkzeug.datastructures import MultiDict

from labornet_intake import domain
from labornet_intake.models import Case
from labornet_intake.open311.parameters import w3
from labornet_intake.open311.vocabulary import catalogue
from labornet_shared.reference import (
    centroid,
    district_centroid,
    province,
    province_centroid,
)
from labornet_shared.tokens import Principal


def key_subject(name: str, api_key: str) -> str:
    """``<key name>#<digest>``: one api_key, told apart from others of the same
    name, without keeping the key."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
    return f"{name[:100]}#{digest}"


def is_filer(case: Case, viewer: Principal | None) -> bool:
    """Whether ``viewer`` is the api_key that filed the case (and the citizen's
    data is still there to show it)."""
    filed = case.open311
    return (
        viewer is not None
        and filed is not None
        and viewer.subject == filed.filed_by
        and case.personal_data_erased_at is None
    )


def _public_point(case: Case) -> tuple[float, float]:
    """The centroid of the case's area: a point given by the client may be
    the citizen's home."""
    if case.coordinates_source != "given":
        return case.lat, case.long
    point = None
    if case.subdistrict_code:
        point = centroid(case.subdistrict_code)
    if point is None and case.district_code:
        point = district_centroid(case.district_code)
    if point is None:
        point = province_centroid(case.province_code)
    return point if point else (round(case.lat, 2), round(case.long, 2))


def place_name(case: Case, locale: str) -> str | None:
    """The case's place as the gazetteer names it, most specific first."""
    info = province(case.province_code)
    district = geothai.district(case.district_code) if case.district_code else None
    subdistrict = (
        geothai.subdistrict(case.subdistrict_code) if case.subdistrict_code else None
    )
    bangkok = case.province_code == "TH-10"
    if locale == "en":
        parts = [
            subdistrict.name_en if subdistrict else None,
            district.name_en if district else None,
            info.name_en if info else None,
        ]
        return ", ".join(p for p in parts if p) or None
    parts = [
        (("แขวง" if bangkok else "ต.") + subdistrict.name_th) if subdistrict else None,
        (district.name_th if bangkok else "อ." + district.name_th)
        if district
        else None,
        (info.name_th if bangkok else "จ." + info.name_th) if info else None,
    ]
    return " ".join(p for p in parts if p) or None


def _zipcode(case: Case) -> str | None:
    if case.postcode:
        return case.postcode
    subdistrict = (
        geothai.subdistrict(case.subdistrict_code) if case.subdistrict_code else None
    )
    if subdistrict is not None and len(subdistrict.postal_codes) == 1:
        return str(subdistrict.postal_codes[0])
    return None


def _agency(code: str | None, locale: str) -> str:
    return domain.agency_name(code)[locale] if code else ""


def status_notes(case: Case, locale: str, own: bool) -> str | None:
    """The case's latest step in words; the office's own note (it may quote
    the citizen) only for the client that filed the request."""
    if not case.timeline:
        return None
    entry = case.timeline[-1]
    notes = catalogue().status_notes
    key = entry.status
    if key == "withdrawn" and entry.agency:
        key = "referral_withdrawn"
    template = notes.get(key)
    if template is None:
        return None
    outcomes = catalogue().outcomes
    outcome = outcomes.get(entry.outcome or "resolved", outcomes["resolved"])
    text = template[locale].format(
        agency=_agency(entry.agency, locale), outcome=outcome[locale]
    )
    if own and entry.note:
        text += f" — {entry.note}"
    return text


def _updated(case: Case) -> datetime | None:
    """When the case last changed as its citizen sees it; a closed one, when
    it closed."""
    entries = case.timeline
    if case.status in ("closed", "withdrawn"):
        ending = [e for e in entries if e.status == case.status and e.agency is None]
        if ending:
            return ending[-1].occurred_at
    return entries[-1].occurred_at if entries else case.updated_at


def request_view(case: Case, viewer: Principal | None, locale: str) -> dict[str, Any]:
    """A case as the spec's ``request`` element, for ``viewer``."""
    own = is_filer(case, viewer)
    service = catalogue().services.get(case.category or "")
    open_referrals = [
        r for r in case.referrals if r.status in domain.OPEN_REFERRAL_STATUSES
    ]
    handling = open_referrals or [r for r in case.referrals if r.status == "resolved"]
    agencies = list(dict.fromkeys(_agency(r.agency, locale) for r in handling))
    expected = max(
        (domain.aware(r.due_resolve_at) for r in open_referrals), default=None
    )
    lat, long = (case.lat, case.long) if own else _public_point(case)
    notice = catalogue().notices["follow"][locale]
    return {
        "service_request_id": case.reference,
        "status": domain.open311_status(case),
        "status_notes": status_notes(case, locale, own),
        "service_name": service.name[locale] if service else None,
        # the client's own code, never routing's: Open311 lists only cases
        # filed through it, filing one requires a service_code, and the spec
        # means the service the request was submitted to
        "service_code": case.category,
        "description": case.description if own else None,
        "agency_responsible": ", ".join(agencies) or None,
        "service_notice": notice.format(reference=case.reference),
        "requested_datetime": w3(case.created_at),
        "updated_datetime": w3(_updated(case)),
        "expected_datetime": w3(expected),
        "address": place_name(case, locale),
        "address_id": case.subdistrict_code or case.district_code,
        "zipcode": _zipcode(case),
        "lat": lat,
        "long": long,
        "media_url": case.open311.media_url if own and case.open311 else None,
    }


def created_view(
    reference: str, tracking_code: str, locale: str
) -> list[dict[str, Any]]:
    """``POST requests``' answer: the id at once (every service is
    ``realtime``), and the tracking code the citizen follows the case with."""
    notice = catalogue().notices["filed"][locale]
    return [
        {
            "service_request_id": reference,
            "service_notice": notice.format(
                reference=reference, tracking_code=tracking_code
            ),
            # account ids are not kept (PDPA: only what the case needs)
            "account_id": None,
        }
    ]


def token_view(reference: str) -> list[dict[str, Any]]:
    """``GET tokens/{token}``: a request's token is its id."""
    return [{"service_request_id": reference, "token": reference}]


def filing_fingerprint(params: MultiDict[str, str]) -> str:
    """A stable hash of a POST's parameters, to tell a retry from a new
    request with the same Idempotency-Key (the api_key left out)."""
    pairs = sorted((k, v) for k, v in params.items(multi=True) if k != "api_key")
    return domain.request_fingerprint(pairs)
