"""``labornet messages tail`` as a developer runs it beside ``make run``: its
own process, notify's database found through notify's config, the console's
messages printed newest last, Thai as written; ``--follow`` prints a new
one as it comes; mistakes are one line and an exit status."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert

from labornet_shared.config import repo_root
from labornet_shared.db import normalise_url
from labornet_shared.ops.installation import service_tables
from labornet_testkit.harness import migrate, run_labornet

THAI = "กระทรวงแรงงานได้รับเรื่องของท่านแล้ว เลขที่ LN-2569-00000042"


def write(url: str, **row: Any) -> None:
    """One console row, as notify's console channel writes it."""
    table = service_tables("notify").tables["console_messages"]
    values = {
        "recorded_at": datetime(2026, 12, 7, 14, 3, 5, tzinfo=UTC),
        "channel": "sms",
        "delivery_id": "01a21815-065e-7180-827c-ed4fc4e55c68",
        "case_reference": "LN-2569-00000042",
        "recipient_kind": "citizen",
        "recipient_masked": "+66 8x xxx 5678",
        "message": "case_received",
        "language": "th",
        "text": THAI,
        "segments": 2,
        "status": "sent",
        **row,
    }
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(insert(table).values(**values))
    engine.dispose()


def test_tail_prints_the_console_newest_last(fresh_database) -> None:
    url = fresh_database("notify")
    migrate("notify", url)
    write(url)
    write(
        url,
        channel="line",
        recipient_kind="area_agents",
        recipient_masked="U…c0c0",
        message="new_case_in_area",
        text="มีเรื่องใหม่ในพื้นที่ของท่าน\nเลขที่ LN-2569-00000042",
        segments=None,
    )
    write(
        url,
        recorded_at=datetime(2026, 12, 7, 15, 30, tzinfo=UTC),  # 22:30 Bangkok
        status="held",
        held_until=datetime(2026, 12, 8, 1, 0, tzinfo=UTC),  # 08:00 Bangkok
        note="quiet hours",
        text="เรื่องของท่านถูกส่งต่อแล้ว",
    )
    result = run_labornet("messages", "tail", LABORNET_NOTIFY_DB=url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("2026-12-07 21:03:05  SMS → +66 8x xxx 5678 (citizen)")
    assert "  th  LN-2569-00000042  case_received  2 SMS parts  sent" in lines[0]
    assert lines[1] == f"    {THAI}"
    assert "LINE → U…c0c0 (area_agents)" in lines[2]
    assert lines[3:5] == [
        "    มีเรื่องใหม่ในพื้นที่ของท่าน",
        "    เลขที่ LN-2569-00000042",
    ]
    assert "HELD until 08:00 on 2026-12-08 (quiet hours)" in lines[5]
    only_held = run_labornet("messages", "tail", "-n", "1", LABORNET_NOTIFY_DB=url)
    assert only_held.stdout.splitlines()[1] == "    เรื่องของท่านถูกส่งต่อแล้ว"
    assert len(only_held.stdout.splitlines()) == 2
    line_only = run_labornet(
        "messages", "tail", "--channel", "line", LABORNET_NOTIFY_DB=url
    )
    assert "SMS →" not in line_only.stdout and "LINE →" in line_only.stdout


def test_follow_prints_a_new_message_as_it_comes(fresh_database) -> None:
    url = fresh_database("notify")
    migrate("notify", url)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LABORNET_")},
        "LABORNET_NOTIFY_DB": url,
        "LABORNET_ROOT": str(repo_root()),
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("labornet")), "messages", "tail", "-f"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=repo_root(),
    )
    try:
        time.sleep(3)  # started, and found nothing yet
        assert process.poll() is None
        write(url, recorded_at=datetime.now(UTC) - timedelta(seconds=1))
        time.sleep(3)
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert THAI in out, (out, err)
    assert out.count(THAI) == 1


def test_mistakes_are_one_line_and_a_status(fresh_database) -> None:
    wrong = run_labornet("messages", "tail", "--channel", "fax")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines() == [
        "error: --channel is one of sms, line, email, webhook, not 'fax'"
    ]
    unmigrated = run_labornet(
        "messages", "tail", LABORNET_NOTIFY_DB=fresh_database("empty")
    )
    assert unmigrated.returncode == 1
    assert "run `labornet migrate notify`" in unmigrated.stderr
    assert "Traceback" not in unmigrated.stderr
    url = fresh_database("notify")
    migrate("notify", url)
    empty = run_labornet("messages", "tail", LABORNET_NOTIFY_DB=url)
    assert empty.returncode == 0
    assert empty.stdout.startswith("no message on notify's console yet")
    assert "LABORNET_NOTIFY_CONSOLE_CHANNEL=true" in empty.stdout
