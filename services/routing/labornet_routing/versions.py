"""Changing a referral's state safely while other requests, routing
instances and SLA checks change it too.

Two rules, the same on SQLite and PostgreSQL:

* a change of a case's referrals first bumps the case's ``version`` with an
  UPDATE: the row lock it takes (PostgreSQL) or the database's write lock
  (SQLite) makes concurrent changes of one case wait for each other, and
  what is read after it is the committed state, so a case is never closed
  twice or forgotten, and a withdrawal sees every referral;
* a referral's state changes only with a compare-and-set on its
  ``version`` (``UPDATE ... WHERE id = ? AND version = ?``, rowcount
  checked): a change made from a state that is gone changes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from labornet_routing.models import Referral, RoutedCase


def lock_case(session: Session, reference: str) -> bool:
    """Take the case for this transaction; False if there is no such case.

    Everything the session holds is expired, so what is read next is what
    the previous holder committed.
    """
    result: Any = session.execute(
        update(RoutedCase)
        .where(RoutedCase.reference == reference)
        .values(version=RoutedCase.version + 1)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return bool(result.rowcount)


def compare_and_set(
    session: Session,
    referral: Referral,
    seen_version: int,
    *conditions: Any,
    **values: Any,
) -> bool:
    """Set ``values`` on the referral if it is still at ``seen_version``
    (and meets ``conditions``).

    Returns False (nothing changed) when another change came first. The
    referral object is reloaded either way.
    """
    result: Any = session.execute(
        update(Referral)
        .where(
            Referral.id == referral.id, Referral.version == seen_version, *conditions
        )
        .values(version=Referral.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(referral)
    return bool(result.rowcount)
