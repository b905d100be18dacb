"""What every service's HTTP entrypoints share, written once: who is calling
and whether their scope may, query strings, cursors, and the probes and
descriptions every service serves (``/healthz``, ``/readyz``, ``/metrics``,
``/openapi.json``, ``/asyncapi.json``, the index at ``/`` and the OpenAPI
viewer at ``/docs``).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any, ClassVar

from marshmallow import Schema
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Request, Response

from labornet_shared import metrics
from labornet_shared.api_pages import docs_asset, docs_page, index_page
from labornet_shared.asyncapi import document_json
from labornet_shared.config import flag
from labornet_shared.db import Database
from labornet_shared.health import MetricsAccess, Readiness, service_version
from labornet_shared.http import api, json_response, load, metrics_response
from labornet_shared.logs import correlation_id_var, event_id_var
from labornet_shared.openapi import Operation, build_spec
from labornet_shared.pagination import InvalidCursor, decode_cursor
from labornet_shared.problems import FieldError, Problem
from labornet_shared.tokens import Principal


def principal_of(request: Request) -> Principal | None:
    """The caller as its bearer token says (None: no token)."""
    return getattr(request, "principal", None)


def require_scope(request: Request, *scopes: str) -> Principal:
    """The caller, if its token has one of ``scopes``.

    No token: 401. Another scope: 404, not 403 — outside its scope a token
    learns nothing, not even that the resource exists.
    """
    principal = principal_of(request)
    if principal is None:
        raise Problem(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
    if principal.scope not in scopes:
        raise Problem(404, "not_found")
    return principal


def query_args(request: Request, schema: Schema) -> dict[str, Any]:
    """The query string loaded with ``schema``; a repeated parameter is a
    400 (which one would count is ambiguous), as is anything invalid."""
    repeated = [name for name, values in request.args.lists() if len(values) > 1]
    if repeated:
        raise Problem(
            400,
            "validation_failed",
            [FieldError(name or "query", "repeated") for name in repeated],
        )
    return dict(load(schema, request.args.to_dict()))


def cursor_position(cursor: str | None, valid: Callable[[Any], bool]) -> Any:
    """The row id a cursor names (None: the first page).

    ``valid`` checks the id is one of ours: a forged cursor is a 400, never
    a value that reaches the database.
    """
    try:
        position = decode_cursor(cursor)
    except InvalidCursor as exc:
        raise Problem(
            400, "validation_failed", [FieldError("cursor", "invalid")]
        ) from exc
    if position is None:
        return None
    after = position.get("id")
    if not valid(after):
        raise Problem(400, "validation_failed", [FieldError("cursor", "invalid")])
    return after


PROBE_OPERATIONS = [
    Operation("GET", "/healthz", "Alive", errors=()),
    Operation(
        "GET",
        "/readyz",
        "Database, broker, outbox relay and event consumers",
        errors=(503,),
    ),
    Operation(
        "GET",
        "/metrics",
        "Prometheus metrics (loopback or the metrics token)",
        errors=(404,),
    ),
    Operation(
        "GET",
        "/asyncapi.json",
        "The AsyncAPI 3.0 description of every event labornet publishes",
        errors=(),
        extra={
            "responses": {
                "200": {
                    "description": "the AsyncAPI document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            }
        },
    ),
]


class StartupHeap(DependencyProvider):
    """Moves what a service loaded at start-up out of the garbage collector's
    sight (``gc.freeze``).

    The gazetteer, the lexicon, SQLAlchemy's and marshmallow's machinery are
    hundreds of thousands of objects that live as long as the process; every
    full collection walked them all, stopping the service 40–120 ms (the
    search p99 of the registry). Frozen, a collection looks only at what
    requests create.
    """

    def start(self) -> None:
        """After every extension has set up: collect once, then freeze.

        ``GC_FREEZE: false`` turns it off: the test suite starts hundreds of
        containers in one process, and frozen garbage cycles are never freed.
        """
        if not flag(self.container.config.get("GC_FREEZE", True)):
            return
        gc.collect()
        gc.freeze()


class ScrapedDatabase(DependencyProvider):
    """nameko extension: the container's :class:`~labornet_shared.db.Database`
    is measured by ``collector`` at scrape time while the container runs
    (:data:`~labornet_shared.metrics.QUERY_TIMEOUT` at most per scrape)."""

    def __init__(
        self,
        collector: metrics.DatabaseCollector,
        database_attr: str = "db",
    ) -> None:
        self.collector = collector
        self.database_attr = database_attr
        self._key: int | None = None

    def start(self) -> None:
        """Join the collector once the database's engine exists."""
        for provider in self.container.dependencies:
            if isinstance(provider, Database) and (
                provider.attr_name == self.database_attr
            ):
                self._key = metrics.add_source(
                    self.collector,
                    self.container.service_name,
                    provider,
                )
                return

    def stop(self) -> None:
        """Leave the collector."""
        if self._key is not None:
            self.collector.remove(self._key)
            self._key = None

    kill = stop

    def get_dependency(self, worker_ctx: Any) -> None:
        """Nothing for workers."""
        return None


class LogContext(DependencyProvider):
    """Every worker's log lines carry the correlation id (the case reference
    where there is one) and the event id of what it handles: an event
    handler's from the event's envelope, an HTTP worker's from its request.
    """

    def worker_setup(self, worker_ctx: Any) -> None:
        """Set the log context in the worker's own green thread."""
        data = worker_ctx.context_data
        if data.get("correlation_id"):
            correlation_id_var.set(str(data["correlation_id"]))
        if data.get("event_id"):
            event_id_var.set(str(data["event_id"]))


class Probes:
    """The probes and the API description every labornet service serves.

    A service class inherits them and names its ``openapi_title`` and its
    ``operations`` (the probes are added to the description here). For
    people: an index at ``/`` and swagger-ui at ``/docs`` (its files under
    ``/docs/<asset>``), served from this process.
    """

    name: ClassVar[str]
    openapi_title: ClassVar[str]
    operations: ClassVar[list[Operation]]

    readiness = Readiness()
    metrics_access = MetricsAccess()
    startup_heap = StartupHeap()
    log_context = LogContext()

    @api("GET", "/healthz", authenticate=False, rate_limited=False)
    def healthz(self, request: Request) -> Any:
        """The process is alive."""
        return 200, {"status": "ok"}

    @api("GET", "/readyz", authenticate=False, rate_limited=False)
    def readyz(self, request: Request) -> Any:
        """Ready when the database, the broker, the relay and every event
        handler's consumer work; with the service's version."""
        state = self.readiness()
        # which build answers (``labornet status`` shows it beside health)
        state["version"] = service_version(self.name)
        return (200 if state["ready"] else 503), state

    @api("GET", "/metrics", authenticate=False, rate_limited=False)
    def metrics(self, request: Request) -> Any:
        """Prometheus metrics of this process, for loopback or the metrics
        token (``METRICS_LOOPBACK``, ``METRICS_TOKEN``); 404 for others."""
        if not self.metrics_access(request):
            raise Problem(404, "not_found")
        return metrics_response()

    @api("GET", "/openapi.json", authenticate=False, cacheable=True)
    def openapi(self, request: Request) -> Any:
        """The OpenAPI 3.1 description of this API."""
        spec = build_spec(
            self.openapi_title, "1.0.0", [*self.operations, *PROBE_OPERATIONS]
        )
        return json_response(200, spec)

    @api("GET", "/asyncapi.json", authenticate=False, cacheable=True)
    def asyncapi(self, request: Request) -> Any:
        """The AsyncAPI 3.0 description of labornet's events (the same on
        every service: :mod:`labornet_shared.asyncapi`)."""
        return Response(document_json(), mimetype="application/json")

    @api("GET", "/", authenticate=False, cacheable=True)
    def index(self, request: Request) -> Any:
        """An HTML page naming the service, with links to what it serves."""
        return index_page(self.name, self.openapi_title)

    @api("GET", "/docs", authenticate=False, cacheable=True)
    def api_docs(self, request: Request) -> Any:
        """swagger-ui over ``/openapi.json``, served from this process."""
        return docs_page(self.openapi_title)

    @api("GET", "/docs/<asset>", authenticate=False, cacheable=True)
    def api_docs_asset(self, request: Request, asset: str) -> Any:
        """One of the viewer's files (404 for any other name)."""
        return docs_asset(asset)
