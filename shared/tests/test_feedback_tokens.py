"""Feedback links: short enough for an SMS, bound to one case, single-use by
their id, and never a bearer token."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from labornet_shared.tokens import (
    ExpiredToken,
    InvalidToken,
    issue_feedback_token,
    issue_token,
    verify_feedback_token,
    verify_token,
)

SECRET = "test-secret-0123456789abcdef0123456789"
REFERENCE = "LN-2569-00001234"


def test_a_link_names_its_case_and_expires_in_30_days():
    before = datetime.now(UTC)
    token = issue_feedback_token(SECRET, REFERENCE)
    claim = verify_feedback_token(SECRET, token)
    assert claim.reference == REFERENCE
    assert re.fullmatch(r"[0-9a-f]{16}", claim.token_id)
    lifetime = claim.expires_at - before
    assert timedelta(days=30) - timedelta(seconds=2) <= lifetime
    assert lifetime <= timedelta(days=30) + timedelta(seconds=2)


def test_a_link_fits_an_sms_and_a_url():
    token = issue_feedback_token(SECRET, REFERENCE, timedelta(days=30))
    assert re.fullmatch(r"[A-Za-z0-9_-]{44}", token)


def test_every_link_has_its_own_id():
    ids = {
        verify_feedback_token(SECRET, issue_feedback_token(SECRET, REFERENCE)).token_id
        for _ in range(50)
    }
    assert len(ids) == 50


def test_an_expired_link_is_told_apart():
    token = issue_feedback_token(SECRET, REFERENCE, timedelta(minutes=-1))
    with pytest.raises(ExpiredToken):
        verify_feedback_token(SECRET, token)
    # still valid a moment before it expires
    later = datetime.now(UTC) + timedelta(days=29)
    fresh = issue_feedback_token(SECRET, REFERENCE)
    assert verify_feedback_token(SECRET, fresh, now=later).reference == REFERENCE
    with pytest.raises(ExpiredToken):
        verify_feedback_token(SECRET, fresh, now=later + timedelta(days=2))


def test_a_link_signed_with_another_secret_fails():
    token = issue_feedback_token("another-secret-0123456789abcdef01234", REFERENCE)
    with pytest.raises(InvalidToken) as raised:
        verify_feedback_token(SECRET, token)
    assert not isinstance(raised.value, ExpiredToken)


def test_any_changed_character_fails():
    token = issue_feedback_token(SECRET, REFERENCE)
    for position in range(len(token)):
        swapped = "B" if token[position] == "A" else "A"
        changed = token[:position] + swapped + token[position + 1 :]
        with pytest.raises(InvalidToken):
            verify_feedback_token(SECRET, changed)


def test_another_spelling_of_the_same_bytes_fails():
    token = issue_feedback_token(SECRET, REFERENCE)
    while "-" not in token and "_" not in token:
        token = issue_feedback_token(SECRET, REFERENCE)
    respelled = token.replace("-", "+").replace("_", "/")
    with pytest.raises(InvalidToken):
        verify_feedback_token(SECRET, respelled)


@pytest.mark.parametrize(
    "garbage", ["", "abc", "x" * 44, "ก" * 44, "x" * 45, None, 44], ids=repr
)
def test_garbage_fails(garbage):
    with pytest.raises(InvalidToken):
        verify_feedback_token(SECRET, garbage)


def test_a_link_and_a_bearer_token_are_never_each_other():
    with pytest.raises(InvalidToken):
        verify_token(SECRET, issue_feedback_token(SECRET, REFERENCE))
    with pytest.raises(InvalidToken):
        verify_feedback_token(SECRET, issue_token(SECRET, "operator"))


@pytest.mark.parametrize("reference", ["LN-2569-1234", "2569-00001234", ""])
def test_a_link_needs_a_case_reference(reference):
    with pytest.raises(ValueError):
        issue_feedback_token(SECRET, reference)
