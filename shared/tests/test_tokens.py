"""Signed bearer tokens: every scope, and every way a token must fail."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from labornet_shared.tokens import InvalidToken, Principal, issue_token, verify_token

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
