"""intake's rules: take a case in, let the citizen follow it, keep PDPA.

Plain Python over a SQLAlchemy session; no nameko, no HTTP. Every state
change that others must hear about writes its event to the outbox in the same
transaction (:func:`labornet_shared.outbox.add_event`). routing's events
(:func:`apply_routing_event`) keep the case's timeline, status and intake's
copy of its referrals, which decides who may call the citizen
(:func:`contact_for`). notify asks how to reach the citizen when it sends
(:func:`contact_for_notification`), and the citizen rates a closed case
through the link it sent (:func:`give_feedback`; the page it opens checks
the link first, :func:`open_feedback_link`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, defer, raiseload, selectinload

from labornet_intake.models import (
    AuditLogEntry,
    Case,
    CaseFeedback,
    CaseReferral,
    CitizenContact,
    IdempotencyKey,
    Open311Request,
    TimelineEntry,
    outbox_messages,
)
from labornet_shared.categories import AGENCIES
from labornet_shared.consumer import apply_once
from labornet_shared.events import EVENT_TYPES, RESOLUTION_OUTCOMES, Event, make_event
from labornet_shared.outbox import add_event
from labornet_shared.problems import FieldError
from labornet_shared.reference import LocationError, buddhist_year, resolve_location
from labornet_shared.reference.case_reference import parse_case_reference
from labornet_shared.tokens import (
    FeedbackToken,
    Principal,
    verify_case_link_token,
    verify_feedback_token,
)

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


#: what may stand between a typed code's characters: white space, hyphens
#: and dashes (a phone's keyboard offers several), the katakana long mark
_CODE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc]+")
#: the characters of a code: base32 with O and I replaced (no 0, 1, O or I)
_CODE_CHARACTERS = frozenset("ABCDEFGHJKLMNPQRSTUVWXYZ234567")


def normalise_tracking_code(typed: str) -> str | None:
    """A tracking code as a citizen typed it — lower case, spaced, dashed
    anywhere, in full-width letters — in the form :func:`tracking_code`
    gives it (``XXXXX-XXXXX``); None when it cannot be a code (not ten of
    its characters)."""
    compact = _CODE_SEPARATORS.sub("", unicodedata.normalize("NFKC", typed))
    compact = compact.upper()
    if len(compact) != 10 or not set(compact) <= _CODE_CHARACTERS:
        return None
    return f"{compact[:5]}-{compact[5:]}"


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
        agencies_may_contact=bool(consent.get("agencies_may_contact")),
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


#: what a case is loaded without when its personal data is not to be read:
#: the citizen's contact, the description and the free-text address (the
#: data PDPA erasure wipes); reading them raises
_NOT_PERSONAL = (
    raiseload(Case.contact),
    defer(Case.description, raiseload=True),
    defer(Case.address, raiseload=True),
)


def _load_case(
    session: Session, reference: str, lock: bool = False, personal: bool = True
) -> Case | None:
    """The case with its timeline, contact and referrals; ``lock`` holds its
    row until commit (PostgreSQL), so changes to one case never interleave;
    without ``personal``, none of the citizen's data (:data:`_NOT_PERSONAL`)."""
    parsed = parse_case_reference(reference)
    if parsed is None:
        return None
    query = (
        select(Case)
        .where(Case.id == parsed[1], Case.be_year == parsed[0])
        .options(
            selectinload(Case.timeline),
            *((selectinload(Case.contact),) if personal else _NOT_PERSONAL),
            selectinload(Case.referrals),
        )
    )
    if lock:
        query = query.with_for_update(of=Case)
    return session.scalars(query).first()


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
    actor: str | None = None,
) -> None:
    """Write who touched a case's personal data (never the data itself)."""
    session.add(
        AuditLogEntry(
            occurred_at=_now(clock),
            actor_scope=principal.scope,
            actor=actor or principal.agent_id or principal.subject,
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


def case_for_agent_link(
    session: Session,
    reference: str,
    token: str,
    secret: str,
    clock: Clock = utc_now,
) -> Case:
    """The case a field agent's link (``/a/<reference>?t=<token>``) opens,
    for whichever agent notify minted the link for: the one who submitted
    the case, an agent of its area, one following an overdue referral. So
    not by :func:`may_see_case`: the link opens an anonymous summary, and
    the case comes without its personal data (contact, description,
    address: reading them raises), so the read is not audited.

    Raises :class:`~labornet_shared.tokens.InvalidToken` or its
    :class:`~labornet_shared.tokens.ExpiredToken` (checked first, so a forged
    link learns nothing about the case), then :class:`CaseNotFound` for a
    link to another case or an unknown case.
    """
    claim = verify_case_link_token(secret, token, now=_now(clock))
    case = None
    if claim.reference == reference:
        case = _load_case(session, reference, personal=False)
    if case is None:
        raise CaseNotFound()
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
    # locked: a case_closed being applied meanwhile is not overwritten
    case = _load_case(session, reference, lock=True)
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
    # the notes of the timeline and of the referrals (a withdrawal reason is
    # the citizen's words; an office's note may quote them)
    case.address = None
    case.description = ERASED
    if case.open311 is not None:
        case.open311.media_url = None
    for entry in case.timeline:
        entry.note = None
    for referral in case.referrals:
        referral.last_note = None
    # the rating stays for the statistics; the comment is the citizen's words
    session.execute(
        update(CaseFeedback).where(CaseFeedback.case_id == case.id).values(comment=None)
    )
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
    # routing and notify keep copies of the description and notes: they wipe
    # them on this event
    add_event(
        session,
        SERVICE,
        make_event(
            "case_personal_data_erased",
            {"reference": reference, "erased_at": now.isoformat()},
            correlation_id=reference,
            occurred_at=now,
        ),
    )
    audit(session, principal, "erase_personal_data", reference, clock=clock)
    return case


# --- routing's events: timeline, status, referrals ---------------------------------

#: the agencies' Thai names (English: labornet_shared.categories.AGENCIES)
AGENCY_NAMES_TH: dict[str, str] = {
    "ops": "สำนักงานปลัดกระทรวงแรงงาน",
    "doe": "กรมการจัดหางาน",
    "dsd": "กรมพัฒนาฝีมือแรงงาน",
    "dlpw": "กรมสวัสดิการและคุ้มครองแรงงาน",
    "sso": "สำนักงานประกันสังคม",
    "tosh": "สถาบันส่งเสริมความปลอดภัย อาชีวอนามัย และสภาพแวดล้อมในการทำงาน",
}

#: a referral's statuses in which its office works on the case
OPEN_REFERRAL_STATUSES = ("pending", "accepted", "in_progress")

# A referral only moves forward: pending → accepted → in_progress → an end.
# Ranks break ties between changes routing stamped with the same time.
_REFERRAL_RANK = {
    "pending": 0,
    "accepted": 1,
    "in_progress": 2,
    "resolved": 3,
    "rejected": 3,
    "withdrawn": 3,
}

# received → routed → closed, never back ("in_progress" is a routed case)
_CASE_RANK = {"received": 0, "routed": 1, "in_progress": 1, "closed": 2}

_OUTCOMES = frozenset(RESOLUTION_OUTCOMES)


class UnknownCase(Exception):
    """A routing event names a case intake never took in.

    intake created every case routing knows, so this is a bug or an event of
    another environment: the handler fails, is retried, and is parked in
    ``intake.dlq`` for an operator, never silently dropped.
    """


def agency_name(agency: str) -> dict[str, str]:
    """The agency's name in Thai and English, for the citizen."""
    return {
        "th": AGENCY_NAMES_TH.get(agency, agency),
        "en": AGENCIES.get(agency, agency),
    }


@functools.cache
def _payload_schema(event_type: str, version: int) -> Schema:
    return EVENT_TYPES[(event_type, version)][1]()


def _payload(event: Event) -> dict[str, Any]:
    """The event's payload with its dates as datetimes (already validated)."""
    schema = _payload_schema(event.event_type, event.schema_version)
    return dict(schema.load(event.payload))


def _case_of(session: Session, reference: str) -> Case:
    case = _load_case(session, reference, lock=True)
    if case is None:
        raise UnknownCase(f"no case {reference}")
    return case


def _track(
    case: Case,
    ref: dict[str, Any],
    at: datetime,
    said: tuple[str | None, str | None] | None = None,
) -> CaseReferral:
    """Bring intake's copy of a referral up to ``ref``, routing's view of it
    at ``at``; ``said`` is the office's (note, outcome) with this change.

    Events arrive in any order: a change older than the one the copy holds
    never takes its status back; it only fills a note the copy lacks.
    """
    at = _utc(at)
    status = ref["status"]
    referral = next(
        (r for r in case.referrals if r.referral_id == ref["referral_id"]), None
    )
    if referral is None:
        referral = CaseReferral(
            referral_id=ref["referral_id"], status=status, since=at, updated_at=at
        )
        case.referrals.append(referral)
    note, outcome = said if said is not None else (None, None)
    if case.personal_data_erased_at is not None:
        # an office's note may quote the citizen, who asked to be forgotten
        note = None
    current = (_utc(referral.updated_at), _REFERRAL_RANK[referral.status])
    if (at, _REFERRAL_RANK[status]) < current:
        if status == referral.status:
            # the same status, told earlier (a closing snapshot came first):
            # the referral has had it since then
            referral.since = min(_utc(referral.since), at)
            if said is not None:
                referral.last_note = referral.last_note or note
                referral.outcome = referral.outcome or outcome
        return referral
    if status != referral.status:
        # what was said belonged to the previous status
        referral.since = at
        referral.last_note = None
        referral.outcome = None
    referral.status = status
    referral.agency = ref["agency"]
    referral.province_code = ref["province_code"]
    referral.office = ref["office"]
    referral.categories = list(ref["categories"])
    referral.due_resolve_at = _utc(ref["due_resolve_at"])
    referral.updated_at = at
    if note is not None:
        referral.last_note = note
    if outcome is not None:
        referral.outcome = outcome
    return referral


def _utc(moment: datetime) -> datetime:
    """Aware UTC (a naive time from SQLite was stored as UTC)."""
    aware_moment = aware(moment)
    assert aware_moment is not None
    return aware_moment.astimezone(UTC)


def _step(
    case: Case,
    event: Event,
    status: str,
    at: datetime,
    *,
    ref: dict[str, Any] | None = None,
    note: str | None = None,
    outcome: str | None = None,
    escalated_to: str | None = None,
) -> None:
    """Add a timeline entry for one of routing's events."""
    case.timeline.append(
        TimelineEntry(
            status=status,
            note=None if case.personal_data_erased_at is not None else note,
            agency=ref["agency"] if ref else None,
            office=ref["office"] if ref else None,
            outcome=outcome,
            escalated_to=escalated_to,
            occurred_at=_utc(at),
            event_id=event.event_id,
        )
    )


def _advance_case(case: Case, status: str, clock: Clock) -> None:
    """Move the case forward to ``status``, never back; a withdrawn case stays
    withdrawn (its timeline still grows)."""
    if case.status in _CASE_RANK and _CASE_RANK[case.status] < _CASE_RANK[status]:
        case.status = status
    case.updated_at = _now(clock)


def apply_case_routed(session: Session, event: Event, clock: Clock = utc_now) -> Case:
    """``case_routed``: the case is referred; one ``routed`` step per office."""
    payload = _payload(event)
    case = _case_of(session, payload["reference"])
    for ref in payload["referrals"]:
        _track(case, ref, payload["routed_at"])
        _step(case, event, "routed", payload["routed_at"], ref=ref)
    _advance_case(case, "routed", clock)
    return case


def apply_referral_status_changed(
    session: Session, event: Event, clock: Clock = utc_now
) -> Case:
    """``referral_status_changed``: an office accepted, rejected, reported
    progress, resolved, or the referral was withdrawn; with what it said."""
    payload = _payload(event)
    case = _case_of(session, payload["reference"])
    ref = payload["referral"]
    said = (payload["note"], payload["outcome"])
    _track(case, ref, payload["changed_at"], said=said)
    _step(
        case,
        event,
        ref["status"],
        payload["changed_at"],
        ref=ref,
        note=payload["note"],
        outcome=payload["outcome"],
    )
    # a change of a referral means the case was routed, whatever came first
    _advance_case(case, "routed", clock)
    return case


def apply_referral_overdue(
    session: Session, event: Event, clock: Clock = utc_now
) -> Case:
    """``referral_overdue``: an office missed its deadline; the case is
    escalated to the province's ``ops`` office, which now holds a referral."""
    payload = _payload(event)
    case = _case_of(session, payload["reference"])
    ref, escalation = payload["referral"], payload["escalated_to"]
    _track(case, ref, payload["detected_at"])
    if escalation["referral_id"] != ref["referral_id"]:
        _track(case, escalation, payload["detected_at"])
    _step(
        case,
        event,
        "overdue",
        payload["detected_at"],
        ref=ref,
        escalated_to=escalation["office"],
    )
    _advance_case(case, "routed", clock)
    return case


def apply_case_closed(session: Session, event: Event, clock: Clock = utc_now) -> Case:
    """``case_closed``: every referral is resolved or withdrawn."""
    payload = _payload(event)
    case = _case_of(session, payload["reference"])
    for ref in payload["referrals"]:
        referral = _track(case, ref, payload["closed_at"])
        outcome = payload["outcomes"].get(ref["referral_id"])
        if referral.outcome is None and outcome in _OUTCOMES:
            referral.outcome = outcome
    _step(case, event, "closed", payload["closed_at"])
    _advance_case(case, "closed", clock)
    return case


_APPLY: dict[str, Callable[[Session, Event, Clock], Case]] = {
    "case_routed": apply_case_routed,
    "referral_status_changed": apply_referral_status_changed,
    "referral_overdue": apply_referral_overdue,
    "case_closed": apply_case_closed,
}

#: routing's events intake applies, each in its own handler
ROUTING_EVENTS = tuple(_APPLY)


def apply_routing_event(
    session: Session, consumer: str, event: Event, clock: Clock = utc_now
) -> bool:
    """Apply one of routing's events once for ``consumer``, in the caller's
    transaction; False (and nothing changed) for an event applied before.
    Raises :class:`UnknownCase` for a case intake does not have."""
    if not apply_once(session, consumer, event):
        return False
    _APPLY[event.event_type](session, event, clock)
    return True


# --- the citizen's contact, for the agencies handling the case ------------------


def _referral_open_to(case: Case, principal: Principal) -> CaseReferral | None:
    """The open referral that lets this agency token call the citizen."""
    if principal.scope != "agency" or not principal.agency:
        return None
    contact = case.contact
    if contact is None or not contact.agencies_may_contact:
        return None
    if case.status not in OPEN_STATUSES:
        # a withdrawn case is not followed up, even before routing withdraws
        # its referrals
        return None
    for referral in case.referrals:
        if (
            referral.agency == principal.agency
            and referral.status in OPEN_REFERRAL_STATUSES
            and principal.province in (None, referral.province_code)
        ):
            return referral
    return None


def _agency_actor(principal: Principal) -> str:
    """``sso.TH-52`` (and the token's name when it has its own)."""
    actor = str(principal.agency)
    if principal.province:
        actor += f".{principal.province}"
    if principal.subject not in (principal.agency, actor):
        actor += f" ({principal.subject})"
    return actor


def contact_for(
    session: Session,
    reference: str,
    principal: Principal | None,
    clock: Clock = utc_now,
) -> Case:
    """The case whose citizen ``principal`` may call now; the read is audited.

    An agency may while one of its offices (in its province, if the token
    names one) holds an open referral of the case and the citizen's consent
    covers contact by the agencies; an operator may always; nobody once the
    personal data is erased. Else :class:`CaseNotFound`, whichever rule said
    no.
    """
    case = _load_case(session, reference)
    if (
        case is None
        or principal is None
        or case.contact is None
        or case.personal_data_erased_at is not None
    ):
        raise CaseNotFound()
    if principal.is_operator:
        audit(session, principal, "read_contact", reference, clock=clock)
        return case
    referral = _referral_open_to(case, principal)
    if referral is None:
        raise CaseNotFound()
    audit(
        session,
        principal,
        "read_contact",
        reference,
        purpose=f"referral {referral.referral_id}",
        clock=clock,
        actor=_agency_actor(principal),
    )
    return case


# --- Open311 GeoReport v2 ---------------------------------------------------------

#: Open311's two statuses: a case is ``open`` until it is closed or withdrawn
OPEN311_STATUSES: dict[str, tuple[str, ...]] = {
    "open": OPEN_STATUSES,
    "closed": ("closed", "withdrawn"),
}


def open311_status(case: Case) -> str:
    """``open`` or ``closed``, as Open311 says it."""
    return "open" if case.status in OPEN_STATUSES else "closed"


def file_open311_request(
    session: Session,
    data: dict[str, Any],
    *,
    principal: Principal,
    pepper: str,
    media_url: str | None = None,
    idempotency_key: str | None = None,
    fingerprint: str = "",
    clock: Clock = utc_now,
) -> Accepted:
    """Take in a case an Open311 client filed, remembering which api_key
    (``principal.subject``) filed it; a retry with the same Idempotency-Key
    gets the first case, as on ``/v1/cases``."""
    accepted = take_case_in(
        session,
        data,
        principal=principal,
        pepper=pepper,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        clock=clock,
    )
    if not accepted.replayed:
        parsed = parse_case_reference(accepted.reference)
        assert parsed is not None  # a reference this database just issued
        session.execute(
            insert(Open311Request).values(
                case_id=parsed[1], filed_by=principal.subject, media_url=media_url
            )
        )
    return accepted


def _open311_query() -> Any:
    return (
        select(Case)
        .join(Open311Request, Open311Request.case_id == Case.id)
        .options(
            selectinload(Case.timeline),
            selectinload(Case.referrals),
            selectinload(Case.open311),
        )
    )


def open311_request(session: Session, reference: str) -> Case:
    """A case filed through Open311, by its reference; else
    :class:`CaseNotFound` (a case filed another way is not an Open311
    request)."""
    parsed = parse_case_reference(reference)
    if parsed is None:
        raise CaseNotFound()
    case = session.scalars(
        _open311_query().where(Case.id == parsed[1], Case.be_year == parsed[0])
    ).first()
    if case is None:
        raise CaseNotFound()
    return case


def open311_requests(
    session: Session,
    *,
    references: list[str] | None = None,
    service_codes: list[str] | None = None,
    statuses: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[Case]:
    """Cases filed through Open311, newest first, at most ``limit``.

    ``references`` overrides every other filter (as Open311 says); the others
    narrow by category, Open311 status and when the case was received
    (``since`` and ``until`` included)."""
    query = _open311_query().order_by(Case.created_at.desc(), Case.id.desc())
    if references is not None:
        wanted = {
            parsed
            for parsed in map(parse_case_reference, references)
            if parsed is not None
        }
        if not wanted:
            return []
        ids = sorted({number for _, number in wanted})
        cases = session.scalars(query.where(Case.id.in_(ids))).all()
        return [c for c in cases if (c.be_year, c.id) in wanted][:limit]
    if service_codes:
        query = query.where(Case.category.in_(service_codes))
    if statuses:
        query = query.where(
            Case.status.in_([s for name in statuses for s in OPEN311_STATUSES[name]])
        )
    if since is not None:
        query = query.where(Case.created_at >= as_utc(since))
    if until is not None:
        query = query.where(Case.created_at <= as_utc(until))
    return list(session.scalars(query.limit(limit)))


# --- notify: how to reach the citizen when it sends -------------------------------

#: who asks over RPC, as the audit log names it
NOTIFY = Principal(scope="service", subject="notify")

_CONTACT_FIELDS = ("name", "phone", "email", "line_user_id")


def contact_for_notification(
    session: Session,
    reference: str,
    purpose: str,
    pepper: str,
    clock: Clock = utc_now,
) -> dict[str, Any] | None:
    """How notify reaches the citizen of ``reference`` for ``purpose`` (e.g.
    ``case_received sms``); None for a case intake does not have.

    The contact comes only while the citizen's consent stands and their
    personal data is not erased; otherwise ``consent`` or ``erased`` says
    why, the contact is null and the channel ``none``: notify sends nothing.
    Every answer carrying personal data is audited (actor ``notify``,
    ``read_contact``, the purpose). The tracking code is derived, as always.
    """
    case = _load_case(session, reference)
    if case is None:
        return None
    contact = case.contact
    erased = case.personal_data_erased_at is not None
    consent = contact is not None and contact.consent_given_at is not None
    reachable = contact if consent and not erased else None
    details = {name: getattr(reachable, name, None) for name in _CONTACT_FIELDS}
    if any(value is not None for value in details.values()):
        audit(session, NOTIFY, "read_contact", reference, purpose, clock=clock)
    return {
        "reference": case.reference,
        "language": case.language,
        "contact_channel": reachable.contact_channel if reachable else "none",
        **details,
        "tracking_code": tracking_code(pepper, case.reference),
        "consent": consent,
        "erased": erased,
        "status": case.status,
    }


# --- the citizen's feedback on a closed case ---------------------------------------


class CaseNotClosed(Exception):
    """Feedback is asked for once the case is closed, not before."""


class FeedbackAlreadyGiven(Exception):
    """This case's feedback was given (the link is single-use)."""


@dataclass(frozen=True)
class FeedbackGiven:
    """The answer as stored."""

    reference: str
    rating: int
    solved: bool
    answered_at: datetime


def give_feedback(
    session: Session,
    reference: str,
    data: dict[str, Any],
    secret: str,
    clock: Clock = utc_now,
) -> FeedbackGiven:
    """Store the citizen's rating of case ``reference`` once, from the link
    notify sent when it closed (``data["token"]``).

    Raises :class:`~labornet_shared.tokens.InvalidToken` (forged, malformed)
    or its :class:`~labornet_shared.tokens.ExpiredToken`, :class:`CaseNotFound`
    (a genuine token of another case), :class:`CaseNotClosed`, or
    :class:`FeedbackAlreadyGiven` (this token, or another link of the case,
    was answered before).
    """
    now = _now(clock)
    claim = verify_feedback_token(secret, data["token"], now=now)
    if claim.reference != reference:
        raise CaseNotFound()
    case = _load_case(session, reference)
    if case is None:
        raise CaseNotFound()
    if case.status != "closed":
        raise CaseNotClosed()
    values = {
        "case_id": case.id,
        "rating": data["rating"],
        "solved": data["solved"],
        # a citizen who asked to be forgotten leaves only the numbers
        "comment": None if case.personal_data_erased_at else data.get("comment"),
        "token_id": claim.token_id,
        "answered_at": now,
    }
    # any conflict (the case's answer, the token's) means "given before"; a
    # concurrent second answer waits on the key, then conflicts
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql_insert(CaseFeedback).values(values)
    else:
        statement = sqlite_insert(CaseFeedback).values(values)
    inserted = session.execute(statement.on_conflict_do_nothing())
    if getattr(inserted, "rowcount", 0) != 1:
        raise FeedbackAlreadyGiven()
    return FeedbackGiven(reference, data["rating"], data["solved"], now)


def open_feedback_link(
    session: Session,
    reference: str,
    token: str,
    secret: str,
    clock: Clock = utc_now,
) -> FeedbackToken:
    """Whether the link the citizen opened may still be answered: what its
    token says, for the feedback page to show the form. Reads only; the
    answer (:func:`give_feedback`) decides.

    Raises as :func:`give_feedback` does:
    :class:`~labornet_shared.tokens.InvalidToken` or its
    :class:`~labornet_shared.tokens.ExpiredToken` (checked first, so a forged
    link learns nothing about the case), :class:`CaseNotFound`,
    :class:`CaseNotClosed`, :class:`FeedbackAlreadyGiven`.
    """
    claim = verify_feedback_token(secret, token, now=_now(clock))
    if claim.reference != reference:
        raise CaseNotFound()
    parsed = parse_case_reference(reference)
    case = (
        None
        if parsed is None
        else session.scalars(
            select(Case).where(Case.id == parsed[1], Case.be_year == parsed[0])
        ).first()
    )
    if case is None:
        raise CaseNotFound()
    if case.status != "closed":
        raise CaseNotClosed()
    if session.get(CaseFeedback, case.id) is not None:
        raise FeedbackAlreadyGiven()
    return claim
