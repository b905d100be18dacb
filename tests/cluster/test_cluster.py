"""A three-node RabbitMQ cluster loses nothing when a node stops mid-stream.

``deploy/rabbitmq-cluster/cluster.sh`` starts three local nodes and clusters
them; the fault suite (``tests/faults/fault_suite``) runs the four services
with ``LABORNET_AMQP_URI`` naming all three nodes, streams cases, and stops
node ``a`` — the one every service connected to first and where the quorum
queues' leaders were elected — for 30 s mid-stream. Then it reconciles:
every accepted case routed and notified once, nothing left over.

It takes minutes and starts three Erlang VMs, so ``make test`` skips it and
``make test-cluster`` runs it (``CLUSTER_ARGS`` go to the suite). The
cluster is stopped and its data removed at the end, whatever happened.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("LABORNET_CLUSTER_SUITE") != "1",
        reason="minutes long: `make test-cluster` runs it",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "rabbitmq-cluster" / "cluster.sh"
RUN = ROOT / "tests" / "faults" / "fault_suite" / "run.py"
CASES, RATE = 300, 5.0
#: the suite's own cap is --max-seconds; this one is a backstop
SUITE_TIMEOUT = 1500


def cluster(env: dict[str, str], *args: str) -> str:
    """``cluster.sh ARGS``; its stdout."""
    done = subprocess.run(
        [str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"cluster.sh {' '.join(args)}:\n{done.stderr}"
    return done.stdout.strip()


def test_a_node_stopping_mid_stream_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    env = dict(os.environ, LABORNET_CLUSTER_DIR=str(tmp_path / "rabbitmq"))
    table = tmp_path / "table.txt"
    try:
        cluster(env, "start")
        uris = cluster(env, "uris")
        assert len(uris.split(";")) == 3
        command = [
            sys.executable,
            str(RUN),
            "--cases",
            str(CASES),
            "--rate",
            str(RATE),
            "--min-duration",
            str(CASES / RATE),
            "--schedule",
            "cluster",
            "--amqp-uri",
            uris,
            "--management-url",
            cluster(env, "management-urls"),
            "--max-seconds",
            str(SUITE_TIMEOUT - 60),
            "--table",
            str(table),
            *shlex.split(os.environ.get("LABORNET_CLUSTER_ARGS", "")),
        ]
        # the suite's progress on the terminal as it comes, and kept to check
        lines: list[str] = []
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, text=True, bufsize=1
        ) as suite:
            assert suite.stdout is not None
            for line in suite.stdout:
                sys.stdout.write(line)
                lines.append(line)
            returncode = suite.wait(SUITE_TIMEOUT)
    finally:
        cluster(env, "stop")
    output = "".join(lines)
    assert "node a stopped" in output, "the node never stopped"
    # while a was down every client had moved to b or c, and every quorum
    # queue had a leader there: what failing over means
    down = re.search(r"while it is down: connections by node (\{.*?\})", output)
    assert down, "no reading of the cluster while the node was down"
    assert "labornet-a" not in down.group(0)
    assert re.search(r"'labornet-[bc]': \d+", down.group(1)), down.group(0)
    assert "node a running again" in output
    assert table.exists(), f"the suite ended ({returncode}) before its table"
    verdict = table.read_text().splitlines()[-1]
    assert verdict == "PASS: 0 lost, 0 doubled, 0 other", table.read_text()
    assert returncode == 0, "the platform did not come to rest"
