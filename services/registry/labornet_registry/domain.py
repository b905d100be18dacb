"""registry's rules: who the field agents are, where they work, and what
changes about them.

Plain Python over a SQLAlchemy session. Every change writes its event
(``agent_registered``, ``agent_updated``, ``agent_deactivated``) to the outbox
in the same transaction (:mod:`labornet_shared.outbox`). An agent's input
arrives as the *agent input* dict that both the API schema and the roster
reader produce (see :data:`ROSTER_FIELDS`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import geothai
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from labornet_registry.models import (
    Agent,
    AgentArea,
    AgentLanguage,
    AgentNameKey,
    AuditLogEntry,
    RosterImport,
    TrainingRecord,
)
from labornet_shared.db import bulk_insert
from labornet_shared.events import Event, make_event
from labornet_shared.ids import new_time_ordered_id
from labornet_shared.outbox import add_event, add_events
from labornet_shared.problems import FieldError
from labornet_shared.reference import geography
from labornet_shared.tokens import Principal

SERVICE = "registry"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, in UTC (the default clock)."""
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes: they are UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


# --- errors ------------------------------------------------------------------


class AgentNotFound(LookupError):
    """No such agent, or not one this principal may see."""


class AgentInvalid(ValueError):
    """The agent's data breaks a rule; one entry per field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(",".join(f"{e.field}:{e.code}" for e in errors))
        self.errors = errors


class AgentExists(ValueError):
    """An agent with this national ID is already registered."""

    def __init__(self, agent_id: str) -> None:
        super().__init__("agent_exists")
        self.agent_id = agent_id


class AgentNotActive(ValueError):
    """The agent is already inactive."""


# --- ids, names, places ------------------------------------------------------


def new_agent_id(now_ns: int | None = None) -> str:
    """A time-ordered UUID (version 7): registration order, nothing guessable."""
    return new_time_ordered_id(now_ns)


_NAME_NOISE = re.compile(r"[\s.\-'’]+")


def normalise_name(text: str) -> str:
    """A name as search compares it: lower case, no spaces, dots or dashes."""
    return _NAME_NOISE.sub("", text).casefold()


def name_keys(agent: dict[str, Any]) -> set[str]:
    """The keys an agent is found under by prefix.

    The last name alone and the whole name run together, in Thai and in
    Latin script, because Thai is typed without spaces ("สมชายใจ" → สมชาย
    ใจดี). The first name needs no key of its own: every prefix of it is a
    prefix of the whole name (a third fewer rows for a national import).
    """
    first_th, last_th = agent["first_name_th"], agent["last_name_th"]
    first_en, last_en = agent.get("first_name_en"), agent.get("last_name_en")
    keys = {normalise_name(last_th), normalise_name(first_th + last_th)}
    if first_en and last_en:
        keys.update((normalise_name(last_en), normalise_name(first_en + last_en)))
    else:
        keys.update(normalise_name(name) for name in (first_en, last_en) if name)
    return {key[:200] for key in keys if key}


def search_terms(text: str) -> list[str]:
    """The prefixes a free-text query asks for: each word, normalised."""
    return [t for t in (normalise_name(w) for w in text.split()) if t][:5]


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


# --- the agent as events and fingerprints see it -----------------------------

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


def _area_tuple(area: dict[str, Any]) -> tuple[str, str | None, str | None]:
    return (
        area["province_code"],
        area.get("district_code"),
        area.get("subdistrict_code"),
    )


def fingerprint(agent: dict[str, Any]) -> dict[str, Any]:
    """The roster fields in comparable form (areas as a sorted list)."""
    view: dict[str, Any] = {name: agent.get(name) for name in ROSTER_FIELDS}
    view["areas"] = sorted(_area_tuple(a) for a in agent.get("areas") or [])
    view["languages"] = list(agent.get("languages") or [])
    return view


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
        "areas": [
            {
                "province_code": row.province_code,
                "district_code": row.district_code,
                "subdistrict_code": row.subdistrict_code,
            }
            for row in agent.areas
        ],
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
        "name_en": _full_name(agent.first_name_en, agent.last_name_en),
        "phone": agent.phone,
        "languages": [row.language for row in agent.languages],
        "areas": [
            {
                "province_code": row.province_code,
                "district_code": row.district_code,
                "subdistrict_code": row.subdistrict_code,
            }
            for row in agent.areas
        ],
        "abroad_country": agent.abroad_country,
        "abroad_city": agent.abroad_city,
        "office": agent.office,
    }


def _full_name(first: str | None, last: str | None) -> str | None:
    names = [name for name in (first, last) if name]
    return " ".join(names) or None


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
        "name_th": _full_name(agent["first_name_th"], agent["last_name_th"]),
        "name_en": _full_name(agent.get("first_name_en"), agent.get("last_name_en")),
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


# --- writing agents ----------------------------------------------------------


def _agent_columns(
    agent_id: str, agent: dict[str, Any], status: str, now: datetime
) -> dict[str, Any]:
    province_code, region, office = home_of(agent)
    return {
        "id": agent_id,
        "kind": agent["kind"],
        "status": status,
        "first_name_th": agent["first_name_th"],
        "last_name_th": agent["last_name_th"],
        "first_name_en": agent.get("first_name_en"),
        "last_name_en": agent.get("last_name_en"),
        "national_id": agent["national_id"],
        "phone": agent.get("phone"),
        "email": agent.get("email"),
        "line_user_id": agent.get("line_user_id"),
        "province_code": province_code,
        "region": region,
        "abroad_country": agent.get("abroad_country"),
        "abroad_city": agent.get("abroad_city"),
        "office": office,
        "start_date": agent.get("start_date"),
        "term_end": agent.get("term_end"),
        "revision": 1,
        "deactivation_reason": None,
        "created_at": now,
        "updated_at": now,
    }


@dataclass
class _ChildRows:
    """Rows of the child tables for many agents, inserted in one go each."""

    areas: list[dict[str, Any]] = field(default_factory=list)
    languages: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    training: list[dict[str, Any]] = field(default_factory=list)

    def add(self, agent_id: str, agent: dict[str, Any]) -> None:
        for area in agent.get("areas") or []:
            self.areas.append(
                {
                    "agent_id": agent_id,
                    "province_code": area["province_code"],
                    "district_code": area.get("district_code"),
                    "subdistrict_code": area.get("subdistrict_code"),
                }
            )
        for position, language in enumerate(agent.get("languages") or []):
            self.languages.append(
                {"agent_id": agent_id, "language": language, "position": position}
            )
        for key in sorted(name_keys(agent)):
            self.keys.append({"agent_id": agent_id, "key": key})
        for record in agent.get("training") or []:
            self.training.append({"agent_id": agent_id, **record})

    def insert(self, session: Session) -> None:
        for table, rows in (
            (AgentArea.__table__, self.areas),
            (AgentLanguage.__table__, self.languages),
            (AgentNameKey.__table__, self.keys),
            (TrainingRecord.__table__, self.training),
        ):
            bulk_insert(session, table, rows)  # type: ignore[arg-type]


def _delete_children(
    session: Session, agent_ids: Sequence[str], *, training: bool
) -> None:
    tables: list[Any] = [AgentArea, AgentLanguage, AgentNameKey]
    if training:
        tables.append(TrainingRecord)
    for start in range(0, len(agent_ids), 500):
        chunk = agent_ids[start : start + 500]
        for model in tables:
            session.execute(delete(model).where(model.agent_id.in_(chunk)))


def _registered_event(
    agent_id: str, agent: dict[str, Any], status: str, validate: bool = True
) -> Event:
    return make_event(
        "agent_registered",
        snapshot_payload(agent_id, status, 1, agent),
        validate_payload=validate,
    )


def register_agent(
    session: Session, agent: dict[str, Any], clock: Clock = utc_now
) -> str:
    """Register one agent (API); returns the new agent id.

    Raises:
        AgentInvalid: a place or date rule is broken.
        AgentExists: the national ID is already registered.
    """
    agent = {**agent, "areas": check_areas(agent.get("areas") or [])}
    check_place(agent)
    existing = session.scalar(
        select(Agent.id).where(Agent.national_id == agent["national_id"])
    )
    if existing is not None:
        raise AgentExists(existing)
    agent_id = new_agent_id()
    status = agent.get("status") or "active"
    session.connection().execute(
        insert(Agent.__table__), [_agent_columns(agent_id, agent, status, clock())]
    )
    children = _ChildRows()
    children.add(agent_id, agent)
    children.insert(session)
    add_event(session, SERVICE, _registered_event(agent_id, agent, status))
    return agent_id


def _load_agent(session: Session, agent_id: str) -> Agent | None:
    try:
        uuid.UUID(agent_id)
    except ValueError:
        return None
    return session.get(Agent, agent_id)


def may_see_agent(principal: Principal | None, agent_id: str) -> bool:
    """Operators see every agent; an agent only themself."""
    if principal is None:
        return False
    if principal.is_operator:
        return True
    return principal.scope == "agent" and principal.agent_id == agent_id


# an agent token may change only these of its own record
SELF_SERVICE_FIELDS = frozenset({"phone", "email", "line_user_id", "languages"})


def update_agent(
    session: Session,
    agent_id: str,
    changes: dict[str, Any],
    principal: Principal,
    clock: Clock = utc_now,
) -> Agent:
    """Change an agent (PATCH); emits one ``agent_updated`` if anything changed.

    Raises:
        AgentNotFound: no such agent, or not this principal's to change.
        AgentInvalid: a field the principal may not change, or a broken rule.
    """
    agent = _load_agent(session, agent_id)
    if agent is None or not may_see_agent(principal, agent_id):
        raise AgentNotFound()
    if not principal.is_operator:
        refused = sorted(set(changes) - SELF_SERVICE_FIELDS)
        if refused:
            raise AgentInvalid([FieldError(name, "read_only") for name in refused])
    before = agent_view(agent)
    after = {**before, **changes}
    if "areas" in changes:
        after["areas"] = check_areas(changes["areas"])
    check_place(after)
    changed = [
        name
        for name in (*ROSTER_FIELDS, "status", "training")
        if name in changes and _comparable(name, before) != _comparable(name, after)
    ]
    if changed:
        _apply_changes(session, agent, before, after, changed, clock)
    return agent


def _comparable(name: str, agent: dict[str, Any]) -> Any:
    if name == "areas":
        return sorted(_area_tuple(a) for a in agent.get("areas") or [])
    return agent.get(name)


def _apply_changes(
    session: Session,
    agent: Agent,
    before: dict[str, Any],
    after: dict[str, Any],
    changed: list[str],
    clock: Clock,
) -> None:
    """Write ``after`` over ``agent`` and emit its ``agent_updated``."""
    columns = _agent_columns(agent.id, after, after["status"], clock())
    for name in ("id", "national_id", "created_at", "revision", "deactivation_reason"):
        columns.pop(name)
    columns["revision"] = before["revision"] + 1
    if after["status"] == "active":
        columns["deactivation_reason"] = None
    session.execute(update(Agent).where(Agent.id == agent.id).values(**columns))
    _delete_children(session, [agent.id], training="training" in changed)
    children = _ChildRows()
    children.add(
        agent.id,
        {**after, "training": after["training"] if "training" in changed else []},
    )
    children.insert(session)
    payload = snapshot_payload(agent.id, after["status"], columns["revision"], after)
    add_event(
        session, SERVICE, make_event("agent_updated", {**payload, "changed": changed})
    )
    session.expire(agent)


def deactivate_agent(
    session: Session,
    agent_id: str,
    reason: str | None,
    clock: Clock = utc_now,
) -> Agent:
    """Make an agent inactive; emits ``agent_deactivated``.

    Raises:
        AgentNotFound: no such agent.
        AgentNotActive: already inactive.
    """
    agent = _load_agent(session, agent_id)
    if agent is None:
        raise AgentNotFound()
    if agent.status == "inactive":
        raise AgentNotActive()
    now = clock()
    revision = agent.revision + 1
    session.execute(
        update(Agent)
        .where(Agent.id == agent_id)
        .values(
            status="inactive",
            deactivation_reason=reason,
            revision=revision,
            updated_at=now,
        )
    )
    add_event(
        session,
        SERVICE,
        make_event(
            "agent_deactivated",
            {
                "agent_id": agent_id,
                "revision": revision,
                "kind": agent.kind,
                "reason": reason,
                "deactivated_at": now.isoformat(),
            },
        ),
    )
    session.expire(agent)
    return agent


# --- reading agents ----------------------------------------------------------


def audit(
    session: Session,
    principal: Principal,
    action: str,
    agent_id: str | None = None,
    detail: str | None = None,
    clock: Clock = utc_now,
) -> None:
    """Write who read agents' personal data (never the data itself)."""
    session.add(
        AuditLogEntry(
            occurred_at=clock(),
            actor_scope=principal.scope,
            actor=principal.agent_id or principal.subject,
            action=action,
            agent_id=agent_id,
            detail=detail,
        )
    )


def agent_for_principal(
    session: Session, agent_id: str, principal: Principal | None
) -> Agent:
    """One agent for an operator or the agent themself; the read is audited."""
    agent = _load_agent(session, agent_id)
    if agent is None or principal is None or not may_see_agent(principal, agent_id):
        raise AgentNotFound()
    audit(session, principal, "read_agent", agent_id)
    return agent


def _covering(*conditions: Any) -> Any:
    """Agents with an area meeting ``conditions``.

    ``IN (SELECT agent_id ...)``, not a correlated EXISTS: SQLite would walk
    every agent and probe the areas for each (hundreds of ms for the
    national network); this way it reads the few matching areas by index.
    """
    return Agent.id.in_(select(AgentArea.agent_id).where(*conditions))


def _area_filter(**codes: str | None) -> Any:
    return _covering(
        *(
            getattr(AgentArea, f"{level}_code") == code
            for level, code in codes.items()
            if code is not None
        )
    )


def search_agents(
    session: Session,
    filters: dict[str, Any],
    principal: Principal,
    limit: int,
    after_id: str | None = None,
) -> tuple[list[Agent], str | None]:
    """A page of agents matching ``filters``, in registration order.

    Filters: kind, status, region, country (abroad), province, district,
    subdistrict (agents covering that area or a place inside it), language,
    and ``q``: every word must begin one of the agent's names (Thai or Latin,
    or the whole name run together).
    """
    query = select(Agent).order_by(Agent.id)
    for name, column in (
        ("kind", Agent.kind),
        ("status", Agent.status),
        ("region", Agent.region),
        ("country", Agent.abroad_country),
    ):
        if filters.get(name) is not None:
            query = query.where(column == filters[name])
    places = {
        level: filters.get(level)
        for level in ("province", "district", "subdistrict")
        if filters.get(level) is not None
    }
    if places:
        query = query.where(_area_filter(**places))
    if filters.get("language") is not None:
        query = query.where(
            Agent.id.in_(
                select(AgentLanguage.agent_id).where(
                    AgentLanguage.language == filters["language"]
                )
            )
        )
    for term in search_terms(filters.get("q") or ""):
        # a prefix is the range [term, term + the highest code point)
        query = query.where(
            Agent.id.in_(
                select(AgentNameKey.agent_id).where(
                    AgentNameKey.key >= term,
                    AgentNameKey.key < term + "\U0010ffff",
                )
            )
        )
    if after_id is not None:
        query = query.where(Agent.id > after_id)
    agents = list(session.scalars(query.limit(limit + 1)))
    next_id = agents[limit - 1].id if len(agents) > limit else None
    agents = agents[:limit]
    audit(
        session,
        principal,
        "list_agents",
        detail=f"{len(agents)} agents",
    )
    return agents, next_id


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
    levels: list[tuple[str, Any]] = []
    if country is not None:
        levels.append(("country", Agent.abroad_country == country))
    else:
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
        if place["subdistrict_code"]:
            levels.append(
                (
                    "subdistrict",
                    _area_filter(subdistrict=place["subdistrict_code"]),
                )
            )
        if place["district_code"]:
            levels.append(
                (
                    "district",
                    _covering(
                        AgentArea.district_code == place["district_code"],
                        AgentArea.subdistrict_code.is_(None),
                    ),
                )
            )
        levels.append(
            (
                "province",
                _covering(
                    AgentArea.province_code == place["province_code"],
                    AgentArea.district_code.is_(None),
                ),
            )
        )
    entries: list[CoverageEntry] = []
    seen: set[str] = set()
    for level, condition in levels:
        agents = session.scalars(
            select(Agent).where(Agent.status == "active", condition).order_by(Agent.id)
        ).all()
        ranked = sorted(
            agents,
            key=lambda a: (
                not (language and language in [row.language for row in a.languages]),
                a.kind != "labour_graduate",
            ),
        )
        for agent in ranked:
            if agent.id not in seen:
                seen.add(agent.id)
                entries.append(CoverageEntry(level, agent))
    audit(session, principal, "read_coverage", detail=f"{len(entries)} agents")
    return entries


def network_stats(session: Session) -> dict[str, Any]:
    """Counts by kind × region × province × status, and coverage gaps.

    A district is a gap when no active agent covers it or a subdistrict in it
    (the province's graduates of the whole province do not fill it: the
    inspection bureau asks which districts have nobody on the ground).
    """
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
    counts = [
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
    totals: dict[str, dict[str, int]] = {}
    for row in counts:
        by_status = totals.setdefault(row["kind"], {})
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["agents"]
    covered = set(
        session.scalars(
            select(AgentArea.district_code)
            .join(Agent, Agent.id == AgentArea.agent_id)
            .where(Agent.status == "active", AgentArea.district_code.is_not(None))
            .distinct()
        )
    )
    gaps = [
        {
            "district_code": district.code,
            "name_th": district.name_th,
            "name_en": district.name_en,
            "province_code": f"TH-{district.province_code}",
        }
        for district in _all_districts()
        if district.code not in covered
    ]
    return {
        "totals": totals,
        "counts": counts,
        "districts": len(_all_districts()),
        "districts_covered": len(_all_districts()) - len(gaps),
        "coverage_gaps": gaps,
    }


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


def export_agents(
    session: Session, principal: Principal, batch: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every agent as an agent-input dict (plus id and status), in id order.

    The export is audited once, before the first agent is read.
    """
    audit(session, principal, "export_agents")
    after = ""
    while True:
        agents = session.scalars(
            select(Agent).where(Agent.id > after).order_by(Agent.id).limit(batch)
        ).all()
        if not agents:
            return
        for agent in agents:
            yield agent_view(agent, with_training=False)
        after = agents[-1].id
        session.expunge_all()


# --- roster import -----------------------------------------------------------


@dataclass
class ImportOutcome:
    """What an import did (or, dry-run, would do)."""

    registered: int = 0
    updated: int = 0
    unchanged: int = 0
    registered_ids: list[str] = field(default_factory=list)
    updated_ids: list[str] = field(default_factory=list)


def _stored_fingerprints(
    session: Session, national_ids: Sequence[str]
) -> dict[str, tuple[str, int, str, dict[str, Any]]]:
    """national ID -> (agent id, revision, status, fingerprint) of stored agents."""
    found: dict[str, tuple[str, int, str, dict[str, Any]]] = {}
    for start in range(0, len(national_ids), 500):
        chunk = national_ids[start : start + 500]
        rows = session.execute(
            select(Agent).where(Agent.national_id.in_(chunk))
        ).scalars()
        for agent in rows:
            view = agent_view(agent, with_training=False)
            found[agent.national_id] = (
                agent.id,
                agent.revision,
                agent.status,
                fingerprint(view),
            )
        session.expunge_all()
    return found


def import_agents(
    session: Session,
    agents: Sequence[dict[str, Any]],
    *,
    dry_run: bool = False,
    clock: Clock = utc_now,
    progress: Callable[[int], None] | None = None,
    chunk: int = 1000,
    after_chunk: Callable[[], None] | None = None,
) -> ImportOutcome:
    """Upsert validated roster rows by national ID, in the caller's transaction.

    A new national ID registers an agent (``agent_registered``); a known one
    whose roster fields differ is updated (one ``agent_updated`` naming the
    changed fields); an identical one is left alone and emits nothing. An
    agent's status is not the roster's to change: an inactive agent stays
    inactive until an operator reactivates them. ``progress`` is called with
    the number of rows handled after each chunk.

    ``after_chunk`` is called once each chunk's agents and events are
    written: the CLI commits there, so that its relay publishes one chunk's
    events while the next chunk is written. Each chunk is then complete on
    its own (agents, child rows, events), and a re-import after a failure
    registers only what is missing.
    """
    outcome = ImportOutcome()
    stored = _stored_fingerprints(session, [a["national_id"] for a in agents])
    now = clock()
    for start in range(0, len(agents), chunk):
        new_rows: list[dict[str, Any]] = []
        events: list[Event] = []
        children = _ChildRows()
        changed_ids: list[str] = []
        updates: list[tuple[str, dict[str, Any], int, str, list[str]]] = []
        for agent in agents[start : start + chunk]:
            known = stored.get(agent["national_id"])
            if known is None:
                agent_id = new_agent_id()
                outcome.registered += 1
                outcome.registered_ids.append(agent_id)
                new_rows.append(_agent_columns(agent_id, agent, "active", now))
                children.add(agent_id, agent)
                # validating one payload per chunk catches a payload bug;
                # validating all 8,879 of a national roster doubles its time
                events.append(
                    _registered_event(agent_id, agent, "active", validate=not events)
                )
                continue
            agent_id, revision, status, before = known
            after = fingerprint(agent)
            changed = [name for name in ROSTER_FIELDS if before[name] != after[name]]
            if not changed:
                outcome.unchanged += 1
                continue
            outcome.updated += 1
            outcome.updated_ids.append(agent_id)
            changed_ids.append(agent_id)
            updates.append((agent_id, agent, revision + 1, status, changed))
        if not dry_run:
            _write_import_chunk(session, new_rows, children, changed_ids, updates, now)
            add_events(
                session,
                SERVICE,
                events
                + [
                    make_event(
                        "agent_updated",
                        {
                            **snapshot_payload(agent_id, status, revision, agent),
                            "changed": changed,
                        },
                        validate_payload=i == 0,
                    )
                    for i, (agent_id, agent, revision, status, changed) in enumerate(
                        updates
                    )
                ],
            )
            if after_chunk is not None:
                after_chunk()
        if progress is not None:
            progress(min(start + chunk, len(agents)))
    if not dry_run and outcome.registered + outcome.updated >= ANALYZE_AFTER_ROWS:
        refresh_statistics(session)
    return outcome


# a bulk change this large makes the planner's statistics stale
ANALYZE_AFTER_ROWS = 500


def refresh_statistics(session: Session) -> None:
    """Let the query planner see the network as it now is.

    Right after a national roster is loaded PostgreSQL believes the tables
    are nearly empty (autovacuum has not analysed them yet) and SQLite has no
    statistics at all; searches then pick slow plans.
    """
    tables = ("agents", "agent_areas", "agent_languages", "agent_name_keys")
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {', '.join(tables)}"))
    else:
        for table in tables:
            session.execute(text(f"ANALYZE {table}"))


def _write_import_chunk(
    session: Session,
    new_rows: list[dict[str, Any]],
    children: _ChildRows,
    changed_ids: list[str],
    updates: list[tuple[str, dict[str, Any], int, str, list[str]]],
    now: datetime,
) -> None:
    connection = session.connection()
    bulk_insert(session, Agent.__table__, new_rows)  # type: ignore[arg-type]
    if changed_ids:
        # the roster does not carry training records: keep them
        _delete_children(session, changed_ids, training=False)
    for agent_id, agent, revision, status, _changed in updates:
        columns = _agent_columns(agent_id, agent, status, now)
        for name in ("id", "national_id", "created_at", "deactivation_reason"):
            columns.pop(name)
        columns["revision"] = revision
        connection.execute(
            update(Agent.__table__).where(Agent.__table__.c.id == agent_id),
            columns,
        )
        children.add(agent_id, {**agent, "training": []})
    children.insert(session)


def record_import(
    session: Session,
    principal: Principal,
    *,
    filename: str,
    mode: str,
    rows_read: int,
    outcome: ImportOutcome,
    rejected: int,
    rejected_csv: bytes | None,
    clock: Clock = utc_now,
) -> RosterImport:
    """Keep an import's report, so its rejected rows can be downloaded."""
    report = RosterImport(
        filename=filename[:255],
        actor=principal.agent_id or principal.subject,
        mode=mode,
        rows_read=rows_read,
        registered=outcome.registered,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
        rejected=rejected,
        rejected_csv=rejected_csv,
        created_at=clock(),
    )
    session.add(report)
    session.flush()
    return report


def roster_import(session: Session, import_id: int) -> RosterImport | None:
    """A stored import report."""
    return session.get(RosterImport, import_id)


def roster_view(agent: dict[str, Any]) -> dict[str, Any]:
    """An agent as a roster row (the importer's columns), for the export."""
    areas = agent.get("areas") or [{}]
    first = areas[0]
    return {
        "kind": agent["kind"],
        "first_name_th": agent["first_name_th"],
        "last_name_th": agent["last_name_th"],
        "first_name_en": agent.get("first_name_en") or "",
        "last_name_en": agent.get("last_name_en") or "",
        "national_id": agent["national_id"],
        "phone": agent.get("phone") or "",
        "email": agent.get("email") or "",
        "line_user_id": agent.get("line_user_id") or "",
        "languages": ",".join(agent.get("languages") or []),
        "province_code": first.get("province_code") or "",
        "district": first.get("district_code") or "",
        "subdistrict": first.get("subdistrict_code") or "",
        "abroad_country": agent.get("abroad_country") or "",
        "abroad_city": agent.get("abroad_city") or "",
        "start_date": _iso(agent.get("start_date")),
        "term_end": _iso(agent.get("term_end")),
    }


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""
