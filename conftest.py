"""Shared test fixtures and factories: the test kit's harness and each
service's fixtures (``testkit/labornet_testkit``)."""

pytest_plugins = [
    "labornet_testkit.harness",
    "labornet_testkit.intake",
    "labornet_testkit.registry",
    "labornet_testkit.routing",
    "labornet_testkit.notify",
]
