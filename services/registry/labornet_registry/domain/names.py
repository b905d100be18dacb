"""A field agent's id and names, and the keys a name search looks them up by."""

from __future__ import annotations

import re
from typing import Any

from labornet_shared.ids import new_time_ordered_id


def new_agent_id(now_ns: int | None = None) -> str:
    """A time-ordered UUID (version 7): registration order, nothing guessable."""
    return new_time_ordered_id(now_ns)


_NAME_NOISE = re.compile(r"[\s.\-'’]+")


def normalise_name(text: str) -> str:
    """A name as search compares it: lower case, no spaces, dots or dashes."""
    return _NAME_NOISE.sub("", text).casefold()


def name_keys(agent: dict[str, Any]) -> set[str]:
    """The keys an agent is found under by prefix.

    The last name alone and the whole name run together, in Thai and in
    Latin script, because Thai is typed without spaces ("สมชายใจ" → สมชาย
    ใจดี). The first name needs no key of its own: every prefix of it is a
    prefix of the whole name (a third fewer rows for a national import).
    """
    first_th, last_th = agent["first_name_th"], agent["last_name_th"]
    first_en, last_en = agent.get("first_name_en"), agent.get("last_name_en")
    keys = {normalise_name(last_th), normalise_name(first_th + last_th)}
    if first_en and last_en:
        keys.update((normalise_name(last_en), normalise_name(first_en + last_en)))
    else:
        keys.update(normalise_name(name) for name in (first_en, last_en) if name)
    return {key[:200] for key in keys if key}


def search_terms(text: str) -> list[str]:
    """The prefixes a free-text query asks for: each word, normalised."""
    return [t for t in (normalise_name(w) for w in text.split()) if t][:5]


def full_name(first: str | None, last: str | None) -> str | None:
    """First and last name as one, or None when neither is known."""
    names = [name for name in (first, last) if name]
    return " ".join(names) or None
