"""The rejected rows of a roster, as a CSV the operator fixes and imports again."""

from __future__ import annotations

import csv
import io

from labornet_registry.roster.columns import NAMES
from labornet_registry.roster.sheet import Roster
from labornet_shared.csvcells import safe_cell


def rejected_rows_csv(roster: Roster) -> bytes:
    """The rejected rows as a CSV for the operator to download and fix.

    UTF-8 with BOM so that Excel shows Thai; columns ``row``, the 17 roster
    columns by English name, then ``errors`` ("column: detail; ..."). The
    file can be fixed and imported again: ``row`` and ``errors`` are not
    roster columns, so the reader ignores them.
    """
    by_row: dict[int, list[str]] = {}
    for error in roster.errors:
        text = f"{error.column}: {error.detail}" if error.column else error.detail
        by_row.setdefault(error.row, []).append(text)
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["row", *NAMES, "errors"])
    for rejected in roster.rejected:
        problems = "; ".join(by_row.get(int(rejected["row"]), []))
        writer.writerow(
            [
                rejected["row"],
                *(safe_cell(rejected.get(name, "")) for name in NAMES),
                safe_cell(problems),
            ]
        )
    return out.getvalue().encode("utf-8-sig")
