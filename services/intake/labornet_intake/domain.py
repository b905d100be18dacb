"""intake's rules: take a case in, let the citizen follow it, keep PDPA.

Plain Python over a SQLAlchemy session; no nameko, no HTTP. Every state
change that others must hear about writes its event to the outbox in the same
transaction (:func:`labornet_shared.outbox.add_event`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from labornet_intake.models import (
    AuditLogEntry,
    Case,
    CitizenContact,
    IdempotencyKey,
    TimelineEntry,
    outbox_messages,
)
from labornet_shared.events import make_event
from labornet_shared.outbox import add_event
from labornet_shared.problems import FieldError
from labornet_shared.reference import LocationError, buddhist_year, resolve_location
from labornet_shared.reference.case_reference import parse_case_reference
from labornet_shared.tokens import Principal

SERVICE = "intake"
OPEN_STATUSES = ("received", "routed", "in_progress")
ERASED = "[erased at the citizen's request]"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """An aware datetime converted to UTC before it is stored or compared.

    SQLite keeps the wall-clock digits and drops the offset, so 09:00+07:00
    stored as it is would read back as 09:00 UTC, seven hours off.
    """
    if moment is not None and moment.tzinfo is not None:
        return moment.astimezone(UTC)
    return moment


def _now(clock: Clock) -> datetime:
    """The clock's time in UTC (a naive time is taken as UTC)."""
    moment = clock()
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; they were stored as UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class CaseInvalid(Exception):
    """The case breaks a rule that schemas cannot check (the gazetteer)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(",".join(f"{e.field}:{e.code}" for e in errors))
        self.errors = errors


class CaseNotFound(Exception):
    """No such case for this caller (never says which)."""


class CaseNotOpen(Exception):
    """The case is closed or withdrawn already."""


class IdempotencyKeyReused(Exception):
    """The key was used before for a different request."""


class IdempotencyKeyInProgress(Exception):
    """The first request with this key has not finished yet."""


# --- references and tracking codes ------------------------------------------


def tracking_code(pepper: str, reference: str) -> str:
    """The citizen's secret for following a case: ``XXXXX-XXXXX``.

    Derived from the reference with a server secret, so it is never stored
    and a retried submission gets the same code back.
    """
    digest = hmac.new(pepper.encode(), f"tracking:{reference}".encode(), "sha256")
    # Crockford-like alphabet without look-alikes (0/O, 1/I) for the phone
    code = base64.b32encode(digest.digest()).decode()[:10]
    code = code.translate(str.maketrans("01OI", "ABCD"))
    return f"{code[:5]}-{code[5:]}"


def check_tracking_code(pepper: str, reference: str, code: str | None) -> bool:
    """Constant-time check of a tracking code (case and dash insensitive)."""
    if not code:
        return False
    given = code.strip().upper().replace(" ", "")
    if not given.isascii():
        # codes are ASCII (and compare_digest refuses other text: a 500)
        return False
    if "-" not in given and len(given) == 10:
        given = f"{given[:5]}-{given[5:]}"
    return hmac.compare_digest(given, tracking_code(pepper, reference))


# --- taking a case in ----------------------------------------------------------


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
            "created_at": _now(clock),
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
    location = data["location"]
    try:
        resolved = resolve_location(
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

    now = _now(clock)
    citizen = data.get("citizen") or {}
    agent_id = principal.agent_id if principal and principal.scope == "agent" else None
    channel = data["channel"]
    if agent_id and channel == "web":
        channel = "field_agent"
    case = Case(
        status="received",
        category=data.get("category"),
        description=data["description"],
        channel=channel,
        language=citizen.get("language") or "th",
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
    consent = data.get("consent") or {}
    contact = CitizenContact(
        name=citizen.get("name"),
        phone=citizen.get("phone"),
        email=citizen.get("email"),
        national_id=citizen.get("national_id"),
        line_user_id=citizen.get("line_user_id"),
        contact_channel=citizen.get("contact_channel") or "none",
        consent_purpose=consent.get("purpose"),
        consent_given_at=as_utc(consent.get("given_at")),
    )
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


def case_location(case: Case) -> dict[str, Any]:
    """The case's place as codes and coordinates (events, API)."""
    return {
        "province_code": case.province_code,
        "district_code": case.district_code,
        "subdistrict_code": case.subdistrict_code,
        "postcode": case.postcode,
        "lat": case.lat,
        "long": case.long,
    }


def case_received_payload(case: Case, received_at: datetime) -> dict[str, Any]:
    """What routing needs to screen and refer a case — no personal data."""
    return {
        "reference": case.reference,
        "category": case.category,
        "description": case.description,
        "location": case_location(case),
        "channel": case.channel,
        "language": case.language,
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


# --- reading -------------------------------------------------------------------


def _load_case(session: Session, reference: str) -> Case | None:
    parsed = parse_case_reference(reference)
    if parsed is None:
        return None
    return session.scalars(
        select(Case)
        .where(Case.id == parsed[1], Case.be_year == parsed[0])
        .options(selectinload(Case.timeline), selectinload(Case.contact))
    ).first()


def case_for_citizen(
    session: Session, reference: str, code: str | None, pepper: str
) -> Case:
    """The case, if the tracking code is right; else :class:`CaseNotFound`."""
    case = _load_case(session, reference)
    if case is None or not check_tracking_code(pepper, reference, code):
        raise CaseNotFound()
    return case


def may_see_case(principal: Principal | None, case: Case) -> bool:
    """Operators see every case; an agent the cases they submitted."""
    if principal is None:
        return False
    if principal.is_operator:
        return True
    return principal.scope == "agent" and (
        case.submitted_by_agent_id is not None
        and case.submitted_by_agent_id == principal.agent_id
    )


def audit(
    session: Session,
    principal: Principal,
    action: str,
    reference: str,
    purpose: str | None = None,
    clock: Clock = utc_now,
) -> None:
    """Write who touched a case's personal data (never the data itself)."""
    session.add(
        AuditLogEntry(
            occurred_at=_now(clock),
            actor_scope=principal.scope,
            actor=principal.agent_id or principal.subject,
            action=action,
            case_reference=reference,
            purpose=purpose,
        )
    )


def case_for_principal(
    session: Session,
    reference: str,
    principal: Principal | None,
    clock: Clock = utc_now,
) -> Case:
    """The whole case for its agent or an operator; the read is audited."""
    case = _load_case(session, reference)
    if case is None or principal is None or not may_see_case(principal, case):
        raise CaseNotFound()
    audit(session, principal, "read_case", reference, clock=clock)
    return case


def list_cases(
    session: Session, filters: dict[str, Any], principal: Principal
) -> tuple[list[Case], int | None]:
    """A page of cases, newest first; an agent sees only their own."""
    query = select(Case).order_by(Case.id.desc())
    if principal.scope == "agent":
        if not principal.agent_id:
            # "== None" would become IS NULL: every citizen's own case
            return [], None
        query = query.where(Case.submitted_by_agent_id == principal.agent_id)
    elif not principal.is_operator:
        return [], None
    column_filters = {
        "province": Case.province_code,
        "district": Case.district_code,
        "status": Case.status,
        "category": Case.category,
        "channel": Case.channel,
    }
    for name, column in column_filters.items():
        if filters.get(name) is not None:
            query = query.where(column == filters[name])
    if filters.get("submitted_since") is not None:
        query = query.where(Case.created_at >= as_utc(filters["submitted_since"]))
    if filters.get("submitted_until") is not None:
        query = query.where(Case.created_at < as_utc(filters["submitted_until"]))
    if filters.get("after_id") is not None:
        query = query.where(Case.id < filters["after_id"])
    limit = int(filters.get("limit") or 50)
    rows = list(session.scalars(query.limit(limit + 1)))
    next_after = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_after


# --- changing ------------------------------------------------------------------


def withdraw_case(
    session: Session,
    reference: str,
    *,
    principal: Principal | None,
    code: str | None,
    pepper: str,
    reason: str | None = None,
    clock: Clock = utc_now,
) -> Case:
    """Withdraw an open case (citizen by code, agent by token, operator)."""
    case = _load_case(session, reference)
    if case is None:
        raise CaseNotFound()
    if may_see_case(principal, case):
        by = "operator" if principal and principal.is_operator else "agent"
    elif check_tracking_code(pepper, reference, code):
        by = "citizen"
    else:
        raise CaseNotFound()
    if case.status not in OPEN_STATUSES:
        raise CaseNotOpen()
    now = _now(clock)
    case.status = "withdrawn"
    case.updated_at = now
    case.timeline.append(
        TimelineEntry(status="withdrawn", note=reason, occurred_at=now)
    )
    add_event(
        session,
        SERVICE,
        make_event(
            "case_withdrawn",
            {
                "reference": reference,
                "withdrawn_at": now.isoformat(),
                "withdrawn_by": by,
            },
            correlation_id=reference,
            occurred_at=now,
        ),
    )
    return case


def erase_personal_data(
    session: Session, reference: str, principal: Principal, clock: Clock = utc_now
) -> Case:
    """PDPA erasure: wipe the citizen's data, keep the anonymous case."""
    case = _load_case(session, reference)
    if case is None or not principal.is_operator:
        raise CaseNotFound()
    now = _now(clock)
    contact = case.contact
    if contact is not None:
        for name in ("name", "phone", "email", "national_id", "line_user_id"):
            setattr(contact, name, None)
        contact.contact_channel = "none"
    # free text may name the citizen or their house: it goes too, including
    # the notes of the timeline (a withdrawal reason is the citizen's words)
    case.address = None
    case.description = ERASED
    for entry in case.timeline:
        entry.note = None
    # published copies of its events (kept a while for operators) carry the
    # description; events not yet published must still reach their consumers
    session.execute(
        delete(outbox_messages).where(
            outbox_messages.c.correlation_id == reference,
            outbox_messages.c.sent_at.is_not(None),
        )
    )
    case.personal_data_erased_at = now
    case.updated_at = now
    audit(session, principal, "erase_personal_data", reference, clock=clock)
    return case
