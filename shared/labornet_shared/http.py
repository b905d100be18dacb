"""labornet's HTTP entrypoint: nameko's ``http`` with the DESIGN conventions.

:func:`api` replaces ``nameko.web.handlers.http``. Before a worker runs it
refuses bodies over ``MAX_BODY_BYTES`` (413), verifies the bearer token
(``request.principal``) and applies the rate limit of the caller's scope (429
with ``Retry-After``); first of all it reads the whole body within its
deadline (408; see :mod:`labornet_shared.connections`): a slow client never
holds a worker. The worker's unit of work is committed before the answer is
sent. Answers carry ``Cache-Control: no-store`` unless the endpoint serves
public reference data (``cacheable=True``), and the request's
``X-Correlation-Id`` (a new one when the caller sent none, or one that could
carry personal data). Every error, including unknown routes and unexpected
exceptions, is answered as problem+json in the caller's language; never a
stack trace. An API with an error format of its own (Open311) subclasses the
entrypoint and claims its paths with ``error_prefix``. eventlet's access log
(client IPs, query strings) is off: a JSON line with method, route, status and
duration replaces it.
"""

from __future__ import annotations

import io
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
from nameko.web.server import WebServer
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import exc as sqlalchemy_exc
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, Map, Rule
from werkzeug.wrappers import Request, Response

from labornet_shared.connections import ConnectionLimits, GuardedProtocol
from labornet_shared.db import finish_units_of_work
from labornet_shared.local_secrets import private_setting
from labornet_shared.logs import accepted_correlation_id, correlation_id_var
from labornet_shared.problems import PROBLEM_MEDIA_TYPE, FieldError, Problem
from labornet_shared.problems import from_validation_error as _from_validation_error
from labornet_shared.ratelimit import RateLimiter
from labornet_shared.tokens import (
    InvalidToken,
    Principal,
    token_lifetimes,
    verify_token,
)

log = logging.getLogger("labornet.http")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024

#: the methods counted by name in the metrics; any other a client makes up is
#: counted as "other" (one series, not one per invention)
KNOWN_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
#: the largest id a path may name: a BIGINT column's; a larger number in a
#: path matches no route (404) instead of overflowing the database driver
MAX_PATH_INT = 2**63 - 1

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


def _read_at_most(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes of ``stream``, fewer only at its end."""
    parts: list[bytes] = []
    wanted = size
    while wanted > 0:
        piece = stream.read(wanted)
        if not piece:
            break
        parts.append(piece)
        wanted -= len(piece)
    return b"".join(parts)


def _body(request: Request) -> bytes:
    """The raw body, never more than ``request.max_content_length`` bytes,
    read once (then kept where werkzeug's own readers find it).

    Read from eventlet's stream directly: werkzeug would turn the body
    deadline (a ``TimeoutError``) into a "client disconnected" 400.
    """
    cached = getattr(request, "_cached_data", None)
    if cached is not None:
        return bytes(cached)
    limit = request.max_content_length or DEFAULT_MAX_BODY_BYTES
    length = request.content_length
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if length is not None and length > limit:
        raise Problem(413, "payload_too_large")
    if length is None and not chunked:
        raw = b""
    else:
        # eventlet de-chunks a chunked stream; read one byte past the limit
        wanted = length if length is not None else limit + 1
        try:
            raw = _read_at_most(request.environ["wsgi.input"], wanted)
        except TimeoutError as exc:  # the body deadline, or a socket timeout
            raise Problem(408, "request_timeout") from exc
        except OSError as exc:  # the client hung up mid-body
            raise Problem(400, "invalid") from exc
        if len(raw) > limit:
            raise Problem(413, "payload_too_large")
        if length is not None and len(raw) < length:
            raise Problem(400, "invalid")  # the client hung up mid-body
    request._cached_data = raw  # type: ignore[attr-defined]
    request.environ["wsgi.input"] = io.BytesIO(raw)
    return raw


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


def close_after_answer(request: Request) -> None:
    """Close the connection once the answer is sent (``Connection: close``):
    its unread rest of a body is not worth waiting for."""
    close = request.environ.get("labornet.close_connection")
    if close is not None:
        close()


def _finish(request: Request, response: Response, cacheable: bool = False) -> None:
    """What every answer carries: the correlation id, and ``no-store`` unless
    it is public reference data (personal data never sits in a cache)."""
    if not cacheable and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    correlation_id = correlation_id_var.get()
    if correlation_id:
        response.headers["X-Correlation-Id"] = correlation_id
    if response.status_code in (408, 413):
        close_after_answer(request)


class DatabaseIntConverter(IntegerConverter):
    """werkzeug's ``int`` converter, no larger than a BIGINT id."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = MAX_PATH_INT,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


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
            correlation_id_var.set(
                accepted_correlation_id(request.headers.get("X-Correlation-Id"))
            )
            owner = self._owner_of(request.path)
            if owner is not None:
                response = owner.response_from_exception(exc, request)
            else:
                response = problem_response(http_exception_problem(exc), request)
            _finish(request, response)
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
    """The web server shared by a service's :func:`api` entrypoints: deadlines
    on every connection (:mod:`labornet_shared.connections`), ids in paths
    no larger than the database's."""

    def get_wsgi_app(self) -> ApiWsgiApp:
        """Our WSGI app: problem+json for routing errors."""
        return ApiWsgiApp(self)

    def make_url_map(self) -> Map:
        """nameko's URL map, with :class:`DatabaseIntConverter` as ``int``."""
        url_map = Map(converters={"int": DatabaseIntConverter})
        for provider in self._providers:
            rule = provider.get_url_rule()
            rule.endpoint = provider
            url_map.add(rule)
        return url_map

    def get_wsgi_server(
        self,
        sock: Any,
        wsgi_app: Any,
        protocol: Any = GuardedProtocol,
        debug: bool = False,
    ) -> Any:
        """eventlet's server without its access log (IPs, query strings), with
        Nagle's algorithm off, and the connection deadlines of the config
        (``HTTP_*_TIMEOUT``): idle keep-alive connections close, every socket
        operation is bounded.

        eventlet writes an answer's headers and a large body separately; with
        Nagle on, the body waits for the client's delayed ACK of the headers
        — 40 ms on every answer over ~16 KB (a page of agents). Accepted
        sockets inherit TCP_NODELAY from the listening one (Linux).
        """
        from eventlet import wsgi

        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        limits = ConnectionLimits.from_config(self.container.config)
        server = wsgi.Server(
            sock,
            sock.getsockname(),
            wsgi_app,
            protocol=protocol,
            debug=False,
            log=logging.getLogger("labornet.http.wsgi"),
            log_output=False,
            keepalive=limits.idle_timeout,
            socket_timeout=limits.body_timeout,
        )
        server.connection_limits = limits
        return server


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
        cacheable: bool = False,
        **kwargs: Any,
    ):
        kwargs.setdefault("expected_exceptions", (Problem,))
        self.authenticate = authenticate
        # public reference data may be cached; anything else is no-store
        self.cacheable = cacheable
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
        # a public secret would let anyone sign tokens: refuse to start
        self.token_secret = private_setting(config, "TOKEN_SECRET")
        self.token_lifetimes = token_lifetimes(config)
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
            return verify_token(self.token_secret, token.strip(), self.token_lifetimes)
        except InvalidToken as exc:
            raise Problem(
                401, "invalid_token", headers={"WWW-Authenticate": "Bearer"}
            ) from exc

    def handle_request(self, request: Request) -> Response:
        """Check size, token and rate; read the body; run the worker; answer."""
        started = time.perf_counter()
        request.shallow = False
        request.max_content_length = self.max_body
        correlation_id_var.set(
            accepted_correlation_id(request.headers.get("X-Correlation-Id"))
        )
        try:
            length = request.content_length
            if length is not None and length > self.max_body:
                raise Problem(413, "payload_too_large")
            # the whole body, within its deadline, before a worker is taken
            # (a worker waiting for a slow client is one of ten lost) and
            # before the token: Open311's api_key may be a field of the form
            _body(request)
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
                # the worker logs under the request's correlation id
                context_data={"correlation_id": correlation_id_var.get()},
                handle_result=partial(self.handle_result, event),
            )
            result = event.wait()
            response = self.response_from_result(result)
        except Exception as exc:
            response = self.response_from_exception(exc, request)
        _finish(request, response, self.cacheable)
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
        if database_unavailable(exc):
            # the database went away (restart, failover, pool exhausted): the
            # unit of work rolled back, nothing is half done, and the caller
            # may simply try again — a 503 says so, a 500 would not
            log.warning("database unavailable answering %s", self.url)
            return problem_response(
                Problem(503, "database_unavailable", headers={"Retry-After": "5"}),
                request,
            )
        log.error("unexpected %s answering %s", type(exc).__name__, self.url)
        return problem_response(Problem(500, "internal_error"), request)


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection (not a
    query the database refused: that stays a 500, it is our bug)."""
    if isinstance(exc, sqlalchemy_exc.TimeoutError):  # the pool had no connection
        return True
    if isinstance(exc, sqlalchemy_exc.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(
            exc, sqlalchemy_exc.OperationalError
        )
    return False


# probes and scrapers: their access lines are DEBUG
PROBE_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


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
    # a client's made-up method is "other": neither a new series nor its
    # text in a log line
    method = request.method if request.method in KNOWN_METHODS else "other"
    REQUESTS.labels(service, method, route, str(status)).inc()
    LATENCY.labels(service, route).observe(seconds)
    if status >= 500:
        level = logging.WARNING
    elif route in PROBE_ROUTES:
        # a load balancer or `make run`'s wait asks every few seconds: at
        # INFO these lines would bury the requests people make
        level = logging.DEBUG
    else:
        level = logging.INFO
    log.log(
        level,
        "%s %s %d %.1fms",
        method,
        route,
        status,
        seconds * 1000,
    )


api = HttpEntrypoint.decorator
