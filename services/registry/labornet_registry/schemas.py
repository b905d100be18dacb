"""registry's request and response schemas (marshmallow), also its OpenAPI.

A loaded agent is the *agent input* dict that the roster reader also
produces, so the API and the import share one path into the domain.
"""

from __future__ import annotations

from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
    validates_schema,
)

from labornet_shared import location
from labornet_shared.categories import AGENT_KINDS, AGENT_STATUSES
from labornet_shared.events import AGENT_LANGUAGE
from labornet_shared.fields import (
    COUNTRY_SHAPE,
    NATIONAL_ID_SHAPE,
    Email,
    Text,
    reference_check,
)
from labornet_shared.pagination import MAX_LIMIT
from labornet_shared.reference import (
    normalize_phone,
    validate_country,
    validate_national_id,
)

_PROVINCE = location.PROVINCE_CODE
_DISTRICT = location.DISTRICT_CODE
_SUBDISTRICT = location.SUBDISTRICT_CODE


class AreaSchema(location.AreaCodesSchema):
    """A place an agent covers: a province, or a district or subdistrict in it."""


class TrainingSchema(Schema):
    """A course the agent completed."""

    class Meta:
        unknown = RAISE

    course = Text(required=True, validate=validate.Length(1, 200))
    completed_on = fields.Date(required=True)
    certificate = Text(
        load_default=None, allow_none=True, validate=validate.Length(1, 100)
    )


def _name(required: bool) -> Text:
    if required:
        return Text(required=True, validate=validate.Length(1, 100))
    return Text(load_default=None, allow_none=True, validate=validate.Length(1, 100))


class _ContactFields(Schema):
    """The fields an agent may change about themself."""

    class Meta:
        unknown = RAISE

    phone = Text(allow_none=True)
    email = Email(
        allow_none=True,
        validate=validate.Length(max=254),
        error_messages={"invalid": "email_format"},
    )
    line_user_id = Text(allow_none=True, validate=validate.Length(1, 100))
    languages = fields.List(
        Text(validate=AGENT_LANGUAGE),
        validate=validate.Length(1, 10),
    )

    @validates("phone")
    def _phone(self, value: str | None, **_: Any) -> None:
        if value is not None:
            reference_check(normalize_phone, value)

    @post_load
    def _normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("phone"):
            data["phone"] = normalize_phone(data["phone"])
        if data.get("email"):
            data["email"] = data["email"].lower()
        if "languages" in data:
            # the order says which the agent speaks best; repeats mean nothing
            data["languages"] = list(dict.fromkeys(data["languages"]))
        return data


class AgentPatchSchema(_ContactFields):
    """``PATCH /v1/agents/{id}``: any of these (an agent token: contact and
    languages only). The national ID cannot change."""

    kind = Text(validate=validate.OneOf(AGENT_KINDS))
    status = Text(validate=validate.OneOf(("active", "suspended")))
    first_name_th = Text(validate=validate.Length(1, 100))
    last_name_th = Text(validate=validate.Length(1, 100))
    first_name_en = Text(allow_none=True, validate=validate.Length(1, 100))
    last_name_en = Text(allow_none=True, validate=validate.Length(1, 100))
    areas = fields.List(fields.Nested(AreaSchema), validate=validate.Length(max=50))
    abroad_country = Text(allow_none=True, metadata=COUNTRY_SHAPE)
    abroad_city = Text(allow_none=True, validate=validate.Length(1, 100))
    start_date = fields.Date(allow_none=True)
    term_end = fields.Date(allow_none=True)
    training = fields.List(
        fields.Nested(TrainingSchema), validate=validate.Length(max=100)
    )

    @validates("abroad_country")
    def _country(self, value: str | None, **_: Any) -> None:
        if value is not None:
            reference_check(validate_country, value)

    @post_load
    def _upper_country(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("abroad_country"):
            data["abroad_country"] = validate_country(data["abroad_country"])
        return data


class AgentCreateSchema(AgentPatchSchema):
    """``POST /v1/agents``: a new labour graduate or volunteer."""

    kind = Text(required=True, validate=validate.OneOf(AGENT_KINDS))
    status = Text(load_default="active", validate=validate.OneOf(AGENT_STATUSES))
    first_name_th = _name(True)
    last_name_th = _name(True)
    first_name_en = _name(False)
    last_name_en = _name(False)
    national_id = Text(required=True, metadata=NATIONAL_ID_SHAPE)
    phone = Text(load_default=None, allow_none=True)
    email = Email(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=254),
        error_messages={"invalid": "email_format"},
    )
    line_user_id = Text(
        load_default=None, allow_none=True, validate=validate.Length(1, 100)
    )
    languages = fields.List(
        Text(validate=AGENT_LANGUAGE),
        load_default=lambda: ["th"],
        validate=validate.Length(1, 10),
    )
    areas = fields.List(
        fields.Nested(AreaSchema), load_default=list, validate=validate.Length(max=50)
    )
    abroad_country = Text(load_default=None, allow_none=True, metadata=COUNTRY_SHAPE)
    abroad_city = Text(
        load_default=None, allow_none=True, validate=validate.Length(1, 100)
    )
    start_date = fields.Date(load_default=None, allow_none=True)
    term_end = fields.Date(load_default=None, allow_none=True)
    training = fields.List(
        fields.Nested(TrainingSchema),
        load_default=list,
        validate=validate.Length(max=100),
    )

    @validates("national_id")
    def _national_id(self, value: str, **_: Any) -> None:
        reference_check(validate_national_id, value)

    @validates_schema
    def _place(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("areas") and data.get("abroad_country"):
            raise ValidationError("place_conflict", field_name="abroad_country")
        if not data.get("areas") and not data.get("abroad_country"):
            raise ValidationError("place_required", field_name="areas")

    @post_load
    def _national_id_digits(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["national_id"] = validate_national_id(data["national_id"])
        return data


class AgentAreaOutSchema(location.AreaCodesOutSchema):
    """A covered place, as answered."""


class AgentSchema(Schema):
    """An agent, whole (operator, or the agent themself)."""

    id = fields.String()
    kind = fields.String()
    status = fields.String()
    first_name_th = fields.String()
    last_name_th = fields.String()
    first_name_en = fields.String(allow_none=True)
    last_name_en = fields.String(allow_none=True)
    national_id = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    line_user_id = fields.String(allow_none=True)
    languages = fields.List(fields.String())
    areas = fields.List(fields.Nested(AgentAreaOutSchema))
    abroad_country = fields.String(allow_none=True)
    abroad_city = fields.String(allow_none=True)
    office = fields.String()
    region = fields.String()
    province_code = fields.String(allow_none=True)
    start_date = fields.Date(allow_none=True)
    term_end = fields.Date(allow_none=True)
    training = fields.List(fields.Nested(TrainingSchema))
    revision = fields.Integer()
    deactivation_reason = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class AgentSummarySchema(Schema):
    """An agent in a list: no national ID."""

    id = fields.String()
    kind = fields.String()
    status = fields.String()
    name_th = fields.String()
    name_en = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    languages = fields.List(fields.String())
    areas = fields.List(fields.Nested(AgentAreaOutSchema))
    abroad_country = fields.String(allow_none=True)
    abroad_city = fields.String(allow_none=True)
    office = fields.String()


class AgentContactSchema(Schema):
    """An agent's work contact, for the office a referral names it to: no
    national ID, no areas, no training."""

    agent_id = fields.String()
    kind = fields.String()
    status = fields.String()
    name_th = fields.String()
    name_en = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    line_user_id = fields.String(allow_none=True)
    languages = fields.List(fields.String())
    office = fields.String()


class AgentListSchema(Schema):
    """A page of agents."""

    agents = fields.List(fields.Nested(AgentSummarySchema))
    next_cursor = fields.String(allow_none=True)


class AgentListQuerySchema(Schema):
    """``GET /v1/agents`` filters."""

    class Meta:
        unknown = RAISE

    kind = Text(validate=validate.OneOf(AGENT_KINDS))
    status = Text(validate=validate.OneOf(AGENT_STATUSES))
    region = Text(
        validate=validate.OneOf(("north", "northeast", "central", "south", "abroad"))
    )
    province = Text(validate=_PROVINCE)
    district = Text(validate=_DISTRICT)
    subdistrict = Text(validate=_SUBDISTRICT)
    country = Text(metadata=COUNTRY_SHAPE)
    language = Text(validate=AGENT_LANGUAGE)
    q = Text(validate=validate.Length(1, 100))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT))
    cursor = Text(load_default=None)

    @validates("country")
    def _country(self, value: str, **_: Any) -> None:
        reference_check(validate_country, value)

    @post_load
    def _upper_country(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("country"):
            data["country"] = validate_country(data["country"])
        return data


class CoverageQuerySchema(Schema):
    """``GET /v1/coverage``: a place in Thailand, or a country abroad."""

    class Meta:
        unknown = RAISE

    province = Text(validate=_PROVINCE)
    district = Text(validate=_DISTRICT)
    subdistrict = Text(validate=_SUBDISTRICT)
    country = Text(metadata=COUNTRY_SHAPE)
    language = Text(validate=AGENT_LANGUAGE)

    @validates("country")
    def _country(self, value: str, **_: Any) -> None:
        reference_check(validate_country, value)

    @validates_schema
    def _one_place(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("country") and data.get("province"):
            raise ValidationError("place_conflict", field_name="country")
        if not data.get("country") and not data.get("province"):
            raise ValidationError("place_required", field_name="province")

    @post_load
    def _upper_country(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("country"):
            data["country"] = validate_country(data["country"])
        return data


class CoverageEntrySchema(Schema):
    """An agent responsible for the place, and at which level."""

    level = fields.String()
    agent = fields.Nested(AgentSummarySchema)


class CoverageSchema(Schema):
    """The active agents responsible for a place, most specific first."""

    agents = fields.List(fields.Nested(CoverageEntrySchema))


class DeactivateSchema(Schema):
    """``POST /v1/agents/{id}/deactivate``."""

    class Meta:
        unknown = RAISE

    reason = Text(load_default=None, allow_none=True, validate=validate.Length(1, 500))


class ImportQuerySchema(Schema):
    """``POST /v1/agents/import`` options."""

    class Meta:
        unknown = RAISE

    dry_run = fields.Boolean(load_default=False)
    all_or_nothing = fields.Boolean(load_default=False)
    filename = Text(load_default="roster.csv", validate=validate.Length(1, 255))


class SuggestionSchema(Schema):
    """A current place the gazetteer offers for a place name it does not know."""

    code = fields.String(metadata={"description": "DOPA district or subdistrict code"})
    name_th = fields.String()
    reason = fields.String(
        metadata={
            "description": "`successor`: the name written was retired and this"
            " place took its place; `similar_name`: spelt close to it",
            "enum": ["successor", "similar_name"],
        }
    )


class RowErrorSchema(Schema):
    """A problem in one cell (or row) of a roster."""

    row = fields.Integer()
    column = fields.String()
    code = fields.String()
    detail = fields.String()
    suggestions = fields.List(
        fields.Nested(SuggestionSchema),
        metadata={
            "description": "for a district or subdistrict the gazetteer does"
            " not know: the retired name's successors first, then at most three"
            " close spellings in the row's district or province (also in"
            " `detail`); empty otherwise"
        },
    )


class ImportReportSchema(Schema):
    """What an import did, and every row it rejected."""

    import_id = fields.Integer()
    mode = fields.String()
    rows_read = fields.Integer()
    registered = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    rejected = fields.Integer()
    imported = fields.Boolean()
    errors = fields.List(fields.Nested(RowErrorSchema))
    rejected_csv = fields.String(allow_none=True)


class StatsSchema(Schema):
    """The network by kind, region, province and status, and its gaps."""

    totals = fields.Dict()
    counts = fields.List(fields.Dict())
    districts = fields.Integer()
    districts_covered = fields.Integer()
    coverage_gaps = fields.List(fields.Dict())
