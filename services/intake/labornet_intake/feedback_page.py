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

HTML only, small and without script or external assets: Jinja2 templates
(package data, autoescaped) and the words of ``data/feedback_page.yml``, in
Thai unless ``lang`` or ``Accept-Language`` asks for English or Myanmar. The
pages say nothing about the case but its reference, and only once the link
proved genuine. Every page carries :data:`PAGE_HEADERS`: the token is in the
URL, so no referrer and no cache.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from labornet_intake.schemas import PAGE_LANGUAGES
from labornet_shared.http import HttpEntrypoint, http_exception_problem
from labornet_shared.problems import FieldError, Problem

log = logging.getLogger("labornet.http")

FORM = "application/x-www-form-urlencoded"
HTML = "text/html; charset=utf-8"
DEFAULT_LANGUAGE = "th"

#: on every page: nothing but inline style may load, the form may post only
#: to this host, the link's token never leaves in a Referer or a cache
PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

_REFERENCE = re.compile(r"LN-[0-9]{4}-[0-9]{8}")
_MAX_TOKEN = 500

# problem code -> the page that explains it
_PAGES = {
    "token_expired": "token_expired",
    "invalid_token": "invalid_token",
    "not_found": "not_found",
    "case_not_closed": "case_not_closed",
    "feedback_already_given": "feedback_already_given",
    "validation_failed": "validation_failed",
    "payload_too_large": "payload_too_large",
    "rate_limited": "rate_limited",
}
# the answers that come from a genuine link: they may name the case
_NAMING_THE_CASE = {"case_not_closed", "feedback_already_given"}


# --- words and templates ---------------------------------------------------------


def _shape(node: Any) -> Any:
    """The keys of a nested mapping (lists by length), to compare languages."""
    if isinstance(node, dict):
        return {key: _shape(value) for key, value in node.items()}
    if isinstance(node, list):
        return len(node)
    return None


@cache
def phrases() -> dict[str, dict[str, Any]]:
    """The page's words per language, read once; every language must have
    the same keys as Thai."""
    text = files("labornet_intake").joinpath("data", "feedback_page.yml")
    document = yaml.safe_load(text.read_text(encoding="utf-8"))
    if set(document) != set(PAGE_LANGUAGES):
        raise ValueError("feedback_page.yml must have exactly th, en and my")
    for language in PAGE_LANGUAGES:
        if _shape(document[language]) != _shape(document[DEFAULT_LANGUAGE]):
            raise ValueError(f"feedback_page.yml: {language} lacks or adds words")
    return dict(document)


@cache
def environment() -> Environment:
    """The page templates (package data), autoescaped, built once."""
    return Environment(
        loader=PackageLoader("labornet_intake", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(template: str, language: str, **context: Any) -> str:
    words = phrases()
    languages = [(code, words[code]["name"]) for code in PAGE_LANGUAGES]
    context.setdefault("switch_token", None)
    return (
        environment()
        .get_template(template)
        .render(lang=language, t=words[language], languages=languages, **context)
    )


def html_response(
    status: int, body: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An HTML page with :data:`PAGE_HEADERS`."""
    return Response(
        body,
        status=status,
        headers={**PAGE_HEADERS, **dict(headers or {})},
        content_type=HTML,
    )


# --- who gets HTML, in which language ----------------------------------------------


def wants_html(request: Request) -> bool:
    """A browser sending the page's form: a web form, and ``Accept`` ranks
    HTML above JSON (``text/html,...,*/*;q=0.8``). A client that accepts
    anything (``*/*``), or sends no ``Accept``, gets JSON as before."""
    if (request.mimetype or "") != FORM:
        return False
    accept = request.accept_mimetypes
    return bool(accept["text/html"] > accept["application/json"])


def remember_form(request: Request, form: Mapping[str, Any]) -> None:
    """Keep the form a browser sent, to show it again with what to correct
    and to answer in its page's language."""
    request.feedback_form = dict(form)  # type: ignore[attr-defined]


def _form_of(request: Request | None) -> dict[str, Any]:
    return dict(getattr(request, "feedback_form", None) or {})


def language_of(request: Request | None) -> str:
    """``lang`` (the query, else the form's hidden field) when it is one of
    the page's languages, else the best of ``Accept-Language``, else Thai."""
    if request is None:
        return DEFAULT_LANGUAGE
    for asked in (request.args.get("lang"), _form_of(request).get("lang")):
        if isinstance(asked, str) and asked.strip().lower() in PAGE_LANGUAGES:
            return asked.strip().lower()
    best = request.accept_languages.best_match(PAGE_LANGUAGES, default=DEFAULT_LANGUAGE)
    return best or DEFAULT_LANGUAGE


# --- the pages ---------------------------------------------------------------------


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
    words = phrases()[language]
    body = _render(
        "feedback_form.html",
        language,
        heading=words["form"]["title"],
        reference=reference,
        token=token,
        errors=list(errors),
        values={k: v for k, v in (values or {}).items() if isinstance(v, str)},
        switch_token=switch_token,
    )
    return html_response(status, body, {"Vary": "Accept-Language"})


def message_page(
    page: str,
    language: str,
    status: int,
    *,
    reference: str | None = None,
    errors: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    switch_token: str | None = None,
) -> Response:
    """One of ``data/feedback_page.yml``'s ``pages``: a heading and a line."""
    words = phrases()[language]["pages"][page]
    body = _render(
        "feedback_message.html",
        language,
        heading=words["title"],
        text=words["text"],
        reference=reference,
        errors=list(errors),
        switch_token=switch_token,
    )
    return html_response(status, body, {"Vary": "Accept-Language", **(headers or {})})


def thanks_page(request: Request, reference: str) -> Response:
    """201: the answer is stored."""
    return message_page("thanks", language_of(request), 201, reference=reference)


def field_messages(errors: Sequence[FieldError], language: str) -> list[str]:
    """What to correct, in plain words, one line per field."""
    words = phrases()[language]["fields"]
    lines: list[str] = []
    for error in errors:
        if error.field == "comment" and error.code == "length":
            line = words["comment_length"]
        elif error.field in ("rating", "solved", "comment", "token", "lang"):
            line = words[error.field]
        else:
            line = words["other"].format(field=error.field)
        if line not in lines:
            lines.append(line)
    return lines


def _genuine_reference(request: Request | None) -> str | None:
    values = getattr(request, "path_values", None) or {}
    reference = values.get("reference")
    if isinstance(reference, str) and _REFERENCE.fullmatch(reference):
        return reference
    return None


def refusal_page(
    problem: Problem, request: Request | None, routing_error: bool = False
) -> Response:
    """``problem`` as a page in the request's language, with its status and
    headers (``WWW-Authenticate``, ``Retry-After``, ``Allow``)."""
    language = language_of(request)
    status = problem.status
    page = _PAGES.get(problem.code, "error" if status >= 500 else "not_available")
    if routing_error:
        # no such page (or method) under /f/: not a statement about a case
        page = "error" if status >= 500 else "not_available"
    reference = _genuine_reference(request) if page in _NAMING_THE_CASE else None
    token = request.args.get("t") if request is not None else None
    switch = token if request is not None and request.method == "GET" else None
    if page == "validation_failed":
        form = _form_of(request)
        lines = field_messages(problem.errors, language)
        token = form.get("token")
        reference = _genuine_reference(request)
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
        return message_page(
            page, language, status, errors=lines, headers=problem.headers
        )
    return message_page(
        page,
        language,
        status,
        reference=reference,
        headers=problem.headers,
        switch_token=switch,
    )


# --- the entrypoint ----------------------------------------------------------------


def _as_problem(exc: Exception, url: str) -> tuple[Problem, bool]:
    """What the base entrypoint would answer, and whether it is a routing
    error (an unknown path or method)."""
    if isinstance(exc, Problem):
        return exc, False
    if isinstance(exc, RequestEntityTooLarge):
        return Problem(413, "payload_too_large"), False
    if isinstance(exc, HTTPException):
        return http_exception_problem(exc), True
    log.error("unexpected %s answering %s", type(exc).__name__, url)
    return Problem(500, "internal_error"), False


class FeedbackPageEntrypoint(HttpEntrypoint):
    """labornet's HTTP entrypoint answering browsers in HTML.

    ``html_only`` (the page): every answer and every error is a page, and so
    is anything under ``/f/`` that matches no route. Otherwise (the answer
    ``POST``): HTML for the page's form (:func:`wants_html`), the API's JSON
    and problem+json for everyone else. Never a bearer token: the link's
    token is the credential.
    """

    def __init__(
        self, method: str, url: str, html_only: bool = False, **kwargs: Any
    ) -> None:
        kwargs.setdefault("authenticate", False)
        self.html_only = html_only
        if html_only:
            self.error_prefix = "/f/"
        super().__init__(method, url, **kwargs)

    def _answers_html(self, request: Request | None) -> bool:
        return request is not None and (self.html_only or wants_html(request))

    def response_from_exception(  # type: ignore[override]
        self, exc: Exception, request: Request | None = None
    ) -> Response:
        """Errors as pages for browsers, as problem+json for the others."""
        if not self._answers_html(request):
            return super().response_from_exception(exc, request)
        problem, routing_error = _as_problem(exc, self.url)
        return refusal_page(problem, request, routing_error)


def page(method: str, url: str, **kwargs: Any) -> Any:
    """An entrypoint that answers in HTML only (``GET /f/<reference>``)."""
    return FeedbackPageEntrypoint.decorator(method, url, html_only=True, **kwargs)


def answer(method: str, url: str, **kwargs: Any) -> Any:
    """An API entrypoint that answers the page's form in HTML."""
    return FeedbackPageEntrypoint.decorator(method, url, **kwargs)


# --- the API description -----------------------------------------------------------


def html_responses(
    success: tuple[int, Any] | None,
    errors: Sequence[int],
    json_success: Any = None,
    problems: bool = False,
) -> dict[str, Any]:
    """OpenAPI ``responses`` where a browser gets HTML: ``success`` is the
    status and description of the page; ``json_success`` the JSON schema an
    API client gets instead, and ``problems`` whether its errors are
    problem+json too."""
    from labornet_shared.openapi import PROBLEM_HEADERS

    page: dict[str, Any] = {"text/html": {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {}
    if success is not None:
        status, description = success
        content = dict(page)
        if json_success is not None:
            content = {"application/json": {"schema": json_success}, **page}
        responses[str(status)] = {"description": description, "content": content}
    for status in errors:
        content = dict(page)
        if problems:
            content = {"application/problem+json": {"schema": "Problem"}, **page}
        responses[str(status)] = {
            "description": "a page saying why"
            if not problems
            else "problem (a page for the browser's form)",
            "content": content,
            **(
                {"headers": dict(PROBLEM_HEADERS[status])}
                if status in PROBLEM_HEADERS
                else {}
            ),
        }
    return responses
