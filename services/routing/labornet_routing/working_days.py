"""SLA clocks in working days: Saturdays, Sundays and Thai public holidays
do not count.

Days are counted in Bangkok time, where the offices work: a referral made on
Friday at 16:00 with two working days to accept is due on Tuesday at 16:00
(Monday at 16:00 if it were made on Thursday). A referral made on a day off
starts counting from the next working day.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib.resources import files
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")


def is_working_day(day: date, holidays: Collection[date]) -> bool:
    """Monday to Friday, and not a public holiday."""
    return day.weekday() < 5 and day not in holidays


def add_working_days(
    start: datetime, days: int, holidays: Collection[date]
) -> datetime:
    """The moment ``days`` working days after ``start`` (same time of day).

    ``start`` must be timezone-aware; the answer is in UTC.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    local = start.astimezone(BANGKOK)
    day = local.date()
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day, holidays):
            remaining -= 1
    moment = datetime.combine(day, local.timetz())
    return moment.astimezone(UTC)


def working_days_between(
    start: datetime, end: datetime, holidays: Collection[date]
) -> int:
    """Whole working days from ``start``'s day to ``end``'s day (Bangkok)."""
    first = start.astimezone(BANGKOK).date()
    last = end.astimezone(BANGKOK).date()
    count = 0
    day = first
    while day < last:
        day += timedelta(days=1)
        if is_working_day(day, holidays):
            count += 1
    return count


@cache
def packaged_holidays() -> tuple[tuple[date, str], ...]:
    """The holiday table shipped in ``data/holidays.csv`` (date, name)."""
    text = (
        files("labornet_routing")
        .joinpath("data", "holidays.csv")
        .read_text(encoding="utf-8")
    )
    return tuple(
        (date.fromisoformat(row["date"]), row["name"])
        for row in csv.DictReader(io.StringIO(text))
    )
