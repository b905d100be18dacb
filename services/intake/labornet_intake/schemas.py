"""intake's request and response schemas (marshmallow), also its OpenAPI.

Validators raise ``ValidationError`` with a stable error code as message, so
the problem+json answer names the field and the code, never the value.
"""

from __future__ import annotations

from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from labornet_shared import location
from labornet_shared.categories import CATEGORIES, CHANNELS, CONTACT_CHANNELS, LANGUAGES
from labornet_shared.fields import (
    COUNTRY_SHAPE,
    NATIONAL_ID_SHAPE,
    PHONE_SHAPE,
    Email,
    Text,
    in_utc_range,
    reference_check,
)
from labornet_shared.reference import (
    normalize_phone,
    validate_country,
    validate_national_id,
)


class LocationSchema(location.LocationSchema):
    """Where the problem is. Codes are checked against the gazetteer."""


class CitizenSchema(Schema):
    """The citizen's personal data: all optional, all needing consent."""

    class Meta:
        unknown = RAISE

    name = Text(load_default=None, allow_none=True, validate=validate.Length(1, 200))
    phone = Text(load_default=None, allow_none=True, metadata=PHONE_SHAPE)
    email = Email(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=254),
        error_messages={"invalid": "email_format"},
    )
    national_id = Text(load_default=None, allow_none=True, metadata=NATIONAL_ID_SHAPE)
    # not given: intake reads it from the description's script
    # (domain.submission), and the case records that it was not chosen
    language = Text(
        load_default=None,
        validate=validate.OneOf(LANGUAGES),
        metadata={
            "description": "The language the citizen chose to be answered in."
            " Left out (or null), the case takes the language its description"
            " is written in (Thai, Myanmar or English, by the script; Thai when"
            " the script says nothing) and records that it was not chosen."
        },
    )
    contact_channel = Text(
        load_default="none", validate=validate.OneOf(CONTACT_CHANNELS)
    )
    line_user_id = Text(
        load_default=None, allow_none=True, validate=validate.Length(1, 100)
    )

    @validates("phone")
    def _phone(self, value: str | None, **_: Any) -> None:
        if value is not None:
            reference_check(normalize_phone, value)

    @validates("national_id")
    def _national_id(self, value: str | None, **_: Any) -> None:
        if value is not None:
            reference_check(validate_national_id, value)

    @validates_schema
    def _contact_needs_detail(self, data: dict[str, Any], **_: Any) -> None:
        needs = {"sms": "phone", "line": "line_user_id", "email": "email"}
        detail = needs.get(data.get("contact_channel", "none"))
        if detail and not data.get(detail):
            raise ValidationError("contact_missing", field_name=detail)

    @post_load
    def _normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("phone"):
            data["phone"] = normalize_phone(data["phone"])
        if data.get("national_id"):
            data["national_id"] = validate_national_id(data["national_id"])
        return data


class ConsentSchema(Schema):
    """What the citizen agreed to, and when."""

    class Meta:
        unknown = RAISE

    purpose = Text(required=True, validate=validate.Length(1, 500))
    given_at = fields.AwareDateTime(required=True, validate=in_utc_range)
    # the agencies handling the case may call the citizen (GET .../contact)
    agencies_may_contact = fields.Boolean(load_default=False)


PERSONAL_FIELDS = ("name", "phone", "email", "national_id", "line_user_id")


class CaseCreateSchema(Schema):
    """``POST /v1/cases``."""

    class Meta:
        unknown = RAISE

    description = Text(required=True, validate=validate.Length(10, 5000))
    category = Text(
        load_default=None, allow_none=True, validate=validate.OneOf(CATEGORIES)
    )
    channel = Text(load_default="web", validate=validate.OneOf(CHANNELS))
    location = fields.Nested(LocationSchema, required=True)
    abroad_country = Text(load_default=None, allow_none=True, metadata=COUNTRY_SHAPE)
    citizen = fields.Nested(CitizenSchema, load_default=None, allow_none=True)
    consent = fields.Nested(
        ConsentSchema,
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Required as soon as any personal data (name, phone,"
            " e-mail, national ID, LINE id) is given (400 consent_required)."
        },
    )

    @pre_load
    def _strip_description(self, data: Any, **_: Any) -> Any:
        # the length rule is about the words, not the spaces around them
        if isinstance(data, dict) and isinstance(data.get("description"), str):
            data = {**data, "description": data["description"].strip()}
        return data

    @validates("abroad_country")
    def _country(self, value: str | None, **_: Any) -> None:
        if value is not None:
            reference_check(validate_country, value)

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _consent_with_personal_data(
        self, data: dict[str, Any], original: Any, **_: Any
    ) -> None:
        # the raw input: an invalid phone is still personal data given
        citizen = original.get("citizen") if isinstance(original, dict) else None
        citizen = citizen if isinstance(citizen, dict) else {}
        if any(citizen.get(name) for name in PERSONAL_FIELDS) and not (
            isinstance(original, dict) and original.get("consent")
        ):
            raise ValidationError("consent_required", field_name="consent")

    @post_load
    def _normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("abroad_country"):
            data["abroad_country"] = validate_country(data["abroad_country"])
        return data


class WithdrawSchema(Schema):
    """``POST /v1/cases/{reference}/withdraw``."""

    class Meta:
        unknown = RAISE

    reason = Text(
        load_default=None, allow_none=True, validate=validate.Length(max=1000)
    )


class CaseListQuerySchema(Schema):
    """Filters of ``GET /v1/cases``."""

    class Meta:
        unknown = RAISE

    province = Text(validate=location.PROVINCE_CODE)
    district = Text(validate=location.DISTRICT_CODE)
    status = Text(
        validate=validate.OneOf(
            ("received", "routed", "in_progress", "closed", "withdrawn")
        )
    )
    category = Text(
        validate=validate.OneOf(CATEGORIES),
        metadata={
            "description": "Cases whose citizen gave this category, or whose"
            " `categories` (routing's screening and referrals) include it."
        },
    )
    channel = Text(validate=validate.OneOf(CHANNELS))
    submitted_since = fields.AwareDateTime(validate=in_utc_range)
    submitted_until = fields.AwareDateTime(validate=in_utc_range)
    limit = fields.Integer(validate=validate.Range(1, 200), load_default=50)
    cursor = Text()


class TimelineEntrySchema(Schema):
    """One step of the case, as the citizen sees it: ``received``, ``routed``
    (one per office), a referral's status (``pending`` … ``resolved``,
    ``rejected``, ``withdrawn``), ``overdue``, ``closed`` or the case's own
    ``withdrawn``; the agency and office it concerns and what the office
    said."""

    status = fields.String()
    note = fields.String(allow_none=True)
    agency = fields.String(allow_none=True)
    office = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    escalated_to = fields.String(
        allow_none=True, metadata={"description": "An overdue referral's new office."}
    )
    occurred_at = fields.DateTime()


class AgencyNameSchema(Schema):
    """An agency's name in Thai and English."""

    th = fields.String()
    en = fields.String()


class ReferralOutSchema(Schema):
    """Which office has the case, in which status since when, what it said,
    and when it is expected to resolve it."""

    agency = fields.String()
    agency_name = fields.Nested(AgencyNameSchema)
    office = fields.String()
    status = fields.String()
    since = fields.DateTime()
    note = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    expected_by = fields.DateTime(metadata={"description": "The resolve deadline."})


#: what a case view says of ``category``
GIVEN_CATEGORY = (
    "The category the citizen (or the agent or Open311 client filing for them)"
    " gave, as submitted; null when none was given. Routing's findings are in"
    " `categories`."
)

#: what a case view says of ``categories``
SCREENED_CATEGORIES = (
    "The problems routing found in the case (screening) or referred to an"
    " office, best first, each with the offices that have it now; empty until"
    " routing has routed the case. A case submitted without a category gets"
    " its category here; `GET /v1/cases?category=` finds a case by these too."
)


class OfficeOutSchema(Schema):
    """An office that has one of the case's problems."""

    office = fields.String(
        metadata={"description": "`<agency>.<province_code>`, `dlpw.TH-52`."}
    )
    agency = fields.String()
    province_code = fields.String()


class CaseCategoryOutSchema(Schema):
    """One problem routing found in the case or referred, and who has it."""

    category = fields.String()
    score = fields.Float(
        allow_none=True,
        metadata={
            "description": "How sure screening is, 0–1; null for a category"
            " an office was given without a screening label."
        },
    )
    referred = fields.Boolean(
        metadata={"description": "True once routing referred it to an office."}
    )
    offices = fields.List(
        fields.Nested(OfficeOutSchema),
        metadata={
            "description": "The offices its referrals went to, in the order"
            " referred, but for one that rejected it (routing passed it on to"
            " the next office); an office a referral was escalated to is"
            " added beside the overdue one."
        },
    )


class CaseLocationOutSchema(location.LocationOutSchema):
    """The case's place."""

    coordinates_source = fields.String()
    address = fields.String(allow_none=True)


class CaseStatusSchema(Schema):
    """What the citizen sees with the tracking code: no personal data."""

    reference = fields.String()
    status = fields.String()
    category = fields.String(allow_none=True, metadata={"description": GIVEN_CATEGORY})
    categories = fields.List(
        fields.Nested(CaseCategoryOutSchema),
        metadata={"description": SCREENED_CATEGORIES},
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    referrals = fields.List(fields.Nested(ReferralOutSchema))


class CaseLinkSummarySchema(CaseStatusSchema):
    """What a field agent's case link shows (``/a/{reference}``), to any
    agent it was sent to: the status view without the offices' notes (a
    note may quote the citizen), and the place's area codes. Nothing
    personal, no description, no address: the link is easily forwarded."""

    timeline = fields.List(fields.Nested(TimelineEntrySchema, exclude=("note",)))
    referrals = fields.List(fields.Nested(ReferralOutSchema, exclude=("note",)))
    location = fields.Nested(
        CaseLocationOutSchema,
        only=("province_code", "district_code", "subdistrict_code"),
    )


class CitizenOutSchema(Schema):
    """The citizen's data, for the submitting agent and operators."""

    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    national_id = fields.String(allow_none=True)
    line_user_id = fields.String(allow_none=True)
    contact_channel = fields.String()
    consent_purpose = fields.String(allow_none=True)
    consent_given_at = fields.DateTime(allow_none=True)
    agencies_may_contact = fields.Boolean()


#: what a case view says of ``language_chosen``
LANGUAGE_CHOSEN = (
    "True: the citizen chose `language`; false: intake read it from the"
    " script the description is written in (no language was given)."
)


class CitizenContactOutSchema(Schema):
    """``GET /v1/cases/{reference}/contact``: how the office handling the case
    reaches the citizen (no national ID)."""

    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    line_user_id = fields.String(allow_none=True)
    language = fields.String()
    language_chosen = fields.Boolean(metadata={"description": LANGUAGE_CHOSEN})
    contact_channel = fields.String()


class CaseSchema(CaseStatusSchema):
    """The whole case (agent who submitted it, operators)."""

    description = fields.String()
    channel = fields.String()
    language = fields.String()
    language_chosen = fields.Boolean(metadata={"description": LANGUAGE_CHOSEN})
    location = fields.Nested(CaseLocationOutSchema)
    abroad_country = fields.String(allow_none=True)
    submitted_by_agent_id = fields.String(allow_none=True)
    citizen = fields.Nested(CitizenOutSchema, allow_none=True)
    personal_data_erased_at = fields.DateTime(allow_none=True)


class CaseSummarySchema(Schema):
    """A row of ``GET /v1/cases``: no personal data."""

    reference = fields.String()
    status = fields.String()
    category = fields.String(allow_none=True, metadata={"description": GIVEN_CATEGORY})
    categories = fields.List(
        fields.String(),
        metadata={
            "description": "The categories routing found or referred, best"
            " first (the case view has their offices)."
        },
    )
    channel = fields.String()
    province_code = fields.String()
    district_code = fields.String(allow_none=True)
    submitted_by_agent_id = fields.String(allow_none=True)
    created_at = fields.DateTime()


class CaseListSchema(Schema):
    """A page of cases."""

    cases = fields.List(fields.Nested(CaseSummarySchema))
    next_cursor = fields.String(allow_none=True)


class CaseCreatedSchema(Schema):
    """``201`` answer to ``POST /v1/cases``."""

    reference = fields.String()
    tracking_code = fields.String()
    status = fields.String()
    links = fields.Dict(keys=fields.String(), values=fields.String())


class FeedbackSchema(Schema):
    """``POST /v1/cases/{reference}/feedback``: the citizen's answer to the
    link notify sent when the case closed (JSON, or a web form's
    ``application/x-www-form-urlencoded`` with the same names: ``solved`` as
    ``true``/``false``, ``yes``/``no`` or ``1``/``0``)."""

    class Meta:
        unknown = RAISE

    token = Text(
        required=True,
        validate=validate.Length(1, 500),
        metadata={"description": "The signed single-use token of the link."},
    )
    rating = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, 5),
        metadata={"description": "How the service was, 1 (poor) to 5 (very good)."},
    )
    solved = fields.Boolean(
        required=True,
        truthy={True},
        falsy={False},
        metadata={"description": "Whether the problem was solved."},
    )
    comment = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=1000),
        metadata={"description": "In the citizen's words; wiped on erasure."},
    )

    @post_load
    def _blank_comment(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # a form's empty text box is no comment
        comment = (data.get("comment") or "").strip()
        data["comment"] = comment or None
        return data


#: the languages of the citizen's pages (``/f/``, ``/t/``); others: Thai
PAGE_LANGUAGES: tuple[str, ...] = ("th", "en", "my")


def _page_language(description: str, **kwargs: Any) -> Any:
    """A page's ``lang``: one of :data:`PAGE_LANGUAGES`."""
    return Text(
        validate=validate.OneOf(PAGE_LANGUAGES),
        metadata={"description": description},
        **kwargs,
    )


class FeedbackFormSchema(FeedbackSchema):
    """The answer as the feedback page's web form sends it: the same fields,
    and the page's language (a hidden field), in which a browser is answered.
    Not stored."""

    # Not the case's language, which this form never changes: the page
    # opened in the language of the message that linked to it, and the
    # form offers no choice of the language the citizen is written to in.
    lang = _page_language(
        "The language of the page that answers a browser.", load_default=None
    )


class PageQuerySchema(Schema):
    """``GET /t/{reference}``: the link's query (documentation only: the
    page answers anything, in HTML). The link never carries the code."""

    lang = _page_language(
        "The page's language; without it (or with another value) "
        "Accept-Language chooses, else Thai."
    )


class FeedbackPageQuerySchema(PageQuerySchema):
    """``GET /f/{reference}``: the link's query (documentation only: the page
    answers anything, in HTML)."""

    t = Text(
        required=True,
        validate=validate.Length(1, 500),
        metadata={"description": "The signed single-use token of the link."},
    )


class AgentPageQuerySchema(PageQuerySchema):
    """``GET /a/{reference}``: a field agent's case link (documentation only:
    the page answers anything, in HTML)."""

    t = Text(
        required=True,
        validate=validate.Length(1, 500),
        metadata={
            "description": "The signed token of the link: one agent, one "
            "case, 14 days, not single-use."
        },
    )


#: the longest text the follow page's code field takes (a code is 11
#: characters as the receipt writes it; room for spaces and dashes)
TRACKING_CODE_MAX = 40


class FollowFormSchema(Schema):
    """``POST /t/{reference}``: the follow page's form (a web form). The
    code as the receipt gave it, typed with or without spaces, dashes and
    capitals."""

    class Meta:
        unknown = RAISE

    code = Text(
        required=True,
        validate=validate.Length(1, TRACKING_CODE_MAX),
        metadata={"description": "The case's tracking code (XXXXX-XXXXX)."},
    )
    lang = _page_language("The language of the page that answers.", load_default=None)


class FeedbackGivenSchema(Schema):
    """``201`` answer to ``POST /v1/cases/{reference}/feedback``."""

    reference = fields.String()
    rating = fields.Integer()
    solved = fields.Boolean()
    answered_at = fields.DateTime()


#: the longest ``Idempotency-Key`` header taken (``POST /v1/cases``, Open311)
IDEMPOTENCY_KEY_MAX = 200


def idempotency_key_error(key: str | None) -> str | None:
    """What is wrong with an ``Idempotency-Key`` header: ``length`` (not 1 to
    :data:`IDEMPOTENCY_KEY_MAX` characters) or ``invalid`` (a NUL, which
    PostgreSQL text cannot hold: storing the key would be a 500); None for
    a good key or none."""
    if key is None:
        return None
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
        return "length"
    if "\x00" in key:
        return "invalid"
    return None
