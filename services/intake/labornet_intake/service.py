"""intake's nameko service: entrypoints only — parse, call the domain, answer.

What an answer looks like is in :mod:`.views`, the API's description in
:mod:`.openapi_operations`, the Open311 routes in
:mod:`.open311.endpoints` and the pages' in :mod:`.pages`.
"""

from __future__ import annotations

import logging
import re
from contextlib import nullcontext
from typing import Any

from werkzeug.wrappers import Request

from labornet_intake import domain, views
from labornet_intake.dependencies import (
    Settings,
    TrackingCodeGuesses,
    intake_database,
    intake_relay,
)

# the mixins by their modules: nameko run serves every class in this module
from labornet_intake.open311 import endpoints as open311_endpoints
from labornet_intake.openapi_operations import FORM, OPERATIONS, TRACKING_HEADER
from labornet_intake.pages import agent_page, citizen_pages, feedback_page, follow_page
from labornet_intake.schemas import (
    CaseCreateSchema,
    CaseListQuerySchema,
    FeedbackFormSchema,
    FeedbackGivenSchema,
    FeedbackSchema,
    WithdrawSchema,
    idempotency_key_error,
)
from labornet_shared import contact as contact_contract
from labornet_shared import web
from labornet_shared.consumer import event_handler
from labornet_shared.events import Event
from labornet_shared.http import api, load, read_json
from labornet_shared.logs import correlation_id_var
from labornet_shared.pagination import encode_cursor
from labornet_shared.problems import FieldError, Problem
from labornet_shared.rpc import rpc
from labornet_shared.tokens import ExpiredToken, InvalidToken
from labornet_shared.web import cursor_position, principal_of, require_scope

# One instance of each schema: building one deep-copies its fields, which
# costs more than validating a case.
CASE_CREATE = CaseCreateSchema()
CASE_LIST_QUERY = CaseListQuerySchema()
WITHDRAW = WithdrawSchema()
FEEDBACK = FeedbackSchema()
FEEDBACK_FORM = FeedbackFormSchema()
FEEDBACK_GIVEN = FeedbackGivenSchema()
NOTIFICATION_CONTACT = contact_contract.NotificationContactSchema()

#: what the contact RPC refuses (the caller's fault): the contract's own
InvalidRpcArgument = contact_contract.InvalidRpcArgument

log = logging.getLogger("labornet.intake")


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


def _is_case_id(value: Any) -> bool:
    """Our cursors name a case's row id: a positive 64-bit integer."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _consumer(method: str) -> str:
    """The name a handler's applied events are recorded under."""
    return f"{IntakeService.name}.{method}"


class IntakeService(web.Probes, open311_endpoints.Open311Endpoints):
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
        key_error = idempotency_key_error(key)
        if key_error is not None:
            raise Problem(
                400, "validation_failed", [FieldError("Idempotency-Key", key_error)]
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
            views.created_view(reference, accepted.tracking_code),
        )

    @api("GET", "/v1/cases/<reference>")
    def get_case(self, request: Request, reference: str) -> Any:
        """Status and timeline by tracking code; the whole case by token."""
        principal = principal_of(request)
        session = self.db.session
        try:
            if principal is not None:
                case = domain.case_for_principal(session, reference, principal)
                return 200, views.case_view(case, whole=True)
            with self.guesses.guarding(request, reference, domain.CaseNotFound):
                case = domain.case_for_citizen(
                    session,
                    reference,
                    request.headers.get(TRACKING_HEADER),
                    self.settings.pepper,
                )
        except domain.CaseNotFound as exc:
            raise Problem(404, "not_found") from exc
        return 200, views.case_view(case, whole=False)

    @api("GET", "/v1/cases")
    def list_cases(self, request: Request) -> Any:
        """A page of cases (operator: all; agent: their own)."""
        principal = require_scope(request, "operator", "agent")
        filters = load(CASE_LIST_QUERY, request.args.to_dict())
        after = cursor_position(filters.pop("cursor", None), _is_case_id)
        if after is not None:
            filters["after_id"] = after
        cases, next_id = domain.list_cases(self.db.session, filters, principal)
        summaries = [views.summary_view(case) for case in cases]
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
        return 200, views.case_view(case, whole=False)

    @api("GET", "/v1/cases/<reference>/contact")
    def get_contact(self, request: Request, reference: str) -> Any:
        """The citizen's contact for the agency handling the case; audited."""
        principal = require_scope(request, "agency", "operator")
        try:
            case = domain.contact_for(self.db.session, reference, principal)
        except domain.CaseNotFound as exc:
            raise Problem(404, "not_found") from exc
        return 200, views.contact_view(case)

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
            views.case_view(case, whole=False), citizen_pages.language_of(request)
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
            views.case_link_view(case), citizen_pages.language_of(request), token=token
        )

    # --- notify asks over RPC ------------------------------------------------

    @rpc(expected_exceptions=InvalidRpcArgument)
    def contact_for_notification(self, reference: str, purpose: str) -> Any:
        """How notify reaches the citizen of ``reference`` now, for
        ``purpose`` (``"case_received sms"``): a :class:`NotificationContactSchema`
        document, or None for an unknown case. Audited whenever it carries
        personal data; committed before the answer leaves."""
        reference, purpose = contact_contract.check_arguments(reference, purpose)
        answer = domain.contact_for_notification(
            self.db.session, reference, purpose, self.settings.pepper
        )
        return None if answer is None else dict(NOTIFICATION_CONTACT.dump(answer))

    # --- routing's events keep the timeline; one queue and handler per type --

    # v2 adds screening.language, which the timeline does not need
    @event_handler("routing", "case_routed", accept_versions={1, 2})
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
