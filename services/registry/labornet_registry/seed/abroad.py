"""The countries where Thai workers are, weighted like them, and how
phones are numbered there."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
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
COUNTRIES: tuple[Country, ...] = (
    Country(
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
    Country(
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
    Country(
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
    Country(
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
    Country(
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
    Country(
        code="SG",
        weight=16,
        cities=(("Singapore", 1),),
        languages=(("en", 0.6), ("zh", 0.1)),
        calling_code="65",
        mobile_prefixes=("8", "9"),
        subscriber_digits=7,
    ),
    Country(
        code="AE",
        weight=12,
        cities=(("Dubai", 2), ("Abu Dhabi", 1)),
        languages=(("ar", 0.3), ("en", 0.5)),
        calling_code="971",
        mobile_prefixes=("50", "52", "54", "55", "56", "58"),
        subscriber_digits=7,
    ),
    Country(
        code="SA",
        weight=10,
        cities=(("Riyadh", 2), ("Jeddah", 1), ("Dammam", 1)),
        languages=(("ar", 0.5),),
        calling_code="966",
        mobile_prefixes=("50", "53", "54", "55", "56", "59"),
        subscriber_digits=7,
    ),
    Country(
        code="HK",
        weight=10,
        cities=(("Hong Kong", 1),),
        languages=(("zh", 0.5), ("en", 0.3)),
        calling_code="852",
        mobile_prefixes=("5", "6", "9"),
        subscriber_digits=7,
    ),
    # Berry pickers, in the north of Sweden and Finland every summer.
    Country(
        code="SE",
        weight=8,
        cities=(("Umeå", 1), ("Skellefteå", 1), ("Lycksele", 1)),
        languages=(("en", 0.4),),
        calling_code="46",
        mobile_prefixes=("70", "72", "73", "76"),
        subscriber_digits=7,
    ),
    Country(
        code="FI",
        weight=6,
        cities=(("Oulu", 1), ("Kuusamo", 1), ("Suomussalmi", 1)),
        languages=(("en", 0.4),),
        calling_code="358",
        mobile_prefixes=("40", "44", "45", "50"),
        subscriber_digits=7,
    ),
    Country(
        code="QA",
        weight=5,
        cities=(("Doha", 1),),
        languages=(("ar", 0.3), ("en", 0.4)),
        calling_code="974",
        mobile_prefixes=("3", "5", "6", "7"),
        subscriber_digits=7,
    ),
    Country(
        code="KW",
        weight=4,
        cities=(("Kuwait City", 1),),
        languages=(("ar", 0.3), ("en", 0.4)),
        calling_code="965",
        mobile_prefixes=("5", "6", "9"),
        subscriber_digits=7,
    ),
    Country(
        code="BN",
        weight=3,
        cities=(("Bandar Seri Begawan", 1),),
        languages=(("ms", 0.6),),
        calling_code="673",
        mobile_prefixes=("7", "8"),
        subscriber_digits=6,
    ),
    Country(
        code="US",
        weight=2,
        cities=(("Los Angeles", 2), ("Las Vegas", 1)),
        languages=(("en", 0.8),),
        calling_code="1",
        mobile_prefixes=("213", "310", "702"),
        subscriber_digits=7,
    ),
    Country(
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
ABROAD_SPEAKS_ENGLISH = 0.2
