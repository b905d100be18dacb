"""Unit tests for labornet_shared.reference (no network, no services)."""

from __future__ import annotations

import pickle
import random
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone

import geothai
import pytest

from labornet_shared.reference import (
    BANGKOK,
    BE_OFFSET,
    ISO_COUNTRIES,
    REGIONS,
    LocationError,
    ProvinceInfo,
    ReferenceError,
    ResolvedLocation,
    buddhist_year,
    centroid,
    district_centroid,
    generate_national_id,
    is_valid_national_id,
    mask_national_id,
    mask_phone,
    nearest_subdistrict,
    normalize_phone,
    parse_thai_date,
    province,
    province_centroid,
    provinces,
    resolve_location,
    to_buddhist_year,
    to_gregorian_year,
    validate_country,
    validate_national_id,
)

# A valid ID: 1*13 + 1*12 + 0*11 + 1*10 + 7*9 + 0*8 + 0*7 + 2*6 + 3*5 + 0*4
# + 7*3 + 0*2 = 146; 146 % 11 = 3; (11 - 3) % 10 = 8, the last digit.
VALID_ID = "1101700230708"


# --- ReferenceError ---


def test_reference_error_is_a_value_error_with_field_code_detail() -> None:
    error = ReferenceError("some_code", "is wrong", "a.b")
    assert isinstance(error, ValueError)
    assert (error.field, error.code, error.detail) == ("a.b", "some_code", "is wrong")
    assert str(error) == "a.b: is wrong"
    assert ReferenceError("c", "d").field == ""


def test_reference_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(ReferenceError("some_code", "is wrong", "x")))
    assert (error.field, error.code, error.detail) == ("x", "some_code", "is wrong")


# --- national ID ---


@pytest.mark.parametrize(
    "value",
    [VALID_ID, "1-1017-00230-70-8", " 1 1017 00230 70 8 ", "๑๑๐๑๗๐๐๒๓๐๗๐๘"],
)
def test_valid_national_id_forms(value: str) -> None:
    assert validate_national_id(value) == VALID_ID
    assert is_valid_national_id(value)


def test_generated_ids_are_valid_and_varied() -> None:
    rng = random.Random(2568)
    ids = [generate_national_id(rng) for _ in range(500)]
    assert all(len(i) == 13 and i.isdigit() for i in ids)
    assert all(validate_national_id(i) == i for i in ids)
    assert {i[0] for i in ids} <= set("12345678")
    assert len(set(ids)) == 500
    # Same seed, same IDs: benchmarks and fixtures are reproducible.
    assert generate_national_id(random.Random(1)) == generate_national_id(
        random.Random(1)
    )


def test_bad_checksum() -> None:
    wrong = VALID_ID[:12] + "9"
    with pytest.raises(ReferenceError) as info:
        validate_national_id(wrong, field="citizen.national_id")
    assert info.value.code == "national_id_checksum"
    assert info.value.field == "citizen.national_id"
    # PDPA: the number itself never appears in the error.
    assert wrong not in str(info.value) and wrong not in info.value.detail
    assert not is_valid_national_id(wrong)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "110170023070",  # 12 digits
        "11017002307080",  # 14 digits
        "1101700230a08",
        "1.1017.00230.70.8",
        "-",
        None,
        1101700230708,
    ],
)
def test_national_id_format(value: object) -> None:
    with pytest.raises(ReferenceError) as info:
        validate_national_id(value)  # type: ignore[arg-type]
    assert info.value.code == "national_id_format"
    assert info.value.field == "national_id"


@pytest.mark.parametrize("first", ["0", "9"])
def test_national_id_first_digit_must_be_1_to_8(first: str) -> None:
    # Give it a correct check digit so that only the first digit is wrong.
    body = first + VALID_ID[1:12]
    check = (11 - sum(int(d) * (13 - i) for i, d in enumerate(body)) % 11) % 10
    with pytest.raises(ReferenceError) as info:
        validate_national_id(body + str(check))
    assert info.value.code == "national_id_format"


def test_mask_national_id() -> None:
    assert mask_national_id(VALID_ID) == "x-xxxx-xxxxx-70-8"
    assert mask_national_id("1-1017-00230-70-8") == "x-xxxx-xxxxx-70-8"
    # Malformed input is hidden completely, not partly.
    assert mask_national_id("110170023") == "x-xxxx-xxxxx-xx-x"


# --- phone ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("081-234-5678", "+66812345678"),
        ("0812345678", "+66812345678"),
        ("081 234 5678", "+66812345678"),
        ("+66812345678", "+66812345678"),
        ("66812345678", "+66812345678"),
        ("+66 81 234 5678", "+66812345678"),
        ("+66 (0)81 234 5678", "+66812345678"),
        ("+66 081 234 5678", "+66812345678"),
        ("๐๘๑-๒๓๔-๕๖๗๘", "+66812345678"),
        ("0612345678", "+66612345678"),
        ("0912345678", "+66912345678"),
        ("(02) 123-4567", "+6621234567"),
        ("02-123-4567", "+6621234567"),
        ("053 123 456", "+6653123456"),
        ("6621234567", "+6621234567"),
        ("+95 9 123 456 789", "+959123456789"),  # Myanmar mobile
        ("+82 10-1234-5678", "+821012345678"),  # Korea (EPS workers)
        ("+1 (555) 123-4567", "+15551234567"),
    ],
)
def test_normalize_phone(value: str, expected: str) -> None:
    assert normalize_phone(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1506",  # a hotline, not a person's number
        "081234567",  # mobile one digit short
        "08123456789",  # mobile one digit long
        "012345678",  # no Thai numbers start with 01
        "0212345678",  # landline one digit long
        "+66 1 234 5678",
        "+6612345",
        "+0123456789",
        "+1234567",  # 7 digits: too short for E.164
        "+1234567890123456",  # 16 digits: too long
        "081-234-5678 ext 12",
        "abc",
        None,
    ],
)
def test_phone_format(value: object) -> None:
    with pytest.raises(ReferenceError) as info:
        normalize_phone(value, field="contact.phone")  # type: ignore[arg-type]
    assert info.value.code == "phone_format"
    assert info.value.field == "contact.phone"


def test_mask_phone() -> None:
    assert mask_phone("+66812345678") == "+66 8x xxx 5678"
    assert mask_phone("+6621234567") == "+66 2 xxx 4567"
    assert mask_phone("+821012345678") == "+82 1xxxxx 5678"
    assert mask_phone("+959123456789") == "+95 9xxxxx 6789"
    masked = mask_phone("not a phone")
    assert "not" not in masked


# --- calendar ---


def test_year_conversions() -> None:
    assert BE_OFFSET == 543
    assert to_buddhist_year(2025) == 2568
    assert to_gregorian_year(2568) == 2025
    assert to_gregorian_year(to_buddhist_year(1999)) == 1999


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # 18:00 UTC on 31 December is 01:00 on 1 January in Bangkok (UTC+7).
        (datetime(2025, 12, 31, 18, 0, tzinfo=UTC), 2569),
        (datetime(2025, 12, 31, 16, 59, tzinfo=UTC), 2568),
        (datetime(2025, 12, 31, 17, 0, tzinfo=UTC), 2569),
        # Naive datetimes are UTC.
        (datetime(2025, 12, 31, 18, 0), 2569),
        (datetime(2025, 12, 31, 16, 0), 2568),
        # Other zones are converted: 12:00 in New York is 00:00 in Bangkok.
        (datetime(2025, 12, 31, 12, 0, tzinfo=timezone(timedelta(hours=-5))), 2569),
        (datetime(2026, 1, 1, 0, 30, tzinfo=BANGKOK), 2569),
        # A date is a calendar day already.
        (date(2025, 12, 31), 2568),
        (date(2026, 1, 1), 2569),
    ],
)
def test_buddhist_year_turns_at_midnight_in_bangkok(
    moment: datetime | date, expected: int
) -> None:
    assert buddhist_year(moment) == expected


def test_buddhist_year_now() -> None:
    before = datetime.now(BANGKOK).year + 543
    now = buddhist_year()
    after = datetime.now(BANGKOK).year + 543
    assert now in (before, after)


@pytest.mark.parametrize(
    "text",
    [
        "2568-03-15",
        "2025-03-15",
        "15/03/2568",
        "15/03/2025",
        "15/3/2568",
        " ๑๕/๐๓/๒๕๖๘ ",
    ],
)
def test_parse_thai_date(text: str) -> None:
    assert parse_thai_date(text) == date(2025, 3, 15)


def test_parse_thai_date_leap_days_follow_the_gregorian_year() -> None:
    assert parse_thai_date("29/02/2567") == date(2024, 2, 29)
    with pytest.raises(ReferenceError) as info:
        parse_thai_date("29/02/2568")  # 2025 is not a leap year
    assert info.value.code == "date_format"


@pytest.mark.parametrize(
    "text",
    ["", "15-03-2568", "2568/03/15", "15/03/68", "31/04/2568", "2568-13-01", "พรุ่งนี้"],
)
def test_parse_thai_date_format(text: str) -> None:
    with pytest.raises(ReferenceError) as info:
        parse_thai_date(text)
    assert info.value.code == "date_format"


# --- countries ---


def test_iso_countries() -> None:
    assert len(ISO_COUNTRIES) == 249
    assert all(len(c) == 2 and c.isupper() for c in ISO_COUNTRIES)
    assert {"TH", "MM", "KH", "LA", "KR", "JP", "TW", "IL", "SA"} <= ISO_COUNTRIES


@pytest.mark.parametrize(
    ("code", "expected"), [("KR", "KR"), ("tw", "TW"), (" il ", "IL")]
)
def test_validate_country(code: str, expected: str) -> None:
    assert validate_country(code) == expected


@pytest.mark.parametrize("code", ["UK", "XK", "EU", "THA", "", None])
def test_country_unknown(code: object) -> None:
    with pytest.raises(ReferenceError) as info:
        validate_country(code)  # type: ignore[arg-type]
    assert (info.value.code, info.value.field) == ("country_unknown", "abroad_country")


# --- provinces and centroids ---


def test_provinces_and_regions() -> None:
    all_provinces = provinces()
    assert len(all_provinces) == 77
    assert all(isinstance(p, ProvinceInfo) for p in all_provinces)
    assert all(p.region in REGIONS for p in all_provinces)
    assert Counter(p.region for p in all_provinces) == {
        "north": 17,
        "northeast": 20,
        "central": 26,
        "south": 14,
    }
    # Every province is geothai's, under the same number.
    assert {p.dopa_code for p in all_provinces} == {p.code for p in geothai.provinces()}
    assert all(p.iso_code == f"TH-{p.dopa_code}" for p in all_provinces)
    assert all(p.abbr_th and p.abbr_en for p in all_provinces)
    # Callers may change the list they get without changing the cache.
    all_provinces.clear()
    assert len(provinces()) == 77


def test_province_lookup() -> None:
    lampang = province("TH-52")
    assert lampang is not None
    assert (lampang.dopa_code, lampang.name_en, lampang.region) == (
        "52",
        "Lampang",
        "north",
    )
    assert province("52") == lampang
    bangkok = province("TH-10")
    assert bangkok is not None and bangkok.region == "central"
    assert province("TH-99") is None
    assert province("") is None


def _in_thailand(point: tuple[float, float] | None) -> bool:
    return point is not None and 5.5 <= point[0] <= 20.6 and 97.3 <= point[1] <= 105.7


def test_centroids() -> None:
    assert centroid("520105") == (18.255, 99.518)
    assert centroid("999999") is None
    assert _in_thailand(district_centroid("5201"))
    assert _in_thailand(province_centroid("TH-52"))
    assert district_centroid("9999") is None
    assert province_centroid("TH-99") is None
    # Every geothai subdistrict has a centroid, and every province one too.
    for p in provinces():
        assert _in_thailand(province_centroid(p.iso_code))
    for d in geothai.districts("52"):
        for s in geothai.subdistricts(d.code):
            assert _in_thailand(centroid(s.code))


def test_province_centroid_is_mean_of_its_subdistricts() -> None:
    points = [
        centroid(s.code)
        for d in geothai.districts("58")
        for s in geothai.subdistricts(d.code)
    ]
    assert all(p is not None for p in points)
    lat = sum(p[0] for p in points if p) / len(points)
    long = sum(p[1] for p in points if p) / len(points)
    got = province_centroid("TH-58")
    assert got == pytest.approx((lat, long), abs=1e-6)


def test_nearest_subdistrict_of_its_own_centroid() -> None:
    assert nearest_subdistrict(18.255, 99.518) == "520105"
    # Every centroid maps back to a subdistrict at that very point (a few
    # subdistricts share a point; any of them is right).
    codes = [
        s.code
        for p in geothai.provinces()
        for d in geothai.districts(p.code)
        for s in geothai.subdistricts(d.code)
    ]
    assert len(codes) == 7436
    for code in codes:
        point = centroid(code)
        assert point is not None
        found = nearest_subdistrict(*point)
        assert found is not None and centroid(found) == point


def test_nearest_subdistrict_near_a_centroid() -> None:
    assert nearest_subdistrict(18.2555, 99.5181) == "520105"


@pytest.mark.parametrize(
    ("lat", "long"),
    [
        (0.0, 0.0),
        (13.75, 120.0),  # east of the box
        (21.0, 100.0),  # north of the box
        (8.0, 97.5),  # inside the box, in the Andaman Sea
        (float("nan"), 100.0),
    ],
)
def test_nearest_subdistrict_none_outside(lat: float, long: float) -> None:
    assert nearest_subdistrict(lat, long) is None


def test_nearest_subdistrict_is_fast() -> None:
    rng = random.Random(7)
    nearest_subdistrict(13.75, 100.5)  # build the index outside the timing
    points = [(rng.uniform(13.5, 14.0), rng.uniform(100.3, 100.8)) for _ in range(200)]
    start = time.perf_counter()
    for lat, long in points:
        nearest_subdistrict(lat, long)
    per_call = (time.perf_counter() - start) / len(points)
    assert per_call < 0.005


# --- resolve_location ---


def test_resolve_province_only_uses_province_centroid() -> None:
    got = resolve_location("TH-52")
    assert got == ResolvedLocation(
        province_code="TH-52",
        district_code=None,
        subdistrict_code=None,
        postcode=None,
        lat=got.lat,
        long=got.long,
        coordinates_source="province",
        address=None,
    )
    assert (got.lat, got.long) == province_centroid("TH-52")


def test_resolve_district_uses_district_centroid() -> None:
    got = resolve_location("TH-52", district_code="5201", postcode="52100")
    assert (got.district_code, got.subdistrict_code) == ("5201", None)
    assert got.coordinates_source == "district"
    assert (got.lat, got.long) == district_centroid("5201")


def test_resolve_subdistrict_fills_district() -> None:
    got = resolve_location("TH-52", subdistrict_code="520105", postcode="52220")
    assert (got.district_code, got.subdistrict_code, got.postcode) == (
        "5201",
        "520105",
        "52220",
    )
    assert (got.lat, got.long, got.coordinates_source) == (
        18.255,
        99.518,
        "subdistrict",
    )


def test_resolve_full_with_given_coordinates() -> None:
    got = resolve_location(
        "TH-52",
        district_code="5201",
        subdistrict_code="520105",
        postcode="52000",
        lat=18.29,
        long=99.49,
        address="  123 หมู่ 4  ",
    )
    assert (got.lat, got.long, got.coordinates_source) == (18.29, 99.49, "given")
    assert got.address == "123 หมู่ 4"


def test_resolve_blank_strings_are_not_given() -> None:
    got = resolve_location("TH-52", district_code="", subdistrict_code=" ", postcode="")
    assert (got.district_code, got.subdistrict_code, got.postcode) == (None, None, None)


def _errors(**kwargs: object) -> list[tuple[str, str]]:
    with pytest.raises(LocationError) as info:
        resolve_location(**kwargs)  # type: ignore[arg-type]
    return [(e.field, e.code) for e in info.value.errors]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"province_code": "52"}, ("location.province_code", "province_format")),
        ({"province_code": "th-52"}, ("location.province_code", "province_format")),
        ({"province_code": None}, ("location.province_code", "province_format")),
        ({"province_code": "TH-99"}, ("location.province_code", "province_unknown")),
        (
            {"province_code": "TH-52", "district_code": "9999"},
            ("location.district_code", "district_unknown"),
        ),
        (
            {"province_code": "TH-52", "district_code": "52x1"},
            ("location.district_code", "district_unknown"),
        ),
        (
            {"province_code": "TH-52", "district_code": "5001"},
            ("location.district_code", "district_not_in_province"),
        ),
        (
            {"province_code": "TH-52", "subdistrict_code": "529999"},
            ("location.subdistrict_code", "subdistrict_unknown"),
        ),
        (
            {"province_code": "TH-52", "subdistrict_code": "52010"},
            ("location.subdistrict_code", "subdistrict_unknown"),
        ),
        (
            {
                "province_code": "TH-52",
                "district_code": "5202",
                "subdistrict_code": "520105",
            },
            ("location.subdistrict_code", "subdistrict_not_in_district"),
        ),
        (
            {"province_code": "TH-52", "subdistrict_code": "500101"},
            ("location.subdistrict_code", "subdistrict_not_in_province"),
        ),
        (
            {"province_code": "TH-52", "postcode": "5200"},
            ("location.postcode", "postcode_format"),
        ),
        (
            {"province_code": "TH-52", "postcode": "๕๒๐๐๐"},
            ("location.postcode", "postcode_format"),
        ),
        (
            {
                "province_code": "TH-52",
                "subdistrict_code": "520105",
                "postcode": "52100",
            },
            ("location.postcode", "postcode_mismatch"),
        ),
        (
            {"province_code": "TH-52", "postcode": "10200"},
            ("location.postcode", "postcode_not_in_province"),
        ),
        (
            {"province_code": "TH-52", "lat": 18.3},
            ("location.long", "coordinates_incomplete"),
        ),
        (
            {"province_code": "TH-52", "long": 99.5},
            ("location.lat", "coordinates_incomplete"),
        ),
        (
            {"province_code": "TH-52", "lat": 99.5, "long": 18.3},  # swapped
            ("location.lat", "coordinates_outside_thailand"),
        ),
        (
            {"province_code": "TH-52", "lat": 18.3, "long": 120.0},
            ("location.long", "coordinates_outside_thailand"),
        ),
        (
            {"province_code": "TH-52", "lat": float("nan"), "long": 99.5},
            ("location.lat", "coordinates_outside_thailand"),
        ),
    ],
)
def test_resolve_location_error_codes(
    kwargs: dict[str, object], expected: tuple[str, str]
) -> None:
    assert expected in _errors(**kwargs)


def test_resolve_location_reports_every_problem() -> None:
    with pytest.raises(LocationError) as info:
        resolve_location(
            "TH-52",
            district_code="1001",
            subdistrict_code="100101",
            postcode="5200",
            lat=18.3,
            field_prefix="case.location",
        )
    error = info.value
    assert [(e.field, e.code) for e in error.errors] == [
        ("case.location.district_code", "district_not_in_province"),
        ("case.location.subdistrict_code", "subdistrict_not_in_province"),
        ("case.location.postcode", "postcode_format"),
        ("case.location.long", "coordinates_incomplete"),
    ]
    assert isinstance(error, ReferenceError)
    assert (error.field, error.code) == (
        "case.location.district_code",
        "district_not_in_province",
    )
    assert all(isinstance(e, ReferenceError) for e in error.errors)
    copy = pickle.loads(pickle.dumps(error))
    assert [e.code for e in copy.errors] == [e.code for e in error.errors]


def test_resolve_location_without_prefix() -> None:
    assert _errors(province_code="TH-99", field_prefix="") == [
        ("province_code", "province_unknown")
    ]


# --- addresses ---


@pytest.mark.parametrize(
    "address",
    [
        "ต.พระบาท อ.เมือง จ.ลำปาง",
        "123 หมู่ 4 ตำบลพระบาท อำเภอเมืองลำปาง",
        "ต. พระบาท อ. เมืองลำปาง จ. ลำปาง 52000",
        "123 หมู่4ตำบลพระบาทอำเภอเมืองลำปางจังหวัดลำปาง",
        "99/1 ถ.พหลโยธิน, ตำบลพระบาท, อำเภอเมือง, ลำปาง",
    ],
)
def test_address_fills_codes(address: str) -> None:
    got = resolve_location("TH-52", address=address)
    assert (got.district_code, got.subdistrict_code) == ("5201", "520105")
    assert got.coordinates_source == "subdistrict"
    assert got.address == address.strip()


def test_address_in_bangkok() -> None:
    got = resolve_location("TH-10", address="แขวงพระบรมมหาราชวัง เขตพระนคร กรุงเทพฯ")
    assert (got.district_code, got.subdistrict_code) == ("1001", "100101")


def test_address_with_district_only_fills_district() -> None:
    got = resolve_location("TH-52", address="อ.เมือง จ.ลำปาง")
    assert (got.district_code, got.subdistrict_code) == ("5201", None)
    assert got.coordinates_source == "district"


def test_address_in_another_province_is_ignored() -> None:
    got = resolve_location("TH-52", address="ต.พระบาท อ.เมือง จ.เชียงใหม่")
    assert (got.district_code, got.subdistrict_code) == (None, None)
    assert got.coordinates_source == "province"


def test_ambiguous_address_is_ignored_unless_narrowed() -> None:
    # Nonthaburi has two subdistricts named บ้านใหม่, in different districts.
    got = resolve_location("TH-12", address="ต.บ้านใหม่")
    assert (got.district_code, got.subdistrict_code) == (None, None)
    district = geothai.district("1206")
    assert district is not None
    got = resolve_location("TH-12", address=f"ต.บ้านใหม่ อ.{district.name_th}")
    assert (got.district_code, got.subdistrict_code) == ("1206", "120603")


def test_address_with_unknown_names_is_not_an_error() -> None:
    got = resolve_location("TH-52", address="บ้านเลขที่ 5 ซอยสุขใจ")
    assert (got.district_code, got.subdistrict_code) == (None, None)


def test_address_and_postcode_never_disagree() -> None:
    # พระบาท uses 52000 and 52220, not 52100: the address is not trusted.
    got = resolve_location("TH-52", address="ต.พระบาท อ.เมือง", postcode="52100")
    assert got.subdistrict_code is None
    got = resolve_location("TH-52", address="ต.พระบาท อ.เมือง", postcode="52220")
    assert got.subdistrict_code == "520105"


def test_codes_win_over_address() -> None:
    got = resolve_location("TH-52", district_code="5202", address="ต.พระบาท อ.เมือง")
    assert (got.district_code, got.subdistrict_code) == ("5202", None)
