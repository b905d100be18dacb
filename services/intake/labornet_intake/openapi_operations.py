"""intake's API as its OpenAPI document describes it (``/openapi.json``):
one :class:`~labornet_shared.openapi.Operation` per route of
:class:`~labornet_intake.service.IntakeService`, with its schemas, headers,
errors and the HTML pages' answers. Open311's routes are documented by the
spec, not here."""

from __future__ import annotations

from labornet_intake.pages import citizen_pages
from labornet_intake.schemas import (
    IDEMPOTENCY_KEY_MAX,
    AgentPageQuerySchema,
    CaseCreatedSchema,
    CaseCreateSchema,
    CaseListQuerySchema,
    CaseListSchema,
    CaseSchema,
    CaseStatusSchema,
    CitizenContactOutSchema,
    FeedbackFormSchema,
    FeedbackGivenSchema,
    FeedbackPageQuerySchema,
    FeedbackSchema,
    FollowFormSchema,
    PageQuerySchema,
    WithdrawSchema,
)
from labornet_shared.openapi import Operation

#: the header a citizen follows (or withdraws) their case with
TRACKING_HEADER = "X-Tracking-Code"
#: a web form's media type (the feedback and follow pages post one)
FORM = citizen_pages.FORM

REFERENCE = {"type": "string", "pattern": "^LN-[0-9]{4}-[0-9]{8}$"}

OPERATIONS = [
    Operation(
        "POST",
        "/v1/cases",
        "Submit a case",
        request=CaseCreateSchema,
        response=CaseCreatedSchema,
        status=201,
        response_headers={
            "Location": {"required": True, "schema": {"type": "string"}},
        },
        errors=(400, 401, 409, 413, 415, 422, 429),
        headers=(
            {
                "name": "Idempotency-Key",
                "description": "The same key gives the same case, never a second.",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": IDEMPOTENCY_KEY_MAX,
                },
            },
        ),
        security=("bearer",),
        anonymous=True,
    ),
    Operation(
        "GET",
        "/v1/cases/{reference}",
        "Follow a case (X-Tracking-Code) or read it whole (agent, operator)",
        response=(CaseSchema, CaseStatusSchema),
        errors=(401, 404, 429),
        headers=(TRACKING_HEADER,),
        path_schemas={"reference": REFERENCE},
        security=("bearer",),
        anonymous=True,
    ),
    Operation(
        "GET",
        "/v1/cases/{reference}/contact",
        "How to reach the citizen: for an agency while one of its offices holds "
        "an open referral of the case and the citizen consented to contact by "
        "the agencies, and for operators; never after erasure. Every read is "
        "audited; any other token gets 404",
        response=CitizenContactOutSchema,
        errors=(401, 404, 429),
        path_schemas={"reference": REFERENCE},
        security=("bearer",),
    ),
    Operation(
        "GET",
        "/v1/cases",
        "List cases (operator, agent)",
        response=CaseListSchema,
        query=CaseListQuerySchema,
        errors=(400, 401, 404, 429),
        security=("bearer",),
    ),
    Operation(
        "POST",
        "/v1/cases/{reference}/withdraw",
        "Withdraw a case",
        request=WithdrawSchema,
        request_required=False,
        response=CaseStatusSchema,
        errors=(400, 401, 404, 409, 413, 415, 429),
        headers=(TRACKING_HEADER,),
        path_schemas={"reference": REFERENCE},
        security=("bearer",),
        anonymous=True,
    ),
    Operation(
        "POST",
        "/v1/cases/{reference}/feedback",
        "The citizen rates a closed case (1-5) and says whether the problem was "
        "solved, through the link notify sent: its token is single-use, "
        "valid 30 days and names the case. A forged or expired token is 401, "
        "another case's 404; a case not closed, or answered before, 409. "
        "JSON, or a web form (application/x-www-form-urlencoded, with the "
        "page's lang): the feedback page's form, sent by a browser that "
        "prefers text/html, is answered with a page",
        request=FeedbackSchema,
        response=FeedbackGivenSchema,
        status=201,
        errors=(400, 401, 404, 409, 413, 415, 429),
        path_schemas={"reference": REFERENCE},
        extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": FeedbackSchema},
                    FORM: {"schema": FeedbackFormSchema},
                },
            },
            "responses": citizen_pages.html_responses(
                (201, "stored (a thank-you page for the browser's form)"),
                (400, 401, 404, 409, 413, 415, 429),
                json_success=FeedbackGivenSchema,
                problems=True,
            ),
        },
    ),
    Operation(
        "GET",
        "/f/{reference}",
        "The page the link in notify's closing message opens (HTML, for a "
        "phone's browser): the form to rate the case 1-5 and say whether the "
        "problem was solved, posting to /v1/cases/{reference}/feedback. In "
        "Thai, English or Myanmar (lang, else Accept-Language, else Thai). "
        "An expired or forged link is a page with 401, another or an unknown "
        "case 404, a case not closed or answered before 409",
        query=FeedbackPageQuerySchema,
        errors=(),
        extra={
            "responses": citizen_pages.html_responses(
                (200, "the form"), (401, 404, 409, 429)
            )
        },
    ),
    Operation(
        "GET",
        "/t/{reference}",
        "The page the follow link in notify's messages opens (HTML, for a "
        "phone's browser): a form asking the case's tracking code, posting "
        "to /t/{reference}. The link never carries the code. In Thai, "
        "English or Myanmar (lang, else Accept-Language, else Thai)",
        query=PageQuerySchema,
        errors=(),
        path_schemas={"reference": REFERENCE},
        extra={
            "responses": citizen_pages.html_responses((200, "the form"), (404, 429))
        },
    ),
    Operation(
        "POST",
        "/t/{reference}",
        "The follow page's form: with the right tracking code, a page with "
        "what GET /v1/cases/{reference} shows its holder (the case's status, "
        "the offices handling it, its timeline in Bangkok time), never "
        "personal data. A wrong code and an unknown case get the same 404 "
        "page (the form again); a code that cannot be one is 400. Rate "
        "limited as anonymous API calls are",
        errors=(),
        path_schemas={"reference": REFERENCE},
        extra={
            "requestBody": {
                "required": True,
                "content": {FORM: {"schema": FollowFormSchema}},
            },
            "responses": citizen_pages.html_responses(
                (200, "the case's status"), (400, 404, 413, 415, 429)
            ),
        },
    ),
    Operation(
        "GET",
        "/a/{reference}",
        "The page a field agent's case link in notify's messages opens (HTML, "
        "for a phone's browser, no login): the link's token names the agent "
        "notify sent it to and the case, for 14 days. It shows any such agent "
        "an anonymous summary in words: status, category, place, when the "
        "case was received, the offices handling it (status, due date) and "
        "the timeline without notes; never the citizen's personal data or the "
        "description (those are in the app), so the read is not audited. An "
        "expired or forged link is a page with 401 (checked first), a link to "
        "another case or an unknown case 404. In Thai, English or Myanmar "
        "(lang, else Accept-Language, else Thai)",
        query=AgentPageQuerySchema,
        errors=(),
        path_schemas={"reference": REFERENCE},
        extra={
            "responses": citizen_pages.html_responses(
                (200, "the case's summary"), (401, 404, 429)
            )
        },
    ),
    Operation(
        "DELETE",
        "/v1/cases/{reference}/personal-data",
        "Erase the citizen's personal data (PDPA; operator)",
        status=204,
        errors=(401, 404, 429),
        path_schemas={"reference": REFERENCE},
        security=("bearer",),
    ),
]
