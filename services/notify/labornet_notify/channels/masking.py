"""The forms of recipients' addresses notify stores and logs: enough to tell
two recipients apart in a list, not enough to write to them.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from labornet_shared.reference.phone import mask_phone


def mask_email(address: str) -> str:
    """``somchai.j@gmail.com`` gives ``s***@g***.com``: enough to tell two
    recipients apart in a list, not enough to write to them."""
    local, _, domain = address.strip().rpartition("@")
    if not local or not domain:
        return "***"
    name, dot, tld = domain.rpartition(".")
    masked_domain = f"{name[:1]}***.{tld}" if dot and name else f"{domain[:1]}***"
    return f"{local[:1]}***@{masked_domain}"


def mask_line_id(user_id: str) -> str:
    """``U4af4980629...`` gives ``U…29ab``: the kind letter and the last four."""
    user_id = user_id.strip()
    if len(user_id) < 8:
        return "U…"
    return f"{user_id[0]}…{user_id[-4:]}"


def mask_webhook_url(url: str) -> str:
    """Scheme, host and port only: paths and queries may hold tokens."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"
    except ValueError:
        return "…"


def mask_recipient(kind: str, address: str) -> str:
    """The form of a recipient's address notify stores and logs.

    Phone numbers use ``labornet_shared``'s :func:`mask_phone`
    (``+66 8x xxx 5678``).
    """
    maskers: dict[str, Callable[[str], str]] = {
        "sms": mask_phone,
        "line": mask_line_id,
        "email": mask_email,
        "webhook": mask_webhook_url,
    }
    try:
        return maskers[kind](address)
    except KeyError:
        raise ValueError(f"unknown channel kind {kind!r}") from None
