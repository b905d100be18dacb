"""Open311 GeoReport v2 on intake: the spec's vocabulary and formats.

What the entrypoints under ``/open311/v2/`` need besides the domain, one
module each: the spec's terms (:mod:`.spec`), its errors (:mod:`.errors`),
its answers in XML and JSON (:mod:`.formats`), reading its parameters
(:mod:`.parameters`), the services and their definitions
(:mod:`.vocabulary`, ``data/open311_services.yml``), filing a request
(:mod:`.filing`) and placing it in a Thai subdistrict (:mod:`.placing`), a
request as the spec shows it (:mod:`.views`), the entrypoint that takes the
``api_key`` parameter instead of a bearer token (:mod:`.entrypoint`), and
intake's Open311 endpoints themselves (:mod:`.endpoints`).

Privacy: Open311 requests are public by id, so every client sees only what
identifies nobody: the category, the status in words, the agencies, the dates
and the place as the gazetteer names it (its subdistrict's centroid, never
the point given). What the citizen wrote (``description``), the photo
(``media_url``), the exact point and the offices' own notes are shown only to
the api_key that filed the request, and to nobody once the citizen's personal
data is erased. Names, phone and e-mail are never shown.
"""

from __future__ import annotations

from labornet_intake.open311.entrypoint import (
    Open311Entrypoint,
    open311_api,
)
from labornet_intake.open311.errors import (
    MESSAGES,
    Open311Error,
    from_field_errors,
    from_http_exception,
    from_problem,
    invalid,
    message,
)
from labornet_intake.open311.filing import (
    Filing,
    read_filing,
)
from labornet_intake.open311.formats import (
    check_format,
    error_response,
    format_of,
    respond,
    to_xml,
)
from labornet_intake.open311.parameters import (
    RequestQuery,
    check_jurisdiction,
    form_of,
    listed,
    locale_of,
    params_of,
    parse_datetime,
    request_query,
    single,
    w3,
)
from labornet_intake.open311.placing import (
    place,
    province_in,
)
from labornet_intake.open311.spec import (
    DEFAULT_SPAN,
    FORMATS,
    MAX_ADDRESS,
    MAX_DESCRIPTION,
    MAX_FIELDS,
    MAX_RESULTS,
    MAX_STRING,
    MAX_TEXT,
    MAX_URL,
    PREFIX,
    SPECIFICATION,
)
from labornet_intake.open311.views import (
    created_view,
    filing_fingerprint,
    is_filer,
    key_subject,
    place_name,
    request_view,
    status_notes,
    token_view,
)
from labornet_intake.open311.vocabulary import (
    CONSENT,
    CONSENT_GIVEN,
    DATATYPES,
    MAX_PURPOSE,
    Attribute,
    Catalogue,
    Service,
    Value,
    catalogue,
    definition_view,
    discovery_view,
    load_catalogue,
    service_of,
    service_view,
)

__all__ = [
    "CONSENT",
    "CONSENT_GIVEN",
    "DATATYPES",
    "DEFAULT_SPAN",
    "FORMATS",
    "MAX_ADDRESS",
    "MAX_DESCRIPTION",
    "MAX_FIELDS",
    "MAX_PURPOSE",
    "MAX_RESULTS",
    "MAX_STRING",
    "MAX_TEXT",
    "MAX_URL",
    "MESSAGES",
    "PREFIX",
    "SPECIFICATION",
    "Attribute",
    "Catalogue",
    "Filing",
    "Open311Entrypoint",
    "Open311Error",
    "RequestQuery",
    "Service",
    "Value",
    "catalogue",
    "check_format",
    "check_jurisdiction",
    "created_view",
    "definition_view",
    "discovery_view",
    "error_response",
    "filing_fingerprint",
    "form_of",
    "format_of",
    "from_field_errors",
    "from_http_exception",
    "from_problem",
    "invalid",
    "is_filer",
    "key_subject",
    "listed",
    "load_catalogue",
    "locale_of",
    "message",
    "open311_api",
    "params_of",
    "parse_datetime",
    "place",
    "place_name",
    "province_in",
    "read_filing",
    "request_query",
    "request_view",
    "respond",
    "service_of",
    "service_view",
    "single",
    "status_notes",
    "to_xml",
    "token_view",
    "w3",
]
