"""Taking a case in: once per Idempotency-Key, its location checked against
the gazetteer, its rows and ``case_received`` written in one transaction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from labornet_intake.domain.cases import (
    SERVICE,
    CaseInvalid,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
)
from labornet_intake.domain.tracking import tracking_code
from labornet_intake.models import Case, CitizenContact, IdempotencyKey, TimelineEntry
from labornet_shared.clock import Clock, as_utc, now_from, utc_now
from labornet_shared.events import event_location, make_event
from labornet_shared.outbox import add_event
from labornet_shared.problems import FieldError
from labornet_shared.reference import (
    LocationError,
    ResolvedLocation,
    buddhist_year,
    resolve_location,
)
from labornet_shared.tokens import Principal
from labornet_shared.written_language import written_language


@dataclass(frozen=True)
class SubmittedCase:
    """A case just taken in, with the secret only its submitter sees.

    ``case`` is a snapshot of the rows written, not attached to the session:
    change a case through :func:`_load_case`'s rows, not through it.
    """

    case: Case
    tracking_code: str


def request_fingerprint(body: Any) -> str:
    """A stable hash of a request body, to tell a retry from a new request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def reserve_idempotency_key(
    session: Session, client: str, key: str, fingerprint: str, clock: Clock = utc_now
) -> IdempotencyKey | str:
    """Claim ``key`` for this client, or return the reference it made before.

    Two concurrent requests with one key: the second waits on the unique
    index until the first commits, then finds its case.
    """
    existing = _idempotency_row(session, client, key)
    if existing is None:
        # INSERT .. ON CONFLICT DO NOTHING, not a savepoint: under pysqlite a
        # SAVEPOINT opened before any write is the outermost transaction and
        # its RELEASE commits the key alone, so a request that then failed
        # left its key "in progress" for ever.
        values = {
            "client": client,
            "key": key,
            "request_hash": fingerprint,
            "created_at": now_from(clock),
        }
        unique = ["client", "key"]
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            statement: Any = (
                postgresql_insert(IdempotencyKey)
                .values(values)
                .on_conflict_do_nothing(index_elements=unique)
            )
        elif dialect == "sqlite":
            statement = (
                sqlite_insert(IdempotencyKey)
                .values(values)
                .on_conflict_do_nothing(index_elements=unique)
            )
        else:  # pragma: no cover - labornet runs on SQLite and PostgreSQL
            raise RuntimeError(f"unsupported database {dialect}")
        inserted = session.execute(statement)
        existing = _idempotency_row(session, client, key)
        if existing is None:  # pragma: no cover - deleted meanwhile
            raise IdempotencyKeyInProgress()
        if getattr(inserted, "rowcount", 0) == 1:
            return existing
    if existing.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    if existing.case_reference is None:
        raise IdempotencyKeyInProgress()
    return existing.case_reference


def _idempotency_row(session: Session, client: str, key: str) -> IdempotencyKey | None:
    return session.scalars(
        select(IdempotencyKey).where(
            IdempotencyKey.client == client, IdempotencyKey.key == key
        )
    ).first()


def submit_case(
    session: Session,
    data: dict[str, Any],
    *,
    principal: Principal | None,
    pepper: str,
    clock: Clock = utc_now,
) -> SubmittedCase:
    """Store a validated case, its contact and first timeline entry, and
    write ``case_received`` to the outbox, all in the caller's transaction."""
    resolved = _resolved_location(data["location"])
    now = now_from(clock)
    case = _new_case(data, resolved, principal, now)
    contact = _new_contact(data)
    # The hot path of the service: plain INSERTs with constant statements
    # (the ORM's unit of work, or even building a statement per request,
    # costs more than the rest of the request); the id the database issues
    # is the case's number.
    connection = session.connection()
    case.id = connection.execute(_INSERT_CASE, _columns(case)).scalar_one()
    contact.case_id = case.id
    connection.execute(_INSERT_CONTACT, _columns(contact))
    connection.execute(
        _INSERT_TIMELINE,
        {"case_id": case.id, "status": "received", "occurred_at": now},
    )
    case.contact = contact
    add_event(
        session,
        SERVICE,
        make_event(
            "case_received",
            case_received_payload(case, now),
            correlation_id=case.reference,
            occurred_at=now,
        ),
    )
    return SubmittedCase(case, tracking_code(pepper, case.reference))


def _resolved_location(location: dict[str, Any]) -> ResolvedLocation:
    """The case's place checked against the gazetteer (:class:`CaseInvalid`
    naming the ``location`` fields that do not fit)."""
    try:
        return resolve_location(
            location["province_code"],
            district_code=location.get("district_code"),
            subdistrict_code=location.get("subdistrict_code"),
            postcode=location.get("postcode"),
            lat=location.get("lat"),
            long=location.get("long"),
            address=location.get("address"),
            field_prefix="location",
        )
    except LocationError as exc:
        raise CaseInvalid([FieldError(e.field, e.code) for e in exc.errors]) from exc


def _new_case(
    data: dict[str, Any],
    resolved: ResolvedLocation,
    principal: Principal | None,
    now: datetime,
) -> Case:
    """The case's row, received ``now``; a field agent's web submission is
    the ``field_agent`` channel."""
    citizen = data.get("citizen") or {}
    agent_id = principal.agent_id if principal and principal.scope == "agent" else None
    channel = data["channel"]
    if agent_id and channel == "web":
        channel = "field_agent"
    language, chosen = case_language(citizen.get("language"), data["description"])
    return Case(
        status="received",
        category=data.get("category"),
        description=data["description"],
        channel=channel,
        language=language,
        language_chosen=chosen,
        province_code=resolved.province_code,
        district_code=resolved.district_code,
        subdistrict_code=resolved.subdistrict_code,
        postcode=resolved.postcode,
        lat=resolved.lat,
        long=resolved.long,
        coordinates_source=resolved.coordinates_source,
        address=resolved.address,
        abroad_country=data.get("abroad_country"),
        submitted_by_agent_id=agent_id,
        created_at=now,
        updated_at=now,
        be_year=buddhist_year(now),
    )


def case_language(chosen: str | None, description: str) -> tuple[str, bool]:
    """(language, whether the citizen chose it): the citizen's choice, else
    the language ``description`` is written in — the rule routing's
    screening reads it by — and Thai when its script says nothing."""
    if chosen:
        return chosen, True
    return written_language(description) or "th", False


def _new_contact(data: dict[str, Any]) -> CitizenContact:
    """The citizen's contact row and what they consented to."""
    citizen = data.get("citizen") or {}
    consent = data.get("consent") or {}
    return CitizenContact(
        name=citizen.get("name"),
        phone=citizen.get("phone"),
        email=citizen.get("email"),
        national_id=citizen.get("national_id"),
        line_user_id=citizen.get("line_user_id"),
        contact_channel=citizen.get("contact_channel") or "none",
        consent_purpose=consent.get("purpose"),
        consent_given_at=as_utc(consent.get("given_at")),
        agencies_may_contact=bool(consent.get("agencies_may_contact")),
    )


def _columns(row: Any) -> dict[str, Any]:
    """The column values set on a transient ORM object, for a Core INSERT."""
    return {
        column.key: getattr(row, column.key)
        for column in row.__table__.columns
        if column.key in row.__dict__
    }


_cases = Case.__table__
_INSERT_CASE = _cases.insert().returning(_cases.c.id)
_INSERT_CONTACT = CitizenContact.__table__.insert()
_INSERT_TIMELINE = TimelineEntry.__table__.insert()


#: the case's place as codes and coordinates (events, API)
case_location = event_location


def case_received_payload(case: Case, received_at: datetime) -> dict[str, Any]:
    """What routing needs to screen and refer a case — no personal data."""
    return {
        "reference": case.reference,
        "category": case.category,
        "description": case.description,
        "location": case_location(case),
        "channel": case.channel,
        "language": case.language,
        "language_chosen": case.language_chosen,
        "abroad_country": case.abroad_country,
        "submitted_by_agent_id": case.submitted_by_agent_id,
        "received_at": received_at.isoformat(),
    }


def complete_idempotency_key(row: IdempotencyKey, reference: str) -> None:
    """Remember which case this key made."""
    row.case_reference = reference


@dataclass(frozen=True)
class Accepted:
    """What the submitter is told: the case's reference and tracking code."""

    reference: str
    tracking_code: str
    channel: str | None = None
    replayed: bool = False


def take_case_in(
    session: Session,
    data: dict[str, Any],
    *,
    principal: Principal | None,
    pepper: str,
    idempotency_key: str | None = None,
    fingerprint: str = "",
    clock: Clock = utc_now,
) -> Accepted:
    """Submit a case once per Idempotency-Key: a retry of the same request
    gets the case the first one made (raises IdempotencyKeyReused for a
    different body, IdempotencyKeyInProgress while the first runs)."""
    reservation = None
    if idempotency_key:
        client = principal.subject if principal else "anonymous"
        reservation = reserve_idempotency_key(
            session, client, idempotency_key, fingerprint, clock
        )
        if isinstance(reservation, str):
            return Accepted(
                reservation, tracking_code(pepper, reservation), replayed=True
            )
    submitted = submit_case(
        session, data, principal=principal, pepper=pepper, clock=clock
    )
    reference = submitted.case.reference
    if reservation is not None:
        complete_idempotency_key(reservation, reference)
    return Accepted(reference, submitted.tracking_code, submitted.case.channel)
