"""Small screening lexicons for tests: the categories and terms a test is
about, under the settings every test lexicon shares."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

#: the settings of a test lexicon unless a test names its own
SETTINGS: dict[str, object] = {
    "scale": 2.0,
    "min_score": 0.5,
    "relative": 0.6,
    "max_labels": 4,
    "negation_window": 2,
    "fallback": "general_inquiry",
}


def lexicon_yaml(
    body: str, *, negations: Iterable[str] = (), **settings: object
) -> str:
    """A lexicon's YAML text: :data:`SETTINGS` with ``settings`` over them,
    the ``negations``, then ``body`` (its ``categories:`` and anything else
    the test needs, e.g. ``ignore:``)."""
    lines = ["settings:"]
    lines += [f"  {key}: {value}" for key, value in {**SETTINGS, **settings}.items()]
    listed = list(negations)
    if listed:
        lines.append(f"negations: [{', '.join(listed)}]")
    return "\n".join(lines) + "\n" + textwrap.dedent(body).lstrip("\n")
