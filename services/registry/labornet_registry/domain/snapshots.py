"""The field agent as events, fingerprints and readers see it.

An agent's input is the *agent input* dict that both the API schema and the
roster reader produce; :data:`ROSTER_FIELDS` are the ones a roster sets.
Events carry a snapshot without the national ID.
"""

from __future__ import annotations

from typing import Any

from labornet_registry.domain.names import full_name
from labornet_registry.domain.places import area_tuple, home_of
from labornet_registry.models import Agent
from labornet_shared.clock import aware
from labornet_shared.events import Event, make_event

# the outbox the registry's events are written to
SERVICE = "registry"

# The fields a roster row sets; a re-import compares exactly these.
ROSTER_FIELDS: tuple[str, ...] = (
    "kind",
    "first_name_th",
    "last_name_th",
    "first_name_en",
    "last_name_en",
    "phone",
    "email",
    "line_user_id",
    "languages",
    "areas",
    "abroad_country",
    "abroad_city",
    "start_date",
    "term_end",
)


def fingerprint(agent: dict[str, Any]) -> dict[str, Any]:
    """The roster fields in comparable form (areas as a sorted list)."""
    view: dict[str, Any] = {name: agent.get(name) for name in ROSTER_FIELDS}
    view["areas"] = sorted(area_tuple(a) for a in agent.get("areas") or [])
    view["languages"] = list(agent.get("languages") or [])
    return view


def _area_rows(agent: Agent) -> list[dict[str, Any]]:
    return [
        {
            "province_code": row.province_code,
            "district_code": row.district_code,
            "subdistrict_code": row.subdistrict_code,
        }
        for row in agent.areas
    ]


def agent_view(agent: Agent, with_training: bool = True) -> dict[str, Any]:
    """An agent row as an agent-input dict (plus its own columns).

    Without training records when the caller does not need them: they are
    loaded one agent at a time, which thousands of agents would feel.
    """
    view = {
        "id": agent.id,
        "kind": agent.kind,
        "status": agent.status,
        "first_name_th": agent.first_name_th,
        "last_name_th": agent.last_name_th,
        "first_name_en": agent.first_name_en,
        "last_name_en": agent.last_name_en,
        "national_id": agent.national_id,
        "phone": agent.phone,
        "email": agent.email,
        "line_user_id": agent.line_user_id,
        "languages": [row.language for row in agent.languages],
        "areas": _area_rows(agent),
        "abroad_country": agent.abroad_country,
        "abroad_city": agent.abroad_city,
        "start_date": agent.start_date,
        "term_end": agent.term_end,
        "office": agent.office,
        "region": agent.region,
        "province_code": agent.province_code,
        "revision": agent.revision,
        "deactivation_reason": agent.deactivation_reason,
        "created_at": aware(agent.created_at),
        "updated_at": aware(agent.updated_at),
    }
    if with_training:
        view["training"] = [
            {
                "course": row.course,
                "completed_on": row.completed_on,
                "certificate": row.certificate,
            }
            for row in agent.training
        ]
    return view


def summary_view(agent: Agent) -> dict[str, Any]:
    """An agent as lists and coverage show it: no national ID, no training
    (which a page of summaries would otherwise load for nothing)."""
    return {
        "id": agent.id,
        "kind": agent.kind,
        "status": agent.status,
        "name_th": f"{agent.first_name_th} {agent.last_name_th}",
        "name_en": full_name(agent.first_name_en, agent.last_name_en),
        "phone": agent.phone,
        "languages": [row.language for row in agent.languages],
        "areas": _area_rows(agent),
        "abroad_country": agent.abroad_country,
        "abroad_city": agent.abroad_city,
        "office": agent.office,
    }


def snapshot_payload(
    agent_id: str, status: str, revision: int, agent: dict[str, Any]
) -> dict[str, Any]:
    """The ``agent_registered``/``agent_updated`` payload: no national ID."""
    _province, _region, office = home_of(agent)
    term_end = agent.get("term_end")
    return {
        "agent_id": agent_id,
        "revision": revision,
        "kind": agent["kind"],
        "status": status,
        "name_th": full_name(agent["first_name_th"], agent["last_name_th"]),
        "name_en": full_name(agent.get("first_name_en"), agent.get("last_name_en")),
        "languages": list(agent.get("languages") or []),
        "areas": [
            {
                "province_code": a["province_code"],
                "district_code": a.get("district_code"),
                "subdistrict_code": a.get("subdistrict_code"),
            }
            for a in agent.get("areas") or []
        ],
        "abroad_country": agent.get("abroad_country"),
        "abroad_city": agent.get("abroad_city"),
        "office": office,
        "term_end": term_end.isoformat() if term_end else None,
        "contact": {
            "phone": agent.get("phone"),
            "email": agent.get("email"),
            "line_user_id": agent.get("line_user_id"),
        },
    }


def registered_event(
    agent_id: str, agent: dict[str, Any], status: str, validate: bool = True
) -> Event:
    """``agent_registered`` for a new agent (revision 1)."""
    return make_event(
        "agent_registered",
        snapshot_payload(agent_id, status, 1, agent),
        validate_payload=validate,
    )


def updated_event(
    agent_id: str,
    agent: dict[str, Any],
    status: str,
    revision: int,
    changed: list[str],
    validate: bool = True,
) -> Event:
    """``agent_updated``: the new snapshot and the fields that changed."""
    return make_event(
        "agent_updated",
        {**snapshot_payload(agent_id, status, revision, agent), "changed": changed},
        validate_payload=validate,
    )
