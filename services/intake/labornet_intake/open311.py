"""Open311 GeoReport v2 on intake: the spec's vocabulary and formats.

What the entrypoints under ``/open311/v2/`` need besides the domain: the
services and their definitions (``data/open311_services.yml``), reading the
spec's parameters (form-encoded POST, ``attribute[code]``, comma-separated
lists, w3 dates, "an empty parameter is no parameter"), placing a request in
a Thai subdistrict, the spec's answers in XML (its element names and root
elements) and JSON (the Spark convention), its errors
(``<errors><error><code/><description/></error></errors>``) on every path,
and :class:`Open311Entrypoint`, which takes the ``api_key`` parameter
instead of a bearer token.

Privacy: Open311 requests are public by id, so every client sees only what
identifies nobody: the category, the status in words, the agencies, the dates
and the place as the gazetteer names it (its subdistrict's centroid, never
the point given). What the citizen wrote (``description``), the photo
(``media_url``), the exact point and the offices' own notes are shown only to
the api_key that filed the request, and to nobody once the citizen's personal
data is erased. Names, phone and e-mail are never shown.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import geothai
import yaml
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from labornet_intake import domain
from labornet_intake.models import Case
from labornet_shared.categories import DEFAULT_AGENCY
from labornet_shared.http import HttpEntrypoint, language_of, read_body
from labornet_shared.problems import FieldError, Problem
from labornet_shared.problems import message as problem_message
from labornet_shared.reference import (
    BANGKOK,
    centroid,
    district_centroid,
    nearest_subdistrict,
    province,
    province_centroid,
    provinces,
)
from labornet_shared.tokens import InvalidToken, Principal, verify_token

log = logging.getLogger("labornet.intake.open311")

PREFIX = "/open311/v2/"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
#: the answer's Content-Type by format; XML is the one the spec requires
FORMATS = {
    "xml": "text/xml; charset=utf-8",
    "json": "application/json; charset=utf-8",
}
#: the spec's limits: a description, the default result window and count
MAX_DESCRIPTION = 4000
DEFAULT_SPAN = timedelta(days=90)
MAX_RESULTS = 1000
#: an attribute answer of datatype string / text
MAX_STRING = 200
MAX_TEXT = 2000
MAX_ADDRESS = 500
MAX_URL = 2000
#: form fields read from one POST (werkzeug's own default for multipart)
MAX_FIELDS = 1000


# --- errors ---------------------------------------------------------------------

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
    "citizen.language": "locale",
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


# --- formats ---------------------------------------------------------------------

# a list under an element holds elements of this name (the spec's ⇊ and ↴)
_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
# characters XML 1.0 cannot carry, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def format_of(path: str) -> str:
    """The format a path asks for; errors of anything but ``.json`` are XML,
    the format the spec requires."""
    return "json" if path.endswith(".json") else "xml"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, list):
        item = _ITEMS[element.tag]
        for entry in value:
            _fill(ET.SubElement(element, item), entry)
    elif isinstance(value, dict):
        for name, entry in value.items():
            _fill(ET.SubElement(element, name), entry)
    else:
        element.text = _text(value)


def to_xml(root: str, data: Any) -> bytes:
    """The spec's XML: a declaration, ``root``, no namespace."""
    element = ET.Element(root)
    _fill(element, data)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(
        element, encoding="utf-8", xml_declaration=False
    )


def respond(
    fmt: str,
    root: str,
    data: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``data`` in ``fmt``: XML under ``root``, or the same as JSON (the
    Spark convention: the root disappears, lists become arrays)."""
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    else:
        body = to_xml(root, data)
    return Response(
        body, status=status, headers=dict(headers or {}), content_type=FORMATS[fmt]
    )


def error_response(error: Open311Error, request: Request | None) -> Response:
    """An error in the spec's format, in the request's format and language."""
    fmt = format_of(request.path) if request is not None else "xml"
    language = locale_of(request) if request is not None else "en"
    return respond(fmt, "errors", error.body(language), error.status, error.headers)


def check_format(fmt: str) -> None:
    """``xml`` or ``json``; any other resource does not exist."""
    if fmt not in FORMATS:
        raise Open311Error(404, ("format_not_supported", None))


# --- parameters ------------------------------------------------------------------


def form_of(request: Request) -> MultiDict[str, str]:
    """The POST form (url-encoded as the spec says, or multipart), read once.

    The url-encoded body is read by labornet's reader, which also takes a
    chunked body and keeps the size limit."""
    cached = getattr(request, "open311_form", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    mimetype = request.mimetype or ""
    if mimetype == "application/x-www-form-urlencoded":
        raw = read_body(request)
        try:
            pairs = parse_qsl(
                raw.decode("utf-8"),
                keep_blank_values=True,
                errors="strict",
                max_num_fields=MAX_FIELDS,
            )
        except UnicodeDecodeError as exc:
            raise invalid(("form_encoding", None)) from exc
        except ValueError as exc:
            raise invalid(("too_many_fields", None)) from exc
        form: MultiDict[str, str] = MultiDict(pairs)
    elif mimetype == "multipart/form-data":
        # clients that attach a photo send multipart; files are not kept
        form = MultiDict(request.form)
    else:
        raise invalid(("form_required", None))
    request.open311_form = form  # type: ignore[attr-defined]
    return form


def params_of(request: Request) -> MultiDict[str, str]:
    """A request's Open311 parameters: the form of a POST, else the query."""
    if request.method == "POST":
        return form_of(request)
    return request.args


def single(params: MultiDict[str, str], name: str) -> str | None:
    """A parameter given at most once; empty is not given (the spec's
    "Optional Arguments")."""
    values = [v.strip() for v in params.getlist(name) if v.strip()]
    if len(values) > 1:
        raise invalid(("repeated", name))
    return values[0] if values else None


def listed(params: MultiDict[str, str], name: str) -> list[str]:
    """A comma-separated parameter that may also be declared several times."""
    found: list[str] = []
    for value in params.getlist(name):
        for item in value.split(","):
            item = item.strip()
            if item and item not in found:
                found.append(item)
    return found


def locale_of(request: Request) -> str:
    """``th`` or ``en``: the ``locale`` parameter (``th``, ``th_TH``,
    ``en-US`` ...), else ``Accept-Language``."""
    wanted = request.args.get("locale")
    form = getattr(request, "open311_form", None)
    if form is not None and form.get("locale"):
        wanted = form.get("locale")
    if wanted and wanted.strip():
        return "th" if wanted.strip().lower()[:2] == "th" else "en"
    return language_of(request)


def check_jurisdiction(params: MultiDict[str, str], jurisdiction: str) -> None:
    """One jurisdiction is served: ``jurisdiction_id`` may be left out, and
    any other is not found."""
    given = single(params, "jurisdiction_id")
    if given is not None and given.lower() != jurisdiction.lower():
        raise Open311Error(
            404,
            ("jurisdiction_not_found", "jurisdiction_id"),
            values={"jurisdiction": jurisdiction},
        )


_W3_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)


def parse_datetime(value: str, name: str) -> datetime:
    """A w3 date and time with its timezone (``2010-01-01T00:00:00Z``)."""
    if not _W3_DATETIME.fullmatch(value):
        raise invalid(("not_a_datetime", name))
    try:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise invalid(("not_a_datetime", name)) from exc


def w3(moment: datetime | None) -> str | None:
    """A time as the spec writes it, in Bangkok time (``+07:00``)."""
    aware = domain.aware(moment)
    if aware is None:
        return None
    return aware.astimezone(BANGKOK).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RequestQuery:
    """``GET requests``' filters, defaults applied."""

    references: list[str] | None = None
    service_codes: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None


def request_query(params: MultiDict[str, str], now: datetime) -> RequestQuery:
    """Read ``GET requests``' parameters: ``service_request_id`` (comma
    separated) overrides the others; without dates the window is the most
    recent 90 days, one date opens 90 days from it, and two may not span
    more."""
    references = listed(params, "service_request_id")
    if references:
        return RequestQuery(references=references[:MAX_RESULTS])
    services = catalogue().services
    codes = listed(params, "service_code")
    unknown = [code for code in codes if code not in services]
    statuses = listed(params, "status")
    errors: list[tuple[str, str | None]] = []
    if unknown:
        errors.append(("service_code_not_found", "service_code"))
    if any(status not in domain.OPEN311_STATUSES for status in statuses):
        errors.append(("status_unknown", "status"))
    dates: dict[str, datetime] = {}
    for name in ("start_date", "end_date"):
        try:
            value = single(params, name)
            if value is not None:
                dates[name] = parse_datetime(value, name)
        except Open311Error as exc:
            errors += exc.errors
    if errors:
        raise invalid(*errors)
    start, end = dates.get("start_date"), dates.get("end_date")
    try:
        if start is not None and end is None:
            end = start + DEFAULT_SPAN
        elif start is None:
            start = (end or now) - DEFAULT_SPAN
    except OverflowError as exc:
        # 90 days beyond year 9999 or before year 1
        raise invalid(("not_a_datetime", "end_date" if end else "start_date")) from exc
    if end is not None and end < start:
        raise invalid(("date_order", "end_date"))
    if end is not None and end - start > DEFAULT_SPAN:
        raise invalid(("date_span", "end_date"))
    return RequestQuery(service_codes=codes, statuses=statuses, since=start, until=end)


# --- the services ----------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """One choice of a list attribute."""

    key: str
    name: dict[str, str]


@dataclass(frozen=True)
class Attribute:
    """One question of a service definition."""

    code: str
    datatype: str
    required: bool
    order: int
    description: dict[str, str]
    label: str
    datatype_description: dict[str, str] | None = None
    values: tuple[Value, ...] = ()

    @property
    def is_list(self) -> bool:
        """A single- or multi-value list."""
        return self.datatype in ("singlevaluelist", "multivaluelist")


@dataclass(frozen=True)
class Service:
    """A case category as an Open311 service."""

    code: str
    name: dict[str, str]
    description: dict[str, str]
    keywords: dict[str, str]
    attributes: tuple[Attribute, ...]

    @property
    def group(self) -> str:
        """The agency the category goes to by default."""
        return DEFAULT_AGENCY[self.code]


@dataclass(frozen=True)
class Catalogue:
    """Everything ``data/open311_services.yml`` says."""

    changeset: str
    contact: dict[str, str]
    key_service: dict[str, str]
    consent_purpose: str
    services: dict[str, Service]
    notices: dict[str, dict[str, str]]
    status_notes: dict[str, dict[str, str]]
    outcomes: dict[str, dict[str, str]]


#: the attribute every service definition ends with, and its one value
CONSENT = "consent"
CONSENT_GIVEN = "yes"
#: what /v1 keeps of a consent's purpose (ConsentSchema)
MAX_PURPOSE = 500

DATATYPES = (
    "string",
    "number",
    "datetime",
    "text",
    "singlevaluelist",
    "multivaluelist",
)


def _attribute(raw: dict[str, Any], order: int) -> Attribute:
    attribute = Attribute(
        code=str(raw["code"]),
        datatype=str(raw["datatype"]),
        required=bool(raw["required"]),
        order=order,
        description=dict(raw["description"]),
        label=str(raw["label"]),
        datatype_description=raw.get("datatype_description"),
        values=tuple(
            Value(str(v["key"]), dict(v["name"])) for v in raw.get("values") or ()
        ),
    )
    if attribute.datatype not in DATATYPES or attribute.is_list != bool(
        attribute.values
    ):
        raise ValueError(f"attribute {attribute.code}: datatype and values disagree")
    return attribute


def load_catalogue(text: str) -> Catalogue:
    """Read the services file; every category gets a service, every service
    the consent attribute last."""
    document = yaml.safe_load(text)
    consent = document["consent"]
    if len(consent["description"]) > MAX_PURPOSE:
        raise ValueError("the consent's purpose is longer than a case keeps")
    services: dict[str, Service] = {}
    for raw in document["services"]:
        own = [_attribute(a, order) for order, a in enumerate(raw["attributes"], 1)]
        consent_attribute = Attribute(
            code=CONSENT,
            datatype="singlevaluelist",
            required=False,
            order=len(own) + 1,
            # the purpose in both languages, whatever the locale
            description={"th": consent["description"], "en": consent["description"]},
            label="",
            datatype_description=dict(consent["datatype_description"]),
            values=(Value(CONSENT_GIVEN, dict(consent["value_name"])),),
        )
        code = str(raw["service_code"])
        services[code] = Service(
            code=code,
            name=dict(raw["name"]),
            description=dict(raw["description"]),
            keywords=dict(raw["keywords"]),
            attributes=(*own, consent_attribute),
        )
    if set(services) != set(DEFAULT_AGENCY):
        raise ValueError("the Open311 services must be exactly the case categories")
    return Catalogue(
        changeset=str(document["changeset"]),
        contact=dict(document["contact"]),
        key_service=dict(document["key_service"]),
        consent_purpose=str(consent["description"]),
        services=services,
        notices=document["notices"],
        status_notes=document["status_notes"],
        outcomes=document["outcomes"],
    )


@cache
def catalogue() -> Catalogue:
    """The services, read once from the package's data file."""
    data = files("labornet_intake").joinpath("data", "open311_services.yml")
    return load_catalogue(data.read_text(encoding="utf-8"))


def service_of(code: str | None) -> Service:
    """The service of ``code``; 400 when none was given, 404 when it is
    unknown."""
    if code is None:
        raise invalid(("service_code_missing", "service_code"))
    service = catalogue().services.get(code)
    if service is None:
        raise Open311Error(404, ("service_code_not_found", "service_code"))
    return service


def discovery_view(base_url: str, endpoint_type: str, locale: str) -> dict[str, Any]:
    """The Service Discovery document of this endpoint."""
    known = catalogue()
    return {
        "changeset": known.changeset,
        "contact": known.contact[locale],
        "key_service": known.key_service[locale],
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base_url,
                "changeset": known.changeset,
                "type": endpoint_type,
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def service_view(service: Service, locale: str) -> dict[str, Any]:
    """One entry of ``GET services``."""
    return {
        "service_code": service.code,
        "service_name": service.name[locale],
        "description": service.description[locale],
        # every service asks at least for consent
        "metadata": bool(service.attributes),
        "type": "realtime",
        "keywords": service.keywords[locale],
        "group": service.group,
    }


def definition_view(service: Service, locale: str) -> dict[str, Any]:
    """``GET services/{service_code}``: the service's attributes."""
    attributes = []
    for attribute in service.attributes:
        entry: dict[str, Any] = {
            "variable": True,
            "code": attribute.code,
            "datatype": attribute.datatype,
            "required": attribute.required,
            "datatype_description": (attribute.datatype_description or {}).get(locale),
            "order": attribute.order,
            "description": attribute.description[locale],
        }
        if attribute.is_list:
            entry["values"] = [
                {"key": value.key, "name": value.name[locale]}
                for value in attribute.values
            ]
        attributes.append(entry)
    return {"service_code": service.code, "attributes": attributes}


# --- filing a request ------------------------------------------------------------

_ATTRIBUTE = re.compile(r"attribute\[([^\[\]]*)\](\[\])?")
_PERSONAL = ("email", "phone", "first_name", "last_name")
_LINE_BREAK = re.compile(r"[\r\n]")


def _storable(value: str, name: str) -> None:
    if _NOT_XML.search(value):
        raise invalid(("invalid_characters", name))


def _answers(service: Service, params: MultiDict[str, str]) -> dict[str, list[str]]:
    """``attribute[code]=value`` and ``attribute[code][]=value`` pairs."""
    answers: dict[str, list[str]] = {}
    for key, value in params.items(multi=True):
        match = _ATTRIBUTE.fullmatch(key)
        if match is None or not value.strip():
            continue
        answers.setdefault(match.group(1), []).append(value.strip())
    return answers


def _check_answer(attribute: Attribute, given: list[str], name: str) -> list[str]:
    if attribute.datatype != "multivaluelist" and len(given) > 1:
        raise invalid(("repeated", name))
    for value in given:
        _storable(value, name)
    if attribute.is_list:
        keys = {v.key for v in attribute.values}
        if any(value not in keys for value in given):
            raise invalid(("value_not_allowed", name))
        return list(dict.fromkeys(given))
    value = given[0]
    if attribute.datatype == "number":
        try:
            number = Decimal(value)
        except InvalidOperation as exc:
            raise invalid(("not_a_number", name)) from exc
        if not number.is_finite() or number < 0:
            raise invalid(("not_a_number", name))
    elif attribute.datatype == "datetime":
        parse_datetime(value, name)
    elif attribute.datatype == "string":
        if _LINE_BREAK.search(value):
            raise invalid(("line_break", name))
        if len(value) > MAX_STRING:
            raise invalid(("too_long", name))
    elif len(value) > MAX_TEXT:
        raise invalid(("too_long", name))
    return [value]


@dataclass(frozen=True)
class Filing:
    """An Open311 POST read and checked: the case for ``/v1``'s schema, the
    media URL, and which parameter placed the case (errors of the place name
    it)."""

    case: dict[str, Any]
    media_url: str | None
    place_param: str


def _attribute_lines(
    service: Service, answers: dict[str, list[str]]
) -> tuple[list[str], list[tuple[str, str | None]]]:
    """The answers as lines for the office ("นายจ้าง: ..."), and the errors."""
    lines: list[str] = []
    errors: list[tuple[str, str | None]] = []
    known = {a.code: a for a in service.attributes}
    for code in answers:
        if code not in known:
            errors.append(("attribute_unknown", f"attribute[{code}]"))
    for attribute in service.attributes:
        name = f"attribute[{attribute.code}]"
        given = answers.get(attribute.code)
        if not given:
            if attribute.required:
                errors.append(("attribute_required", name))
            continue
        try:
            values = _check_answer(attribute, given, name)
        except Open311Error as exc:
            errors += exc.errors
            continue
        if attribute.code == CONSENT:
            continue
        if attribute.is_list:
            names = {v.key: v.name["th"] for v in attribute.values}
            shown = ", ".join(names[value] for value in values)
        else:
            shown = values[0]
        lines.append(f"{attribute.label}: {shown}")
    return lines, errors


def _description(
    service: Service, given: str | None, lines: list[str]
) -> tuple[str, list[tuple[str, str | None]]]:
    """The case description: the client's words (the spec allows none, or a
    word: the service's name then says what it is about) and the answers."""
    errors: list[tuple[str, str | None]] = []
    text = (given or "").strip()
    if len(text) > MAX_DESCRIPTION:
        errors.append(("too_long", "description"))
    elif _NOT_XML.search(text):
        errors.append(("invalid_characters", "description"))
    if len(text) < 10:
        title = f"{service.name['th']} / {service.name['en']}"
        text = f"{title}: {text}" if text else title
    if lines:
        text += "\n\n" + "\n".join(lines)
    return text, errors


def _media_url(params: MultiDict[str, str]) -> str | None:
    url = single(params, "media_url")
    if url is None:
        return None
    parts = urlsplit(url)
    if (
        len(url) > MAX_URL
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or re.search(r"\s", url)
    ):
        raise invalid(("url", "media_url"))
    _storable(url, "media_url")
    return url


def read_filing(
    params: MultiDict[str, str], service: Service, locale: str, now: datetime
) -> Filing:
    """Read an Open311 POST into a case as ``/v1/cases`` takes it; every
    problem found is reported at once (400)."""
    errors: list[tuple[str, str | None]] = []
    location: dict[str, Any] = {}
    place_param = "address_string"
    try:
        location, place_param = place(params)
    except Open311Error as exc:
        errors += exc.errors
    answers = _answers(service, params)
    lines, problems = _attribute_lines(service, answers)
    errors += problems
    description, problems = _description(service, single(params, "description"), lines)
    errors += problems
    media_url = None
    try:
        media_url = _media_url(params)
    except Open311Error as exc:
        errors += exc.errors
    personal: dict[str, str | None] = {}
    for name in _PERSONAL:
        try:
            personal[name] = single(params, name)
        except Open311Error as exc:
            errors += exc.errors
            personal[name] = None
    consented = answers.get(CONSENT) == [CONSENT_GIVEN]
    if any(personal.values()) and not consented:
        errors.append(("consent_missing", f"attribute[{CONSENT}]"))
    if errors:
        raise invalid(*errors)
    name = " ".join(p for p in (personal["first_name"], personal["last_name"]) if p)
    phone, email = personal["phone"], personal["email"]
    case: dict[str, Any] = {
        "description": description,
        "category": service.code,
        "channel": "open311",
        "location": location,
        "citizen": {
            "name": name or None,
            "phone": phone,
            "email": email,
            "language": locale,
            # an SMS reaches every phone in Thailand; else the e-mail given
            "contact_channel": "sms" if phone else "email" if email else "none",
        },
    }
    if consented:
        case["consent"] = {
            "purpose": catalogue().consent_purpose,
            "given_at": now.isoformat(),
            # the purpose names the agencies handling the case
            "agencies_may_contact": True,
        }
    return Filing(case, media_url, place_param)


# --- placing a request -----------------------------------------------------------

_ADDRESS_ID = re.compile(r"(?:TH-)?([0-9]{2})|([0-9]{4})|([0-9]{6})", re.IGNORECASE)
_POSTCODE = re.compile(r"(?<![0-9])([0-9]{5})(?![0-9])")
_THAI = "\u0e00-\u0e7f"
_BANGKOK = ("กรุงเทพมหานคร", "กรุงเทพฯ", "กรุงเทพ", "กทม")


def _coordinate(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise invalid(("not_a_coordinate", name)) from exc
    if not math.isfinite(number):
        raise invalid(("not_a_coordinate", name))
    return number


def province_in(address: str) -> str | None:
    """The province an address written by hand names (``TH-52``): after
    "จ."/"จังหวัด", else the last province name standing as a word (Thai or
    English; addresses end with the province), else its postcode's."""
    found: list[tuple[int, str]] = []
    for info in provinces():
        thai = re.escape(info.name_th)
        for match in re.finditer(rf"(?:จ\.|จังหวัด)\s*{thai}(?![{_THAI}])", address):
            # an explicit province wins over any name found elsewhere
            found.append((10**6 + match.start(), info.iso_code))
        for match in re.finditer(rf"(?<![{_THAI}])(?<!\.){thai}(?![{_THAI}])", address):
            found.append((match.start(), info.iso_code))
        english = r"\s+".join(map(re.escape, info.name_en.split()))
        for match in re.finditer(rf"\b{english}\b", address, re.IGNORECASE):
            found.append((match.start(), info.iso_code))
    for name in _BANGKOK:
        for match in re.finditer(rf"(?<![{_THAI}]){re.escape(name)}", address):
            found.append((match.start(), "TH-10"))
    if found:
        return max(found)[1]
    postcode = _POSTCODE.search(address)
    if postcode:
        owners = {
            f"TH-{s.province_code}" for s in geothai.by_postal_code(postcode.group(1))
        }
        if len(owners) == 1:
            return owners.pop()
    return None


def place(params: MultiDict[str, str]) -> tuple[dict[str, Any], str]:
    """The case's location from the spec's location parameters, and the
    parameter that placed it.

    ``address_id`` is a gazetteer code (subdistrict ``520105``, district
    ``5201``, province ``TH-52``); ``lat``/``long`` without it fall in the
    subdistrict of the nearest centroid; ``address_string`` alone is matched
    with the gazetteer (``geothai.match``) inside the province it names.
    ``address_string`` is kept as the case's address in every case.
    """
    lat, long = single(params, "lat"), single(params, "long")
    address_id = single(params, "address_id")
    address = single(params, "address_string")
    if address is not None:
        if len(address) > MAX_ADDRESS:
            raise invalid(("too_long", "address_string"))
        _storable(address, "address_string")
    if lat is None and long is None and address_id is None and address is None:
        raise invalid(("location_missing", None))
    location: dict[str, Any] = {"address": address}
    if (lat is None) != (long is None):
        raise invalid(("coordinates_incomplete", "long" if long is None else "lat"))
    point = None
    if lat is not None and long is not None:
        point = (_coordinate(lat, "lat"), _coordinate(long, "long"))
        location.update(lat=point[0], long=point[1])
    if address_id is not None:
        match = _ADDRESS_ID.fullmatch(address_id)
        if match is None:
            raise invalid(("address_id_format", "address_id"))
        province_number, district, subdistrict = match.groups()
        code = province_number or district or subdistrict
        location["province_code"] = f"TH-{code[:2]}"
        if district:
            location["district_code"] = district
        if subdistrict:
            location["subdistrict_code"] = subdistrict
        return location, "address_id"
    if point is not None:
        subdistrict = nearest_subdistrict(*point)
        if subdistrict is None:
            raise invalid(("outside_thailand", None))
        location.update(
            province_code=f"TH-{subdistrict[:2]}", subdistrict_code=subdistrict
        )
        return location, "lat"
    assert address is not None
    found = province_in(address)
    if found is None:
        raise invalid(("address_not_placed", "address_string"))
    location["province_code"] = found
    postcode = _POSTCODE.search(address)
    if postcode:
        location["postcode"] = postcode.group(1)
    return location, "address_string"


# --- a request as Open311 shows it --------------------------------------------------


def key_subject(name: str, api_key: str) -> str:
    """``<key name>#<digest>``: one api_key, told apart from others of the same
    name, without keeping the key."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
    return f"{name[:100]}#{digest}"


def is_filer(case: Case, viewer: Principal | None) -> bool:
    """Whether ``viewer`` is the api_key that filed the case (and the citizen's
    data is still there to show it)."""
    filed = case.open311
    return (
        viewer is not None
        and filed is not None
        and viewer.subject == filed.filed_by
        and case.personal_data_erased_at is None
    )


def _public_point(case: Case) -> tuple[float, float]:
    """The centroid of the case's area: a point given by the client may be
    the citizen's home."""
    if case.coordinates_source != "given":
        return case.lat, case.long
    point = None
    if case.subdistrict_code:
        point = centroid(case.subdistrict_code)
    if point is None and case.district_code:
        point = district_centroid(case.district_code)
    if point is None:
        point = province_centroid(case.province_code)
    return point if point else (round(case.lat, 2), round(case.long, 2))


def place_name(case: Case, locale: str) -> str | None:
    """The case's place as the gazetteer names it, most specific first."""
    info = province(case.province_code)
    district = geothai.district(case.district_code) if case.district_code else None
    subdistrict = (
        geothai.subdistrict(case.subdistrict_code) if case.subdistrict_code else None
    )
    bangkok = case.province_code == "TH-10"
    if locale == "en":
        parts = [
            subdistrict.name_en if subdistrict else None,
            district.name_en if district else None,
            info.name_en if info else None,
        ]
        return ", ".join(p for p in parts if p) or None
    parts = [
        (("แขวง" if bangkok else "ต.") + subdistrict.name_th) if subdistrict else None,
        (district.name_th if bangkok else "อ." + district.name_th)
        if district
        else None,
        (info.name_th if bangkok else "จ." + info.name_th) if info else None,
    ]
    return " ".join(p for p in parts if p) or None


def _zipcode(case: Case) -> str | None:
    if case.postcode:
        return case.postcode
    subdistrict = (
        geothai.subdistrict(case.subdistrict_code) if case.subdistrict_code else None
    )
    if subdistrict is not None and len(subdistrict.postal_codes) == 1:
        return str(subdistrict.postal_codes[0])
    return None


def _agency(code: str | None, locale: str) -> str:
    return domain.agency_name(code)[locale] if code else ""


def status_notes(case: Case, locale: str, own: bool) -> str | None:
    """The case's latest step in words; the office's own note (it may quote
    the citizen) only for the client that filed the request."""
    if not case.timeline:
        return None
    entry = case.timeline[-1]
    notes = catalogue().status_notes
    key = entry.status
    if key == "withdrawn" and entry.agency:
        key = "referral_withdrawn"
    template = notes.get(key)
    if template is None:
        return None
    outcomes = catalogue().outcomes
    outcome = outcomes.get(entry.outcome or "resolved", outcomes["resolved"])
    text = template[locale].format(
        agency=_agency(entry.agency, locale), outcome=outcome[locale]
    )
    if own and entry.note:
        text += f" — {entry.note}"
    return text


def _updated(case: Case) -> datetime | None:
    """When the case last changed as its citizen sees it; a closed one, when
    it closed."""
    entries = case.timeline
    if case.status in ("closed", "withdrawn"):
        ending = [e for e in entries if e.status == case.status and e.agency is None]
        if ending:
            return ending[-1].occurred_at
    return entries[-1].occurred_at if entries else case.updated_at


def request_view(case: Case, viewer: Principal | None, locale: str) -> dict[str, Any]:
    """A case as the spec's ``request`` element, for ``viewer``."""
    own = is_filer(case, viewer)
    service = catalogue().services.get(case.category or "")
    open_referrals = [
        r for r in case.referrals if r.status in domain.OPEN_REFERRAL_STATUSES
    ]
    handling = open_referrals or [r for r in case.referrals if r.status == "resolved"]
    agencies = list(dict.fromkeys(_agency(r.agency, locale) for r in handling))
    expected = max(
        (domain.aware(r.due_resolve_at) for r in open_referrals), default=None
    )
    lat, long = (case.lat, case.long) if own else _public_point(case)
    notice = catalogue().notices["follow"][locale]
    return {
        "service_request_id": case.reference,
        "status": domain.open311_status(case),
        "status_notes": status_notes(case, locale, own),
        "service_name": service.name[locale] if service else None,
        "service_code": case.category,
        "description": case.description if own else None,
        "agency_responsible": ", ".join(agencies) or None,
        "service_notice": notice.format(reference=case.reference),
        "requested_datetime": w3(case.created_at),
        "updated_datetime": w3(_updated(case)),
        "expected_datetime": w3(expected),
        "address": place_name(case, locale),
        "address_id": case.subdistrict_code or case.district_code,
        "zipcode": _zipcode(case),
        "lat": lat,
        "long": long,
        "media_url": case.open311.media_url if own and case.open311 else None,
    }


def created_view(
    reference: str, tracking_code: str, locale: str
) -> list[dict[str, Any]]:
    """``POST requests``' answer: the id at once (every service is
    ``realtime``), and the tracking code the citizen follows the case with."""
    notice = catalogue().notices["filed"][locale]
    return [
        {
            "service_request_id": reference,
            "service_notice": notice.format(
                reference=reference, tracking_code=tracking_code
            ),
            # account ids are not kept (PDPA: only what the case needs)
            "account_id": None,
        }
    ]


def token_view(reference: str) -> list[dict[str, Any]]:
    """``GET tokens/{token}``: a request's token is its id."""
    return [{"service_request_id": reference, "token": reference}]


def filing_fingerprint(params: MultiDict[str, str]) -> str:
    """A stable hash of a POST's parameters, to tell a retry from a new
    request with the same Idempotency-Key (the api_key left out)."""
    pairs = sorted((k, v) for k, v in params.items(multi=True) if k != "api_key")
    return domain.request_fingerprint(pairs)


# --- the entrypoint ----------------------------------------------------------------


class Open311Entrypoint(HttpEntrypoint):
    """labornet's HTTP entrypoint speaking Open311: the caller is the
    ``api_key`` parameter (an ``open311`` token; anything else is 403) and
    every error, including unknown paths under ``/open311/v2/``, 413 and 429,
    is in the spec's format. Rate limits count per api_key
    (``RATE_LIMIT_OPEN311``), anonymous reads per address."""

    error_prefix = "/open311/"

    def __init__(self, method: str, url: str, **kwargs: Any) -> None:
        kwargs.setdefault("expected_exceptions", (Problem, Open311Error))
        super().__init__(method, url, **kwargs)

    def _principal(self, request: Request) -> Principal | None:
        params = params_of(request)
        key = single(params, "api_key")
        if key is None:
            return None
        try:
            principal = verify_token(self.token_secret, key, self.token_lifetimes)
        except InvalidToken as exc:
            raise Open311Error(403, ("api_key_invalid", "api_key")) from exc
        if principal.scope != "open311":
            raise Open311Error(403, ("api_key_invalid", "api_key"))
        return Principal(scope="open311", subject=key_subject(principal.subject, key))

    def response_from_exception(  # type: ignore[override]
        self, exc: Exception, request: Request | None = None
    ) -> Response:
        """Every error in the spec's format."""
        if isinstance(exc, Open311Error):
            error = exc
        elif isinstance(exc, Problem):
            error = from_problem(exc)
        elif isinstance(exc, RequestEntityTooLarge):
            error = Open311Error(413, ("payload_too_large", None))
        elif isinstance(exc, HTTPException):
            error = from_http_exception(exc)
        else:
            log.error("unexpected %s answering %s", type(exc).__name__, self.url)
            error = Open311Error(500, ("internal_error", None))
        return error_response(error, request)


open311_api = Open311Entrypoint.decorator
