"""Agencies on the real broker: each binds only its own referrals, because
RabbitMQ refuses the rest; a referral nobody binds waits and is replayed."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import amqp
import kombu
import pytest

from labornet_shared.agency_broker import (
    AgencyUser,
    UnknownAgency,
    agency_username,
    create_agency_user,
    delete_agency_user,
    list_unrouted,
    replay_unrouted,
)
from labornet_shared.broker import (
    REFERRALS_UNROUTED_QUEUE,
    Management,
)
from labornet_shared.events import (
    REFERRALS_EXCHANGE,
    make_event,
    referral_routing_key,
)
from labornet_shared.outbox import BatchRefused, ConfirmingPublisher
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import (
    MANAGEMENT_URL,
    publish_event,
    repo,
    run_labornet,
    take_all,
    wait_until,
)
from labornet_testkit.routing import case_received_event

SUBSCRIBER = repo() / "examples" / "agency_subscriber.py"
THREE_PROBLEMS = "ถูกเลิกจ้างไม่ได้ค่าชดเชย อยากขอเงินว่างงานและหางานใหม่"
PASSWORD = "agency-test-password-0123456789"


# --- factories -----------------------------------------------------------------


def referral_issued(
    agency: str = "sso",
    province: str = "TH-52",
    category: str = "social_security_benefit",
    reference: str = "LN-2569-00000042",
) -> tuple[str, dict[str, Any]]:
    """A ``referral_issued`` envelope as routing publishes it, and its key."""
    now = datetime.now(UTC)
    referral_id = str(uuid.uuid4())
    payload = {
        "referral": {
            "referral_id": referral_id,
            "agency": agency,
            "province_code": province,
            "office": f"{agency}.{province}",
            "categories": [category],
            "status": "pending",
            "due_accept_at": (now + timedelta(days=2)).isoformat(),
            "due_resolve_at": (now + timedelta(days=30)).isoformat(),
            "agent_id": "A-0042",
        },
        "reference": reference,
        "labels": [
            {"category": category, "score": 0.91, "evidence": ["ว่างงาน", "เงินทดแทน"]}
        ],
        "needs_review": False,
        "description": "ถูกเลิกจ้าง อยากขอเงินทดแทนกรณีว่างงานจากประกันสังคม",
        "location": {
            "province_code": province,
            "district_code": "5201",
            "subdistrict_code": "520105",
            "postcode": "52000",
            "lat": 18.2888,
            "long": 99.4908,
        },
        "abroad_country": None,
        "channel": "field_agent",
        "language": "th",
        "follow_up_agent": {"agent_id": "A-0042", "kind": "labour_volunteer"},
        "hop": 0,
        "escalated_from": None,
        "issued_at": now.isoformat(),
    }
    event = make_event("referral_issued", payload, correlation_id=reference)
    return referral_routing_key(agency, province, category), event.to_body()


def publish_referrals(amqp_uri: str, *referrals: tuple[str, dict[str, Any]]) -> None:
    """Publish as routing's outbox relay does: persistent, confirmed."""
    publisher = ConfirmingPublisher(amqp_uri)
    try:
        publisher.publish_batch(
            [
                {
                    "exchange": REFERRALS_EXCHANGE,
                    "routing_key": key,
                    "body": json.dumps(body, ensure_ascii=False),
                    "event_id": body["event_id"],
                    "event_type": body["event_type"],
                    "correlation_id": body["correlation_id"],
                }
                for key, body in referrals
            ]
        )
    finally:
        publisher.close()


def referral_id(body: dict[str, Any]) -> str:
    return str(body["payload"]["referral"]["referral_id"])


def bodies(messages: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(message.body) for message in messages]


# --- fixtures -------------------------------------------------------------------


@pytest.fixture
def management(broker: dict[str, Any]) -> Management:
    """The management API on this test's vhost, as the operator."""
    return Management.from_urls(MANAGEMENT_URL, broker["AMQP_URI"])


@pytest.fixture
def agency_user(
    broker: dict[str, Any], management: Management
) -> Iterator[Callable[[str], str]]:
    """Create an agency's user on this test's vhost; its AMQP URI.

    Its name carries the vhost (unique per test); deleted at teardown.
    """
    created: list[str] = []

    def make(code: str) -> str:
        user: AgencyUser = create_agency_user(management, code, PASSWORD)
        created.append(code)
        return user.amqp_uri(broker["AMQP_URI"], PASSWORD)

    yield make
    for code in created:
        delete_agency_user(management, code)


def channel_of(connection: kombu.Connection) -> Any:
    """A fresh channel: a refused operation closes the one it ran on."""
    return connection.channel()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port that refuses connections (bound, not listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# --- isolation by the broker ------------------------------------------------------


def test_agency_binds_its_own_keys_and_receives_its_referral_once(
    broker: dict[str, Any], agency_user: Callable[[str], str]
) -> None:
    sso = agency_user("sso")
    with kombu.Connection(sso) as connection:
        channel = channel_of(connection)
        channel.queue_declare(
            "agency.sso.x",
            durable=True,
            auto_delete=False,
            arguments={"x-queue-type": "quorum"},
        )
        # the whole Social Security Office, and its Lampang office
        channel.queue_bind("agency.sso.x", REFERRALS_EXCHANGE, "sso.#")
        channel.queue_bind("agency.sso.x", REFERRALS_EXCHANGE, "sso.TH-52.*")
        lampang = referral_issued("sso", "TH-52", "social_security_benefit")
        assert lampang[0] == "sso.TH-52.social_security_benefit"
        bangkok = referral_issued("sso", "TH-10", "work_injury")
        labour_protection = referral_issued("dlpw", "TH-52", "unpaid_wages")
        publish_referrals(broker["AMQP_URI"], lampang, bangkok, labour_protection)

        received = wait_until(lambda: take_all(sso, "agency.sso.x") or None)
        received += take_all(sso, "agency.sso.x")
    # two bindings match Lampang's key: one copy in the queue all the same
    assert sorted(referral_id(body) for body in bodies(received)) == sorted(
        [referral_id(lampang[1]), referral_id(bangkok[1])]
    )
    [message] = [m for m in received if json.loads(m.body) == lampang[1]]
    assert message.delivery_info["routing_key"] == "sso.TH-52.social_security_benefit"
    assert message.properties["delivery_mode"] == 2


@pytest.mark.parametrize("key", ["dlpw.#", "#", "*.TH-52.*", "*.#", "ssox.#"])
def test_agency_may_not_bind_keys_of_other_agencies(
    agency_user: Callable[[str], str], key: str
) -> None:
    sso = agency_user("sso")
    with kombu.Connection(sso) as connection:
        channel = channel_of(connection)
        channel.queue_declare("agency.sso.x", durable=True, auto_delete=False)
        with pytest.raises(amqp.exceptions.AccessRefused, match="ACCESS_REFUSED"):
            channel_of(connection).queue_bind("agency.sso.x", REFERRALS_EXCHANGE, key)
        # nor through an exchange of its own bound to labornet.referrals
        channel = channel_of(connection)
        channel.exchange_declare(
            "agency.sso.fan", "fanout", durable=True, auto_delete=False
        )
        with pytest.raises(amqp.exceptions.AccessRefused, match="ACCESS_REFUSED"):
            channel.exchange_bind("agency.sso.fan", REFERRALS_EXCHANGE, key)


@pytest.mark.parametrize(
    "queue",
    ["agency.dlpw.x", "intake.dlq", REFERRALS_UNROUTED_QUEUE, "agency.sso"],
)
def test_agency_may_declare_only_its_own_queues(
    agency_user: Callable[[str], str], queue: str
) -> None:
    sso = agency_user("sso")
    with (
        kombu.Connection(sso) as connection,
        pytest.raises(amqp.exceptions.AccessRefused, match="ACCESS_REFUSED"),
    ):
        channel_of(connection).queue_declare(queue, durable=True, auto_delete=False)


def test_agency_may_not_read_other_queues(
    broker: dict[str, Any], agency_user: Callable[[str], str]
) -> None:
    publish_referrals(broker["AMQP_URI"], referral_issued("dlpw", "TH-52"))
    sso = agency_user("sso")
    with kombu.Connection(sso) as connection:
        for queue in (REFERRALS_UNROUTED_QUEUE, "intake.dlq"):
            with pytest.raises(amqp.exceptions.AccessRefused, match="ACCESS_REFUSED"):
                channel_of(connection).basic_get(queue)
    assert len(list_unrouted(broker["AMQP_URI"])) == 1


@pytest.mark.parametrize("exchange", [REFERRALS_EXCHANGE, ""])
def test_agency_may_not_publish(
    broker: dict[str, Any], agency_user: Callable[[str], str], exchange: str
) -> None:
    sso = agency_user("sso")
    key, body = referral_issued("sso")
    with kombu.Connection(sso) as connection:
        channel = channel_of(connection)
        channel.confirm_select()
        with pytest.raises(amqp.exceptions.AccessRefused, match="ACCESS_REFUSED"):
            channel.basic_publish_confirm(
                amqp.Message(json.dumps(body)),
                exchange=exchange,
                routing_key=key if exchange else REFERRALS_UNROUTED_QUEUE,
            )
    assert list_unrouted(broker["AMQP_URI"]) == []


def test_operator_binds_one_province_across_agencies(broker: dict[str, Any]) -> None:
    amqp_uri = broker["AMQP_URI"]
    with kombu.Connection(amqp_uri) as connection:
        channel = channel_of(connection)
        channel.queue_declare("ops.lampang", durable=True, auto_delete=False)
        channel.queue_bind("ops.lampang", REFERRALS_EXCHANGE, "*.TH-52.*")
    lampang_sso = referral_issued("sso", "TH-52", "work_injury")
    lampang_dlpw = referral_issued("dlpw", "TH-52", "unpaid_wages")
    bangkok = referral_issued("sso", "TH-10", "work_injury")
    publish_referrals(amqp_uri, lampang_sso, lampang_dlpw, bangkok)
    received = bodies(wait_until(lambda: take_all(amqp_uri, "ops.lampang")))
    received += bodies(take_all(amqp_uri, "ops.lampang"))
    assert {referral_id(body) for body in received} == {
        referral_id(lampang_sso[1]),
        referral_id(lampang_dlpw[1]),
    }


def test_only_the_six_agencies_get_users(
    broker: dict[str, Any], management: Management
) -> None:
    with pytest.raises(UnknownAgency):
        create_agency_user(management, "police", PASSWORD)
    result = run_labornet("agency", "create", "police", amqp_uri=broker["AMQP_URI"])
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unknown agency 'police'" in result.stderr
    assert "Traceback" not in result.stderr
    assert management.user(f"agency-police@{management.vhost}") is None


def test_cli_creates_the_user_and_prints_only_its_password(
    broker: dict[str, Any], management: Management
) -> None:
    amqp_uri = broker["AMQP_URI"]
    username = agency_username("sso", management.vhost)
    try:
        result = run_labornet("agency", "create", "sso", amqp_uri=amqp_uri)
        assert result.returncode == 0, result.stderr
        [password] = result.stdout.splitlines()
        assert len(password) >= 32
        assert username in result.stderr
        assert password not in result.stderr
        user = AgencyUser("sso", username, management.vhost, replaced=False)
        assert user.amqp_uri(amqp_uri) in result.stderr  # the hint
        assert management.topic_permissions(username) == [
            {
                "user": username,
                "vhost": management.vhost,
                "exchange": REFERRALS_EXCHANGE,
                "write": "^$",
                "read": r"^sso\.",
            }
        ]
        # the password works, and the user is held to its own keys
        with kombu.Connection(user.amqp_uri(amqp_uri, password)) as connection:
            channel = channel_of(connection)
            channel.queue_declare("agency.sso.main", durable=True, auto_delete=False)
            channel.queue_bind("agency.sso.main", REFERRALS_EXCHANGE, "sso.#")
            with pytest.raises(amqp.exceptions.AccessRefused):
                channel_of(connection).queue_bind(
                    "agency.sso.main", REFERRALS_EXCHANGE, "dlpw.#"
                )

        # again, with a password of the operator's choosing: the user is reset
        chosen = "a-password-of-our-own-choosing"
        result = run_labornet(
            "agency",
            "create",
            "sso",
            "--password-stdin",
            amqp_uri=amqp_uri,
            stdin=chosen + "\n",
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        assert "reset" in result.stderr
        with kombu.Connection(user.amqp_uri(amqp_uri, chosen)) as connection:
            connection.ensure_connection(max_retries=1)
        with pytest.raises(amqp.exceptions.AccessRefused):
            kombu.Connection(user.amqp_uri(amqp_uri, password)).ensure_connection(
                max_retries=1
            )

        result = run_labornet("agency", "delete", "sso", amqp_uri=amqp_uri)
        assert result.returncode == 0, result.stderr
        assert management.user(username) is None
        # the agency's queue and what is in it stay for the operator
        assert management.queue("agency.sso.main")["name"] == "agency.sso.main"
    finally:
        management.delete_user(username)


def test_cli_refuses_a_short_password_on_stdin(
    broker: dict[str, Any], management: Management
) -> None:
    result = run_labornet(
        "agency",
        "create",
        "sso",
        "--password-stdin",
        amqp_uri=broker["AMQP_URI"],
        stdin="short\n",
    )
    assert result.returncode == 2
    assert "16 characters" in result.stderr
    assert management.user(agency_username("sso", management.vhost)) is None


# --- nothing on the floor: unrouted referrals and their replay ---------------------


def test_unbound_referral_waits_and_is_replayed_once_to_the_agency(
    broker: dict[str, Any], agency_user: Callable[[str], str]
) -> None:
    amqp_uri = broker["AMQP_URI"]
    key, body = referral_issued("sso", "TH-52", "social_security_benefit")
    publish_referrals(amqp_uri, (key, body))

    [waiting] = wait_until(lambda: list_unrouted(amqp_uri))
    assert waiting.routing_key == key
    assert waiting.referral_id == referral_id(body)
    assert waiting.reference == body["correlation_id"]
    assert waiting.event_type == "referral_issued"
    listed = run_labornet("referrals", "unrouted", "list", "--json", amqp_uri=amqp_uri)
    assert listed.returncode == 0, listed.stderr
    assert [entry["referral_id"] for entry in json.loads(listed.stdout)] == [
        referral_id(body)
    ]
    listed = run_labornet("referrals", "unrouted", "list", amqp_uri=amqp_uri)
    assert key in listed.stdout
    assert body["correlation_id"] in listed.stdout
    # listing took nothing away
    assert len(list_unrouted(amqp_uri)) == 1

    sso = agency_user("sso")
    with kombu.Connection(sso) as connection:
        channel = channel_of(connection)
        channel.queue_declare("agency.sso.main", durable=True, auto_delete=False)
        channel.queue_bind("agency.sso.main", REFERRALS_EXCHANGE, "sso.TH-52.*")

    result = replay_unrouted(amqp_uri)
    assert (result.republished, result.came_back, result.delivered) == (1, 0, 1)
    [delivered] = wait_until(lambda: take_all(sso, "agency.sso.main"))
    assert json.loads(delivered.body) == body
    assert delivered.delivery_info["routing_key"] == key
    assert delivered.properties["message_id"] == body["event_id"]
    assert delivered.properties["delivery_mode"] == 2
    assert take_all(sso, "agency.sso.main") == []
    assert list_unrouted(amqp_uri) == []


def test_replay_of_a_referral_still_unbound_keeps_it_aside(
    broker: dict[str, Any],
) -> None:
    amqp_uri = broker["AMQP_URI"]
    referral = referral_issued("tosh", "TH-52", "workplace_safety")
    publish_referrals(amqp_uri, referral)
    wait_until(lambda: list_unrouted(amqp_uri))

    result = run_labornet("referrals", "unrouted", "replay", amqp_uri=amqp_uri)
    assert result.returncode == 0, result.stderr
    assert "re-published 1" in result.stdout
    assert "0 delivered, 1 came back" in result.stdout
    # exactly one copy waits, as before
    [waiting] = list_unrouted(amqp_uri)
    assert waiting.referral_id == referral_id(referral[1])


def test_replay_of_one_referral_leaves_the_others_waiting(
    broker: dict[str, Any], queue_tap: Any
) -> None:
    amqp_uri = broker["AMQP_URI"]
    first = referral_issued("doe", "TH-50", "job_seeking", "LN-2569-00000001")
    second = referral_issued("doe", "TH-50", "job_seeking", "LN-2569-00000002")
    third = referral_issued("doe", "TH-50", "job_seeking", "LN-2569-00000003")
    publish_referrals(amqp_uri, first, second, third)
    wait_until(lambda: len(list_unrouted(amqp_uri)) == 3)
    tap = queue_tap(REFERRALS_EXCHANGE, "doe.#")

    result = run_labornet(
        "referrals",
        "unrouted",
        "replay",
        "--referral-id",
        referral_id(second[1]),
        amqp_uri=amqp_uri,
    )
    assert result.returncode == 0, result.stderr
    assert "re-published 1 message(s)" in result.stdout
    [replayed] = tap.drain(expected=1)
    assert replayed["event_id"] == second[1]["event_id"]
    # the others wait, in their order
    assert [w.reference for w in list_unrouted(amqp_uri)] == [
        "LN-2569-00000001",
        "LN-2569-00000003",
    ]


def test_unrouted_commands_without_the_topology_say_so(
    rabbit_config: dict[str, Any],
) -> None:
    # a vhost where setup-broker never ran
    result = run_labornet(
        "referrals", "unrouted", "list", amqp_uri=rabbit_config["AMQP_URI"]
    )
    assert result.returncode == 1
    assert "setup-broker" in result.stderr
    assert "Traceback" not in result.stderr


# --- the topology -------------------------------------------------------------------


def test_setup_broker_declares_the_referrals_exchange_idempotently(
    rabbit_config: dict[str, Any], management: Management
) -> None:
    amqp_uri = rabbit_config["AMQP_URI"]
    first = run_labornet("setup-broker", amqp_uri=amqp_uri)
    second = run_labornet("setup-broker", amqp_uri=amqp_uri)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    for line in (
        f"exchange {REFERRALS_EXCHANGE}",
        f"exchange {REFERRALS_EXCHANGE}.unrouted",
        f"queue {REFERRALS_UNROUTED_QUEUE}",
        "policy labornet-referrals-unrouted",
    ):
        assert line in first.stdout.splitlines()
    assert management.queue(REFERRALS_UNROUTED_QUEUE)["type"] == "quorum"
    # the relay's own declaration (topic, durable, no arguments) still matches
    with kombu.Connection(amqp_uri) as connection:
        channel_of(connection).exchange_declare(
            REFERRALS_EXCHANGE, "topic", durable=True, auto_delete=False
        )


def test_referrals_wait_in_the_outbox_until_setup_broker_ran(
    rabbit_config: dict[str, Any],
) -> None:
    """routing's relay never publishes a referral to an exchange without its
    alternate exchange: before setup-broker the publish is refused (the
    outbox keeps the row and retries, parking it after OUTBOX_MAX_FAILURES
    refusals), after it the referral is set aside."""
    amqp_uri = rabbit_config["AMQP_URI"]
    referral = referral_issued("sso", "TH-52")
    with pytest.raises(BatchRefused) as refused:
        publish_referrals(amqp_uri, referral)
    assert isinstance(refused.value.__cause__, amqp.exceptions.NotFound)

    assert run_labornet("setup-broker", amqp_uri=amqp_uri).returncode == 0
    publish_referrals(amqp_uri, referral)
    [waiting] = list_unrouted(amqp_uri)
    assert waiting.referral_id == referral_id(referral[1])


# --- the example subscriber -----------------------------------------------------------


def subscriber(*args: str, cwd: str | None = None) -> subprocess.Popen[str]:
    """``examples/agency_subscriber.py ARGS`` as an agency runs it (in a
    directory of its own, where it keeps the ids it handled)."""
    return subprocess.Popen(
        [sys.executable, str(SUBSCRIBER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env={"PYTHONIOENCODING": "utf-8", "PATH": "/usr/bin:/bin"},
        cwd=cwd or tempfile.mkdtemp(prefix="agency-"),
    )


def finish(process: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"subscriber did not finish: {out}\n{err}") from None


def ready(amqp_uri: str, queue: str) -> int:
    """Messages ready in ``queue`` now (no statistics lag)."""
    with kombu.Connection(amqp_uri) as connection:
        channel = channel_of(connection)
        return int(channel.queue_declare(queue, passive=True).message_count)


def bound(management: Management, queue: str, key: str) -> bool:
    try:
        bindings = management.queue_bindings(queue)
    except Exception:
        return False  # not declared yet
    return any(binding["routing_key"] == key for binding in bindings)


def test_example_subscriber_prints_a_referral(
    broker: dict[str, Any],
    management: Management,
    agency_user: Callable[[str], str],
) -> None:
    sso = agency_user("sso")
    process = subscriber(
        "--amqp-uri", sso, "--agency", "sso", "--bind", "sso.#", "--max-messages", "1"
    )
    wait_until(lambda: bound(management, "agency.sso.main", "sso.#"), timeout=20)
    key, body = referral_issued("sso", "TH-52", "social_security_benefit")
    publish_referrals(broker["AMQP_URI"], (key, body))
    out, err = finish(process)
    assert process.returncode == 0, err
    assert referral_id(body) in out
    assert "LN-2569-00000042" in out
    assert "sso.TH-52" in out
    assert "social_security_benefit  0.91  (ว่างงาน, เงินทดแทน)" in out
    assert "ถูกเลิกจ้าง" in out
    assert "TH-52 / 5201 / 520105" in out
    # the follow-up agent by id, and where the office reads the contact
    assert "field agent: A-0042 (labour_volunteer)" in out
    assert "GET http://localhost:8003/v1/agents/A-0042/contact" in out
    assert "accept by:" in out
    # handled, then acked: nothing left in the queue
    assert take_all(sso, "agency.sso.main") == []


def test_example_subscriber_handles_a_repeated_event_once(
    broker: dict[str, Any],
    management: Management,
    agency_user: Callable[[str], str],
    tmp_path: Any,
) -> None:
    sso = agency_user("sso")
    seen_db = str(tmp_path / "sso.seen.sqlite3")
    args = ["--amqp-uri", sso, "--agency", "sso", "--bind", "sso.#"]
    args += ["--seen-db", seen_db]
    process = subscriber(*args, "--max-messages", "3")
    wait_until(lambda: bound(management, "agency.sso.main", "sso.#"), timeout=20)
    first = referral_issued("sso", "TH-52", "social_security_benefit")
    second = referral_issued("sso", "TH-52", "work_injury", "LN-2569-00000043")
    # the relay published the first twice (it crashed before marking it sent)
    publish_referrals(broker["AMQP_URI"], first, first, second)
    out, err = finish(process)
    assert process.returncode == 0, err
    assert out.count(f"── referral {referral_id(first[1])}") == 1
    assert out.count(f"── referral {referral_id(second[1])}") == 1
    assert out.count("handled already, skipped") == 1
    assert take_all(sso, "agency.sso.main") == []
    # a redelivery after a restart: the ids were kept in the file
    process = subscriber(*args, "--max-messages", "1")
    wait_until(lambda: bound(management, "agency.sso.main", "sso.#"), timeout=20)
    publish_referrals(broker["AMQP_URI"], second)
    out, err = finish(process)
    assert process.returncode == 0, err
    assert f"event {second[1]['event_id']} again: handled already, skipped" in out
    assert "── referral" not in out


def test_example_subscriber_is_refused_other_agencies_keys(
    agency_user: Callable[[str], str],
) -> None:
    sso = agency_user("sso")
    process = subscriber(
        "--amqp-uri", sso, "--agency", "sso", "--bind", "dlpw.#", "--max-messages", "1"
    )
    _, err = finish(process)
    assert process.returncode == 1
    assert "ACCESS_REFUSED" in err
    assert "dlpw.#" in err


def test_example_subscriber_accepts_through_routings_api(
    broker: dict[str, Any],
    routing_api: Any,
    routing_config: dict[str, Any],
    agency_user: Callable[[str], str],
    closed_port: int,
) -> None:
    sso = agency_user("sso")
    token = issue_token(routing_config["TOKEN_SECRET"], "agency", agency="sso")
    headers = {"Authorization": f"Bearer {token}"}
    # the office's queue exists before the cases come in (declared as the
    # subscriber declares it)
    with kombu.Connection(sso) as connection:
        channel = channel_of(connection)
        channel.queue_declare(
            "agency.sso.main",
            durable=True,
            auto_delete=False,
            arguments={"x-queue-type": "quorum"},
        )
        channel.queue_bind("agency.sso.main", REFERRALS_EXCHANGE, "sso.TH-52.*")
    first = case_received_event(description=THREE_PROBLEMS)
    second = case_received_event(description=THREE_PROBLEMS)
    for case in (first, second):
        publish_event(broker["AMQP_URI"], case)

    def sso_referral(case: Any) -> dict[str, Any] | None:
        listed = routing_api.get("/v1/referrals", headers=headers).json()
        for referral in listed["referrals"]:
            if referral["reference"] == case.payload["reference"]:
                return dict(referral)
        return None

    wait_until(lambda: sso_referral(first), timeout=20)
    second_referral = wait_until(lambda: sso_referral(second), timeout=20)
    # someone at the office took the second one by hand already
    taken = routing_api.post(
        f"/v1/referrals/{second_referral['id']}/accept", headers=headers
    )
    assert taken.status_code == 200, taken.text

    # two referrals, and the copy of the second one's acceptance
    wait_until(lambda: ready(sso, "agency.sso.main") == 3, timeout=20)
    args = ["--amqp-uri", sso, "--agency", "sso", "--bind", "sso.TH-52.*"]
    args += ["--token", token, "--accept"]
    process = subscriber(*args, "--api", routing_api.base_url, "--max-messages", "3")
    out, err = finish(process)
    assert process.returncode == 0, err
    assert out.count("   → accepted") == 1
    assert out.count("   → already handled") == 1
    assert f"case {second.payload['reference']}: pending → accepted" in out
    assert sso_referral(first)["status"] == "accepted"  # type: ignore[index]

    # the API cannot be reached: the subscriber stops, the referral stays queued
    wait_until(lambda: ready(sso, "agency.sso.main") == 1)  # 1st's acceptance
    take_all(sso, "agency.sso.main")
    third = case_received_event(description=THREE_PROBLEMS)
    publish_event(broker["AMQP_URI"], third)
    nowhere = f"http://127.0.0.1:{closed_port}"
    process = subscriber(*args, "--api", nowhere)
    _, err = finish(process)
    assert process.returncode == 1
    assert "not reachable" in err
    [kept] = take_all(sso, "agency.sso.main")
    assert json.loads(kept.body)["correlation_id"] == third.payload["reference"]


def test_example_subscriber_stops_cleanly_on_ctrl_c(
    management: Management, agency_user: Callable[[str], str]
) -> None:
    sso = agency_user("sso")
    process = subscriber("--amqp-uri", sso, "--agency", "sso", "--bind", "sso.#")
    wait_until(lambda: bound(management, "agency.sso.main", "sso.#"), timeout=20)
    process.send_signal(signal.SIGINT)
    _, err = finish(process)
    assert process.returncode == 0
    assert "stopped" in err
    assert "Traceback" not in err
