"""Announcements: the ministry's message to field agents by place, kind or
country abroad — exactly the agents named, each once, in their language;
and the API operators send and follow them with."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labornet_notify.domain import announcements, deliveries
from labornet_notify.models import AgentArea, Announcement, Delivery
from labornet_shared.events import make_event
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import publish_event, wait_until
from labornet_testkit.providers import FakeThaiBulkSms
from labornet_testkit.routing import agent_event

WINDOW = timedelta(hours=24)
PROBLEM = "application/problem+json"
SMS_KEY, SMS_SECRET = "sms-key", "sms-secret"


def area(province: str, district: str | None = None, sub: str | None = None) -> dict:
    return {
        "province_code": province,
        "district_code": district,
        "subdistrict_code": sub,
    }


def phone(n: int) -> dict[str, Any]:
    return {"phone": f"+668123400{n:02d}", "email": None, "line_user_id": None}


# Lampang (TH-52, north) district 5201; Chiang Mai (TH-50, north) 5001;
# Khon Kaen (TH-40, northeast); a volunteer abroad in Taiwan
AGENTS: dict[str, dict[str, Any]] = {
    "a-lampang-sub": {"areas": [area("TH-52", "5201", "520101")]},
    "a-lampang-prov": {"areas": [area("TH-52")], "kind": "labour_graduate"},
    "a-chiangmai": {"areas": [area("TH-50", "5001")]},
    "a-khonkaen": {"areas": [area("TH-40")], "kind": "labour_graduate"},
    "a-taiwan": {"areas": [], "abroad_country": "TW"},
    "a-gone": {"areas": [area("TH-52", "5201")]},
}


def project(session: Session) -> None:
    """Every agent of :data:`AGENTS` registered; ``a-gone`` deactivated."""
    for n, (agent_id, fields) in enumerate(sorted(AGENTS.items())):
        event = agent_event(agent_id=agent_id, contact=phone(n), **fields)
        deliveries.apply_agent(session, event)
    deliveries.apply_agent(
        session,
        make_event(
            "agent_deactivated",
            {
                "agent_id": "a-gone",
                "revision": 2,
                "kind": "labour_volunteer",
                "reason": None,
                "deactivated_at": "2026-12-01T00:00:00+00:00",
            },
        ),
    )
    session.flush()


def targeted(session: Session, **target: Any) -> set[str]:
    return set(session.scalars(announcements.targeted(target)))


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"provinces": ["TH-52"]}, {"a-lampang-sub", "a-lampang-prov"}),
        ({"districts": ["5201"]}, {"a-lampang-sub"}),
        ({"regions": ["north"]}, {"a-lampang-sub", "a-lampang-prov", "a-chiangmai"}),
        ({"kinds": ["labour_graduate"]}, {"a-lampang-prov", "a-khonkaen"}),
        (
            {"provinces": ["TH-52"], "kinds": ["labour_graduate"]},
            {"a-lampang-prov"},
        ),
        ({"abroad_countries": ["TW"]}, {"a-taiwan"}),
        (
            {"abroad_countries": ["TW"], "districts": ["5001"]},
            {"a-taiwan", "a-chiangmai"},
        ),
        (
            {"all": True},
            {
                "a-lampang-sub",
                "a-lampang-prov",
                "a-chiangmai",
                "a-khonkaen",
                "a-taiwan",
            },
        ),
    ],
)
def test_a_target_picks_exactly_its_active_agents(
    session: Session, target: dict[str, Any], expected: set[str]
) -> None:
    project(session)
    assert targeted(session, **target) == expected


def test_a_deactivated_agent_leaves_the_area_index(session: Session) -> None:
    project(session)
    assert not session.scalars(
        select(AgentArea).where(AgentArea.agent_id == "a-gone")
    ).all()
    # a moved agent is found in the new place only
    deliveries.apply_agent(
        session,
        agent_event(
            "agent_updated",
            revision=5,
            agent_id="a-chiangmai",
            areas=[area("TH-40")],
            contact=phone(1),
        ),
    )
    assert targeted(session, districts=["5001"]) == set()
    assert "a-chiangmai" in targeted(session, provinces=["TH-40"])


def _announce(session: Session, **data: Any) -> Announcement:
    data.setdefault("text_th", "ประชุมอาสาสมัครแรงงาน วันจันทร์ 9.00 น.")
    data.setdefault("target", {"all": True})
    created = announcements.create(
        session, data, created_by="ops", idempotency_key=None
    )
    session.flush()
    return created.announcement


def _plan_all(session: Session, announcement: Announcement, batch: int) -> None:
    while announcements.plan_batch(
        session, announcement.id, retry_window=WINDOW, batch=batch
    ):
        session.flush()


def _rows(session: Session, announcement: Announcement) -> list[Delivery]:
    return list(
        session.scalars(
            select(Delivery)
            .where(Delivery.event_id == announcement.id)
            .order_by(Delivery.recipient_id)
        )
    )


def test_planning_again_plans_no_second_delivery(session: Session) -> None:
    project(session)
    announcement = _announce(session)
    announcements.plan_batch(session, announcement.id, retry_window=WINDOW, batch=2)
    # a crash after writing the batch, before its place was kept
    announcement.planned_through = None
    _plan_all(session, announcement, batch=2)
    assert announcement.status == "planned"
    announcement.status = "planning"  # and planned once more from the start
    announcement.planned_through = None
    _plan_all(session, announcement, batch=10)
    rows = _rows(session, announcement)
    assert [r.recipient_id for r in rows] == sorted(AGENTS.keys() - {"a-gone"})
    assert session.scalar(select(func.count()).select_from(Delivery)) == len(rows)


def test_each_agent_reads_it_in_their_language_or_thai(session: Session) -> None:
    project(session)
    for n, (agent_id, languages) in enumerate(
        [("a-chiangmai", ["my", "th"]), ("a-khonkaen", ["en"])]
    ):
        deliveries.apply_agent(
            session,
            agent_event(
                "agent_updated",
                revision=3,
                agent_id=agent_id,
                languages=languages,
                contact=phone(20 + n),
            ),
        )
    announcement = _announce(session, text_my="မြန်မာ စာသား")
    _plan_all(session, announcement, batch=100)
    by_agent = {r.recipient_id: r for r in _rows(session, announcement)}
    assert by_agent["a-chiangmai"].language == "my"
    assert by_agent["a-chiangmai"].event["payload"]["text"] == "မြန်မာ စာသား"
    # no English text given: Thai
    assert by_agent["a-khonkaen"].language == "th"
    assert by_agent["a-khonkaen"].event["payload"]["text"].startswith("ประชุม")


def test_a_text_longer_than_three_sms_parts_is_refused(session: Session) -> None:
    with pytest.raises(announcements.AnnouncementInvalid) as refused:
        _announce(session, text_th="ก" * 200)
    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("text_th", "too_long_for_sms")
    ]
    assert _announce(session, text_th="ก" * 190).id


def test_an_announcement_must_name_someone(session: Session) -> None:
    with pytest.raises(announcements.AnnouncementInvalid) as refused:
        _announce(session, target={"provinces": []})
    assert [e.field for e in refused.value.errors] == ["target"]


# --- through the running service -----------------------------------------------


@pytest.fixture
def sms() -> Iterator[FakeThaiBulkSms]:
    with FakeThaiBulkSms(api_key=SMS_KEY, api_secret=SMS_SECRET) as fake:
        yield fake


@pytest.fixture
def notify(start_notify, sms) -> Iterator[Any]:
    api = start_notify(
        SMS_API_KEY=SMS_KEY,
        SMS_API_SECRET=SMS_SECRET,
        SMS_BASE_URL=sms.url,
        SMS_QUIET_HOURS="",
        DELIVERY_POLL_SECONDS=0.1,
    )
    with api:
        yield api


@pytest.fixture
def operator(notify_config) -> dict[str, str]:
    token = issue_token(notify_config["TOKEN_SECRET"], "operator", name="ops")
    return {"Authorization": f"Bearer {token}"}


BODY = {
    "text_th": "ประชุมอาสาสมัครแรงงาน วันจันทร์ 9.00 น.",
    "text_my": "တနင်္လာနေ့ နံနက် ၉ နာရီ အစည်းအဝေး",
    "target": {"provinces": ["TH-52"]},
}


def test_a_myanmar_reading_agent_gets_it_by_sms_in_myanmar(
    notify, notify_config, broker, sms, operator
) -> None:
    publish_event(
        broker["AMQP_URI"],
        agent_event(agent_id="a-my", languages=["my"], contact=phone(1)),
    )
    publish_event(
        broker["AMQP_URI"],
        agent_event(agent_id="a-th", contact=phone(2), areas=[area("TH-52")]),
    )
    publish_event(
        broker["AMQP_URI"],
        agent_event(agent_id="a-elsewhere", contact=phone(3), areas=[area("TH-10")]),
    )
    wait_until(lambda: _agents_known(notify_config) == 3, timeout=15)
    answer = notify.post("/v1/announcements", json=BODY, headers=operator)
    assert answer.status_code == 201, answer.text
    location = answer.headers["Location"]
    wait_until(lambda: len(sms.sent) >= 2, timeout=15)
    assert sms.messages_to(phone(1)["phone"]) == [f"labornet: {BODY['text_my']}"]
    assert sms.messages_to(phone(2)["phone"]) == [f"labornet: {BODY['text_th']}"]
    assert sms.messages_to(phone(3)["phone"]) == []

    def reach() -> dict[str, Any]:
        found = notify.get(location, headers=operator)
        assert found.status_code == 200, found.text
        return dict(found.json())

    wait_until(lambda: reach()["reach"] == {"sms": {"sent": 2}}, timeout=10)
    shown = reach()
    assert shown["status"] == "planned"
    assert shown["planned"] == 2
    assert shown["failed"] == []
    assert shown["target"]["provinces"] == ["TH-52"]


def _agents_known(config: dict[str, Any]) -> int:
    from sqlalchemy import create_engine, text

    from labornet_shared.db import normalise_url

    engine = create_engine(normalise_url(config["DATABASE_URL"]))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(text("SELECT count(*) FROM agent_contacts")).scalar() or 0
            )
    finally:
        engine.dispose()


def test_the_same_idempotency_key_gives_one_announcement(
    notify_api, notify_config
) -> None:
    token = issue_token(notify_config["TOKEN_SECRET"], "operator", name="ops")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "meeting-1"}
    first = notify_api.post("/v1/announcements", json=BODY, headers=headers)
    again = notify_api.post("/v1/announcements", json=BODY, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert first.json()["id"] == again.json()["id"]
    listed = notify_api.get("/v1/announcements", headers=headers).json()
    assert [a["id"] for a in listed["announcements"]] == [first.json()["id"]]


def test_only_an_operator_may_announce(notify_api, notify_config) -> None:
    secret = notify_config["TOKEN_SECRET"]
    agent = {
        "Authorization": "Bearer "
        + issue_token(secret, "agent", name="a", agent_id="a-1")
    }
    for answer in (
        notify_api.post("/v1/announcements", json=BODY, headers=agent),
        notify_api.get("/v1/announcements", headers=agent),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.headers["Content-Type"] == PROBLEM
    assert notify_api.post("/v1/announcements", json=BODY).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": {"all": True}}, "text_th"),
        ({**BODY, "target": {"provinces": ["Lampang"]}}, "target.provinces.0"),
        ({**BODY, "target": {"kinds": ["volunteer"]}}, "target.kinds.0"),
        ({**BODY, "target": {}}, "target"),
        ({**BODY, "text_en": "x" * 500}, "text_en"),
    ],
)
def test_bad_input_names_the_field(
    notify_api, notify_config, body: dict[str, Any], field: str
) -> None:
    token = issue_token(notify_config["TOKEN_SECRET"], "operator", name="ops")
    answer = notify_api.post(
        "/v1/announcements", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code in (400, 422), answer.text
    assert answer.headers["Content-Type"] == PROBLEM
    assert field in [e["field"] for e in answer.json()["errors"]]


@pytest.mark.parametrize(
    ("place", "expected"),
    [
        ({"subdistrict_code": "520101", "district_code": "5201"}, {"a-lampang-sub"}),
        ({"subdistrict_code": "520102", "district_code": "5201"}, {"a-district"}),
        ({"subdistrict_code": None, "district_code": "5202"}, {"a-lampang-prov"}),
        ({"abroad_country": "TW"}, {"a-taiwan"}),
        ({"province_code": "TH-10", "district_code": None}, set()),
    ],
)
def test_a_case_s_area_agents_come_from_the_index_by_the_coverage_rule(
    session: Session, place: dict[str, Any], expected: set[str]
) -> None:
    """issue 20: the most specific level that has agents, as before the
    index; the deactivated district agent ``a-gone`` is never one."""
    from labornet_notify.models import NotifyCase

    project(session)
    deliveries.apply_agent(
        session,
        agent_event(agent_id="a-district", areas=[area("TH-52", "5201")]),
    )
    case = NotifyCase(
        reference="LN-2569-00000042",
        language="th",
        province_code=place.pop("province_code", "TH-52"),
        **place,
    )
    assert {a.id for a in deliveries.area_agents(session, case)} == expected


def test_the_reach_counts_the_rows_and_names_the_failed_agents(
    session: Session,
) -> None:
    project(session)
    announcement = _announce(session, target={"provinces": ["TH-52"]})
    _plan_all(session, announcement, batch=100)
    sub, prov = _rows(session, announcement)
    sub.status, sub.last_error = "failed", "bad_phone_number"
    prov.status = "sent"
    session.flush()
    assert announcements.reach(session, announcement.id) == {
        "sms": {"failed": 1, "sent": 1}
    }
    assert announcements.failures(session, announcement.id) == [
        {
            "agent_id": sub.recipient_id,
            "channel": "sms",
            "status": "failed",
            "reason": "bad_phone_number",
        }
    ]
