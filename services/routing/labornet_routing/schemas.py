"""routing's request and response schemas (marshmallow), also its OpenAPI."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from labornet_shared import location
from labornet_shared.categories import AGENCIES, CATEGORIES
from labornet_shared.events import REFERRAL_STATUSES, RESOLUTION_OUTCOMES
from labornet_shared.fields import Text, in_utc_range
from labornet_shared.pagination import MAX_LIMIT

_PROVINCE = location.PROVINCE_CODE
_AGENCY = validate.OneOf(tuple(AGENCIES))
_CATEGORY = validate.OneOf(CATEGORIES)


class ReferralListQuerySchema(Schema):
    """``GET /v1/referrals`` filters."""

    class Meta:
        unknown = RAISE

    status = Text(validate=validate.OneOf(REFERRAL_STATUSES))
    province = Text(validate=_PROVINCE)
    category = Text(validate=_CATEGORY)
    agency = Text(validate=_AGENCY)
    overdue = fields.Boolean()
    since = fields.AwareDateTime(validate=in_utc_range)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT))
    cursor = Text(load_default=None)

    @post_load
    def _in_utc(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # PostgreSQL refuses offsets beyond ±15:59; the moment is the same
        if data.get("since") is not None:
            data["since"] = data["since"].astimezone(UTC)
        return data


class LabelSchema(Schema):
    """A problem of the case, its score and the words that decided it."""

    category = fields.String()
    score = fields.Float()
    evidence = fields.List(fields.String())


class NoteSchema(Schema):
    """What an office said, and when."""

    status = fields.String()
    note = fields.String(allow_none=True)
    author = fields.String()
    created_at = fields.AwareDateTime()


class LocationSchema(location.LocationOutSchema):
    """Where the case is: codes and coordinates, no street address."""


class ReferralSchema(Schema):
    """A referral as its office sees it (never the citizen's identity)."""

    id = fields.String()
    reference = fields.String()
    agency = fields.String()
    province_code = fields.String()
    office = fields.String()
    categories = fields.List(fields.String())
    labels = fields.List(fields.Nested(LabelSchema))
    needs_review = fields.Boolean()
    status = fields.String()
    outcome = fields.String(allow_none=True)
    overdue = fields.Boolean()
    hop = fields.Integer()
    replaces = fields.String(allow_none=True)
    escalated_from = fields.String(allow_none=True)
    agent_id = fields.String(allow_none=True)
    description = fields.String()
    location = fields.Nested(LocationSchema)
    abroad_country = fields.String(allow_none=True)
    language = fields.String(
        metadata={
            "description": "The language the citizen is answered in: the one"
            " they chose, else the one their description is written in."
        }
    )
    language_chosen = fields.Boolean(
        metadata={
            "description": "True: the citizen chose `language`; false: intake"
            " read it from the description's script (no language was given)."
        }
    )
    screened_language = fields.String(
        allow_none=True,
        metadata={
            "description": "The language the description is written in (th,"
            " my, en), as screening read it from its script; null for a case"
            " screened before screening read languages."
        },
    )
    due_accept_at = fields.AwareDateTime()
    due_resolve_at = fields.AwareDateTime()
    notes = fields.List(fields.Nested(NoteSchema))
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    # +1 at every change; send it back as If-Match to act on this state only
    version = fields.Integer()


class ReferralListSchema(Schema):
    """A page of referrals."""

    referrals = fields.List(fields.Nested(ReferralSchema))
    next_cursor = fields.String(allow_none=True)


class AcceptSchema(Schema):
    """``POST /v1/referrals/{id}/accept``."""

    class Meta:
        unknown = RAISE

    note = Text(load_default=None, allow_none=True, validate=validate.Length(1, 2000))


class RejectSchema(Schema):
    """``POST /v1/referrals/{id}/reject``: the office says why."""

    class Meta:
        unknown = RAISE

    reason = Text(required=True, validate=validate.Length(3, 2000))


class ProgressSchema(Schema):
    """``POST /v1/referrals/{id}/progress``: what the office did."""

    class Meta:
        unknown = RAISE

    note = Text(required=True, validate=validate.Length(1, 2000))


class ResolveSchema(Schema):
    """``POST /v1/referrals/{id}/resolve``: how it ended."""

    class Meta:
        unknown = RAISE

    outcome = Text(required=True, validate=validate.OneOf(RESOLUTION_OUTCOMES))
    note = Text(load_default=None, allow_none=True, validate=validate.Length(1, 2000))


class RuleCreateSchema(Schema):
    """``POST /v1/rules``: a routing rule, in force for the next case."""

    class Meta:
        unknown = RAISE

    kind = Text(required=True, validate=validate.OneOf(("override", "extra", "abroad")))
    agency = Text(required=True, validate=_AGENCY)
    category = Text(load_default=None, allow_none=True, validate=_CATEGORY)
    province_code = Text(load_default=None, allow_none=True, validate=_PROVINCE)
    with_category = Text(load_default=None, allow_none=True, validate=_CATEGORY)
    note = Text(load_default=None, allow_none=True, validate=validate.Length(1, 500))

    @validates_schema
    def _complete(self, data: dict[str, Any], **_: Any) -> None:
        if data["kind"] in ("override", "extra") and not data.get("category"):
            raise ValidationError("required", field_name="category")
        if data["kind"] == "abroad" and data.get("province_code"):
            raise ValidationError("invalid", field_name="province_code")
        if data.get("with_category") and data["kind"] != "extra":
            raise ValidationError("invalid", field_name="with_category")


class RuleSchema(Schema):
    """A routing rule."""

    id = fields.Integer()
    kind = fields.String()
    agency = fields.String()
    category = fields.String(allow_none=True)
    province_code = fields.String(allow_none=True)
    with_category = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    created_by = fields.String()
    created_at = fields.AwareDateTime()


class RuleListSchema(Schema):
    """Every routing rule."""

    rules = fields.List(fields.Nested(RuleSchema))


class SlaSchema(Schema):
    """``PUT /v1/sla``: working days to accept and resolve."""

    class Meta:
        unknown = RAISE

    agency = Text(required=True, validate=_AGENCY)
    category = Text(load_default=None, allow_none=True, validate=_CATEGORY)
    accept_days = fields.Integer(
        required=True, strict=True, validate=validate.Range(0, 60)
    )
    resolve_days = fields.Integer(
        required=True, strict=True, validate=validate.Range(1, 365)
    )

    @validates_schema
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        if data["resolve_days"] < data["accept_days"]:
            raise ValidationError("out_of_range", field_name="resolve_days")


class SlaListSchema(Schema):
    """Every SLA setting."""

    settings = fields.List(fields.Nested(SlaSchema))


class HolidaySchema(Schema):
    """A public holiday the SLA clocks skip."""

    class Meta:
        unknown = RAISE

    day = fields.Date(required=True)
    name = Text(required=True, validate=validate.Length(1, 200))


class HolidayListSchema(Schema):
    """Public holidays."""

    holidays = fields.List(fields.Nested(HolidaySchema))
