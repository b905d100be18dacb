"""problem+json bodies (RFC 9457), field errors, languages; cursor pages."""

from __future__ import annotations

import base64
import json

import pytest
from marshmallow import Schema, fields, validate
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from labornet_shared.http import problem_response
from labornet_shared.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    InvalidCursor,
    decode_cursor,
    encode_cursor,
    parse_limit,
)
from labornet_shared.problems import (
    MESSAGES,
    PROBLEM_MEDIA_TYPE,
    FieldError,
    Problem,
    field_errors,
    from_validation_error,
    invalid,
    message,
)


class LocationSchema(Schema):
    province_code = fields.String(required=True, validate=validate.Regexp(r"^TH-\d\d$"))
    lat = fields.Float()


class CitizenSchema(Schema):
    email = fields.Email()
    language = fields.String(validate=validate.OneOf(["th", "en"]))
    given_at = fields.AwareDateTime()


class CaseSchema(Schema):
    description = fields.String(required=True, validate=validate.Length(10, 5000))
    location = fields.Nested(LocationSchema, required=True)
    citizen = fields.Nested(CitizenSchema)
    tags = fields.List(fields.String())


def validation_problem(data: dict[str, object]) -> Problem:
    try:
        CaseSchema().load(data)
    except Exception as exc:  # marshmallow.ValidationError
        return from_validation_error(exc)  # type: ignore[arg-type]
    raise AssertionError("the data was valid")


def request(accept_language: str | None = None, path: str = "/v1/cases") -> Request:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    return Request(EnvironBuilder(path=path, headers=headers).get_environ())


def test_problem_body_has_the_rfc_9457_members_and_a_stable_code() -> None:
    problem = Problem(404, "not_found", detail="no such case")
    body = problem.body("en", instance="/v1/cases/LN-2568-00000001")
    assert body == {
        "type": "urn:labornet:problem:not_found",
        "title": "Not found.",
        "status": 404,
        "code": "not_found",
        "detail": "no such case",
        "instance": "/v1/cases/LN-2568-00000001",
    }
    assert json.loads(problem.to_json("en")) == {
        "type": "urn:labornet:problem:not_found",
        "title": "Not found.",
        "status": 404,
        "code": "not_found",
        "detail": "no such case",
    }


def test_validation_problem_lists_one_entry_per_field_in_thai_or_english() -> None:
    problem = invalid(
        FieldError("citizen.national_id", "national_id_checksum"),
        FieldError("location.province_code", "province_unknown"),
    )
    english = problem.body("en")
    thai = problem.body("th")
    assert english["status"] == thai["status"] == 400
    assert english["code"] == thai["code"] == "validation_failed"
    assert [e["field"] for e in english["errors"]] == [
        "citizen.national_id",
        "location.province_code",
    ]
    assert english["errors"][0] == {
        "field": "citizen.national_id",
        "code": "national_id_checksum",
        "message": "The national ID's check digit is wrong.",
    }
    assert thai["errors"][1]["message"] == "ไม่พบจังหวัดนี้"
    assert thai["title"] == "คำขอมีข้อมูลไม่ถูกต้อง"
    assert english["title"] == "The request has invalid fields."
    # Thai text travels as UTF-8, not \\u escapes
    assert "ไม่พบจังหวัดนี้" in problem.to_json("th")


def test_every_message_exists_in_both_languages() -> None:
    for code, (english, thai) in MESSAGES.items():
        assert english and thai, code
        assert message(code, "en") == english
        assert message(code, "th") == thai
        assert any("\u0e00" <= ch <= "\u0e7f" for ch in thai), code
    # an unknown code still says something sensible
    assert message("no_such_code", "en") == MESSAGES["invalid"][0]


def test_problem_str_names_codes_not_data() -> None:
    problem = invalid(FieldError("citizen.phone", "phone_format"))
    assert str(problem) == "400 validation_failed [citizen.phone:phone_format]"


@pytest.mark.parametrize(
    ("accept", "title"),
    [
        (None, "The request has invalid fields."),
        ("en-US,en;q=0.9", "The request has invalid fields."),
        ("th", "คำขอมีข้อมูลไม่ถูกต้อง"),
        ("th-TH,th;q=0.9,en;q=0.5", "คำขอมีข้อมูลไม่ถูกต้อง"),
        ("fr", "The request has invalid fields."),
    ],
)
def test_answer_language_follows_accept_language(
    accept: str | None, title: str
) -> None:
    problem = invalid(FieldError("description", "required"))
    response = problem_response(problem, request(accept))
    assert response.status_code == 400
    assert response.mimetype == PROBLEM_MEDIA_TYPE
    body = json.loads(response.get_data(as_text=True))
    assert body["title"] == title
    assert body["instance"] == "/v1/cases"


def test_problem_headers_reach_the_response() -> None:
    problem = Problem(429, "rate_limited", headers={"Retry-After": "7"})
    response = problem_response(problem, request())
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


def test_marshmallow_nested_errors_become_dotted_fields() -> None:
    problem = validation_problem(
        {
            "description": "short",
            "location": {"lat": "north"},
            "citizen": {"email": "not-an-email", "language": "fr", "given_at": "soon"},
            "tags": ["ok", 5],
            "surprise": True,
        }
    )
    found = {(error.field, error.code) for error in problem.errors}
    assert found == {
        ("description", "length"),
        ("location.province_code", "required"),
        ("location.lat", "invalid_type"),
        ("citizen.email", "email_format"),
        ("citizen.language", "not_one_of"),
        ("citizen.given_at", "date_format"),
        ("tags.1", "invalid_type"),
        ("surprise", "unknown_field"),
    }
    assert problem.status == 400 and problem.code == "validation_failed"


def test_missing_nested_object_and_schema_level_errors() -> None:
    problem = validation_problem({"description": "long enough description"})
    assert [(e.field, e.code) for e in problem.errors] == [("location", "required")]
    assert field_errors({"_schema": ["consent_required"]}) == [
        FieldError("body", "consent_required")
    ]
    assert field_errors({"citizen": {"_schema": ["contact_missing"]}}) == [
        FieldError("citizen", "contact_missing")
    ]


def test_one_entry_per_field_and_code() -> None:
    problem = validation_problem(
        {"description": "x", "location": {"province_code": "52"}}
    )
    pairs = [(e.field, e.code) for e in problem.errors]
    assert len(pairs) == len(set(pairs))
    assert ("location.province_code", "format") in pairs


# --- cursors -------------------------------------------------------------------


def test_cursor_round_trips_and_is_url_safe() -> None:
    position = {"created_at": "2025-11-26T04:00:00+00:00", "id": 1234, "p": "ก/+?"}
    cursor = encode_cursor(position)
    assert all(ch.isalnum() or ch in "-_" for ch in cursor)
    assert decode_cursor(cursor) == position


def test_no_cursor_is_the_first_page() -> None:
    assert decode_cursor(None) is None
    assert decode_cursor("") is None


@pytest.mark.parametrize(
    "garbage",
    [
        "!!!",
        "not base64 at all",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'"text"').decode(),
        base64.urlsafe_b64encode(b"{broken").decode(),
    ],
)
def test_garbage_cursor_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(garbage)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, DEFAULT_LIMIT), ("", DEFAULT_LIMIT), ("1", 1), (str(MAX_LIMIT), MAX_LIMIT)],
)
def test_limit_in_range(raw: str | None, expected: int) -> None:
    assert parse_limit(raw) == expected


@pytest.mark.parametrize("raw", ["0", "-5", str(MAX_LIMIT + 1), "ten", "1.5"])
def test_limit_out_of_range_is_refused(raw: str) -> None:
    with pytest.raises(InvalidCursor):
        parse_limit(raw)


def test_a_forged_deeply_nested_cursor_is_refused_not_a_crash() -> None:
    import base64

    from labornet_shared.pagination import InvalidCursor, decode_cursor

    forged = base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode()
    with pytest.raises(InvalidCursor):
        decode_cursor(forged)
