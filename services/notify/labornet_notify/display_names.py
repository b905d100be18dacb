"""The names people read for labornet's codes: agencies and their offices,
case categories, places — in Thai, English and Myanmar.

Offices are named as the public knows them (``สำนักงานประกันสังคมจังหวัด
ลำปาง``, "Lampang Provincial Social Security Office"), with a short form for
SMS, where every character costs. Myanmar text names Thai places in Latin
letters, as migrant workers' documents (work permits, pink cards) write them.
Thai and English names of provinces, districts and subdistricts come from the
gazetteer (``geothai``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geothai

from labornet_shared.categories import AGENCIES, CATEGORIES
from labornet_shared.reference.geography import province

#: languages these tables (and the templates) are written in
WRITTEN_LANGUAGES: tuple[str, ...] = ("th", "en", "my")
FALLBACK = "th"
BANGKOK = "TH-10"
OVERSEAS = "overseas"

AGENCY_NAMES: dict[str, dict[str, str]] = {
    "ops": {
        "th": "สำนักงานปลัดกระทรวงแรงงาน",
        "en": AGENCIES["ops"],
        "my": "အလုပ်သမားဝန်ကြီးဌာန အမြဲတမ်းအတွင်းဝန်ရုံး",
    },
    "doe": {
        "th": "กรมการจัดหางาน",
        "en": AGENCIES["doe"],
        "my": "အလုပ်အကိုင်ဦးစီးဌာန",
    },
    "dsd": {
        "th": "กรมพัฒนาฝีมือแรงงาน",
        "en": AGENCIES["dsd"],
        "my": "ကျွမ်းကျင်မှု ဖွံ့ဖြိုးရေး ဦးစီးဌာန",
    },
    "dlpw": {
        "th": "กรมสวัสดิการและคุ้มครองแรงงาน",
        "en": AGENCIES["dlpw"],
        "my": "အလုပ်သမား အကာအကွယ်နှင့် သက်သာချောင်ချိရေး ဦးစီးဌာန",
    },
    "sso": {
        "th": "สำนักงานประกันสังคม",
        "en": AGENCIES["sso"],
        "my": "လူမှုဖူလုံရေးရုံး",
    },
    "tosh": {
        "th": "สถาบันส่งเสริมความปลอดภัย อาชีวอนามัย และสภาพแวดล้อมในการทำงาน",
        "en": AGENCIES["tosh"],
        "my": "ထိုင်းနိုင်ငံ လုပ်ငန်းခွင် ဘေးကင်းရေးနှင့် ကျန်းမာရေး အင်စတီကျု",
    },
}

# A provincial office's name, full and short, per language: ``{p}`` is the
# province as the language writes it before or after "office" (see
# _province_phrase). TOSH has no provincial offices: its name is national.
_OFFICE_NAMES: dict[str, dict[str, tuple[str, str]]] = {
    "ops": {
        "th": ("สำนักงานแรงงาน{p}", "สนง.แรงงาน {ps}"),
        "en": ("{p} Labour Office", "{ps} Labour Office"),
        "my": ("{p} အလုပ်သမားရုံး", "{ps} အလုပ်သမားရုံး"),
    },
    "doe": {
        "th": ("สำนักงานจัดหางาน{p}", "สนง.จัดหางาน {ps}"),
        "en": ("{p} Employment Office", "{ps} Employment Office"),
        "my": ("{p} အလုပ်အကိုင်ရုံး", "{ps} အလုပ်အကိုင်ရုံး"),
    },
    "dsd": {
        # DSD's provincial offices carry the bare province name
        "th": ("สำนักงานพัฒนาฝีมือแรงงาน{n}", "สนง.พัฒนาฝีมือแรงงาน{n}"),
        "en": ("{n} Skill Development Office", "{n} Skill Development Office"),
        "my": ("{n} ကျွမ်းကျင်မှု ဖွံ့ဖြိုးရေးရုံး", "{n} ကျွမ်းကျင်မှုရုံး"),
    },
    "dlpw": {
        "th": (
            "สำนักงานสวัสดิการและคุ้มครองแรงงาน{p}",
            "สนง.สวัสดิการและคุ้มครองแรงงาน {ps}",
        ),
        "en": (
            "{p} Labour Protection and Welfare Office",
            "{ps} Labour Protection Office",
        ),
        "my": (
            "{p} အလုပ်သမား အကာအကွယ်နှင့် သက်သာချောင်ချိရေးရုံး",
            "{ps} အလုပ်သမား အကာအကွယ်ရုံး",
        ),
    },
    "sso": {
        "th": ("สำนักงานประกันสังคม{p}", "สนง.ประกันสังคม {ps}"),
        "en": ("{p} Social Security Office", "{ps} Social Security Office"),
        "my": ("{p} လူမှုဖူလုံရေးရုံး", "{ps} လူမှုဖူလုံရေးရုံး"),
    },
    "tosh": {
        "th": (AGENCY_NAMES["tosh"]["th"], "สถาบันส่งเสริมความปลอดภัยฯ (สสปท.)"),
        "en": (AGENCY_NAMES["tosh"]["en"], "TOSH (Occupational Safety Institute)"),
        "my": (AGENCY_NAMES["tosh"]["my"], "TOSH (လုပ်ငန်းခွင် ဘေးကင်းရေး)"),
    },
}

# the office that serves Thai workers abroad: ``doe.overseas``
_OVERSEAS: dict[str, tuple[str, str]] = {
    "th": ("{agency} (ดูแลแรงงานไทยในต่างประเทศ)", "{agency} (ต่างประเทศ)"),
    "en": ("{agency} (Thai workers abroad)", "{agency} (workers abroad)"),
    "my": (
        "{agency} (နိုင်ငံရပ်ခြားရှိ ထိုင်းအလုပ်သမားများ)",
        "{agency} (နိုင်ငံရပ်ခြား)",
    ),
}

CATEGORY_NAMES: dict[str, dict[str, str]] = {
    "job_seeking": {
        "th": "หางานทำในประเทศ",
        "en": "finding a job",
        "my": "အလုပ်ရှာဖွေခြင်း",
    },
    "overseas_employment": {
        "th": "ไปทำงานต่างประเทศ",
        "en": "working abroad",
        "my": "နိုင်ငံရပ်ခြားတွင် အလုပ်လုပ်ခြင်း",
    },
    "migrant_worker": {
        "th": "ใบอนุญาตทำงานและการจ้างแรงงานข้ามชาติ",
        "en": "work permits and migrant workers",
        "my": "အလုပ်လုပ်ခွင့်ပါမစ်နှင့် ရွှေ့ပြောင်းအလုပ်သမား ကိစ္စ",
    },
    "skill_training": {
        "th": "ฝึกอบรมฝีมือแรงงาน",
        "en": "skills training",
        "my": "ကျွမ်းကျင်မှု သင်တန်း",
    },
    "skill_certification": {
        "th": "ทดสอบมาตรฐานฝีมือแรงงาน",
        "en": "skill standard tests and certificates",
        "my": "ကျွမ်းကျင်မှုစံနှုန်း စစ်ဆေးခြင်းနှင့် လက်မှတ်",
    },
    "unpaid_wages": {
        "th": "ค่าจ้างค้างจ่าย",
        "en": "unpaid wages",
        "my": "မရသေးသော လုပ်ခလစာ",
    },
    "termination_severance": {
        "th": "การเลิกจ้างและค่าชดเชย",
        "en": "dismissal and severance pay",
        "my": "အလုပ်ထုတ်ခံရခြင်းနှင့် လျော်ကြေးငွေ",
    },
    "working_conditions": {
        "th": "สภาพการจ้างและการทำงาน",
        "en": "working conditions",
        "my": "အလုပ်ခန့်ထားမှုနှင့် လုပ်ငန်းခွင် အခြေအနေ",
    },
    "social_security_benefit": {
        "th": "สิทธิประโยชน์ประกันสังคม",
        "en": "social security benefits",
        "my": "လူမှုဖူလုံရေး အကျိုးခံစားခွင့်",
    },
    "social_security_membership": {
        "th": "การเป็นผู้ประกันตน",
        "en": "social security membership",
        "my": "လူမှုဖူလုံရေး အဖွဲ့ဝင်ဖြစ်မှု",
    },
    "work_injury": {
        "th": "ประสบอันตรายจากการทำงาน (กองทุนเงินทดแทน)",
        "en": "work injury (Workmen's Compensation Fund)",
        "my": "လုပ်ငန်းခွင် ထိခိုက်ဒဏ်ရာ (လျော်ကြေးရန်ပုံငွေ)",
    },
    "workplace_safety": {
        "th": "ความปลอดภัยในการทำงาน",
        "en": "workplace safety",
        "my": "လုပ်ငန်းခွင် ဘေးကင်းလုံခြုံရေး",
    },
    "general_inquiry": {
        "th": "เรื่องทั่วไป",
        "en": "general enquiry",
        "my": "အထွေထွေ မေးမြန်းချက်",
    },
}

# a case whose problem screening has not named yet
_UNSCREENED = {
    "th": "รอคัดกรองประเภทเรื่อง",
    "en": "not yet screened",
    "my": "အမျိုးအစား စိစစ်ဆဲ",
}


def _lang(language: str) -> str:
    return language if language in WRITTEN_LANGUAGES else FALLBACK


def province_name(province_code: str, language: str) -> str:
    """``ลำปาง`` / ``Lampang``; Myanmar text writes it as English does."""
    info = province(province_code)
    if info is None:
        return province_code
    return info.name_th if _lang(language) == "th" else info.name_en


def _province_phrase(province_code: str, language: str, short: bool) -> str:
    """The province as an office's name carries it: ``จังหวัดลำปาง`` /
    ``จ.ลำปาง``, Bangkok without "จังหวัด"; ``Lampang Provincial`` /
    ``Lampang``; ``Lampang ပြည်နယ်`` / ``Lampang``."""
    name = province_name(province_code, language)
    language = _lang(language)
    bangkok = province_code == BANGKOK
    if language == "th":
        if bangkok:
            return "กทม." if short else name
        return f"จ.{name}" if short else f"จังหวัด{name}"
    if short or bangkok:
        return name
    return f"{name} Provincial" if language == "en" else f"{name} ပြည်နယ်"


def agency_name(agency: str, language: str) -> str:
    """The agency (department) in ``language``."""
    names = AGENCY_NAMES.get(agency)
    return agency if names is None else names[_lang(language)]


def office_name(referral: Mapping[str, Any], language: str, short: bool = False) -> str:
    """The office a referral went to (``referral`` as events name it:
    ``agency``, ``province_code``, ``office``), as the public knows it."""
    agency = referral["agency"]
    language = _lang(language)
    if str(referral.get("office", "")).endswith(f".{OVERSEAS}"):
        full, brief = _OVERSEAS[language]
        return (brief if short else full).format(agency=agency_name(agency, language))
    patterns = _OFFICE_NAMES.get(agency)
    if patterns is None:
        return str(referral.get("office") or agency)
    code = referral["province_code"]
    full, brief = patterns[language]
    return (brief if short else full).format(
        p=_province_phrase(code, language, short=False),
        ps=_province_phrase(code, language, short=True),
        n=province_name(code, language),
    )


def category_name(category: str | None, language: str) -> str:
    """A case category as citizens call it; ``None``: not yet screened."""
    language = _lang(language)
    if category is None:
        return _UNSCREENED[language]
    names = CATEGORY_NAMES.get(category)
    return category if names is None else names[language]


def place_name(location: Mapping[str, Any], language: str) -> str:
    """Where a case is, from its codes: ``ต.พระบาท อ.เมืองลำปาง จ.ลำปาง``,
    ``Phra Bat, Mueang Lampang, Lampang``."""
    language = _lang(language)
    code = location["province_code"]
    bangkok = code == BANGKOK
    parts: list[str] = []
    subdistrict = (
        geothai.subdistrict(location["subdistrict_code"])
        if location.get("subdistrict_code")
        else None
    )
    district_code = location.get("district_code") or (
        subdistrict.district_code if subdistrict is not None else None
    )
    district = geothai.district(district_code) if district_code else None
    if language == "th":
        if subdistrict is not None:
            prefix = "แขวง" if bangkok else "ต."
            parts.append(f"{prefix}{subdistrict.name_th}")
        if district is not None:
            # Bangkok's district names already begin with เขต
            parts.append(district.name_th if bangkok else f"อ.{district.name_th}")
        name = province_name(code, "th")
        parts.append(name if bangkok else f"จ.{name}")
        return " ".join(parts)
    if subdistrict is not None:
        parts.append(subdistrict.name_en)
    if district is not None:
        parts.append(district.name_en)
    parts.append(province_name(code, language))
    return ", ".join(parts)


def check_tables() -> None:
    """Every agency and category named in every written language (a test
    calls this; a new category without names fails it)."""
    for table, codes in ((AGENCY_NAMES, AGENCIES), (CATEGORY_NAMES, CATEGORIES)):
        for code in codes:
            missing = set(WRITTEN_LANGUAGES) - set(table.get(code, {}))
            if missing:
                raise LookupError(f"{code}: no name in {sorted(missing)}")
    for agency in AGENCIES:
        missing = set(WRITTEN_LANGUAGES) - set(_OFFICE_NAMES.get(agency, {}))
        if missing:
            raise LookupError(f"{agency} offices: no name in {sorted(missing)}")
