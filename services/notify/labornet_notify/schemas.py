"""notify's request and response schemas (marshmallow), also its OpenAPI."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from labornet_shared.categories import AGENCIES, AGENT_KINDS
from labornet_shared.events import EVENT_TYPES
from labornet_shared.fields import Text
from labornet_shared.pagination import MAX_LIMIT
from labornet_shared.reference.geography.provinces import REGIONS

_URL = r"^[hH][tT][tT][pP][sS]?://[^\x00-\x20\x7f-\x9f]+\Z"
_PROVINCE = validate.Regexp(r"^TH-[0-9]{2}\Z", error="province_format")
# what an agency may subscribe to: routing's referral messages and events
WEBHOOK_EVENT_TYPES = tuple(
    sorted({t for (t, _v), (source, _s) in EVENT_TYPES.items() if source == "routing"})
)


class SubscriptionCreateSchema(Schema):
    """``POST /v1/subscriptions``: an agency system's webhook endpoint."""

    class Meta:
        unknown = RAISE

    # what the URL check (channels.check_webhook_url) refuses outright, said
    # in the document too: http(s), no control characters or spaces
    url = Text(
        required=True,
        validate=[validate.Length(8, 2000), validate.Regexp(_URL, error="unsafe_url")],
    )
    agency = Text(required=True, validate=validate.OneOf(tuple(AGENCIES)))
    provinces = fields.List(
        Text(validate=_PROVINCE), load_default=list, validate=validate.Length(max=77)
    )
    event_types = fields.List(
        Text(validate=validate.OneOf(WEBHOOK_EVENT_TYPES)),
        load_default=list,
        validate=validate.Length(max=len(WEBHOOK_EVENT_TYPES)),
    )


class SubscriptionSchema(Schema):
    """A webhook subscription (its secret is shown only when made)."""

    id = fields.String()
    url = fields.String()
    agency = fields.String()
    provinces = fields.List(fields.String())
    event_types = fields.List(fields.String())
    status = fields.String()
    paused_reason = fields.String(allow_none=True)
    failing_since = fields.AwareDateTime(allow_none=True)
    rotating_until = fields.AwareDateTime(allow_none=True)
    created_by = fields.String()
    created_at = fields.AwareDateTime()


class SubscriptionCreatedSchema(SubscriptionSchema):
    """The new subscription, with its ``whsec_`` secret: keep it now."""

    secret = fields.String()


class SubscriptionListSchema(Schema):
    """Webhook subscriptions."""

    subscriptions = fields.List(fields.Nested(SubscriptionSchema))


class SecretSchema(Schema):
    """A rotated secret; the previous one signs too until ``rotating_until``."""

    secret = fields.String()
    rotating_until = fields.AwareDateTime()


class PauseSchema(Schema):
    """``POST /v1/subscriptions/{id}/pause``."""

    class Meta:
        unknown = RAISE

    reason = Text(load_default=None, allow_none=True, validate=validate.Length(1, 200))


class PingResultSchema(Schema):
    """What the agency's endpoint answered to a signed test message."""

    delivered = fields.Boolean()
    response = fields.String()
    error = fields.String(allow_none=True)


class DeliveryQuerySchema(Schema):
    """``GET /v1/deliveries`` filters."""

    class Meta:
        unknown = RAISE

    reference = Text(validate=validate.Regexp(r"^LN-[0-9]{4}-[0-9]{8}\Z"))
    recipient = Text(validate=validate.Length(1, 64))
    channel = Text(validate=validate.OneOf(("auto", "sms", "line", "email", "webhook")))
    status = Text(
        validate=validate.OneOf(
            ("pending", "sending", "sent", "failed", "skipped", "interrupted")
        )
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT))
    cursor = Text(load_default=None)


class ConsoleQuerySchema(Schema):
    """``GET /console`` filters: the messages the console channel showed.
    Empty means any (the page's form sends "every channel" and an empty case
    field as empty values)."""

    class Meta:
        unknown = RAISE

    channel = Text(validate=validate.OneOf(("", "sms", "line", "email", "webhook")))
    case = Text(validate=validate.Regexp(r"^(LN-[0-9]{4}-[0-9]{8})?\Z"))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT))


class DeliverySchema(Schema):
    """One delivery: who, what, on which channel, how it went (the address
    masked)."""

    id = fields.String()
    event_id = fields.String()
    event_type = fields.String()
    reference = fields.String(allow_none=True)
    recipient_kind = fields.String()
    recipient_id = fields.String()
    channel = fields.String()
    sent_channel = fields.String(allow_none=True)
    message = fields.String()
    language = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    address = fields.String(allow_none=True)
    provider_response = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    fallback_id = fields.String(allow_none=True)
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    sent_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()


class DeliveryListSchema(Schema):
    """A page of deliveries."""

    deliveries = fields.List(fields.Nested(DeliverySchema))
    next_cursor = fields.String(allow_none=True)


# --- announcements ------------------------------------------------------------

_DISTRICT = validate.Regexp(r"^[0-9]{4}\Z", error="district_format")
_COUNTRY = validate.Regexp(r"^[A-Z]{2}\Z", error="country_format")
#: the longest text taken before the SMS check (which is stricter for Thai)
ANNOUNCEMENT_TEXT_MAX = 1000


class AnnouncementTargetSchema(Schema):
    """Who hears an announcement: any of the places (regions, provinces,
    districts, countries abroad), of the kinds if named; or ``all``."""

    class Meta:
        unknown = RAISE

    all = fields.Boolean(load_default=False)
    regions = fields.List(
        Text(validate=validate.OneOf(REGIONS)),
        load_default=list,
        validate=validate.Length(max=len(REGIONS)),
    )
    provinces = fields.List(
        Text(validate=_PROVINCE), load_default=list, validate=validate.Length(max=77)
    )
    districts = fields.List(
        Text(validate=_DISTRICT), load_default=list, validate=validate.Length(max=1000)
    )
    kinds = fields.List(
        Text(validate=validate.OneOf(AGENT_KINDS)),
        load_default=list,
        validate=validate.Length(max=len(AGENT_KINDS)),
    )
    abroad_countries = fields.List(
        Text(validate=_COUNTRY), load_default=list, validate=validate.Length(max=250)
    )


class AnnouncementCreateSchema(Schema):
    """``POST /v1/announcements``: the texts and who hears them. Each text
    must fit three SMS parts (about 190 Thai or Myanmar characters)."""

    class Meta:
        unknown = RAISE

    text_th = Text(required=True, validate=validate.Length(1, ANNOUNCEMENT_TEXT_MAX))
    text_en = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(1, ANNOUNCEMENT_TEXT_MAX),
    )
    text_my = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(1, ANNOUNCEMENT_TEXT_MAX),
    )
    target = fields.Nested(AnnouncementTargetSchema, required=True)


class AnnouncementQuerySchema(Schema):
    """``GET /v1/announcements``: a page."""

    class Meta:
        unknown = RAISE

    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT))
    cursor = Text(load_default=None)


class AnnouncementFailureSchema(Schema):
    """An agent the announcement did not reach, and why (no address)."""

    agent_id = fields.String()
    channel = fields.String()
    status = fields.String()
    reason = fields.String(allow_none=True)


class AnnouncementSchema(Schema):
    """An announcement; with its reach when asked for by id."""

    id = fields.String()
    text_th = fields.String()
    text_en = fields.String(allow_none=True)
    text_my = fields.String(allow_none=True)
    target = fields.Nested(AnnouncementTargetSchema)
    # planning (deliveries being written), then planned
    status = fields.String()
    planned = fields.Integer()
    created_by = fields.String()
    created_at = fields.AwareDateTime()
    planned_at = fields.AwareDateTime(allow_none=True)
    # deliveries by channel, then by status: {"sms": {"sent": 3, ...}}
    # null in a list and in the answer to POST; read by id for the figures
    reach = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.Integer()),
        allow_none=True,
    )
    failed = fields.List(fields.Nested(AnnouncementFailureSchema), allow_none=True)


class AnnouncementListSchema(Schema):
    """A page of announcements, newest first."""

    announcements = fields.List(fields.Nested(AnnouncementSchema))
    next_cursor = fields.String(allow_none=True)
