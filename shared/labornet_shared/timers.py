"""A nameko timer whose interval comes from the service's config."""

from __future__ import annotations

from typing import Any

from nameko.timer import Timer


class ConfigTimer(Timer):
    """``@every("SLA_CHECK_SECONDS", default=30)``: nameko's ``timer`` with its
    interval read from config at setup, so operators tune it per deployment.
    The unit of work of each run commits when it returns (``worker_result``).
    """

    def __init__(self, config_key: str, default: float, **kwargs: Any) -> None:
        self.config_key = config_key
        self.default = default
        super().__init__(interval=default, eager=False, **kwargs)

    def setup(self) -> None:
        """Read the interval."""
        self.interval = float(self.container.config.get(self.config_key, self.default))
        super().setup()


every = ConfigTimer.decorator
