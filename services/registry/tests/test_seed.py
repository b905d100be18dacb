"""The synthetic field-agent network: the shape of the real one, from a seed.

Demos, tests and the import benchmark rely on it looking like the real network
(issue 4) and on the same seed giving the same roster file every time.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import date
from pathlib import Path

import geothai
import pytest

from labornet_registry.seed import (
    NETWORK_GRADUATES,
    NETWORK_VOLUNTEERS_ABROAD,
    NETWORK_VOLUNTEERS_THAILAND,
    ROSTER_COLUMNS,
    generate_network,
    write_network_csv,
)
from labornet_shared.categories import AGENT_KINDS, AGENT_LANGUAGES
from labornet_shared.reference.countries import validate_country
from labornet_shared.reference.geography import province, provinces
from labornet_shared.reference.national_id import is_valid_national_id
from labornet_shared.reference.phone import normalize_phone

Row = dict[str, str]

EXPECTED_HEADER = [
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
]
DEEP_SOUTH = {"TH-94", "TH-95", "TH-96"}
THAI_LETTERS = re.compile(r"[\u0e00-\u0e7f]+")


@pytest.fixture(scope="module")
def network() -> list[Row]:
    """The full-size network from the default seed (shared: it is read-only)."""
    return generate_network()


def graduates(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r["kind"] == "labour_graduate"]


def volunteers_in_thailand(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r["kind"] == "labour_volunteer" and r["province_code"]]


def volunteers_abroad(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r["kind"] == "labour_volunteer" and r["abroad_country"]]


def read_csv(path: Path) -> tuple[list[str], list[Row]]:
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    return header, [dict(zip(header, values, strict=True)) for values in reader]


def assert_places_agree_with_geothai(rows: list[Row]) -> None:
    for row in rows:
        if row["abroad_country"]:
            continue
        info = province(row["province_code"])
        assert info is not None, row["province_code"]
        assert row["province_code"] == info.iso_code  # the TH-52 spelling
        if row["district"]:
            district = geothai.district(row["district"])
            assert district is not None, row["district"]
            assert district.province_code == info.dopa_code
        if row["subdistrict"]:
            assert row["district"], "a subdistrict comes with its district"
            subdistrict = geothai.subdistrict(row["subdistrict"])
            assert subdistrict is not None, row["subdistrict"]
            assert subdistrict.district_code == row["district"]


# --- size and spread ---------------------------------------------------------


def test_full_network_has_the_real_numbers_by_kind_and_place(network):
    assert len(graduates(network)) == NETWORK_GRADUATES == 725
    assert len(volunteers_in_thailand(network)) == NETWORK_VOLUNTEERS_THAILAND == 7746
    assert len(volunteers_abroad(network)) == NETWORK_VOLUNTEERS_ABROAD == 408
    assert len(network) == 725 + 7746 + 408
    assert {r["kind"] for r in network} == set(AGENT_KINDS)
    assert all(r["province_code"] for r in graduates(network))
    assert not any(r["abroad_country"] for r in graduates(network))


def test_every_province_has_a_graduate(network):
    covered = {r["province_code"] for r in graduates(network)}
    assert covered == {p.iso_code for p in provinces()}


def test_central_region_has_126_graduates(network):
    regions = Counter(province(r["province_code"]).region for r in graduates(network))
    assert regions["central"] == 126


def test_big_provinces_and_the_deep_south_have_more_graduates(network):
    per_province = Counter(r["province_code"] for r in graduates(network))
    # Nakhon Ratchasima (32 districts) against Samut Songkhram (3).
    assert per_province["TH-30"] > 3 * per_province["TH-75"]
    # Yala has as many districts as Lamphun but weighs double.
    assert per_province["TH-95"] > per_province["TH-51"]


def test_graduates_cover_every_district_before_any_has_a_second(network):
    by_province: dict[str, Counter[str]] = {}
    for row in graduates(network):
        if row["district"]:
            per_district = by_province.setdefault(row["province_code"], Counter())
            per_district[row["district"]] += 1
    for iso, per_district in by_province.items():
        dopa = province(iso).dopa_code
        counts = [per_district[d.code] for d in geothai.districts(dopa)]
        assert max(counts) - min(counts) <= 1, iso


def test_a_few_graduates_cover_a_whole_province(network):
    province_wide = [r for r in graduates(network) if not r["district"]]
    assert 0 < len(province_wide) < 30
    assert all(not r["subdistrict"] for r in graduates(network))


def test_volunteers_cover_nearly_every_subdistrict_once(network):
    all_subdistricts = {
        s.code
        for p in provinces()
        for d in geothai.districts(p.dopa_code)
        for s in geothai.subdistricts(d.code)
    }
    per_subdistrict = Counter(r["subdistrict"] for r in volunteers_in_thailand(network))
    assert len(per_subdistrict) >= 0.98 * len(all_subdistricts)
    assert set(per_subdistrict) <= all_subdistricts
    assert max(per_subdistrict.values()) == 2
    doubled = sum(1 for n in per_subdistrict.values() if n == 2)
    assert doubled < 0.1 * len(per_subdistrict)


def test_every_place_code_agrees_with_geothai(network):
    assert_places_agree_with_geothai(network)
    for row in volunteers_in_thailand(network):
        assert row["subdistrict"] and row["district"] and row["province_code"]


def test_volunteers_abroad_are_where_thai_workers_are(network):
    abroad = volunteers_abroad(network)
    for row in abroad:
        assert validate_country(row["abroad_country"]) == row["abroad_country"]
        assert row["abroad_city"]
        assert not (row["province_code"] or row["district"] or row["subdistrict"])
    per_country = Counter(r["abroad_country"] for r in abroad)
    top_five = [code for code, _ in per_country.most_common(5)]
    assert top_five == ["TW", "IL", "KR", "JP", "MY"]
    assert {"SG", "AE", "SA", "HK", "SE", "FI"} <= set(per_country)
    cities = {(r["abroad_country"], r["abroad_city"]) for r in abroad}
    assert {("TW", "Taichung"), ("KR", "Ansan"), ("IL", "Tel Aviv")} <= cities


# --- people ------------------------------------------------------------------


def test_names_are_thai_and_varied(network):
    for row in network:
        assert THAI_LETTERS.fullmatch(row["first_name_th"]), row["first_name_th"]
        assert THAI_LETTERS.fullmatch(row["last_name_th"]), row["last_name_th"]
        assert bool(row["first_name_en"]) == bool(row["last_name_en"])
    assert len({r["first_name_th"] for r in network}) >= 80
    assert len({r["last_name_th"] for r in network}) >= 120
    english = sum(1 for r in network if r["first_name_en"]) / len(network)
    assert 0.3 < english < 0.5


def test_national_ids_are_valid_and_unique(network):
    ids = [r["national_id"] for r in network]
    assert all(is_valid_national_id(i) and len(i) == 13 for i in ids)
    assert len(set(ids)) == len(ids)


def test_phones_are_e164_and_unique(network):
    phones = [r["phone"] for r in network]
    assert all(phones)
    assert all(normalize_phone(p) == p for p in phones)
    assert len(set(phones)) == len(phones)
    for row in graduates(network) + volunteers_in_thailand(network):
        assert re.fullmatch(r"\+66[689][0-9]{8}", row["phone"]), row["phone"]
    abroad_phones = [r["phone"] for r in volunteers_abroad(network)]
    # Volunteers abroad have a local number or keep their Thai one.
    assert any(p.startswith("+886") for p in abroad_phones)
    assert any(p.startswith("+66") for p in abroad_phones)


def test_emails_and_line_ids_are_unique_and_well_formed(network):
    emails = [r["email"] for r in network if r["email"]]
    assert 0.1 * len(network) < len(emails) < 0.6 * len(network)
    assert len(set(emails)) == len(emails)
    assert all(re.fullmatch(r"[a-z0-9._]+@(gmail|hotmail)\.com", e) for e in emails), (
        emails[:5]
    )
    line_ids = [r["line_user_id"] for r in network if r["line_user_id"]]
    assert len(line_ids) > 0.5 * len(network)
    assert len(set(line_ids)) == len(line_ids)
    assert all(re.fullmatch(r"U[0-9a-f]{32}", i) for i in line_ids)


def test_languages_are_known_codes_spoken_where_they_are_needed(network):
    def speakers(code: str, rows: list[Row]) -> int:
        return sum(1 for r in rows if code in r["languages"].split(","))

    for row in network:
        spoken = row["languages"].split(",")
        assert spoken[0] == "th"
        assert set(spoken) <= set(AGENT_LANGUAGES)
        assert len(set(spoken)) == len(spoken)
    in_thailand = graduates(network) + volunteers_in_thailand(network)

    def area(*isos: str) -> list[Row]:
        return [r for r in in_thailand if r["province_code"] in isos]

    assert speakers("my", area("TH-63", "TH-85", "TH-74")) > 0
    assert speakers("km", area("TH-27", "TH-32", "TH-33")) > 0
    assert speakers("lo", area("TH-43", "TH-42", "TH-49")) > 0
    assert speakers("ms", area(*DEEP_SOUTH)) > 0
    # Nobody speaks Malay in Chiang Mai or Khmer in Phuket.
    assert speakers("ms", area("TH-50")) == 0
    assert speakers("km", area("TH-83")) == 0
    taiwan = [r for r in volunteers_abroad(network) if r["abroad_country"] == "TW"]
    assert speakers("zh", taiwan) > 0
    assert speakers("en", graduates(network)) > 0.5 * NETWORK_GRADUATES


def test_dates_follow_the_network_growth_and_volunteer_terms(network):
    for row in graduates(network):
        assert 2010 <= date.fromisoformat(row["start_date"]).year <= 2025
        assert row["term_end"] == ""
    first_year = [r for r in graduates(network) if r["start_date"] < "2011-01-01"]
    assert first_year
    assert {r["province_code"] for r in first_year} <= DEEP_SOUTH
    terms_ended = 0
    volunteers = volunteers_in_thailand(network) + volunteers_abroad(network)
    for row in volunteers:
        start = date.fromisoformat(row["start_date"])
        end = date.fromisoformat(row["term_end"])
        assert 2012 <= start.year <= 2025
        assert (end.year - start.year, end.month) == (4, start.month)
        terms_ended += end < date(2026, 1, 1)
    assert 0 < terms_ended < len(volunteers) / 2


# --- determinism, sizes and the file -----------------------------------------


def test_the_same_seed_writes_the_same_bytes(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_network_csv(first, seed=7)
    write_network_csv(second, seed=7)
    assert first.read_bytes() == second.read_bytes()


def test_another_seed_gives_another_network(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_network_csv(first, seed=7, graduates=80, volunteers=40, abroad=10)
    write_network_csv(second, seed=8, graduates=80, volunteers=40, abroad=10)
    assert first.read_bytes() != second.read_bytes()
    ids_first = {r["national_id"] for r in read_csv(first)[1]}
    ids_second = {r["national_id"] for r in read_csv(second)[1]}
    assert ids_first != ids_second


def test_a_small_network_has_the_counts_asked_for():
    rows = generate_network(11, graduates=20, volunteers=25, abroad=5)
    assert len(rows) == 50
    assert len(graduates(rows)) == 20
    assert len(volunteers_in_thailand(rows)) == 25
    assert len(volunteers_abroad(rows)) == 5
    # Too few for every province: it starts where the network began.
    assert {r["province_code"] for r in graduates(rows)} >= DEEP_SOUTH
    assert len({r["subdistrict"] for r in volunteers_in_thailand(rows)}) == 25
    assert_places_agree_with_geothai(rows)
    assert len({r["national_id"] for r in rows}) == 50


def test_a_network_with_none_of_a_kind_is_allowed():
    rows = generate_network(3, graduates=0, volunteers=0, abroad=4)
    assert [r["kind"] for r in rows] == ["labour_volunteer"] * 4
    assert generate_network(3, graduates=0, volunteers=0, abroad=0) == []


def test_negative_counts_are_refused():
    with pytest.raises(ValueError):
        generate_network(1, volunteers=-1)


def test_csv_has_the_roster_header_and_the_generated_rows(tmp_path):
    path = tmp_path / "network.csv"
    written = write_network_csv(path, seed=5, graduates=90, volunteers=30, abroad=8)
    assert written == 128
    header, rows = read_csv(path)
    assert header == EXPECTED_HEADER == list(ROSTER_COLUMNS)
    # Quoting keeps "th,en" in one languages cell.
    assert rows == generate_network(5, graduates=90, volunteers=30, abroad=8)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfkind,first_name_th,")


def test_the_national_network_reads_back_without_a_single_error(tmp_path) -> None:
    from labornet_registry.roster import read_roster

    path = tmp_path / "network.csv"
    written = write_network_csv(path)
    roster = read_roster(path.read_bytes(), path.name)
    assert written == roster.total == roster.ok == 8_879
    assert roster.errors == []
    kinds = [row.agent["kind"] for row in roster.rows]
    assert kinds.count("labour_graduate") == 725
    abroad = [row for row in roster.rows if row.agent["abroad_country"]]
    assert len(abroad) == 408
    assert all(row.agent["areas"] == [] for row in abroad)
