"""Secrets from files: ``LABORNET_X_FILE`` names a file whose content is
``LABORNET_X`` (labornet_shared.secret_files), for every reader of the
services' config.yml and for ``nameko run`` behind the images' entry point.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labornet_shared.config import load_config
from labornet_shared.secret_files import (
    FILE_SETTINGS,
    SecretFileError,
    apply_secret_files,
    read_secret_files,
)

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "routing", "registry", "notify")


def secret(tmp_path: Path, content: str, name: str = "secret") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_the_files_content_is_the_value_less_one_trailing_newline(
    tmp_path: Path,
) -> None:
    environ = {
        "LABORNET_TOKEN_SECRET_FILE": str(secret(tmp_path, "s3cret\n", "a")),
        # only one newline goes: a value may itself end in whitespace
        "LABORNET_TRACKING_CODE_PEPPER_FILE": str(secret(tmp_path, "p \n\n", "b")),
        "LABORNET_METRICS_TOKEN_FILE": str(secret(tmp_path, "crlf\r\n", "c")),
        "LABORNET_AMQP_URI_FILE": str(secret(tmp_path, "amqp://u:p@h/", "d")),
    }
    assert read_secret_files(environ) == {
        "LABORNET_TOKEN_SECRET": "s3cret",
        "LABORNET_TRACKING_CODE_PEPPER": "p \n",
        "LABORNET_METRICS_TOKEN": "crlf",
        "LABORNET_AMQP_URI": "amqp://u:p@h/",
    }


def test_an_empty_file_is_an_empty_value(tmp_path: Path) -> None:
    # how a provider's credentials are left out: the channel is off
    environ = {"LABORNET_NOTIFY_SMTP_PASSWORD_FILE": str(secret(tmp_path, ""))}
    assert read_secret_files(environ) == {"LABORNET_NOTIFY_SMTP_PASSWORD": ""}


def test_setting_both_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    environ = {
        "LABORNET_TOKEN_SECRET": "from-the-environment",
        "LABORNET_TOKEN_SECRET_FILE": str(secret(tmp_path, "from-the-file")),
    }
    with pytest.raises(SecretFileError) as raised:
        read_secret_files(environ)
    message = str(raised.value)
    assert (
        "LABORNET_TOKEN_SECRET" in message and "LABORNET_TOKEN_SECRET_FILE" in message
    )
    assert "from-the-environment" not in message and "from-the-file" not in message
    assert raised.value.code == 2


def test_an_empty_variable_set_beside_the_file_is_still_both(tmp_path: Path) -> None:
    environ = {
        "LABORNET_INTAKE_DB": "",
        "LABORNET_INTAKE_DB_FILE": str(secret(tmp_path, "postgresql://x")),
    }
    with pytest.raises(SecretFileError, match="LABORNET_INTAKE_DB"):
        read_secret_files(environ)


def test_a_missing_file_names_the_variable_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "token_secret"
    with pytest.raises(SecretFileError) as raised:
        read_secret_files({"LABORNET_TOKEN_SECRET_FILE": str(missing)})
    message = str(raised.value)
    assert message.startswith("LABORNET_TOKEN_SECRET_FILE: cannot read ")
    assert str(missing) in message and "No such file" in message


def test_a_path_through_a_file_is_an_error_naming_it(tmp_path: Path) -> None:
    # what root, as CI and containers run, cannot read either
    path = secret(tmp_path, "the-password-itself") / "notify_db_url"
    with pytest.raises(SecretFileError) as raised:
        read_secret_files({"LABORNET_NOTIFY_DB_FILE": str(path)})
    message = str(raised.value)
    assert message == f"LABORNET_NOTIFY_DB_FILE: cannot read {path}: Not a directory"


def test_a_directory_or_binary_file_is_an_error_without_its_content(
    tmp_path: Path,
) -> None:
    with pytest.raises(SecretFileError, match="LABORNET_AMQP_URI_FILE: cannot read"):
        read_secret_files({"LABORNET_AMQP_URI_FILE": str(tmp_path)})
    binary = tmp_path / "binary"
    binary.write_bytes(b"pass\xff\xfeword")
    with pytest.raises(SecretFileError) as raised:
        read_secret_files({"LABORNET_AMQP_URI_FILE": str(binary)})
    assert "not UTF-8 text" in str(raised.value)
    assert "pass" not in str(raised.value).replace(str(binary), "")


def test_an_empty_file_setting_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SecretFileError, match="LABORNET_TOKEN_SECRET_FILE is empty"):
        read_secret_files({"LABORNET_TOKEN_SECRET_FILE": ""})


def test_other_file_variables_are_not_secrets(tmp_path: Path) -> None:
    # LABORNET_SECRETS_FILE is where `make run` keeps its secrets, not a value
    environ = {"LABORNET_SECRETS_FILE": str(secret(tmp_path, "x"))}
    assert read_secret_files(environ) == {}


def test_apply_puts_the_values_in_and_takes_the_file_names_out(
    tmp_path: Path,
) -> None:
    environ = {
        "LABORNET_TOKEN_SECRET_FILE": str(secret(tmp_path, "s3cret\n")),
        "LABORNET_LOG_LEVEL": "INFO",
    }
    apply_secret_files(environ)
    assert environ == {"LABORNET_TOKEN_SECRET": "s3cret", "LABORNET_LOG_LEVEL": "INFO"}
    # a child started with this environment, or a second call, sees it once
    apply_secret_files(environ)
    assert environ["LABORNET_TOKEN_SECRET"] == "s3cret"


def test_every_file_setting_is_a_setting_of_a_service() -> None:
    read = set()
    for service in SERVICES:
        text = (ROOT / "services" / service / "config.yml").read_text("utf-8")
        read |= set(re.findall(r"\$\{(LABORNET_[A-Z0-9_]+)", text))
    assert set(FILE_SETTINGS) <= read, sorted(set(FILE_SETTINGS) - read)


@pytest.mark.parametrize("service", SERVICES)
def test_a_services_config_reads_its_secrets_from_files(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"LABORNET_{service.upper()}_DB"
    for name in ("LABORNET_TOKEN_SECRET", "LABORNET_AMQP_URI", database):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(
        "LABORNET_TOKEN_SECRET_FILE", str(secret(tmp_path, "token-from-file\n", "t"))
    )
    monkeypatch.setenv(
        "LABORNET_AMQP_URI_FILE", str(secret(tmp_path, "amqp://u:pw@broker/\n", "a"))
    )
    url = "postgresql://labornet:pw@db:5432/x"
    monkeypatch.setenv(f"{database}_FILE", str(secret(tmp_path, url, "d")))
    config = load_config(ROOT / "services" / service / "config.yml")
    assert config["TOKEN_SECRET"] == "token-from-file"
    assert config["AMQP_URI"] == "amqp://u:pw@broker/"
    assert config["DATABASE_URL"] == url
    # reading a config leaves the environment as it was
    assert "LABORNET_TOKEN_SECRET" not in os.environ
    assert os.environ["LABORNET_TOKEN_SECRET_FILE"].endswith("/t")


def test_a_config_with_both_set_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABORNET_TOKEN_SECRET", "plain")
    monkeypatch.setenv("LABORNET_TOKEN_SECRET_FILE", str(secret(tmp_path, "file")))
    with pytest.raises(SecretFileError, match="LABORNET_TOKEN_SECRET"):
        load_config(ROOT / "services" / "routing" / "config.yml")


def _entry_point(
    tmp_path: Path, *command: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABORNET_")}
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "labornet_shared.secret_files", *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_entry_point_runs_its_command_with_the_values(tmp_path: Path) -> None:
    shown = _entry_point(
        tmp_path,
        sys.executable,
        "-c",
        "import os; print(os.environ['LABORNET_TOKEN_SECRET'],"
        " 'LABORNET_TOKEN_SECRET_FILE' in os.environ)",
        LABORNET_TOKEN_SECRET_FILE=str(secret(tmp_path, "from-the-file\n")),
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "from-the-file False\n"


def test_the_entry_point_refuses_an_unreadable_secret_in_one_line(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "token_secret"
    refused = _entry_point(tmp_path, "true", LABORNET_TOKEN_SECRET_FILE=str(missing))
    assert refused.returncode == 2
    assert refused.stderr == (
        f"labornet: error: LABORNET_TOKEN_SECRET_FILE: cannot read {missing}:"
        " No such file or directory\n"
    )
