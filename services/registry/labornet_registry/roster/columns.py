"""The roster's columns: English name, Thai header, the other headers
provinces use, and what each holds."""

from __future__ import annotations

from dataclasses import dataclass


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
        "ภาษาที่พูดได้ คั่นด้วยจุลภาค รหัส ISO 639-1 (th, en, my, km, lo, ms, fi ...);"
        " เว้นว่าง = ภาษาไทย",
        "Languages spoken, comma-separated ISO 639-1 codes (th, en, my, km, lo, "
        "ms, fi ...); empty means Thai",
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

# English names, in the template's order
NAMES = tuple(c.name for c in COLUMNS)
BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)
# A file needs some column for where agents work; codes of districts and
# subdistricts imply their province, so any of these will do.
PLACE_COLUMNS = ("province_code", "district", "subdistrict", "abroad_country")
THAI_PLACE_COLUMNS = ("province_code", "district", "subdistrict")
DATE_COLUMNS = ("start_date", "term_end")
