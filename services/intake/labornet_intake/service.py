"""intake's nameko service: entrypoints only — parse, call the domain, answer."""

from __future__ import annotations

import logging
import re
from contextlib import nullcontext
from typing import Any

from werkzeug.wrappers import Request

from labornet_intake import (
    agent_page,
    citizen_pages,
    domain,
    feedback_page,
    follow_page,
    open311,
)
from labornet_intake.dependencies import (
    Settings,
    TrackingCodeGuesses,
    intake_database,
    intake_relay,
)
from labornet_intake.open311 import Open311Error, open311_api
from labornet_intake.schemas import (
    AgentPageQuerySchema,
    CaseCreatedSchema,
    CaseCreateSchema,
    CaseLinkSummarySchema,
    CaseListQuerySchema,
    CaseListSchema,
    CaseSchema,
    CaseStatusSchema,
    CaseSummarySchema,
    CitizenContactOutSchema,
    FeedbackFormSchema,
    FeedbackGivenSchema,
    FeedbackPageQuerySchema,
    FeedbackSchema,
    FollowFormSchema,
    NotificationContactSchema,
    PageQuerySchema,
    WithdrawSchema,
)

# the mixin by its module: nameko run serves every class in this module
from labornet_shared import web
from labornet_shared.consumer import event_handler
from labornet_shared.events import Event
from labornet_shared.http import api, load, read_json
from labornet_shared.logs import correlation_id_var
from labornet_shared.openapi import Operation
from labornet_shared.pagination import encode_cursor
from labornet_shared.problems import FieldError, Problem
from labornet_shared.rpc import rpc
from labornet_shared.tokens import ExpiredToken, InvalidToken
from labornet_shared.web import cursor_position, principal_of, require_scope

TRACKING_HEADER = "X-Tracking-Code"


# One instance of each schema: building one deep-copies its fields, which
# costs more than validating a case.
CASE_STATUS = CaseStatusSchema()
CASE = CaseSchema()
CASE_LINK_SUMMARY = CaseLinkSummarySchema()
CASE_CREATED = CaseCreatedSchema()
CASE_CREATE = CaseCreateSchema()
CASE_LIST_QUERY = CaseListQuerySchema()
CASE_SUMMARY = CaseSummarySchema()
CITIZEN_CONTACT = CitizenContactOutSchema()
WITHDRAW = WithdrawSchema()
FEEDBACK = FeedbackSchema()
FEEDBACK_FORM = FeedbackFormSchema()
FEEDBACK_GIVEN = FeedbackGivenSchema()
NOTIFICATION_CONTACT = NotificationContactSchema()

log = logging.getLogger("labornet.intake")


def _status_data(case: Any) -> dict[str, Any]:
    """What every view of a case starts from: status, offices, timeline."""
    return {
        "reference": case.reference,
        "status": case.status,
        "category": case.category,
        "created_at": domain.aware(case.created_at),
        "updated_at": domain.aware(case.updated_at),
        "timeline": [
            {
                "status": entry.status,
                "note": entry.note,
                "agency": entry.agency,
                "office": entry.office,
                "outcome": entry.outcome,
                "escalated_to": entry.escalated_to,
                "occurred_at": domain.aware(entry.occurred_at),
            }
            for entry in case.timeline
        ],
        "referrals": [
            {
                "agency": referral.agency,
                "agency_name": domain.agency_name(referral.agency),
                "office": referral.office,
                "status": referral.status,
                "since": domain.aware(referral.since),
                "note": referral.last_note,
                "outcome": referral.outcome,
                "expected_by": domain.aware(referral.due_resolve_at),
            }
            for referral in case.referrals
        ],
    }


def _case_view(case: Any, whole: bool) -> dict[str, Any]:
    data = _status_data(case)
    if not whole:
        return dict(CASE_STATUS.dump(data))
    contact = case.contact
    data.update(
        description=case.description,
        channel=case.channel,
        language=case.language,
        location={
            **domain.case_location(case),
            "coordinates_source": case.coordinates_source,
            "address": case.address,
        },
        abroad_country=case.abroad_country,
        submitted_by_agent_id=case.submitted_by_agent_id,
        personal_data_erased_at=domain.aware(case.personal_data_erased_at),
        citizen=None
        if contact is None
        else {
            "name": contact.name,
            "phone": contact.phone,
            "email": contact.email,
            "national_id": contact.national_id,
            "line_user_id": contact.line_user_id,
            "contact_channel": contact.contact_channel,
            "consent_purpose": contact.consent_purpose,
            "consent_given_at": domain.aware(contact.consent_given_at),
            "agencies_may_contact": contact.agencies_may_contact,
        },
    )
    return dict(CASE.dump(data))


def _case_link_view(case: Any) -> dict[str, Any]:
    """The anonymous summary an agent's case link shows
    (:class:`CaseLinkSummarySchema`); ``case`` is loaded without its
    personal data (:func:`domain.case_for_agent_link`)."""
    data = _status_data(case)
    data["location"] = domain.case_location(case)
    return dict(CASE_LINK_SUMMARY.dump(data))


def _contact_view(case: Any) -> dict[str, Any]:
    contact = case.contact
    return dict(
        CITIZEN_CONTACT.dump(
            {
                "name": contact.name,
                "phone": contact.phone,
                "email": contact.email,
                "line_user_id": contact.line_user_id,
                "language": case.language,
                "contact_channel": contact.contact_channel,
            }
        )
    )


FORM = citizen_pages.FORM
# a web form's text values as the feedback schema's types
_FORM_NUMBER = re.compile(r"[0-9]{1,3}")
_FORM_BOOLEANS = {
    "true": True,
    "yes": True,
    "1": True,
    "on": True,
    "false": False,
    "no": False,
    "0": False,
    "off": False,
}
# the token's realm: the credential is the body's token, not a header
FEEDBACK_CHALLENGE = {"WWW-Authenticate": 'Token realm="feedback"'}


def _feedback_body(request: Request) -> Any:
    """The answer as JSON, or as the fields of a web form (each once)."""
    if (request.mimetype or "") != FORM:
        return read_json(request)
    # remembered as typed, for a browser's page: its language, the form again
    form: dict[str, Any] = citizen_pages.read_form(request)
    rating = form.get("rating")
    if isinstance(rating, str) and _FORM_NUMBER.fullmatch(rating.strip()):
        form["rating"] = int(rating)
    solved = form.get("solved")
    if isinstance(solved, str) and solved.strip().lower() in _FORM_BOOLEANS:
        form["solved"] = _FORM_BOOLEANS[solved.strip().lower()]
    return form


def _feedback_refusal(exc: Exception) -> Problem:
    """Why a feedback link cannot be answered (domain.give_feedback's and
    domain.open_feedback_link's refusals), as the API says it."""
    if isinstance(exc, ExpiredToken):
        return Problem(401, "token_expired", headers=FEEDBACK_CHALLENGE)
    if isinstance(exc, InvalidToken):
        return Problem(401, "invalid_token", headers=FEEDBACK_CHALLENGE)
    if isinstance(exc, domain.CaseNotFound):
        return Problem(404, "not_found")
    if isinstance(exc, domain.CaseNotClosed):
        return Problem(409, "case_not_closed")
    return Problem(409, "feedback_already_given")


FEEDBACK_REFUSALS = (
    InvalidToken,
    domain.CaseNotFound,
    domain.CaseNotClosed,
    domain.FeedbackAlreadyGiven,
)


def _created(reference: str, code: str) -> dict[str, Any]:
    return dict(
        CASE_CREATED.dump(
            {
                "reference": reference,
                "tracking_code": code,
                "status": "received",
                "links": {
                    "self": f"/v1/cases/{reference}",
                    "withdraw": f"/v1/cases/{reference}/withdraw",
                },
            }
        )
    )


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
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
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


def _is_case_id(value: Any) -> bool:
    """Our cursors name a case's row id: a positive 64-bit integer."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


class InvalidRpcArgument(ValueError):
    """An RPC called with arguments of the wrong kind (the caller's fault)."""


def _consumer(method: str) -> str:
    """The name a handler's applied events are recorded under."""
    return f"{IntakeService.name}.{method}"


class IntakeService(web.Probes):
    """Cases in: store, announce (outbox), let the citizen follow them as
    routing's events say where they are."""

    name = "intake"
    openapi_title = "labornet intake"
    operations = OPERATIONS

    db = intake_database()
    relay = intake_relay()
    settings = Settings()
    guesses = TrackingCodeGuesses()

    @api("POST", "/v1/cases")
    def submit_case(self, request: Request) -> Any:
        """Take a case in; the same Idempotency-Key gives the same case."""
        body = read_json(request)
        data = load(CASE_CREATE, body)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 1 <= len(key) <= 200:
            raise Problem(
                400, "validation_failed", [FieldError("Idempotency-Key", "length")]
            )
        if key is not None and "\x00" in key:
            # PostgreSQL text cannot hold NUL: storing the key would be a 500
            raise Problem(
                400, "validation_failed", [FieldError("Idempotency-Key", "invalid")]
            )
        try:
            accepted = domain.take_case_in(
                self.db.session,
                data,
                principal=principal_of(request),
                pepper=self.settings.pepper,
                idempotency_key=key,
                fingerprint=domain.request_fingerprint(body),
            )
        except domain.CaseInvalid as exc:
            raise Problem(400, "validation_failed", exc.errors) from exc
        except domain.IdempotencyKeyReused as exc:
            raise Problem(422, "idempotency_key_reused") from exc
        except domain.IdempotencyKeyInProgress as exc:
            raise Problem(
                409, "idempotency_key_in_progress", headers={"Retry-After": "1"}
            ) from exc
        reference = accepted.reference
        if not accepted.replayed:
            correlation_id_var.set(reference)
            self.db.after_commit(
                lambda: log.info("case %s received (%s)", reference, accepted.channel)
            )
        return (
            201,
            {"Location": f"/v1/cases/{reference}"},
            _created(reference, accepted.tracking_code),
        )

    @api("GET", "/v1/cases/<reference>")
    def get_case(self, request: Request, reference: str) -> Any:
        """Status and timeline by tracking code; the whole case by token."""
        principal = principal_of(request)
        session = self.db.session
        try:
            if principal is not None:
                case = domain.case_for_principal(session, reference, principal)
                return 200, _case_view(case, whole=True)
            with self.guesses.guarding(request, reference, domain.CaseNotFound):
                case = domain.case_for_citizen(
                    session,
                    reference,
                    request.headers.get(TRACKING_HEADER),
                    self.settings.pepper,
                )
        except domain.CaseNotFound as exc:
            raise Problem(404, "not_found") from exc
        return 200, _case_view(case, whole=False)

    @api("GET", "/v1/cases")
    def list_cases(self, request: Request) -> Any:
        """A page of cases (operator: all; agent: their own)."""
        principal = require_scope(request, "operator", "agent")
        filters = load(CASE_LIST_QUERY, request.args.to_dict())
        after = cursor_position(filters.pop("cursor", None), _is_case_id)
        if after is not None:
            filters["after_id"] = after
        cases, next_id = domain.list_cases(self.db.session, filters, principal)
        summaries = [
            CASE_SUMMARY.dump(
                {
                    "reference": case.reference,
                    "status": case.status,
                    "category": case.category,
                    "channel": case.channel,
                    "province_code": case.province_code,
                    "district_code": case.district_code,
                    "submitted_by_agent_id": case.submitted_by_agent_id,
                    "created_at": domain.aware(case.created_at),
                }
            )
            for case in cases
        ]
        return 200, {
            "cases": summaries,
            "next_cursor": encode_cursor({"id": next_id}) if next_id else None,
        }

    @api("POST", "/v1/cases/<reference>/withdraw")
    def withdraw_case(self, request: Request, reference: str) -> Any:
        """Withdraw: the citizen by tracking code, or the agent, or an operator."""
        data = load(WITHDRAW, read_json(request)) if request.content_length else {}
        principal = principal_of(request)
        # a citizen's code is a guess like any other; a token is not
        guarded = (
            self.guesses.guarding(request, reference, domain.CaseNotFound)
            if principal is None
            else nullcontext()
        )
        try:
            with guarded:
                case = domain.withdraw_case(
                    self.db.session,
                    reference,
                    principal=principal,
                    code=request.headers.get(TRACKING_HEADER),
                    pepper=self.settings.pepper,
                    reason=data.get("reason"),
                )
        except domain.CaseNotFound as exc:
            raise Problem(404, "not_found") from exc
        except domain.CaseNotOpen as exc:
            raise Problem(409, "case_not_open") from exc
        return 200, _case_view(case, whole=False)

    @api("GET", "/v1/cases/<reference>/contact")
    def get_contact(self, request: Request, reference: str) -> Any:
        """The citizen's contact for the agency handling the case; audited."""
        principal = require_scope(request, "agency", "operator")
        try:
            case = domain.contact_for(self.db.session, reference, principal)
        except domain.CaseNotFound as exc:
            raise Problem(404, "not_found") from exc
        return 200, _contact_view(case)

    @api("DELETE", "/v1/cases/<reference>/personal-data")
    def erase_personal_data(self, request: Request, reference: str) -> Any:
        """PDPA erasure by an operator; audited."""
        principal = require_scope(request, "operator")
        try:
            domain.erase_personal_data(self.db.session, reference, principal)
        except domain.CaseNotFound as exc:
            raise Problem(404, "not_found") from exc
        return 204, ""

    @feedback_page.answer("POST", "/v1/cases/<reference>/feedback")
    def give_feedback(self, request: Request, reference: str) -> Any:
        """The citizen's rating of a closed case, once, by the link's token;
        the feedback page's form gets a page back."""
        body = _feedback_body(request)
        data = load(FEEDBACK_FORM if request.mimetype == FORM else FEEDBACK, body)
        data.pop("lang", None)  # how to answer, not part of the answer
        try:
            given = domain.give_feedback(
                self.db.session, reference, data, self.settings.token_secret
            )
        except FEEDBACK_REFUSALS as exc:
            raise _feedback_refusal(exc) from exc
        correlation_id_var.set(reference)
        self.db.after_commit(lambda: log.info("case %s: feedback given", reference))
        if citizen_pages.wants_html(request):
            return feedback_page.thanks_page(request, reference)
        return 201, dict(FEEDBACK_GIVEN.dump(given))

    @feedback_page.page("GET", "/f/<reference>")
    def feedback_form(self, request: Request, reference: str) -> Any:
        """The page the closing message links to: the form while the link
        may be answered, else a page saying why (401, 404, 409)."""
        token = request.args.get("t", "")
        try:
            claim = domain.open_feedback_link(
                self.db.session, reference, token, self.settings.token_secret
            )
        except FEEDBACK_REFUSALS as exc:
            raise _feedback_refusal(exc) from exc
        return feedback_page.form_page(
            claim.reference,
            token,
            citizen_pages.language_of(request),
            switch_token=token,
        )

    @follow_page.page("GET", "/t/<reference>")
    def follow_form(self, request: Request, reference: str) -> Any:
        """The page the messages' follow link opens: the form asking the
        case's tracking code (whatever the case: it is not looked up)."""
        return follow_page.form_page(
            follow_page.checked_reference(reference),
            citizen_pages.language_of(request),
        )

    @follow_page.page("POST", "/t/<reference>")
    def follow_case(self, request: Request, reference: str) -> Any:
        """The follow page's form: the case's status page for the right
        tracking code; the same 404 for a wrong code and an unknown case."""
        code = follow_page.read_code(request)
        try:
            with self.guesses.guarding(request, reference, domain.CaseNotFound):
                case = domain.case_for_citizen(
                    self.db.session, reference, code, self.settings.pepper
                )
        except domain.CaseNotFound as exc:
            raise Problem(404, "not_found") from exc
        return follow_page.status_page(
            _case_view(case, whole=False), citizen_pages.language_of(request)
        )

    @agent_page.page("GET", "/a/<reference>")
    def agent_case(self, request: Request, reference: str) -> Any:
        """The page a field agent's case link opens: the case's anonymous
        summary, for any agent the link was minted for (nothing personal
        read, nothing audited); 401 for an expired or forged link, 404 for
        a link to another case or an unknown case."""
        token = request.args.get("t", "")
        try:
            case = domain.case_for_agent_link(
                self.db.session, reference, token, self.settings.token_secret
            )
        except InvalidToken as exc:
            raise agent_page.refused_link(exc) from exc
        except domain.CaseNotFound as exc:
            raise Problem(404, "not_found") from exc
        return agent_page.case_page(
            _case_link_view(case), citizen_pages.language_of(request), token=token
        )

    # --- notify asks over RPC ------------------------------------------------

    @rpc(expected_exceptions=InvalidRpcArgument)
    def contact_for_notification(self, reference: str, purpose: str) -> Any:
        """How notify reaches the citizen of ``reference`` now, for
        ``purpose`` (``"case_received sms"``): a :class:`NotificationContactSchema`
        document, or None for an unknown case. Audited whenever it carries
        personal data; committed before the answer leaves."""
        if not isinstance(reference, str) or not isinstance(purpose, str):
            raise InvalidRpcArgument("reference and purpose are text")
        purpose = purpose.strip()
        if not 1 <= len(purpose) <= 200:
            raise InvalidRpcArgument("purpose must be 1 to 200 characters")
        answer = domain.contact_for_notification(
            self.db.session, reference, purpose, self.settings.pepper
        )
        return None if answer is None else dict(NOTIFICATION_CONTACT.dump(answer))

    # --- Open311 GeoReport v2 (open311.py: its vocabulary and formats) -------

    @open311_api("GET", "/open311/v2/discovery.<fmt>")
    def open311_discovery(self, request: Request, fmt: str) -> Any:
        """Service Discovery: this endpoint, its formats, how to get a key."""
        open311.check_format(fmt)
        base = self.settings.open311_base_url or (
            request.host_url.rstrip("/") + "/open311/v2"
        )
        view = open311.discovery_view(
            base, self.settings.open311_endpoint_type, open311.locale_of(request)
        )
        return open311.respond(fmt, "discovery", view)

    @open311_api("GET", "/open311/v2/services.<fmt>")
    def open311_services(self, request: Request, fmt: str) -> Any:
        """The case categories as services, grouped by agency."""
        open311.check_format(fmt)
        open311.check_jurisdiction(request.args, self.settings.open311_jurisdiction)
        locale = open311.locale_of(request)
        services = [
            open311.service_view(service, locale)
            for service in open311.catalogue().services.values()
        ]
        return open311.respond(fmt, "services", services)

    @open311_api("GET", "/open311/v2/services/<service_code>.<fmt>")
    def open311_service_definition(
        self, request: Request, service_code: str, fmt: str
    ) -> Any:
        """A service's attributes, the consent among them."""
        open311.check_format(fmt)
        open311.check_jurisdiction(request.args, self.settings.open311_jurisdiction)
        service = open311.service_of(service_code)
        view = open311.definition_view(service, open311.locale_of(request))
        return open311.respond(fmt, "service_definition", view)

    @open311_api("POST", "/open311/v2/requests.<fmt>")
    def open311_file_request(self, request: Request, fmt: str) -> Any:
        """File a case (api_key required); the answer names it at once."""
        open311.check_format(fmt)
        params = open311.form_of(request)
        principal = principal_of(request)
        if principal is None:
            raise Open311Error(403, ("api_key_missing", "api_key"))
        open311.check_jurisdiction(params, self.settings.open311_jurisdiction)
        service = open311.service_of(open311.single(params, "service_code"))
        locale = open311.locale_of(request)
        filing = open311.read_filing(params, service, locale, domain.utc_now())
        try:
            data = load(CASE_CREATE, filing.case)
        except Problem as exc:
            raise open311.from_field_errors(exc.errors, filing.place_param) from exc
        key = request.headers.get("Idempotency-Key")
        if key is not None and (not 1 <= len(key) <= 200 or "\x00" in key):
            raise open311.invalid(("invalid", "Idempotency-Key"))
        try:
            accepted = domain.file_open311_request(
                self.db.session,
                data,
                principal=principal,
                pepper=self.settings.pepper,
                media_url=filing.media_url,
                idempotency_key=key,
                fingerprint=open311.filing_fingerprint(params),
            )
        except domain.CaseInvalid as exc:
            raise open311.from_field_errors(exc.errors, filing.place_param) from exc
        except domain.IdempotencyKeyReused as exc:
            raise open311.invalid(
                ("idempotency_key_reused", "Idempotency-Key")
            ) from exc
        except domain.IdempotencyKeyInProgress as exc:
            raise Open311Error(
                400,
                ("idempotency_key_in_progress", "Idempotency-Key"),
                headers={"Retry-After": "1"},
            ) from exc
        reference = accepted.reference
        if not accepted.replayed:
            correlation_id_var.set(reference)
            self.db.after_commit(
                lambda: log.info("case %s received (open311)", reference)
            )
        view = open311.created_view(reference, accepted.tracking_code, locale)
        location = {"Location": f"/open311/v2/requests/{reference}.{fmt}"}
        return open311.respond(fmt, "service_requests", view, 201, location)

    @open311_api("GET", "/open311/v2/requests.<fmt>")
    def open311_requests(self, request: Request, fmt: str) -> Any:
        """Requests filed through Open311, newest first: public fields only."""
        open311.check_format(fmt)
        params = request.args
        open311.check_jurisdiction(params, self.settings.open311_jurisdiction)
        query = open311.request_query(params, domain.utc_now())
        cases = domain.open311_requests(
            self.db.session,
            references=query.references,
            service_codes=query.service_codes,
            statuses=query.statuses,
            since=query.since,
            until=query.until,
            limit=open311.MAX_RESULTS,
        )
        locale = open311.locale_of(request)
        # a list never shows what the citizen wrote, not even to its filer
        views = [open311.request_view(case, None, locale) for case in cases]
        return open311.respond(fmt, "service_requests", views)

    @open311_api("GET", "/open311/v2/requests/<service_request_id>.<fmt>")
    def open311_request(
        self, request: Request, service_request_id: str, fmt: str
    ) -> Any:
        """One request; its filer's api_key also sees the citizen's words."""
        open311.check_format(fmt)
        open311.check_jurisdiction(request.args, self.settings.open311_jurisdiction)
        try:
            case = domain.open311_request(self.db.session, service_request_id)
        except domain.CaseNotFound as exc:
            raise Open311Error(
                404, ("request_not_found", "service_request_id")
            ) from exc
        viewer = principal_of(request)
        if viewer is not None and open311.is_filer(case, viewer):
            domain.audit(
                self.db.session, viewer, "read_open311_request", case.reference
            )
        view = open311.request_view(case, viewer, open311.locale_of(request))
        return open311.respond(fmt, "service_requests", [view])

    @open311_api("GET", "/open311/v2/tokens/<token>.<fmt>")
    def open311_token(self, request: Request, token: str, fmt: str) -> Any:
        """A request's id from its token (a request's token is its id)."""
        open311.check_format(fmt)
        open311.check_jurisdiction(request.args, self.settings.open311_jurisdiction)
        try:
            case = domain.open311_request(self.db.session, token)
        except domain.CaseNotFound as exc:
            raise Open311Error(404, ("token_not_found", "token")) from exc
        return open311.respond(
            fmt, "service_requests", open311.token_view(case.reference)
        )

    # routing's events keep the timeline; one queue and handler per type

    @event_handler("routing", "case_routed", accept_versions={1})
    def on_case_routed(self, event: Event) -> None:
        """The case was screened and referred to one or more offices."""
        self._apply("on_case_routed", event)

    @event_handler("routing", "referral_status_changed", accept_versions={1})
    def on_referral_status_changed(self, event: Event) -> None:
        """An office accepted, rejected, progressed or resolved a referral."""
        self._apply("on_referral_status_changed", event)

    @event_handler("routing", "referral_overdue", accept_versions={1})
    def on_referral_overdue(self, event: Event) -> None:
        """A referral ran out of time and was escalated."""
        self._apply("on_referral_overdue", event)

    @event_handler("routing", "case_closed", accept_versions={1})
    def on_case_closed(self, event: Event) -> None:
        """Every referral of the case is resolved or withdrawn."""
        self._apply("on_case_closed", event)

    def _apply(self, method: str, event: Event) -> None:
        applied = domain.apply_routing_event(self.db.session, _consumer(method), event)
        if applied:
            reference, event_type = event.correlation_id, event.event_type
            self.db.after_commit(
                lambda: log.info("case %s: %s applied", reference, event_type)
            )
