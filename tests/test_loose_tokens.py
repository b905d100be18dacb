"""A running service answers a loose bearer token 401 problem+json.

issue 13: a token without ``exp`` was accepted forever, and agency tokens
naming no agency, or one that does not exist, were accepted. Each scope also
has a longest lifetime (config ``TOKEN_MAX_HOURS_<SCOPE>``).
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from labornet_shared.tokens import issue_token

HOUR = 3600


def signed(secret: str, **claims: Any) -> str:
    """A token signed with the service's own secret, these claims exactly
    (one given as None is left out)."""
    now = int(time.time())
    base: dict[str, Any] = {"iss": "labornet", "sub": "x", "iat": now}
    payload = {k: v for k, v in {**base, **claims}.items() if v is not None}
    return jwt.encode(payload, secret, algorithm="HS256")


LOOSE = {
    "operator-without-expiry": {"scope": "operator"},
    "operator-without-issued-at": {"scope": "operator", "iat": None, "exp": HOUR},
    "operator-for-13-hours": {"scope": "operator", "exp": 13 * HOUR},
    "agency-without-agency": {"scope": "agency", "exp": HOUR},
    "agency-unknown": {"scope": "agency", "agency": "fbi", "exp": HOUR},
    "agency-for-366-days": {"scope": "agency", "agency": "sso", "exp": 366 * 24 * HOUR},
    "agent-without-agent": {"scope": "agent", "exp": HOUR},
    "agent-for-31-days": {"scope": "agent", "agent_id": "A-1", "exp": 31 * 24 * HOUR},
}


@pytest.mark.parametrize("kind", sorted(LOOSE))
def test_a_loose_token_gets_401(
    kind: str, registry_api: Any, registry_config: dict[str, Any]
) -> None:
    claims = dict(LOOSE[kind])
    if claims.get("exp"):  # relative to now
        claims["exp"] += int(time.time())
    token = signed(registry_config["TOKEN_SECRET"], **claims)
    answer = registry_api.get(
        "/v1/agents", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 401, answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json()["code"] == "invalid_token"


def test_a_token_within_its_cap_is_accepted(
    registry_api: Any, registry_config: dict[str, Any]
) -> None:
    token = issue_token(registry_config["TOKEN_SECRET"], "operator")
    answer = registry_api.get(
        "/v1/agents", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text


def test_the_cap_is_configurable(start_registry: Any, registry_config: Any) -> None:
    token = issue_token(registry_config["TOKEN_SECRET"], "operator")  # 12 hours
    with start_registry(TOKEN_MAX_HOURS_OPERATOR=1) as api:
        answer = api.get("/v1/agents", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401, answer.text
