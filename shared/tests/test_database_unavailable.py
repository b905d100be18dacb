"""A request that meets a database gone away (restart, failover) is a 503
problem+json with Retry-After — something to retry — never a bare 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from labornet_shared.http import HttpEntrypoint, database_unavailable
from labornet_testkit.harness import free_port


def _real_connection_error() -> OperationalError:
    # a PostgreSQL that is not there: the error psycopg2 really raises
    engine = create_engine(
        f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test",
        connect_args={"connect_timeout": 2},
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("connected to a port nobody listens on")


def _answer(exc: Exception) -> Any:
    entrypoint = object.__new__(HttpEntrypoint)
    entrypoint.url = "/v1/referrals"
    return entrypoint.response_from_exception(exc, None)


def test_a_lost_database_is_a_503_to_retry() -> None:
    response = _answer(_real_connection_error())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert json.loads(response.get_data())["code"] == "database_unavailable"


@pytest.mark.parametrize(
    "exc",
    [
        IntegrityError("INSERT", {}, Exception("duplicate key")),
        RuntimeError("a bug"),
    ],
)
def test_other_errors_stay_500(exc: Exception) -> None:
    assert not database_unavailable(exc)
    response = _answer(exc)
    assert response.status_code == 500
    assert json.loads(response.get_data())["code"] == "internal_error"
