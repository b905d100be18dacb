"""No service runs with the public development secrets of config.yml.

issue 13: with config.yml's defaults anyone could sign an operator token
(LABORNET_TOKEN_SECRET) and compute every case's tracking code
(LABORNET_TRACKING_CODE_PEPPER). A service started with one of them stops at
once, exit status 2, with one line saying what to set — unless
LABORNET_ALLOW_DEVELOPMENT_SECRETS is true, as the test suite sets it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labornet_testkit.harness import free_port, repo_root

NAMEKO = str(Path(sys.executable).parent / "nameko")
SERVICES = ("intake", "routing", "registry", "notify")


def start(
    service: str, tmp_path: Path, *prefix: str, **settings: str
) -> subprocess.Popen[str]:
    """``nameko run`` of a service as an operator would start it, with only
    the LABORNET_* settings given (behind ``prefix``, the images' entry
    point, when given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABORNET_")}
    env.update(
        LABORNET_ROOT=str(repo_root()),
        PYTHONWARNINGS="ignore",
        **{f"LABORNET_{service.upper()}_DB": f"sqlite:///{tmp_path / 'db.sqlite'}"},
        **{f"LABORNET_{service.upper()}_PORT": str(free_port())},
        **settings,
    )
    config = str(repo_root() / "services" / service / "config.yml")
    return subprocess.Popen(
        [*prefix, NAMEKO, "run", "--config", config, f"labornet_{service}.service"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def refusal(process: subprocess.Popen[str]) -> str:
    """The one line a refusing service printed; it must have exited 2."""
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("the service started with a public secret")
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr, stderr
    [line] = [line for line in stderr.splitlines() if "error" in line]
    return line


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_refuses_the_public_token_secret(
    service: str, tmp_path: Path
) -> None:
    # intake also checks its pepper, in an order of its dependencies' own:
    # a private pepper leaves the token secret as the one public value
    own_pepper = {"LABORNET_TRACKING_CODE_PEPPER": "a-pepper-of-our-own"}
    line = refusal(
        start(service, tmp_path, **(own_pepper if service == "intake" else {}))
    )
    assert line.startswith("labornet: error: LABORNET_TOKEN_SECRET is a public")


def test_intake_refuses_the_public_tracking_code_pepper(tmp_path: Path) -> None:
    process = start("intake", tmp_path, LABORNET_TOKEN_SECRET="a-secret-of-our-own")
    line = refusal(process)
    assert "LABORNET_TRACKING_CODE_PEPPER is a public" in line


def test_the_public_secrets_are_refused_even_when_set_explicitly(
    tmp_path: Path,
) -> None:
    process = start(
        "intake",
        tmp_path,
        LABORNET_TOKEN_SECRET="labornet-development-secret-do-not-use",
        LABORNET_TRACKING_CODE_PEPPER="a-pepper-of-our-own",
        LABORNET_ALLOW_DEVELOPMENT_SECRETS="false",
    )
    assert "LABORNET_TOKEN_SECRET is a public" in refusal(process)


def test_secrets_from_files_reach_the_service_behind_the_entry_point(
    tmp_path: Path,
) -> None:
    """The images run ``python -m labornet_shared.secret_files nameko run``:
    the files' contents are what the service checks (the public value in a
    file, with the newline an editor leaves, is still refused)."""
    token = tmp_path / "token_secret"
    token.write_text("labornet-development-secret-do-not-use\n", encoding="utf-8")
    pepper = tmp_path / "tracking_code_pepper"
    pepper.write_text("a-pepper-of-our-own\n", encoding="utf-8")
    process = start(
        "intake",
        tmp_path,
        sys.executable,
        "-m",
        "labornet_shared.secret_files",
        LABORNET_TOKEN_SECRET_FILE=str(token),
        LABORNET_TRACKING_CODE_PEPPER_FILE=str(pepper),
    )
    assert refusal(process).startswith(
        "labornet: error: LABORNET_TOKEN_SECRET is a public"
    )
