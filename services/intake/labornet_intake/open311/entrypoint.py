"""The HTTP entrypoint speaking Open311: the ``api_key`` parameter is the
caller, and every error under ``/open311/v2/`` is in the spec's format."""

from __future__ import annotations

import logging
from typing import Any

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from labornet_intake.open311.errors import (
    Open311Error,
    from_http_exception,
    from_problem,
)
from labornet_intake.open311.formats import error_response
from labornet_intake.open311.parameters import params_of, single
from labornet_intake.open311.views import key_subject
from labornet_shared.http import HttpEntrypoint
from labornet_shared.problems import Problem
from labornet_shared.tokens import InvalidToken, Principal, verify_token

log = logging.getLogger("labornet.intake.open311")


class Open311Entrypoint(HttpEntrypoint):
    """labornet's HTTP entrypoint speaking Open311: the caller is the
    ``api_key`` parameter (an ``open311`` token; anything else is 403) and
    every error, including unknown paths under ``/open311/v2/``, 413 and 429,
    is in the spec's format. Rate limits count per api_key
    (``RATE_LIMIT_OPEN311``), anonymous reads per address."""

    error_prefix = "/open311/"

    def __init__(self, method: str, url: str, **kwargs: Any) -> None:
        kwargs.setdefault("expected_exceptions", (Problem, Open311Error))
        super().__init__(method, url, **kwargs)

    def _principal(self, request: Request) -> Principal | None:
        params = params_of(request)
        key = single(params, "api_key")
        if key is None:
            return None
        try:
            principal = verify_token(self.token_secret, key, self.token_lifetimes)
        except InvalidToken as exc:
            raise Open311Error(403, ("api_key_invalid", "api_key")) from exc
        if principal.scope != "open311":
            raise Open311Error(403, ("api_key_invalid", "api_key"))
        return Principal(scope="open311", subject=key_subject(principal.subject, key))

    def response_from_exception(  # type: ignore[override]
        self, exc: Exception, request: Request | None = None
    ) -> Response:
        """Every error in the spec's format."""
        if isinstance(exc, Open311Error):
            error = exc
        elif isinstance(exc, Problem):
            error = from_problem(exc)
        elif isinstance(exc, RequestEntityTooLarge):
            error = Open311Error(413, ("payload_too_large", None))
        elif isinstance(exc, HTTPException):
            error = from_http_exception(exc)
        else:
            log.error("unexpected %s answering %s", type(exc).__name__, self.url)
            error = Open311Error(500, ("internal_error", None))
        return error_response(error, request)


open311_api = Open311Entrypoint.decorator
