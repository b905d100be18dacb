"""Domain modules import SQLAlchemy and plain Python only: no broker, no
framework, no network client.

Each module of the table is imported alone in a fresh interpreter (this test
process has them all loaded already), which must then hold none of the
transport's modules. Add a service's domain modules to the table as they
become transport-free.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

#: what a domain module must not bring in, directly or through another
TRANSPORT = ("nameko", "kombu", "eventlet", "amqp", "requests", "smtplib")

#: modules that domain code imports, each kept free of :data:`TRANSPORT`
DOMAIN_MODULES = [
    "labornet_shared.outbox",
    "labornet_shared.outbox.table",
    "labornet_shared.inbox",
    "labornet_shared.unit_of_work",
    "labornet_shared.lease",
    "labornet_shared.clock",
    "labornet_shared.model_base",
    "labornet_shared.events",
    "labornet_shared.written_language",
    # each service's rules and state changes
    "labornet_intake.domain",
    "labornet_intake.models",
    "labornet_notify.domain",
    "labornet_notify.models",
    "labornet_routing.domain",
    "labornet_routing.models",
    "labornet_registry.domain",
    "labornet_registry.models",
]

_CHECK = """
import importlib, sys
importlib.import_module(sys.argv[1])
forbidden = set(sys.argv[2:])
print(" ".join(sorted(
    name for name in sys.modules if name.split(".")[0] in forbidden
)))
"""


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_imports_no_transport(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CHECK, module, *TRANSPORT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [], (
        f"importing {module} brings in {result.stdout.strip()}"
    )


def test_outbox_transport_names_still_importable() -> None:
    """The relay's names load on first use from the package, as before."""
    from labornet_shared.outbox import (
        BatchRefused,
        ConfirmingPublisher,
        OutboxRelay,
        Relay,
        RelayLoop,
        publish_all,
        relay_settings,
    )
    from labornet_shared.outbox.extension import OutboxRelay as FromExtension
    from labornet_shared.outbox.publisher import BatchRefused as FromPublisher
    from labornet_shared.outbox.relay import Relay as FromRelay

    assert OutboxRelay is FromExtension
    assert BatchRefused is FromPublisher
    assert Relay is FromRelay
    assert callable(publish_all) and callable(relay_settings)
    assert ConfirmingPublisher and RelayLoop


def test_inbox_names_still_importable_from_the_consumer() -> None:
    import labornet_shared.consumer as consumer
    import labornet_shared.failures as failures
    import labornet_shared.inbox as inbox

    assert consumer.apply_once is inbox.apply_once
    assert consumer.processed_events_table is inbox.processed_events_table
    assert consumer.PrerequisiteMissing is inbox.PrerequisiteMissing
    assert failures.PrerequisiteMissing is inbox.PrerequisiteMissing
