"""Reading a roster file: the table, its header, then every row."""

from __future__ import annotations

from labornet_registry.roster.files import read_table
from labornet_registry.roster.header import (
    check_columns,
    find_header,
    is_blank,
    is_second_header,
)
from labornet_registry.roster.rows import RowReader, data_rows
from labornet_registry.roster.sheet import Roster, RosterRow


def read_roster(data: bytes, filename: str) -> Roster:
    """Read and validate a roster file (CSV or XLSX).

    The format comes from the file name's extension (``.csv``, ``.xlsx``) or,
    failing that, from the content (an XLSX file is a zip starting ``PK``).
    CSV may be UTF-8 (with or without BOM) or Windows-874/TIS-620, separated
    by commas, semicolons or tabs; XLSX is read from its first sheet.

    The header row (the first non-empty row, after at most two title rows)
    names the columns in English or Thai in any order; unknown columns are
    ignored, and a second header row right below (as in the template) is
    skipped, as are blank rows. Every row is validated and every problem
    reported (see the module's error codes in the issue); valid rows become
    the agent input shape.

    Raises:
        RosterFileError: when the file is not a roster at all (``empty``,
            ``encoding``, ``unreadable``, ``unsupported_format``,
            ``no_header``, ``missing_columns``).
    """
    table = read_table(data, filename)
    header_index, mapping = find_header(table)
    check_columns(mapping)
    start = header_index + 1
    while start < len(table) and is_blank(table[start]):
        start += 1
    if start < len(table) and is_second_header(table[start], mapping):
        start += 1

    reader = RowReader()
    roster = Roster(rows=[], errors=[], rejected=[])
    for number, cells in data_rows(table, start, mapping):
        agent, errors = reader.read(number, cells)
        if errors:
            roster.errors.extend(errors)
            roster.rejected.append({"row": str(number), **cells})
        else:
            roster.rows.append(RosterRow(row=number, agent=agent, cells=cells))
    return roster
