"""The roster reader: provincial spreadsheets of field agents in, agents out.

Files are made by a factory (``roster_file``) in each encoding and format, and
three small files in ``tests/data`` are read from disk as a province would
send them (see ``tests/data/README.md``).
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from labornet_registry.roster import (
    COLUMNS,
    Roster,
    RosterFileError,
    explain_columns,
    read_roster,
    rejected_rows_csv,
    write_template,
)
from labornet_shared.categories import AGENT_LANGUAGES
from labornet_shared.reference.national_id import generate_national_id

DATA = Path(__file__).parent / "data"
NAMES = [c.name for c in COLUMNS]
THAI = {c.name: c.header_th for c in COLUMNS}


# --- factories ----------------------------------------------------------------


def agent_row(rng: random.Random, **overrides: Any) -> dict[str, Any]:
    """A valid roster row (English column names) in Lampang; override cells."""
    row: dict[str, Any] = {
        "kind": "อสร.",
        "first_name_th": "สมศรี",
        "last_name_th": "มีสุข",
        "national_id": generate_national_id(rng),
        "phone": "081-234-5678",
        "languages": "th, my",
        "province_code": "จ.ลำปาง",
        "district": "อ.เมือง",
        "subdistrict": "ต.หัวเวียง",
        "start_date": "01/10/2567",
        "term_end": "30/09/2569",
    }
    row.update(overrides)
    return row


def roster_file(
    rows: list[dict[str, Any]],
    *,
    fmt: str = "csv",
    encoding: str = "utf-8",
    headers: str | dict[str, str] = "en",
    columns: list[str] | None = None,
    header_rows: tuple[str | dict[str, str], ...] = (),
    above: list[list[Any]] | None = None,
    delimiter: str = ",",
) -> bytes:
    """Roster bytes as a province would send them.

    ``headers`` names the columns: "en", "th" or a dict name -> header;
    ``header_rows`` adds more header rows below the first (the template's
    Thai row); ``above`` puts rows (titles, blanks) above the header;
    ``columns`` fixes the column order (default: COLUMNS order of the keys
    used). CSV cells are written with str(); XLSX cells keep their type.
    """
    if columns is None:
        used = {key for row in rows for key in row}
        columns = [name for name in NAMES if name in used] or ["kind"]

    def header(style: str | dict[str, str]) -> list[str]:
        if style == "en":
            return list(columns)
        if style == "th":
            return [THAI.get(name, name) for name in columns]
        assert isinstance(style, dict)
        return [style.get(name, name) for name in columns]

    table: list[list[Any]] = [*(above or []), header(headers)]
    table += [header(style) for style in header_rows]
    table += [[row.get(name) for name in columns] for row in rows]

    if fmt == "xlsx":
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        for values in table:
            sheet.append(values)
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\r\n")
    for values in table:
        writer.writerow(["" if v is None else str(v) for v in values])
    return text.getvalue().encode(encoding)


def read(rows: list[dict[str, Any]], **options: Any) -> Roster:
    fmt = options.get("fmt", "csv")
    return read_roster(roster_file(rows, **options), f"roster.{fmt}")


def errors_of(roster: Roster) -> list[tuple[int, str, str]]:
    return [(e.row, e.column, e.code) for e in roster.errors]


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20240601)


# --- reading valid rows -----------------------------------------------------------


def test_a_row_becomes_the_agent_input_shape(rng: random.Random) -> None:
    row = agent_row(
        rng,
        first_name_th="  สมศรี ",
        first_name_en="Somsri",
        last_name_en="Meesuk",
        national_id="",
        email="Somsri.M@Example.COM",
        line_user_id="somsri.m",
        languages="ไทย, my, พม่า",
    )
    national_id = generate_national_id(rng)
    row["national_id"] = (
        f"{national_id[0]}-{national_id[1:5]}-{national_id[5:10]}-"
        f"{national_id[10:12]}-{national_id[12]}"
    )

    roster = read([row])

    assert roster.errors == []
    assert [r.row for r in roster.rows] == [2]
    assert roster.rows[0].agent == {
        "kind": "labour_volunteer",
        "first_name_th": "สมศรี",
        "last_name_th": "มีสุข",
        "first_name_en": "Somsri",
        "last_name_en": "Meesuk",
        "national_id": national_id,
        "phone": "+66812345678",
        "email": "somsri.m@example.com",
        "line_user_id": "somsri.m",
        "languages": ["th", "my"],
        "areas": [
            {
                "province_code": "TH-52",
                "district_code": "5201",
                "subdistrict_code": "520102",
            }
        ],
        "abroad_country": None,
        "abroad_city": None,
        "start_date": date(2024, 10, 1),
        "term_end": date(2026, 9, 30),
    }
    assert roster.rows[0].cells["province_code"] == "จ.ลำปาง"
    assert roster.rows[0].cells["email"] == "Somsri.M@Example.COM"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp874"])
def test_csv_in_each_encoding_with_thai_headers(
    rng: random.Random, encoding: str
) -> None:
    rows = [agent_row(rng), agent_row(rng, kind="บัณฑิตแรงงาน", last_name_th="ใจดี")]
    data = roster_file(rows, encoding=encoding, headers="th")
    if encoding == "cp874":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")

    roster = read_roster(data, "ลำปาง.csv")

    assert roster.errors == []
    agents = [r.agent for r in roster.rows]
    assert [a["kind"] for a in agents] == ["labour_volunteer", "labour_graduate"]
    assert [a["last_name_th"] for a in agents] == ["มีสุข", "ใจดี"]
    assert [a["national_id"] for a in agents] == [r["national_id"] for r in rows]


def test_windows_874_file_from_a_province() -> None:
    data = (DATA / "lampang_cp874.csv").read_bytes()
    # ลำปาง in TIS-620 bytes: the file really is Windows-874, not UTF-8.
    assert b"\xc5\xd3\xbb\xd2\xa7" in data
    rng = random.Random(874)
    ids = [generate_national_id(rng) for _ in range(3)]

    roster = read_roster(data, "lampang_cp874.csv")

    assert [r.row for r in roster.rows] == [2, 3]
    first, second = (r.agent for r in roster.rows)
    assert (first["first_name_th"], first["national_id"]) == ("สมศรี", ids[0])
    assert first["languages"] == ["th", "my"]
    assert first["areas"][0]["subdistrict_code"] == "520102"
    assert second["kind"] == "labour_graduate"
    assert second["areas"] == [
        {"province_code": "TH-52", "district_code": "5203", "subdistrict_code": None}
    ]
    assert second["start_date"] == date(2024, 6, 1)
    assert errors_of(roster) == [(4, "district", "district_not_in_province")]
    assert roster.rejected[0]["first_name_th"] == "บุญมา"


def test_utf8_bom_file_with_the_templates_two_header_rows() -> None:
    rng = random.Random(8)
    ids = [generate_national_id(rng) for _ in range(2)]

    roster = read_roster((DATA / "network_utf8_bom.csv").read_bytes(), "network.csv")

    assert roster.errors == []
    abroad, bangkok = (r.agent for r in roster.rows)
    assert [r.row for r in roster.rows] == [3, 4]
    assert abroad["national_id"] == ids[0]
    assert abroad["areas"] == []
    assert (abroad["abroad_country"], abroad["abroad_city"]) == ("TW", "Taichung")
    assert abroad["phone"] == "+886912345678"
    assert abroad["languages"] == ["th", "zh"]
    assert abroad["email"] == "wandee.s@example.com"
    assert bangkok["areas"] == [
        {
            "province_code": "TH-10",
            "district_code": "1004",
            "subdistrict_code": "100402",
        }
    ]
    assert bangkok["phone"] == "+6621234567"
    assert bangkok["start_date"] == date(2024, 1, 15)


def test_xlsx_file_with_numbers_and_dates_typed_by_excel() -> None:
    rng = random.Random(52)
    ids = [generate_national_id(rng) for _ in range(2)]

    roster = read_roster((DATA / "lampang.xlsx").read_bytes(), "lampang.xlsx")

    assert roster.errors == []
    first, second = (r.agent for r in roster.rows)
    assert first["national_id"] == ids[0]
    assert first["phone"] == "+66812345678"
    assert first["areas"] == [
        {
            "province_code": "TH-52",
            "district_code": "5201",
            "subdistrict_code": "520102",
        }
    ]
    assert first["start_date"] == date(2024, 10, 1)
    assert second["national_id"] == ids[1]
    assert second["areas"][0]["district_code"] == "5203"
    # A Buddhist-era date Excel took for a Gregorian one (year 2567).
    assert second["start_date"] == date(2024, 10, 1)


def test_numeric_xlsx_cells_become_digit_strings(rng: random.Random) -> None:
    national_id = generate_national_id(rng)
    row = agent_row(
        rng,
        national_id=int(national_id),
        phone=812345678,
        province_code=52,
        district=5201.0,
        subdistrict=520102,
        start_date=datetime(2024, 10, 1),
        term_end=46295,  # an Excel serial day: 2026-09-30
    )

    roster = read([row], fmt="xlsx")

    assert roster.errors == []
    agent, cells = roster.rows[0].agent, roster.rows[0].cells
    assert agent["national_id"] == national_id
    assert agent["phone"] == "+66812345678"
    assert agent["areas"][0] == {
        "province_code": "TH-52",
        "district_code": "5201",
        "subdistrict_code": "520102",
    }
    assert (agent["start_date"], agent["term_end"]) == (
        date(2024, 10, 1),
        date(2026, 9, 30),
    )
    assert cells["district"] == "5201"
    assert cells["national_id"] == national_id


def test_landline_typed_as_a_number_gets_its_zero_back(rng: random.Random) -> None:
    roster = read([agent_row(rng, phone=21234567)], fmt="xlsx")

    assert roster.rows[0].agent["phone"] == "+6621234567"


def test_columns_in_any_order_with_unknown_columns(rng: random.Random) -> None:
    rows = [agent_row(rng, หมายเหตุ="ย้ายมาจากลำพูน", note="x")]
    columns = ["note", *reversed(list(agent_row(rng))), "หมายเหตุ"]

    roster = read(rows, columns=columns, headers="th")

    assert roster.errors == []
    assert roster.rows[0].agent["national_id"] == rows[0]["national_id"]
    assert "หมายเหตุ" not in roster.rows[0].cells


def test_header_variants_are_recognised(rng: random.Random) -> None:
    headers = {
        "kind": " KIND ",
        "first_name_th": "ชื่อ (ไทย)",
        "last_name_th": "นามสกุล",
        "national_id": "เลขบัตรประชาชน",
        "phone": "เบอร์โทร",
        "languages": "Languages",
        "province_code": "\ufeffProvince_Code",
        "district": "อำเภอ/เขต",
        "subdistrict": "ตำบล/แขวง",
        "start_date": "start date",
        "term_end": "วันสิ้นสุดวาระ",
    }

    roster = read([agent_row(rng)], headers=headers)

    assert roster.errors == []
    assert roster.rows[0].agent["phone"] == "+66812345678"


@pytest.mark.parametrize(
    ("first", "second"), [("en", "th"), ("th", "en")], ids=["en-th", "th-en"]
)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_second_header_row_is_skipped(
    rng: random.Random, first: str, second: str, fmt: str
) -> None:
    roster = read([agent_row(rng)], headers=first, header_rows=(second,), fmt=fmt)

    assert roster.errors == []
    assert [r.row for r in roster.rows] == [3]


def test_title_rows_above_the_header_are_skipped(rng: random.Random) -> None:
    above = [["รายชื่ออาสาสมัครแรงงาน จังหวัดลำปาง"], [], ["ปีงบประมาณ 2568"]]

    roster = read([agent_row(rng)], above=above)

    assert roster.errors == []
    assert [r.row for r in roster.rows] == [5]


@pytest.mark.parametrize("delimiter", [";", "\t"], ids=["semicolon", "tab"])
def test_semicolon_and_tab_separated_csv(rng: random.Random, delimiter: str) -> None:
    roster = read([agent_row(rng)], delimiter=delimiter)

    assert roster.errors == []
    assert roster.rows[0].agent["areas"][0]["subdistrict_code"] == "520102"


def test_blank_rows_are_skipped_and_rows_keep_their_numbers(
    rng: random.Random,
) -> None:
    rows = [agent_row(rng), {}, agent_row(rng, national_id="123"), {}, agent_row(rng)]

    roster = read(rows)

    assert [r.row for r in roster.rows] == [2, 6]
    assert errors_of(roster) == [(4, "national_id", "invalid_national_id")]
    assert (roster.total, roster.ok, roster.failed) == (3, 2, 1)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_utf16_unicode_text_export(rng: random.Random, encoding: str) -> None:
    roster = read([agent_row(rng)], encoding=encoding, delimiter="\t")

    assert roster.ok == 1


def test_xlsx_is_recognised_without_an_extension(rng: random.Random) -> None:
    data = roster_file([agent_row(rng)], fmt="xlsx")

    assert read_roster(data, "roster-upload").ok == 1


# --- broken rows -----------------------------------------------------------------

BROKEN_CELLS = [
    ("kind", "อาสา", "unknown_kind"),
    ("kind", "", "required"),
    ("first_name_th", "", "required"),
    ("last_name_th", " ", "required"),
    ("national_id", "", "required"),
    ("national_id", "1234567890123", "invalid_national_id"),
    ("national_id", "12345", "invalid_national_id"),
    ("phone", "12345", "invalid_phone"),
    ("phone", "call me", "invalid_phone"),
    ("email", "somsri.example.com", "invalid_email"),
    ("email", "a@b@c.com", "invalid_email"),
    ("languages", "th, klingon", "unknown_language"),
    ("province_code", "ลำปางใต้", "unknown_province"),
    ("province_code", "TH-99", "unknown_province"),
    ("district", "ไม่มีอำเภอนี้", "unknown_district"),
    ("district", "9999", "unknown_district"),
    ("district", "5301", "district_not_in_province"),
    ("subdistrict", "ไม่มีตำบลนี้", "unknown_subdistrict"),
    ("subdistrict", "520301", "subdistrict_not_in_district"),
    ("subdistrict", "ต.ลำปางหลวง", "subdistrict_not_in_district"),
    ("start_date", "31/02/2567", "invalid_date"),
    ("start_date", "เมื่อวาน", "invalid_date"),
    ("term_end", "30/09/2560", "term_before_start"),
]


@pytest.mark.parametrize(("column", "value", "code"), BROKEN_CELLS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_each_broken_cell_is_reported_with_row_and_column(
    rng: random.Random, column: str, value: str, code: str, fmt: str
) -> None:
    rows = [agent_row(rng), agent_row(rng, **{column: value}), agent_row(rng)]

    roster = read(rows, fmt=fmt)

    assert errors_of(roster) == [(3, column, code)]
    assert roster.errors[0].detail
    assert [r.row for r in roster.rows] == [2, 4]
    assert roster.rejected[0]["row"] == "3"
    assert roster.rejected[0][column] == value.strip()


def test_every_problem_of_a_row_is_reported(rng: random.Random) -> None:
    row = agent_row(
        rng,
        kind="x",
        first_name_th="",
        national_id="123",
        phone="1",
        email="no",
        languages="xx",
        province_code="เชียงใหม่",
        district="เกาะคา",
        subdistrict="",
        start_date="2025-01-01",
        term_end="2024-01-01",
    )

    roster = read([row])

    assert errors_of(roster) == [
        (2, "kind", "unknown_kind"),
        (2, "first_name_th", "required"),
        (2, "national_id", "invalid_national_id"),
        (2, "phone", "invalid_phone"),
        (2, "email", "invalid_email"),
        (2, "languages", "unknown_language"),
        (2, "district", "district_not_in_province"),
        (2, "term_end", "term_before_start"),
    ]
    assert roster.failed == 1


def test_duplicate_national_ids_reject_the_later_rows(rng: random.Random) -> None:
    first = agent_row(rng)
    spaced = " ".join(first["national_id"][i : i + 4] for i in range(0, 13, 4))
    rows = [first, agent_row(rng), agent_row(rng, national_id=spaced), dict(first)]

    roster = read(rows)

    assert [r.row for r in roster.rows] == [2, 3]
    assert errors_of(roster) == [
        (4, "national_id", "duplicate_in_file"),
        (5, "national_id", "duplicate_in_file"),
    ]
    assert "row 2" in roster.errors[0].detail
    assert all(first["national_id"] not in e.detail for e in roster.errors)


def test_details_never_quote_personal_data(rng: random.Random) -> None:
    national_id = generate_national_id(rng)
    # Columns shifted by one: the ID lands in kind, the phone in the dates.
    row = agent_row(
        rng,
        kind=national_id,
        province_code="0812345678",
        start_date="somsri@example.com",
        email="not an email 0899999999",
    )

    roster = read([row])

    assert {e.code for e in roster.errors} >= {"unknown_kind", "invalid_date"}
    for error in roster.errors:
        for secret in (national_id, "0812345678", "somsri@", "0899999999"):
            assert secret not in error.detail


# --- places ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("province", "district", "subdistrict", "area"),
    [
        ("จ.ลำปาง", "อ.เมือง", "ต.หัวเวียง", ("TH-52", "5201", "520102")),
        ("จังหวัดลำปาง", "อำเภอเมืองลำปาง", "ตำบลหัวเวียง", ("TH-52", "5201", "520102")),
        ("ลำปาง", "เมืองลำปาง", "", ("TH-52", "5201", None)),
        ("ลำปาง", "เมือง", "", ("TH-52", "5201", None)),
        ("Lampang", "Ko Kha", "", ("TH-52", "5203", None)),
        ("TH-52", "5203", "", ("TH-52", "5203", None)),
        ("th-52", "", "", ("TH-52", None, None)),
        ("52", "", "", ("TH-52", None, None)),
        ("ลำปาง", "", "ลำปางหลวง", ("TH-52", "5203", "520301")),
        ("กรุงเทพฯ", "เขตบางรัก", "แขวงสีลม", ("TH-10", "1004", "100402")),
        ("กทม.", "บางรัก", "", ("TH-10", "1004", None)),
        ("กรุงเทพมหานคร", "", "", ("TH-10", None, None)),
        ("", "5201", "", ("TH-52", "5201", None)),
        ("", "", "520102", ("TH-52", "5201", "520102")),
        ("", "เกาะคา", "", ("TH-52", "5203", None)),
        # The subdistrict settles which จอมทอง district is meant.
        ("", "จอมทอง", "บางขุนเทียน", ("TH-10", "1035", "103501")),
        ("กทม", "เขตจอมทอง", "แขวงบางมด", ("TH-10", "1035", "103503")),
    ],
)
def test_places_as_provinces_write_them(
    rng: random.Random,
    province: str,
    district: str,
    subdistrict: str,
    area: tuple[str, str | None, str | None],
) -> None:
    row = agent_row(
        rng, province_code=province, district=district, subdistrict=subdistrict
    )

    roster = read([row])

    assert roster.errors == []
    assert roster.rows[0].agent["areas"] == [
        {
            "province_code": area[0],
            "district_code": area[1],
            "subdistrict_code": area[2],
        }
    ]


@pytest.mark.parametrize(
    ("province", "district", "subdistrict", "column", "code", "words"),
    [
        ("ลำปางใต้", "", "", "province_code", "unknown_province", ["ลำปางใต้"]),
        (
            "เชียงใหม่",
            "เกาะคา",
            "",
            "district",
            "district_not_in_province",
            ["เกาะคา", "TH-50", "เชียงใหม่", "TH-52"],
        ),
        (
            "ลำปาง",
            "ไม่มีอำเภอนี้",
            "",
            "district",
            "unknown_district",
            ["ไม่มีอำเภอนี้", "TH-52"],
        ),
        ("", "จอมทอง", "", "district", "ambiguous_district", ["1035", "5002"]),
        ("", "อ.เมือง", "", "district", "ambiguous_district", ["province"]),
        ("กทม", "เมือง", "", "district", "unknown_district", ["Bangkok"]),
        (
            "กทม",
            "",
            "แขวงบางมด",
            "subdistrict",
            "ambiguous_subdistrict",
            ["103503", "104901"],
        ),
        (
            "ลำปาง",
            "เกาะคา",
            "หัวเวียง",
            "subdistrict",
            "subdistrict_not_in_district",
            ["หัวเวียง", "5203"],
        ),
        (
            "ลำปาง",
            "",
            "สีลม",
            "subdistrict",
            "subdistrict_not_in_province",
            ["สีลม", "TH-52"],
        ),
        ("ลำปาง", "", "500101", "subdistrict", "subdistrict_not_in_province", []),
        ("", "", "999999", "subdistrict", "unknown_subdistrict", ["999999"]),
    ],
)
def test_place_errors_say_which_name_and_where(
    rng: random.Random,
    province: str,
    district: str,
    subdistrict: str,
    column: str,
    code: str,
    words: list[str],
) -> None:
    row = agent_row(
        rng, province_code=province, district=district, subdistrict=subdistrict
    )

    roster = read([row])

    assert errors_of(roster) == [(2, column, code)]
    for word in words:
        assert word in roster.errors[0].detail


@pytest.mark.parametrize(
    ("province", "district", "subdistrict", "column", "code", "suggested"),
    [
        # misspelt: a vowel dropped, a final consonant that sounds the same,
        # a doubled letter, a tone mark mistyped; and in Latin letters
        ("ลำปาง", "อ.เมือง", "ต.หัวเวยง", "subdistrict", "unknown_subdistrict", "520102"),
        ("ลำปาง", "อ.เมือง", "พระบาด", "subdistrict", "unknown_subdistrict", "520105"),
        ("ลำปาง", "อ.เมือง", "บ้านแลงง", "subdistrict", "unknown_subdistrict", "520109"),
        ("ลำปาง", "", "สบตุ่ย", "subdistrict", "unknown_subdistrict", "520104"),
        (
            "Lampang",
            "Mueang",
            "Hua Weing",
            "subdistrict",
            "unknown_subdistrict",
            "520102",
        ),
        ("ลำปาง", "เมืองลำปง", "", "district", "unknown_district", "5201"),
    ],
)
def test_a_misspelt_place_gets_the_closest_names(
    rng: random.Random,
    province: str,
    district: str,
    subdistrict: str,
    column: str,
    code: str,
    suggested: str,
) -> None:
    row = agent_row(
        rng, province_code=province, district=district, subdistrict=subdistrict
    )

    roster = read([row])

    assert errors_of(roster) == [(2, column, code)]
    error = roster.errors[0]
    assert error.suggestions[0].code == suggested
    assert error.suggestions[0].reason == "similar_name"
    assert len(error.suggestions) <= 3
    assert f"did you mean {suggested} ({error.suggestions[0].name_th}" in error.detail


@pytest.mark.parametrize(
    ("province", "district", "subdistrict"),
    [
        ("ลำปาง", "อ.เมือง", "กขคงจฉช"),
        ("ลำปาง", "อ.เมือง", "ไม่มีตำบลนี้"),
        ("ลำปาง", "ไม่มีอำเภอนี้", ""),
        ("ลำปาง", "อ.เมือง", "Springfield"),
    ],
)
def test_a_name_with_no_close_neighbour_gets_no_suggestion(
    rng: random.Random, province: str, district: str, subdistrict: str
) -> None:
    row = agent_row(
        rng, province_code=province, district=district, subdistrict=subdistrict
    )

    roster = read([row])

    assert len(roster.errors) == 1
    assert roster.errors[0].suggestions == ()
    assert "did you mean" not in roster.errors[0].detail


@pytest.mark.parametrize(
    ("province", "district", "subdistrict", "column", "successors"),
    [
        # แขวงบางนา was split in 2022 (a name also used in Ayutthaya today)
        ("กทม", "เขตบางนา", "แขวงบางนา", "subdistrict", ["104702", "104703"]),
        ("กรุงเทพมหานคร", "", "บางนา", "subdistrict", ["104702", "104703"]),
        # แขวงบางบอน, split in four the same day: all four are named
        (
            "กทม",
            "บางบอน",
            "บางบอน",
            "subdistrict",
            ["105002", "105003", "105004", "105005"],
        ),
        # ทุ่งกว๋าว moved from แจ้ห่ม to the new district เมืองปาน in 2012
        ("ลำปาง", "แจ้ห่ม", "ทุ่งกว๋าว", "subdistrict", ["521303"]),
        # an old code
        ("กทม", "", "104701", "subdistrict", ["104702", "104703"]),
        # อ.บึงกาฬ of หนองคาย became เมืองบึงกาฬ of the new province (2011)
        ("หนองคาย", "บึงกาฬ", "", "district", ["3801"]),
    ],
)
def test_a_retired_place_suggests_its_successors_first(
    rng: random.Random,
    province: str,
    district: str,
    subdistrict: str,
    column: str,
    successors: list[str],
) -> None:
    row = agent_row(
        rng, province_code=province, district=district, subdistrict=subdistrict
    )

    roster = read([row])

    assert [e.column for e in roster.errors] == [column]
    error = roster.errors[0]
    found = [s.code for s in error.suggestions if s.reason == "successor"]
    assert found == successors
    assert [s.code for s in error.suggestions][: len(successors)] == successors
    assert "retired" in error.detail
    assert all(code in error.detail for code in successors)


def test_suggestions_reach_the_rejected_rows_csv(rng: random.Random) -> None:
    roster = read([agent_row(rng, subdistrict="ต.หัวเวยง")])

    table = list(csv.DictReader(io.StringIO(rejected_rows_csv(roster).decode())))

    assert "did you mean 520102 (หัวเวียง)?" in table[0]["errors"]


@pytest.mark.parametrize(
    ("country", "code"),
    [
        ("TW", "TW"),
        ("tw", "TW"),
        ("ไต้หวัน", "TW"),
        ("Israel", "IL"),
        ("เกาหลีใต้", "KR"),
        ("South Korea", "KR"),
        ("ญี่ปุ่น", "JP"),
        ("มาเลเซีย", "MY"),
        ("UAE", "AE"),
        ("ซาอุดีอาระเบีย", "SA"),
        ("Hong Kong", "HK"),
        ("สวีเดน", "SE"),
        ("FI", "FI"),
        ("สหรัฐอเมริกา", "US"),
        ("Australia", "AU"),
    ],
)
def test_volunteers_abroad_have_a_country_and_no_area(
    rng: random.Random, country: str, code: str
) -> None:
    row = agent_row(
        rng,
        province_code="",
        district="",
        subdistrict="",
        abroad_country=country,
        abroad_city=" Taichung ",
        phone="+886 912 345 678",
    )

    roster = read([row])

    assert roster.errors == []
    agent = roster.rows[0].agent
    assert (agent["abroad_country"], agent["abroad_city"]) == (code, "Taichung")
    assert agent["areas"] == []


@pytest.mark.parametrize(
    ("overrides", "column", "code"),
    [
        ({"abroad_country": "Atlantis"}, "abroad_country", "unknown_country"),
        ({"abroad_country": "ไทย"}, "abroad_country", "unknown_country"),
        ({"abroad_country": "XX"}, "abroad_country", "unknown_country"),
        ({"abroad_city": "Taipei"}, "province_code", "place_required"),
        ({}, "province_code", "place_required"),
    ],
)
def test_abroad_errors(
    rng: random.Random, overrides: dict[str, str], column: str, code: str
) -> None:
    # A city without its country is no place either.
    row = agent_row(rng, province_code="", district="", subdistrict="", **overrides)

    roster = read([row], columns=[*NAMES])

    assert errors_of(roster) == [(2, column, code)]


def test_a_row_in_thailand_and_abroad_is_a_conflict(rng: random.Random) -> None:
    roster = read([agent_row(rng, abroad_country="TW")])

    assert errors_of(roster) == [(2, "abroad_country", "place_conflict")]


# --- languages and dates ----------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "languages"),
    [
        ("", ["th"]),
        ("th", ["th"]),
        ("TH, EN", ["th", "en"]),
        ("th;en/my km", ["th", "en", "my", "km"]),
        ("ไทย อังกฤษ พม่า เขมร ลาว มลายู", ["th", "en", "my", "km", "lo", "ms"]),
        ("กัมพูชา, km", ["km"]),
        ("ภาษาไทย, ภาษาอังกฤษ", ["th", "en"]),
        # volunteers abroad speak their host country's language
        ("th,fi", ["th", "fi"]),
        ("ko,ja,he,sv", ["ko", "ja", "he", "sv"]),
        ("ไทย ฟินแลนด์ สวีเดน", ["th", "fi", "sv"]),
        ("Thai, Finnish, Swedish", ["th", "fi", "sv"]),
    ],
)
def test_languages(rng: random.Random, cell: str, languages: list[str]) -> None:
    roster = read([agent_row(rng, languages=cell)])

    assert roster.errors == []
    assert roster.rows[0].agent["languages"] == languages
    assert set(languages) <= set(AGENT_LANGUAGES)


def test_unknown_language_is_named(rng: random.Random) -> None:
    roster = read([agent_row(rng, languages="th, elvish, อังกฤษ")])

    assert errors_of(roster) == [(2, "languages", "unknown_language")]
    assert "elvish" in roster.errors[0].detail


@pytest.mark.parametrize(
    ("cell", "bad"), [("xx", "xx"), ("th, fin", "fin"), ("th,xx,fi", "xx")]
)
def test_a_code_outside_iso_639_1_is_refused_by_name(
    rng: random.Random, cell: str, bad: str
) -> None:
    roster = read([agent_row(rng, languages=cell)])

    assert errors_of(roster) == [(2, "languages", "unknown_language")]
    assert f"unknown language '{bad}'" in roster.errors[0].detail
    assert "ISO 639-1" in roster.errors[0].detail


def test_every_iso_639_1_code_is_an_agent_language(rng: random.Random) -> None:
    assert len(AGENT_LANGUAGES) == 184
    assert {"fi", "sv", "ko", "ja", "he", "no", "da"} <= set(AGENT_LANGUAGES)
    roster = read([agent_row(rng, languages=", ".join(AGENT_LANGUAGES[:10]))])
    assert roster.errors == []


@pytest.mark.parametrize(
    ("cell", "day"),
    [
        ("01/10/2567", date(2024, 10, 1)),
        ("1/10/2024", date(2024, 10, 1)),
        ("2567-10-01", date(2024, 10, 1)),
        ("2024-10-01", date(2024, 10, 1)),
        ("2024-10-01 00:00:00", date(2024, 10, 1)),
        ("01.10.2567", date(2024, 10, 1)),
        ("๑/๑๐/๒๕๖๗", date(2024, 10, 1)),
        ("1 ต.ค. 2567", date(2024, 10, 1)),
        ("1 ตุลาคม พ.ศ. 2567", date(2024, 10, 1)),
        ("1 ต.ค. 67", date(2024, 10, 1)),
        ("1 Oct 2024", date(2024, 10, 1)),
    ],
)
def test_dates_as_thai_offices_write_them(
    rng: random.Random, cell: str, day: date
) -> None:
    roster = read([agent_row(rng, start_date=cell, term_end="")])

    assert roster.errors == []
    assert roster.rows[0].agent["start_date"] == day
    assert roster.rows[0].agent["term_end"] is None


# --- the rejected rows and the template --------------------------------------------


def test_rejected_rows_csv_round_trips(rng: random.Random) -> None:
    good = agent_row(rng)
    bad_id = agent_row(rng, national_id="123", first_name_th="บุญมา")
    bad_place = agent_row(
        rng, province_code="เชียงใหม่", district="เกาะคา", subdistrict="", phone="1"
    )
    roster = read([good, bad_id, bad_place], encoding="cp874", headers="th")

    data = rejected_rows_csv(roster)

    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["row"] for r in table] == ["3", "4"]
    assert list(table[0]) == ["row", *NAMES, "errors"]
    assert table[0]["first_name_th"] == "บุญมา"
    assert table[0]["errors"].startswith("national_id: national ID must be")
    assert table[1]["errors"].startswith("phone: phone must be")
    assert "; district: district 'เกาะคา' is not in" in table[1]["errors"]
    # Fixed by the operator, the same file imports again.
    again = read_roster(data, "rejected.csv")
    assert again.total == 2
    assert {e.code for e in again.errors} == {
        "invalid_national_id",
        "district_not_in_province",
        "invalid_phone",
    }


def test_rejected_rows_csv_does_not_let_excel_run_formulas(
    rng: random.Random,
) -> None:
    row = agent_row(rng, first_name_th="=HYPERLINK(1)", national_id="1")
    roster = read([row])

    table = list(csv.DictReader(io.StringIO(rejected_rows_csv(roster).decode())))

    assert table[0]["first_name_th"] == "'=HYPERLINK(1)"


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_the_empty_template_reads_as_an_empty_roster(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"template{suffix}"

    write_template(path)
    roster = read_roster(path.read_bytes(), path.name)

    assert (roster.rows, roster.errors, roster.rejected) == ([], [], [])


def test_the_template_has_both_header_rows_and_explains_each_column(
    tmp_path: Path,
) -> None:
    path = tmp_path / "template.xlsx"
    write_template(path)

    workbook = openpyxl.load_workbook(path)
    roster, explanation = workbook.worksheets
    rows = list(roster.iter_rows(values_only=True))
    assert list(rows[0]) == NAMES
    assert list(rows[1]) == [c.header_th for c in COLUMNS]
    assert explanation.title == "คำอธิบาย (explanation)"
    explained = list(explanation.iter_rows(min_row=2, values_only=True))
    assert [r[:2] for r in explained] == [(c.name, c.header_th) for c in COLUMNS]
    assert all(all(r) for r in explained)


def test_a_filled_in_template_imports(tmp_path: Path, rng: random.Random) -> None:
    path = tmp_path / "template.xlsx"
    write_template(path)
    workbook = openpyxl.load_workbook(path)
    sheet = workbook.worksheets[0]
    row = agent_row(rng)
    sheet.append([row.get(name) for name in NAMES])
    workbook.save(path)

    roster = read_roster(path.read_bytes(), path.name)

    assert [r.row for r in roster.rows] == [3]
    assert roster.errors == []


def test_template_refuses_other_formats(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_template(tmp_path / "template.ods")


def test_explain_columns_lists_every_column() -> None:
    explained = explain_columns()

    assert [e[0] for e in explained] == NAMES
    assert [e[1] for e in explained] == [c.header_th for c in COLUMNS]
    assert {e[0]: e[2] for e in explained}["national_id"] == "required"
    assert {e[0]: e[2] for e in explained}["email"] == "optional"


# --- files that are not rosters ----------------------------------------------------


def test_a_file_without_a_header_is_refused(rng: random.Random) -> None:
    rows = [agent_row(rng) for _ in range(5)]
    text = "\r\n".join(",".join(str(v) for v in r.values()) for r in rows)

    with pytest.raises(RosterFileError) as caught:
        read_roster(text.encode(), "roster.csv")

    assert caught.value.code == "no_header"


def test_missing_required_columns_are_named(rng: random.Random) -> None:
    rows = [agent_row(rng)]
    columns = [c for c in agent_row(rng) if c not in ("kind", "national_id")]

    with pytest.raises(RosterFileError) as caught:
        read(rows, columns=columns)

    assert caught.value.code == "missing_columns"
    assert caught.value.columns == ("kind", "national_id")
    assert "kind" in caught.value.detail
    assert "เลขประจำตัวประชาชน" in caught.value.detail


def test_a_roster_without_any_place_column_is_refused(rng: random.Random) -> None:
    columns = ["kind", "first_name_th", "last_name_th", "national_id"]

    with pytest.raises(RosterFileError) as caught:
        read([agent_row(rng)], columns=columns)

    assert caught.value.columns == ("province_code",)


@pytest.mark.parametrize(
    ("data", "filename", "code"),
    [
        (b"", "roster.csv", "empty"),
        (b"\xef\xbb\xbf\r\n  \r\n", "roster.csv", "empty"),
        # 0xDB is neither UTF-8 nor defined in Windows-874.
        (b"kind,\xdb\xdc\xdd\r\n", "roster.csv", "encoding"),
        (b"PK\x03\x04 not really a workbook", "roster.xlsx", "unreadable"),
        (b"kind,first_name_th\r\nx,y", "roster.xlsx", "unreadable"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old excel",
            "roster.xls",
            "unsupported_format",
        ),
        (b"kind,name\x00\x01\x02,x\r\n", "roster.csv", "unreadable"),
    ],
)
def test_files_that_are_not_rosters(data: bytes, filename: str, code: str) -> None:
    with pytest.raises(RosterFileError) as caught:
        read_roster(data, filename)

    assert caught.value.code == code
    assert caught.value.detail


def test_header_names_are_unambiguous() -> None:
    headers = [h for c in COLUMNS for h in (c.name, c.header_th)]

    assert len(COLUMNS) == 17
    assert len(set(headers)) == len(headers)
