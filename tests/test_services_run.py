"""``nameko run labornet_<service>.service`` — what `make run`, the
Dockerfiles and docker-compose start — finds exactly that service's class.

nameko serves every class with entrypoints in the module it is given; a mixin
imported by name (the shared probes) would be taken for a second service and
refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nameko.cli.run import import_service

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(path.parent.name for path in ROOT.glob("services/*/config.yml"))


@pytest.mark.parametrize("service", SERVICES)
def test_nameko_run_finds_exactly_the_service(service: str) -> None:
    found = import_service(f"labornet_{service}.service")
    assert [cls.name for cls in found] == [service]
