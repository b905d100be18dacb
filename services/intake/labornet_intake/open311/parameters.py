"""Reading the spec's parameters: form-encoded POST, comma-separated lists,
w3 dates, "an empty parameter is no parameter", the jurisdiction, the
locale, and a query's window over the requests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request

from labornet_intake import domain
from labornet_intake.open311.errors import Open311Error, invalid
from labornet_intake.open311.spec import DEFAULT_SPAN, MAX_FIELDS, MAX_RESULTS
from labornet_intake.open311.vocabulary import catalogue
from labornet_shared.http import language_of, read_body
from labornet_shared.reference import (
    BANGKOK,
)


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
