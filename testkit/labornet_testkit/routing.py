"""pytest fixtures that run routing for tests (loaded by the root conftest).

The factories of the events routing consumes are in
:mod:`labornet_testkit.events`, re-exported here.
"""

from __future__ import annotations

from labornet_testkit.events import agent_event as agent_event
from labornet_testkit.events import case_received_event as case_received_event
from labornet_testkit.events import referral_issued_event as referral_issued_event
from labornet_testkit.harness import service_fixtures

routing_db, routing_config, start_routing, routing_api = service_fixtures(
    "routing", "labornet_routing.service:RoutingService", SLA_CHECK_SECONDS=3600
)
