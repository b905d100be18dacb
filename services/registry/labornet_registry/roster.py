"""Provincial rosters of field agents: read, validate, explain, template.

Provinces send their field agents as spreadsheets made by hand: CSV saved by
Excel on Thai Windows (Windows-874), UTF-8 with or without a BOM, or XLSX;
headers in English or Thai, in any order; places as codes or as the names a
provincial office writes (``จ.ลำปาง``, ``อ.เมือง``, ``ต.หัวเวียง``); dates in
the Buddhist era or Gregorian. :func:`read_roster` turns such a file into
agents in the agent input shape (see DESIGN.md and the registry issue) and
reports every problem of every row with the spreadsheet row number the
operator sees, so that one pass fixes the whole file.

Nothing here touches a database or the broker; the importer and the seed use
it, and the seed writes the same CSV format this module reads.

Error details are English sentences for operators. They may quote place
names, kinds and dates, but never a national ID, a phone number or an email:
those are personal data and details end up in terminals and downloaded files.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any

import geothai

from labornet_shared.categories import AGENT_LANGUAGES
from labornet_shared.csvcells import safe_cell
from labornet_shared.reference.calendar import parse_thai_date, to_gregorian_year
from labornet_shared.reference.countries import validate_country
from labornet_shared.reference.errors import ReferenceError
from labornet_shared.reference.geography import provinces as province_infos
from labornet_shared.reference.national_id import validate_national_id
from labornet_shared.reference.phone import normalize_phone

__all__ = [
    "COLUMNS",
    "Column",
    "Roster",
    "RosterFileError",
    "RosterRow",
    "RowError",
    "explain_columns",
    "read_roster",
    "rejected_rows_csv",
    "write_template",
]


# --- the columns ---------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One roster column: its English name, Thai header and what it holds.

    ``aliases`` are other headers provincial spreadsheets use for it; headers
    are compared without case, spaces, ``_``, ``-``, ``.`` or ``*``.
    """

    name: str
    header_th: str
    required: bool
    meaning_th: str
    meaning_en: str
    example: str
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column(
        "kind",
        "ประเภท",
        True,
        "ประเภทเครือข่าย: บัณฑิตแรงงาน หรือ อาสาสมัครแรงงาน (อสร.)",
        "Kind of field agent: labour_graduate (บัณฑิตแรงงาน) or "
        "labour_volunteer (อาสาสมัครแรงงาน, อสร.)",
        "อาสาสมัครแรงงาน",
        ("ประเภทเครือข่าย", "ประเภทอาสาสมัคร", "agent kind", "type"),
    ),
    Column(
        "first_name_th",
        "ชื่อ",
        True,
        "ชื่อภาษาไทย ไม่ต้องมีคำนำหน้า",
        "First name in Thai, without a title",
        "สมชาย",
        ("ชื่อ (ไทย)", "ชื่อภาษาไทย", "ชื่อจริง"),
    ),
    Column(
        "last_name_th",
        "นามสกุล",
        True,
        "นามสกุลภาษาไทย",
        "Last name in Thai",
        "ใจดี",
        ("นามสกุล (ไทย)", "นามสกุลภาษาไทย", "สกุล"),
    ),
    Column(
        "first_name_en",
        "ชื่อ (อังกฤษ)",
        False,
        "ชื่อภาษาอังกฤษ (ถ้ามี)",
        "First name in English (optional)",
        "Somchai",
        ("ชื่อภาษาอังกฤษ",),
    ),
    Column(
        "last_name_en",
        "นามสกุล (อังกฤษ)",
        False,
        "นามสกุลภาษาอังกฤษ (ถ้ามี)",
        "Last name in English (optional)",
        "Jaidee",
        ("นามสกุลภาษาอังกฤษ",),
    ),
    Column(
        "national_id",
        "เลขประจำตัวประชาชน",
        True,
        "เลขประจำตัวประชาชน 13 หลัก (มีขีดคั่นได้)",
        "Thai national ID, 13 digits (dashes allowed)",
        "1-1017-00230-70-8",
        (
            "เลขบัตรประชาชน",
            "เลขบัตรประจำตัวประชาชน",
            "เลขประจำตัวประชาชน 13 หลัก",
            "national id",
            "citizen id",
        ),
    ),
    Column(
        "phone",
        "เบอร์โทรศัพท์",
        False,
        "เบอร์โทรศัพท์มือถือ; ในต่างประเทศขึ้นต้นด้วย + และรหัสประเทศ",
        "Mobile phone; a number abroad starts with + and the country code",
        "081-234-5678",
        ("เบอร์โทร", "โทรศัพท์", "เบอร์มือถือ", "มือถือ", "phone number", "mobile"),
    ),
    Column(
        "email",
        "อีเมล",
        False,
        "อีเมล (ถ้ามี)",
        "Email address (optional)",
        "somchai@example.com",
        ("อีเมล์", "e-mail"),
    ),
    Column(
        "line_user_id",
        "ไลน์ไอดี",
        False,
        "ไอดีไลน์ (ถ้ามี)",
        "LINE ID (optional)",
        "somchai.j",
        ("ไอดีไลน์", "ไลน์", "line id", "line"),
    ),
    Column(
        "languages",
        "ภาษา",
        False,
        "ภาษาที่พูดได้ คั่นด้วยจุลภาค (th, en, my, km, lo, ms ...); เว้นว่าง = ภาษาไทย",
        "Languages spoken, comma-separated codes (th, en, my, km, lo, ms ...); "
        "empty means Thai",
        "th, my",
        ("ภาษาที่พูดได้", "language"),
    ),
    Column(
        "province_code",
        "จังหวัด",
        False,
        "จังหวัด: รหัส (TH-52 หรือ 52) หรือชื่อ (ลำปาง); ในต่างประเทศเว้นว่างแล้วกรอกประเทศ",
        "Province: code (TH-52 or 52) or name (ลำปาง, Lampang); "
        "abroad, leave it empty and give the country",
        "ลำปาง",
        ("province", "รหัสจังหวัด"),
    ),
    Column(
        "district",
        "อำเภอ",
        False,
        "อำเภอ/เขต: รหัส 4 หลัก (5201) หรือชื่อ (อ.เมือง, เกาะคา)",
        "District: 4-digit code (5201) or name (อ.เมือง, เกาะคา)",
        "อ.เมือง",
        ("อำเภอ/เขต", "เขต", "district code", "รหัสอำเภอ"),
    ),
    Column(
        "subdistrict",
        "ตำบล",
        False,
        "ตำบล/แขวง: รหัส 6 หลัก (520102) หรือชื่อ (ต.หัวเวียง)",
        "Subdistrict: 6-digit code (520102) or name (ต.หัวเวียง)",
        "ต.หัวเวียง",
        ("ตำบล/แขวง", "แขวง", "subdistrict code", "รหัสตำบล"),
    ),
    Column(
        "abroad_country",
        "ประเทศ",
        False,
        "ประเทศ (อาสาสมัครแรงงานในต่างประเทศ): รหัส 2 ตัว (TW) หรือชื่อ (ไต้หวัน)",
        "Country, for volunteers abroad: ISO code (TW) or name (Taiwan, ไต้หวัน)",
        "ไต้หวัน",
        ("country",),
    ),
    Column(
        "abroad_city",
        "เมือง",
        False,
        "เมืองในต่างประเทศ",
        "City abroad",
        "Taichung",
        ("city",),
    ),
    Column(
        "start_date",
        "วันที่เริ่ม",
        False,
        "วันที่เริ่มปฏิบัติงาน วว/ดด/ปปปป (พ.ศ. หรือ ค.ศ.)",
        "Start date, DD/MM/YYYY or YYYY-MM-DD (Buddhist era or Gregorian)",
        "01/10/2567",
        ("วันเริ่มต้น", "วันที่เริ่มต้น", "วันเริ่มปฏิบัติงาน"),
    ),
    Column(
        "term_end",
        "วันสิ้นสุดวาระ",
        False,
        "วันสิ้นสุดวาระ วว/ดด/ปปปป (พ.ศ. หรือ ค.ศ.)",
        "End of term, DD/MM/YYYY or YYYY-MM-DD (Buddhist era or Gregorian)",
        "30/09/2569",
        ("วันหมดวาระ", "วันสิ้นสุด"),
    ),
)

_NAMES = tuple(c.name for c in COLUMNS)
_BY_NAME = {c.name: c for c in COLUMNS}
_REQUIRED = tuple(c.name for c in COLUMNS if c.required)
# A file needs some column for where agents work; codes of districts and
# subdistricts imply their province, so any of these will do.
_PLACE_COLUMNS = ("province_code", "district", "subdistrict", "abroad_country")
_THAI_PLACE = ("province_code", "district", "subdistrict")
_DATE_COLUMNS = ("start_date", "term_end")


class RosterFileError(ValueError):
    """The file is not a roster at all, so no row can be read.

    ``code`` is one of ``empty``, ``encoding``, ``unreadable``,
    ``unsupported_format``, ``no_header``, ``missing_columns``; ``detail`` an
    English sentence for the operator; ``columns`` the missing columns'
    English names for ``missing_columns``.
    """

    def __init__(self, code: str, detail: str, columns: Sequence[str] = ()) -> None:
        self.code = code
        self.detail = detail
        self.columns = tuple(columns)
        super().__init__(detail)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.detail, self.columns))


@dataclass(frozen=True)
class RowError:
    """One problem of one row.

    ``row`` is the spreadsheet row number (the header is row 1 in a file that
    starts with it), ``column`` the English column name ("" for the whole
    row), ``code`` a stable snake_case code, ``detail`` an English sentence.
    """

    row: int
    column: str
    code: str
    detail: str


@dataclass(frozen=True)
class RosterRow:
    """A valid row: the agent input shape and the raw cells it came from."""

    row: int
    agent: dict[str, Any]
    cells: dict[str, str]


@dataclass
class Roster:
    """What a roster file holds: valid rows, every problem, the rejected rows.

    ``rejected`` has one dict per failed row: its raw cells by English column
    name plus ``"row"`` (the row number as text).
    """

    rows: list[RosterRow]
    errors: list[RowError]
    rejected: list[dict[str, str]]

    @property
    def total(self) -> int:
        """Rows read (blank rows and header rows not counted)."""
        return len(self.rows) + len(self.rejected)

    @property
    def ok(self) -> int:
        """Rows without a problem."""
        return len(self.rows)

    @property
    def failed(self) -> int:
        """Rows with at least one problem."""
        return len(self.rejected)


# --- text clean-up ---------------------------------------------------------------

_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# Invisible characters that Excel and LINE copy-paste leave in cells.
_INVISIBLE = str.maketrans({"\ufeff": None, "\u200b": None, "\u00a0": " "})
_SPACES = re.compile(r"\s+")
_HEADER_MARKS = re.compile(r"[\s_\-.*:]")
_HAS_INVISIBLE = re.compile("[\ufeff\u200b\u00a0]")


def _clean(text: str) -> str:
    if _HAS_INVISIBLE.search(text):
        text = text.translate(_INVISIBLE)
    return text.strip()


def _header_key(text: str) -> str:
    return _HEADER_MARKS.sub("", _clean(text).lower())


def _build_header_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for column in COLUMNS:
        for header in (column.name, column.header_th, *column.aliases):
            key = _header_key(header)
            if index.setdefault(key, column.name) != column.name:
                raise AssertionError(f"header {header!r} names two columns")
    return index


_HEADERS = _build_header_index()


_DIGIT = re.compile(r"[0-9๐-๙]")
# Nine digits make a phone number, thirteen a national ID: a cell with that
# many (a column shifted by one, say) is never quoted back.
_PERSONAL_DIGITS = 9


def _short(text: str, limit: int = 40) -> str:
    """A cell quoted in a detail, cut so one odd cell cannot flood a report.

    A cell that may be personal data (many digits, or an @) is not quoted.
    """
    if "@" in text or len(_DIGIT.findall(text)) >= _PERSONAL_DIGITS:
        return "(value not shown)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- reading the table --------------------------------------------------------

_XLSX_MAGIC = b"PK\x03\x04"
# Old binary .xls files and password-protected workbooks are OLE containers.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"


def _cell_text(value: object, column: str) -> str:
    """A cell as text, however the spreadsheet typed it."""
    if isinstance(value, str):
        return _clean(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, int | float):
        if column in _DATE_COLUMNS and 20000 <= value <= 80000:
            # A date cell Excel lost the format of: the serial day number
            # (20000 is 1954, 80000 is 2119).
            from openpyxl.utils.datetime import from_excel

            return from_excel(value).date().isoformat()
        if isinstance(value, float) and value.is_integer():
            # IDs, codes and phones typed as numbers come back as floats.
            return str(int(value))
        return str(value)
    return _clean(str(value))


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
            [_clean(v) if isinstance(v, str) else v for v in row]
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


def _read_table(data: bytes, filename: str) -> list[list[object]]:
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


# --- header -----------------------------------------------------------------

# Rows above the header that a province may put there (a title such as
# "รายชื่ออาสาสมัครแรงงาน จังหวัดลำปาง"); more than this and it is no roster.
_TITLE_ROWS_MAX = 2


def _is_blank(cells: Sequence[object]) -> bool:
    return all(_cell_text(v, "") == "" for v in cells)


def _header_mapping(cells: Sequence[object]) -> dict[int, str]:
    """Cell position -> English column name; the first of duplicates wins."""
    mapping: dict[int, str] = {}
    for position, value in enumerate(cells):
        if not isinstance(value, str):
            continue
        name = _HEADERS.get(_header_key(value))
        if name is not None and name not in mapping.values():
            mapping[position] = name
    return mapping


def _find_header(table: list[list[object]]) -> tuple[int, dict[int, str]]:
    """(index in table, mapping) of the header row."""
    title_rows = 0
    for index, cells in enumerate(table):
        if _is_blank(cells):
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


def _is_second_header(cells: Sequence[object], mapping: dict[int, str]) -> bool:
    """Whether a row repeats the header (the template's Thai row, say)."""
    filled = 0
    headers = 0
    for position, name in mapping.items():
        value = cells[position] if position < len(cells) else None
        if _cell_text(value, name) == "":
            continue
        filled += 1
        if isinstance(value, str) and _HEADERS.get(_header_key(value)) == name:
            headers += 1
    return headers > 0 and headers * 2 >= filled


def _check_columns(mapping: dict[int, str]) -> None:
    present = set(mapping.values())
    missing = [name for name in _REQUIRED if name not in present]
    if not present.intersection(_PLACE_COLUMNS):
        missing.append("province_code")
    if not missing:
        return
    described = ", ".join(f"{name} ({_BY_NAME[name].header_th})" for name in missing)
    if "province_code" in missing:
        described += " (or abroad_country (ประเทศ) for agents abroad)"
    raise RosterFileError(
        "missing_columns", f"the roster lacks required columns: {described}", missing
    )


# --- cell rules -----------------------------------------------------------------

_KINDS = {
    "labourgraduate": "labour_graduate",
    "laborgraduate": "labour_graduate",
    "graduate": "labour_graduate",
    "บัณฑิตแรงงาน": "labour_graduate",
    "labourvolunteer": "labour_volunteer",
    "laborvolunteer": "labour_volunteer",
    "volunteer": "labour_volunteer",
    "อาสาสมัครแรงงาน": "labour_volunteer",
    "อสร": "labour_volunteer",
}
_KIND_MARKS = re.compile(r"[\s_\-.]")

_LANGUAGE_NAMES = {
    "ไทย": "th",
    "อังกฤษ": "en",
    "พม่า": "my",
    "เมียนมา": "my",
    "เมียนมาร์": "my",
    "เขมร": "km",
    "กัมพูชา": "km",
    "ลาว": "lo",
    "มลายู": "ms",
    "มาเลย์": "ms",
    "เวียดนาม": "vi",
    "จีน": "zh",
    "ญี่ปุ่น": "ja",
    "เกาหลี": "ko",
    "ฮีบรู": "he",
    "อาหรับ": "ar",
    "อินโดนีเซีย": "id",
    "ตากาล็อก": "tl",
    "เยอรมัน": "de",
    "ฝรั่งเศส": "fr",
    "รัสเซีย": "ru",
    "ฮินดี": "hi",
    "thai": "th",
    "english": "en",
    "burmese": "my",
    "myanmar": "my",
    "khmer": "km",
    "lao": "lo",
    "malay": "ms",
}
_LANGUAGE_SPLIT = re.compile(r"[,;/\s、]+")

# Names people write for the countries where Thai workers are; anything else
# must be an ISO code.
_COUNTRY_NAMES = {
    "TW": ("taiwan", "ไต้หวัน"),
    "IL": ("israel", "อิสราเอล"),
    "KR": ("south korea", "korea", "republic of korea", "เกาหลีใต้", "เกาหลี"),
    "JP": ("japan", "ญี่ปุ่น"),
    "MY": ("malaysia", "มาเลเซีย"),
    "SG": ("singapore", "สิงคโปร์"),
    "AE": ("uae", "united arab emirates", "สหรัฐอาหรับเอมิเรตส์", "ยูเออี"),
    "SA": ("saudi arabia", "ซาอุดีอาระเบีย", "ซาอุดิอาระเบีย", "ซาอุฯ"),
    "HK": ("hong kong", "ฮ่องกง"),
    "SE": ("sweden", "สวีเดน"),
    "FI": ("finland", "ฟินแลนด์"),
    "US": ("united states", "usa", "สหรัฐอเมริกา", "สหรัฐฯ", "อเมริกา"),
    "AU": ("australia", "ออสเตรเลีย"),
    "NZ": ("new zealand", "นิวซีแลนด์"),
    "QA": ("qatar", "กาตาร์"),
    "KW": ("kuwait", "คูเวต"),
    "BH": ("bahrain", "บาห์เรน"),
    "OM": ("oman", "โอมาน"),
    "BN": ("brunei", "บรูไน"),
    "MO": ("macau", "macao", "มาเก๊า"),
    "CN": ("china", "จีน"),
    "DE": ("germany", "เยอรมนี"),
    "GB": ("united kingdom", "uk", "สหราชอาณาจักร", "อังกฤษ"),
    "CA": ("canada", "แคนาดา"),
    "NO": ("norway", "นอร์เวย์"),
    "DK": ("denmark", "เดนมาร์ก"),
    "PL": ("poland", "โปแลนด์"),
    "LA": ("laos", "ลาว"),
    "KH": ("cambodia", "กัมพูชา"),
    "MM": ("myanmar", "เมียนมา", "พม่า"),
    "VN": ("vietnam", "เวียดนาม"),
    "ID": ("indonesia", "อินโดนีเซีย"),
    "PH": ("philippines", "ฟิลิปปินส์"),
    "LY": ("libya", "ลิเบีย"),
}
_COUNTRY_MARKS = re.compile(r"[\s.'\-]")
_COUNTRY_INDEX = {
    _COUNTRY_MARKS.sub("", name.lower()): code
    for code, names in _COUNTRY_NAMES.items()
    for name in names
}

# A phone typed into a number cell loses its trunk 0: 812345678 is 081...
_MOBILE_WITHOUT_ZERO = re.compile(r"[689][0-9]{8}")
_LANDLINE_WITHOUT_ZERO = re.compile(r"[2-7][0-9]{7}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

_THAI_MONTHS = {
    "มค": 1,
    "มกราคม": 1,
    "กพ": 2,
    "กุมภาพันธ์": 2,
    "มีค": 3,
    "มีนาคม": 3,
    "เมย": 4,
    "เมษายน": 4,
    "พค": 5,
    "พฤษภาคม": 5,
    "มิย": 6,
    "มิถุนายน": 6,
    "กค": 7,
    "กรกฎาคม": 7,
    "สค": 8,
    "สิงหาคม": 8,
    "กย": 9,
    "กันยายน": 9,
    "ตค": 10,
    "ตุลาคม": 10,
    "พย": 11,
    "พฤศจิกายน": 11,
    "ธค": 12,
    "ธันวาคม": 12,
}
# "1 มิ.ย. 2567", "1 มิถุนายน 67" (a two-digit year next to a Thai month is
# always Buddhist era).
_THAI_MONTH_DATE = re.compile(
    r"(\d{1,2})\s*([ก-๛.\s]+?)\s*(?:พ\.?\s?ศ\.?\s*)?(\d{4}|\d{2})"
)
_DMY_OTHER_MARKS = re.compile(r"(\d{1,2})[-.](\d{1,2})[-.](\d{4})")
_TIME_SUFFIX = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
_BE_THRESHOLD = 2400


class _CellError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@lru_cache(maxsize=256)
def _kind(text: str) -> str:
    kind = _KINDS.get(_KIND_MARKS.sub("", text.lower()))
    if kind is None:
        raise _CellError(
            "unknown_kind",
            f"unknown kind '{_short(text)}': use labour_graduate (บัณฑิตแรงงาน) "
            "or labour_volunteer (อาสาสมัครแรงงาน, อสร.)",
        )
    return kind


def _national_id(text: str) -> str:
    try:
        return validate_national_id(text)
    except ReferenceError as exc:
        detail = f"national ID {exc.detail}"
        if "E+" in text.upper():
            detail += (
                " (Excel shortened it to a number like 1.1E+12: "
                "format the column as text)"
            )
        raise _CellError("invalid_national_id", detail) from None


def _phone(text: str) -> str:
    if _MOBILE_WITHOUT_ZERO.fullmatch(text) or _LANDLINE_WITHOUT_ZERO.fullmatch(text):
        text = "0" + text
    try:
        return normalize_phone(text)
    except ReferenceError:
        raise _CellError(
            "invalid_phone",
            "phone must be a Thai mobile or landline number (081-234-5678) or "
            "+ and a country code for a number abroad",
        ) from None


def _email(text: str) -> str:
    email = text.lower()
    if not _EMAIL.fullmatch(email):
        raise _CellError("invalid_email", "email must look like name@example.com")
    return email


@lru_cache(maxsize=1024)
def _languages(text: str) -> tuple[str, ...]:
    found: list[str] = []
    unknown: list[str] = []
    for word in _LANGUAGE_SPLIT.split(text.lower()):
        word = word.removeprefix("ภาษา").strip()
        if not word:
            continue
        code = word if word in AGENT_LANGUAGES else _LANGUAGE_NAMES.get(word)
        if code is None:
            unknown.append(word)
        elif code not in found:
            found.append(code)
    if unknown:
        names = ", ".join(f"'{_short(w, 20)}'" for w in unknown)
        raise _CellError(
            "unknown_language",
            f"unknown language {names}: use codes such as "
            + ", ".join(AGENT_LANGUAGES[:6]),
        )
    return tuple(found) or ("th",)


@lru_cache(maxsize=4096)
def _date(text: str) -> date:
    cleaned = _TIME_SUFFIX.sub("", text.translate(_THAI_DIGITS).strip())
    cleaned = _DMY_OTHER_MARKS.sub(r"\1/\2/\3", cleaned)
    try:
        return parse_thai_date(cleaned)
    except ReferenceError:
        pass
    if m := _THAI_MONTH_DATE.fullmatch(cleaned):
        month = _THAI_MONTHS.get(re.sub(r"[.\s]", "", m.group(2)))
        year = int(m.group(3))
        if len(m.group(3)) == 2:
            year += 2500
        if year > _BE_THRESHOLD:
            year = to_gregorian_year(year)
        if month is not None:
            try:
                return date(year, month, int(m.group(1)))
            except ValueError:
                pass
    for pattern in ("%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%b-%y"):
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    raise _CellError(
        "invalid_date",
        f"'{_short(text)}' is not a date: write DD/MM/YYYY or YYYY-MM-DD "
        "(Buddhist era or Gregorian), e.g. 01/10/2567",
    )


@lru_cache(maxsize=512)
def _country(text: str) -> str:
    key = _COUNTRY_MARKS.sub("", text.lower())
    code = _COUNTRY_INDEX.get(key)
    if code is None and len(key) == 2:
        try:
            code = validate_country(key)
        except ReferenceError:
            code = None
    if code == "TH" or key in ("thailand", "ไทย", "ประเทศไทย"):
        raise _CellError(
            "unknown_country",
            "abroad_country is for agents abroad: for Thailand give the "
            "province instead",
        )
    if code is None:
        raise _CellError(
            "unknown_country",
            f"unknown country '{_short(text)}': use an ISO code such as TW, IL, "
            "KR, JP, MY or the country's name",
        )
    return code


# --- places in Thailand ------------------------------------------------------------

# Names people use for a province besides its Thai and English names.
_PROVINCE_NICKNAMES = {
    "กทม": "10",
    "กรุงเทพ": "10",
    "bkk": "10",
    "bangkokmetropolis": "10",
    "อยุธยา": "14",
    "ayutthaya": "14",
    "โคราช": "30",
}
_PROVINCE_CODE = re.compile(r"(?:th-?)?([0-9]{2})")
_MUEANG = ("เมือง", "mueang", "muang")
_CANDIDATES_SHOWN = 6


def _place_key(text: str) -> str:
    # geothai's normalize() plus the "ฯ" of กรุงเทพฯ and สหรัฐฯ.
    return geothai.normalize(text.replace("ฯ", "")).translate(_THAI_DIGITS)


@lru_cache(maxsize=1)
def _province_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for info in province_infos():
        for name in (info.name_th, info.name_en, info.abbr_en):
            index[_place_key(name)] = info.dopa_code
    index.update(_PROVINCE_NICKNAMES)
    return index


@lru_cache(maxsize=1)
def _districts_by_key() -> dict[str, tuple[geothai.District, ...]]:
    grouped: dict[str, list[geothai.District]] = {}
    for p in geothai.provinces():
        for d in geothai.districts(p.code):
            for key in {_place_key(d.name_th), _place_key(d.name_en)}:
                grouped.setdefault(key, []).append(d)
    return {key: tuple(found) for key, found in grouped.items()}


def _province_label(dopa: str) -> str:
    p = geothai.province(dopa)
    return f"TH-{dopa} ({p.name_th})" if p else f"TH-{dopa}"


def _district_label(d: geothai.District) -> str:
    return f"{d.code} ({d.name_th})"


def _candidates(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:_CANDIDATES_SHOWN])
    more = len(labels) - _CANDIDATES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _province_dopa(text: str) -> str | None:
    key = _place_key(text).lower()
    if m := _PROVINCE_CODE.fullmatch(key):
        return m.group(1) if geothai.province(m.group(1)) else None
    return _province_index().get(key)


def _districts_named(text: str) -> tuple[geothai.District, ...]:
    """Every district in Thailand this name can mean."""
    key = _place_key(text)
    if key in _MUEANG:
        # "อ.เมือง" is a province's capital district, always XX01; Bangkok
        # has none.
        return tuple(
            d
            for p in geothai.provinces()
            if p.code != "10" and (d := geothai.district(f"{p.code}01")) is not None
        )
    return _districts_by_key().get(key, ())


PlaceErrors = tuple[tuple[str, str, str], ...]
Area = tuple[str, str | None, str | None]


@lru_cache(maxsize=8192)
def _thai_place(
    province_text: str, district_text: str, subdistrict_text: str
) -> tuple[Area | None, PlaceErrors]:
    """Resolve a province/district/subdistrict triple of cells.

    Returns (area, errors): area is (ISO province, district code,
    subdistrict code) when there is no error. Names are looked up within
    the province (and district) given; without them, in all Thailand, where
    a unique name still counts and a code always does.
    """
    errors: list[tuple[str, str, str]] = []

    dopa: str | None = None
    if province_text:
        dopa = _province_dopa(province_text)
        if dopa is None:
            errors.append(
                (
                    "province_code",
                    "unknown_province",
                    f"unknown province '{_short(province_text)}': use a code "
                    "(TH-52 or 52) or a name (ลำปาง, Lampang)",
                )
            )
    where = f"province {_province_label(dopa)}" if dopa else "Thailand"

    # Districts the cell can mean (None: not given or not found).
    districts: list[geothai.District] | None = None
    if district_text:
        code = district_text.translate(_THAI_DIGITS)
        if code.isdigit():
            found = geothai.district(code) if len(code) == 4 else None
            if found is None:
                errors.append(
                    (
                        "district",
                        "unknown_district",
                        f"no district has the code '{_short(code)}' "
                        "(district codes have 4 digits, e.g. 5201)",
                    )
                )
            elif dopa and found.province_code != dopa:
                errors.append(
                    (
                        "district",
                        "district_not_in_province",
                        f"district {_district_label(found)} is not in "
                        f"{where}; it is in {_province_label(found.province_code)}",
                    )
                )
            else:
                districts = [found]
        else:
            national = _districts_named(district_text)
            inside = [d for d in national if not dopa or d.province_code == dopa]
            if inside:
                districts = inside
            elif dopa == "10" and _place_key(district_text) in _MUEANG:
                errors.append(
                    (
                        "district",
                        "unknown_district",
                        "Bangkok has no Mueang district: give the district "
                        "(เขต) name or code",
                    )
                )
            elif national and dopa:
                elsewhere = sorted({d.province_code for d in national})
                errors.append(
                    (
                        "district",
                        "district_not_in_province",
                        f"district '{_short(district_text)}' is not in {where}; "
                        "a district of that name is in "
                        + _candidates([_province_label(p) for p in elsewhere]),
                    )
                )
            else:
                errors.append(
                    (
                        "district",
                        "unknown_district",
                        f"no district named '{_short(district_text)}' in {where}",
                    )
                )

    subdistrict: geothai.Subdistrict | None = None
    if subdistrict_text:
        code = subdistrict_text.translate(_THAI_DIGITS)
        in_district = " or ".join(_district_label(d) for d in districts or ())
        if code.isdigit():
            found_sub = geothai.subdistrict(code) if len(code) == 6 else None
            if found_sub is None:
                errors.append(
                    (
                        "subdistrict",
                        "unknown_subdistrict",
                        f"no subdistrict has the code '{_short(code)}' "
                        "(subdistrict codes have 6 digits, e.g. 520101)",
                    )
                )
            elif districts and found_sub.district_code not in {
                d.code for d in districts
            }:
                errors.append(
                    (
                        "subdistrict",
                        "subdistrict_not_in_district",
                        f"subdistrict {found_sub.code} ({found_sub.name_th}) is "
                        f"not in district {in_district}",
                    )
                )
            elif dopa and found_sub.province_code != dopa:
                errors.append(
                    (
                        "subdistrict",
                        "subdistrict_not_in_province",
                        f"subdistrict {found_sub.code} ({found_sub.name_th}) is "
                        f"not in {where}",
                    )
                )
            else:
                subdistrict = found_sub
        else:
            national_subs = [a.subdistrict for a in geothai.match(subdistrict_text)]
            if districts:
                codes = {d.code for d in districts}
                inside_subs = [s for s in national_subs if s.district_code in codes]
            else:
                inside_subs = [
                    s for s in national_subs if not dopa or s.province_code == dopa
                ]
            name = _short(subdistrict_text)
            if len(inside_subs) == 1:
                subdistrict = inside_subs[0]
            elif inside_subs:
                labels = [
                    f"{s.code} ({s.name_th}, {_district_name(s.district_code)})"
                    for s in inside_subs
                ]
                hint = "the code" if districts else "the district"
                errors.append(
                    (
                        "subdistrict",
                        "ambiguous_subdistrict",
                        f"subdistrict '{name}' could be {_candidates(labels)}: "
                        f"add {hint}",
                    )
                )
            elif districts and national_subs:
                errors.append(
                    (
                        "subdistrict",
                        "subdistrict_not_in_district",
                        f"subdistrict '{name}' is not in district {in_district}",
                    )
                )
            elif dopa and national_subs:
                errors.append(
                    (
                        "subdistrict",
                        "subdistrict_not_in_province",
                        f"subdistrict '{name}' is not in {where}",
                    )
                )
            else:
                place = f"district {in_district}" if districts else where
                errors.append(
                    (
                        "subdistrict",
                        "unknown_subdistrict",
                        f"no subdistrict named '{name}' in {place}",
                    )
                )

    district: geothai.District | None = None
    if subdistrict is not None:
        # The subdistrict was filtered by the district candidates, so its
        # district settles an ambiguous district name.
        district = geothai.district(subdistrict.district_code)
    elif districts is not None and len(districts) == 1:
        district = districts[0]
    elif districts:
        if _place_key(district_text) in _MUEANG:
            detail = (
                f"district '{_short(district_text)}' needs a province: every "
                "province has a Mueang district"
            )
        else:
            detail = (
                f"district '{_short(district_text)}' could be "
                + _candidates(
                    [
                        f"{d.code} ({d.name_th}, {_province_name(d.province_code)})"
                        for d in districts
                    ]
                )
                + ": add the province or use the code"
            )
        errors.append(("district", "ambiguous_district", detail))

    if errors:
        return None, tuple(errors)
    if district is not None:
        dopa = district.province_code
    if dopa is None:  # pragma: no cover - a given cell always yields one
        return None, (("province_code", "place_required", "no place given"),)
    return (
        f"TH-{dopa}",
        district.code if district else None,
        subdistrict.code if subdistrict else None,
    ), ()


def _province_name(dopa: str) -> str:
    p = geothai.province(dopa)
    return p.name_th if p else dopa


def _district_name(code: str) -> str:
    d = geothai.district(code)
    return d.name_th if d else code


# --- rows -------------------------------------------------------------------------


def _optional(text: str) -> str | None:
    return _SPACES.sub(" ", text) or None


class _RowReader:
    """Validates rows one by one, remembering national IDs across the file."""

    def __init__(self) -> None:
        self.first_row_of_id: dict[str, int] = {}

    def read(
        self, number: int, cells: dict[str, str]
    ) -> tuple[dict[str, Any], list[RowError]]:
        errors: list[RowError] = []
        agent: dict[str, Any] = {}

        def check(column: str, rule: Callable[[str], Any]) -> Any:
            text = cells[column]
            if not text:
                if _BY_NAME[column].required:
                    errors.append(
                        RowError(
                            number,
                            column,
                            "required",
                            f"{column} ({_BY_NAME[column].header_th}) is required",
                        )
                    )
                return None
            try:
                return rule(text)
            except _CellError as exc:
                errors.append(RowError(number, column, exc.code, exc.detail))
                return None

        agent["kind"] = check("kind", _kind)
        for column in ("first_name_th", "last_name_th"):
            agent[column] = check(column, _optional)
        for column in ("first_name_en", "last_name_en"):
            agent[column] = _optional(cells[column])

        national_id = check("national_id", _national_id)
        if national_id is not None:
            first = self.first_row_of_id.setdefault(national_id, number)
            if first != number:
                errors.append(
                    RowError(
                        number,
                        "national_id",
                        "duplicate_in_file",
                        f"row {number} has the same national ID as row {first}",
                    )
                )
        agent["national_id"] = national_id
        agent["phone"] = check("phone", _phone)
        agent["email"] = check("email", _email)
        agent["line_user_id"] = _optional(cells["line_user_id"])
        languages = check("languages", _languages)
        agent["languages"] = list(languages) if languages else ["th"]

        agent.update(self._place(number, cells, errors))

        start = check("start_date", _date)
        end = check("term_end", _date)
        if start is not None and end is not None and end < start:
            errors.append(
                RowError(
                    number,
                    "term_end",
                    "term_before_start",
                    f"term_end {end.isoformat()} is before start_date "
                    f"{start.isoformat()}",
                )
            )
        agent["start_date"] = start
        agent["term_end"] = end
        return agent, errors

    @staticmethod
    def _place(
        number: int, cells: dict[str, str], errors: list[RowError]
    ) -> dict[str, Any]:
        thai = [cells[c] for c in _THAI_PLACE]
        country_text, city_text = cells["abroad_country"], cells["abroad_city"]
        place: dict[str, Any] = {
            "areas": [],
            "abroad_country": None,
            "abroad_city": None,
        }
        if any(thai) and (country_text or city_text):
            column = "abroad_country" if country_text else "abroad_city"
            errors.append(
                RowError(
                    number,
                    column,
                    "place_conflict",
                    "the row gives both a place in Thailand and one abroad: an "
                    "agent works in a province or in a country abroad, not both",
                )
            )
            return place
        if any(thai):
            area, place_errors = _thai_place(*thai)
            errors.extend(RowError(number, *e) for e in place_errors)
            if area is not None:
                place["areas"] = [
                    {
                        "province_code": area[0],
                        "district_code": area[1],
                        "subdistrict_code": area[2],
                    }
                ]
            return place
        if not country_text:
            errors.append(
                RowError(
                    number,
                    "province_code",
                    "place_required",
                    "give a province (or district/subdistrict) in Thailand, or "
                    "a country abroad",
                )
            )
            return place
        try:
            place["abroad_country"] = _country(country_text)
        except _CellError as exc:
            errors.append(RowError(number, "abroad_country", exc.code, exc.detail))
        place["abroad_city"] = _optional(city_text)
        return place


def _rows(
    table: list[list[object]], start: int, mapping: dict[int, str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, cells by English column) of each data row."""
    columns = sorted(mapping.items())
    for index in range(start, len(table)):
        values = table[index]
        size = len(values)
        cells = dict.fromkeys(_NAMES, "")
        for position, name in columns:
            if position < size:
                value = values[position]
                # Both readers have cleaned text cells of invisible marks.
                cells[name] = (
                    value.strip() if type(value) is str else _cell_text(value, name)
                )
        if any(cells.values()):
            yield index + 1, cells


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
    table = _read_table(data, filename)
    header_index, mapping = _find_header(table)
    _check_columns(mapping)
    start = header_index + 1
    while start < len(table) and _is_blank(table[start]):
        start += 1
    if start < len(table) and _is_second_header(table[start], mapping):
        start += 1

    reader = _RowReader()
    roster = Roster(rows=[], errors=[], rejected=[])
    for number, cells in _rows(table, start, mapping):
        agent, errors = reader.read(number, cells)
        if errors:
            roster.errors.extend(errors)
            roster.rejected.append({"row": str(number), **cells})
        else:
            roster.rows.append(RosterRow(row=number, agent=agent, cells=cells))
    return roster


# --- output ----------------------------------------------------------------


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
    writer.writerow(["row", *_NAMES, "errors"])
    for rejected in roster.rejected:
        problems = "; ".join(by_row.get(int(rejected["row"]), []))
        writer.writerow(
            [
                rejected["row"],
                *(safe_cell(rejected.get(name, "")) for name in _NAMES),
                safe_cell(problems),
            ]
        )
    return out.getvalue().encode("utf-8-sig")


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
    english = list(_NAMES)
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
    from openpyxl.utils import get_column_letter

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = "roster"
    sheet.append(english)
    sheet.append(thai)
    bold = Font(bold=True)
    for position, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(position)
        sheet.column_dimensions[letter].width = max(14, len(column.header_th) + 4)
        if column.name in _TEXT_COLUMNS:
            sheet.column_dimensions[letter].number_format = "@"
        for row in (1, 2):
            sheet.cell(row=row, column=position).font = bold
    sheet.freeze_panes = "A3"

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
    workbook.save(path)
