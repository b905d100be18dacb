"""``labornet registry`` as operators run it: a real process, a real broker
vhost and registry's real database."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import create_engine, text

from labornet_registry.roster import read_roster
from labornet_shared.db import normalise_url
from labornet_testkit.harness import run_labornet


@pytest.fixture
def registry(registry_db: str, broker: dict[str, Any]):
    """Run ``labornet registry ...`` against this test's database and vhost."""

    def run(*args: str) -> Any:
        return run_labornet(
            "registry",
            *args,
            amqp_uri=broker["AMQP_URI"],
            timeout=120,
            LABORNET_REGISTRY_DB=registry_db,
        )

    return run


def count(db_url: str, table: str) -> int:
    engine = create_engine(normalise_url(db_url))
    with engine.connect() as conn:
        found = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    engine.dispose()
    return int(found or 0)


def seed_roster(registry, path: Path, **counts: int) -> Path:
    args = [f"--{name}={value}" for name, value in counts.items()]
    result = registry("seed", "--out", str(path), "--seed", "11", *args)
    assert result.returncode == 0, result.stderr
    return path


def test_seed_then_import_delivers_one_event_per_agent(
    registry, registry_db, queue_tap, tmp_path
) -> None:
    roster = seed_roster(
        registry, tmp_path / "net.csv", graduates=4, volunteers=12, abroad=2
    )
    tap = queue_tap("registry.events")
    result = registry("import", str(roster))
    assert result.returncode == 0, result.stderr
    assert "18 registered" in result.stderr
    assert "events delivered to the broker: 18" in result.stderr
    assert "rows/s" in result.stderr
    # delivered means on the broker when the command returns
    events = tap.drain(expected=18, timeout=2)
    assert len(events) == 18
    assert {e["event_type"] for e in events} == {"agent_registered"}
    assert count(registry_db, "agents") == 18
    # the same file again: nothing changes, nothing is announced
    again = registry("import", str(roster))
    assert again.returncode == 0, again.stderr
    assert "0 registered, 0 updated, 18 unchanged" in again.stderr
    assert tap.drain(expected=0, timeout=1) == []


def test_an_import_by_chunks_publishes_each_event_once(
    registry, registry_db, queue_tap, tmp_path
) -> None:
    roster = seed_roster(
        registry, tmp_path / "net.csv", graduates=3, volunteers=8, abroad=1
    )
    tap = queue_tap("registry.events")
    # three commits, each chunk published while the next is written
    result = registry("import", str(roster), "--chunk-rows", "5")
    assert result.returncode == 0, result.stderr
    assert "events delivered to the broker: 12" in result.stderr
    events = tap.drain(expected=12, timeout=2)
    assert len({e["payload"]["agent_id"] for e in events}) == len(events) == 12
    assert count(registry_db, "agents") == 12
    assert count(registry_db, "outbox_messages WHERE sent_at IS NULL") == 0


def test_all_or_nothing_publishes_once_committed(
    registry, registry_db, queue_tap, tmp_path
) -> None:
    roster = seed_roster(
        registry, tmp_path / "net.csv", graduates=2, volunteers=4, abroad=1
    )
    tap = queue_tap("registry.events")
    result = registry("import", str(roster), "--all-or-nothing", "--chunk-rows", "2")
    assert result.returncode == 0, result.stderr
    assert "events delivered to the broker: 7" in result.stderr
    assert len(tap.drain(expected=7, timeout=2)) == 7
    assert count(registry_db, "agents") == 7


def _break_rows(source: Path, target: Path) -> None:
    """Copy a roster with a bad national ID on row 2 and a district that is
    not in its province on row 3."""
    rows = list(csv.DictReader(io.StringIO(source.read_text(encoding="utf-8-sig"))))
    rows[0]["national_id"] = "1234567890123"
    thai = next(i for i, row in enumerate(rows) if row["district"] and i > 0)
    rows[thai]["province_code"] = (
        "TH-50" if rows[thai]["province_code"] != "TH-50" else "TH-52"
    )
    rows[thai]["subdistrict"] = ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    target.write_text(out.getvalue(), encoding="utf-8")


def test_bad_rows_are_reported_with_row_and_column(
    registry, registry_db, tmp_path
) -> None:
    roster = seed_roster(
        registry, tmp_path / "net.csv", graduates=3, volunteers=5, abroad=0
    )
    broken = tmp_path / "broken.csv"
    _break_rows(roster, broken)
    result = registry("import", str(broken), "--all-or-nothing")
    assert result.returncode == 1
    assert "nothing imported" in result.stderr
    assert "national_id" in result.stderr
    assert count(registry_db, "agents") == 0
    rejected = (tmp_path / "broken.rejected.csv").read_text(encoding="utf-8-sig")
    rejected_rows = list(csv.DictReader(io.StringIO(rejected)))
    assert [row["row"] for row in rejected_rows][:1] == ["2"]
    assert len(rejected_rows) == 2
    # by default the good rows go in and the bad ones are reported
    result = registry("import", str(broken))
    assert result.returncode == 1
    assert "6 registered" in result.stderr
    assert count(registry_db, "agents") == 6


def test_dry_run_writes_nothing(registry, registry_db, tmp_path) -> None:
    roster = seed_roster(
        registry, tmp_path / "net.csv", graduates=2, volunteers=2, abroad=1
    )
    result = registry("import", str(roster), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would import: 5 registered" in result.stderr
    assert count(registry_db, "agents") == 0
    assert count(registry_db, "outbox_messages") == 0


def test_a_file_that_is_no_roster_is_one_line_and_status_2(registry, tmp_path) -> None:
    junk = tmp_path / "notes.csv"
    junk.write_text("hello,world\n1,2\n", encoding="utf-8")
    result = registry("import", str(junk))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_template_has_both_header_rows_and_reads_back_empty(
    registry, tmp_path
) -> None:
    path = tmp_path / "template.xlsx"
    result = registry("template", str(path))
    assert result.returncode == 0, result.stderr
    sheet = openpyxl.load_workbook(path).worksheets[0]
    english = [cell.value for cell in sheet[1]]
    thai = [cell.value for cell in sheet[2]]
    assert english[:3] == ["kind", "first_name_th", "last_name_th"]
    assert "เลขประจำตัวประชาชน" in thai
    assert "national_id" in result.stdout  # the explanations
    roster = read_roster(path.read_bytes(), path.name)
    assert (roster.total, roster.errors) == (0, [])


def test_seed_is_deterministic(registry, tmp_path) -> None:
    first = seed_roster(
        registry, tmp_path / "a.csv", graduates=5, volunteers=5, abroad=5
    )
    second = seed_roster(
        registry, tmp_path / "b.csv", graduates=5, volunteers=5, abroad=5
    )
    assert first.read_bytes() == second.read_bytes()
    assert (
        json.dumps(read_roster(first.read_bytes(), "a.csv").errors, default=str) == "[]"
    )


def test_an_import_beside_the_running_registry_publishes_each_event_once(
    registry, registry_db, start_registry, queue_tap, tmp_path
) -> None:
    """Defect 8: ``labornet registry import`` while the registry runs (its
    relay polling the same outbox) published every agent twice on SQLite.
    Both relays take the outbox's lease: each event leaves once, and the
    import still waits until all of them are on the broker."""
    roster = seed_roster(
        registry, tmp_path / "net.csv", graduates=6, volunteers=30, abroad=4
    )
    tap = queue_tap("registry.events")
    # the running registry's relay looks at the outbox all the time
    start_registry(OUTBOX_POLL_SECONDS=0.005)
    result = registry("import", str(roster), "--chunk-rows", "2")
    assert result.returncode == 0, result.stderr
    assert "40 registered" in result.stderr
    assert "events delivered to the broker" in result.stderr
    # on the broker when the command returns, each agent's event once
    events = tap.drain(expected=40, timeout=2)
    per_agent = Counter(e["payload"]["agent_id"] for e in events)
    assert len(per_agent) == 40
    assert set(per_agent.values()) == {1}
    assert len({e["event_id"] for e in events}) == len(events)
    assert count(registry_db, "outbox_messages WHERE sent_at IS NULL") == 0
