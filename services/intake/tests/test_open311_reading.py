"""How intake reads what Open311 clients send: a place written by hand, the
spec's dates and windows, attribute answers. No service needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.datastructures import MultiDict

from labornet_intake.open311 import (
    Open311Error,
    catalogue,
    place,
    province_in,
    read_filing,
    request_query,
)

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("address", "province"),
    [
        ("ต.พระบาท อ.เมืองลำปาง จ.ลำปาง", "TH-52"),
        ("12 หมู่ 4 ตำบลพระบาท อำเภอเมือง จังหวัดลำปาง 52000", "TH-52"),
        ("99 Moo 3, Phra Bat, Mueang Lampang, Lampang", "TH-52"),
        ("Nimmanhaemin Rd, Chiang Mai 50200", "TH-50"),
        ("แขวงพระบรมมหาราชวัง เขตพระนคร กรุงเทพฯ", "TH-10"),
        ("ซอยสุขุมวิท 11 กทม", "TH-10"),
        # a district named after a province (ตากฟ้า, Nakhon Sawan) is not Tak
        ("ต.ตากฟ้า อ.ตากฟ้า นครสวรรค์", "TH-60"),
        # the last province named is the address's (most general last)
        ("ถนนลำปาง-เชียงใหม่ เชียงใหม่", "TH-50"),
        # the postcode, when no name is given
        ("99/1 ถนนพหลโยธิน 52100", "TH-52"),
    ],
)
def test_an_address_written_by_hand_names_its_province(address, province):
    assert province_in(address) == province


@pytest.mark.parametrize("address", ["หน้าตลาด", "near the market", "ตาก๊ะ 1"])
def test_an_address_without_a_province_is_not_placed(address):
    assert province_in(address) is None


def test_lat_long_fall_in_the_nearest_subdistrict_and_address_id_wins():
    location, param = place(MultiDict({"lat": "18.27", "long": "99.50"}))
    assert location["subdistrict_code"].startswith("52") and param == "lat"
    location, param = place(
        MultiDict({"lat": "18.27", "long": "99.50", "address_id": "5201"})
    )
    assert location["district_code"] == "5201" and param == "address_id"
    assert location["lat"] == 18.27  # the point given is kept


@pytest.mark.parametrize(
    ("params", "mention"),
    [
        ({}, None),
        ({"lat": "18.27"}, "long"),
        ({"lat": "north", "long": "99.5"}, "lat"),
        ({"lat": "nan", "long": "99.5"}, "lat"),
        ({"lat": "13.7", "long": "100.5", "address_id": "52-01"}, "address_id"),
        ({"lat": "-33.9", "long": "151.2"}, None),  # Sydney
        ({"address_string": "x" * 501}, "address_string"),
        (
            {"lat": "18.27", "long": "99.50", "address_string": "a\x00b"},
            "address_string",
        ),
    ],
)
def test_a_place_that_cannot_be_found_is_a_400(params, mention):
    with pytest.raises(Open311Error) as refused:
        place(MultiDict(params))
    assert refused.value.status == 400
    if mention:
        assert [param for _, param in refused.value.errors] == [mention]


def test_without_dates_the_window_is_the_last_90_days():
    query = request_query(MultiDict(), NOW)
    assert (query.since, query.until) == (NOW - timedelta(days=90), None)
    start = request_query(MultiDict({"start_date": "2026-01-01T00:00:00+07:00"}), NOW)
    assert start.since == datetime(2025, 12, 31, 17, 0, tzinfo=UTC)
    assert start.until == start.since + timedelta(days=90)
    end = request_query(MultiDict({"end_date": "2026-06-01T00:00:00Z"}), NOW)
    assert end.since == end.until - timedelta(days=90)  # type: ignore[operator]


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "9999-12-31T00:00:00Z"},
        {"end_date": "0001-01-02T00:00:00Z"},
        {"start_date": "9999-12-31T23:59:59-23:59"},
    ],
)
def test_dates_at_the_ends_of_time_are_a_400(params):
    with pytest.raises(Open311Error) as refused:
        request_query(MultiDict(params), NOW)
    assert refused.value.status == 400


def test_lists_are_comma_separated_or_repeated():
    query = request_query(
        MultiDict(
            [
                ("status", "open"),
                ("status", "closed,open"),
                ("service_code", "unpaid_wages, work_injury"),
            ]
        ),
        NOW,
    )
    assert query.statuses == ["open", "closed"]
    assert query.service_codes == ["unpaid_wages", "work_injury"]
    with pytest.raises(Open311Error):
        request_query(MultiDict([("start_date", "2026-01-01T00:00:00Z")] * 2), NOW)


def test_answers_go_to_the_office_in_the_case_description():
    service = catalogue().services["working_conditions"]
    filing = read_filing(
        MultiDict(
            [
                ("address_id", "520105"),
                ("attribute[employer_name]", "โรงงานตัวอย่าง"),
                ("attribute[issues][]", "hours"),
                ("attribute[issues][]", "withheld_documents"),
            ]
        ),
        service,
        NOW,
    )
    description = filing.case["description"]
    # no words from the client: the service's name says what it is about
    assert description.startswith("สภาพการจ้างและการทำงาน / Working conditions")
    assert "นายจ้าง: โรงงานตัวอย่าง" in description
    assert "ปัญหา: ชั่วโมงทำงานเกินกำหนด, ถูกยึดเอกสาร" in description
    assert "consent" not in filing.case
    assert filing.case["citizen"]["contact_channel"] == "none"


@pytest.mark.parametrize(
    ("answer", "value"),
    [
        ("attribute[issues][]", "overtime"),
        ("attribute[employer_name]", "บรรทัดแรก\nบรรทัดสอง"),
        ("attribute[employer_name]", "ก" * 201),
    ],
)
def test_an_answer_its_definition_does_not_allow_is_a_400(answer, value):
    service = catalogue().services["working_conditions"]
    with pytest.raises(Open311Error) as refused:
        read_filing(
            MultiDict([("address_id", "520105"), (answer, value)]), service, NOW
        )
    assert [param for _, param in refused.value.errors] == [answer.removesuffix("[]")]
