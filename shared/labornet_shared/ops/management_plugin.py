"""RabbitMQ's management plugin, which ``setup-broker`` (and so ``make run``)
needs to declare its policies.

A fresh RabbitMQ often runs without it. ``make run`` enables it when the
broker is on this machine and we may (``rabbitmq-plugins`` installed, run as
root or as the rabbitmq user), then waits for its port; otherwise it says in
one line how to.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from urllib.parse import unquote, urlparse

import requests

PLUGIN = "rabbitmq_management"
ENABLE = f"rabbitmq-plugins enable {PLUGIN}"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# the plugin's listener starts a few seconds after `enable` returns
WAIT_SECONDS = 30.0


def public_url(management_url: str) -> str:
    """The management URL without its user and password, to print."""
    parsed = urlparse(management_url)
    netloc = parsed.hostname or "localhost"
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parsed.port:
        netloc += f":{parsed.port}"
    return f"{parsed.scheme}://{netloc}{parsed.path or '/'}"


def answering(management_url: str, timeout: float = 3.0) -> int | None:
    """The HTTP status of the management API's overview, None when nothing
    answers there."""
    parsed = urlparse(management_url)
    try:
        response = requests.get(
            f"{public_url(management_url).rstrip('/')}/api/overview",
            auth=(
                unquote(parsed.username or "guest"),
                unquote(parsed.password or "guest"),
            ),
            timeout=timeout,
        )
    except requests.RequestException:
        return None
    return response.status_code


def ensure(
    management_url: str,
    say: Callable[[str], None],
    *,
    wait_seconds: float = WAIT_SECONDS,
) -> bool:
    """Whether the management API answers, enabling the plugin first when
    it may; on False it has said (one line) what to do."""
    url = public_url(management_url)
    status = answering(management_url)
    if status is not None:
        return _admitted(status, management_url, url, say)
    plugins = _plugins_tool(management_url, url, say)
    if plugins is None:
        return False
    if _enabled(plugins):
        say(
            f"RabbitMQ's management plugin is enabled but does not answer at "
            f"{url} — set LABORNET_RABBIT_MANAGEMENT_URL to where it listens"
        )
        return False
    if not _run_enable(plugins, say):
        return False
    return _wait_answering(management_url, url, say, wait_seconds)


def _admitted(
    status: int, management_url: str, url: str, say: Callable[[str], None]
) -> bool:
    """Whether the answering management API admits our user (saying so if not)."""
    if status == 401:
        user = unquote(urlparse(management_url).username or "guest")
        say(
            f"RabbitMQ's management API at {url} refused user {user!r} — "
            "set LABORNET_RABBIT_MANAGEMENT_URL with a user tagged "
            "administrator"
        )
        return False
    return True


def _plugins_tool(
    management_url: str, url: str, say: Callable[[str], None]
) -> str | None:
    """``rabbitmq-plugins``'s path when we may enable the plugin here, else
    None (having said how to)."""
    plugins = shutil.which("rabbitmq-plugins")
    local = urlparse(management_url).hostname in LOCAL_HOSTS
    if plugins is None or not local or not _may_manage_rabbitmq():
        say(
            f"RabbitMQ's management API does not answer at {url} — enable it "
            f"with `sudo {ENABLE}` on the broker's machine, or set "
            "LABORNET_RABBIT_MANAGEMENT_URL to where it listens"
        )
        return None
    return plugins


def _run_enable(plugins: str, say: Callable[[str], None]) -> bool:
    """Run ``rabbitmq-plugins enable``; False when it failed (having said so)."""
    say(f"enabling RabbitMQ's management plugin: {ENABLE}")
    try:
        done = subprocess.run(  # noqa: S603 - RabbitMQ's own tool
            [plugins, "enable", PLUGIN],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        say(f"`{ENABLE}` failed ({exc}) — run it yourself, then `make run` again")
        return False
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        say(f"`{ENABLE}` failed: {last[0]} — run it yourself, then `make run`")
        return False
    return True


def _wait_answering(
    management_url: str, url: str, say: Callable[[str], None], wait_seconds: float
) -> bool:
    """Wait up to ``wait_seconds`` for the just enabled plugin to answer."""
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if answering(management_url, timeout=1.0) is not None:
            say(f"RabbitMQ's management plugin enabled: {url}")
            return True
        time.sleep(0.5)
    say(
        f"enabled RabbitMQ's management plugin, but nothing answers at {url} "
        f"after {wait_seconds:g} s — check `rabbitmq-diagnostics listeners`"
    )
    return False


def _may_manage_rabbitmq() -> bool:
    """Root or the rabbitmq user: who may run rabbitmq-plugins (it needs the
    broker's Erlang cookie)."""
    if os.geteuid() == 0:
        return True
    try:
        return getpass.getuser() == "rabbitmq"
    except (KeyError, OSError):
        return False


def _enabled(plugins: str) -> bool:
    """Whether rabbitmq-plugins lists the plugin as enabled; False when it
    cannot tell (then enabling is tried, which is harmless)."""
    try:
        listed = subprocess.run(  # noqa: S603 - RabbitMQ's own tool
            [plugins, "list", "--enabled", "--minimal"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return PLUGIN in listed.split()
