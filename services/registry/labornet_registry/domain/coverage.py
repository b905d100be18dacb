"""Coverage: which active field agents answer for a place, most specific first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labornet_registry.domain.access import audit
from labornet_registry.domain.errors import AgentInvalid
from labornet_registry.domain.places import check_areas
from labornet_registry.domain.search import area_filter, covering
from labornet_registry.models import Agent, AgentArea
from labornet_shared.problems import FieldError
from labornet_shared.tokens import Principal

COVERAGE_LEVELS = ("subdistrict", "district", "province")


@dataclass(frozen=True)
class CoverageEntry:
    """An agent responsible for a place, and at which level."""

    level: str
    agent: Agent


def coverage(
    session: Session,
    principal: Principal,
    *,
    province: str | None = None,
    district: str | None = None,
    subdistrict: str | None = None,
    country: str | None = None,
    language: str | None = None,
) -> list[CoverageEntry]:
    """The active agents responsible for a place, most specific first.

    In Thailand: the volunteers of the subdistrict, then the agents of the
    district as a whole, then the province's agents of the whole province
    (its labour graduates). Abroad: the volunteers in that country. Within a
    level, agents who speak ``language`` come first, then graduates before
    volunteers. Routing applies the same rule to its projection.

    Raises:
        AgentInvalid: an unknown place or one not inside the other.
    """
    if country is not None:
        levels = [("country", Agent.abroad_country == country)]
    else:
        levels = _thai_levels(province, district, subdistrict)
    entries: list[CoverageEntry] = []
    seen: set[str] = set()
    for level, condition in levels:
        agents = session.scalars(
            select(Agent).where(Agent.status == "active", condition).order_by(Agent.id)
        ).all()
        for agent in _ranked(agents, language):
            if agent.id not in seen:
                seen.add(agent.id)
                entries.append(CoverageEntry(level, agent))
    audit(session, principal, "read_coverage", detail=f"{len(entries)} agents")
    return entries


def _thai_levels(
    province: str | None, district: str | None, subdistrict: str | None
) -> list[tuple[str, Any]]:
    """(level, condition) for a place in Thailand, most specific first."""
    try:
        place = check_areas(
            [
                {
                    "province_code": province,
                    "district_code": district,
                    "subdistrict_code": subdistrict,
                }
            ]
        )[0]
    except AgentInvalid as exc:
        # name the query parameters: areas.0.district_code -> district
        raise AgentInvalid(
            [
                FieldError(e.field.rsplit(".", 1)[-1].removesuffix("_code"), e.code)
                for e in exc.errors
            ]
        ) from exc
    levels: list[tuple[str, Any]] = []
    if place["subdistrict_code"]:
        levels.append(
            ("subdistrict", area_filter(subdistrict=place["subdistrict_code"]))
        )
    if place["district_code"]:
        levels.append(
            (
                "district",
                covering(
                    AgentArea.district_code == place["district_code"],
                    AgentArea.subdistrict_code.is_(None),
                ),
            )
        )
    levels.append(
        (
            "province",
            covering(
                AgentArea.province_code == place["province_code"],
                AgentArea.district_code.is_(None),
            ),
        )
    )
    return levels


def _ranked(agents: Sequence[Agent], language: str | None) -> list[Agent]:
    """Speakers of ``language`` first, then graduates before volunteers."""
    return sorted(
        agents,
        key=lambda a: (
            not (language and language in [row.language for row in a.languages]),
            a.kind != "labour_graduate",
        ),
    )
