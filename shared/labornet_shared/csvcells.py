"""Cells of the CSV files the platform writes, safe to open in a spreadsheet.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
run as a formula by Excel and LibreOffice (OWASP "CSV injection"): an agent's
own ``=HYPERLINK(...)`` would run on the operator's machine, next to national
IDs. Such a cell gets a leading single quote, which spreadsheets show as
text. A plain number (``+66 81 234 5678``, ``-12.5``) is left as it is: it
runs nothing and must read back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9 ().\-]*")


def safe_cell(value: Any) -> Any:
    """``value``, quoted if a spreadsheet would run it as a formula."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_START)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    """A ``csv.writer`` row with every cell made safe."""
    return [safe_cell(value) for value in row]


def safe_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``csv.DictWriter`` row with every cell made safe."""
    return {name: safe_cell(value) for name, value in row.items()}
