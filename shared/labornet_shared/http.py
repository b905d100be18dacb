"""labornet's HTTP entrypoint: nameko's ``http`` with the DESIGN conventions.

:func:`api` replaces ``nameko.web.handlers.http``. Before a worker runs it
refuses bodies over ``MAX_BODY_BYTES`` (413), verifies the bearer token
(``request.principal``), and applies the rate limit of the caller's scope
(429 with ``Retry-After``). The worker's unit of work is committed before the
answer is sent. Every error, including unknown routes and unexpected
exceptions, is answered as problem+json in the caller's language; never a
stack trace. An API with an error format of its own (Open311) subclasses the
entrypoint and claims its paths with ``error_prefix``. eventlet's access log
(client IPs, query strings) is off: a JSON line with method, route, status and
duration replaces it.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Mapping
from functools import partial
from typing import Any

from eventlet.event import Event
from marshmallow import Schema, ValidationError
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from labornet_shared.db import finish_units_of_work
from labornet_shared.logs import correlation_id_var
from labornet_shared.problems import PROBLEM_MEDIA_TYPE, FieldError, Problem
from labornet_shared.problems import from_validation_error as _from_validation_error
from labornet_shared.ratelimit import RateLimiter
from labornet_shared.tokens import InvalidToken, Principal, verify_token

log = logging.getLogger("labornet.http")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024

REQUESTS = Counter(
    "labornet_http_requests_total",
    "HTTP requests answered",
    ["service", "method", "route", "status"],
)
LATENCY = Histogram(
    "labornet_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["service", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def language_of(request: Request) -> str:
    """``th`` when the caller prefers Thai, else ``en``."""
    return request.accept_languages.best_match(["en", "th"], default="en") or "en"


def json_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer."""
    return Response(
        json.dumps(body, ensure_ascii=False, default=str),
        status=status,
        headers=dict(headers or {}),
        mimetype="application/json",
    )


def problem_response(problem: Problem, request: Request | None) -> Response:
    """A Problem as an ``application/problem+json`` answer."""
    language = language_of(request) if request is not None else "en"
    instance = request.path if request is not None else None
    return Response(
        problem.to_json(language, instance),
        status=problem.status,
        headers=problem.headers,
        mimetype=PROBLEM_MEDIA_TYPE,
    )


def http_exception_problem(exc: HTTPException) -> Problem:
    """werkzeug's routing errors as problems."""
    code = {
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }.get(exc.code or 500, "invalid" if (exc.code or 500) < 500 else "internal_error")
    headers = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        # RFC 9110: a 405 lists the methods the resource supports
        headers["Allow"] = ", ".join(exc.valid_methods)
    return Problem(exc.code or 500, code, headers=headers)


def _body(request: Request) -> bytes:
    """The raw body, never more than ``request.max_content_length`` bytes."""
    limit = request.max_content_length or DEFAULT_MAX_BODY_BYTES
    if request.content_length is None and "chunked" in (
        request.headers.get("Transfer-Encoding", "").lower()
    ):
        # eventlet de-chunks the stream but werkzeug, seeing no length, would
        # read nothing: read it ourselves, one byte past the limit
        raw = request.environ["wsgi.input"].read(limit + 1)
        if len(raw) > limit:
            raise Problem(413, "payload_too_large")
        return bytes(raw)
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge as exc:
        raise Problem(413, "payload_too_large") from exc


def read_body(request: Request) -> bytes:
    """The raw request body (an upload), within the endpoint's size limit."""
    return _body(request)


def read_json(request: Request) -> Any:
    """The request's JSON body; 415 if not JSON, 400 if it does not parse."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise Problem(415, "unsupported_media_type")
    raw = _body(request)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Problem(
            400, "malformed_json", [FieldError("body", "malformed_json")]
        ) from exc


def load(schema: Schema, data: Any) -> Any:
    """Validate ``data`` with ``schema``; invalid input is a 400 naming fields."""
    if not isinstance(data, dict):
        raise Problem(400, "validation_failed", [FieldError("body", "invalid_type")])
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise _from_validation_error(exc) from exc


def metrics_response() -> Response:
    """Prometheus exposition of this process's metrics."""
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


class ApiWsgiApp:
    """nameko's WsgiApp, answering unknown routes with problem+json."""

    def __init__(self, server: WebServer) -> None:
        self.server = server
        self.url_map = server.make_url_map()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
            request.path_values = values  # type: ignore[attr-defined]
            response = provider.handle_request(request)
        except HTTPException as exc:
            owner = self._owner_of(request.path)
            if owner is not None:
                response = owner.response_from_exception(exc, request)
            else:
                response = problem_response(http_exception_problem(exc), request)
            _observe(self.server, request, "unmatched", response.status_code, 0.0)
        return response(environ, start_response)

    def _owner_of(self, path: str) -> HttpEntrypoint | None:
        """The entrypoint that answers unmatched requests under ``path``
        (its ``error_prefix``), if one claims it."""
        for provider in self.server._providers:
            prefix = getattr(provider, "error_prefix", None)
            if prefix and path.startswith(prefix):
                return provider  # type: ignore[no-any-return]
        return None


class ApiServer(WebServer):
    """The web server shared by a service's :func:`api` entrypoints."""

    def get_wsgi_app(self) -> ApiWsgiApp:
        """Our WSGI app: problem+json for routing errors."""
        return ApiWsgiApp(self)

    def get_wsgi_server(
        self,
        sock: Any,
        wsgi_app: Any,
        protocol: Any = HttpOnlyProtocol,
        debug: bool = False,
    ) -> Any:
        """eventlet's server without its access log (IPs, query strings), with
        Nagle's algorithm off.

        eventlet writes an answer's headers and a large body separately; with
        Nagle on, the body waits for the client's delayed ACK of the headers
        — 40 ms on every answer over ~16 KB (a page of agents). Accepted
        sockets inherit TCP_NODELAY from the listening one (Linux).
        """
        from eventlet import wsgi

        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return wsgi.Server(
            sock,
            sock.getsockname(),
            wsgi_app,
            protocol=protocol,
            debug=False,
            log=logging.getLogger("labornet.http.wsgi"),
            log_output=False,
        )


class HttpEntrypoint(HttpRequestHandler):
    """A labornet HTTP endpoint (see module docstring)."""

    server = ApiServer()

    #: Requests under this path that match no route (an unknown resource, a
    #: wrong method) are answered by this entrypoint's
    #: ``response_from_exception``: an API with an error format of its own
    #: (Open311) keeps it on every path. None: problem+json.
    error_prefix: str | None = None

    def __init__(
        self,
        method: str,
        url: str,
        authenticate: bool = True,
        rate_limited: bool = True,
        max_body_setting: str = "MAX_BODY_BYTES",
        **kwargs: Any,
    ):
        kwargs.setdefault("expected_exceptions", (Problem,))
        self.authenticate = authenticate
        # the config key of this endpoint's body limit: uploads (a roster
        # spreadsheet) need more than the 1 MiB of a JSON request
        self.max_body_setting = max_body_setting
        # probes and scrapers (/healthz, /readyz, /metrics) are never limited
        self.rate_limited = rate_limited
        super().__init__(method, url, **kwargs)

    def setup(self) -> None:
        """Read the limits from config and register with the server."""
        super().setup()
        config = self.container.config
        self.max_body = int(
            config.get(
                self.max_body_setting,
                config.get("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            )
        )
        self.token_secret = str(config.get("TOKEN_SECRET", ""))
        # one limiter per container: all its endpoints count together
        if not hasattr(self.server, "rate_limiter"):
            self.server.rate_limiter = RateLimiter(config)  # type: ignore[attr-defined]

    def get_url_rule(self) -> Rule:
        """The werkzeug rule of this endpoint."""
        return Rule(self.url, methods=self.method.split(","))

    def _principal(self, request: Request) -> Principal | None:
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "invalid_token", headers={"WWW-Authenticate": "Bearer"})
        try:
            return verify_token(self.token_secret, token.strip())
        except InvalidToken as exc:
            raise Problem(
                401, "invalid_token", headers={"WWW-Authenticate": "Bearer"}
            ) from exc

    def handle_request(self, request: Request) -> Response:
        """Check size, token and rate; run the worker; answer."""
        started = time.perf_counter()
        request.shallow = False
        request.max_content_length = self.max_body
        correlation_id_var.set(request.headers.get("X-Correlation-Id"))
        try:
            length = request.content_length
            if length is not None and length > self.max_body:
                raise Problem(413, "payload_too_large")
            principal = self._principal(request) if self.authenticate else None
            request.principal = principal  # type: ignore[attr-defined]
            if self.rate_limited:
                self.server.rate_limiter.check(  # type: ignore[attr-defined]
                    self.container.service_name, request, principal
                )
            args, kwargs = self.get_entrypoint_parameters(request)
            self.check_signature(args, kwargs)
            event = Event()
            self.container.spawn_worker(
                self,
                args,
                kwargs,
                context_data={},
                handle_result=partial(self.handle_result, event),
            )
            result = event.wait()
            response = self.response_from_result(result)
        except Exception as exc:
            response = self.response_from_exception(exc, request)
        _observe(
            self.server,
            request,
            self.url,
            response.status_code,
            time.perf_counter() - started,
            self.container.service_name,
        )
        return response

    def handle_result(
        self, event: Event, worker_ctx: Any, result: Any, exc_info: Any
    ) -> Any:
        """Commit (or roll back) before the answer leaves."""
        exc_info = finish_units_of_work(worker_ctx, exc_info)
        event.send(result, exc_info)
        return result, exc_info

    def response_from_result(self, result: Any) -> Response:
        """Accept a Response, or (status, body) / (status, headers, body)."""
        if isinstance(result, Response):
            return result
        headers: Mapping[str, str] | None = None
        if isinstance(result, tuple):
            if len(result) == 3:
                status, headers, body = result
            else:
                status, body = result
        else:
            status, body = 200, result
        if status == 204:  # no content means no body, not a JSON ""
            return Response(status=204, headers=dict(headers or {}))
        return json_response(status, body, headers)

    def response_from_exception(  # type: ignore[override]
        self, exc: Exception, request: Request | None = None
    ) -> Response:
        """Problems as problem+json; anything else a bare 500, logged."""
        if isinstance(exc, Problem):
            return problem_response(exc, request)
        if isinstance(exc, RequestEntityTooLarge):
            return problem_response(Problem(413, "payload_too_large"), request)
        if isinstance(exc, HTTPException):
            return problem_response(http_exception_problem(exc), request)
        log.error("unexpected %s answering %s", type(exc).__name__, self.url)
        return problem_response(Problem(500, "internal_error"), request)


def _observe(
    server: Any,
    request: Request,
    route: str,
    status: int,
    seconds: float,
    service: str | None = None,
) -> None:
    service = service or getattr(
        getattr(server, "container", None), "service_name", "?"
    )
    REQUESTS.labels(service, request.method, route, str(status)).inc()
    LATENCY.labels(service, route).observe(seconds)
    level = logging.WARNING if status >= 500 else logging.INFO
    log.log(
        level,
        "%s %s %d %.1fms",
        request.method,
        route,
        status,
        seconds * 1000,
    )


api = HttpEntrypoint.decorator
