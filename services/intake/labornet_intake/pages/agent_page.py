"""The page a field agent's case link in notify's messages opens: the agent
taps it on a phone, without logging in.

``GET /a/{reference}?t=<token>[&lang=th|en|my]``: the token
(:func:`~labornet_shared.tokens.issue_case_link_token`, 14 days, not
single-use) names one agent and one case; notify mints one for each agent it
tells about the case (the one who submitted it, the agents of its area, one
following an overdue referral). It is checked first, so a forged link (401)
or an expired one (401, saying to open the case in the app or ask the
office) learns nothing about the case. Then the page shows the case to
whichever agent the link was minted for
(:func:`~labornet_intake.domain.case_for_agent_link`); a link to another
case, like an unknown one, is a 404 page.

The link is a credential for 14 days, sent by SMS or LINE and easily
forwarded, so the page is an anonymous summary
(:class:`~labornet_intake.schemas.CaseLinkSummarySchema`), in words: status,
category, place (subdistrict, district, province), when the case was
received, the offices handling it (status, due date) and the timeline —
the last two in the follow page's lines (:mod:`labornet_intake.pages.follow_page`),
without the offices' notes (a note may quote the citizen). Never the
citizen's name, phone, e-mail, national ID, address or consent, nor the
description: a line says they are in the labornet app, for the agents
allowed to see them. Nothing personal is read, so nothing is audited. What
all the pages share is :mod:`labornet_intake.pages.citizen_pages`; the words are
``data/agent_page.yml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geothai
from werkzeug.wrappers import Request, Response

from labornet_intake.pages import citizen_pages, follow_page
from labornet_shared.problems import Problem
from labornet_shared.reference.geography import province
from labornet_shared.tokens import ExpiredToken

DOCUMENT = "agent_page"
PREFIX = "/a/"
#: the token's realm on a 401: the credential is the link's ``t``
CHALLENGE = {"WWW-Authenticate": 'Token realm="case_link"'}

BANGKOK = "TH-10"


def phrases() -> dict[str, dict[str, Any]]:
    """The page's words per language (and the common ones)."""
    return citizen_pages.phrases(DOCUMENT)


def refused_link(exc: Exception) -> Problem:
    """An expired or forged link as the page refuses it (401)."""
    code = "token_expired" if isinstance(exc, ExpiredToken) else "invalid_token"
    return Problem(401, code, headers=CHALLENGE)


# --- the case in words ----------------------------------------------------------------


def place(location: Mapping[str, Any], language: str) -> str:
    """Subdistrict, district and province in the language: Thai names in
    Thai (``ต. อ. จ.``, Bangkok's ``แขวง`` and ``เขต``), the gazetteer's
    English names otherwise."""
    words = phrases()[language]
    thai = language == "th"
    code = location.get("province_code") or ""
    suffix = "_bangkok" if code == BANGKOK else ""
    areas: list[tuple[str, Any]] = []
    if location.get("subdistrict_code"):
        areas.append(("subdistrict", geothai.subdistrict(location["subdistrict_code"])))
    if location.get("district_code"):
        areas.append(("district", geothai.district(location["district_code"])))
    areas.append(("province", province(code)))
    parts = [
        words[key + suffix].format(name=area.name_th if thai else area.name_en)
        for key, area in areas
        if area is not None
    ]
    return (" " if thai else ", ").join(parts) or code


def _facts(case: Mapping[str, Any], language: str) -> list[tuple[str, str]]:
    """(label, text) of the category, the place and when it came in."""
    words, moments = phrases()[language], follow_page.phrases()[language]
    category = case.get("category") or "unscreened"
    return [
        (words["category"], words["categories"].get(category, category)),
        (words["place"], place(case.get("location") or {}, language)),
        (words["received"], follow_page.moment(case.get("created_at"), moments)),
    ]


def case_page(
    case: Mapping[str, Any], language: str, token: str | None = None
) -> Response:
    """The case's anonymous summary (``case``: a ``CaseLinkSummarySchema``
    document), in words, the offices' notes left out; ``token`` keeps the
    link in the other languages' links."""
    body = citizen_pages.render(
        "agent_case.html",
        DOCUMENT,
        language,
        **follow_page.progress(case, DOCUMENT, language, notes=False),
        facts=_facts(case, language),
        switch=citizen_pages.language_links(
            DOCUMENT, language, None if token is None else {"t": token}
        ),
    )
    return citizen_pages.html_response(200, body)


# --- refusals ------------------------------------------------------------------------


def refusal_page(
    problem: Problem, request: Request | None, routing_error: bool = False
) -> Response:
    """``problem`` as a page in the request's language, with its status and
    headers (``WWW-Authenticate``, ``Retry-After``, ``Allow``); never naming
    the case."""
    return citizen_pages.message_page(
        DOCUMENT,
        citizen_pages.page_for(DOCUMENT, problem, routing_error),
        citizen_pages.language_of(request),
        problem.status,
        headers=problem.headers,
    )


class AgentPageEntrypoint(citizen_pages.CitizenPageEntrypoint):
    """The agent's page: everything under ``/a/`` is a page; the link's
    token is the credential, never a bearer token."""

    prefix = PREFIX
    refusal = staticmethod(refusal_page)


#: an entrypoint of the agent's page (HTML only)
page = AgentPageEntrypoint.page
