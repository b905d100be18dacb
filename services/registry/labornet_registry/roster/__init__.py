"""Provincial rosters of field agents: read, validate, explain, template.

Provinces send their field agents as spreadsheets made by hand: CSV saved by
Excel on Thai Windows (Windows-874), UTF-8 with or without a BOM, or XLSX;
headers in English or Thai, in any order; places as codes or as the names a
provincial office writes (``จ.ลำปาง``, ``อ.เมือง``, ``ต.หัวเวียง``); dates in
the Buddhist era or Gregorian. :func:`read_roster` turns such a file into
agents in the agent input shape and reports every problem of every row with
the spreadsheet row number the operator sees, so that one pass fixes the
whole file.

Nothing here touches a database or the broker; the importer and the seed use
it, and the seed writes the same CSV format this package reads.

Error details are English sentences for operators. They may quote place
names, kinds and dates, but never a national ID, a phone number or an email:
those are personal data and details end up in terminals and downloaded files.
"""

from __future__ import annotations

from labornet_registry.roster.columns import COLUMNS, Column
from labornet_registry.roster.reader import read_roster
from labornet_registry.roster.rejected import rejected_rows_csv
from labornet_registry.roster.sheet import (
    Roster,
    RosterFileError,
    RosterRow,
    RowError,
    Suggestion,
)
from labornet_registry.roster.template import explain_columns, write_template

__all__ = [
    "COLUMNS",
    "Column",
    "Roster",
    "RosterFileError",
    "RosterRow",
    "RowError",
    "Suggestion",
    "explain_columns",
    "read_roster",
    "rejected_rows_csv",
    "write_template",
]
