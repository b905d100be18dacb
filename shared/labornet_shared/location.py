"""A place in Thailand as labornet's APIs spell it, defined once.

The gazetteer's codes — province ``TH-NN`` (ISO 3166-2), district (4 digits),
subdistrict (6 digits), postcode (5 digits) — with the same field names,
rules and error codes wherever a place is taken in or answered: a case's
location (intake), an agent's area (registry), a referral's place (routing).
Each service subclasses these schemas under its own name and docstring, so
its OpenAPI document names and describes them as before. Whether the codes
exist and fit together is the gazetteer's business
(:func:`labornet_shared.reference.resolve_location`), not a schema's.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from labornet_shared.fields import Text

#: the codes' shapes, each with its error code
PROVINCE_CODE = validate.Regexp(r"^TH-[0-9]{2}\Z", error="province_format")
DISTRICT_CODE = validate.Regexp(r"^[0-9]{4}\Z", error="format")
SUBDISTRICT_CODE = validate.Regexp(r"^[0-9]{6}\Z", error="format")
POSTCODE = validate.Regexp(r"^[0-9]{5}\Z", error="postcode_format")
#: the longest free-text address
MAX_ADDRESS = 500


class AreaCodesSchema(Schema):
    """A province, or a district or subdistrict in it (input)."""

    class Meta:
        unknown = RAISE

    province_code = Text(required=True, validate=PROVINCE_CODE)
    district_code = Text(load_default=None, allow_none=True, validate=DISTRICT_CODE)
    subdistrict_code = Text(
        load_default=None, allow_none=True, validate=SUBDISTRICT_CODE
    )


class LocationSchema(AreaCodesSchema):
    """A place with its postcode, coordinates and address (input)."""

    postcode = Text(load_default=None, allow_none=True, validate=POSTCODE)
    lat = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(-90, 90)
    )
    long = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(-180, 180)
    )
    address = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=MAX_ADDRESS),
    )


class AreaCodesOutSchema(Schema):
    """A province, district and subdistrict, as answered."""

    province_code = fields.String()
    district_code = fields.String(allow_none=True)
    subdistrict_code = fields.String(allow_none=True)


class LocationOutSchema(AreaCodesOutSchema):
    """A place's codes and coordinates, as answered (no street address)."""

    postcode = fields.String(allow_none=True)
    lat = fields.Float()
    long = fields.Float()
