"""A synthetic field-agent network, the same every time from the same seed.

``labornet registry seed``, the demos, the tests and the import benchmark all
use this one generator, and it writes the roster CSV that provinces send, so
that a seeded network goes through the same importer as a real one.

The network looks like the real one (issue 4): 725 labour graduates with at
least one in every province, 126 of them in the central region, more in big
provinces and in the deep south where the network began; 7,746 labour
volunteers in Thailand, one in nearly every subdistrict and two in a few big
ones; 408 volunteers abroad, weighted like the Thai workers abroad. Everyone
gets a plausible Thai name, a valid and unique national ID, a unique phone,
and the languages people speak where they work.

The national IDs pass validation but are random; never use this data outside
tests, demos and benchmarks.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import geothai

from labornet_shared.csvcells import safe_record
from labornet_shared.reference.geography import provinces
from labornet_shared.reference.national_id import generate_national_id

__all__ = [
    "NETWORK_GRADUATES",
    "NETWORK_VOLUNTEERS_ABROAD",
    "NETWORK_VOLUNTEERS_THAILAND",
    "ROSTER_COLUMNS",
    "generate_network",
    "write_network_csv",
]

NETWORK_GRADUATES = 725
NETWORK_VOLUNTEERS_THAILAND = 7_746
NETWORK_VOLUNTEERS_ABROAD = 408
# Graduates in the central region in the real network (issue 4); a network
# of another size keeps the same share.
NETWORK_CENTRAL_GRADUATES = 126

ROSTER_COLUMNS: tuple[str, ...] = (
    "kind",
    "first_name_th",
    "last_name_th",
    "first_name_en",
    "last_name_en",
    "national_id",
    "phone",
    "email",
    "line_user_id",
    "languages",
    "province_code",
    "district",
    "subdistrict",
    "abroad_country",
    "abroad_city",
    "start_date",
    "term_end",
)

GRADUATE = "labour_graduate"
VOLUNTEER = "labour_volunteer"

# Yala, Narathiwat and Pattani, where the network began: they weigh double
# when graduates are shared out, and their first graduates started in 2010.
DEEP_SOUTH = ("TH-94", "TH-95", "TH-96")
_DEEP_SOUTH_WEIGHT = 2
_NETWORK_FIRST_YEAR = 2010
# Other provinces joined between these years; every province by 2024.
_EXPANSION_YEARS = (2012, 2024)
_LAST_START_YEAR = 2025
# Exponents on a uniform draw of a graduate's start within the province's
# years: above 1 leans early (deep south), below 1 leans late (elsewhere).
_DEEP_SOUTH_GROWTH = 1.5
_EXPANSION_GROWTH = 0.5
_VOLUNTEER_TERM_YEARS = 4
# Volunteers are appointed for four-year terms, so most on a roster started
# recently; older ones are still listed with a term that has run out.
_VOLUNTEER_START_YEARS = tuple(range(2012, 2026))
_VOLUNTEER_START_WEIGHTS = (1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 6, 9, 10, 10)

# A few subdistricts have no volunteer at any time (posts fall vacant).
_VACANT_SUBDISTRICT_SHARE = 0.01
# Second volunteers go to the big subdistricts: provincial seats (district
# code ending 01) and Bangkok.
_SEAT_WEIGHT = 3
_BANGKOK_WEIGHT = 2

# Shares of agents with each optional detail.
_GRADUATE_ENGLISH_NAME = 0.55
_VOLUNTEER_ENGLISH_NAME = 0.38
_GRADUATE_EMAIL = 0.6
_VOLUNTEER_EMAIL = 0.25
_GRADUATE_LINE = 0.9
_VOLUNTEER_LINE = 0.6
_ABROAD_LINE = 0.8
_ABROAD_LOCAL_PHONE = 0.6
_GRADUATE_SPEAKS_ENGLISH = 0.7
_VOLUNTEER_SPEAKS_ENGLISH = 0.12
# Graduates are more often chosen for the languages of their area.
_GRADUATE_LANGUAGE_FACTOR = 1.5
_PROVINCE_WIDE_ONE = 0.25
_PROVINCE_WIDE_MANY = 0.08


# --- names -------------------------------------------------------------------


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """Read ``"ไทย Roman"`` lines into (Thai, romanised) pairs."""
    pairs = []
    for line in text.strip().splitlines():
        thai, roman = line.split()
        pairs.append((thai, roman))
    return tuple(pairs)


_MALE_FIRST_NAMES = _pairs("""
สมชาย Somchai
สมศักดิ์ Somsak
สมพงษ์ Sompong
ประเสริฐ Prasert
วิชัย Wichai
สุรชัย Surachai
ธนากร Thanakorn
ณัฐพล Nattaphon
กิตติพงษ์ Kittipong
อนุชา Anucha
ชัยวัฒน์ Chaiwat
ธีรวัฒน์ Theerawat
พงศกร Phongsakorn
ศุภชัย Supachai
วีระพงษ์ Weerapong
เกียรติศักดิ์ Kiattisak
อภิชาติ Aphichat
ปิยะพงษ์ Piyapong
สุริยา Suriya
ณรงค์ Narong
บุญมี Boonmee
บุญเลิศ Boonlert
ทองดี Thongdee
สมบัติ Sombat
เอกชัย Ekkachai
ภานุวัฒน์ Phanuwat
จักรพันธ์ Jakkaphan
ธนพล Thanaphon
วรวุฒิ Worawut
นพดล Noppadon
ไพโรจน์ Pairoj
สุทธิพงษ์ Sutthipong
อาทิตย์ Athit
ชยพล Chayaphon
ศักดิ์ชัย Sakchai
มานพ Manop
ปรีชา Preecha
วัชระ Watchara
อดิศักดิ์ Adisak
กฤษดา Kritsada
สิทธิชัย Sitthichai
ยุทธนา Yutthana
อำนาจ Amnat
เฉลิมชัย Chaloemchai
ธวัชชัย Thawatchai
รัฐพล Rattaphon
ปัณณวัฒน์ Pannawat
ธีรภัทร Teerapat
ภูมิพัฒน์ Phumiphat
""")

_FEMALE_FIRST_NAMES = _pairs("""
สมศรี Somsri
สุดารัตน์ Sudarat
วันเพ็ญ Wanphen
มาลี Malee
กาญจนา Kanchana
ศิริพร Siriporn
สุภาพร Supaporn
นภาพร Napaporn
พรทิพย์ Porntip
อรุณี Arunee
ปิยะนุช Piyanuch
จันทร์เพ็ญ Chanphen
รัตนา Rattana
ดวงใจ Duangjai
วิไลวรรณ Wilaiwan
เพ็ญศรี Phensri
ณัฐธิดา Natthida
ปวีณา Paweena
กนกวรรณ Kanokwan
อรอุมา Onuma
ชุติมา Chutima
จิราพร Jiraporn
ศศิธร Sasithorn
พิมพ์ชนก Phimchanok
ธิดารัตน์ Thidarat
นิภาพร Nipaporn
สายสุนีย์ Saisunee
บุษบา Budsaba
ลำดวน Lamduan
ทองใบ Thongbai
อัมพร Amporn
ยุพิน Yupin
วาสนา Wasana
สุนันทา Sunantha
เยาวลักษณ์ Yaowalak
ประภาพร Praphaporn
อัญชลี Anchalee
กมลชนก Kamonchanok
ปาริชาต Parichat
ณัฐวดี Nattawadee
รุ่งนภา Rungnapa
พัชรินทร์ Patcharin
สุกัญญา Sukanya
เบญจวรรณ Benjawan
จุฑามาศ Chuthamat
""")

_SURNAMES = _pairs("""
ศรีสุข Srisuk
วงศ์ใหญ่ Wongyai
แก้วมณี Kaewmanee
ใจดี Jaidee
สุขสวัสดิ์ Suksawat
ทองคำ Thongkham
บุญมา Boonma
ศรีวงศ์ Sriwong
แสงทอง Saengthong
พรหมมา Phromma
จันทร์แก้ว Chankaew
สมบูรณ์ Somboon
ประเสริฐศักดิ์ Prasertsak
วงศ์สวัสดิ์ Wongsawat
รุ่งเรือง Rungruang
มีสุข Meesuk
ทองดี Thongdee
ศรีทอง Srithong
บุญเรือง Boonruang
แก้วประเสริฐ Kaewprasert
พึ่งบุญ Phuengboon
เพชรรัตน์ Phetcharat
สุวรรณรัตน์ Suwannarat
ชัยมงคล Chaimongkol
อินทร์แก้ว Inkaew
นาคสุข Naksuk
ภูมิสวัสดิ์ Phumisawat
ศักดิ์สิทธิ์ Saksit
เจริญสุข Charoensuk
เจริญผล Charoenphon
รัตนพันธ์ Rattanaphan
ธนสาร Thanasan
ศรีประเสริฐ Sriprasert
ทองมา Thongma
คำแก้ว Khamkaew
คำภา Khampha
ศรีบุญเรือง Sriboonruang
พันธุ์ดี Phandee
ปัญญาดี Panyadee
บุญประเสริฐ Boonprasert
สายทอง Saithong
นาคประเสริฐ Nakprasert
ยอดเพชร Yodphet
วิเศษศักดิ์ Wisetsak
กิตติวงศ์ Kittiwong
สิทธิโชค Sitthichok
ชูเกียรติ Chukiat
เรืองศรี Ruangsri
มณีรัตน์ Maneerat
จันทร์หอม Chanhom
อ่อนศรี Onsri
ศรีสมบูรณ์ Srisomboon
หอมจันทร์ Homchan
พรมสุวรรณ Promsuwan
แสนสุข Saensuk
แสนทวีสุข Saenthaweesuk
ทวีศักดิ์ Thaweesak
วงศ์คำ Wongkham
ไชยวงศ์ Chaiwong
อุดมสุข Udomsuk
อุดมศักดิ์ Udomsak
สมปอง Sompong
ภักดี Phakdee
เกตุแก้ว Ketkaew
บัวทอง Buathong
บัวแก้ว Buakaew
ดวงแก้ว Duangkaew
ดวงดี Duangdee
แก้วกาญจนา Kaewkanchana
สุขประเสริฐ Sukprasert
มหาวงศ์ Mahawong
ศรีสวัสดิ์ Srisawat
นิลสุวรรณ Nilsuwan
ทองสุข Thongsuk
ศรีเมือง Srimuang
เมืองแก้ว Muangkaew
คงเจริญ Khongcharoen
คงสวัสดิ์ Khongsawat
ปานทอง Panthong
ปิ่นทอง Pinthong
นาคเจริญ Nakcharoen
สว่างศรี Sawangsri
ศรีอ่อน Sri-on
ยิ้มแย้ม Yimyaem
รักษ์ไทย Rakthai
ชื่นชม Chuenchom
อินทร์ทอง Inthong
อินทรวงศ์ Intharawong
พลายงาม Phlai-ngam
บุญยืน Boonyuen
สุขเกษม Sukkasem
เกษมสุข Kasemsuk
วัฒนชัย Watthanachai
วัฒนศิริ Watthanasiri
ศิริวัฒน์ Siriwat
ศิริมงคล Sirimongkol
มงคลชัย Mongkolchai
ชัยประเสริฐ Chaiprasert
ชัยศรี Chaisri
ทองประเสริฐ Thongprasert
เพ็ชรสุวรรณ Phetsuwan
พุ่มพวง Phumphuang
ลือชา Luecha
แก่นจันทร์ Kaenchan
คำมูล Khammun
คำปัน Khampan
ปัญญาวงศ์ Panyawong
อินต๊ะ Inta
จันทร์ตา Chanta
ใจมา Jaima
กันทา Kantha
ศรีวิชัย Sriwichai
ทาหอม Thahom
ภูผา Phupha
ภูมิภักดิ์ Phumiphak
ศรีละคร Srilakhon
สุวรรณศรี Suwannasri
จำปาทอง Champathong
บุญศรี Boonsri
แสงสว่าง Saengsawang
โพธิ์ทอง Phothong
โพธิ์ศรี Phosri
บุญชู Boonchu
ขาวสะอาด Khaosaat
เทพนิมิตร Thepnimit
ธรรมรักษ์ Thammarak
สิทธิวงศ์ Sitthiwong
รัตนวงศ์ Rattanawong
เพชรสุข Phetsuk
นิ่มนวล Nimnuan
จิตรดี Chitdee
วิเศษสุวรรณ Wisetsuwan
""")

# Malay Muslim names, common in the deep south and Satun.
_SOUTHERN_MALE_FIRST_NAMES = _pairs("""
อับดุลเลาะ Abdullah
มูหะมัด Muhammad
อิสมาแอ Ismae
ซูไฮมี Suhaimi
รอมฎอน Romadon
อิบรอเฮ็ม Ibrohem
ซุลกิฟลี Zulkifli
ฮาซัน Hasan
""")

_SOUTHERN_FEMALE_FIRST_NAMES = _pairs("""
นูรีดา Nurida
ฟาตีเมาะ Fatimoh
ซารีฟะห์ Sarifah
รอฮานี Rohanee
อัสมะ Asma
ไซนับ Sainab
นูรฮายาตี Nurhayatee
""")

_SOUTHERN_SURNAMES = _pairs("""
สาและ Salae
ดอเลาะ Doloh
เจ๊ะเต๊ะ Chehteh
หะยีสาแม Hayeesamae
ยูโซะ Yusoh
บินอาแว Bin-awae
มะเซ็ง Maseng
กาเดร์ Kadae
อาแวบือซา Awaebuesa
ลาเต๊ะ Lateh
สะมะแอ Samae-ae
หะยีมะ Hayeema
แวนาแว Waenawae
อาลี Ali
ปูเตะ Puteh
""")

# Share of agents with a Malay Muslim name, by province.
_SOUTHERN_NAME_SHARE = {
    "TH-94": 0.8,
    "TH-95": 0.65,
    "TH-96": 0.85,
    "TH-91": 0.6,
    "TH-90": 0.25,
}


# --- languages ---------------------------------------------------------------

# Languages of the area besides Thai, with the share of volunteers who speak
# each: Myanmar where many Myanmar workers are, Khmer along the Cambodian
# border, Lao along the Mekong, Malay in the deep south.
_AREA_LANGUAGES: dict[str, tuple[tuple[str, float], ...]] = {
    "TH-63": (("my", 0.4),),
    "TH-85": (("my", 0.4),),
    "TH-74": (("my", 0.35),),
    "TH-57": (("my", 0.2), ("zh", 0.03)),
    "TH-58": (("my", 0.3),),
    "TH-71": (("my", 0.25),),
    "TH-50": (("my", 0.1),),
    "TH-77": (("my", 0.1),),
    "TH-11": (("my", 0.1),),
    "TH-10": (("my", 0.05), ("zh", 0.03)),
    "TH-70": (("my", 0.08),),
    "TH-82": (("my", 0.1),),
    "TH-83": (("my", 0.1),),
    "TH-86": (("my", 0.08),),
    "TH-84": (("my", 0.06),),
    "TH-27": (("km", 0.35),),
    "TH-32": (("km", 0.4),),
    "TH-33": (("km", 0.3), ("lo", 0.2)),
    "TH-23": (("km", 0.3),),
    "TH-22": (("km", 0.2),),
    "TH-31": (("km", 0.2), ("lo", 0.1)),
    "TH-43": (("lo", 0.5),),
    "TH-42": (("lo", 0.45),),
    "TH-49": (("lo", 0.5),),
    "TH-48": (("lo", 0.5), ("vi", 0.03)),
    "TH-34": (("lo", 0.4),),
    "TH-38": (("lo", 0.5),),
    "TH-37": (("lo", 0.35),),
    "TH-47": (("lo", 0.25), ("vi", 0.03)),
    "TH-41": (("lo", 0.25),),
    "TH-55": (("lo", 0.2),),
    "TH-53": (("lo", 0.08),),
    "TH-56": (("lo", 0.08),),
    "TH-94": (("ms", 0.7),),
    "TH-95": (("ms", 0.6),),
    "TH-96": (("ms", 0.75),),
    "TH-91": (("ms", 0.4),),
    "TH-90": (("ms", 0.2),),
}
# Elsewhere in the northeast many people speak Lao (Isan) too.
_NORTHEAST_LANGUAGES: tuple[tuple[str, float], ...] = (("lo", 0.15),)


# --- abroad ------------------------------------------------------------------


@dataclass(frozen=True)
class _Country:
    """Where Thai workers abroad are, and how numbers are dialled there."""

    code: str
    weight: int
    cities: tuple[tuple[str, int], ...]
    languages: tuple[tuple[str, float], ...]
    calling_code: str
    mobile_prefixes: tuple[str, ...]
    subscriber_digits: int


# Weighted like the Thai workers abroad (Department of Employment figures):
# at the full size the weights are the 408 volunteers themselves.
_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        code="TW",
        weight=120,
        cities=(
            ("Taoyuan", 3),
            ("Taichung", 3),
            ("New Taipei", 2),
            ("Kaohsiung", 2),
            ("Taipei", 1),
            ("Tainan", 1),
            ("Hsinchu", 1),
            ("Changhua", 1),
        ),
        languages=(("zh", 0.55),),
        calling_code="886",
        mobile_prefixes=("9",),
        subscriber_digits=8,
    ),
    _Country(
        code="IL",
        weight=75,
        cities=(
            ("Tel Aviv", 1),
            ("Ashkelon", 1),
            ("Beersheba", 1),
            ("Netivot", 1),
            ("Eilat", 1),
            ("Hadera", 1),
        ),
        languages=(("he", 0.35),),
        calling_code="972",
        mobile_prefixes=("50", "52", "53", "54", "58"),
        subscriber_digits=7,
    ),
    _Country(
        code="KR",
        weight=60,
        cities=(
            ("Ansan", 3),
            ("Hwaseong", 2),
            ("Seoul", 2),
            ("Incheon", 1),
            ("Suwon", 1),
            ("Pyeongtaek", 1),
            ("Gimhae", 1),
            ("Busan", 1),
        ),
        languages=(("ko", 0.6),),
        calling_code="82",
        mobile_prefixes=("10",),
        subscriber_digits=8,
    ),
    _Country(
        code="JP",
        weight=45,
        cities=(
            ("Tokyo", 2),
            ("Osaka", 2),
            ("Nagoya", 2),
            ("Hamamatsu", 1),
            ("Mito", 1),
            ("Fukuoka", 1),
        ),
        languages=(("ja", 0.6),),
        calling_code="81",
        mobile_prefixes=("70", "80", "90"),
        subscriber_digits=8,
    ),
    _Country(
        code="MY",
        weight=30,
        cities=(
            ("Kuala Lumpur", 3),
            ("George Town", 2),
            ("Johor Bahru", 2),
            ("Kota Bharu", 1),
            ("Alor Setar", 1),
        ),
        languages=(("ms", 0.7),),
        calling_code="60",
        mobile_prefixes=("11", "12", "13", "16", "17", "19"),
        subscriber_digits=7,
    ),
    _Country(
        code="SG",
        weight=16,
        cities=(("Singapore", 1),),
        languages=(("en", 0.6), ("zh", 0.1)),
        calling_code="65",
        mobile_prefixes=("8", "9"),
        subscriber_digits=7,
    ),
    _Country(
        code="AE",
        weight=12,
        cities=(("Dubai", 2), ("Abu Dhabi", 1)),
        languages=(("ar", 0.3), ("en", 0.5)),
        calling_code="971",
        mobile_prefixes=("50", "52", "54", "55", "56", "58"),
        subscriber_digits=7,
    ),
    _Country(
        code="SA",
        weight=10,
        cities=(("Riyadh", 2), ("Jeddah", 1), ("Dammam", 1)),
        languages=(("ar", 0.5),),
        calling_code="966",
        mobile_prefixes=("50", "53", "54", "55", "56", "59"),
        subscriber_digits=7,
    ),
    _Country(
        code="HK",
        weight=10,
        cities=(("Hong Kong", 1),),
        languages=(("zh", 0.5), ("en", 0.3)),
        calling_code="852",
        mobile_prefixes=("5", "6", "9"),
        subscriber_digits=7,
    ),
    # Berry pickers, in the north of Sweden and Finland every summer.
    _Country(
        code="SE",
        weight=8,
        cities=(("Umeå", 1), ("Skellefteå", 1), ("Lycksele", 1)),
        languages=(("en", 0.4),),
        calling_code="46",
        mobile_prefixes=("70", "72", "73", "76"),
        subscriber_digits=7,
    ),
    _Country(
        code="FI",
        weight=6,
        cities=(("Oulu", 1), ("Kuusamo", 1), ("Suomussalmi", 1)),
        languages=(("en", 0.4),),
        calling_code="358",
        mobile_prefixes=("40", "44", "45", "50"),
        subscriber_digits=7,
    ),
    _Country(
        code="QA",
        weight=5,
        cities=(("Doha", 1),),
        languages=(("ar", 0.3), ("en", 0.4)),
        calling_code="974",
        mobile_prefixes=("3", "5", "6", "7"),
        subscriber_digits=7,
    ),
    _Country(
        code="KW",
        weight=4,
        cities=(("Kuwait City", 1),),
        languages=(("ar", 0.3), ("en", 0.4)),
        calling_code="965",
        mobile_prefixes=("5", "6", "9"),
        subscriber_digits=7,
    ),
    _Country(
        code="BN",
        weight=3,
        cities=(("Bandar Seri Begawan", 1),),
        languages=(("ms", 0.6),),
        calling_code="673",
        mobile_prefixes=("7", "8"),
        subscriber_digits=6,
    ),
    _Country(
        code="US",
        weight=2,
        cities=(("Los Angeles", 2), ("Las Vegas", 1)),
        languages=(("en", 0.8),),
        calling_code="1",
        mobile_prefixes=("213", "310", "702"),
        subscriber_digits=7,
    ),
    _Country(
        code="AU",
        weight=2,
        cities=(("Sydney", 1), ("Melbourne", 1)),
        languages=(("en", 0.8),),
        calling_code="61",
        mobile_prefixes=("4",),
        subscriber_digits=8,
    ),
)
# Volunteers abroad who speak English besides any language of the country.
_ABROAD_SPEAKS_ENGLISH = 0.2


# --- the gazetteer, in a stable order ----------------------------------------


@dataclass(frozen=True)
class _Province:
    iso_code: str
    region: str
    districts: tuple[str, ...]


@lru_cache(maxsize=1)
def _gazetteer() -> tuple[_Province, ...]:
    """Every province with its district codes, all sorted by code.

    Sorting here means the network never depends on the order geothai or a
    dict happens to return.
    """
    return tuple(
        _Province(
            info.iso_code,
            info.region,
            tuple(sorted(d.code for d in geothai.districts(info.dopa_code))),
        )
        for info in sorted(provinces(), key=lambda p: p.iso_code)
    )


@lru_cache(maxsize=1)
def _subdistrict_codes() -> tuple[str, ...]:
    return tuple(
        sorted(
            s.code
            for p in _gazetteer()
            for d in p.districts
            for s in geothai.subdistricts(d)
        )
    )


def _iso(dopa_code: str) -> str:
    return "TH-" + dopa_code[:2]


# --- sharing out -------------------------------------------------------------


def _apportion(weights: Sequence[tuple[str, float]], total: int) -> dict[str, int]:
    """Share ``total`` in proportion to the weights (largest remainder).

    Ties go to the earlier key, so the result needs no randomness.
    """
    whole = sum(w for _, w in weights)
    shares = {key: total * w / whole for key, w in weights}
    counts = {key: int(share) for key, share in shares.items()}
    left = total - sum(counts.values())
    order = sorted(
        range(len(weights)),
        key=lambda i: (-(shares[weights[i][0]] - counts[weights[i][0]]), i),
    )
    for i in order[:left]:
        counts[weights[i][0]] += 1
    return counts


def _weighted_sample(
    rng: random.Random, weights: Sequence[tuple[str, float]], k: int
) -> list[str]:
    """Draw ``k`` distinct keys, each with odds in proportion to its weight."""
    # Efraimidis-Spirakis: one random key per candidate, keep the k largest.
    keyed = sorted(
        ((rng.random() ** (1.0 / w), key) for key, w in weights), reverse=True
    )
    return [key for _, key in keyed[:k]]


def _graduates_per_province(rng: random.Random, count: int) -> dict[str, int]:
    """How many graduates each province gets: one each, the rest by size.

    Size is the number of districts, since a graduate covers a district; the
    deep south weighs double. The central region gets its real share (126 of
    725). A network too small for one per province starts in the deep south
    and draws the rest of its provinces by size.
    """
    gazetteer = _gazetteer()
    weight = {
        p.iso_code: len(p.districts)
        * (_DEEP_SOUTH_WEIGHT if p.iso_code in DEEP_SOUTH else 1)
        for p in gazetteer
    }
    if count < len(gazetteer):
        first = list(DEEP_SOUTH[:count])
        rest = [(iso, w) for iso, w in weight.items() if iso not in DEEP_SOUTH]
        chosen = first + _weighted_sample(rng, rest, count - len(first))
        return dict.fromkeys(sorted(chosen), 1)

    central = [p.iso_code for p in gazetteer if p.region == "central"]
    others = [p.iso_code for p in gazetteer if p.region != "central"]
    central_total = round(count * NETWORK_CENTRAL_GRADUATES / NETWORK_GRADUATES)
    central_total = max(len(central), min(central_total, count - len(others)))
    quota: dict[str, int] = {}
    for group, total in ((central, central_total), (others, count - central_total)):
        extra = _apportion([(iso, weight[iso]) for iso in group], total - len(group))
        quota.update({iso: 1 + extra[iso] for iso in group})
    return quota


def _volunteer_subdistricts(rng: random.Random, count: int) -> list[str]:
    """The subdistrict of each volunteer in Thailand, sorted by code.

    Nearly every subdistrict gets one (a few posts are vacant); what is left
    goes, as second volunteers, to big subdistricts.
    """
    codes = _subdistrict_codes()
    covered = min(count, round(len(codes) * (1 - _VACANT_SUBDISTRICT_SHARE)))
    chosen = sorted(rng.sample(codes, covered))
    places = list(chosen)
    weights = [
        (
            code,
            (_SEAT_WEIGHT if code[2:4] == "01" else 1)
            * (_BANGKOK_WEIGHT if code.startswith("10") else 1),
        )
        for code in chosen
    ]
    left = count - covered
    while left > 0:
        # More volunteers than subdistricts twice over only in odd test sizes.
        extra = _weighted_sample(rng, weights, min(left, len(weights)))
        places.extend(extra)
        left -= len(extra)
    return sorted(places)


# --- people ------------------------------------------------------------------


class _Identities:
    """Hands out national IDs, phones, emails and LINE ids, each unique."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._national_ids: set[str] = set()
        self._phones: set[str] = set()
        self._emails: set[str] = set()
        self._line_ids: set[str] = set()

    def national_id(self) -> str:
        while True:
            value = generate_national_id(self._rng)
            if value not in self._national_ids:
                self._national_ids.add(value)
                return value

    def _unique_phone(self, prefix: str, digits: int) -> str:
        while True:
            # The subscriber number never starts with 0 or 1, as in real plans.
            first = str(self._rng.randint(2, 9))
            rest = self._rng.randrange(10 ** (digits - 1))
            value = f"{prefix}{first}{rest:0{digits - 1}d}"
            if value not in self._phones:
                self._phones.add(value)
                return value

    def thai_mobile(self) -> str:
        """A Thai mobile in E.164: +66 then 8x, 9x or (fewer) 6x and 8 digits."""
        lead = self._rng.choices(("8", "9", "6"), weights=(45, 45, 10))[0]
        second = str(self._rng.randrange(10))
        return self._unique_phone(f"+66{lead}{second}", 7)

    def local_mobile(self, country: _Country) -> str:
        """A mobile of the country in E.164."""
        prefix = self._rng.choice(country.mobile_prefixes)
        return self._unique_phone(
            f"+{country.calling_code}{prefix}", country.subscriber_digits
        )

    def email(self, first_en: str, last_en: str) -> str:
        """A webmail address made from the romanised name, as people make them."""
        first = "".join(c for c in first_en.lower() if c.isalnum())
        last = "".join(c for c in last_en.lower() if c.isalnum())
        local = self._rng.choice(
            (f"{first}.{last}", f"{first}_{last[:4]}", f"{first}{last[:2]}", first)
        )
        if self._rng.random() < 0.5:
            local += str(self._rng.randint(60, 99))  # a birth year, as often
        domain = "gmail.com" if self._rng.random() < 0.7 else "hotmail.com"
        value, n = f"{local}@{domain}", 1
        while value in self._emails:
            n += 1
            value = f"{local}{n}@{domain}"
        self._emails.add(value)
        return value

    def line_user_id(self) -> str:
        """A LINE user id: ``U`` and 32 hexadecimal digits."""
        while True:
            value = f"U{self._rng.getrandbits(128):032x}"
            if value not in self._line_ids:
                self._line_ids.add(value)
                return value


def _blank_row(kind: str) -> dict[str, str]:
    row = dict.fromkeys(ROSTER_COLUMNS, "")
    row["kind"] = kind
    return row


def _fill_person(
    rng: random.Random,
    ids: _Identities,
    row: dict[str, str],
    *,
    southern_share: float,
    english_name: float,
    email: float,
    line: float,
) -> None:
    """Give a roster row a name, national ID and contacts."""
    female = rng.random() < 0.5
    southern = rng.random() < southern_share
    if southern:
        firsts = _SOUTHERN_FEMALE_FIRST_NAMES if female else _SOUTHERN_MALE_FIRST_NAMES
        surnames = _SOUTHERN_SURNAMES
    else:
        firsts = _FEMALE_FIRST_NAMES if female else _MALE_FIRST_NAMES
        surnames = _SURNAMES
    first_th, first_en = rng.choice(firsts)
    last_th, last_en = rng.choice(surnames)
    row["first_name_th"], row["last_name_th"] = first_th, last_th
    if rng.random() < english_name:
        row["first_name_en"], row["last_name_en"] = first_en, last_en
    row["national_id"] = ids.national_id()
    if rng.random() < email:
        row["email"] = ids.email(first_en, last_en)
    if rng.random() < line:
        row["line_user_id"] = ids.line_user_id()


def _languages(
    rng: random.Random,
    english: float,
    others: Sequence[tuple[str, float]],
    factor: float = 1.0,
) -> str:
    spoken = ["th"]
    if rng.random() < english:
        spoken.append("en")
    for code, share in others:
        if code not in spoken and rng.random() < min(1.0, share * factor):
            spoken.append(code)
    return ",".join(spoken)


def _area_languages(province: _Province) -> tuple[tuple[str, float], ...]:
    if province.iso_code in _AREA_LANGUAGES:
        return _AREA_LANGUAGES[province.iso_code]
    return _NORTHEAST_LANGUAGES if province.region == "northeast" else ()


def _day_in(rng: random.Random, year: int) -> date:
    first = date(year, 1, 1)
    return first + timedelta(days=rng.randrange((date(year + 1, 1, 1) - first).days))


def _term_end(start: date) -> date:
    try:
        return start.replace(year=start.year + _VOLUNTEER_TERM_YEARS)
    except ValueError:  # 29 February, in a year that has none
        return start.replace(year=start.year + _VOLUNTEER_TERM_YEARS, day=28)


def _volunteer_dates(rng: random.Random, row: dict[str, str]) -> None:
    year = rng.choices(_VOLUNTEER_START_YEARS, weights=_VOLUNTEER_START_WEIGHTS)[0]
    start = _day_in(rng, year)
    row["start_date"] = start.isoformat()
    row["term_end"] = _term_end(start).isoformat()


# --- the three parts of the network ------------------------------------------


def _graduates(
    rng: random.Random, ids: _Identities, count: int
) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    quota = _graduates_per_province(rng, count)
    for province in _gazetteer():
        n = quota.get(province.iso_code, 0)
        if n == 0:
            continue
        districts = list(province.districts)
        rng.shuffle(districts)
        # A few provinces have one graduate for the whole province.
        wide = rng.random() < (_PROVINCE_WIDE_ONE if n == 1 else _PROVINCE_WIDE_MANY)
        if province.iso_code in DEEP_SOUTH:
            joined, growth = _NETWORK_FIRST_YEAR, _DEEP_SOUTH_GROWTH
        else:
            joined, growth = rng.randint(*_EXPANSION_YEARS), _EXPANSION_GROWTH
        languages = _area_languages(province)
        placed: list[dict[str, str]] = []
        for i in range(n):
            row = _blank_row(GRADUATE)
            _fill_person(
                rng,
                ids,
                row,
                southern_share=_SOUTHERN_NAME_SHARE.get(province.iso_code, 0.0),
                english_name=_GRADUATE_ENGLISH_NAME,
                email=_GRADUATE_EMAIL,
                line=_GRADUATE_LINE,
            )
            row["phone"] = ids.thai_mobile()
            row["languages"] = _languages(
                rng, _GRADUATE_SPEAKS_ENGLISH, languages, _GRADUATE_LANGUAGE_FACTOR
            )
            row["province_code"] = province.iso_code
            if not (wide and i == 0):
                # Round robin: every district has one before any has two.
                row["district"] = districts[(i - wide) % len(districts)]
            # The province's first graduate started the year it joined; the
            # rest came as it grew: early in the deep south, where the network
            # began, and mostly in later years elsewhere.
            span = _LAST_START_YEAR - joined + 1
            year = joined if i == 0 else joined + int(span * rng.random() ** growth)
            row["start_date"] = _day_in(rng, year).isoformat()
            placed.append(row)
        placed.sort(key=lambda r: r["district"])
        rows.extend(placed)
    return rows


def _volunteers_thailand(
    rng: random.Random, ids: _Identities, count: int
) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    by_iso = {p.iso_code: p for p in _gazetteer()}
    for code in _volunteer_subdistricts(rng, count):
        province = by_iso[_iso(code)]
        row = _blank_row(VOLUNTEER)
        _fill_person(
            rng,
            ids,
            row,
            southern_share=_SOUTHERN_NAME_SHARE.get(province.iso_code, 0.0),
            english_name=_VOLUNTEER_ENGLISH_NAME,
            email=_VOLUNTEER_EMAIL,
            line=_VOLUNTEER_LINE,
        )
        row["phone"] = ids.thai_mobile()
        row["languages"] = _languages(
            rng, _VOLUNTEER_SPEAKS_ENGLISH, _area_languages(province)
        )
        row["province_code"] = province.iso_code
        row["district"] = code[:4]
        row["subdistrict"] = code
        _volunteer_dates(rng, row)
        rows.append(row)
    return rows


def _volunteers_abroad(
    rng: random.Random, ids: _Identities, count: int
) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    if count == 0:
        return rows
    quota = _apportion([(c.code, c.weight) for c in _COUNTRIES], count)
    for country in _COUNTRIES:
        cities = [name for name, _ in country.cities]
        city_weights = [w for _, w in country.cities]
        placed: list[dict[str, str]] = []
        for _ in range(quota[country.code]):
            row = _blank_row(VOLUNTEER)
            _fill_person(
                rng,
                ids,
                row,
                southern_share=0.0,
                english_name=_VOLUNTEER_ENGLISH_NAME,
                email=_VOLUNTEER_EMAIL,
                line=_ABROAD_LINE,
            )
            if rng.random() < _ABROAD_LOCAL_PHONE:
                row["phone"] = ids.local_mobile(country)
            else:
                row["phone"] = ids.thai_mobile()
            row["languages"] = _languages(
                rng, _ABROAD_SPEAKS_ENGLISH, country.languages
            )
            row["abroad_country"] = country.code
            row["abroad_city"] = rng.choices(cities, weights=city_weights)[0]
            _volunteer_dates(rng, row)
            placed.append(row)
        placed.sort(key=lambda r: r["abroad_city"])
        rows.extend(placed)
    return rows


# --- public API --------------------------------------------------------------


def generate_network(
    seed: int = 2568,
    *,
    graduates: int = NETWORK_GRADUATES,
    volunteers: int = NETWORK_VOLUNTEERS_THAILAND,
    abroad: int = NETWORK_VOLUNTEERS_ABROAD,
) -> list[dict[str, str]]:
    """Generate a synthetic field-agent network as roster rows.

    Each row is a dict keyed by :data:`ROSTER_COLUMNS` with string values
    (``""`` when empty): places as geothai codes, languages as
    comma-separated codes, dates as ISO ``YYYY-MM-DD``, phones in E.164.
    Rows come graduates first (by province and district), then volunteers in
    Thailand (by subdistrict), then volunteers abroad (by country).

    The same seed and counts always give the same network; another seed gives
    another one. The defaults are the real network's size.

    Raises:
        ValueError: a count is negative.
    """
    if min(graduates, volunteers, abroad) < 0:
        raise ValueError("counts of field agents cannot be negative")
    rng = random.Random(seed)
    ids = _Identities(rng)
    return [
        *_graduates(rng, ids, graduates),
        *_volunteers_thailand(rng, ids, volunteers),
        *_volunteers_abroad(rng, ids, abroad),
    ]


def write_network_csv(path: Path, seed: int = 2568, **counts: int) -> int:
    """Write a synthetic network as a roster CSV and return the rows written.

    The file is what the roster importer reads: UTF-8 with a byte-order mark
    (so that Excel shows the Thai names), comma-separated, the English column
    names in the first row. ``counts`` are the keyword arguments of
    :func:`generate_network` (``graduates``, ``volunteers``, ``abroad``).
    """
    rows = generate_network(seed, **counts)
    with Path(path).open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=ROSTER_COLUMNS)
        writer.writeheader()
        writer.writerows(safe_record(row) for row in rows)
    return len(rows)
