"""The fault suite's counting rule for citizens' SMS (no services needed):
a missing notice is lost unless notify recorded it ``interrupted`` and the
gateway never took it (then it is listed for operators, as the issue asks);
a repeated text is a double either way."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "bench")]

from fault_suite.reconcile import _compare  # noqa: E402


def test_a_missing_sms_is_lost_unless_notify_listed_it_interrupted() -> None:
    expected = Counter({"66810000001": 3, "66810000002": 2})
    received = {"66810000001": ["a", "b"], "66810000002": ["c"]}
    assert _compare(expected, received, {}) == (2, 0, 3, 0)
    # the second citizen's missing notice was recorded interrupted
    listed = {"66810000002": 1}
    assert _compare(expected, received, listed) == (1, 0, 3, 0)


def test_an_interrupted_row_excuses_no_double() -> None:
    expected = Counter({"66810000001": 2})
    received = {"66810000001": ["a", "a"]}
    # one notice shown twice: one lost, one doubled, whatever is listed
    assert _compare(expected, received, {}) == (1, 1, 2, 0)
    lost, doubled, _, _ = _compare(expected, received, {"66810000001": 1})
    assert (lost, doubled) == (0, 1)


def test_a_case_referred_twice_to_one_office_is_doubled() -> None:
    """And so is one rejected referral replaced twice."""
    from fault_suite.reconcile import referral_doubles

    # (id, case_reference, agency, status, replaces, office, escalated_from)
    clean = [
        ("r1", "C1", "dlpw", "rejected", None, "dlpw-10", None),
        ("r2", "C1", "sso", "pending", None, "sso-10", None),
        ("r3", "C1", "dlpw", "pending", "r1", "dlpw-11", None),
        ("r4", "C2", "dlpw", "pending", None, "dlpw-10", None),
        ("r5", "C2", "dlpw", "pending", None, "dlpw-20", "r4"),  # an escalation
    ]
    first, replacing = referral_doubles(clean)
    assert (first.expected, first.found, first.doubled) == (3, 3, 0)
    assert (replacing.expected, replacing.found, replacing.doubled) == (1, 1, 0)
    twice = [
        *clean,
        ("r6", "C1", "dlpw", "pending", None, "dlpw-10", None),
        ("r7", "C1", "dlpw", "pending", "r1", "dlpw-12", None),
    ]
    first, replacing = referral_doubles(twice)
    assert (first.doubled, first.ok) == (1, False)
    assert (replacing.doubled, replacing.ok) == (1, False)
