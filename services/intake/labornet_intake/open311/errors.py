"""Open311's errors: stable codes with a message in Thai or English, and
how labornet's own problems (invalid fields, HTTP errors) read in them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed

from labornet_intake.open311.spec import MAX_FIELDS
from labornet_shared.problems import FieldError, Problem
from labornet_shared.problems import message as problem_message

# code -> (English, Thai); a message naming a parameter follows "<name>: "
MESSAGES: dict[str, tuple[str, str]] = {
    "api_key_missing": (
        "api_key is required to create a service request.",
        "ต้องระบุ api_key เพื่อแจ้งเรื่อง",
    ),
    "api_key_invalid": (
        "Invalid api_key received -- can't proceed.",
        "api_key ไม่ถูกต้องหรือหมดอายุ ดำเนินการต่อไม่ได้",
    ),
    "jurisdiction_not_found": (
        "jurisdiction_id was not found: this endpoint serves {jurisdiction}.",
        "ไม่พบ jurisdiction_id นี้ ระบบนี้ให้บริการ {jurisdiction}",
    ),
    "service_code_missing": (
        "service_code was not provided.",
        "ต้องระบุ service_code",
    ),
    "service_code_not_found": (
        "service_code was not found (see services.xml).",
        "ไม่พบ service_code นี้ (ดู services.xml)",
    ),
    "location_missing": (
        "A location is required: lat and long, address_string or address_id.",
        "ต้องระบุตำแหน่ง: lat และ long หรือ address_string หรือ address_id",
    ),
    "request_not_found": (
        "service_request_id was not found.",
        "ไม่พบ service_request_id นี้",
    ),
    "token_not_found": ("token was not found.", "ไม่พบ token นี้"),
    "not_found": (
        "No such resource: see discovery.xml.",
        "ไม่พบข้อมูลที่ร้องขอ ดู discovery.xml",
    ),
    "format_not_supported": (
        "The format must be xml or json.",
        "รูปแบบต้องเป็น xml หรือ json",
    ),
    "form_required": (
        "Send the request form-encoded "
        "(Content-Type: application/x-www-form-urlencoded).",
        "กรุณาส่งข้อมูลแบบฟอร์ม (Content-Type: application/x-www-form-urlencoded)",
    ),
    "form_encoding": (
        "The form is not valid UTF-8 form encoding.",
        "ข้อมูลฟอร์มไม่ใช่ UTF-8 ที่ถูกต้อง",
    ),
    "too_many_fields": (
        f"The form has more than {MAX_FIELDS} fields.",
        f"ฟอร์มมีข้อมูลเกิน {MAX_FIELDS} รายการ",
    ),
    "repeated": ("give it once.", "ระบุได้เพียงครั้งเดียว"),
    "not_a_number": ("must be a number of at least 0.", "ต้องเป็นตัวเลขตั้งแต่ 0"),
    "not_a_coordinate": ("must be a number.", "ต้องเป็นตัวเลข"),
    "not_a_datetime": (
        "must be a w3 date and time with a timezone, e.g. 2026-01-01T00:00:00Z.",
        "ต้องเป็นวันเวลาแบบ w3 พร้อมเขตเวลา เช่น 2026-01-01T00:00:00Z",
    ),
    "outside_thailand": (
        "lat/long is not in Thailand.",
        "พิกัด lat/long ไม่อยู่ในประเทศไทย",
    ),
    "address_not_placed": (
        "names no Thai province: write it (จ.ลำปาง, Lampang) or a postcode, "
        "or give lat/long or address_id.",
        "ไม่พบชื่อจังหวัด: ระบุจังหวัด (จ.ลำปาง) หรือรหัสไปรษณีย์ หรือใช้ lat/long หรือ address_id",
    ),
    "address_id_format": (
        "must be a subdistrict, district or province code (520105, 5201 or TH-52).",
        "ต้องเป็นรหัสตำบล อำเภอ หรือจังหวัด (520105, 5201 หรือ TH-52)",
    ),
    "attribute_unknown": (
        "is not an attribute of this service (see its service definition).",
        "ไม่มีข้อมูลนี้ในบริการนี้ (ดูรายละเอียดบริการ)",
    ),
    "attribute_required": (
        "is required for this service.",
        "ต้องระบุสำหรับบริการนี้",
    ),
    "value_not_allowed": (
        "is not one of the values of its service definition.",
        "ไม่ใช่ค่าที่กำหนดไว้ในรายละเอียดบริการ",
    ),
    "too_long": ("is too long.", "ยาวเกินกำหนด"),
    "line_break": ("may not contain line breaks.", "ต้องไม่มีการขึ้นบรรทัดใหม่"),
    "invalid_characters": (
        "contains characters that cannot be stored.",
        "มีอักขระที่จัดเก็บไม่ได้",
    ),
    "consent_missing": (
        "attribute[consent]=yes is required when email, phone, first_name or "
        "last_name is given (see the consent attribute of the service "
        "definition).",
        "ต้องระบุ attribute[consent]=yes เมื่อให้อีเมล โทรศัพท์ ชื่อ หรือนามสกุล "
        "(ดูข้อมูลความยินยอมในรายละเอียดบริการ)",
    ),
    "date_order": (
        "end_date is before start_date.",
        "end_date อยู่ก่อน start_date",
    ),
    "date_span": (
        "start_date to end_date may not span more than 90 days.",
        "ช่วง start_date ถึง end_date ต้องไม่เกิน 90 วัน",
    ),
    "status_unknown": (
        "must be open or closed.",
        "ต้องเป็น open หรือ closed",
    ),
    "url": ("must be an http or https URL.", "ต้องเป็น URL แบบ http หรือ https"),
}


def message(code: str, language: str, **values: str) -> str:
    """An Open311 error message (or labornet's, by its code) in Thai or
    English."""
    if code in MESSAGES:
        english, thai = MESSAGES[code]
        return (thai if language == "th" else english).format(**values)
    return problem_message(code, language)


class Open311Error(Exception):
    """An error answer in the spec's format: its HTTP status and one entry per
    problem, each a message code and the parameter it is about (if any)."""

    def __init__(
        self,
        status: int,
        *errors: tuple[str, str | None],
        headers: Mapping[str, str] | None = None,
        values: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.values = dict(values or {})
        super().__init__(str(self))

    def __str__(self) -> str:  # nameko logs str(exc): codes, never values
        found = ",".join(
            f"{param}:{code}" if param else code for code, param in self.errors
        )
        return f"{self.status} {found}"

    def body(self, language: str) -> list[dict[str, Any]]:
        """The spec's error list: ``code`` (the HTTP status) and a description
        naming the parameter."""
        return [
            {
                "code": self.status,
                "description": (f"{param}: " if param else "")
                + message(code, language, **self.values),
            }
            for code, param in self.errors
        ]


def invalid(*errors: tuple[str, str | None]) -> Open311Error:
    """A 400 naming the parameters that are wrong."""
    return Open311Error(400, *errors)


# labornet's field paths (schemas, the gazetteer) as the Open311 parameters
# that gave them; ``location.*`` codes as the parameter that placed the case
_PARAMETERS = {
    "description": "description",
    "category": "service_code",
    "citizen.name": "first_name",
    "citizen.phone": "phone",
    "citizen.email": "email",
    "citizen.contact_channel": "phone",
    "consent": "attribute[consent]",
    "consent.purpose": "attribute[consent]",
    "location.lat": "lat",
    "location.long": "long",
    "location.address": "address_string",
}


def from_field_errors(errors: Iterable[FieldError], place_param: str) -> Open311Error:
    """labornet's field errors (a schema, the gazetteer) as a 400 naming the
    Open311 parameters."""
    named: list[tuple[str, str | None]] = []
    for error in errors:
        param = _PARAMETERS.get(error.field)
        if param is None:
            param = place_param if error.field.startswith("location.") else None
        entry = (error.code, param)
        if entry not in named:
            named.append(entry)
    return invalid(*named) if named else invalid(("invalid", None))


def from_problem(problem: Problem) -> Open311Error:
    """One of labornet's HTTP problems (413, 429, ...) in the spec's format."""
    if problem.status == 400 and problem.errors:
        return from_field_errors(problem.errors, "address_string")
    return Open311Error(problem.status, (problem.code, None), headers=problem.headers)


def from_http_exception(exc: HTTPException) -> Open311Error:
    """werkzeug's routing errors (no such resource, wrong method)."""
    status = exc.code or 500
    headers = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    code = {
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }.get(status, "invalid" if status < 500 else "internal_error")
    return Open311Error(status, (code, None), headers=headers)
