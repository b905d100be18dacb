"""A field agent's case links: one agent, one case, 14 days, as often as the
agent opens it; short enough for an SMS, and no other token passes for one."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from labornet_shared.tokens import (
    ExpiredToken,
    InvalidToken,
    issue_case_link_token,
    issue_feedback_token,
    issue_token,
    verify_case_link_token,
    verify_feedback_token,
    verify_token,
)

SECRET = "test-secret-0123456789abcdef0123456789"
REFERENCE = "LN-2569-00001234"
AGENT = "0192f3a4-5b6c-7d8e-9f01-23456789abcd"  # registry's ids: UUIDs


def test_a_link_names_its_case_and_agent_for_14_days_and_is_reusable():
    before = datetime.now(UTC)
    token = issue_case_link_token(SECRET, REFERENCE, AGENT)
    claims = [verify_case_link_token(SECRET, token) for _ in range(3)]
    assert claims[0] == claims[1] == claims[2]  # not single-use
    assert (claims[0].reference, claims[0].agent_id) == (REFERENCE, AGENT)
    lifetime = claims[0].expires_at - before
    assert timedelta(days=14) - timedelta(seconds=2) <= lifetime
    assert lifetime <= timedelta(days=14) + timedelta(seconds=2)


def test_a_uuid_agent_packs_into_56_url_safe_characters():
    assert re.fullmatch(
        r"[A-Za-z0-9_-]{56}", issue_case_link_token(SECRET, REFERENCE, AGENT)
    )


@pytest.mark.parametrize(
    "agent_id",
    ["agent-001", "A", "อสร-ลำปาง-7", "x" * 64, AGENT.upper(), str(uuid.uuid4())],
)
def test_any_agent_id_comes_back_as_it_was_given(agent_id):
    token = issue_case_link_token(SECRET, REFERENCE, agent_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert verify_case_link_token(SECRET, token).agent_id == agent_id


@pytest.mark.parametrize(
    ("reference", "agent_id"),
    [("LN-2569-1234", AGENT), ("", AGENT), (REFERENCE, ""), (REFERENCE, "x" * 65)],
)
def test_a_link_needs_a_case_and_an_agent(reference, agent_id):
    with pytest.raises(ValueError):
        issue_case_link_token(SECRET, reference, agent_id)


def test_an_expired_link_is_told_apart():
    with pytest.raises(ExpiredToken):
        verify_case_link_token(
            SECRET, issue_case_link_token(SECRET, REFERENCE, AGENT, timedelta(-1))
        )
    token = issue_case_link_token(SECRET, REFERENCE, AGENT)
    later = datetime.now(UTC) + timedelta(days=13)
    assert verify_case_link_token(SECRET, token, now=later).agent_id == AGENT
    with pytest.raises(ExpiredToken):
        verify_case_link_token(SECRET, token, now=later + timedelta(days=2))


def test_a_forged_link_fails_and_is_not_called_expired():
    token = issue_case_link_token(
        "another-secret-0123456789abcdef01234", REFERENCE, AGENT
    )
    with pytest.raises(InvalidToken) as raised:
        verify_case_link_token(SECRET, token)
    assert not isinstance(raised.value, ExpiredToken)
    # any changed character: another agent, case or expiry, or a broken MAC
    genuine = issue_case_link_token(SECRET, REFERENCE, "agent-001")
    for position in range(len(genuine)):
        swapped = "B" if genuine[position] == "A" else "A"
        with pytest.raises(InvalidToken):
            verify_case_link_token(
                SECRET, genuine[:position] + swapped + genuine[position + 1 :]
            )


def test_another_purposes_token_never_passes():
    link = issue_case_link_token(SECRET, REFERENCE, AGENT)
    for other in (
        issue_feedback_token(SECRET, REFERENCE),
        issue_token(SECRET, "agent", agent_id=AGENT),
    ):
        with pytest.raises(InvalidToken):
            verify_case_link_token(SECRET, other)
    with pytest.raises(InvalidToken):
        verify_feedback_token(SECRET, link)
    with pytest.raises(InvalidToken):
        verify_token(SECRET, link)


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "x" * 56, "ก" * 56, "x" * 57, "=" * 56, "x" * 200, None, 56],
    ids=repr,
)
def test_malformed_links_fail(garbage):
    with pytest.raises(InvalidToken):
        verify_case_link_token(SECRET, garbage)


def test_padded_or_respelled_links_fail():
    token = issue_case_link_token(SECRET, REFERENCE, "agent-001")  # 47 characters
    for respelled in (token + "=", token.replace("-", "+").replace("_", "/")):
        if respelled != token:
            with pytest.raises(InvalidToken):
                verify_case_link_token(SECRET, respelled)
