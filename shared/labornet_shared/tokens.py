"""Signed bearer tokens with scopes (JWT, HS256, secret LABORNET_TOKEN_SECRET).

Scopes: ``operator``; ``agent`` (one field agent, ``agent_id``); ``agency``
(one agency, ``agency``, optionally one province, ``province``).

Also the citizen's feedback links (scope ``feedback``, never a bearer token):
:func:`issue_feedback_token` and :func:`verify_feedback_token`.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from labornet_shared.categories import AGENCIES
from labornet_shared.reference.case_reference import (
    format_case_reference,
    parse_case_reference,
)

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


# --- the citizen's feedback link ------------------------------------------------

#: A feedback token speaks for one case's feedback form, nothing else: it is
#: not in SCOPES, so no API takes it as a bearer token.
FEEDBACK_SCOPE = "feedback"
FEEDBACK_TTL = timedelta(days=30)

# version, Buddhist-era year, case number, expiry (Unix seconds), token id;
# then a truncated HMAC-SHA256. 33 bytes are 44 URL-safe characters: a link
# in a Thai SMS (67 characters a part) cannot carry a JWT's ~280.
_FEEDBACK_FIELDS = struct.Struct(">BHIIQ")
_FEEDBACK_VERSION = 1
_FEEDBACK_MAC_BYTES = 14
_FEEDBACK_BYTES = _FEEDBACK_FIELDS.size + _FEEDBACK_MAC_BYTES
# base64url without padding, and only that: "+" or "/" would decode too and
# give one token several spellings
_FEEDBACK_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{4 * _FEEDBACK_BYTES // 3}}}")


class ExpiredToken(InvalidToken):
    """A genuine token whose time ran out."""


@dataclass(frozen=True)
class FeedbackToken:
    """What a valid feedback token says."""

    reference: str
    #: 16 hex digits, unique per token: what makes it single-use
    token_id: str
    expires_at: datetime


def _feedback_mac(secret: str, fields: bytes) -> bytes:
    # a key of its own, derived from the token secret: no other token's
    # signature can ever pass for a feedback token's
    purpose = f"labornet:{FEEDBACK_SCOPE}:v{_FEEDBACK_VERSION}".encode()
    key = hmac.new(secret.encode(), purpose, "sha256").digest()
    return hmac.new(key, fields, "sha256").digest()[:_FEEDBACK_MAC_BYTES]


def issue_feedback_token(
    secret: str, reference: str, ttl: timedelta = FEEDBACK_TTL
) -> str:
    """A single-use token for the feedback form of case ``reference``, valid
    for ``ttl`` (30 days): URL-safe, 44 characters. ValueError for a malformed
    reference."""
    parsed = parse_case_reference(reference)
    if parsed is None:
        raise ValueError("a feedback token needs a case reference LN-YYYY-NNNNNNNN")
    expires = int((datetime.now(UTC) + ttl).timestamp())
    fields = _FEEDBACK_FIELDS.pack(
        _FEEDBACK_VERSION,
        parsed[0],
        parsed[1],
        min(max(expires, 0), 2**32 - 1),
        secrets.randbits(64),
    )
    raw = fields + _feedback_mac(secret, fields)
    return base64.urlsafe_b64encode(raw).decode("ascii")


def verify_feedback_token(
    secret: str, token: str, now: datetime | None = None
) -> FeedbackToken:
    """Check a feedback token's signature, then its expiry. Raises
    :class:`InvalidToken` (malformed, forged, another secret) or
    :class:`ExpiredToken` (genuine but too late)."""
    if not isinstance(token, str) or not _FEEDBACK_SHAPE.fullmatch(token):
        raise InvalidToken("format")
    raw = base64.urlsafe_b64decode(token)
    fields, mac = raw[: _FEEDBACK_FIELDS.size], raw[_FEEDBACK_FIELDS.size :]
    if not hmac.compare_digest(mac, _feedback_mac(secret, fields)):
        raise InvalidToken("signature")
    version, be_year, number, expires, token_id = _FEEDBACK_FIELDS.unpack(fields)
    if version != _FEEDBACK_VERSION:
        raise InvalidToken("version")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if (now or datetime.now(UTC)) >= expires_at:
        raise ExpiredToken("expired")
    return FeedbackToken(
        reference=format_case_reference(be_year, number),
        token_id=f"{token_id:016x}",
        expires_at=expires_at,
    )
