"""``labornet status``: the platform on one screen, and whether it is well.

Each service's health and version (its ``/readyz``), its outbox (backlog,
oldest waiting event, parked events: from its database, so a stopped
service's backlog shows too), every event handler's queue (messages,
consumers), the dead-letter queues, the unrouted queues (RabbitMQ's
management API), and the overdue referrals by province (routing's
``/metrics``). Each line starts with ``ok``, ``warn`` or ``FAIL`` and says
why; the command exits 1 when a line fails — a service down or not ready, a
handler queue with messages and no consumer, dead letters present, an
outbox event waiting longer than a minute — so a cron job or a deploy
script can act on it. Counts and names only: never a message's content.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import typer

OK, WARN, FAIL = "ok", "warn", "FAIL"
#: an outbox event older than this means nothing publishes (seconds)
OUTBOX_STALE_SECONDS = 60.0
#: how long one service's probe, or one database query, may take
PROBE_TIMEOUT = 3.0


@dataclass
class Line:
    """One line of the screen: a section, what it is about, its state, the
    figures, and why it is not ok."""

    section: str
    name: str
    state: str
    detail: str
    reason: str = ""


def _address(config: dict[str, Any]) -> str:
    """Where a service answers HTTP on this machine (a wildcard bind is
    reached on loopback, where /metrics needs no token)."""
    host, _, port = str(config.get("WEB_SERVER_ADDRESS", "")).rpartition(":")
    if host in ("", "0.0.0.0", "::", "[::]"):  # noqa: S104 - a bind address
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def _get(url: str, config: dict[str, Any]) -> Any:
    import requests

    headers = {}
    token = str(config.get("METRICS_TOKEN") or "")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.get(url, timeout=PROBE_TIMEOUT, headers=headers)


def service_lines(services: list[str], configs: dict[str, Any]) -> list[Line]:
    """Each service's ``/readyz``: ready, or which check fails."""
    import requests

    lines = []
    for service in services:
        url = f"{_address(configs[service])}/readyz"
        try:
            answer = _get(url, configs[service])
            document = answer.json()
        except (requests.RequestException, ValueError):
            lines.append(
                Line("services", service, FAIL, "down", f"no answer from {url}")
            )
            continue
        version = str(document.get("version", "?"))
        if answer.status_code == 200 and document.get("ready"):
            lines.append(Line("services", service, OK, f"ready, version {version}"))
            continue
        failing = sorted(
            name for name, ok in (document.get("checks") or {}).items() if not ok
        )
        lines.append(
            Line(
                "services",
                service,
                FAIL,
                f"not ready, version {version}",
                "failing: " + (", ".join(failing) or f"HTTP {answer.status_code}"),
            )
        )
    return lines


def outbox_lines(services: list[str], configs: dict[str, Any]) -> list[Line]:
    """Each service's outbox, read from its database."""
    from sqlalchemy import func, select

    from labornet_shared.db import make_engine
    from labornet_shared.metrics import bounded
    from labornet_shared.ops.installation import service_tables
    from labornet_shared.ops.outbox_admin import OUTBOX_TABLE

    lines = []
    for service in services:
        engine = make_engine(str(configs[service]["DATABASE_URL"]), pool_size=1)
        try:
            table = service_tables(service).tables[OUTBOX_TABLE]
            unsent = table.c.sent_at.is_(None)
            with bounded(engine, PROBE_TIMEOUT) as conn:
                backlog, oldest = conn.execute(
                    select(func.count(), func.min(table.c.created_at)).where(
                        unsent, table.c.parked_at.is_(None)
                    )
                ).one()
                parked = conn.execute(
                    select(func.count()).where(unsent, table.c.parked_at.is_not(None))
                ).scalar()
        except Exception as exc:
            lines.append(
                Line(
                    "outbox",
                    service,
                    FAIL,
                    "database unreachable",
                    f"{type(exc).__name__} reading its outbox",
                )
            )
            continue
        finally:
            engine.dispose()
        lines.append(_outbox_line(service, backlog, oldest, parked))
    return lines


def _outbox_line(service: str, backlog: int, oldest: Any, parked: int) -> Line:
    """A service's outbox line from its backlog, oldest waiting event and
    parked events."""
    age = 0.0
    if oldest is not None:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        age = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
    detail = f"{backlog} waiting" + (f", oldest {_duration(age)}" if backlog else "")
    detail += f", {parked} parked" if parked else ""
    if age > OUTBOX_STALE_SECONDS:
        return Line(
            "outbox",
            service,
            FAIL,
            detail,
            "oldest event waits over a minute: is its relay running?",
        )
    if parked:
        return Line(
            "outbox",
            service,
            WARN,
            detail,
            f"`labornet outbox list {service}` shows the parked events",
        )
    return Line("outbox", service, OK, detail)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def queue_lines(management_url: str, amqp_uri: str) -> list[Line]:
    """Event handlers' queues, dead letters and unrouted messages."""
    from labornet_shared.broker import (
        REFERRALS_UNROUTED_QUEUE,
        UNROUTED_OVERFLOW_QUEUE,
        UNROUTED_QUEUE,
        BrokerUnavailable,
        Management,
    )

    management = Management.from_urls(management_url, amqp_uri)
    try:
        queues = management.request(
            "GET",
            f"queues/{quote(management.vhost, safe='')}",
            params={"columns": "name,messages,consumers"},
        ).json()
    except (BrokerUnavailable, OSError, ValueError) as exc:
        return [Line("queues", "broker", FAIL, "management API unreachable", str(exc))]
    unrouted = (UNROUTED_QUEUE, REFERRALS_UNROUTED_QUEUE, UNROUTED_OVERFLOW_QUEUE)
    handlers, dead, stray = _sort_queues(queues, unrouted)
    return [*_handler_lines(handlers), *dead, *stray]


def _sort_queues(
    queues: list[dict[str, Any]], unrouted: tuple[str, ...]
) -> tuple[dict[str, list[tuple[str, int, int]]], list[Line], list[Line]]:
    """The handler queues by consuming service, and the dead-letter and
    unrouted queues' lines."""
    # handler queues (evt-<source>-<event>--<service>.<method>) are summed
    # per consuming service: one line each, and one per queue in trouble
    handlers: dict[str, list[tuple[str, int, int]]] = {}
    dead: list[Line] = []
    stray: list[Line] = []
    for queue in sorted(queues, key=lambda q: str(q["name"])):
        name = str(queue["name"])
        messages = int(queue.get("messages") or 0)
        consumers = int(queue.get("consumers") or 0)
        if name.startswith("evt-") and "--" in name:
            service = name.rpartition("--")[2].partition(".")[0]
            handlers.setdefault(service, []).append((name, messages, consumers))
        elif name in unrouted:
            why = "`labornet unrouted list` shows them" if messages else ""
            stray.append(
                Line(
                    "unrouted",
                    name,
                    WARN if messages else OK,
                    f"{messages} messages",
                    why,
                )
            )
        elif name.endswith(".dlq"):
            service = name.removesuffix(".dlq")
            dead.append(
                Line(
                    "dead letters",
                    name,
                    FAIL if messages else OK,
                    f"{messages} messages",
                    f"`labornet dlq list {service}` says why" if messages else "",
                )
            )
    return handlers, dead, stray


def _handler_lines(handlers: dict[str, list[tuple[str, int, int]]]) -> list[Line]:
    """One line per consuming service's handler queues, and one per queue
    with messages and no consumer."""
    lines: list[Line] = []
    for service, found in sorted(handlers.items()):
        waiting = sum(messages for _, messages, _ in found)
        unconsumed = [name for name, _, consumers in found if not consumers]
        detail = (
            f"{len(found)} handler queues, {waiting} messages waiting,"
            f" {len(found) - len(unconsumed)} consumed"
        )
        why = f"no consumer on {len(unconsumed)}: is {service} running?"
        lines.append(
            Line(
                "queues",
                service,
                WARN if unconsumed else OK,
                detail,
                why if unconsumed else "",
            )
        )
        for name, messages, consumers in found:
            if messages and not consumers:
                lines.append(
                    Line(
                        "queues",
                        name,
                        FAIL,
                        f"{messages} messages, {consumers} consumers",
                        "messages and no consumer",
                    )
                )
    return lines


def overdue_lines(configs: dict[str, Any]) -> list[Line]:
    """Overdue referrals by province, as routing's ``/metrics`` counts them."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    config = configs.get("routing")
    if config is None:
        return []
    try:
        answer = _get(f"{_address(config)}/metrics", config)
        answer.raise_for_status()
        families = list(text_string_to_metric_families(answer.text))
    except (requests.RequestException, ValueError):
        return [
            Line("referrals", "overdue", WARN, "unknown", "routing's /metrics unread")
        ]
    by_province: dict[str, float] = {}
    for family in families:
        if family.name == "labornet_referrals_overdue":
            for sample in family.samples:
                province = sample.labels.get("province", "?")
                by_province[province] = by_province.get(province, 0) + sample.value
    late = {p: int(n) for p, n in sorted(by_province.items()) if n}
    if not late:
        return [Line("referrals", "overdue", OK, "none")]
    detail = (
        f"{sum(late.values())} ("
        + ", ".join(f"{p}: {n}" for p, n in late.items())
        + ")"
    )
    return [Line("referrals", "overdue", WARN, detail, "escalated to each province")]


def gather(services: list[str]) -> list[Line]:
    """Every line of the screen, for ``services``."""
    from labornet_shared.config import load_service_config
    from labornet_shared.ops.installation import amqp_uri, management_url

    configs = {service: load_service_config(service) for service in services}
    return [
        *service_lines(services, configs),
        *outbox_lines(services, configs),
        *queue_lines(management_url(), amqp_uri()),
        *overdue_lines(configs),
    ]


#: typer's declaration of the command's arguments (made once: B008)
SERVICES_ARGUMENT = typer.Argument(
    None, help="only these services (default: every installed one)"
)


def status(
    services: list[str] | None = SERVICES_ARGUMENT,
    as_json: bool = typer.Option(False, "--json", help="the lines as JSON"),
) -> None:
    """One screen: services, outboxes, queues, dead letters, unrouted
    messages, overdue referrals; exit 1 when something is unhealthy."""
    from labornet_shared.ops.console import err
    from labornet_shared.ops.installation import installed_services

    installed = installed_services()
    unknown = sorted(set(services or ()) - set(installed))
    if unknown:
        known = ", ".join(installed)
        err(f"error: unknown service {', '.join(unknown)}; one of {known}")
        raise typer.Exit(2)
    lines = gather(services or installed)
    failing = [line for line in lines if line.state == FAIL]
    if as_json:
        typer.echo(json.dumps([asdict(line) for line in lines], indent=2))
    else:
        section = ""
        for line in lines:
            if line.section != section:
                section = line.section
                typer.echo(section)
            text = f"  {line.state:<5} {line.name:<28} {line.detail}"
            typer.echo(text + (f"  — {line.reason}" if line.reason else ""))
        typer.echo(f"unhealthy: {len(failing)} problem(s)" if failing else "healthy")
    if failing:
        raise typer.Exit(1)
