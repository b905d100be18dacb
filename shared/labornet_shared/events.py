"""The event contract: one envelope, versioned payloads, a registry of both.

Every event body is an envelope::

    {"event_id": UUID, "event_type": "case_received", "schema_version": 1,
     "occurred_at": "2026-11-26T04:00:00+00:00", "correlation_id": "LN-...",
     "payload": {...}}

Producers build envelopes with :func:`make_event`; consumers read them with
:func:`parse_event`, which refuses an event type or version it does not know
(:class:`UnknownEventVersion`) so the message is dead-lettered, not guessed at.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from labornet_shared.categories import (
    AGENCIES,
    AGENT_KINDS,
    AGENT_LANGUAGES,
    AGENT_STATUSES,
    CATEGORIES,
    CHANNELS,
    LANGUAGES,
)
from labornet_shared.written_language import SCREENED_LANGUAGES


class EnvelopeSchema(Schema):
    """The envelope every labornet event travels in."""

    class Meta:
        unknown = RAISE

    event_id = fields.UUID(required=True)
    event_type = fields.String(required=True, validate=validate.Length(1, 100))
    schema_version = fields.Integer(required=True, strict=True)
    occurred_at = fields.AwareDateTime(required=True, default_timezone=UTC)
    correlation_id = fields.String(required=True, allow_none=True)
    payload = fields.Dict(required=True)


class EventLocationSchema(Schema):
    """Where a case happened: codes only, no street address."""

    province_code = fields.String(
        required=True, validate=validate.Regexp(r"^TH-[0-9]{2}\Z")
    )
    district_code = fields.String(load_default=None, allow_none=True)
    subdistrict_code = fields.String(load_default=None, allow_none=True)
    postcode = fields.String(load_default=None, allow_none=True)
    lat = fields.Float(required=True)
    long = fields.Float(required=True)


class PlacedCase(Protocol):
    """A case as a service stores it, with its place in six columns."""

    @property
    def province_code(self) -> str: ...
    @property
    def district_code(self) -> str | None: ...
    @property
    def subdistrict_code(self) -> str | None: ...
    @property
    def postcode(self) -> str | None: ...
    @property
    def lat(self) -> float: ...
    @property
    def long(self) -> float: ...


def event_location(case: PlacedCase) -> dict[str, Any]:
    """The case's place as events carry it (:class:`EventLocationSchema`):
    codes and coordinates, never the street address."""
    return {
        "province_code": case.province_code,
        "district_code": case.district_code,
        "subdistrict_code": case.subdistrict_code,
        "postcode": case.postcode,
        "lat": case.lat,
        "long": case.long,
    }


class CaseReceivedV1(Schema):
    """``case_received`` v1: what routing needs, never the citizen's identity."""

    class Meta:
        unknown = RAISE

    reference = fields.String(required=True)
    category = fields.String(
        required=True, allow_none=True, validate=validate.OneOf(CATEGORIES)
    )
    description = fields.String(required=True)
    location = fields.Nested(EventLocationSchema, required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))
    abroad_country = fields.String(required=True, allow_none=True)
    submitted_by_agent_id = fields.String(required=True, allow_none=True)
    received_at = fields.AwareDateTime(required=True)


class CaseReceivedV2(CaseReceivedV1):
    """``case_received`` v2: v1 with ``language_chosen`` — whether the citizen
    chose ``language``, or intake read it from the script of the description
    (a v1 event has no such field: its language counts as chosen)."""

    class Meta:
        unknown = RAISE

    language_chosen = fields.Boolean(required=True)


def language_chosen(payload: Mapping[str, Any]) -> bool:
    """Whether the citizen chose the language of a ``case_received``
    payload. A v1 payload has no ``language_chosen``: its language was the
    citizen's choice or intake's default, and is read as chosen."""
    return bool(payload.get("language_chosen", True))


class CaseWithdrawnV1(Schema):
    """``case_withdrawn`` v1: the citizen or their agent withdrew the case."""

    class Meta:
        unknown = RAISE

    reference = fields.String(required=True)
    withdrawn_at = fields.AwareDateTime(required=True)
    withdrawn_by = fields.String(
        required=True, validate=validate.OneOf(("citizen", "agent", "operator"))
    )


#: what a wiped free text reads, in every service that kept a copy
ERASED_TEXT = "[erased at the citizen's request]"


#: payload fields that hold someone's own words (a case's description, an
#: office's note quoting the citizen): the free text an erasure wipes
FREE_TEXT_FIELDS = frozenset({"description", "note"})


def wipe_free_text(value: Any) -> Any:
    """A copy of an event body or payload with every free-text field
    (:data:`FREE_TEXT_FIELDS`, at any depth) replaced by :data:`ERASED_TEXT`."""
    if isinstance(value, dict):
        return {
            key: (
                ERASED_TEXT
                if key in FREE_TEXT_FIELDS and isinstance(item, str)
                else wipe_free_text(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [wipe_free_text(item) for item in value]
    return value


class CasePersonalDataErasedV1(Schema):
    """``case_personal_data_erased`` v1: an operator erased the citizen's
    personal data (PDPA); every service wipes the copies of the case's free
    text it keeps (routing: the description and the offices' notes)."""

    class Meta:
        unknown = RAISE

    reference = fields.String(required=True)
    erased_at = fields.AwareDateTime(required=True)


class AgentAreaSchema(Schema):
    """A place a field agent covers; codes below its level are null."""

    class Meta:
        unknown = RAISE

    province_code = fields.String(
        required=True, validate=validate.Regexp(r"^TH-[0-9]{2}\Z")
    )
    district_code = fields.String(
        required=True, allow_none=True, validate=validate.Regexp(r"^[0-9]{4}\Z")
    )
    subdistrict_code = fields.String(
        required=True, allow_none=True, validate=validate.Regexp(r"^[0-9]{6}\Z")
    )


class AgentContactSchema(Schema):
    """How notify reaches a field agent (work contacts, never the national ID)."""

    class Meta:
        unknown = RAISE

    phone = fields.String(required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True)
    line_user_id = fields.String(required=True, allow_none=True)


class AgentSnapshotV1(Schema):
    """``agent_registered`` / ``agent_updated`` v1: the agent as it now is.

    A whole snapshot, so a projection upserts it; ``revision`` grows with
    every change, so a projection ignores a snapshot older than its own.
    """

    class Meta:
        unknown = RAISE

    agent_id = fields.String(required=True)
    revision = fields.Integer(required=True, strict=True)
    kind = fields.String(required=True, validate=validate.OneOf(AGENT_KINDS))
    status = fields.String(required=True, validate=validate.OneOf(AGENT_STATUSES))
    name_th = fields.String(required=True)
    name_en = fields.String(required=True, allow_none=True)
    languages = fields.List(
        fields.String(validate=validate.OneOf(AGENT_LANGUAGES)), required=True
    )
    areas = fields.List(fields.Nested(AgentAreaSchema), required=True)
    abroad_country = fields.String(required=True, allow_none=True)
    abroad_city = fields.String(required=True, allow_none=True)
    office = fields.String(required=True)
    term_end = fields.Date(required=True, allow_none=True)
    contact = fields.Nested(AgentContactSchema, required=True)


class AgentUpdatedV1(AgentSnapshotV1):
    """``agent_updated`` v1: the new snapshot and which fields changed."""

    changed = fields.List(fields.String(), required=True)


class AgentDeactivatedV1(Schema):
    """``agent_deactivated`` v1: the agent no longer takes cases."""

    class Meta:
        unknown = RAISE

    agent_id = fields.String(required=True)
    revision = fields.Integer(required=True, strict=True)
    kind = fields.String(required=True, validate=validate.OneOf(AGENT_KINDS))
    reason = fields.String(required=True, allow_none=True)
    deactivated_at = fields.AwareDateTime(required=True)


REFERRAL_STATUSES = (
    "pending",
    "accepted",
    "in_progress",
    "resolved",
    "rejected",
    "withdrawn",
)
RESOLUTION_OUTCOMES = (
    "resolved",
    "not_eligible",
    "referred_elsewhere",
    "citizen_unreachable",
)
_OFFICE = validate.Regexp(r"^[a-z]+\.[A-Za-z0-9-]+\Z")


class CategoryLabelSchema(Schema):
    """A problem the case holds, how sure screening is, and why."""

    class Meta:
        unknown = RAISE

    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    score = fields.Float(required=True)
    evidence = fields.List(fields.String(), required=True)


class ScreeningSchema(Schema):
    """What screening found in a case's description."""

    class Meta:
        unknown = RAISE

    method = fields.String(required=True, validate=validate.OneOf(("given", "lexicon")))
    needs_review = fields.Boolean(required=True)
    labels = fields.List(fields.Nested(CategoryLabelSchema), required=True)


class ScreeningV2Schema(ScreeningSchema):
    """What screening found in a case's description, and the language the
    description is written in."""

    class Meta:
        unknown = RAISE

    language = fields.String(
        required=True, allow_none=True, validate=validate.OneOf(SCREENED_LANGUAGES)
    )


class ReferralRefSchema(Schema):
    """A referral as other events name it: which office has which problems."""

    class Meta:
        unknown = RAISE

    referral_id = fields.String(required=True)
    agency = fields.String(required=True, validate=validate.OneOf(tuple(AGENCIES)))
    province_code = fields.String(
        required=True, validate=validate.Regexp(r"^TH-[0-9]{2}\Z")
    )
    office = fields.String(required=True, validate=_OFFICE)
    categories = fields.List(
        fields.String(validate=validate.OneOf(CATEGORIES)), required=True
    )
    status = fields.String(required=True, validate=validate.OneOf(REFERRAL_STATUSES))
    due_accept_at = fields.AwareDateTime(required=True)
    due_resolve_at = fields.AwareDateTime(required=True)
    agent_id = fields.String(required=True, allow_none=True)


class CaseRoutedV1(Schema):
    """``case_routed`` v1: the case was screened and referred."""

    class Meta:
        unknown = RAISE

    reference = fields.String(required=True)
    screening = fields.Nested(ScreeningSchema, required=True)
    referrals = fields.List(fields.Nested(ReferralRefSchema), required=True)
    routed_at = fields.AwareDateTime(required=True)


class CaseRoutedV2(CaseRoutedV1):
    """``case_routed`` v2: v1 with the language the description is written
    in as ``screening.language`` (null for a case screened before routing
    read it)."""

    class Meta:
        unknown = RAISE

    screening = fields.Nested(ScreeningV2Schema, required=True)


class ReferralStatusChangedV1(Schema):
    """``referral_status_changed`` v1: an office accepted, rejected, reported
    progress on, resolved a referral, or it was withdrawn with its case."""

    class Meta:
        unknown = RAISE

    referral = fields.Nested(ReferralRefSchema, required=True)
    reference = fields.String(required=True)
    previous_status = fields.String(
        required=True, validate=validate.OneOf(REFERRAL_STATUSES)
    )
    # what the office said: the reason, the progress note, the outcome's note
    note = fields.String(required=True, allow_none=True)
    outcome = fields.String(
        required=True, allow_none=True, validate=validate.OneOf(RESOLUTION_OUTCOMES)
    )
    changed_by = fields.String(required=True)
    changed_at = fields.AwareDateTime(required=True)


class ReferralOverdueV1(Schema):
    """``referral_overdue`` v1: an SLA clock ran out; escalated to ``ops``."""

    class Meta:
        unknown = RAISE

    referral = fields.Nested(ReferralRefSchema, required=True)
    reference = fields.String(required=True)
    clock = fields.String(required=True, validate=validate.OneOf(("accept", "resolve")))
    due_at = fields.AwareDateTime(required=True)
    escalated_to = fields.Nested(ReferralRefSchema, required=True)
    detected_at = fields.AwareDateTime(required=True)


class CaseClosedV1(Schema):
    """``case_closed`` v1: every referral of the case is resolved or withdrawn."""

    class Meta:
        unknown = RAISE

    reference = fields.String(required=True)
    referrals = fields.List(fields.Nested(ReferralRefSchema), required=True)
    outcomes = fields.Dict(
        keys=fields.String(),
        values=fields.String(allow_none=True),
        required=True,
    )
    closed_at = fields.AwareDateTime(required=True)


class ReferralLocationSchema(EventLocationSchema):
    """Where the case is, for the office: codes and coordinates, no address."""

    class Meta:
        unknown = RAISE


class FollowUpAgentSchema(Schema):
    """The field agent who follows the case for the office (work contacts)."""

    class Meta:
        unknown = RAISE

    agent_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(AGENT_KINDS))
    name_th = fields.String(required=True)
    phone = fields.String(required=True, allow_none=True)
    line_user_id = fields.String(required=True, allow_none=True)


class ReferralIssuedV1(Schema):
    """``referral_issued`` v1, on ``labornet.referrals``: what an office needs
    to act — never the citizen's name, phone, e-mail or national ID (the
    office asks intake for a contact it may use)."""

    class Meta:
        unknown = RAISE

    referral = fields.Nested(ReferralRefSchema, required=True)
    reference = fields.String(required=True)
    labels = fields.List(fields.Nested(CategoryLabelSchema), required=True)
    needs_review = fields.Boolean(required=True)
    description = fields.String(required=True)
    location = fields.Nested(ReferralLocationSchema, required=True)
    abroad_country = fields.String(required=True, allow_none=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))
    follow_up_agent = fields.Nested(FollowUpAgentSchema, required=True, allow_none=True)
    hop = fields.Integer(required=True, strict=True)
    escalated_from = fields.String(required=True, allow_none=True)
    issued_at = fields.AwareDateTime(required=True)


class FollowUpAgentRefSchema(Schema):
    """The field agent who follows the case for the office, by id only: an
    office reads the agent's work contact from registry's audited
    ``GET /v1/agents/{agent_id}/contact``, so no name or phone rides the
    broker."""

    class Meta:
        unknown = RAISE

    agent_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(AGENT_KINDS))


class ReferralIssuedV2(ReferralIssuedV1):
    """``referral_issued`` v2: v1 with ``follow_up_agent`` reduced to the
    agent's id and kind (v1 carried the agent's name, phone and LINE id)."""

    class Meta:
        unknown = RAISE

    follow_up_agent = fields.Nested(
        FollowUpAgentRefSchema, required=True, allow_none=True
    )


class NotificationFailedV1(Schema):
    """``notification_failed`` v1: a message could not be delivered on a
    channel after its retries (no address, only who and what)."""

    class Meta:
        unknown = RAISE

    delivery_id = fields.String(required=True)
    event_id = fields.String(required=True)
    reference = fields.String(required=True, allow_none=True)
    recipient_kind = fields.String(required=True)
    recipient_id = fields.String(required=True)
    channel = fields.String(required=True)
    message = fields.String(required=True)
    error = fields.String(required=True)
    attempts = fields.Integer(required=True, strict=True)
    fallback_channel = fields.String(required=True, allow_none=True)
    failed_at = fields.AwareDateTime(required=True)


# (event_type, schema_version) -> (source service, payload schema)
EVENT_TYPES: dict[tuple[str, int], tuple[str, type[Schema]]] = {
    # v1 stays known so messages queued before v2 still parse
    ("case_received", 1): ("intake", CaseReceivedV1),
    ("case_received", 2): ("intake", CaseReceivedV2),
    ("case_withdrawn", 1): ("intake", CaseWithdrawnV1),
    ("case_personal_data_erased", 1): ("intake", CasePersonalDataErasedV1),
    ("agent_registered", 1): ("registry", AgentSnapshotV1),
    ("agent_updated", 1): ("registry", AgentUpdatedV1),
    ("agent_deactivated", 1): ("registry", AgentDeactivatedV1),
    ("case_routed", 1): ("routing", CaseRoutedV1),
    ("case_routed", 2): ("routing", CaseRoutedV2),
    ("referral_status_changed", 1): ("routing", ReferralStatusChangedV1),
    ("referral_overdue", 1): ("routing", ReferralOverdueV1),
    ("case_closed", 1): ("routing", CaseClosedV1),
    # v1 stays known so messages queued before v2 still parse
    ("referral_issued", 1): ("routing", ReferralIssuedV1),
    ("referral_issued", 2): ("routing", ReferralIssuedV2),
    ("notification_failed", 1): ("notify", NotificationFailedV1),
}

#: the topic exchange agencies bind to: ``<agency>.<province_code>.<category>``
REFERRALS_EXCHANGE = "labornet.referrals"


def referral_routing_key(agency: str, province_code: str, category: str) -> str:
    """``sso.TH-52.social_security_benefit``: what an agency's queue binds."""
    return f"{agency}.{province_code}.{category}"


CURRENT_VERSIONS: dict[str, int] = {
    event_type: max(v for (t, v) in EVENT_TYPES if t == event_type)
    for (event_type, _version) in EVENT_TYPES
}


class InvalidEvent(ValueError):
    """A message that is not a valid labornet event; retrying cannot help."""


class UnknownEventVersion(InvalidEvent):
    """An event type or schema version this code does not know."""


@dataclass(frozen=True)
class Event:
    """A parsed, validated event."""

    event_id: str
    event_type: str
    schema_version: int
    occurred_at: datetime
    correlation_id: str | None
    payload: dict[str, Any]

    def to_body(self) -> dict[str, Any]:
        """The JSON-ready envelope."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "occurred_at": self.occurred_at.isoformat(),
            "correlation_id": self.correlation_id,
            "payload": self.payload,
        }


@functools.cache
def _schema(event_type: str, version: int) -> Schema:
    """One payload schema instance per (type, version), built on first use."""
    return EVENT_TYPES[(event_type, version)][1]()


_ENVELOPE = EnvelopeSchema()


def source_service(event_type: str) -> str:
    """The service that publishes ``event_type``."""
    version = CURRENT_VERSIONS.get(event_type)
    if version is None:
        raise UnknownEventVersion(f"unknown event type {event_type!r}")
    return EVENT_TYPES[(event_type, version)][0]


def make_event(
    event_type: str,
    payload: dict[str, Any],
    correlation_id: str | None = None,
    *,
    schema_version: int | None = None,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
    validate_payload: bool = True,
) -> Event:
    """Validate ``payload`` against its schema and wrap it in an envelope.

    ``validate_payload=False`` is for bulk producers (a roster import of
    thousands of agents) that build every payload with the same code and
    validate one of each batch: marshmallow costs more than the database.
    """
    version = schema_version or CURRENT_VERSIONS.get(event_type)
    entry = EVENT_TYPES.get((event_type, version or 0))
    if entry is None:
        raise UnknownEventVersion(f"unknown event {event_type!r} v{version}")
    if validate_payload:
        errors = _schema(event_type, int(version or 0)).validate(payload)
        if errors:
            raise InvalidEvent(f"{event_type} payload invalid: {sorted(errors)}")
    return Event(
        event_id=event_id or str(uuid.uuid4()),
        event_type=event_type,
        schema_version=int(version or 0),
        occurred_at=occurred_at or datetime.now(UTC),
        correlation_id=correlation_id,
        payload=payload,
    )


def parse_event(body: Any, accept: dict[str, set[int]] | None = None) -> Event:
    """Validate an envelope and its payload.

    ``accept`` maps event types to the versions this consumer handles
    (default: every version the registry knows).
    """
    if not isinstance(body, dict):
        raise InvalidEvent("event body is not a JSON object")
    try:
        envelope = _ENVELOPE.load(body)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid envelope: {sorted(exc.messages)}") from exc
    key = (envelope["event_type"], envelope["schema_version"])
    entry = EVENT_TYPES.get(key)
    accepted = accept.get(key[0], set()) if accept is not None else None
    if entry is None or (accepted is not None and key[1] not in accepted):
        raise UnknownEventVersion(f"unknown event {key[0]!r} v{key[1]}")
    try:
        _schema(*key).load(envelope["payload"])
    except ValidationError as exc:
        raise InvalidEvent(
            f"invalid {key[0]} v{key[1]} payload: {sorted(exc.messages)}"
        ) from exc
    return Event(
        event_id=str(envelope["event_id"]),
        event_type=key[0],
        schema_version=key[1],
        occurred_at=envelope["occurred_at"],
        correlation_id=envelope["correlation_id"],
        payload=envelope["payload"],
    )
