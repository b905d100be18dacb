"""Configuration: each service's ``config.yml`` with ``${LABORNET_...:default}``.

nameko substitutes environment variables itself when it runs a service; the
CLI and the tests read the same files through :func:`load_config` so that a
value is defined once, in ``config.yml``. A secret may come from a file
instead (``LABORNET_X_FILE``, :mod:`labornet_shared.secret_files`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

DEFAULT_AMQP_URI = "amqp://guest:guest@localhost:5672/"
DEFAULT_MANAGEMENT_URL = "http://guest:guest@localhost:15672"
DEVELOPMENT_TOKEN_SECRET = "labornet-development-secret-do-not-use"
DEVELOPMENT_PEPPER = "labornet-development-pepper"


def repo_root() -> Path:
    """The checkout's root: ``LABORNET_ROOT`` or the current directory."""
    return Path(os.environ.get("LABORNET_ROOT", os.getcwd()))


def service_config_path(service: str) -> Path:
    """Where a service's ``config.yml`` lives in a checkout."""
    return repo_root() / "services" / service / "config.yml"


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a nameko ``config.yml`` with nameko's own env-var substitution,
    secrets given as ``LABORNET_X_FILE`` read from their files."""
    from nameko.cli.main import setup_yaml_parser

    setup_yaml_parser()
    with _secret_files_in_environment(), open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    return dict(config or {})


@contextmanager
def _secret_files_in_environment() -> Iterator[None]:
    """The ``_FILE`` secrets' values in ``os.environ`` (where nameko's
    substitution looks) while a config is read; the environment as it was
    afterwards, so that reading a config changes nothing for the caller."""
    from labornet_shared.secret_files import read_secret_files

    values = read_secret_files(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        for name in values:
            # set only here: read_secret_files refuses a name set both ways
            os.environ.pop(name, None)


def load_service_config(service: str) -> dict[str, Any]:
    """The config of one service: the checkout's, or ``./config.yml`` in an
    installed image (where the service's files live in the working dir)."""
    path = service_config_path(service)
    if not path.exists() and Path("config.yml").exists():
        path = Path("config.yml")
    return load_config(path)


def flag(value: Any) -> bool:
    """A boolean setting: YAML's true/false, or the strings an environment
    variable gives (``true``, ``yes``, ``1``, ``on``; anything else is off)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
