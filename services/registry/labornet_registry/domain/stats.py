"""The network in numbers: agents by kind, region, province and status, and
the districts nobody covers."""

from __future__ import annotations

from typing import Any

import geothai
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labornet_registry.models import Agent, AgentArea


def network_stats(session: Session) -> dict[str, Any]:
    """Counts by kind × region × province × status, and coverage gaps.

    A district is a gap when no active agent covers it or a subdistrict in it
    (the province's graduates of the whole province do not fill it: the
    inspection bureau asks which districts have nobody on the ground).
    """
    counts = _counts(session)
    totals: dict[str, dict[str, int]] = {}
    for row in counts:
        by_status = totals.setdefault(row["kind"], {})
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["agents"]
    gaps = _coverage_gaps(session)
    return {
        "totals": totals,
        "counts": counts,
        "districts": len(_all_districts()),
        "districts_covered": len(_all_districts()) - len(gaps),
        "coverage_gaps": gaps,
    }


def _counts(session: Session) -> list[dict[str, Any]]:
    """Agents by kind, region, province, country and status, sorted."""
    rows = session.execute(
        select(
            Agent.kind,
            Agent.region,
            Agent.province_code,
            Agent.abroad_country,
            Agent.status,
            func.count(),
        ).group_by(
            Agent.kind,
            Agent.region,
            Agent.province_code,
            Agent.abroad_country,
            Agent.status,
        )
    ).all()
    return [
        {
            "kind": kind,
            "region": region,
            "province_code": province_code,
            "abroad_country": country,
            "status": status,
            "agents": count,
        }
        for kind, region, province_code, country, status, count in sorted(
            rows, key=lambda r: tuple(str(v) for v in r[:5])
        )
    ]


def _coverage_gaps(session: Session) -> list[dict[str, Any]]:
    """The districts no active agent covers (or a subdistrict of), by code."""
    covered = set(
        session.scalars(
            select(AgentArea.district_code)
            .join(Agent, Agent.id == AgentArea.agent_id)
            .where(Agent.status == "active", AgentArea.district_code.is_not(None))
            .distinct()
        )
    )
    return [
        {
            "district_code": district.code,
            "name_th": district.name_th,
            "name_en": district.name_en,
            "province_code": f"TH-{district.province_code}",
        }
        for district in _all_districts()
        if district.code not in covered
    ]


_DISTRICTS: list[Any] = []


def _all_districts() -> list[Any]:
    """Every district of the gazetteer, by code (read once)."""
    if not _DISTRICTS:
        _DISTRICTS.extend(
            sorted(
                (d for p in geothai.provinces() for d in geothai.districts(p.code)),
                key=lambda d: d.code,
            )
        )
    return _DISTRICTS
