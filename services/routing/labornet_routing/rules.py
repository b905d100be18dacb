"""Which office gets which problem: DESIGN's default agency per category,
changed by the rules operators keep in the database.

Pure functions over plain values, so the rules are tested without a
database and read like the ministry's own table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labornet_shared.categories import DEFAULT_AGENCY

#: after this many offices have had a category, it goes to ``ops``, flagged
MAX_HOPS = 3
COORDINATOR = "ops"


@dataclass(frozen=True)
class Rule:
    """A routing rule (see :class:`labornet_routing.models.RoutingRule`)."""

    kind: str  # override | extra | abroad
    agency: str
    category: str | None = None
    province_code: str | None = None
    with_category: str | None = None


@dataclass(frozen=True)
class PlannedReferral:
    """An office that must act on a case, and for which of its problems."""

    agency: str
    office: str
    categories: tuple[str, ...]


def office_of(agency: str, province_code: str, abroad: bool = False) -> str:
    """``dlpw.TH-52``; a worker abroad's office is the agency's overseas one."""
    return f"{agency}.overseas" if abroad else f"{agency}.{province_code}"


def _applies(rule: Rule, category: str, province_code: str) -> bool:
    return (rule.category in (None, category)) and (
        rule.province_code in (None, province_code)
    )


def candidate_agencies(
    category: str,
    province_code: str,
    abroad_country: str | None,
    rules: Sequence[Rule],
) -> list[tuple[str, bool]]:
    """The agencies that may take ``category``, in order of preference.

    Each as (agency, abroad office?). Abroad rules first for a worker abroad;
    then province-specific overrides, national overrides, the default agency,
    and finally the province's coordinator, ``ops``.
    """
    ordered: list[tuple[str, bool]] = []
    if abroad_country:
        ordered += [
            (rule.agency, True)
            for rule in rules
            if rule.kind == "abroad" and rule.category in (None, category)
        ]
    overrides = [r for r in rules if r.kind == "override" and r.category == category]
    ordered += [
        (r.agency, False) for r in overrides if r.province_code == province_code
    ]
    ordered += [(r.agency, False) for r in overrides if r.province_code is None]
    ordered.append((DEFAULT_AGENCY[category], False))
    ordered.append((COORDINATOR, False))
    unique: list[tuple[str, bool]] = []
    for choice in ordered:
        if choice not in unique:
            unique.append(choice)
    return unique


def plan_referrals(
    categories: Sequence[str],
    province_code: str,
    abroad_country: str | None,
    rules: Sequence[Rule],
) -> list[PlannedReferral]:
    """One referral per office for the case's problems (best first).

    Each category goes to its first candidate agency; ``extra`` rules add
    offices (e.g. every ``work_injury`` also to ``dlpw`` when
    ``unpaid_wages`` is found too). An office handling several of the
    case's problems gets one referral naming them all.
    """
    found = set(categories)
    by_office: dict[str, tuple[str, list[str]]] = {}
    for category in categories:
        agency, abroad = candidate_agencies(
            category, province_code, abroad_country, rules
        )[0]
        targets = [(agency, office_of(agency, province_code, abroad))]
        for rule in rules:
            if (
                rule.kind == "extra"
                and _applies(rule, category, province_code)
                and (rule.with_category is None or rule.with_category in found)
            ):
                targets.append((rule.agency, office_of(rule.agency, province_code)))
        for target_agency, office in targets:
            _agency, handled = by_office.setdefault(office, (target_agency, []))
            if category not in handled:
                handled.append(category)
    return [
        PlannedReferral(agency, office, tuple(handled))
        for office, (agency, handled) in by_office.items()
    ]


def next_office(
    category: str,
    province_code: str,
    abroad_country: str | None,
    rules: Sequence[Rule],
    refused_by: set[str],
    hop: int,
) -> tuple[str, str, bool]:
    """Where a rejected referral goes next: (agency, office, flagged).

    The next candidate agency whose office has not rejected this case's
    category; never back to an office that rejected it. After
    :data:`MAX_HOPS` offices, or when no candidate is left, the province's
    ``ops`` office takes it, flagged for a person to look at.
    """
    coordinator = office_of(COORDINATOR, province_code)
    if hop >= MAX_HOPS:
        return COORDINATOR, coordinator, True
    for agency, abroad in candidate_agencies(
        category, province_code, abroad_country, rules
    ):
        office = office_of(agency, province_code, abroad)
        if office not in refused_by:
            return agency, office, agency == COORDINATOR
    return COORDINATOR, coordinator, True
