"""Shared test fixtures and factories: labornet_shared.testing and each
service's ``testing`` module."""

pytest_plugins = [
    "labornet_shared.testing",
    "labornet_intake.testing",
    "labornet_registry.testing",
    "labornet_routing.testing",
    "labornet_notify.testing",
]
