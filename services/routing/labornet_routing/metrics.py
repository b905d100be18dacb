"""routing's Prometheus metrics: referrals open and overdue, by agency and
province, counted from routing's database when Prometheus scrapes (served on
``/metrics`` with the others).

Open: pending, accepted or in progress. Overdue: open with its clock run out
— a pending referral past ``due_accept_at``, an accepted or in-progress one
past ``due_resolve_at`` (:func:`labornet_routing.domain.sla.is_overdue`).
At most one series per agency and province (a few hundred), never a case.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection

from labornet_routing.domain.referrals import OPEN_STATUSES
from labornet_routing.models import Referral
from labornet_shared.clock import utc_now
from labornet_shared.metrics import DatabaseCollector, Source
from labornet_shared.web import ScrapedDatabase


def count_referrals(
    conn: Connection, now: Any = None
) -> dict[tuple[str, str], tuple[int, int]]:
    """(agency, province) → (open, overdue) over the open referrals."""
    now = now or utc_now()
    table = Referral.__table__
    overdue = or_(
        and_(table.c.status == "pending", table.c.due_accept_at <= now),
        and_(
            table.c.status.in_(("accepted", "in_progress")),
            table.c.due_resolve_at <= now,
        ),
    )
    rows = conn.execute(
        select(
            table.c.agency,
            table.c.province_code,
            func.count(),
            func.sum(case((overdue, 1), else_=0)),
        )
        .where(table.c.status.in_(OPEN_STATUSES))
        .group_by(table.c.agency, table.c.province_code)
    ).all()
    return {
        (agency, province): (int(count), int(late or 0))
        for agency, province, count, late in rows
    }


class ReferralCollector(DatabaseCollector):
    """``labornet_referrals_open`` and ``labornet_referrals_overdue``."""

    name = "referrals"

    def families(self) -> dict[str, GaugeMetricFamily]:
        """The two gauges, by agency and province."""
        return {
            "open": GaugeMetricFamily(
                "labornet_referrals_open",
                "Referrals pending, accepted or in progress",
                labels=["agency", "province"],
            ),
            "overdue": GaugeMetricFamily(
                "labornet_referrals_overdue",
                "Open referrals whose accept or resolve clock has run out",
                labels=["agency", "province"],
            ),
        }

    def measure(
        self, conn: Connection, source: Source
    ) -> Iterable[tuple[str, tuple[str, ...], float]]:
        """One grouped count over the open referrals."""
        for (agency, province), (count, late) in count_referrals(conn).items():
            yield "open", (agency, province), float(count)
            yield "overdue", (agency, province), float(late)


#: the one referral collector of this process
REFERRALS = ReferralCollector()


def referral_metrics() -> ScrapedDatabase:
    """The extension that has routing's database measured while it runs."""
    return ScrapedDatabase(REFERRALS, database_attr="db")
