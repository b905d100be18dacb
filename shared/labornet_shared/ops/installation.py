"""What this installation has: its services, their settings and databases.

The operator commands and ``make run``'s supervisor both start here. A
service is found by the entry points its package declares —
``labornet.services`` (its nameko service class) and ``labornet.models``
(the declarative base of its tables) — so shared code never imports a
service package by name.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labornet_shared import SERVICES
from labornet_shared.config import (
    DEFAULT_AMQP_URI,
    DEFAULT_MANAGEMENT_URL,
    load_service_config,
    repo_root,
    service_config_path,
)

if TYPE_CHECKING:  # imported when a command needs it: the CLI starts fast
    from sqlalchemy import MetaData

SERVICE_GROUP = "labornet.services"
MODELS_GROUP = "labornet.models"


class UnknownService(ModuleNotFoundError):
    """No installed package offers this service."""


def installed_services() -> list[str]:
    """The services of this checkout (those with a config.yml)."""
    return [s for s in SERVICES if service_config_path(s).exists()]


def setting(key: str, default: str) -> str:
    """A platform-wide setting, read from the services' config.yml (which
    substitute the LABORNET_* environment); every service reads the same
    variables, so the first one found speaks for all."""
    for service in installed_services() or ["intake"]:
        try:
            value = load_service_config(service).get(key)
        except OSError:
            continue
        if value:
            return str(value)
    return default


def amqp_uri() -> str:
    """The broker every service uses (``LABORNET_AMQP_URI``)."""
    return setting("AMQP_URI", DEFAULT_AMQP_URI)


def management_url() -> str:
    """RabbitMQ's management API (``LABORNET_RABBIT_MANAGEMENT_URL``)."""
    return setting("RABBIT_MANAGEMENT_URL", DEFAULT_MANAGEMENT_URL)


def _entry_point(group: str, service: str) -> EntryPoint:
    for entry in entry_points(group=group, name=service):
        return entry
    raise UnknownService(f"no service {service!r} is installed", name=service)


def service_module(service: str) -> str:
    """The module ``nameko run`` serves the service from."""
    return _entry_point(SERVICE_GROUP, service).module


def service_tables(service: str) -> MetaData:
    """The tables of a service's database (its outbox among them)."""
    base: Any = _entry_point(MODELS_GROUP, service).load()
    return base.metadata


def migrate_service(service: str, url: str | None = None) -> None:
    """Upgrade one service's database to its newest migration."""
    from alembic import command
    from alembic.config import Config

    config = load_service_config(service)
    url = url or str(config["DATABASE_URL"])
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    ini = repo_root() / "services" / service / "alembic.ini"
    if not ini.exists():  # installed image: /app/alembic.ini
        ini = Path("alembic.ini")
    alembic_config = Config(str(ini))
    alembic_config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(alembic_config, "head")
