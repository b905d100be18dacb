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
