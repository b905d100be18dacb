"""The ``labornet`` command as operators run it: a real process, real broker."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kombu
import pytest

from labornet_shared.config import DEVELOPMENT_TOKEN_SECRET
from labornet_shared.tokens import InvalidToken, verify_token
from labornet_testkit.harness import (
    run_labornet,
    take_all,
    withdrawn_event_body,
)

LABORNET = str(Path(sys.executable).with_name("labornet"))
ROOT = Path(__file__).resolve().parents[2]
SECRET = "cli-test-secret-0123456789abcdef0123456789"
HANDLER_QUEUE = "evt-intake-case_received--routing.on_case_received"


def labornet(
    *args: str, amqp_uri: str | None = None, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return run_labornet(*args, amqp_uri=amqp_uri, stdin=stdin, **env)


# --- tokens --------------------------------------------------------------------


def test_operator_token_is_the_only_output() -> None:
    result = labornet(
        "token", "create", "--scope", "operator", LABORNET_TOKEN_SECRET=SECRET
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert verify_token(SECRET, lines[0]).scope == "operator"


def test_without_a_secret_the_checkouts_own_is_made_once_and_used(
    tmp_path: Path,
) -> None:
    """No LABORNET_TOKEN_SECRET: the token is signed with this checkout's
    random secret (the one `make run` gives the services), never with the
    public development one."""
    secrets_file = tmp_path / "var" / "secrets.env"
    tokens = []
    for _ in range(2):
        result = labornet(
            "token",
            "create",
            "--scope",
            "operator",
            LABORNET_SECRETS_FILE=str(secrets_file),
        )
        assert result.returncode == 0, result.stderr
        tokens += result.stdout.splitlines()
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    values = dict(
        line.split("=", 1)
        for line in secrets_file.read_text().splitlines()
        if not line.startswith("#")
    )
    secret = values["LABORNET_TOKEN_SECRET"]
    assert len(secret) >= 40 and secret != DEVELOPMENT_TOKEN_SECRET
    assert values["LABORNET_TRACKING_CODE_PEPPER"] not in (secret, "")
    for token in tokens:  # the second run kept the first run's secret
        assert verify_token(secret, token).is_operator
    with pytest.raises(InvalidToken):
        verify_token(DEVELOPMENT_TOKEN_SECRET, tokens[0])


def test_the_public_development_secret_is_refused() -> None:
    result = labornet(
        "token",
        "create",
        "--scope",
        "operator",
        LABORNET_TOKEN_SECRET=DEVELOPMENT_TOKEN_SECRET,
        LABORNET_ALLOW_DEVELOPMENT_SECRETS="false",
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "LABORNET_TOKEN_SECRET is a public development value" in result.stderr


def test_agent_token_needs_its_agent_id() -> None:
    result = labornet(
        "token", "create", "--scope", "agent", LABORNET_TOKEN_SECRET=SECRET
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--agent-id" in result.stderr
    assert "Traceback" not in result.stderr

    result = labornet(
        "token",
        "create",
        "--scope",
        "agent",
        "--agent-id",
        "A-0042",
        LABORNET_TOKEN_SECRET=SECRET,
    )
    assert result.returncode == 0
    assert verify_token(SECRET, result.stdout.strip()).agent_id == "A-0042"


def test_agency_token_carries_agency_and_province() -> None:
    result = labornet(
        "token",
        "create",
        "--scope",
        "agency",
        "--agency",
        "sso",
        "--province",
        "TH-52",
        LABORNET_TOKEN_SECRET=SECRET,
    )
    assert result.returncode == 0, result.stderr
    [token] = result.stdout.splitlines()
    principal = verify_token(SECRET, token)
    assert (principal.scope, principal.agency, principal.province) == (
        "agency",
        "sso",
        "TH-52",
    )


def test_unknown_agency_is_refused() -> None:
    result = labornet(
        "token", "create", "--scope", "agency", "--agency", "cia",
        LABORNET_TOKEN_SECRET=SECRET,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--agency" in result.stderr


# --- broker --------------------------------------------------------------------


def test_setup_broker_declares_and_says_what(rabbit_config: dict[str, Any]) -> None:
    amqp_uri = rabbit_config["AMQP_URI"]
    result = labornet("setup-broker", amqp_uri=amqp_uri)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "exchange intake.events" in lines
    assert "queue intake.dlq" in lines
    assert "queue labornet.unrouted" in lines
    assert "policy labornet-routing-handlers" in lines
    assert "policy labornet-unrouted-bound" in lines
    # every consumer's queue, bound, before any service ran
    assert f"queue {HANDLER_QUEUE} <- intake.events case_received" in lines
    # the retry levels of config.yml's EVENT_RETRY_DELAYS_MS, or the operator's
    assert "queue routing.retry.1s" in lines
    assert "queue routing.retry.1m" in lines
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        channel.exchange_declare("intake.events", "topic", passive=True)
        channel.queue_declare("routing.dlq", passive=True)
        channel.queue_declare(HANDLER_QUEUE, passive=True)
        channel.close()
    tuned = labornet(
        "setup-broker", amqp_uri=amqp_uri, LABORNET_EVENT_RETRY_DELAYS_MS="250,2000"
    )
    assert tuned.returncode == 0, tuned.stderr
    assert "queue notify.retry.250ms" in tuned.stdout.splitlines()
    # and once more: nothing changes, nothing fails
    again = labornet("setup-broker", amqp_uri=amqp_uri)
    assert again.returncode == 0
    assert again.stdout == result.stdout


def park(amqp_uri: str, reference: str) -> dict[str, Any]:
    """A message in routing.dlq, as the consumer parks one."""
    body = withdrawn_event_body(reference)
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        # the handler's queue, as the running service declares it
        channel.queue_declare(
            HANDLER_QUEUE,
            durable=True,
            auto_delete=False,
            arguments={"x-queue-type": "quorum"},
        )
        kombu.Producer(channel).publish(
            body,
            exchange="",
            routing_key="routing.dlq",
            serializer="json",
            delivery_mode=2,
            headers={
                "nameko.correlation_id": reference,
                "x-labornet-attempt": 6,
                "x-labornet-error": "RuntimeError: routing rules are not loaded",
                "x-labornet-error-type": "RuntimeError",
                "x-labornet-queue": HANDLER_QUEUE,
                "x-labornet-consumer": "routing.on_case_received",
                "x-labornet-source-exchange": "intake.events",
                "x-labornet-routing-key": "case_withdrawn",
                "x-labornet-failed-at": datetime.now(UTC).isoformat(),
            },
        )
        channel.close()
    return body


def test_dlq_list_replay_purge(broker: dict[str, Any]) -> None:
    amqp_uri = broker["AMQP_URI"]
    body = park(amqp_uri, "LN-2568-00000077")

    listed = labornet("dlq", "list", "routing", "--json", amqp_uri=amqp_uri)
    assert listed.returncode == 0, listed.stderr
    [letter] = json.loads(listed.stdout)
    assert letter["event_id"] == body["event_id"]
    assert letter["event_type"] == "case_withdrawn"
    assert letter["correlation_id"] == "LN-2568-00000077"
    assert letter["attempts"] == 6
    assert letter["queue"] == HANDLER_QUEUE
    assert letter["error"] == "RuntimeError: routing rules are not loaded"

    text = labornet("dlq", "list", "routing", amqp_uri=amqp_uri)
    assert text.returncode == 0
    assert body["event_id"] in text.stdout
    assert "RuntimeError: routing rules are not loaded" in text.stdout
    assert "attempts=6" in text.stdout

    replayed = labornet("dlq", "replay", "routing", amqp_uri=amqp_uri)
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1" in replayed.stdout
    [message] = take_all(amqp_uri, HANDLER_QUEUE)
    assert json.loads(message.body) == body
    assert message.headers["nameko.correlation_id"] == "LN-2568-00000077"
    assert not any(key.startswith("x-labornet") for key in message.headers)
    assert message.properties["delivery_mode"] == 2
    empty = labornet("dlq", "list", "routing", amqp_uri=amqp_uri)
    assert empty.stdout.strip() == "routing.dlq is empty"

    kept = park(amqp_uri, "LN-2568-00000078")
    declined = labornet("dlq", "purge", "routing", amqp_uri=amqp_uri, stdin="n\n")
    assert declined.returncode != 0
    [still] = json.loads(
        labornet("dlq", "list", "routing", "--json", amqp_uri=amqp_uri).stdout
    )
    assert still["event_id"] == kept["event_id"]

    purged = labornet("dlq", "purge", "routing", "--yes", amqp_uri=amqp_uri)
    assert purged.returncode == 0, purged.stderr
    assert "purged 1" in purged.stdout
    assert (
        json.loads(
            labornet("dlq", "list", "routing", "--json", amqp_uri=amqp_uri).stdout
        )
        == []
    )
    assert take_all(amqp_uri, HANDLER_QUEUE) == []


def test_dlq_replay_of_one_event(broker: dict[str, Any]) -> None:
    amqp_uri = broker["AMQP_URI"]
    first = park(amqp_uri, "LN-2568-00000001")
    second = park(amqp_uri, "LN-2568-00000002")
    result = labornet(
        "dlq", "replay", "routing", "--event-id", second["event_id"], amqp_uri=amqp_uri
    )
    assert "replayed 1" in result.stdout
    [message] = take_all(amqp_uri, HANDLER_QUEUE)
    assert json.loads(message.body)["event_id"] == second["event_id"]
    [left] = json.loads(
        labornet("dlq", "list", "routing", "--json", amqp_uri=amqp_uri).stdout
    )
    assert left["event_id"] == first["event_id"]


def test_unrouted_list_and_replay(broker: dict[str, Any]) -> None:
    amqp_uri = broker["AMQP_URI"]
    body = withdrawn_event_body("LN-2568-00000079")
    with kombu.Connection(amqp_uri) as connection:
        # nobody consumes notify's notification_failed
        kombu.Producer(connection.channel()).publish(
            body,
            exchange="notify.events",
            routing_key="notification_failed",
            serializer="json",
            delivery_mode=2,
        )
    listed = labornet("unrouted", "list", "--json", amqp_uri=amqp_uri)
    assert listed.returncode == 0, listed.stderr
    [event] = json.loads(listed.stdout)
    assert event["event_id"] == body["event_id"]
    assert (event["exchange"], event["routing_key"]) == (
        "notify.events",
        "notification_failed",
    )
    text = labornet("unrouted", "list", amqp_uri=amqp_uri)
    assert body["event_id"] in text.stdout

    replayed = labornet("unrouted", "replay", amqp_uri=amqp_uri)
    assert replayed.returncode == 0, replayed.stderr
    assert "re-published 1 event(s): 0 delivered, 1 came back" in replayed.stdout
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        channel.queue_declare("test-failed-notices", durable=True, auto_delete=False)
        channel.queue_bind(
            "test-failed-notices", "notify.events", "notification_failed"
        )
        channel.close()
    replayed = labornet("unrouted", "replay", amqp_uri=amqp_uri)
    assert "re-published 1 event(s): 1 delivered, 0 came back" in replayed.stdout
    [message] = take_all(amqp_uri, "test-failed-notices")
    assert json.loads(message.body) == body
    empty = labornet("unrouted", "list", amqp_uri=amqp_uri)
    assert empty.stdout.strip() == "labornet.unrouted is empty"


def test_dlq_commands_say_so_when_the_broker_is_down(closed_port: int) -> None:
    closed = f"amqp://guest:guest@127.0.0.1:{closed_port}/"
    result = labornet("dlq", "list", "routing", amqp_uri=closed)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "RabbitMQ is not reachable" in line


def test_run_without_rabbitmq_says_so_in_one_line(closed_port: int) -> None:
    closed = f"amqp://guest:guest@127.0.0.1:{closed_port}/"
    result = labornet("run", amqp_uri=closed)
    assert result.returncode == 1
    output = (result.stdout + result.stderr).strip().splitlines()
    assert len(output) == 1, output
    [line] = output
    assert "RabbitMQ is not reachable" in line
    assert "rabbitmq-server" in line  # how to start it
    assert "guest:guest" not in line  # no credentials
    assert "Traceback" not in result.stderr


def _lifetime(token: str) -> int:
    import jwt

    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="labornet")
    return int(claims["exp"] - claims["iat"])


def test_token_lifetime_defaults_to_the_scope_cap_and_ttl_stays_within_it() -> None:
    def create(*args: str) -> subprocess.CompletedProcess[str]:
        return labornet("token", "create", *args, LABORNET_TOKEN_SECRET=SECRET)

    operator = create("--scope", "operator")
    assert operator.returncode == 0, operator.stderr
    assert _lifetime(operator.stdout.strip()) == 12 * 3600
    agency = create("--scope", "agency", "--agency", "sso")
    assert _lifetime(agency.stdout.strip()) == 365 * 24 * 3600
    short = create("--scope", "agent", "--agent-id", "A-1", "--ttl", "90m")
    assert short.returncode == 0, short.stderr
    assert _lifetime(short.stdout.strip()) == 90 * 60
    too_long = create("--scope", "operator", "--ttl", "2d")
    assert too_long.returncode == 2
    assert too_long.stdout == ""
    assert "longer than the operator scope allows (12h" in too_long.stderr
    garbage = create("--scope", "operator", "--ttl", "soon")
    assert garbage.returncode == 2 and "--ttl soon" in garbage.stderr


# --- help ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        (),
        ("token", "create"),
        ("dlq", "list"),
        ("migrate",),
        ("routing", "evaluate"),
        ("registry", "import"),
    ],
    ids=lambda command: " ".join(command) or "labornet",
)
def test_help_shows_a_value_only_where_an_option_takes_one(
    command: tuple[str, ...],
) -> None:
    """A flag (--json, --help) shows no value; lists and ranges show the type
    of what is typed, not Python's <list[str]> or <int range>."""
    result = labornet(*command, "--help", COLUMNS="120")
    assert result.returncode == 0, result.stderr
    for python_type in ("<bool>", "<list[", " range>"):
        assert python_type not in result.stdout, result.stdout
    # nothing between a flag and its help
    assert re.search(r"--help +Show this message", result.stdout), result.stdout


def test_help_values_of_options_that_take_one() -> None:
    shown = labornet("dlq", "list", "--help", COLUMNS="120").stdout
    assert any("--limit" in line and "<int>" in line for line in shown.splitlines())
    shown = labornet("migrate", "--help", COLUMNS="120").stdout
    assert any("services..." in line and "<str>" in line for line in shown.splitlines())
    shown = labornet("registry", "import", "--help", COLUMNS="120").stdout
    assert any(
        "--chunk-rows" in line and "<int> [x>=1]" in line for line in shown.splitlines()
    )


def test_the_routing_group_has_its_commands() -> None:
    result = labornet("routing", "--help", COLUMNS="120")
    assert result.returncode == 0, result.stderr
    assert "evaluate" in result.stdout
    # the command itself: screening measured on the labelled cases
    run = labornet("routing", "evaluate", "--split", "heldout")
    assert run.returncode == 0, run.stderr
    assert "accuracy" in run.stdout.lower()
