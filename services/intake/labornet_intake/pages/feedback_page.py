"""The page a citizen opens from the link in notify's closing message, and
the answers a browser gets when that page's form is sent.

``GET /f/{reference}?t=<token>[&lang=th|en|my]`` shows the form (rating 1–5,
solved yes/no, an optional comment; the token and the language as hidden
fields) posting to ``POST /v1/cases/{reference}/feedback``, or — when the link
expired, is not genuine, names no case, was answered before or the case is
not closed yet — a page saying so, with the status a client would get from
the API (401, 404, 409). That ``POST`` answers a browser's form
(``application/x-www-form-urlencoded``, ``Accept`` preferring ``text/html``)
with a thank-you page or a page naming what to correct; every other client
keeps the JSON answers.

What the citizen's pages share (layout, languages, headers, the entrypoint)
is :mod:`labornet_intake.pages.citizen_pages`; the words are
``data/feedback_page.yml``. The pages say nothing about the case but its
reference, and only once the link proved genuine. The token is in the URL:
the pages' headers send no referrer and allow no cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from werkzeug.wrappers import Request, Response

from labornet_intake.pages import citizen_pages
from labornet_intake.pages.citizen_pages import (
    CitizenPageEntrypoint,
    form_of,
    genuine_reference,
    language_links,
    language_of,
)
from labornet_shared.problems import FieldError, Problem

DOCUMENT = "feedback_page"
_MAX_TOKEN = 500

# the answers that come from a genuine link: they may name the case
_NAMING_THE_CASE = {"case_not_closed", "feedback_already_given"}


def _switch(language: str, token: str | None) -> list[tuple[str, str, str]]:
    """The page in the other languages, with the same link."""
    return language_links(DOCUMENT, language, None if token is None else {"t": token})


def form_page(
    reference: str,
    token: str,
    language: str,
    *,
    status: int = 200,
    errors: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
    switch_token: str | None = None,
) -> Response:
    """The form for case ``reference`` with its link's ``token``."""
    return citizen_pages.form_page(
        "feedback_form.html",
        DOCUMENT,
        language,
        status,
        reference=reference,
        problem="validation_failed",
        errors=errors,
        switch=_switch(language, switch_token),
        token=token,
        values={k: v for k, v in (values or {}).items() if isinstance(v, str)},
    )


def thanks_page(request: Request, reference: str) -> Response:
    """201: the answer is stored."""
    return citizen_pages.message_page(
        DOCUMENT, "thanks", language_of(request), 201, reference=reference
    )


def field_messages(errors: Sequence[FieldError], language: str) -> list[str]:
    """What to correct, in plain words, one line per field."""
    return citizen_pages.field_messages(DOCUMENT, errors, language)


def refusal_page(
    problem: Problem, request: Request | None, routing_error: bool = False
) -> Response:
    """``problem`` as a page in the request's language, with its status and
    headers (``WWW-Authenticate``, ``Retry-After``, ``Allow``)."""
    language = language_of(request)
    status = problem.status
    page = citizen_pages.page_for(DOCUMENT, problem, routing_error)
    reference = genuine_reference(request) if page in _NAMING_THE_CASE else None
    token = request.args.get("t") if request is not None else None
    switch = token if request is not None and request.method == "GET" else None
    lines: list[str] = []
    if page == "validation_failed":
        form = form_of(request)
        lines = field_messages(problem.errors, language)
        token = form.get("token")
        reference = genuine_reference(request)
        fields = {error.field for error in problem.errors}
        if (
            reference is not None
            and "token" not in fields
            and isinstance(token, str)
            and 0 < len(token) <= _MAX_TOKEN
        ):
            # the form again, as it was sent, with what to correct
            return form_page(
                reference, token, language, status=status, errors=lines, values=form
            )
        reference = None
    return citizen_pages.message_page(
        DOCUMENT,
        page,
        language,
        status,
        reference=reference,
        errors=lines,
        headers=problem.headers,
        switch=_switch(language, switch),
    )


class FeedbackPageEntrypoint(CitizenPageEntrypoint):
    """The feedback page's entrypoints: the page under ``/f/`` and the API's
    answer ``POST`` (a page for the page's form). The link's token is the
    credential."""

    prefix = "/f/"
    refusal = staticmethod(refusal_page)


#: an entrypoint that answers in HTML only (``GET /f/<reference>``)
page = FeedbackPageEntrypoint.page


def answer(method: str, url: str, **kwargs: Any) -> Any:
    """An API entrypoint that answers the page's form in HTML."""
    return FeedbackPageEntrypoint.decorator(method, url, **kwargs)
