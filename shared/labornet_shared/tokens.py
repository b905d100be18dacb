"""Signed bearer tokens with scopes (JWT, HS256, secret LABORNET_TOKEN_SECRET).

Scopes: ``operator``; ``agent`` (one field agent, ``agent_id``); ``agency``
(one agency, ``agency``, optionally one province, ``province``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from labornet_shared.categories import AGENCIES

SCOPES = ("operator", "agent", "agency", "open311")
ISSUER = "labornet"


class InvalidToken(ValueError):
    """The token is malformed, forged, expired or not for labornet."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the token says."""

    scope: str
    subject: str
    agent_id: str | None = None
    agency: str | None = None
    province: str | None = None

    @property
    def is_operator(self) -> bool:
        """Operators see everything and are not rate-limited."""
        return self.scope == "operator"


def issue_token(
    secret: str,
    scope: str,
    *,
    agent_id: str | None = None,
    agency: str | None = None,
    province: str | None = None,
    name: str | None = None,
    ttl: timedelta | None = timedelta(days=365),
) -> str:
    """Sign a token for ``scope``; raises ValueError for an incoherent one."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if scope == "agent" and not agent_id:
        raise ValueError("an agent token needs --agent-id")
    if scope == "agency" and agency not in AGENCIES:
        raise ValueError(
            f"an agency token needs --agency, one of {', '.join(AGENCIES)}"
        )
    if province is not None and scope != "agency":
        raise ValueError("--province only narrows an agency token")
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "jti": uuid.uuid4().hex,
        "scope": scope,
        "sub": name or agent_id or agency or scope,
    }
    if ttl is not None:
        claims["exp"] = int((now + ttl).timestamp())
    for key, value in (
        ("agent_id", agent_id),
        ("agency", agency),
        ("province", province),
    ):
        if value is not None:
            claims[key] = value
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str) -> Principal:
    """Check signature, issuer and expiry; return who the token speaks for."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["iss", "scope", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from exc
    if claims.get("scope") not in SCOPES:
        raise InvalidToken("unknown scope")
    return Principal(
        scope=claims["scope"],
        subject=str(claims["sub"]),
        agent_id=claims.get("agent_id"),
        agency=claims.get("agency"),
        province=claims.get("province"),
    )
