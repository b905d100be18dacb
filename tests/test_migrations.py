"""Every service's migrations build exactly the schema its models describe,
on SQLite and on PostgreSQL, and can be taken down and up again."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, inspect, text
from sqlalchemy.engine import Engine

from labornet_shared.db import make_engine

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(ini.parent.name for ini in ROOT.glob("services/*/alembic.ini"))


def test_every_service_has_migrations() -> None:
    assert "intake" in SERVICES
    for service in SERVICES:
        assert (ROOT / "services" / service / "alembic" / "env.py").exists()


def alembic_config(service: str, url: str) -> Config:
    config = Config(str(ROOT / "services" / service / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def model_metadata(service: str) -> MetaData:
    models: Any = importlib.import_module(f"labornet_{service}.models")
    return models.Base.metadata


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=1)
    yield engine
    engine.dispose()


def differences(engine: Engine, metadata: MetaData) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True}
        )
        return list(compare_metadata(context, metadata))


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_the_models(service: str, db_url: str, engine: Engine) -> None:
    config = alembic_config(service, db_url)
    metadata = model_metadata(service)
    head = ScriptDirectory.from_config(config).get_current_head()
    assert tables(engine) == set()

    command.upgrade(config, "head")
    assert current_revision(engine) == head
    assert tables(engine) == set(metadata.tables)
    assert differences(engine, metadata) == []

    command.downgrade(config, "base")
    assert current_revision(engine) is None
    assert tables(engine) == set()

    command.upgrade(config, "head")
    assert current_revision(engine) == head
    assert differences(engine, metadata) == []


@pytest.mark.parametrize("service", SERVICES)
def test_migration_history_is_one_line(service: str) -> None:
    """One head and one base: no forgotten branch to merge. Nor two files with
    one revision id (two branches each adding "the next" migration): alembic
    keeps one of them, silently."""
    versions = ROOT / "services" / service / "alembic" / "versions"
    revisions = [
        line.split("=", 1)[1].strip().strip("\"'")
        for path in sorted(versions.glob("*.py"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("revision =")
    ]
    assert len(revisions) == len(set(revisions)), revisions
    script = ScriptDirectory.from_config(alembic_config(service, "sqlite://"))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    for revision in script.walk_revisions():
        module = revision.module
        assert hasattr(module, "downgrade"), revision.revision


BEFORE = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("service", "before", "case"),
    [
        (
            "intake",
            "0005",
            {
                "id": 42,
                "be_year": 2569,
                "status": "received",
                "description": "အလုပ်ရှင်က လစာ မပေးသေးပါ",
                "channel": "web",
                "language": "th",
                "province_code": "TH-52",
                "lat": 18.29,
                "long": 99.49,
                "coordinates_source": "province",
                "created_at": BEFORE,
                "updated_at": BEFORE,
            },
        ),
        (
            "routing",
            "0004",
            {
                "reference": "LN-2569-00000042",
                "description": "အလုပ်ရှင်က လစာ မပေးသေးပါ",
                "channel": "web",
                "language": "th",
                "province_code": "TH-52",
                "lat": 18.29,
                "long": 99.49,
                "screening": {"method": "lexicon", "needs_review": True, "labels": []},
                "needs_review": True,
                "status": "routed",
                "received_at": BEFORE,
                "routed_at": BEFORE,
            },
        ),
        (
            "notify",
            "0004",
            {
                "reference": "LN-2569-00000042",
                "language": "th",
                "province_code": "TH-52",
                "status": "open",
            },
        ),
    ],
)
def test_a_case_from_before_has_a_chosen_language(
    service: str, before: str, case: dict[str, Any], db_url: str, engine: Engine
) -> None:
    """A case taken in before ``language_chosen`` had the language its
    citizen gave (or the Thai default): chosen, whatever it is written in —
    its notices stay in it."""
    config = alembic_config(service, db_url)
    command.upgrade(config, before)
    cases = Table("cases", MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(cases.insert().values(**case))
    command.upgrade(config, "head")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT language, language_chosen FROM cases")).one()
    assert (row.language, bool(row.language_chosen)) == ("th", True)
    command.downgrade(config, before)


def test_notify_s_area_index_is_filled_from_the_agents_already_known(
    db_url: str, engine: Engine
) -> None:
    """Announcements find agents through ``agent_areas``: the migration that
    adds it fills it from the agents notify projected before, active only."""
    config = alembic_config("notify", db_url)
    command.upgrade(config, "0005")
    agents = Table("agent_contacts", MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        for agent_id, status in (("a-active", "active"), ("a-gone", "inactive")):
            conn.execute(
                agents.insert().values(
                    id=agent_id,
                    revision=1,
                    status=status,
                    name_th="สมชาย",
                    languages=["th"],
                    areas=[["TH-52", "5201", None]],
                )
            )
    command.upgrade(config, "head")
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT agent_id, level, code, exact FROM agent_areas")
        ).all()
    assert sorted((r.agent_id, r.level, r.code, bool(r.exact)) for r in rows) == [
        ("a-active", "district", "5201", True),
        ("a-active", "province", "TH-52", False),
        ("a-active", "region", "north", False),
    ]
    command.downgrade(config, "0005")
