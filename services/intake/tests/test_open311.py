"""Open311 GeoReport v2 on intake, as an Open311 app uses it: every endpoint
in XML (read with a real XML parser and held to the spec's element names) and
in JSON, the spec's errors on every path, api keys, consent, privacy, the
statuses routing's events feed, and an independent Open311 client library
(civicbot, from PyPI) driving it as a kiosk would."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from civicbot import Endpoint, HttpError, Open311Client
from civicbot.http import HttpTransport, RateLimiter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert, update

from labornet_intake.models import Case, Open311Request
from labornet_intake.open311 import format_of
from labornet_shared.categories import CATEGORIES, DEFAULT_AGENCY
from labornet_shared.db import normalise_url
from labornet_shared.reference import centroid
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import run_labornet, wait_until
from labornet_testkit.intake import (
    case_closed,
    case_routed,
    referral_ref,
    referral_status_changed,
)

BASE = "/open311/v2"
JURISDICTION = "mol.go.th"
XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"

# the spec's element names, in the spec's order
DISCOVERY = ["changeset", "contact", "key_service", "endpoints"]
ENDPOINT = ["specification", "url", "changeset", "type", "formats"]
SERVICE = [
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
]
ATTRIBUTE = [
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
]
DATATYPES = {
    "string",
    "number",
    "datetime",
    "text",
    "singlevaluelist",
    "multivaluelist",
}
CREATED = ["service_request_id", "service_notice", "account_id"]
REQUEST = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
TOKEN = ["service_request_id", "token"]
ERROR = ["code", "description"]
W3 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})$"

# a citizen's personal data, which no Open311 answer may carry
FIRST, LAST = "มาลี", "ศรีสุข"
PHONE = "089-111-2233"
EMAIL = "malee.s@example.org"
EMPLOYER = "บริษัท ลำปางเซรามิก จำกัด"
WORDS = "นายจ้างค้างจ่ายค่าจ้างสองเดือน บ้านเลขที่ 12 หมู่ 4"
PHOTO = "https://photos.example.org/lampang/12.jpg"


# --- helpers ------------------------------------------------------------------------


@pytest.fixture
def api_key(intake_config: dict[str, Any]) -> Callable[..., str]:
    """An Open311 api_key as `labornet token create --scope open311 --name NAME`
    issues it."""

    def make(name: str = "kiosk-lampang", scope: str = "open311", **claims: Any) -> str:
        return issue_token(intake_config["TOKEN_SECRET"], scope, name=name, **claims)

    return make


@pytest.fixture
def kiosk(api_key) -> str:
    return api_key("kiosk-lampang")


@pytest.fixture
def intake_engine(intake_db: str) -> Iterator[Any]:
    engine = create_engine(normalise_url(intake_db))
    yield engine
    engine.dispose()


def parse_xml(response: Any, root: str) -> ET.Element:
    """The answer as the spec's XML: UTF-8, declared, no namespace, ``root``."""
    assert response.headers["Content-Type"] == XML_TYPE, response.text
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    element = ET.fromstring(response.content)
    assert element.tag == root, response.text
    return element


def children(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


def as_dict(element: ET.Element) -> dict[str, str | None]:
    return {child.tag: child.text for child in element}


def parse_json(response: Any) -> Any:
    assert response.headers["Content-Type"] == JSON_TYPE, response.text
    return response.json()


def lampang_point(dlat: float = 0.002, dlong: float = -0.001) -> tuple[float, float]:
    """A point a few hundred metres from Phra Bat's (Lampang) centroid."""
    point = centroid("520105")
    assert point is not None
    return point[0] + dlat, point[1] + dlong


def form(key: str | None, **fields: Any) -> dict[str, Any]:
    """A POST requests form for unpaid wages in Lampang, as the spec's example."""
    lat, long = lampang_point()
    body: dict[str, Any] = {
        "jurisdiction_id": JURISDICTION,
        "service_code": "unpaid_wages",
        "lat": str(lat),
        "long": str(long),
        "description": WORDS,
        "attribute[employer_name]": EMPLOYER,
        "attribute[amount_owed]": "24000",
        "device_id": "tt222111",
        "account_id": "123456",
    }
    if key is not None:
        body["api_key"] = key
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def with_citizen(**fields: Any) -> dict[str, Any]:
    return {
        "first_name": FIRST,
        "last_name": LAST,
        "phone": PHONE,
        "email": EMAIL,
        "attribute[consent]": "yes",
        **fields,
    }


def file(api: Any, key: str, fmt: str = "json", **fields: Any) -> dict[str, str]:
    """POST a request; its id and the service notice."""
    response = api.post(f"{BASE}/requests.{fmt}", data=form(key, **fields))
    assert response.status_code == 201, response.text
    if fmt == "xml":
        [created] = parse_xml(response, "service_requests")
        assert children(created) == CREATED
        answer = as_dict(created)
    else:
        [answer] = parse_json(response)
    assert answer["service_request_id"]
    return {k: v or "" for k, v in answer.items()}


def get_request(api: Any, reference: str, fmt: str = "json", **params: Any) -> Any:
    response = api.get(f"{BASE}/requests/{reference}.{fmt}", params=params)
    assert response.status_code == 200, response.text
    if fmt == "xml":
        [request] = parse_xml(response, "service_requests")
        assert children(request) == REQUEST
        return as_dict(request)
    [request] = parse_json(response)
    assert list(request) == REQUEST
    return request


def listed(api: Any, fmt: str = "json", **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"{BASE}/requests.{fmt}", params=params)
    assert response.status_code == 200, response.text
    if fmt == "xml":
        root = parse_xml(response, "service_requests")
        assert all(child.tag == "request" for child in root)
        return [as_dict(request) for request in root]
    return list(parse_json(response))


def assert_error(response: Any, status: int, fmt: str, *mentions: str) -> list[str]:
    """The spec's error answer: the HTTP status, and in the body one or more
    errors with that code and a description (naming ``mentions``)."""
    assert response.status_code == status, response.text
    if fmt == "xml":
        root = parse_xml(response, "errors")
        assert root and all(error.tag == "error" for error in root)
        assert all(children(error) == ERROR for error in root)
        errors = [as_dict(error) for error in root]
        codes = [int(str(error["code"])) for error in errors]
    else:
        errors = parse_json(response)
        assert isinstance(errors, list) and errors
        assert all(list(error) == ERROR for error in errors)
        codes = [error["code"] for error in errors]
    assert set(codes) == {status}
    descriptions = [str(error["description"]) for error in errors]
    assert all(descriptions)
    for mention in mentions:
        assert any(mention in d for d in descriptions), (mention, descriptions)
    return descriptions


def tracking_code(notice: str) -> str:
    """The tracking code the service notice hands over."""
    match = re.search(r"[A-Z0-9]{5}-[A-Z0-9]{5}", notice)
    assert match, notice
    return match.group(0)


# --- discovery and services ---------------------------------------------------------


def test_discovery_names_this_endpoint_in_both_formats(intake_api):
    root = parse_xml(intake_api.get(f"{BASE}/discovery.xml"), "discovery")
    assert children(root) == DISCOVERY
    [endpoint] = root.find("endpoints") or []
    assert endpoint.tag == "endpoint"
    assert children(endpoint) == ENDPOINT
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint.findtext("url") == intake_api.base_url + BASE
    assert endpoint.findtext("type") == "production"
    formats = endpoint.find("formats")
    assert formats is not None
    assert [f.tag for f in formats] == ["format", "format"]
    assert {f.text for f in formats} == {"text/xml", "application/json"}
    assert "api_key" in (root.findtext("key_service") or "")

    document = parse_json(intake_api.get(f"{BASE}/discovery.json"))
    assert list(document) == DISCOVERY
    [same] = document["endpoints"]
    assert same["url"] == intake_api.base_url + BASE
    assert same["formats"] == ["text/xml", "application/json"]
    assert document["changeset"] == root.findtext("changeset")


def test_services_are_the_thirteen_categories_grouped_by_agency(intake_api):
    root = parse_xml(intake_api.get(f"{BASE}/services.xml"), "services")
    assert [child.tag for child in root] == ["service"] * 13
    for service in root:
        assert children(service) == SERVICE
        code = service.findtext("service_code")
        assert service.findtext("group") == DEFAULT_AGENCY[code]
        # every service asks at least for consent
        assert service.findtext("metadata") == "true"
        assert service.findtext("type") == "realtime"
    assert {s.findtext("service_code") for s in root} == set(CATEGORIES)

    english = parse_json(
        intake_api.get(f"{BASE}/services.json", params={"locale": "en"})
    )
    thai = parse_json(
        intake_api.get(f"{BASE}/services.json", params={"locale": "th_TH"})
    )
    assert [list(s) for s in english] == [SERVICE] * 13
    by_code = {s["service_code"]: s for s in english}
    assert by_code["unpaid_wages"]["service_name"] == "Unpaid wages"
    assert by_code["unpaid_wages"]["metadata"] is True
    assert {s["service_code"]: s["service_name"] for s in thai}["unpaid_wages"] == (
        "ค่าจ้างค้างจ่าย"
    )
    # Accept-Language when no locale is given
    answered = intake_api.get(
        f"{BASE}/services.json", headers={"Accept-Language": "th"}
    )
    assert parse_json(answered) == thai


def test_service_definitions_ask_what_the_office_needs_and_consent(intake_api):
    root = parse_xml(
        intake_api.get(f"{BASE}/services/unpaid_wages.xml"), "service_definition"
    )
    assert children(root) == ["service_code", "attributes"]
    assert root.findtext("service_code") == "unpaid_wages"
    attributes = root.find("attributes")
    assert attributes is not None
    assert all(a.tag == "attribute" for a in attributes)
    by_code = {a.findtext("code"): a for a in attributes}
    employer = by_code["employer_name"]
    assert children(employer) == ATTRIBUTE
    assert employer.findtext("datatype") == "string"
    assert employer.findtext("required") == "true"
    assert by_code["amount_owed"].findtext("datatype") == "number"
    consent = by_code["consent"]
    assert children(consent) == [*ATTRIBUTE, "values"]
    assert consent.findtext("datatype") == "singlevaluelist"
    [value] = consent.find("values") or []
    assert value.tag == "value" and children(value) == ["key", "name"]
    assert value.findtext("key") == "yes"

    for code in CATEGORIES:
        for locale in ("th", "en"):
            definition = parse_json(
                intake_api.get(
                    f"{BASE}/services/{code}.json", params={"locale": locale}
                )
            )
            assert list(definition) == ["service_code", "attributes"]
            assert definition["service_code"] == code
            orders = [a["order"] for a in definition["attributes"]]
            assert len(set(orders)) == len(orders) and min(orders) >= 1
            for attribute in definition["attributes"]:
                assert list(attribute)[: len(ATTRIBUTE)] == ATTRIBUTE
                assert attribute["datatype"] in DATATYPES
                assert attribute["variable"] is True
                if attribute["datatype"].endswith("valuelist"):
                    assert attribute["values"], attribute
            [consent_json] = [
                a for a in definition["attributes"] if a["code"] == "consent"
            ]
            assert consent_json["values"] == [
                {"key": "yes", "name": "ยินยอม" if locale == "th" else "I consent"}
            ]
            # the purpose in Thai and in English, whatever the locale
            assert "ยินยอม" in consent_json["description"]
            assert "I consent" in consent_json["description"]


# --- filing and following -----------------------------------------------------------


def test_a_filed_request_is_written_to_in_the_language_of_its_words(
    intake_api, kiosk, queue_tap
):
    """An Open311 app names no language of the citizen: ``locale`` is the
    language of the answer (a kiosk sends its own), so the case takes the
    language its description is written in, as not chosen."""
    tap = queue_tap("intake.events", "case_received")
    myanmar = "အလုပ်ရှင်က လစာ နှစ်လ မပေးသေးပါ။ ကျွန်တော် အလုပ်ဆက်လုပ်နေဆဲပါ။"
    file(intake_api, kiosk, description=myanmar, locale="th", **with_citizen())
    file(intake_api, kiosk, locale="en", **with_citizen())
    read = [
        (e["payload"]["language"], e["payload"]["language_chosen"])
        for e in tap.drain(expected=2)
    ]
    assert sorted(read) == [("my", False), ("th", False)]


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_filed_request_reaches_routing_and_is_followed_by_id(
    intake_api, kiosk, queue_tap, fmt
):
    tap = queue_tap("intake.events", "case_received")
    created = file(intake_api, kiosk, fmt, **with_citizen())
    reference = created["service_request_id"]
    assert reference.startswith("LN-")
    assert not created["account_id"]  # account ids are not kept

    # the notice hands over the citizen's tracking code, which works on /v1
    code = tracking_code(created["service_notice"])
    followed = intake_api.get(
        f"/v1/cases/{reference}", headers={"X-Tracking-Code": code}
    )
    assert followed.status_code == 200, followed.text
    assert followed.json()["status"] == "received"

    # routing hears of it: the category, Lampang's office, what the office needs
    [event] = tap.drain(expected=1)
    payload = event["payload"]
    assert payload["reference"] == reference
    assert payload["channel"] == "open311"
    assert payload["category"] == "unpaid_wages"
    assert payload["location"]["province_code"] == "TH-52"
    assert payload["location"]["subdistrict_code"] == "520105"
    assert WORDS in payload["description"]
    assert EMPLOYER in payload["description"] and "24000" in payload["description"]
    assert PHONE not in str(event) and EMAIL not in str(event)

    request = get_request(intake_api, reference, fmt)
    assert request["service_request_id"] == reference
    assert request["status"] == "open"
    assert request["service_code"] == "unpaid_wages"
    assert request["address_id"] == "520105"
    assert request["zipcode"] in (None, "")  # Phra Bat has two postcodes
    assert request["address"] == "Phra Bat, Mueang Lampang, Lampang"
    thai = get_request(intake_api, reference, fmt, locale="th")
    assert thai["address"] == "ต.พระบาท อ.เมืองลำปาง จ.ลำปาง"
    for name in ("requested_datetime", "updated_datetime"):
        assert re.match(W3, str(request[name])), request[name]
    assert reference in str(request["service_notice"])

    assert reference in [r["service_request_id"] for r in listed(intake_api, fmt)]

    token = intake_api.get(f"{BASE}/tokens/{reference}.{fmt}")
    assert token.status_code == 200, token.text
    if fmt == "xml":
        [answer] = parse_xml(token, "service_requests")
        assert children(answer) == TOKEN
        assert as_dict(answer) == {"service_request_id": reference, "token": reference}
    else:
        assert parse_json(token) == [
            {"service_request_id": reference, "token": reference}
        ]


def test_a_client_attaching_a_photo_files_multipart(intake_api, kiosk):
    """Some clients post a photo as multipart; the form is taken, the file is
    not kept."""
    response = intake_api.post(
        f"{BASE}/requests.xml",
        data=form(kiosk, media_url=PHOTO),
        files={"media": ("wages.jpg", b"\xff\xd8\xff", "image/jpeg")},
    )
    assert response.status_code == 201, response.text
    [created] = parse_xml(response, "service_requests")
    reference = created.findtext("service_request_id")
    assert get_request(intake_api, str(reference), api_key=kiosk)["media_url"] == PHOTO


def test_every_way_of_placing_a_request_reaches_the_right_province(
    intake_api, kiosk, intake_bearer
):
    operator = intake_bearer("operator")

    def placed(**location: Any) -> dict[str, Any]:
        fields = {"lat": None, "long": None, **location}
        reference = file(intake_api, kiosk, **fields)["service_request_id"]
        case = intake_api.get(f"/v1/cases/{reference}", headers=operator).json()
        return dict(case["location"])

    # lat/long: the subdistrict of the nearest centroid, the point kept
    lat, long = lampang_point()
    by_point = placed(lat=str(lat), long=str(long))
    assert by_point["subdistrict_code"] == "520105"
    assert (by_point["lat"], by_point["long"]) == (lat, long)
    assert by_point["coordinates_source"] == "given"
    # address_string: matched with the gazetteer inside the province it names
    written = placed(address_string="12 หมู่ 4 ต.พระบาท อ.เมือง จ.ลำปาง")
    assert written["subdistrict_code"] == "520105"
    assert written["address"] == "12 หมู่ 4 ต.พระบาท อ.เมือง จ.ลำปาง"
    english = placed(address_string="12 Moo 4, Phra Bat, Mueang, Lampang")
    assert english["province_code"] == "TH-52"
    by_postcode = placed(address_string="99/1 ถนนพหลโยธิน 52100")
    assert by_postcode["province_code"] == "TH-52"
    # address_id: the gazetteer's codes
    assert placed(address_id="520105")["subdistrict_code"] == "520105"
    assert placed(address_id="5201")["district_code"] == "5201"
    assert placed(address_id="TH-50")["province_code"] == "TH-50"


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_errors_are_the_specs_on_every_path(
    start_intake, kiosk, api_key, intake_bearer, fmt
):
    api = start_intake(MAX_BODY_BYTES=8192)
    post = f"{BASE}/requests.{fmt}"

    # api keys: missing, forged, another scope's token → 403
    assert_error(api.post(post, data=form(None)), 403, fmt, "api_key")
    assert_error(api.post(post, data=form(kiosk[:-4] + "AAAA")), 403, fmt, "api_key")
    agency = api_key("sso-lampang", scope="agency", agency="sso")
    assert_error(api.post(post, data=form(agency)), 403, fmt, "api_key")
    assert_error(api.post(post, data=form(api_key(scope="operator"))), 403, fmt)
    assert_error(
        api.get(f"{BASE}/services.{fmt}", params={"api_key": "nonsense"}), 403, fmt
    )

    # what is not there → 404
    assert_error(
        api.post(post, data=form(kiosk, service_code="pothole")),
        404,
        fmt,
        "service_code",
    )
    assert_error(api.get(f"{BASE}/services/pothole.{fmt}"), 404, fmt, "service_code")
    for missing in ("LN-2569-99999999", "LN-1", "ค่าจ้าง"):
        assert_error(
            api.get(f"{BASE}/requests/{missing}.{fmt}"), 404, fmt, "service_request_id"
        )
    assert_error(api.get(f"{BASE}/tokens/LN-2569-99999999.{fmt}"), 404, fmt, "token")
    other = {"jurisdiction_id": "sfgov.org"}
    assert_error(api.get(f"{BASE}/services.{fmt}", params=other), 404, fmt, "mol.go.th")
    assert_error(api.post(post, data=form(kiosk, **other)), 404, fmt, "jurisdiction_id")
    assert_error(api.get(f"{BASE}/nothing.{fmt}"), 404, fmt)
    assert_error(api.get(f"{BASE}/requests/LN-2569-00000001/notes.{fmt}"), 404, fmt)
    # the one format besides XML is JSON; anything else is answered in XML
    assert_error(api.get(f"{BASE}/services.csv"), 404, "xml", "xml")
    wrong = api.delete(f"{BASE}/requests.{fmt}")
    assert_error(wrong, 405, fmt)
    assert set(wrong.headers["Allow"].split(", ")) >= {"GET", "POST"}

    # what cannot be fulfilled → 400, every problem named at once
    assert_error(
        api.post(post, data=form(kiosk, service_code="", lat=None, long=None)),
        400,
        fmt,
        "service_code",
    )
    descriptions = assert_error(
        api.post(
            post,
            data=form(
                kiosk,
                lat="35.68",
                long="139.69",  # Tokyo
                **{
                    "attribute[employer_name]": None,
                    "attribute[amount_owed]": "lots",
                    "attribute[shoe_size]": "42",
                },
            ),
        ),
        400,
        fmt,
        "lat/long",
        "attribute[employer_name]",
        "attribute[amount_owed]",
        "attribute[shoe_size]",
    )
    assert len(descriptions) == 4
    assert_error(api.post(post, data=form(kiosk, lat=None, long=None)), 400, fmt)
    assert_error(api.post(post, data=form(kiosk, long=None)), 400, fmt, "long")
    assert_error(
        api.post(post, data=form(kiosk, lat=None, long=None, address_string="nowhere")),
        400,
        fmt,
        "address_string",
    )
    assert_error(
        api.post(post, data=form(kiosk, lat=None, long=None, address_id="999999")),
        400,
        fmt,
        "address_id",
    )
    assert_error(
        api.post(post, data=form(kiosk, description="x" * 4001)),
        400,
        fmt,
        "description",
    )
    assert_error(api.post(post, json=form(kiosk)), 400, fmt, "form")
    for params in (
        {"start_date": "2026-13-01T00:00:00Z"},
        {"start_date": "yesterday"},
        {"end_date": "2026-01-01"},  # no time, no timezone
        {"start_date": "2026-01-01T00:00:00"},  # no timezone
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
        {"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
        {"status": "pending"},
        {"service_code": "unpaid_wages,pothole"},
    ):
        assert_error(api.get(f"{BASE}/requests.{fmt}", params=params), 400, fmt)

    # labornet's own limits, in the spec's format too
    huge = form(kiosk, description="ก" * 2000)
    assert_error(api.post(post, data=huge), 413, fmt)


def test_an_operator_issues_a_key_with_the_cli(intake_api, intake_config):
    issued = run_labornet(
        "token",
        "create",
        "--scope",
        "open311",
        "--name",
        "line-chatbot",
        LABORNET_TOKEN_SECRET=intake_config["TOKEN_SECRET"],
    )
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip()
    assert issued.stdout == f"{key}\n"  # the key alone
    file(intake_api, key)


def test_each_api_key_has_its_own_rate(start_intake, api_key):
    api = start_intake(RATE_LIMIT_OPEN311="2/minute")
    first, second = api_key("kiosk-1"), api_key("kiosk-2")
    for _ in range(2):
        file(api, first)
    limited = api.post(f"{BASE}/requests.xml", data=form(first))
    assert_error(limited, 429, "xml")
    assert int(limited.headers["Retry-After"]) >= 1
    # the other key, even under the same name, counts on its own
    file(api, second)
    file(api, api_key("kiosk-1"))


# --- consent and privacy ------------------------------------------------------------


@pytest.mark.parametrize(
    "personal",
    [{"email": EMAIL}, {"phone": PHONE}, {"first_name": FIRST}, {"last_name": LAST}],
)
def test_personal_data_needs_consent(intake_api, kiosk, personal):
    for consent in ({}, {"attribute[consent]": "no"}):
        refused = intake_api.post(
            f"{BASE}/requests.json", data=form(kiosk, **personal, **consent)
        )
        assert_error(refused, 400, "json", "attribute[consent]")
        assert not any(value in refused.text for value in personal.values())
    file(intake_api, kiosk, **personal, **{"attribute[consent]": "yes"})


def test_contact_details_are_checked_as_on_v1(intake_api, kiosk):
    for name, value in (("phone", "12345"), ("email", "malee@@example")):
        refused = intake_api.post(
            f"{BASE}/requests.xml", data=form(kiosk, **with_citizen(**{name: value}))
        )
        assert_error(refused, 400, "xml", f"{name}:")
        assert value not in refused.text


def test_a_retry_with_the_same_idempotency_key_files_one_case(intake_api, kiosk):
    headers = {"Idempotency-Key": "kiosk-7f3a-0001"}
    first, again = (
        intake_api.post(f"{BASE}/requests.json", data=form(kiosk), headers=headers)
        for _ in range(2)
    )
    assert first.status_code == again.status_code == 201, again.text
    assert first.json() == again.json()
    assert len(listed(intake_api)) == 1
    other = intake_api.post(
        f"{BASE}/requests.json",
        data=form(kiosk, description="อีกเรื่องหนึ่ง ไม่ใช่เรื่องเดิม"),
        headers=headers,
    )
    assert_error(other, 400, "json", "Idempotency-Key")


def test_consent_is_recorded_and_lets_the_offices_call(
    intake_api, kiosk, intake_bearer, publish_routing
):
    operator = intake_bearer("operator")
    reference = file(intake_api, kiosk, **with_citizen())["service_request_id"]
    case = intake_api.get(f"/v1/cases/{reference}", headers=operator).json()
    citizen = case["citizen"]
    assert citizen["name"] == f"{FIRST} {LAST}"
    assert citizen["phone"] == "+66891112233"
    assert citizen["email"] == EMAIL
    assert citizen["contact_channel"] == "sms"
    assert "I consent" in citizen["consent_purpose"]
    assert "ยินยอม" in citizen["consent_purpose"]
    assert citizen["agencies_may_contact"] is True
    assert case["channel"] == "open311"

    # the office handling the case may call: the consent's purpose says so
    ref = referral_ref("dlpw", "TH-52")
    publish_routing(case_routed(reference, [ref]))
    dlpw = intake_bearer("agency", agency="dlpw", province="TH-52")

    def contact() -> Any:
        answer = intake_api.get(f"/v1/cases/{reference}/contact", headers=dlpw)
        return answer if answer.status_code == 200 else None

    assert wait_until(contact).json()["phone"] == "+66891112233"


def test_only_the_filing_key_sees_what_the_citizen_wrote(
    intake_api, kiosk, api_key, intake_bearer, intake_sql
):
    lat, long = lampang_point(0.01, 0.01)
    reference = file(
        intake_api,
        kiosk,
        lat=str(lat),
        long=str(long),
        media_url=PHOTO,
        **with_citizen(),
    )["service_request_id"]
    public = centroid("520105")

    mine = get_request(intake_api, reference, api_key=kiosk)
    assert WORDS in mine["description"] and EMPLOYER in mine["description"]
    assert mine["media_url"] == PHOTO
    assert (mine["lat"], mine["long"]) == (lat, long)
    # the filer's reads are audited
    rows = intake_sql(
        "SELECT actor_scope, action FROM audit_log WHERE case_reference = :r",
        r=reference,
    )
    assert [tuple(row) for row in rows] == [("open311", "read_open311_request")]

    others = [
        get_request(intake_api, reference),
        get_request(intake_api, reference, "xml"),
        get_request(intake_api, reference, api_key=api_key("another-app")),
    ]
    for fmt in ("json", "xml"):
        # a list is public, whoever asks
        for params in ({}, {"api_key": kiosk}):
            [row] = listed(intake_api, fmt, service_request_id=reference, **params)
            others.append(row)
    for seen in others:
        assert seen["service_request_id"] == reference
        assert not seen["description"] and not seen["media_url"]
        assert (float(seen["lat"]), float(seen["long"])) == public
        assert seen["address"]  # the place as the gazetteer names it

    # names, phone and e-mail: never, in any answer
    answers = [
        intake_api.get(f"{BASE}/requests/{reference}.{fmt}", params=params).text
        for fmt in ("xml", "json")
        for params in ({}, {"api_key": kiosk})
    ] + [intake_api.get(f"{BASE}/requests.{fmt}").text for fmt in ("xml", "json")]
    for text in answers:
        for secret in (FIRST, LAST, "891112233", "111-2233", EMAIL):
            assert secret not in text

    # once the citizen's data is erased, not even the filer sees the words
    operator = intake_bearer("operator")
    erased = intake_api.delete(f"/v1/cases/{reference}/personal-data", headers=operator)
    assert erased.status_code == 204
    after = get_request(intake_api, reference, api_key=kiosk)
    assert not after["description"] and not after["media_url"]
    assert (after["lat"], after["long"]) == public
    assert intake_sql(
        "SELECT media_url FROM open311_requests o JOIN cases c ON c.id = o.case_id "
        "WHERE c.personal_data_erased_at IS NOT NULL"
    ) == [(None,)]


# --- statuses from routing's events -------------------------------------------------


def test_status_follows_the_referrals_until_closed(intake_api, kiosk, publish_routing):
    reference = file(intake_api, kiosk)["service_request_id"]
    fresh = get_request(intake_api, reference)
    assert fresh["status"] == "open"
    assert fresh["agency_responsible"] is None
    assert fresh["expected_datetime"] is None
    assert "Received" in fresh["status_notes"]

    due = datetime(2027, 1, 15, 9, 30, tzinfo=UTC)
    dlpw = referral_ref("dlpw", "TH-52", due_resolve_at=due)
    sso = referral_ref("sso", "TH-52", due_resolve_at=due - timedelta(days=5))
    routed_at = datetime.now(UTC)
    publish_routing(case_routed(reference, [dlpw, sso], at=routed_at))

    def routed() -> Any:
        seen = get_request(intake_api, reference)
        return seen if seen["agency_responsible"] else None

    seen = wait_until(routed)
    assert seen["status"] == "open"
    assert seen["agency_responsible"] == (
        "Department of Labour Protection and Welfare, Social Security Office"
    )
    thai = get_request(intake_api, reference, locale="th")
    assert thai["agency_responsible"] == ("กรมสวัสดิการและคุ้มครองแรงงาน, สำนักงานประกันสังคม")
    # the referral's SLA: when the last office is due to resolve
    assert seen["expected_datetime"] == "2027-01-15T16:30:00+07:00"

    note = "นัดนายจ้างและคุณมาลีมาพบวันที่ 5 ธันวาคม"
    publish_routing(
        referral_status_changed(
            reference,
            dlpw,
            "in_progress",
            previous_status="pending",
            note=note,
            at=routed_at + timedelta(minutes=5),
        )
    )

    def progressed() -> Any:
        seen = get_request(intake_api, reference)
        return seen if "working on it" in str(seen["status_notes"]) else None

    public = wait_until(progressed)
    # the office's own words may quote the citizen: only the filer reads them
    assert note not in public["status_notes"]
    assert note in get_request(intake_api, reference, api_key=kiosk)["status_notes"]

    closed_at = routed_at + timedelta(days=2)
    resolved = [dict(dlpw, status="resolved"), dict(sso, status="resolved")]
    publish_routing(case_closed(reference, resolved, at=closed_at))

    def closed() -> Any:
        seen = get_request(intake_api, reference, "xml")
        return seen if seen["status"] == "closed" else None

    final = wait_until(closed)
    assert final["status_notes"] == "Closed"
    assert final["expected_datetime"] is None
    assert datetime.fromisoformat(str(final["updated_datetime"])) == closed_at.replace(
        microsecond=0
    )
    assert final["agency_responsible"]  # the offices that resolved it
    assert [r["service_request_id"] for r in listed(intake_api, status="closed")] == [
        reference
    ]
    assert listed(intake_api, status="open") == []
    assert len(listed(intake_api, status="open,closed")) == 1


# --- GET requests: filters and the spec's defaults ----------------------------------


def test_requests_filters_and_defaults(intake_api, kiosk, intake_engine):
    wages = [file(intake_api, kiosk)["service_request_id"] for _ in range(2)]
    safety = file(
        intake_api,
        kiosk,
        service_code="workplace_safety",
        **{
            "attribute[employer_name]": None,
            "attribute[amount_owed]": None,
            "attribute[hazards][]": ["chemicals", "noise"],
        },
    )["service_request_id"]
    old = file(intake_api, kiosk)["service_request_id"]
    # a case filed another way is no Open311 request
    other = intake_api.post(
        "/v1/cases",
        json={
            "description": "ถูกเลิกจ้างโดยไม่ได้รับค่าชดเชย",
            "location": {"province_code": "TH-52"},
        },
    )
    assert other.status_code == 201
    long_ago = datetime.now(UTC) - timedelta(days=120)
    with intake_engine.begin() as conn:
        conn.execute(
            update(Case)
            .where(Case.id == int(old.rsplit("-", 1)[1]))
            .values(created_at=long_ago)
        )

    def ids(**params: Any) -> list[str]:
        return [r["service_request_id"] for r in listed(intake_api, **params)]

    # the most recent 90 days, newest first
    assert ids() == [safety, *reversed(wages)]
    assert other.json()["reference"] not in ids()
    assert ids(service_code="workplace_safety") == [safety]
    assert ids(service_code="workplace_safety,unpaid_wages", status="open") == ids()
    # service_request_id overrides every other filter; unknown ids are left out
    assert set(ids(service_request_id=f"{old},{safety},LN-2569-99999999,x")) == {
        old,
        safety,
    }
    assert ids(service_request_id=old, service_code="workplace_safety") == [old]
    # dates: one opens 90 days from it; two may span 90 days
    start = (long_ago - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(start_date=start) == [old]
    end = (long_ago + timedelta(days=1)).isoformat()
    assert ids(end_date=end) == [old]
    assert ids(start_date=start, end_date=end, jurisdiction_id=JURISDICTION) == [old]
    # an empty parameter is no parameter
    assert ids(status="", service_code="", start_date="", jurisdiction_id="") == ids()


def test_requests_answer_at_most_a_thousand(intake_api, intake_engine):
    now = datetime.now(UTC)
    with intake_engine.begin() as conn:
        for number in range(1, 1002):
            conn.execute(
                insert(Case).values(
                    id=number,
                    be_year=2569,
                    status="received",
                    category="job_seeking",
                    description="หางานทำในจังหวัดลำปาง",
                    channel="open311",
                    language="th",
                    province_code="TH-52",
                    lat=18.29,
                    long=99.49,
                    coordinates_source="province",
                    created_at=now - timedelta(seconds=number),
                    updated_at=now,
                )
            )
        conn.execute(
            insert(Open311Request),
            [{"case_id": n, "filed_by": "bulk#0"} for n in range(1, 1002)],
        )
    for fmt in ("json", "xml"):
        found = listed(intake_api, fmt)
        assert len(found) == 1000
        assert found[0]["service_request_id"] == "LN-2569-00000001"


# --- an independent Open311 client --------------------------------------------------


def test_an_open311_client_library_files_and_follows_a_case(intake_api, kiosk):
    """civicbot's GeoReport v2 client, as a chatbot or kiosk would use it: it
    reads the service list and definition, checks its answers against them,
    files the request form-encoded, and follows it by id and token."""
    endpoint = Endpoint(
        id="labornet",
        name="Ministry of Labour",
        base_url=intake_api.base_url + BASE,
        write=True,
    )
    client = Open311Client(
        endpoint,
        transport=HttpTransport(rate_limiter=RateLimiter(min_interval=0)),
        jurisdiction_id=JURISDICTION,
    )
    services = client.list_services()
    assert {s["service_code"] for s in services} == set(CATEGORIES)
    definition = client.get_service_definition("unpaid_wages")
    assert "consent" in {a["code"] for a in definition["attributes"]}

    lat, long = lampang_point()
    filed = client.create_request(
        "unpaid_wages",
        dry_run=False,
        confirm="SEND",
        api_key=kiosk,
        validate_remote=True,
        lat=lat,
        lng=long,
        description=WORDS,
        attributes={
            "employer_name": EMPLOYER,
            "amount_owed": 24000,
            "still_employed": "no",
            "consent": "yes",
        },
        email=EMAIL,
        phone=PHONE,
        first_name=FIRST,
        last_name=LAST,
    )
    [created] = filed.response
    reference = created["service_request_id"]
    assert tracking_code(created["service_notice"])

    request = client.get_request(reference)
    assert request is not None
    assert request["service_request_id"] == reference
    assert request["status"] == "open"
    found = client.list_requests(service_request_ids=[reference])
    assert [r["service_request_id"] for r in found] == [reference]
    assert client.list_requests(service_code="unpaid_wages", status="open") == found
    assert client.get_token(reference) == [
        {"service_request_id": reference, "token": reference}
    ]

    # the library's own check: a required attribute left out never leaves it
    with pytest.raises(Exception, match="employer_name"):
        client.create_request(
            "unpaid_wages",
            dry_run=False,
            confirm="SEND",
            api_key=kiosk,
            validate_remote=True,
            lat=lat,
            lng=long,
            description=WORDS,
        )
    # and the server's errors reach it as HTTP errors with the spec's body
    with pytest.raises(HttpError) as refused:
        client.create_request(
            "unpaid_wages",
            dry_run=False,
            confirm="SEND",
            api_key=kiosk + "x",
            lat=lat,
            lng=long,
        )
    assert refused.value.status == 403
    assert refused.value.body.startswith('[{"code": 403')
    with pytest.raises(HttpError) as missing:
        client.get_request("LN-2569-99999999")
    assert missing.value.status == 404


# --- bad input never gets a 500 ----------------------------------------------------

WORDS_TRIED = [
    "",
    " ",
    "yes",
    "no",
    "open",
    "closed,open",
    "unpaid_wages",
    "workplace_safety,pothole",
    "LN-2569-00000001",
    "520105",
    "5201",
    "TH-52",
    "18.27",
    "99.50",
    "nan",
    "-1e309",
    "2026-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "mol.go.th",
    "ต.พระบาท จ.ลำปาง",
    "https://photos.example.org/1.jpg",
    "a\x00b",
    "\ud800",
    "ก" * 300,
]
PARAMETERS = [
    "api_key",
    "jurisdiction_id",
    "service_code",
    "service_request_id",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "description",
    "media_url",
    "device_id",
    "account_id",
    "start_date",
    "end_date",
    "status",
    "locale",
    "attribute[employer_name]",
    "attribute[amount_owed]",
    "attribute[hazards][]",
    "attribute[consent]",
    "attribute[nothing]",
    "attribute[",
]


@st.composite
def open311_calls(draw: Any) -> tuple[str, str, list[tuple[str, str]]]:
    fmt = draw(st.sampled_from(["xml", "json", "csv"]))
    method, path = draw(
        st.sampled_from(
            [
                ("POST", f"requests.{fmt}"),
                ("GET", f"requests.{fmt}"),
                ("GET", f"requests/{{id}}.{fmt}"),
                ("GET", f"tokens/{{id}}.{fmt}"),
                ("GET", f"services.{fmt}"),
                ("GET", f"services/{{code}}.{fmt}"),
                ("GET", f"discovery.{fmt}"),
                ("PUT", f"requests.{fmt}"),
                ("GET", f"unknown/{{id}}.{fmt}"),
            ]
        )
    )
    value = st.one_of(st.sampled_from(WORDS_TRIED), st.text(max_size=30))
    path = path.format(
        id=draw(st.sampled_from(["LN-2569-00000001", "LN-0-1", "x"])),
        code=draw(st.sampled_from(["unpaid_wages", "pothole"])),
    )
    params = draw(st.lists(st.tuples(st.sampled_from(PARAMETERS), value), max_size=12))
    return method, path, params


def test_bad_input_never_gets_a_500(start_intake, kiosk):
    api = start_intake(
        RATE_LIMIT_ANONYMOUS="1000000/minute", RATE_LIMIT_OPEN311="1000000/minute"
    )
    file(api, kiosk)  # LN-...-00000001 exists

    @settings(
        max_examples=300,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(open311_calls(), st.booleans())
    def call(request: tuple[str, str, list[tuple[str, str]]], keyed: bool) -> None:
        method, path, params = request
        if keyed:
            params = [("api_key", kiosk), *params]
        # what a client can send: text a client cannot encode is left out
        params = [(k, v) for k, v in params if "\ud800" not in v]
        url = f"{BASE}/{path}"
        if method == "GET":
            response = api.request(method, url, params=params)
        else:
            response = api.request(method, url, data=params)
        assert response.status_code < 500, (method, url, params, response.text)
        if response.status_code == 414:
            # eventlet refuses a request line over 8 KiB before any
            # application sees it
            assert len(response.request.url) > 8000
            return
        if response.status_code >= 400:
            assert_error(response, response.status_code, format_of(path))

    call()
