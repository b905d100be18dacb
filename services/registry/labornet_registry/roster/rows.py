"""A roster's data rows: each one's cells checked and turned into the agent
input shape, with every problem of the row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from labornet_registry.roster.cells import (
    CellError,
    read_country,
    read_date,
    read_email,
    read_kind,
    read_languages,
    read_national_id,
    read_phone,
)
from labornet_registry.roster.columns import BY_NAME, NAMES, THAI_PLACE_COLUMNS
from labornet_registry.roster.places import thai_place
from labornet_registry.roster.sheet import RowError
from labornet_registry.roster.text import cell_text, optional


def data_rows(
    table: list[list[object]], start: int, mapping: dict[int, str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, cells by English column) of each data row."""
    columns = sorted(mapping.items())
    for index in range(start, len(table)):
        values = table[index]
        size = len(values)
        cells = dict.fromkeys(NAMES, "")
        for position, name in columns:
            if position < size:
                value = values[position]
                # Both readers have cleaned text cells of invisible marks.
                cells[name] = (
                    value.strip() if type(value) is str else cell_text(value, name)
                )
        if any(cells.values()):
            yield index + 1, cells


@dataclass
class _Row:
    """One row being checked: its number, its cells, its problems so far."""

    number: int
    cells: dict[str, str]
    errors: list[RowError] = field(default_factory=list)

    def check(self, column: str, rule: Callable[[str], Any]) -> Any:
        """The cell read by ``rule``, or None: when it is empty (a problem if
        the column is required) or breaks the rule (a problem)."""
        text = self.cells[column]
        if not text:
            if BY_NAME[column].required:
                self.problem(
                    column,
                    "required",
                    f"{column} ({BY_NAME[column].header_th}) is required",
                )
            return None
        try:
            return rule(text)
        except CellError as exc:
            self.problem(column, exc.code, exc.detail)
            return None

    def problem(self, column: str, code: str, detail: str) -> None:
        """Note a problem of this row."""
        self.errors.append(RowError(self.number, column, code, detail))


class RowReader:
    """Validates rows one by one, remembering national IDs across the file."""

    def __init__(self) -> None:
        self.first_row_of_id: dict[str, int] = {}

    def read(
        self, number: int, cells: dict[str, str]
    ) -> tuple[dict[str, Any], list[RowError]]:
        """The row as agent input, and its problems (none: the row is good)."""
        row = _Row(number, cells)
        agent: dict[str, Any] = {"kind": row.check("kind", read_kind)}
        agent.update(self._person(row))
        agent.update(_place(row))
        agent.update(_term(row))
        return agent, row.errors

    def _person(self, row: _Row) -> dict[str, Any]:
        """Names, national ID (once in the file), contacts and languages."""
        cells = row.cells
        person: dict[str, Any] = {}
        for column in ("first_name_th", "last_name_th"):
            person[column] = row.check(column, optional)
        for column in ("first_name_en", "last_name_en"):
            person[column] = optional(cells[column])
        national_id = row.check("national_id", read_national_id)
        if national_id is not None:
            first = self.first_row_of_id.setdefault(national_id, row.number)
            if first != row.number:
                row.problem(
                    "national_id",
                    "duplicate_in_file",
                    f"row {row.number} has the same national ID as row {first}",
                )
        person["national_id"] = national_id
        person["phone"] = row.check("phone", read_phone)
        person["email"] = row.check("email", read_email)
        person["line_user_id"] = optional(cells["line_user_id"])
        languages = row.check("languages", read_languages)
        person["languages"] = list(languages) if languages else ["th"]
        return person


def _place(row: _Row) -> dict[str, Any]:
    """Where the agent works: one area in Thailand, or a country abroad."""
    thai = [row.cells[c] for c in THAI_PLACE_COLUMNS]
    country_text, city_text = row.cells["abroad_country"], row.cells["abroad_city"]
    place: dict[str, Any] = {
        "areas": [],
        "abroad_country": None,
        "abroad_city": None,
    }
    if any(thai) and (country_text or city_text):
        row.problem(
            "abroad_country" if country_text else "abroad_city",
            "place_conflict",
            "the row gives both a place in Thailand and one abroad: an "
            "agent works in a province or in a country abroad, not both",
        )
        return place
    if any(thai):
        area, place_errors = thai_place(*thai)
        row.errors.extend(RowError(row.number, *e) for e in place_errors)
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
        row.problem(
            "province_code",
            "place_required",
            "give a province (or district/subdistrict) in Thailand, or "
            "a country abroad",
        )
        return place
    try:
        place["abroad_country"] = read_country(country_text)
    except CellError as exc:
        row.problem("abroad_country", exc.code, exc.detail)
    place["abroad_city"] = optional(city_text)
    return place


def _term(row: _Row) -> dict[str, Any]:
    """Start date and end of term, the end not before the start."""
    start = row.check("start_date", read_date)
    end = row.check("term_end", read_date)
    if start is not None and end is not None and end < start:
        row.problem(
            "term_end",
            "term_before_start",
            f"term_end {end.isoformat()} is before start_date {start.isoformat()}",
        )
    return {"start_date": start, "term_end": end}
