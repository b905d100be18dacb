"""Errors as ``application/problem+json`` (RFC 9457), in Thai or English.

A :class:`Problem` carries a stable ``code`` and, for invalid input, one entry
per invalid field. Titles and field messages are looked up by code in
``MESSAGES``; the language comes from ``Accept-Language``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError

PROBLEM_MEDIA_TYPE = "application/problem+json"

# code -> (English, Thai)
MESSAGES: dict[str, tuple[str, str]] = {
    # problems
    "validation_failed": ("The request has invalid fields.", "คำขอมีข้อมูลไม่ถูกต้อง"),
    "malformed_json": ("The body is not valid JSON.", "เนื้อหาคำขอไม่ใช่ JSON ที่ถูกต้อง"),
    "unsupported_media_type": (
        "Send JSON (Content-Type: application/json).",
        "กรุณาส่งข้อมูลแบบ JSON (Content-Type: application/json)",
    ),
    "payload_too_large": (
        "The request body is larger than allowed.",
        "ขนาดข้อมูลที่ส่งมาเกินกำหนด",
    ),
    "request_timeout": (
        "The request was not sent in time; send it again.",
        "ส่งคำขอไม่ทันเวลาที่กำหนด กรุณาส่งใหม่อีกครั้ง",
    ),
    "not_found": ("Not found.", "ไม่พบข้อมูลที่ร้องขอ"),
    "method_not_allowed": ("Method not allowed.", "ไม่รองรับวิธีการเรียกนี้"),
    "unauthorized": ("A valid bearer token is required.", "ต้องใช้โทเคนที่ถูกต้อง"),
    "invalid_token": ("The token is not valid.", "โทเคนไม่ถูกต้องหรือหมดอายุ"),
    "rate_limited": (
        "Too many requests; retry later.",
        "มีคำขอมากเกินไป กรุณาลองใหม่ภายหลัง",
    ),
    "idempotency_key_reused": (
        "This Idempotency-Key was used for a different request.",
        "Idempotency-Key นี้ถูกใช้กับคำขออื่นแล้ว",
    ),
    "idempotency_key_in_progress": (
        "A request with this Idempotency-Key is still being processed.",
        "คำขอที่ใช้ Idempotency-Key นี้กำลังดำเนินการอยู่",
    ),
    "conflict": (
        "The request conflicts with the current state.",
        "คำขอขัดแย้งกับสถานะปัจจุบัน",
    ),
    "illegal_transition": (
        "The referral's status does not allow this action.",
        "สถานะของการส่งต่อนี้ไม่อนุญาตให้ดำเนินการนี้",
    ),
    "referral_changed": (
        "The referral changed meanwhile; read it again and decide.",
        "การส่งต่อนี้เปลี่ยนแปลงไปแล้ว กรุณาตรวจสอบอีกครั้ง",
    ),
    "case_not_open": (
        "The case is already closed or withdrawn.",
        "เรื่องนี้ปิดหรือถูกถอนไปแล้ว",
    ),
    "agent_exists": (
        "An agent with this national ID is already registered.",
        "มีเจ้าหน้าที่ที่ใช้เลขประจำตัวประชาชนนี้ลงทะเบียนแล้ว",
    ),
    "agent_not_active": (
        "The agent is already inactive.",
        "เจ้าหน้าที่รายนี้ไม่ได้ปฏิบัติงานอยู่แล้ว",
    ),
    "roster_unreadable": (
        "The file is not a roster this service can read.",
        "ไม่สามารถอ่านไฟล์รายชื่อนี้ได้",
    ),
    "token_expired": ("This link has expired.", "ลิงก์นี้หมดอายุแล้ว"),
    "case_not_closed": (
        "The case is not closed yet.",
        "เรื่องนี้ยังดำเนินการไม่เสร็จสิ้น",
    ),
    "feedback_already_given": (
        "Feedback on this case was already given.",
        "ได้รับการประเมินของเรื่องนี้แล้ว",
    ),
    "internal_error": ("Something went wrong on our side.", "เกิดข้อผิดพลาดในระบบ"),
    "database_unavailable": (
        "The database is not reachable just now; try again shortly.",
        "ระบบฐานข้อมูลไม่พร้อมใช้งานชั่วคราว โปรดลองใหม่อีกครั้ง",
    ),
    "not_ready": ("A dependency is not reachable.", "ระบบที่เกี่ยวข้องยังไม่พร้อมใช้งาน"),
    # field errors
    "required": ("This field is required.", "ต้องระบุข้อมูลนี้"),
    "null": ("This field may not be null.", "ข้อมูลนี้ต้องไม่ว่าง"),
    "invalid_type": ("The value has the wrong type.", "ชนิดข้อมูลไม่ถูกต้อง"),
    "unknown_field": ("Unknown field.", "ไม่รู้จักข้อมูลนี้"),
    "length": ("The length is out of range.", "ความยาวไม่อยู่ในช่วงที่กำหนด"),
    "not_one_of": (
        "The value is not one of the allowed values.",
        "ค่านี้ไม่อยู่ในรายการที่อนุญาต",
    ),
    "out_of_range": ("The value is out of range.", "ค่าอยู่นอกช่วงที่กำหนด"),
    "invalid": ("The value is not valid.", "ค่านี้ไม่ถูกต้อง"),
    "format": ("The value has the wrong format.", "รูปแบบข้อมูลไม่ถูกต้อง"),
    "national_id_format": (
        "A national ID has 13 digits.",
        "เลขประจำตัวประชาชนต้องมี 13 หลัก",
    ),
    "national_id_checksum": (
        "The national ID's check digit is wrong.",
        "เลขประจำตัวประชาชนไม่ถูกต้อง (หลักตรวจสอบไม่ตรง)",
    ),
    "phone_format": ("The phone number is not valid.", "หมายเลขโทรศัพท์ไม่ถูกต้อง"),
    "email_format": ("The e-mail address is not valid.", "อีเมลไม่ถูกต้อง"),
    "unsafe_url": (
        "The URL must be http(s), public, with no spaces or control characters.",
        "URL ต้องเป็น http(s) ที่อยู่สาธารณะ และไม่มีช่องว่างหรืออักขระควบคุม",
    ),
    "date_format": ("The date is not valid.", "วันที่ไม่ถูกต้อง"),
    "country_unknown": ("Unknown country code.", "ไม่รู้จักรหัสประเทศนี้"),
    "province_format": (
        "A province code looks like TH-52.",
        "รหัสจังหวัดต้องอยู่ในรูปแบบ TH-52",
    ),
    "province_unknown": ("Unknown province.", "ไม่พบจังหวัดนี้"),
    "district_unknown": ("Unknown district.", "ไม่พบอำเภอนี้"),
    "district_not_in_province": (
        "The district is not in this province.",
        "อำเภอนี้ไม่อยู่ในจังหวัดที่ระบุ",
    ),
    "subdistrict_unknown": ("Unknown subdistrict.", "ไม่พบตำบลนี้"),
    "subdistrict_not_in_district": (
        "The subdistrict is not in this district.",
        "ตำบลนี้ไม่อยู่ในอำเภอที่ระบุ",
    ),
    "subdistrict_not_in_province": (
        "The subdistrict is not in this province.",
        "ตำบลนี้ไม่อยู่ในจังหวัดที่ระบุ",
    ),
    "postcode_format": ("A postcode has 5 digits.", "รหัสไปรษณีย์ต้องมี 5 หลัก"),
    "postcode_mismatch": (
        "The postcode does not belong to this subdistrict.",
        "รหัสไปรษณีย์ไม่ตรงกับตำบลที่ระบุ",
    ),
    "postcode_not_in_province": (
        "The postcode is not used in this province.",
        "รหัสไปรษณีย์นี้ไม่อยู่ในจังหวัดที่ระบุ",
    ),
    "coordinates_incomplete": (
        "Give both lat and long, or neither.",
        "ต้องระบุทั้งละติจูดและลองจิจูด",
    ),
    "coordinates_outside_thailand": (
        "The coordinates are outside Thailand.",
        "พิกัดอยู่นอกประเทศไทย",
    ),
    "consent_required": (
        "Consent is required when personal data is given.",
        "ต้องให้ความยินยอมเมื่อให้ข้อมูลส่วนบุคคล",
    ),
    "place_required": (
        "Give the areas in Thailand or the country abroad.",
        "ต้องระบุพื้นที่ในประเทศไทยหรือประเทศที่ปฏิบัติงาน",
    ),
    "place_conflict": (
        "An agent works in Thailand or abroad, not both.",
        "ระบุได้เพียงพื้นที่ในประเทศไทยหรือต่างประเทศอย่างใดอย่างหนึ่ง",
    ),
    "term_before_start": (
        "The term ends before it starts.",
        "วันสิ้นสุดวาระอยู่ก่อนวันที่เริ่ม",
    ),
    "read_only": (
        "You may not change this field.",
        "คุณไม่มีสิทธิ์แก้ไขข้อมูลนี้",
    ),
    "repeated": (
        "Give this parameter once.",
        "ระบุพารามิเตอร์นี้ได้เพียงครั้งเดียว",
    ),
    "contact_missing": (
        "This contact channel needs its contact detail.",
        "ช่องทางติดต่อนี้ต้องมีข้อมูลติดต่อ",
    ),
}

# first match wins: the specific "Not a valid ..." messages before the generic one
_MARSHMALLOW_CODES = (
    ("Missing data for required field", "required"),
    ("Field may not be null", "null"),
    ("Unknown field", "unknown_field"),
    ("Not a valid email", "email_format"),
    ("Not a valid datetime", "date_format"),
    ("Not a valid date", "date_format"),
    ("Not a valid", "invalid_type"),
    ("Invalid input type", "invalid_type"),
    ("Length must be", "length"),
    ("Shorter than minimum length", "length"),
    ("Longer than maximum length", "length"),
    ("Must be one of", "not_one_of"),
    ("Must be greater", "out_of_range"),
    ("Must be less", "out_of_range"),
    ("String does not match expected pattern", "format"),
)


def message(code: str, language: str) -> str:
    """The message for ``code`` in ``language`` (``th`` or English)."""
    english, thai = MESSAGES.get(code, MESSAGES["invalid"])
    return thai if language == "th" else english


@dataclass
class FieldError:
    """One invalid field: its dotted path and a stable code."""

    field: str
    code: str


@dataclass
class Problem(Exception):
    """An error answer: status, stable code, optional field errors."""

    status: int
    code: str
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    detail: str | None = None
    # RFC 9457 extension members: machine-readable facts about the problem
    extensions: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:  # nameko logs str(exc): codes only, no data
        fields = ",".join(f"{e.field}:{e.code}" for e in self.errors)
        return f"{self.status} {self.code}" + (f" [{fields}]" if fields else "")

    def body(self, language: str, instance: str | None = None) -> dict[str, Any]:
        """The problem+json document."""
        document: dict[str, Any] = {
            "type": f"urn:labornet:problem:{self.code}",
            "title": message(self.code, language),
            "status": self.status,
            "code": self.code,
        }
        if self.detail:
            document["detail"] = self.detail
        for name, value in self.extensions.items():
            document.setdefault(name, value)
        if instance:
            document["instance"] = instance
        if self.errors:
            document["errors"] = [
                {
                    "field": error.field,
                    "code": error.code,
                    "message": message(error.code, language),
                }
                for error in self.errors
            ]
        return document

    def to_json(self, language: str, instance: str | None = None) -> str:
        """Serialised problem+json."""
        return json.dumps(self.body(language, instance), ensure_ascii=False)


def invalid(*errors: FieldError) -> Problem:
    """A 400 ``validation_failed`` with the given field errors."""
    return Problem(400, "validation_failed", list(errors))


def _code_for(text: str) -> str:
    for prefix, code in _MARSHMALLOW_CODES:
        if text.startswith(prefix):
            return code
    # our own validators raise ValidationError with a code as message
    return text if text in MESSAGES else "invalid"


def field_errors(messages: Any, prefix: str = "") -> list[FieldError]:
    """Flatten marshmallow's nested error messages into dotted field errors."""
    found: list[FieldError] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = "body" if key == "_schema" else str(key)
            path = (
                f"{prefix}.{name}" if prefix and key != "_schema" else (prefix or name)
            )
            found += field_errors(value, path)
    elif isinstance(messages, list):
        for item in messages:
            found += field_errors(item, prefix)
    else:
        found.append(FieldError(prefix or "body", _code_for(str(messages))))
    return found


def from_validation_error(error: ValidationError) -> Problem:
    """A marshmallow ValidationError as a 400 problem naming every field."""
    errors = field_errors(error.messages)
    # one entry per (field, code)
    unique = list({(e.field, e.code): e for e in errors}.values())
    return Problem(400, "validation_failed", unique)
