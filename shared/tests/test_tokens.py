"""Signed bearer tokens: every scope, and every way a token must fail."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import jwt
import pytest

from labornet_shared.tokens import (
    InvalidToken,
    Principal,
    issue_token,
    token_lifetimes,
    verify_token,
)

SECRET = "test-secret-0123456789abcdef0123456789"


def test_operator_token() -> None:
    principal = verify_token(SECRET, issue_token(SECRET, "operator", name="nok"))
    assert principal == Principal(scope="operator", subject="nok")
    assert principal.is_operator


def test_agent_token_carries_its_agent() -> None:
    principal = verify_token(SECRET, issue_token(SECRET, "agent", agent_id="A-725"))
    assert principal.scope == "agent"
    assert principal.agent_id == "A-725"
    assert principal.agency is None and principal.province is None
    assert not principal.is_operator


def test_agency_token_with_and_without_province() -> None:
    whole = verify_token(SECRET, issue_token(SECRET, "agency", agency="sso"))
    assert (whole.scope, whole.agency, whole.province) == ("agency", "sso", None)
    lampang = verify_token(
        SECRET, issue_token(SECRET, "agency", agency="sso", province="TH-52")
    )
    assert (lampang.agency, lampang.province) == ("sso", "TH-52")
    assert not lampang.is_operator


def test_open311_token() -> None:
    assert verify_token(SECRET, issue_token(SECRET, "open311")).scope == "open311"


@pytest.mark.parametrize(
    ("scope", "kwargs"),
    [
        ("root", {}),
        ("agent", {}),
        ("agency", {}),
        ("agency", {"agency": "fbi"}),
        ("operator", {"province": "TH-52"}),
        ("agent", {"agent_id": "A-1", "province": "TH-52"}),
    ],
    ids=[
        "unknown-scope",
        "agent-without-id",
        "agency-without-code",
        "unknown-agency",
        "operator-province",
        "agent-province",
    ],
)
def test_incoherent_scopes_are_refused(scope: str, kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        issue_token(SECRET, scope, **kwargs)


def test_tampered_token_fails() -> None:
    token = issue_token(SECRET, "agency", agency="sso", province="TH-52")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "operator"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    with pytest.raises(InvalidToken):
        verify_token(SECRET, f"{header}.{forged.decode()}.{signature}")


def test_expired_token_fails() -> None:
    token = issue_token(SECRET, "operator", ttl=timedelta(seconds=-120))
    with pytest.raises(InvalidToken):
        verify_token(SECRET, token)


def test_wrong_secret_fails() -> None:
    token = issue_token("another-secret-0123456789abcdef01234", "operator")
    with pytest.raises(InvalidToken):
        verify_token(SECRET, token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x.y.z"])
def test_garbage_fails(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(SECRET, garbage)


def test_unsigned_token_fails() -> None:
    token = jwt.encode(
        {"iss": "labornet", "scope": "operator", "sub": "x"}, None, algorithm="none"
    )
    with pytest.raises(InvalidToken):
        verify_token(SECRET, token)


def test_foreign_issuer_or_scope_fails() -> None:
    other_issuer = jwt.encode(
        {"iss": "someone-else", "scope": "operator", "sub": "x"},
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(InvalidToken):
        verify_token(SECRET, other_issuer)
    bad_scope = jwt.encode(
        {"iss": "labornet", "scope": "root", "sub": "x"}, SECRET, algorithm="HS256"
    )
    with pytest.raises(InvalidToken):
        verify_token(SECRET, bad_scope)


# --- loose tokens (issue 13): no expiry, no known agency, too long a life ----


def signed(**claims: object) -> str:
    """A token signed with the right secret, with exactly these claims (one
    given as None is left out)."""
    now = int(time.time())
    base: dict[str, object] = {"iss": "labornet", "iat": now, "exp": now + 3600}
    payload = {k: v for k, v in {**base, **claims}.items() if v is not None}
    return jwt.encode(payload, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": "operator", "sub": "x", "exp": None},
        {"scope": "operator", "sub": "x", "iat": None},
        {"scope": "agency", "sub": "x"},
        {"scope": "agency", "sub": "x", "agency": "fbi"},
        {"scope": "agency", "sub": "x", "agency": ""},
        {"scope": "agent", "sub": "x"},
    ],
    ids=[
        "no-expiry",
        "no-issued-at",
        "agency-without-agency",
        "unknown-agency",
        "empty-agency",
        "agent-without-agent",
    ],
)
def test_loose_tokens_are_refused(claims: dict[str, object]) -> None:
    with pytest.raises(InvalidToken):
        verify_token(SECRET, signed(**claims))


@pytest.mark.parametrize(
    ("scope", "claims", "longest"),
    [
        ("operator", {}, timedelta(hours=12)),
        ("agent", {"agent_id": "A-1"}, timedelta(days=30)),
        ("agency", {"agency": "sso"}, timedelta(days=365)),
        ("open311", {}, timedelta(days=365)),
    ],
)
def test_each_scope_lives_at_most_its_cap(
    scope: str, claims: dict[str, str], longest: timedelta
) -> None:
    now = int(time.time())
    at_cap = signed(
        scope=scope, sub="x", exp=now + int(longest.total_seconds()), **claims
    )
    assert verify_token(SECRET, at_cap).scope == scope
    beyond = signed(
        scope=scope, sub="x", exp=now + int(longest.total_seconds()) + 60, **claims
    )
    with pytest.raises(InvalidToken):
        verify_token(SECRET, beyond)
    # issued without a ttl, a token gets its scope's cap
    issued = issue_token(SECRET, scope, **claims)
    payload = jwt.decode(issued, SECRET, algorithms=["HS256"], issuer="labornet")
    assert payload["exp"] - payload["iat"] == int(longest.total_seconds())


def test_the_caps_come_from_config() -> None:
    lifetimes = token_lifetimes({"TOKEN_MAX_HOURS_OPERATOR": "1"})
    assert lifetimes["operator"] == timedelta(hours=1)
    assert lifetimes["agency"] == timedelta(days=365)
    two_hours = issue_token(SECRET, "operator", ttl=timedelta(hours=2))
    assert verify_token(SECRET, two_hours).is_operator
    with pytest.raises(InvalidToken):
        verify_token(SECRET, two_hours, lifetimes)
