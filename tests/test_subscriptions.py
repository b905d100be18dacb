"""The subscription table in ``labornet_shared.subscriptions`` is what the
services really consume: ``labornet setup-broker`` declares a queue for each
entry, so a handler missing from it would miss every event published before
its service first started, and an entry without a handler would fill a queue
nobody reads."""

from __future__ import annotations

import importlib
import inspect

import pytest
from nameko.events import EventHandler

from labornet_shared.consumer import ReliableEventHandler
from labornet_shared.subscriptions import SUBSCRIPTIONS, Subscription

SERVICE_CLASSES = {
    "intake": "labornet_intake.service:IntakeService",
    "routing": "labornet_routing.service:RoutingService",
    "registry": "labornet_registry.service:RegistryService",
    "notify": "labornet_notify.service:NotifyService",
}


def handlers_of(path: str) -> set[Subscription]:
    """Every ``@event_handler`` of a service class, as table entries."""
    module, name = path.split(":")
    cls = getattr(importlib.import_module(module), name)
    found = set()
    for method_name, method in inspect.getmembers(cls, inspect.isfunction):
        for entrypoint in getattr(method, "nameko_entrypoints", ()):
            if not isinstance(entrypoint, EventHandler):
                continue  # HTTP, RPC, timers
            assert isinstance(entrypoint, ReliableEventHandler), (
                f"{cls.name}.{method_name} uses nameko's own event_handler"
            )
            found.add(
                Subscription(
                    entrypoint.source_service,
                    entrypoint.event_type,
                    cls.name,
                    method_name,
                )
            )
    return found


@pytest.mark.parametrize("service", sorted(SERVICE_CLASSES))
def test_each_service_handles_exactly_what_the_table_says(service: str) -> None:
    expected = {s for s in SUBSCRIPTIONS if s.service == service}
    assert handlers_of(SERVICE_CLASSES[service]) == expected


def test_the_table_names_the_queues_as_nameko_does() -> None:
    assert len(set(SUBSCRIPTIONS)) == len(SUBSCRIPTIONS)
    [entry] = [
        s
        for s in SUBSCRIPTIONS
        if (s.service, s.method) == ("routing", "on_case_received")
    ]
    assert entry.queue == "evt-intake-case_received--routing.on_case_received"
    assert entry.exchange == "intake.events"
