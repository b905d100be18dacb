"""What reading a roster gives: the good rows, every row's problems and the
rejected rows — or the error of a file that is no roster at all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


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
class Suggestion:
    """A place the gazetteer offers for a name it does not know.

    ``code`` is the DOPA code of a current district or subdistrict,
    ``name_th`` its Thai name, ``reason`` ``successor`` (the name written was
    abolished and this place took its place) or ``similar_name`` (the name
    is spelt close to the one written).
    """

    code: str
    name_th: str
    reason: str


@dataclass(frozen=True)
class RowError:
    """One problem of one row.

    ``row`` is the spreadsheet row number (the header is row 1 in a file that
    starts with it), ``column`` the English column name ("" for the whole
    row), ``code`` a stable snake_case code, ``detail`` an English sentence,
    ``suggestions`` what the cell may have meant (a place name the gazetteer
    does not know: its successors or close spellings, also in ``detail``).
    """

    row: int
    column: str
    code: str
    detail: str
    suggestions: tuple[Suggestion, ...] = ()


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
