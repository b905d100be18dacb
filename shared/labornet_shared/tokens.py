"""Signed bearer tokens with scopes (JWT, HS256, secret LABORNET_TOKEN_SECRET).

Scopes: ``operator``; ``agent`` (one field agent, ``agent_id``); ``agency``
(one agency, ``agency``, optionally one province, ``province``).

Also the links in notify's messages, never bearer tokens: the citizen's
feedback link (:func:`issue_feedback_token`, :func:`verify_feedback_token`)
and a field agent's case link (:func:`issue_case_link_token`,
:func:`verify_case_link_token`), each signed with a key of its own.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import re
import secrets
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from labornet_shared.categories import AGENCIES
from labornet_shared.reference.case_reference import (
    format_case_reference,
    parse_case_reference,
)

SCOPES = ("operator", "agent", "agency", "open311")
ISSUER = "labornet"

#: The longest a token of each scope may live (``exp`` - ``iat``), unless
#: config says otherwise (``TOKEN_MAX_HOURS_<SCOPE>``): an operator sees every
#: citizen's data, so a working day; a field agent's app re-logs monthly; an
#: agency's or an Open311 app's system key, a year.
DEFAULT_MAX_LIFETIMES: dict[str, timedelta] = {
    "operator": timedelta(hours=12),
    "agent": timedelta(days=30),
    "agency": timedelta(days=365),
    "open311": timedelta(days=365),
}


def token_lifetimes(config: Mapping[str, Any]) -> dict[str, timedelta]:
    """Each scope's longest lifetime: config's ``TOKEN_MAX_HOURS_<SCOPE>``,
    else :data:`DEFAULT_MAX_LIFETIMES`."""
    lifetimes = dict(DEFAULT_MAX_LIFETIMES)
    for scope in SCOPES:
        hours = config.get(f"TOKEN_MAX_HOURS_{scope.upper()}")
        if hours not in (None, ""):
            lifetimes[scope] = timedelta(hours=float(hours))
    return lifetimes


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
    ttl: timedelta | None = None,
) -> str:
    """Sign a token for ``scope``, valid for ``ttl`` (default: the scope's
    longest lifetime); raises ValueError for an incoherent one. Every token
    expires: the services refuse one without ``exp``."""
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
    claims["exp"] = int((now + (ttl or DEFAULT_MAX_LIFETIMES[scope])).timestamp())
    for key, value in (
        ("agent_id", agent_id),
        ("agency", agency),
        ("province", province),
    ):
        if value is not None:
            claims[key] = value
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(
    secret: str,
    token: str,
    max_lifetimes: Mapping[str, timedelta] = DEFAULT_MAX_LIFETIMES,
) -> Principal:
    """Check signature, issuer, expiry and coherence; return who the token
    speaks for. Refused (:class:`InvalidToken`): a token without ``exp`` or
    ``iat``, one whose lifetime exceeds its scope's in ``max_lifetimes``, an
    agent token without its agent, an agency token without a known agency."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["iss", "scope", "sub", "exp", "iat"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from exc
    scope = claims.get("scope")
    if scope not in SCOPES:
        raise InvalidToken("unknown scope")
    lifetime = timedelta(seconds=claims["exp"] - claims["iat"])
    if lifetime > max_lifetimes.get(scope, DEFAULT_MAX_LIFETIMES[scope]):
        raise InvalidToken("lifetime")
    if scope == "agent" and not claims.get("agent_id"):
        raise InvalidToken("agent")
    if scope == "agency" and claims.get("agency") not in AGENCIES:
        raise InvalidToken("agency")
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


def _purpose_mac(secret: str, purpose: str, fields: bytes, size: int) -> bytes:
    # a key of its own per purpose, derived from the token secret: no other
    # token's signature can ever pass for this one's
    key = hmac.new(secret.encode(), f"labornet:{purpose}".encode(), "sha256")
    return hmac.new(key.digest(), fields, "sha256").digest()[:size]


def _feedback_mac(secret: str, fields: bytes) -> bytes:
    purpose = f"{FEEDBACK_SCOPE}:v{_FEEDBACK_VERSION}"
    return _purpose_mac(secret, purpose, fields, _FEEDBACK_MAC_BYTES)


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


# --- a field agent's case link --------------------------------------------------

#: A case link speaks for one agent reading one case on intake's page
#: ``/a/<reference>``, nothing else: not in SCOPES, so no API takes it.
CASE_LINK_SCOPE = "case_link"
CASE_LINK_TTL = timedelta(days=14)

# kind of agent id, Buddhist-era year, case number, expiry (Unix seconds);
# then the agent id (16 bytes for a UUID, as registry's are; else its UTF-8,
# at most 64 bytes) and a truncated HMAC-SHA256. With a UUID: 42 bytes, 56
# URL-safe characters. Not single-use: an agent opens the link many times.
_CASE_LINK_FIELDS = struct.Struct(">BHII")
_CASE_LINK_UUID = 1
_CASE_LINK_TEXT = 2
_CASE_LINK_MAC_BYTES = 15
_CASE_LINK_MAX_AGENT = 64
_CASE_LINK_MIN = _CASE_LINK_FIELDS.size + 1 + _CASE_LINK_MAC_BYTES
_CASE_LINK_MAX = _CASE_LINK_FIELDS.size + _CASE_LINK_MAX_AGENT + _CASE_LINK_MAC_BYTES
# base64url without padding
_CASE_LINK_SHAPE = re.compile(
    rf"[A-Za-z0-9_-]{{{(4 * _CASE_LINK_MIN + 2) // 3},{(4 * _CASE_LINK_MAX + 2) // 3}}}"
)


@dataclass(frozen=True)
class CaseLinkToken:
    """What a valid case link says: which agent may read which case, until
    when."""

    reference: str
    agent_id: str
    expires_at: datetime


def _case_link_mac(secret: str, signed: bytes) -> bytes:
    return _purpose_mac(secret, f"{CASE_LINK_SCOPE}:v1", signed, _CASE_LINK_MAC_BYTES)


def _packed_agent(agent_id: str) -> tuple[int, bytes]:
    """(kind, bytes) of an agent id: a canonical UUID in 16 bytes."""
    with contextlib.suppress(ValueError):
        if str(uuid.UUID(agent_id)) == agent_id:
            return _CASE_LINK_UUID, uuid.UUID(agent_id).bytes
    packed = agent_id.encode("utf-8")
    if not 1 <= len(packed) <= _CASE_LINK_MAX_AGENT:
        raise ValueError(f"an agent id is 1 to {_CASE_LINK_MAX_AGENT} bytes")
    return _CASE_LINK_TEXT, packed


def _unpacked_agent(kind: int, packed: bytes) -> str:
    if kind == _CASE_LINK_UUID and len(packed) == 16:
        return str(uuid.UUID(bytes=packed))
    if kind == _CASE_LINK_TEXT:
        with contextlib.suppress(UnicodeDecodeError):
            return packed.decode("utf-8")
    raise InvalidToken("agent")


def issue_case_link_token(
    secret: str, reference: str, agent_id: str, ttl: timedelta = CASE_LINK_TTL
) -> str:
    """A token for agent ``agent_id`` to open case ``reference`` on intake's
    page, valid for ``ttl`` (14 days) however often it is used: URL-safe, 56
    characters for a UUID agent id. ValueError for a malformed reference or
    an empty or overlong agent id."""
    parsed = parse_case_reference(reference)
    if parsed is None:
        raise ValueError("a case link needs a case reference LN-YYYY-NNNNNNNN")
    if not isinstance(agent_id, str):
        raise ValueError("an agent id is text")
    kind, agent = _packed_agent(agent_id)
    expires = int((datetime.now(UTC) + ttl).timestamp())
    signed = (
        _CASE_LINK_FIELDS.pack(
            kind, parsed[0], parsed[1], min(max(expires, 0), 2**32 - 1)
        )
        + agent
    )
    raw = signed + _case_link_mac(secret, signed)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def verify_case_link_token(
    secret: str, token: str, now: datetime | None = None
) -> CaseLinkToken:
    """Check a case link's signature, then its expiry. Raises
    :class:`InvalidToken` (malformed, forged, another secret or purpose) or
    :class:`ExpiredToken` (genuine but too late)."""
    if not isinstance(token, str) or not _CASE_LINK_SHAPE.fullmatch(token):
        raise InvalidToken("format")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError as exc:  # a length no bytes have
        raise InvalidToken("format") from exc
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != token:
        raise InvalidToken("format")  # another spelling of the same bytes
    signed, mac = raw[:-_CASE_LINK_MAC_BYTES], raw[-_CASE_LINK_MAC_BYTES:]
    if len(signed) <= _CASE_LINK_FIELDS.size or not hmac.compare_digest(
        mac, _case_link_mac(secret, signed)
    ):
        raise InvalidToken("signature")
    fields, agent = signed[: _CASE_LINK_FIELDS.size], signed[_CASE_LINK_FIELDS.size :]
    kind, be_year, number, expires = _CASE_LINK_FIELDS.unpack(fields)
    agent_id = _unpacked_agent(kind, agent)
    expires_at = datetime.fromtimestamp(expires, UTC)
    if (now or datetime.now(UTC)) >= expires_at:
        raise ExpiredToken("expired")
    return CaseLinkToken(
        reference=format_case_reference(be_year, number),
        agent_id=agent_id,
        expires_at=expires_at,
    )
