"""When to try a delivery: the quiet hours (Bangkok) an SMS waits out, and
the backoff between attempts.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")
#: no SMS between these hours (Bangkok) except escalations: they wait
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)


def parse_quiet_hours(text: str | None) -> tuple[time, time] | None:
    """``"21:00-08:00"`` → (21:00, 08:00); empty → no quiet hours."""
    if not text or not str(text).strip():
        return None
    start, _, end = str(text).partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def quiet_until(
    moment: datetime, hours: tuple[time, time] | None = (QUIET_FROM, QUIET_UNTIL)
) -> datetime | None:
    """The end of the quiet hours ``moment`` falls in (None: not quiet)."""
    if hours is None:
        return None
    begin, end = hours
    local = moment.astimezone(BANGKOK)
    now = local.time()
    quiet = (begin <= now or now < end) if begin > end else (begin <= now < end)
    if not quiet:
        return None
    day = local.date() if now < end else local.date() + timedelta(1)
    return datetime.combine(day, end, tzinfo=BANGKOK).astimezone(UTC)


def backoff(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before the next attempt: exponential, capped, with full jitter
    above half (so senders that failed together do not retry together)."""
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + rng.random() * ceiling / 2
