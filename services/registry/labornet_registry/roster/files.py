"""A roster file's table of cells: XLSX read from its first sheet, CSV in
whatever encoding and delimiter Excel on Thai Windows wrote."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from labornet_registry.roster.sheet import RosterFileError
from labornet_registry.roster.text import clean

_XLSX_MAGIC = b"PK\x03\x04"
# Old binary .xls files and password-protected workbooks are OLE containers.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"


def _read_xlsx(data: bytes) -> list[list[object]]:
    # openpyxl only for spreadsheets: importing it costs a CSV import 0.1 s
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=True
        )
    except Exception as exc:  # a broken workbook fails in many ways
        raise RosterFileError(
            "unreadable", "the file is not a readable XLSX workbook"
        ) from exc
    try:
        if not workbook.worksheets:
            raise RosterFileError("empty", "the workbook has no worksheet")
        sheet = workbook.worksheets[0]
        # Some programs write a wrong sheet size; without this the read-only
        # reader would cut rows or columns off.
        reset = getattr(sheet, "reset_dimensions", None)
        if reset is not None:
            reset()
        return [
            [clean(v) if isinstance(v, str) else v for v in row]
            for row in sheet.iter_rows(values_only=True)
        ]
    except RosterFileError:
        raise
    except Exception as exc:
        raise RosterFileError(
            "unreadable", "the XLSX workbook is damaged and cannot be read"
        ) from exc
    finally:
        workbook.close()


def _utf16(data: bytes) -> str | None:
    """The encoding of UTF-16 text (Excel's "Unicode Text" export), if it is."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    # Without a BOM, ASCII headers show as every other byte zero.
    if data[1:2] == b"\x00" and data[3:4] == b"\x00":
        return "utf-16-le"
    if data[0:1] == b"\x00" and data[2:3] == b"\x00":
        return "utf-16-be"
    return None


def _decode(data: bytes) -> str:
    utf16 = _utf16(data)
    if utf16 is not None:
        try:
            return data.decode(utf16)
        except UnicodeDecodeError:
            pass
    elif b"\x00" in data:
        raise RosterFileError(
            "unreadable", "the file has binary content: it is not a CSV text file"
        )
    else:
        for encoding in ("utf-8-sig", "cp874"):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                continue
    raise RosterFileError(
        "encoding",
        "the CSV file is neither UTF-8 nor Windows-874 (TIS-620); "
        "save it again as CSV UTF-8",
    )


def _delimiter(text: str) -> str:
    """The delimiter of the first non-empty line: comma, semicolon or tab.

    Excel writes semicolons in locales whose decimal mark is a comma, and
    tabs for "Unicode Text".
    """
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(data: bytes) -> list[list[object]]:
    text = _decode(data)
    # Clean the invisible characters once for the whole file, not per cell.
    for mark, replacement in (("\ufeff", ""), ("\u200b", ""), ("\u00a0", " ")):
        text = text.replace(mark, replacement)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
        return [list(row) for row in reader]
    except csv.Error as exc:
        raise RosterFileError(
            "unreadable", f"the CSV file cannot be read ({exc})"
        ) from exc


def read_table(data: bytes, filename: str) -> list[list[object]]:
    """The file's rows of cells, by its extension or, failing that, content.

    Raises:
        RosterFileError: an empty, unreadable or unsupported file.
    """
    suffix = Path(filename).suffix.lower()
    if not data.replace(b"\xef\xbb\xbf", b"").strip():
        raise RosterFileError("empty", "the file is empty")
    if data.startswith(_OLE_MAGIC) or suffix == ".xls":
        raise RosterFileError(
            "unsupported_format",
            "old Excel .xls files and password-protected workbooks cannot be "
            "read; save the roster as .xlsx or CSV",
        )
    if suffix in (".xlsx", ".xlsm") or data.startswith(_XLSX_MAGIC):
        return _read_xlsx(data)
    return _read_csv(data)
