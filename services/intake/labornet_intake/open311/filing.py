"""Filing a request: a client's parameters (the attributes' answers, the
description, the media URL) read into the case ``POST /v1/cases`` takes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from werkzeug.datastructures import MultiDict

from labornet_intake.open311.errors import Open311Error, invalid
from labornet_intake.open311.formats import _NOT_XML, _storable
from labornet_intake.open311.parameters import parse_datetime, single
from labornet_intake.open311.placing import place
from labornet_intake.open311.spec import MAX_DESCRIPTION, MAX_STRING, MAX_TEXT, MAX_URL
from labornet_intake.open311.vocabulary import (
    CONSENT,
    CONSENT_GIVEN,
    Attribute,
    Service,
    catalogue,
)

_ATTRIBUTE = re.compile(r"attribute\[([^\[\]]*)\](\[\])?")
_PERSONAL = ("email", "phone", "first_name", "last_name")
_LINE_BREAK = re.compile(r"[\r\n]")


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


def read_filing(params: MultiDict[str, str], service: Service, now: datetime) -> Filing:
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
            # No language: intake takes the one the description is written
            # in, as not chosen. The spec has no language of the citizen;
            # ``locale`` (or Accept-Language) is the language of the
            # *answer*, set by the app or kiosk (a Thai kiosk sends ``th``
            # whoever types), not a choice the citizen made for their
            # messages — and the language they wrote in is one they read.
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
