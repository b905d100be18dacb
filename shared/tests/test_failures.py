"""Sorting a handler's failure: transient, prerequisite or content — with real
errors from SQLite, PostgreSQL and RabbitMQ, not made-up ones — and what the
retry policy does with each."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import kombu
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from labornet_shared.consumer import PrerequisiteMissing as FromConsumer
from labornet_shared.failures import (
    CONTENT,
    PREREQUISITE,
    TRANSIENT,
    FailureRecord,
    PrerequisiteMissing,
    RetryPolicy,
    classify,
    reason_label,
    retry_delays,
)
from labornet_testkit.harness import free_port

NOW = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)


def caught(action: object) -> BaseException:
    try:
        action()  # type: ignore[operator]
    except BaseException as exc:
        return exc
    raise AssertionError("no error raised")


def test_sqlite_locked_by_another_writer_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.01})

    def write() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))

    error = caught(write)
    assert isinstance(error, OperationalError)
    assert "database is locked" in str(error)
    assert classify(error) == TRANSIENT
    holder.execute("ROLLBACK")
    engine.dispose()


def test_sqlite_errors_of_the_statement_are_content(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")

    def query() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table"))

    error = caught(query)
    # sqlite3 says OperationalError for this too; it is not an outage
    assert isinstance(error, OperationalError)
    assert classify(error) == CONTENT
    engine.dispose()


def test_integrity_error_is_content(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'unique.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))

    def duplicate() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))

    error = caught(duplicate)
    assert isinstance(error, IntegrityError)
    assert classify(error) == CONTENT
    engine.dispose()


def test_postgresql_unreachable_is_transient() -> None:
    pytest.importorskip("psycopg2")
    # nobody listens on this port: connection refused
    engine = create_engine(
        f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test",
        connect_args={"connect_timeout": 2},
    )
    error = caught(engine.connect)
    assert isinstance(error, OperationalError)
    assert classify(error) == TRANSIENT
    engine.dispose()


def test_broker_unreachable_is_transient() -> None:
    connection = kombu.Connection(
        f"amqp://guest:guest@127.0.0.1:{free_port()}//", connect_timeout=1
    )
    error = caught(lambda: connection.ensure_connection(max_retries=1))
    assert classify(error) == TRANSIENT
    assert classify(ConnectionResetError()) == TRANSIENT
    assert classify(TimeoutError("timed out")) == TRANSIENT


def test_an_error_raised_from_a_transient_one_is_transient() -> None:
    def wrapped() -> None:
        try:
            raise ConnectionRefusedError(111, "refused")
        except ConnectionRefusedError as exc:
            raise RuntimeError("could not load the routing rules") from exc

    assert classify(caught(wrapped)) == TRANSIENT


def test_prerequisite_and_everything_else() -> None:
    assert FromConsumer is PrerequisiteMissing  # the import path handlers use
    assert classify(PrerequisiteMissing("case LN-2568-00000001 missing")) == (
        PREREQUISITE
    )
    assert classify(ValueError("bad category")) == CONTENT
    assert classify(KeyError("reference")) == CONTENT


def test_reason_labels_are_bounded() -> None:
    first = PrerequisiteMissing("case LN-2568-00000001 not received yet")
    second = PrerequisiteMissing("case LN-2568-00009999 not received yet")
    assert reason_label(first) == reason_label(second)
    assert reason_label(first) == "case <case> not received yet"
    uuid = "6f1c1f2e-6c1b-4c8e-9a57-0d8c7a1f2b3c"
    assert reason_label(PrerequisiteMissing(f"agent {uuid} unknown")) == (
        "agent <id> unknown"
    )
    assert reason_label(PrerequisiteMissing("x", reason="no recipients")) == (
        "no recipients"
    )
    assert reason_label(ValueError("LN-2568-00000001")) == "ValueError"


def test_headers_carry_the_counts_of_each_kind() -> None:
    record = FailureRecord.from_headers({})
    record = record.after(TRANSIENT, NOW)
    record = record.after(TRANSIENT, NOW + timedelta(seconds=5))
    record = record.after(CONTENT, NOW + timedelta(seconds=10))
    again = FailureRecord.from_headers(record.headers())
    assert again.attempts == 3
    assert (again.count(TRANSIENT), again.count(CONTENT)) == (2, 1)
    assert again.count(PREREQUISITE) == 0
    # the window starts at the first transient failure
    assert again.started(TRANSIENT) == NOW
    assert again.started(PREREQUISITE) is None


def test_content_failures_are_bounded_transient_ones_by_time() -> None:
    policy = RetryPolicy(
        max_retries=2,
        delays_ms=(1000, 5000, 30_000),
        transient_seconds=3600,
        prerequisite_seconds=600,
    )
    record = FailureRecord()
    for _ in range(2):
        record = record.after(CONTENT, NOW)
        assert policy.decide(record, CONTENT, NOW).delay_ms is not None
    record = record.after(CONTENT, NOW)
    verdict = policy.decide(record, CONTENT, NOW)
    assert verdict.delay_ms is None
    assert verdict.reason == "failed 3 times for its content"

    # a thousand transient failures within the hour: still retried, capped
    record = FailureRecord()
    for minute in range(1000):
        at = NOW + timedelta(seconds=3 * minute)
        record = record.after(TRANSIENT, at)
        assert policy.decide(record, TRANSIENT, at).delay_ms in (1000, 5000, 30_000)
    assert policy.decide(record, TRANSIENT, at).delay_ms == 30_000
    later = NOW + timedelta(seconds=3601)
    verdict = policy.decide(record.after(TRANSIENT, later), TRANSIENT, later)
    assert verdict.delay_ms is None
    assert "for more than 3600 s" in verdict.reason

    record = FailureRecord().after(PREREQUISITE, NOW)
    assert policy.decide(record, PREREQUISITE, NOW).delay_ms == 1000
    later = NOW + timedelta(seconds=601)
    verdict = policy.decide(record.after(PREREQUISITE, later), PREREQUISITE, later)
    assert verdict.delay_ms is None
    assert verdict.reason == "its prerequisite never arrived for more than 600 s"


def test_retry_delays_from_config() -> None:
    assert retry_delays("1000,5000,30000,60000") == (1000, 5000, 30_000, 60_000)
    assert retry_delays(250) == (250,)
    assert retry_delays([50, 100]) == (50, 100)
    policy = RetryPolicy.from_config({"EVENT_RETRY_DELAYS_MS": "50,100"})
    assert [policy.delay_ms(n) for n in (1, 2, 3, 9)] == [50, 100, 100, 100]
    for bad in ("", "0", "-5", ",".join(["10"] * 9), str(16 * 60_000)):
        with pytest.raises(ValueError):
            retry_delays(bad)
