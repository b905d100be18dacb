"""Open311 GeoReport v2's fixed terms on intake: the path prefix, the two
formats and the spec's limits."""

from __future__ import annotations

from datetime import timedelta

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
