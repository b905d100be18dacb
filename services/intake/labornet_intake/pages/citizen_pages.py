"""What the pages opened from notify's links share: the citizen's feedback
page (``/f/``, :mod:`labornet_intake.pages.feedback_page`) and page that follows a
case (``/t/``, :mod:`labornet_intake.pages.follow_page`), and the case summary a
field agent's link opens (``/a/``, :mod:`labornet_intake.pages.agent_page`).

HTML only, small and without script or external assets: Jinja2 templates
(package data, autoescaped) in one layout, and words read from
``data/citizen_pages.yml`` (the layout's and the common pages') merged with
each page's own file, in Thai unless ``lang`` or ``Accept-Language`` asks for
English or Myanmar. Every page carries :data:`PAGE_HEADERS`. Their
entrypoints (:class:`CitizenPageEntrypoint`) answer every error, and every
path under their prefix that matches no route, with a page too; the API
description's entries for them come from :func:`html_responses`.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, urlencode

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from labornet_intake.schemas import PAGE_LANGUAGES
from labornet_shared.http import HttpEntrypoint, http_exception_problem, read_body
from labornet_shared.problems import FieldError, Problem, invalid

log = logging.getLogger("labornet.http")

FORM = "application/x-www-form-urlencoded"
HTML = "text/html; charset=utf-8"
DEFAULT_LANGUAGE = "th"
#: the words every page shares (the layout's, the common pages')
COMMON = "citizen_pages"

#: on every page: nothing but inline style may load, a form may post only
#: to this host, nothing leaves in a Referer or a cache (a link's token, a
#: case's status), no other site may frame the page
PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

REFERENCE = re.compile(r"LN-[0-9]{4}-[0-9]{8}")
#: the most fields a page's form may send (its own are a handful)
MAX_FORM_FIELDS = 20


# --- words and templates ---------------------------------------------------------


def _shape(node: Any) -> Any:
    """The keys of a nested mapping (lists by length), to compare languages."""
    if isinstance(node, dict):
        return {key: _shape(value) for key, value in node.items()}
    if isinstance(node, list):
        return len(node)
    return None


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra``'s keys added, mappings merged key by key."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = _merged(merged[key], value)
        merged[key] = value
    return merged


def _document(name: str) -> dict[str, Any]:
    text = files("labornet_intake").joinpath("data", f"{name}.yml")
    document = yaml.safe_load(text.read_text(encoding="utf-8"))
    if set(document) != set(PAGE_LANGUAGES):
        raise ValueError(f"{name}.yml must have exactly th, en and my")
    return dict(document)


@cache
def phrases(document: str) -> dict[str, dict[str, Any]]:
    """A page's words per language (``data/<document>.yml`` over the common
    ones), read once; every language must have the same keys as Thai."""
    common, own = _document(COMMON), _document(document)
    words = {code: _merged(common[code], own[code]) for code in PAGE_LANGUAGES}
    for language in PAGE_LANGUAGES:
        if _shape(words[language]) != _shape(words[DEFAULT_LANGUAGE]):
            raise ValueError(f"{document}.yml: {language} lacks or adds words")
    return words


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


def language_links(
    document: str, language: str, query: Mapping[str, str] | None
) -> list[tuple[str, str, str]]:
    """(code, name, href) of the page in the other languages: this page's
    ``query`` with another ``lang``; none without a query to keep."""
    if query is None:
        return []
    words = phrases(document)
    return [
        (code, words[code]["name"], "?" + urlencode({**query, "lang": code}))
        for code in PAGE_LANGUAGES
        if code != language
    ]


def render(template: str, document: str, language: str, **context: Any) -> str:
    """``template`` in ``language`` with ``document``'s words as ``t``."""
    context.setdefault("switch", [])
    return (
        environment()
        .get_template(template)
        .render(lang=language, t=phrases(document)[language], **context)
    )


def html_response(
    status: int, body: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An HTML page with :data:`PAGE_HEADERS`."""
    return Response(
        body,
        status=status,
        headers={**PAGE_HEADERS, "Vary": "Accept-Language", **dict(headers or {})},
        content_type=HTML,
    )


def form_page(
    template: str,
    document: str,
    language: str,
    status: int,
    *,
    reference: str,
    problem: str | None = None,
    errors: Sequence[str] = (),
    switch: Sequence[tuple[str, str, str]] = (),
    **fields: Any,
) -> Response:
    """A page with case ``reference``'s form (``template`` extends
    ``page_form.html``): with ``problem`` (one of the words' ``pages``)
    and ``errors``, again with what to correct; ``fields`` fill the form."""
    words = phrases(document)[language]
    body = render(
        template,
        document,
        language,
        heading=words["form"]["title"],
        reference=reference,
        problem=None if problem is None else words["pages"][problem]["title"],
        errors=list(errors),
        switch=list(switch),
        **fields,
    )
    return html_response(status, body)


def message_page(
    document: str,
    page: str,
    language: str,
    status: int,
    *,
    reference: str | None = None,
    errors: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    switch: Sequence[tuple[str, str, str]] = (),
) -> Response:
    """One of the words' ``pages``: a heading and a line (and what to
    correct), naming the case ``reference`` when given."""
    words = phrases(document)[language]["pages"][page]
    body = render(
        "page_message.html",
        document,
        language,
        heading=words["title"],
        text=words["text"],
        reference=reference,
        errors=list(errors),
        switch=list(switch),
    )
    return html_response(status, body, headers)


def field_messages(
    document: str, errors: Sequence[FieldError], language: str
) -> list[str]:
    """What to correct, in plain words, one line per field: the words'
    ``fields`` line for the field and error (``comment_length``), else for
    the field, else ``other`` naming it."""
    words = phrases(document)[language]["fields"]
    lines: list[str] = []
    for error in errors:
        line = words.get(f"{error.field}_{error.code}") or (
            words.get(error.field) if error.field != "other" else None
        )
        if line is None:
            line = words["other"].format(field=error.field)
        if line not in lines:
            lines.append(line)
    return lines


# --- who gets HTML, in which language; the form a browser sent -----------------------


def wants_html(request: Request) -> bool:
    """A browser sending a page's form: a web form, and ``Accept`` ranks
    HTML above JSON (``text/html,...,*/*;q=0.8``). A client that accepts
    anything (``*/*``), or sends no ``Accept``, gets JSON as before."""
    if (request.mimetype or "") != FORM:
        return False
    accept = request.accept_mimetypes
    return bool(accept["text/html"] > accept["application/json"])


def remember_form(request: Request, form: Mapping[str, Any]) -> None:
    """Keep the form a browser sent, to show it again with what to correct
    and to answer in its page's language."""
    request.citizen_form = dict(form)  # type: ignore[attr-defined]


def form_of(request: Request | None) -> dict[str, Any]:
    """The form :func:`read_form` read (empty before, or for another body)."""
    return dict(getattr(request, "citizen_form", None) or {})


def read_form(request: Request) -> dict[str, str]:
    """A web form's fields (UTF-8, each once), remembered for the page that
    answers it; 415 for another body, 400 for a form that is not one."""
    if (request.mimetype or "") != FORM:
        raise Problem(415, "unsupported_media_type")
    try:
        pairs = parse_qsl(
            read_body(request).decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        # not UTF-8, or more fields than a form has
        raise invalid(FieldError("body", "invalid")) from exc
    names = [name for name, _ in pairs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise invalid(*(FieldError(name or "body", "repeated") for name in repeated))
    form = dict(pairs)
    remember_form(request, form)
    return form


def language_of(request: Request | None) -> str:
    """``lang`` (the query, else the form's hidden field) when it is one of
    the pages' languages, else the best of ``Accept-Language``, else Thai."""
    if request is None:
        return DEFAULT_LANGUAGE
    for asked in (request.args.get("lang"), form_of(request).get("lang")):
        if isinstance(asked, str) and asked.strip().lower() in PAGE_LANGUAGES:
            return asked.strip().lower()
    best = request.accept_languages.best_match(PAGE_LANGUAGES, default=DEFAULT_LANGUAGE)
    return best or DEFAULT_LANGUAGE


def genuine_reference(request: Request | None) -> str | None:
    """The path's case reference, when it has the form of one."""
    values = getattr(request, "path_values", None) or {}
    reference = values.get("reference")
    if isinstance(reference, str) and REFERENCE.fullmatch(reference):
        return reference
    return None


# --- the entrypoint ----------------------------------------------------------------


def as_problem(exc: Exception, url: str) -> tuple[Problem, bool]:
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


class CitizenPageEntrypoint(HttpEntrypoint):
    """labornet's HTTP entrypoint answering browsers in HTML.

    ``html_only`` (a page): every answer and every error is a page, and so
    is anything under :attr:`prefix` that matches no route. Otherwise (an
    API endpoint a page's form posts to): HTML for that form
    (:func:`wants_html`), the API's JSON and problem+json for everyone else.
    Never a bearer token; anonymous callers' rate limit applies. A subclass
    names its :attr:`prefix` and how it refuses (:attr:`refusal`).
    """

    #: the path under which unmatched requests get this page's refusals
    prefix = "/"
    #: ``refusal(problem, request, routing_error)``: ``problem`` as a page
    #: with its status and headers
    refusal: Callable[[Problem, Request | None, bool], Response]

    def __init__(
        self, method: str, url: str, html_only: bool = False, **kwargs: Any
    ) -> None:
        kwargs.setdefault("authenticate", False)
        self.html_only = html_only
        if html_only:
            self.error_prefix = self.prefix
        super().__init__(method, url, **kwargs)

    def _answers_html(self, request: Request | None) -> bool:
        return request is not None and (self.html_only or wants_html(request))

    def response_from_exception(  # type: ignore[override]
        self, exc: Exception, request: Request | None = None
    ) -> Response:
        """Errors as pages for browsers, as problem+json for the others."""
        if not self._answers_html(request):
            return super().response_from_exception(exc, request)
        problem, routing_error = as_problem(exc, self.url)
        if (
            request is not None
            and request.method == "POST"
            and problem.status != 413
            and not form_of(request)
        ):
            # refused before the form was read (the rate limit): its hidden
            # lang still says in which language to answer
            with contextlib.suppress(Problem):
                read_form(request)
        return self.refusal(problem, request, routing_error)

    @classmethod
    def page(cls, method: str, url: str, **kwargs: Any) -> Any:
        """An entrypoint that answers in HTML only (a page)."""
        return cls.decorator(method, url, html_only=True, **kwargs)


def page_for(document: str, problem: Problem, routing_error: bool) -> str:
    """Which of ``document``'s ``pages`` explains ``problem``: the one named
    by its code (``not_found``, ``rate_limited``, ...), ``error`` for a
    failure, else ``not_available`` (a routing error: about no case)."""
    if problem.status >= 500:
        return "error"
    pages = phrases(document)[DEFAULT_LANGUAGE]["pages"]
    if routing_error or problem.code not in pages:
        return "not_available"
    return problem.code


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
