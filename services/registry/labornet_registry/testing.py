"""pytest fixtures that run registry for tests (loaded by the root conftest)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest

from labornet_shared.reference import generate_national_id
from labornet_shared.testing import Api, free_port, migrate, service_config


@pytest.fixture
def registry_db(fresh_database: Callable[[str], str]) -> str:
    """A migrated registry database of its own."""
    url = fresh_database("registry")
    migrate("registry", url)
    return url


@pytest.fixture
def registry_config(registry_db: str, broker: dict[str, Any]) -> dict[str, Any]:
    """registry's config on this test's database, vhost and a free port."""
    return service_config(
        "registry",
        AMQP_URI=broker["AMQP_URI"],
        DATABASE_URL=registry_db,
        WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}",
        OUTBOX_POLL_SECONDS=0.2,
        RATE_LIMIT_ANONYMOUS="10000/minute",
    )


@pytest.fixture
def start_registry(
    container_factory: Callable[..., Any], registry_config: dict[str, Any]
) -> Callable[..., Api]:
    """Start registry (with overrides); returns an API client for it."""

    def start(**overrides: Any) -> Api:
        from labornet_registry.service import RegistryService

        config = {**registry_config, **overrides}
        container = container_factory(RegistryService, config)
        container.start()
        return Api(f"http://{config['WEB_SERVER_ADDRESS']}")

    return start


@pytest.fixture
def registry_api(start_registry: Callable[..., Api]) -> Iterator[Api]:
    """A running registry and a client for it."""
    api = start_registry()
    with api:
        yield api


# --- factories -----------------------------------------------------------------

THAI_FIRST_NAMES = ("สมชาย", "สมศรี", "วิชัย", "มาลี", "ประเสริฐ", "สุดา", "อนันต์", "กาญจนา")
THAI_LAST_NAMES = ("ใจดี", "ศรีสุข", "วงศ์ใหญ่", "แก้วมณี", "บุญมา", "ทองดี", "สายสุวรรณ")


def agent_payload(rng: random.Random | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid ``POST /v1/agents`` body: a volunteer of a Lampang subdistrict."""
    rng = rng or random.Random()
    body: dict[str, Any] = {
        "kind": "labour_volunteer",
        "first_name_th": rng.choice(THAI_FIRST_NAMES),
        "last_name_th": rng.choice(THAI_LAST_NAMES),
        "national_id": generate_national_id(rng),
        "phone": f"08{rng.randrange(10_000_000, 99_999_999)}",
        "languages": ["th"],
        "areas": [{"province_code": "TH-52", "subdistrict_code": "520101"}],
        "start_date": "2024-06-01",
        "term_end": "2028-05-31",
    }
    body.update(overrides)
    return body


def agent_input(rng: random.Random | None = None, **overrides: Any) -> dict[str, Any]:
    """A validated agent-input dict, as the roster reader gives the domain."""
    rng = rng or random.Random()
    agent: dict[str, Any] = {
        "kind": "labour_volunteer",
        "first_name_th": rng.choice(THAI_FIRST_NAMES),
        "last_name_th": rng.choice(THAI_LAST_NAMES),
        "first_name_en": None,
        "last_name_en": None,
        "national_id": generate_national_id(rng),
        "phone": f"+668{rng.randrange(10_000_000, 99_999_999)}",
        "email": None,
        "line_user_id": None,
        "languages": ["th"],
        "areas": [
            {
                "province_code": "TH-52",
                "district_code": "5201",
                "subdistrict_code": "520101",
            }
        ],
        "abroad_country": None,
        "abroad_city": None,
        "start_date": date(2024, 6, 1),
        "term_end": date(2028, 5, 31),
    }
    agent.update(overrides)
    return agent
