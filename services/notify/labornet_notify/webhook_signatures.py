"""Standard Webhooks secrets and signatures: a subscription's ``whsec_``
secret, and the headers that sign one request with it.

Plain Python (no network): the domain generates a subscription's secret
here, the webhook channel signs with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as secrets_module
from collections.abc import Sequence

WEBHOOK_SECRET_PREFIX = "whsec_"


def generate_webhook_secret(size: int = 32) -> str:
    """A new Standard Webhooks secret: ``whsec_`` + base64 of random bytes."""
    key = secrets_module.token_bytes(size)
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def _secret_key(secret: str) -> bytes:
    encoded = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret must be whsec_ + base64") from exc
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def sign_webhook(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: str | bytes
) -> dict[str, str]:
    """Standard Webhooks headers for one request.

    ``webhook-signature`` holds ``v1,<base64 HMAC-SHA256>`` over
    ``{msg_id}.{timestamp}.{body}`` for each secret, space-separated: while
    a secret is rotated both are valid and the receiver accepts either.
    ``timestamp`` is in seconds since the epoch.
    """
    if not secrets:
        raise ValueError("at least one webhook secret is needed")
    if isinstance(body, str):
        body = body.encode("utf-8")
    signed = f"{msg_id}.{int(timestamp)}.".encode() + body
    signatures = [
        "v1,"
        + base64.b64encode(
            hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
        ).decode("ascii")
        for secret in secrets
    ]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(signatures),
    }
