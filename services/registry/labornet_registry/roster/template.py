"""The empty roster provinces fill in, and the explanation of its columns."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from labornet_registry.roster.columns import COLUMNS, NAMES, Column

if TYPE_CHECKING:  # openpyxl only when a template is written
    from openpyxl import Workbook
    from openpyxl.styles import Font


def _requirement(column: Column) -> str:
    if column.required:
        return "required"
    if column.name in ("province_code", "abroad_country"):
        return "required: province_code in Thailand or abroad_country abroad"
    return "optional"


def _requirement_th(column: Column) -> str:
    if column.required:
        return "ต้องกรอก"
    if column.name in ("province_code", "abroad_country"):
        return "ต้องกรอกจังหวัด (ในประเทศ) หรือประเทศ (ต่างประเทศ)"
    return "ไม่บังคับ"


def explain_columns() -> list[tuple[str, str, str, str]]:
    """Each column as (English name, Thai header, requirement, meaning).

    The meaning has English, then Thai, then an example, for the CLI's
    ``template`` help table.
    """
    return [
        (
            c.name,
            c.header_th,
            _requirement(c),
            f"{c.meaning_en} / {c.meaning_th} (e.g. {c.example})",
        )
        for c in COLUMNS
    ]


# Columns Excel must keep as typed: IDs and phones lose leading zeros and
# turn into 1.1E+12, and a Buddhist-era date becomes a date 543 years ahead.
_TEXT_COLUMNS = (
    "national_id",
    "phone",
    "province_code",
    "district",
    "subdistrict",
    "start_date",
    "term_end",
)


def write_template(path: Path) -> None:
    """Write an empty roster template for provinces to fill in.

    ``.xlsx``: the first sheet has the English column names in row 1 and the
    Thai headers in row 2 (both are read as headers); the second sheet,
    "คำอธิบาย (explanation)", explains each column. ``.csv``: the two header
    rows only, UTF-8 with BOM.

    Raises:
        ValueError: for any other extension.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    english = list(NAMES)
    thai = [c.header_th for c in COLUMNS]
    if suffix == ".csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        writer.writerows([english, thai])
        path.write_bytes(out.getvalue().encode("utf-8-sig"))
        return
    if suffix != ".xlsx":
        raise ValueError(f"a template is .xlsx or .csv, not {suffix or 'no extension'}")

    import openpyxl
    from openpyxl.styles import Font

    workbook = openpyxl.Workbook()
    bold = Font(bold=True)
    _roster_sheet(workbook, english, thai, bold)
    _explanation_sheet(workbook, bold)
    workbook.save(path)


def _roster_sheet(
    workbook: Workbook, english: list[str], thai: list[str], bold: Font
) -> None:
    """The first sheet: both header rows, frozen, the code columns as text."""
    from openpyxl.utils import get_column_letter

    sheet = workbook.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = "roster"
    sheet.append(english)
    sheet.append(thai)
    for position, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(position)
        sheet.column_dimensions[letter].width = max(14, len(column.header_th) + 4)
        if column.name in _TEXT_COLUMNS:
            sheet.column_dimensions[letter].number_format = "@"
        for row in (1, 2):
            sheet.cell(row=row, column=position).font = bold
    sheet.freeze_panes = "A3"


def _explanation_sheet(workbook: Workbook, bold: Font) -> None:
    """The second sheet: each column's header, requirement, meaning, example."""
    explanation = workbook.create_sheet("คำอธิบาย (explanation)")
    explanation.append(
        [
            "column",
            "หัวคอลัมน์ (Thai header)",
            "จำเป็น (required)",
            "ความหมาย",
            "meaning",
            "ตัวอย่าง (example)",
        ]
    )
    for column in COLUMNS:
        explanation.append(
            [
                column.name,
                column.header_th,
                f"{_requirement_th(column)} ({_requirement(column)})",
                column.meaning_th,
                column.meaning_en,
                column.example,
            ]
        )
    for cell in explanation[1]:
        cell.font = bold
    for letter, width in zip("ABCDEF", (16, 22, 30, 60, 60, 20), strict=True):
        explanation.column_dimensions[letter].width = width
