"""The page the follow link in notify's messages opens: the citizen follows
their case in a phone's browser.

``GET /t/{reference}[?lang=th|en|my]`` shows a form asking the tracking code
(the link never carries it: a forwarded SMS alone opens nothing); it posts
``code`` and ``lang`` to ``POST /t/{reference}``, which answers with the
case's status page: its status in words, the offices handling it, its
timeline, and — while it is open — how to withdraw it. The page shows what
``GET /v1/cases/{reference}`` shows the holder of the tracking code
(``CaseStatusSchema``), nothing more; like it, the read is not audited (no
personal data) and counts against the anonymous rate limit.

A wrong code and an unknown case get the same 404 page (the form again), so
the page does not tell whether a case exists; a code that cannot be one
(:func:`~labornet_intake.domain.normalise_tracking_code`) is a 400 naming it.
Dates are days and times in Bangkok, with the Buddhist-era year in Thai.
What the citizen's pages share is :mod:`labornet_intake.pages.citizen_pages`; the
words are ``data/follow_page.yml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from werkzeug.wrappers import Request, Response

from labornet_intake.domain import (
    AGENCY_NAMES_TH,
    OPEN_STATUSES,
    normalise_tracking_code,
)
from labornet_intake.pages import citizen_pages
from labornet_intake.schemas import (
    PAGE_LANGUAGES,
    TRACKING_CODE_MAX,
    FollowFormSchema,
)
from labornet_shared.categories import AGENCIES
from labornet_shared.http import load
from labornet_shared.problems import FieldError, Problem, invalid
from labornet_shared.reference.calendar import BANGKOK, to_buddhist_year
from labornet_shared.reference.geography import province

DOCUMENT = "follow_page"
PREFIX = "/t/"
FOLLOW_FORM = FollowFormSchema()

# the problems answered with the form again (with what to correct)
_FORM_AGAIN = {"not_found", "validation_failed"}


def phrases() -> dict[str, dict[str, Any]]:
    """The page's words per language (and the common ones)."""
    return citizen_pages.phrases(DOCUMENT)


@cache
def _agency_names() -> dict[str, dict[str, str]]:
    """Every agency's name in each page language."""
    text = files("labornet_intake").joinpath("data", "agency_names.yml")
    more = yaml.safe_load(text.read_text(encoding="utf-8"))
    names = {"th": dict(AGENCY_NAMES_TH), "en": dict(AGENCIES), **more}
    for language in PAGE_LANGUAGES:
        if set(names.get(language, {})) != set(AGENCIES):
            raise ValueError(f"agency_names.yml: {language} names other agencies")
    return names


# --- the form ------------------------------------------------------------------------


def checked_reference(reference: str) -> str:
    """``reference`` when it has the form of a case reference; else 404 (no
    case can have it: saying so tells nothing)."""
    if not citizen_pages.REFERENCE.fullmatch(reference):
        raise Problem(404, "not_found")
    return reference


def form_page(
    reference: str,
    language: str,
    *,
    status: int = 200,
    problem: str | None = None,
    errors: Sequence[str] = (),
    code: str = "",
) -> Response:
    """The form asking case ``reference``'s tracking code; with a
    ``problem`` (a page of the words' ``pages``) and ``errors``, again."""
    return citizen_pages.form_page(
        "follow_form.html",
        DOCUMENT,
        language,
        status,
        reference=reference,
        problem=problem,
        errors=errors,
        switch=citizen_pages.language_links(DOCUMENT, language, {})
        if status == 200
        else [],
        code=code[:TRACKING_CODE_MAX],
    )


def read_code(request: Request) -> str:
    """The tracking code the page's form sent, as
    :func:`~labornet_intake.domain.tracking_code` writes it; 400 naming
    what to correct when the form is not the page's or the code cannot be
    one."""
    data = load(FOLLOW_FORM, citizen_pages.read_form(request))
    code = normalise_tracking_code(data["code"])
    if code is None:
        raise invalid(FieldError("code", "format"))
    return code


# --- the status page -----------------------------------------------------------------


def moment(value: str | None, words: Mapping[str, Any], time: bool = True) -> str:
    """An ISO time as the language writes it (``words``: a language's
    words of this page), in Bangkok; the day alone without ``time``."""
    if not value:
        return ""
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    local = at.astimezone(BANGKOK)
    year = to_buddhist_year(local.year) if words["buddhist_era"] else local.year
    day = words["date"].format(
        day=local.day, month=words["months"][local.month - 1], year=year
    )
    if time:
        day = words["moment"].format(date=day, time=f"{local:%H:%M}")
    return day.translate(str.maketrans("0123456789", words["digits"]))


def office_name(office: str | None, agency: str | None, language: str) -> str:
    """An office (``dlpw.TH-52``, ``doe.overseas``) as the citizen reads it:
    its agency's name and the province it serves."""
    words = phrases()[language]
    code, _, place = (office or "").partition(".")
    agency = agency or code
    name = _agency_names()[language].get(agency, agency)
    info = province(place) if place.startswith("TH-") else None
    if info is not None:
        where = info.name_th if language == "th" else info.name_en
    elif place == "overseas":
        where = words["overseas"]
    else:
        return name
    return str(words["office"].format(agency=name, place=where))


def referral_lines(referral: Mapping[str, Any], language: str) -> dict[str, Any]:
    """One office's line of ``case_progress.html`` (a ``ReferralOutSchema``
    document in words): its name, status since when, due date while it is
    open, outcome, and its note when the document has one."""
    words = phrases()[language]
    status = referral["status"]
    outcome = referral.get("outcome")
    return {
        "name": office_name(referral.get("office"), referral.get("agency"), language),
        "status": words["referral"].get(status, status),
        "since": words["since"].format(
            date=moment(referral.get("since"), words, time=False)
        ),
        "expected_by": words["expected_by"].format(
            date=moment(referral.get("expected_by"), words, time=False)
        )
        if status in ("pending", "accepted", "in_progress")
        and referral.get("expected_by")
        else None,
        "outcome": words["outcome"].format(
            outcome=words["outcomes"].get(outcome, outcome)
        )
        if outcome
        else None,
        "note": words["said"].format(note=referral["note"])
        if referral.get("note")
        else None,
    }


def step(entry: Mapping[str, Any], language: str) -> dict[str, Any]:
    """One step of the timeline in ``case_progress.html`` (a
    ``TimelineEntrySchema`` document in words): when, what, the outcome,
    and the note when the document has one."""
    words = phrases()[language]
    status = entry["status"]
    if status == "withdrawn" and not entry.get("agency"):
        status = "case_withdrawn"  # the case itself, not one office's part
    text = (
        words["steps"]
        .get(status, status)
        .format(
            office=office_name(entry.get("office"), entry.get("agency"), language),
            escalated_to=office_name(entry.get("escalated_to"), None, language),
        )
    )
    outcome = entry.get("outcome")
    if outcome:
        outcome = words["outcome"].format(
            outcome=words["outcomes"].get(outcome, outcome)
        )
    return {
        "when": moment(entry.get("occurred_at"), words),
        "iso": entry.get("occurred_at") or "",
        "text": text,
        "outcome": outcome,
        "note": entry.get("note"),
    }


def progress(
    case: Mapping[str, Any], document: str, language: str, *, notes: bool
) -> dict[str, Any]:
    """What a page showing ``case``'s progress (``case_progress.html``) is
    rendered with: its heading, reference and status in ``document``'s
    words, the offices' and the timeline's lines, when it was last updated,
    and whether the offices' ``notes`` are shown."""
    words = citizen_pages.phrases(document)[language]
    status = words["status"].get(case["status"], words["status"]["routed"])
    return {
        "heading": status["title"],
        "reference": case["reference"],
        "status": status,
        "offices": [referral_lines(r, language) for r in case["referrals"]],
        "steps": [step(entry, language) for entry in case["timeline"]],
        "notes": notes,
        "updated": words["updated"].format(
            date=moment(case["updated_at"], phrases()[language])
        ),
    }


def status_page(case: Mapping[str, Any], language: str) -> Response:
    """The case as ``GET /v1/cases/{reference}`` shows it to the holder of
    the tracking code (``case``: that answer), in words."""
    body = citizen_pages.render(
        "follow_status.html",
        DOCUMENT,
        language,
        **progress(case, DOCUMENT, language, notes=True),
        open=case["status"] in OPEN_STATUSES,
    )
    return citizen_pages.html_response(200, body)


# --- refusals ------------------------------------------------------------------------


def field_messages(errors: Sequence[FieldError], language: str) -> list[str]:
    """What to correct, in plain words, one line per field."""
    return citizen_pages.field_messages(DOCUMENT, errors, language)


def refusal_page(
    problem: Problem, request: Request | None, routing_error: bool = False
) -> Response:
    """``problem`` as a page in the request's language, with its status and
    headers (``Retry-After``, ``Allow``): a wrong code or an unknown case
    (404) and a form to correct (400) get the form again."""
    language = citizen_pages.language_of(request)
    page = citizen_pages.page_for(DOCUMENT, problem, routing_error)
    reference = citizen_pages.genuine_reference(request)
    posted = request is not None and request.method == "POST"
    if page in _FORM_AGAIN and reference is not None and posted:
        typed = citizen_pages.form_of(request).get("code")
        if page == "not_found":
            lines = [phrases()[language]["pages"]["not_found"]["text"]]
        else:
            lines = field_messages(problem.errors, language)
        return form_page(
            reference,
            language,
            status=problem.status,
            problem=page,
            errors=lines,
            code=typed if isinstance(typed, str) else "",
        )
    return citizen_pages.message_page(
        DOCUMENT, page, language, problem.status, headers=problem.headers
    )


class FollowPageEntrypoint(citizen_pages.CitizenPageEntrypoint):
    """The follow page's entrypoints: everything under ``/t/`` is a page."""

    prefix = PREFIX
    refusal = staticmethod(refusal_page)


#: an entrypoint of the follow page (HTML only)
page = FollowPageEntrypoint.page
