"""pytest fixtures that run registry for tests (loaded by the root conftest)."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from labornet_shared.reference import generate_national_id
from labornet_testkit.harness import service_fixtures

registry_db, registry_config, start_registry, registry_api = service_fixtures(
    "registry", "labornet_registry.service:RegistryService"
)


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
