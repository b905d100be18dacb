"""The header row: found under up to two title rows, its cells mapped to the
roster's columns, the required columns checked."""

from __future__ import annotations

from collections.abc import Sequence

from labornet_registry.roster.columns import (
    BY_NAME,
    COLUMNS,
    PLACE_COLUMNS,
    REQUIRED,
)
from labornet_registry.roster.sheet import RosterFileError
from labornet_registry.roster.text import cell_text, header_key


def _build_header_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for column in COLUMNS:
        for header in (column.name, column.header_th, *column.aliases):
            key = header_key(header)
            if index.setdefault(key, column.name) != column.name:
                raise AssertionError(f"header {header!r} names two columns")
    return index


# header key -> English column name, for every name, Thai header and alias
_HEADERS = _build_header_index()

# Rows above the header that a province may put there (a title such as
# "รายชื่ออาสาสมัครแรงงาน จังหวัดลำปาง"); more than this and it is no roster.
_TITLE_ROWS_MAX = 2


def is_blank(cells: Sequence[object]) -> bool:
    """Whether every cell of a row is empty."""
    return all(cell_text(v, "") == "" for v in cells)


def _header_mapping(cells: Sequence[object]) -> dict[int, str]:
    """Cell position -> English column name; the first of duplicates wins."""
    mapping: dict[int, str] = {}
    for position, value in enumerate(cells):
        if not isinstance(value, str):
            continue
        name = _HEADERS.get(header_key(value))
        if name is not None and name not in mapping.values():
            mapping[position] = name
    return mapping


def find_header(table: list[list[object]]) -> tuple[int, dict[int, str]]:
    """(index in table, mapping) of the header row."""
    title_rows = 0
    for index, cells in enumerate(table):
        if is_blank(cells):
            continue
        mapping = _header_mapping(cells)
        if mapping:
            return index, mapping
        title_rows += 1
        if title_rows > _TITLE_ROWS_MAX:
            break
    raise RosterFileError(
        "no_header",
        "no header row found: the first row must name the columns in English "
        "or Thai (kind/ประเภท, first_name_th/ชื่อ, ...); see the template",
    )


def is_second_header(cells: Sequence[object], mapping: dict[int, str]) -> bool:
    """Whether a row repeats the header (the template's Thai row, say)."""
    filled = 0
    headers = 0
    for position, name in mapping.items():
        value = cells[position] if position < len(cells) else None
        if cell_text(value, name) == "":
            continue
        filled += 1
        if isinstance(value, str) and _HEADERS.get(header_key(value)) == name:
            headers += 1
    return headers > 0 and headers * 2 >= filled


def check_columns(mapping: dict[int, str]) -> None:
    """The required columns, and one for where agents work, are all there.

    Raises:
        RosterFileError: ``missing_columns``, naming them.
    """
    present = set(mapping.values())
    missing = [name for name in REQUIRED if name not in present]
    if not present.intersection(PLACE_COLUMNS):
        missing.append("province_code")
    if not missing:
        return
    described = ", ".join(f"{name} ({BY_NAME[name].header_th})" for name in missing)
    if "province_code" in missing:
        described += " (or abroad_country (ประเทศ) for agents abroad)"
    raise RosterFileError(
        "missing_columns", f"the roster lacks required columns: {described}", missing
    )
