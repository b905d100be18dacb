"""What ``labornet … --help`` shows in the column of an option's value.

Typer shows each parameter's Python type there: ``<bool>`` beside a flag,
as if ``--json`` took a value; ``<list[str]>`` for "one or more"; ``<int
range>`` for a bounded number (whose bounds it prints beside anyway). Here a
flag shows nothing, a list its item's type, a range its number's.
The services' own command groups (``labornet registry``) get the same help.
"""

from __future__ import annotations

import re
from typing import Any

LIST = re.compile(r"^<list\[(?P<item>.+)\]>(\.\.\.)?$")
RANGE = re.compile(r"^<(?P<number>\w+) range>$")


def readable(label: str | None, param: Any) -> str | None:
    """The value column for ``param`` given typer's ``label`` for it."""
    if label is None or getattr(param, "metavar", None) is not None:
        return label  # a metavar the command chose is shown as it is
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    if match := LIST.match(label):
        # an argument's name already ends in "..."
        return f"<{match['item']}>"
    if match := RANGE.match(label):
        return f"<{match['number']}>"
    return label


def install() -> None:
    """Make typer's help use :func:`readable` (called once, by ``main``)."""
    from typer.core import TyperArgument, TyperOption

    for cls in (TyperOption, TyperArgument):
        shown = cls.display_type_rich
        if getattr(shown, "readable", False):
            continue

        def display_type_rich(self: Any, ctx: Any, _shown: Any = shown) -> str | None:
            return readable(_shown(self, ctx), self)

        display_type_rich.readable = True  # type: ignore[attr-defined]
        cls.display_type_rich = display_type_rich  # type: ignore[method-assign]
