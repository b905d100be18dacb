"""The platform's secrets on one machine, and the public ones no service
may run with.

The defaults in each ``config.yml`` (``LABORNET_TOKEN_SECRET``,
``LABORNET_TRACKING_CODE_PEPPER``) are in the repository, so anyone could
sign an operator token or compute a case's tracking code with them. A
service refuses to start with one of them (:func:`private_setting`) unless
``ALLOW_DEVELOPMENT_SECRETS`` is on, as the test suite sets it. ``make run``
and ``labornet token create`` instead use random secrets made once per
checkout in ``var/secrets.env`` (mode 0600; ``LABORNET_SECRETS_FILE`` puts
it elsewhere), unless the environment sets them.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labornet_shared.config import (
    DEVELOPMENT_PEPPER,
    DEVELOPMENT_TOKEN_SECRET,
    flag,
    repo_root,
)

#: The settings ``var/secrets.env`` holds, by environment variable.
SECRET_VARIABLES = ("LABORNET_TOKEN_SECRET", "LABORNET_TRACKING_CODE_PEPPER")
#: Values anyone can read: config.yml's defaults, and nothing at all.
PUBLIC_SECRETS = frozenset({DEVELOPMENT_TOKEN_SECRET, DEVELOPMENT_PEPPER, ""})
ALLOW_SETTING = "ALLOW_DEVELOPMENT_SECRETS"


class PublicSecret(SystemExit):
    """A service was configured with a secret everyone knows: it stops at
    once, with one line on stderr and exit status 2 — a SystemExit, since
    nameko would print a traceback per extension for any other exception
    raised while the container starts, and exit 0."""

    def __init__(self, message: str) -> None:
        sys.stderr.write(f"labornet: error: {message}\n")
        sys.stderr.flush()
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def private_setting(config: Mapping[str, Any], key: str) -> str:
    """The secret ``config[key]``; :class:`PublicSecret` if it is a public
    one and the config does not allow it."""
    value = str(config.get(key) or "")
    if value in PUBLIC_SECRETS and not flag(config.get(ALLOW_SETTING)):
        raise PublicSecret(
            f"LABORNET_{key} is a public development value: set your own"
            " (`make run` makes one in var/secrets.env); only the test suite"
            " may run with it (LABORNET_ALLOW_DEVELOPMENT_SECRETS=true)"
        )
    return value


def secrets_file() -> Path:
    """Where this checkout keeps its secrets: ``var/secrets.env``."""
    configured = os.environ.get("LABORNET_SECRETS_FILE")
    return Path(configured) if configured else repo_root() / "var" / "secrets.env"


def _read(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() in SECRET_VARIABLES and value.strip():
            values[name.strip()] = value.strip()
    return values


def local_secrets() -> tuple[dict[str, str], bool]:
    """The secrets of ``var/secrets.env``, made (random, 256 bits each)
    the first time; and whether this call made or completed the file."""
    path = secrets_file()
    values = _read(path) if path.exists() else {}
    missing = [name for name in SECRET_VARIABLES if name not in values]
    if missing:
        values.update({name: secrets.token_urlsafe(32) for name in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        # created 0600 from the start: never readable by others, even briefly
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(
                "# labornet's secrets on this machine, made by `make run`;"
                " keep them here\n"
            )
            for name in SECRET_VARIABLES:
                handle.write(f"{name}={values[name]}\n")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return values, bool(missing)
