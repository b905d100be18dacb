"""Bad input to ``POST /v1/cases``: a clear 4xx problem naming the field,
in Thai when asked, and nothing stored. Never a 500."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from labornet_shared.db import normalise_url
from labornet_testkit.harness import anonymous_case_payload, case_payload

THAI = re.compile(r"[\u0E00-\u0E7F]")
TABLES = ("cases", "citizen_contacts", "outbox_messages", "idempotency_keys")


def valid_body() -> dict[str, Any]:
    """A case with personal data, consent, and a Lampang location."""
    body = case_payload()
    body["location"] = {"province_code": "TH-52", "subdistrict_code": "520105"}
    body["citizen"]["email"] = "malee@example.com"
    return body


@pytest.fixture
def stored(intake_db: str) -> Iterator[Callable[[], dict[str, int]]]:
    engine = create_engine(normalise_url(intake_db))

    def counts() -> dict[str, int]:
        with engine.connect() as conn:
            return {
                table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar())
                for table in TABLES
            }

    yield counts
    engine.dispose()


def assert_problem(response: Any, status: int, code: str, thai: bool = True) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"urn:labornet:problem:{code}"
    assert "Traceback" not in response.text
    if thai:
        assert THAI.search(problem["title"]), problem["title"]
    for error in problem.get("errors", []):
        assert set(error) == {"field", "code", "message"}
        if thai:
            assert THAI.search(error["message"]), error
    return problem


def field_errors(problem: dict) -> set[tuple[str, str]]:
    return {(e["field"], e["code"]) for e in problem.get("errors", [])}


def post(api: Any, body: Any, **headers: str) -> Any:
    headers = {"Accept-Language": "th", "Idempotency-Key": "bad-1", **headers}
    return api.post("/v1/cases", json=body, headers=headers)


# --- one invalid field at a time ------------------------------------------------------


def set_path(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = body
    for name in parents:
        target = target[name]
    target[last] = value


def drop_path(body: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    target = body
    for name in parents:
        target = target[name]
    del target[last]


DROP = object()

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, {dotted path: new value or DROP}, field named, code)
    ("id-checksum", {"citizen.national_id": "1101700230709"},
     "citizen.national_id", "national_id_checksum"),
    ("id-too-short", {"citizen.national_id": "110170023070"},
     "citizen.national_id", "national_id_format"),
    ("id-too-long", {"citizen.national_id": "11017002307081"},
     "citizen.national_id", "national_id_format"),
    ("id-letters", {"citizen.national_id": "1-1017-0023A-70-8"},
     "citizen.national_id", "national_id_format"),
    ("province-unknown", {"location": {"province_code": "TH-99"}},
     "location.province_code", "province_unknown"),
    ("province-format", {"location": {"province_code": "Lampang"}},
     "location.province_code", "province_format"),
    ("province-missing", {"location": {"subdistrict_code": "520105"}},
     "location.province_code", "required"),
    ("district-wrong-province",
     {"location": {"province_code": "TH-10", "district_code": "5201"}},
     "location.district_code", "district_not_in_province"),
    ("subdistrict-wrong-province",
     {"location": {"province_code": "TH-10", "subdistrict_code": "520105"}},
     "location.subdistrict_code", "subdistrict_not_in_province"),
    ("subdistrict-wrong-district",
     {"location": {"province_code": "TH-52", "district_code": "5202",
                   "subdistrict_code": "520105"}},
     "location.subdistrict_code", "subdistrict_not_in_district"),
    ("subdistrict-unknown",
     {"location": {"province_code": "TH-52", "subdistrict_code": "529999"}},
     "location.subdistrict_code", "subdistrict_unknown"),
    ("postcode-mismatch",
     {"location": {"province_code": "TH-52", "subdistrict_code": "520105",
                   "postcode": "10200"}},
     "location.postcode", "postcode_mismatch"),
    ("postcode-format", {"location.postcode": "5200"},
     "location.postcode", "postcode_format"),
    ("lat-without-long", {"location.lat": 18.3},
     "location.long", "coordinates_incomplete"),
    ("coordinates-abroad", {"location.lat": 35.68, "location.long": 139.69},
     "location.lat", "coordinates_outside_thailand"),
    ("consent-missing", {"consent": DROP}, "consent", "consent_required"),
    ("consent-null", {"consent": None}, "consent", "consent_required"),
    ("consent-without-time", {"consent.given_at": DROP},
     "consent.given_at", "required"),
    ("consent-naive-time", {"consent.given_at": "2026-01-10T09:00:00"},
     "consent.given_at", "invalid_type"),
    ("consent-time-before-utc-exists",
     {"consent.given_at": "0001-01-01T00:00:00+07:00"},
     "consent.given_at", "out_of_range"),
    ("description-number", {"description": 12345678901},
     "description", "invalid_type"),
    ("description-bool", {"description": True}, "description", "invalid_type"),
    ("description-null", {"description": None}, "description", "null"),
    ("description-missing", {"description": DROP}, "description", "required"),
    ("location-string", {"location": "ลำปาง"}, "location", "invalid_type"),
    ("location-missing", {"location": DROP}, "location", "required"),
    ("lat-string", {"location.lat": "north", "location.long": 99.5},
     "location.lat", "invalid_type"),
    ("subdistrict-number", {"location.subdistrict_code": 520105},
     "location.subdistrict_code", "invalid_type"),
    ("citizen-list", {"citizen": ["สมชาย"], "consent": DROP},
     "citizen", "invalid_type"),
    ("phone-number-type", {"citizen.phone": 812345678},
     "citizen.phone", "invalid_type"),
    ("unknown-field", {"priority": "urgent"}, "priority", "unknown_field"),
    ("unknown-citizen-field", {"citizen.nickname": "ชาย"},
     "citizen.nickname", "unknown_field"),
    ("unknown-location-field", {"location.city": "Lampang"},
     "location.city", "unknown_field"),
    ("description-too-short", {"description": "ค้างจ่าย"},
     "description", "length"),
    ("description-blank", {"description": " " * 40},
     "description", "length"),
    ("description-padded-short", {"description": "   ค้างจ่าย      "},
     "description", "length"),
    ("description-too-long", {"description": "ก" * 5001},
     "description", "length"),
    ("channel-unknown", {"channel": "fax"}, "channel", "not_one_of"),
    ("channel-null", {"channel": None}, "channel", "null"),
    ("category-unknown", {"category": "wages"}, "category", "not_one_of"),
    ("category-number", {"category": 7}, "category", "invalid_type"),
    ("abroad-country-unknown", {"abroad_country": "XX"},
     "abroad_country", "country_unknown"),
    ("phone-bad", {"citizen.phone": "12345"}, "citizen.phone", "phone_format"),
    ("email-bad", {"citizen.email": "malee-at-example"},
     "citizen.email", "email_format"),
    ("sms-without-phone", {"citizen.phone": DROP},
     "citizen.phone", "contact_missing"),
    ("language-unknown", {"citizen.language": "fr"},
     "citizen.language", "not_one_of"),
    ("contact-channel-unknown", {"citizen.contact_channel": "fax"},
     "citizen.contact_channel", "not_one_of"),
]  # fmt: skip


def test_invalid_field_is_named_and_nothing_is_stored(intake_api, stored, subtests):
    # one running service for all cases (subtests report each one on its own)
    for name, changes, field, code in CASES:
        with subtests.test(name):
            body = valid_body()
            for path, value in changes.items():
                if value is DROP:
                    drop_path(body, path)
                else:
                    set_path(body, path, value)
            response = post(intake_api, body)
            problem = assert_problem(response, 400, "validation_failed")
            assert (field, code) in field_errors(problem), problem["errors"]
            assert stored() == dict.fromkeys(TABLES, 0)


def test_every_invalid_field_is_reported_at_once(intake_api, stored):
    body = valid_body()
    body["description"] = "สั้น"
    body["channel"] = "fax"
    body["citizen"]["national_id"] = "1101700230709"
    body["citizen"]["phone"] = "12345"
    body["unexpected"] = 1
    problem = assert_problem(post(intake_api, body), 400, "validation_failed")
    assert field_errors(problem) >= {
        ("description", "length"),
        ("channel", "not_one_of"),
        ("citizen.national_id", "national_id_checksum"),
        ("citizen.phone", "phone_format"),
        ("unexpected", "unknown_field"),
    }
    assert stored() == dict.fromkeys(TABLES, 0)


def test_english_messages_by_default(intake_api):
    body = valid_body()
    body["citizen"]["national_id"] = "1101700230709"
    response = intake_api.post("/v1/cases", json=body)
    problem = assert_problem(response, 400, "validation_failed", thai=False)
    assert problem["title"] == "The request has invalid fields."
    [error] = problem["errors"]
    assert error["message"] == "The national ID's check digit is wrong."


def test_error_never_echoes_the_rejected_personal_data(intake_api):
    body = valid_body()
    body["citizen"]["national_id"] = "1101700230709"
    body["citizen"]["phone"] = "08-1234-56789-0"
    body["consent"] = None
    response = post(intake_api, body)
    assert_problem(response, 400, "validation_failed")
    for secret in ("1101700230709", "1234", body["citizen"]["name"]):
        assert secret not in response.text


def test_failed_request_does_not_use_up_its_idempotency_key(intake_api, stored):
    body = valid_body()
    body["citizen"]["national_id"] = "1101700230709"
    assert post(intake_api, body, **{"Idempotency-Key": "k-7"}).status_code == 400
    fixed = copy.deepcopy(body)
    fixed["citizen"]["national_id"] = "1101700230708"
    response = post(intake_api, fixed, **{"Idempotency-Key": "k-7"})
    assert response.status_code == 201, response.text
    assert stored()["cases"] == 1


def test_overlong_idempotency_key_is_refused(intake_api, stored):
    response = post(intake_api, valid_body(), **{"Idempotency-Key": "k" * 201})
    problem = assert_problem(response, 400, "validation_failed")
    assert ("Idempotency-Key", "length") in field_errors(problem)
    assert stored() == dict.fromkeys(TABLES, 0)


# --- bodies that are not a case at all ------------------------------------------------


def raw_post(api: Any, data: bytes | Any, content_type: str | None, **headers: str):
    headers = {"Accept-Language": "th", **headers}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return api.post("/v1/cases", data=data, headers=headers)


def test_body_over_one_mebibyte_is_413(intake_api, stored):
    body = anonymous_case_payload(description="ก" * (2 * 1024 * 1024))
    response = post(intake_api, body)
    assert_problem(response, 413, "payload_too_large")
    assert stored() == dict.fromkeys(TABLES, 0)


def chunked(raw: bytes) -> Iterator[bytes]:
    """A body sent with Transfer-Encoding: chunked (no Content-Length)."""
    for start in range(0, len(raw), 65536):
        yield raw[start : start + 65536]


def test_chunked_body_over_one_mebibyte_is_refused(intake_api, stored):
    # no Content-Length to check first: the service must not read it whole
    raw = json.dumps(anonymous_case_payload(description="x" * (2 * 1024 * 1024)))
    response = raw_post(intake_api, chunked(raw.encode()), "application/json")
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert stored() == dict.fromkeys(TABLES, 0)


def test_chunked_valid_case_is_not_called_malformed(intake_api, stored):
    raw = json.dumps(anonymous_case_payload()).encode()
    response = raw_post(intake_api, chunked(raw), "application/json")
    assert response.status_code == 201, response.text


BROKEN_JSON = {
    "truncated": '{"description": "ค่าจ้างค้าง", "location": '.encode(),
    "single-quotes": b"{'description': 'single quotes'}",
    "empty": b"",
    "not-utf8": b"\xff\xfe{not utf-8}",
}


def test_broken_json_is_400_malformed_json(intake_api, stored, subtests):
    for name, raw in BROKEN_JSON.items():
        with subtests.test(name):
            response = raw_post(intake_api, raw, "application/json")
            problem = assert_problem(response, 400, "malformed_json")
            assert field_errors(problem) == {("body", "malformed_json")}
            assert stored() == dict.fromkeys(TABLES, 0)


def test_deeply_nested_json_is_400_not_500(intake_api, stored):
    raw = b"[" * 100_000 + b"]" * 100_000  # 200 kB, well under the size limit
    response = raw_post(intake_api, raw, "application/json")
    assert response.status_code == 400, response.status_code
    assert stored() == dict.fromkeys(TABLES, 0)


def test_non_json_content_type_is_415(intake_api, stored, subtests):
    raw = json.dumps(valid_body()).encode()  # a valid case, wrongly labelled
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        None,
    ):
        with subtests.test(str(content_type)):
            response = raw_post(intake_api, raw, content_type)
            assert_problem(response, 415, "unsupported_media_type")
            assert stored() == dict.fromkeys(TABLES, 0)


NOT_OBJECTS = {
    "array-of-case": [anonymous_case_payload()],
    "empty-array": [],
    "string": "a case",
    "number": 42,
    "null": None,
    "true": True,
}


def test_json_that_is_not_an_object_is_400(intake_api, stored, subtests):
    for name, body in NOT_OBJECTS.items():
        with subtests.test(name):
            raw = json.dumps(body, ensure_ascii=False).encode()
            response = raw_post(intake_api, raw, "application/json")
            problem = assert_problem(response, 400, "validation_failed")
            assert field_errors(problem) == {("body", "invalid_type")}
            assert stored() == dict.fromkeys(TABLES, 0)


UNSTORABLE = {
    # PostgreSQL text cannot hold NUL; a lone surrogate is not UTF-8 at all
    "nul-description": ("description", "นายจ้างค้างจ่าย\\u0000 ค่าจ้างสองเดือน"),
    "nul-name": ("citizen.name", "สม\\u0000ชาย"),
    "nul-address": ("location.address", "บ้าน\\u0000เลขที่ 9"),
    "nul-consent-purpose": ("consent.purpose", "ติดต่อกลับ\\u0000"),
    "surrogate-description": ("description", "ค่าจ้างค้างจ่าย \\ud800 สองเดือน"),
    "surrogate-name": ("citizen.name", "\\udfffมาลี"),
    "surrogate-line-id": ("citizen.line_user_id", "line\\udbff"),
}


def test_text_no_database_can_store_is_400_not_500(intake_api, stored, subtests):
    for name, (path, escaped) in UNSTORABLE.items():
        with subtests.test(name):
            body = valid_body()
            marker = "@@UNSTORABLE@@"
            set_path(body, path, marker)
            raw = json.dumps(body, ensure_ascii=False).replace(
                json.dumps(marker), f'"{escaped}"'
            )
            response = raw_post(intake_api, raw.encode(), "application/json")
            problem = assert_problem(response, 400, "validation_failed")
            assert (path, "invalid") in field_errors(problem)
            assert stored() == dict.fromkeys(TABLES, 0)


def test_withdraw_reason_no_database_can_store_is_400(intake_api):
    created = intake_api.post("/v1/cases", json=valid_body()).json()
    response = intake_api.post(
        f"/v1/cases/{created['reference']}/withdraw",
        data=b'{"reason": "ok\\u0000 \\ud800"}',
        headers={
            "Content-Type": "application/json",
            "Accept-Language": "th",
            "X-Tracking-Code": created["tracking_code"],
        },
    )
    problem = assert_problem(response, 400, "validation_failed")
    assert ("reason", "invalid") in field_errors(problem)
    status = intake_api.get(
        f"/v1/cases/{created['reference']}",
        headers={"X-Tracking-Code": created["tracking_code"]},
    )
    assert status.json()["status"] == "received"


def test_non_finite_coordinates_are_400(intake_api, stored, subtests):
    for number in ("NaN", "Infinity", "-Infinity", "1e999"):
        with subtests.test(number):
            raw = (
                '{"description": "นายจ้างค้างจ่ายค่าจ้างสองเดือน", "location": '
                f'{{"province_code": "TH-52", "lat": {number}, "long": 99.5}}}}'
            ).encode()
            response = raw_post(intake_api, raw, "application/json")
            problem = assert_problem(response, 400, "validation_failed")
            assert any(f == "location.lat" for f, _ in field_errors(problem))
            assert stored() == dict.fromkeys(TABLES, 0)
