"""deploy/prometheus: the scrape config and alert rules an operator ships.

``promtool`` (Debian's ``prometheus`` package; ``.ci/run`` installs it) checks
the config — with its token file present, so the file checks run too — and
the rules, and runs the rules' unit tests (alerts_test.yml: alerts that fire
and that do not). Then what promtool cannot know: each job scrapes the port
its service listens on, and every labornet metric an alert names is one the
code exports.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from labornet_shared.config import repo_root

PROMETHEUS = repo_root() / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian package `prometheus`; .ci/run"
    " installs it)",
)
TOKEN_FILE = "/run/secrets/metrics_token"


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    """Run promtool; its output is the failure message."""
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


@needs_promtool
def test_promtool_accepts_the_config_with_its_files(tmp_path: Path) -> None:
    token = tmp_path / "metrics_token"
    token.write_text("scrape-secret\n")
    config = (PROMETHEUS / "prometheus.yml").read_text()
    assert TOKEN_FILE in config
    (tmp_path / "prometheus.yml").write_text(config.replace(TOKEN_FILE, str(token)))
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    result = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_rules_unit_tests_pass() -> None:
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def _default_port(service: str) -> int:
    text = (repo_root() / "services" / service / "config.yml").read_text()
    found = re.search(
        r"^WEB_SERVER_ADDRESS: .*:\$\{LABORNET_\w+_PORT:(\d+)\}", text, re.M
    )
    assert found, service
    return int(found.group(1))


def test_every_service_is_scraped_on_its_port_with_the_token() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for service in ("intake", "routing", "registry", "notify"):
        job = jobs[service]
        (sd,) = job["dns_sd_configs"]
        assert sd["names"] == [service]
        assert sd["port"] == _default_port(service)
        assert job["authorization"]["credentials_file"] == TOKEN_FILE
    assert config["rule_files"] == ["alerts.yml"]


def test_every_labornet_metric_an_alert_names_is_exported() -> None:
    rules = (PROMETHEUS / "alerts.yml").read_text()
    named = set(re.findall(r"\blabornet_[a-z_]+", rules))
    assert named, "the alerts name labornet metrics"
    sources = "\n".join(
        path.read_text()
        for root in ("shared/labornet_shared", "services")
        for path in (repo_root() / root).rglob("*.py")
        if "tests" not in path.parts
    )
    missing = {name for name in named if f'"{name}"' not in sources}
    assert not missing, f"alerts name metrics no code exports: {sorted(missing)}"
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(rules)["groups"]
        for rule in group["rules"]
    }
    assert {
        "LabornetServiceDown",
        "LabornetOutboxStale",
        "LabornetDeadLettersGrowing",
        "LabornetReferralsOverdue",
        "LabornetQueueWithoutConsumers",
    } <= alerts
