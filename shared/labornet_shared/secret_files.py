"""Secrets read from files: ``LABORNET_X_FILE=/run/secrets/x`` instead of
``LABORNET_X=value``.

A value in an environment variable is seen by whoever may read the process's
environment (``docker inspect``, ``/proc/<pid>/environ``, a crash report
that dumps it); a file mounted by the container runtime (compose's and
Kubernetes' secrets, at ``/run/secrets/…``) is not. For each setting of
:data:`FILE_SETTINGS`, ``LABORNET_X_FILE`` names a file whose content is the
value (one trailing newline removed, as ``echo`` and editors leave one).

:func:`apply_secret_files` puts the values into the environment, where
nameko's ``${LABORNET_X:default}`` substitution and every other reader find
them, and removes the ``_FILE`` names, so a child process started with this
environment sees the value once. Run as a program it does that and then
executes its arguments: the container images' entry point
(``python -m labornet_shared.secret_files nameko run …``), since ``nameko
run`` reads its config before any of labornet's code runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping

#: The settings that may come from a file: everything that would let someone
#: sign tokens, compute tracking codes, read a database, publish to the
#: broker or send as the ministry. URLs are here because they carry their
#: password (``postgresql://user:password@…``).
FILE_SETTINGS = (
    "LABORNET_TOKEN_SECRET",
    "LABORNET_TRACKING_CODE_PEPPER",
    "LABORNET_AMQP_URI",
    "LABORNET_RABBIT_MANAGEMENT_URL",
    "LABORNET_INTAKE_DB",
    "LABORNET_ROUTING_DB",
    "LABORNET_REGISTRY_DB",
    "LABORNET_NOTIFY_DB",
    "LABORNET_RATE_LIMIT_STORAGE",
    "LABORNET_METRICS_TOKEN",
    "LABORNET_NOTIFY_SMS_API_KEY",
    "LABORNET_NOTIFY_SMS_API_SECRET",
    "LABORNET_NOTIFY_LINE_ACCESS_TOKEN",
    "LABORNET_NOTIFY_SMTP_PASSWORD",
)


class SecretFileError(SystemExit):
    """A ``_FILE`` setting that cannot be used: the variable set both ways,
    or its file unreadable. Says which variable and which path — never what
    the file holds. A SystemExit (status 2, one line on stderr), as
    :class:`labornet_shared.local_secrets.PublicSecret`: a service must not
    start, and a traceback would say nothing more."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def read_secret_files(environ: Mapping[str, str]) -> dict[str, str]:
    """The values that ``environ``'s ``LABORNET_X_FILE`` variables give, by
    setting name (``{"LABORNET_X": content}``); :class:`SecretFileError` if
    ``LABORNET_X`` is set as well, or a file cannot be read."""
    values = {}
    for name in FILE_SETTINGS:
        path = environ.get(f"{name}_FILE")
        if path is None:
            continue
        if environ.get(name) is not None:
            raise SecretFileError(
                f"both {name} and {name}_FILE are set: set one of them"
            )
        if not path:
            raise SecretFileError(f"{name}_FILE is empty: name the file to read")
        try:
            with open(path, encoding="utf-8") as handle:
                content = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            # the reason without the exception's own text: a decoding error's
            # text quotes the bytes it could not read
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise SecretFileError(
                f"{name}_FILE: cannot read {path}: {reason or type(exc).__name__}"
            ) from None
        values[name] = content.removesuffix("\n").removesuffix("\r")
    return values


def apply_secret_files(environ: MutableMapping[str, str] | None = None) -> None:
    """Resolve ``environ``'s (default: this process's) ``LABORNET_X_FILE``
    variables into ``LABORNET_X``, and remove them; idempotent."""
    target = os.environ if environ is None else environ
    values = read_secret_files(target)
    for name, value in values.items():
        target[name] = value
        del target[f"{name}_FILE"]


def main(argv: list[str] | None = None) -> None:
    """``python -m labornet_shared.secret_files COMMAND [ARG…]``: the
    secrets from their files into the environment, then COMMAND in this
    process's place (so it receives the container's stop signal itself)."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stderr.write(
            "usage: python -m labornet_shared.secret_files COMMAND [ARG...]\n"
        )
        raise SystemExit(2)
    try:
        apply_secret_files()
    except SecretFileError as exc:
        sys.stderr.write(f"labornet: error: {exc}\n")
        raise
    try:
        os.execvp(args[0], args)  # noqa: S606 - the container's own command
    except OSError as exc:
        sys.stderr.write(f"labornet: error: cannot run {args[0]}: {exc.strerror}\n")
        raise SystemExit(127) from None


if __name__ == "__main__":
    main()
