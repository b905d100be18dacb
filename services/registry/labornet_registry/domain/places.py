"""Where a field agent works: coverage areas in Thailand or a country abroad,
and the province and labour office that follows from it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labornet_registry.domain.errors import AgentInvalid
from labornet_shared.problems import FieldError
from labornet_shared.reference import geography

Area = tuple[str, str | None, str | None]


def home_of(agent: dict[str, Any]) -> tuple[str | None, str, str]:
    """(home province, region, office) of an agent.

    The home province is the first area's; the office the agent reports to is
    that province's labour office (``ops.TH-52``). A volunteer abroad reports
    to the ministry's overseas labour office for the country.
    """
    areas = agent.get("areas") or []
    if areas:
        province_code = areas[0]["province_code"]
        info = geography.province(province_code)
        region = info.region if info is not None else "unknown"
        return province_code, region, f"ops.{province_code}"
    country = agent.get("abroad_country") or "XX"
    return None, "abroad", f"ops.abroad.{country}"


def check_areas(
    areas: Sequence[dict[str, Any]], prefix: str = "areas"
) -> list[dict[str, Any]]:
    """Validate coverage areas against the gazetteer; fill in parent codes.

    Raises:
        AgentInvalid: naming ``areas.<i>.<code field>`` for each problem.
    """
    errors: list[FieldError] = []
    checked: list[dict[str, Any]] = []
    for i, area in enumerate(areas):
        try:
            place = geography.resolve_location(
                area.get("province_code"),  # type: ignore[arg-type]
                area.get("district_code"),
                area.get("subdistrict_code"),
                field_prefix=f"{prefix}.{i}",
            )
        except geography.LocationError as exc:
            errors.extend(FieldError(e.field, e.code) for e in exc.errors)
            continue
        checked.append(
            {
                "province_code": place.province_code,
                "district_code": place.district_code,
                "subdistrict_code": place.subdistrict_code,
            }
        )
    if errors:
        raise AgentInvalid(errors)
    # the same place twice is one place
    unique = {tuple(sorted(a.items(), key=lambda kv: kv[0])): a for a in checked}
    return list(unique.values())


def check_place(agent: dict[str, Any]) -> None:
    """An agent works in Thailand (areas) or abroad (a country), not both."""
    if agent.get("areas") and agent.get("abroad_country"):
        raise AgentInvalid([FieldError("abroad_country", "place_conflict")])
    if not agent.get("areas") and not agent.get("abroad_country"):
        raise AgentInvalid([FieldError("areas", "place_required")])
    start, end = agent.get("start_date"), agent.get("term_end")
    if start and end and end < start:
        raise AgentInvalid([FieldError("term_end", "term_before_start")])


def area_tuple(area: dict[str, Any]) -> Area:
    """An area as (province, district, subdistrict), for sorting and comparing."""
    return (
        area["province_code"],
        area.get("district_code"),
        area.get("subdistrict_code"),
    )
