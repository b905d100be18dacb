"""A token bucket per provider, so a burst of messages goes out at the
provider's rate rather than failing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class RateLimiter:
    """A token bucket per provider: ``rate_per_second`` sustained, ``burst``
    at once.

    :meth:`acquire` *reserves* a token and sleeps until its turn, so a burst
    of 10,000 messages is spread out at the provider's rate rather than
    failed, and waiters go in the order they asked. Safe across threads and
    green threads (a lock around the arithmetic; the sleep is outside it).
    ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate_per_second)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now

    def acquire(self, timeout: float | None = None) -> bool:
        """Wait for a token; ``False`` (and nothing taken) if the wait would
        exceed ``timeout`` seconds."""
        with self._lock:
            self._refill()
            wait = max(0.0, (1.0 - self._tokens) / self.rate)
            if timeout is not None and wait > timeout:
                return False
            # Reserve now: the tokens may go negative, and the next caller
            # then waits behind this one.
            self._tokens -= 1.0
        if wait > 0:
            self._sleep(wait)
        return True

    def try_acquire(self) -> bool:
        """Take a token if one is there now, without waiting."""
        return self.acquire(timeout=0.0)
