"""The spec's answers: XML (its element names and root elements) and JSON
(the Spark convention), errors (``<errors><error>...``) included."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

from labornet_intake.open311.errors import Open311Error, invalid
from labornet_intake.open311.parameters import locale_of
from labornet_intake.open311.spec import FORMATS

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


def _storable(value: str, name: str) -> None:
    if _NOT_XML.search(value):
        raise invalid(("invalid_characters", name))
