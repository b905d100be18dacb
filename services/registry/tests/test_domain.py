"""registry's rules on a real (in-memory SQLite) schema, without nameko:
registration, upsert by national ID, name search, coverage, stats."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from labornet_registry import domain
from labornet_registry.models import AuditLogEntry, Base, outbox_messages
from labornet_shared.events import parse_event
from labornet_shared.outbox import bind_outbox
from labornet_shared.tokens import Principal
from labornet_testkit.registry import agent_input

OPERATOR = Principal(scope="operator", subject="operator-somsri")


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        bind_outbox(session, Base.metadata)
        yield session
    engine.dispose()


@pytest.fixture
def rng() -> random.Random:
    return random.Random(52)


def events(session: Session) -> list[Any]:
    """The events in the outbox, parsed as a consumer would."""
    rows = session.execute(
        select(outbox_messages.c.body).order_by(outbox_messages.c.id)
    ).scalars()
    return [parse_event(json.loads(body)) for body in rows]


def area(province: str, district: str | None = None, sub: str | None = None) -> dict:
    return {
        "province_code": province,
        "district_code": district,
        "subdistrict_code": sub,
    }


def test_agent_ids_are_time_ordered_uuid7() -> None:
    first = domain.new_agent_id(now_ns=1_700_000_000_000_000_000)
    later = domain.new_agent_id(now_ns=1_700_000_001_000_000_000)
    assert uuid.UUID(first).version == 7
    assert first < later


def test_registering_announces_the_agent_without_national_id(session, rng) -> None:
    agent = agent_input(rng, email="somchai@example.com", languages=["th", "my"])
    agent_id = domain.register_agent(session, agent)
    (event,) = events(session)
    assert event.event_type == "agent_registered"
    payload = event.payload
    assert payload["agent_id"] == agent_id
    assert payload["revision"] == 1
    assert payload["languages"] == ["th", "my"]
    assert payload["office"] == "ops.TH-52"
    assert payload["contact"]["email"] == "somchai@example.com"
    assert agent["national_id"] not in json.dumps(payload)


def test_a_national_id_is_registered_once(session, rng) -> None:
    agent = agent_input(rng)
    first = domain.register_agent(session, agent)
    with pytest.raises(domain.AgentExists) as raised:
        domain.register_agent(session, {**agent, "first_name_th": "อื่น"})
    assert raised.value.agent_id == first


def test_areas_must_nest_in_the_gazetteer(session, rng) -> None:
    # 5001 is Mueang Chiang Mai: not in Lampang (TH-52)
    bad = agent_input(rng, areas=[area("TH-52", "5001")])
    with pytest.raises(domain.AgentInvalid) as raised:
        domain.register_agent(session, bad)
    assert [(e.field, e.code) for e in raised.value.errors] == [
        ("areas.0.district_code", "district_not_in_province")
    ]
    assert events(session) == []


def test_a_subdistrict_fills_in_its_district(session, rng) -> None:
    agent_id = domain.register_agent(
        session, agent_input(rng, areas=[area("TH-52", None, "520101")])
    )
    (event,) = events(session)
    assert event.payload["areas"] == [area("TH-52", "5201", "520101")]
    assert agent_id


def test_an_agent_works_in_thailand_or_abroad_not_both(session, rng) -> None:
    with pytest.raises(domain.AgentInvalid) as raised:
        domain.register_agent(session, agent_input(rng, abroad_country="TW"))
    assert raised.value.errors[0].code == "place_conflict"
    with pytest.raises(domain.AgentInvalid) as raised:
        domain.register_agent(session, agent_input(rng, areas=[]))
    assert raised.value.errors[0].code == "place_required"


def test_abroad_volunteers_report_to_the_overseas_office(session, rng) -> None:
    domain.register_agent(
        session, agent_input(rng, areas=[], abroad_country="TW", abroad_city="Taichung")
    )
    (event,) = events(session)
    assert event.payload["office"] == "ops.abroad.TW"
    assert event.payload["areas"] == []


# --- search ------------------------------------------------------------------


def _search(session: Session, **filters: Any) -> list[str]:
    agents, _ = domain.search_agents(session, filters, OPERATOR, limit=50)
    return [f"{a.first_name_th} {a.last_name_th}" for a in agents]


def test_thai_name_prefix_search_needs_no_spaces(session, rng) -> None:
    domain.register_agent(
        session, agent_input(rng, first_name_th="สมชาย", last_name_th="ใจดี")
    )
    domain.register_agent(
        session, agent_input(rng, first_name_th="สมศรี", last_name_th="ทองดี")
    )
    domain.register_agent(
        session, agent_input(rng, first_name_th="วิชัย", last_name_th="สมบูรณ์")
    )
    assert sorted(_search(session, q="สม")) == [
        "วิชัย สมบูรณ์",
        "สมชาย ใจดี",
        "สมศรี ทองดี",
    ]
    assert _search(session, q="สมชายใจ") == ["สมชาย ใจดี"]  # typed run together
    assert _search(session, q="สม ทอง") == ["สมศรี ทองดี"]  # every word must match
    assert _search(session, q="ดี") == []  # a prefix, not a substring


def test_a_first_name_is_found_through_the_whole_name(session, rng) -> None:
    agent = agent_input(
        rng,
        first_name_th="สมชาย",
        last_name_th="ใจดี",
        first_name_en="Somchai",
        last_name_en="Jai-dee",
    )
    # no key of its own: the whole name begins with it
    assert domain.name_keys(agent) == {"ใจดี", "สมชายใจดี", "jaidee", "somchaijaidee"}
    domain.register_agent(session, agent)
    for query in ("สมชาย", "ส", "ใจดี", "somchai", "jai", "somchai jaidee"):
        assert _search(session, q=query) == ["สมชาย ใจดี"], query
    # one Latin name alone is its own key
    assert domain.name_keys({**agent, "last_name_en": None}) == {
        "ใจดี",
        "สมชายใจดี",
        "somchai",
    }


def test_latin_names_are_found_whatever_the_case(session, rng) -> None:
    domain.register_agent(
        session,
        agent_input(rng, first_name_en="Somchai", last_name_en="Jaidee"),
    )
    assert len(_search(session, q="somch")) == 1
    assert len(_search(session, q="JAIDEE")) == 1
    assert _search(session, q="jaideex") == []


def test_search_by_place_language_and_kind(session, rng) -> None:
    domain.register_agent(
        session, agent_input(rng, languages=["th", "my"], first_name_th="ก")
    )
    domain.register_agent(
        session,
        agent_input(
            rng,
            kind="labour_graduate",
            areas=[area("TH-50", "5001")],
            first_name_th="ข",
        ),
    )
    assert _search(session, language="my") == [_search(session, q="ก")[0]]
    assert len(_search(session, province="TH-52")) == 1
    assert len(_search(session, district="5001")) == 1
    assert len(_search(session, subdistrict="520101")) == 1
    assert len(_search(session, kind="labour_graduate", region="north")) == 1


def test_search_pages_with_a_cursor(session, rng) -> None:
    for _ in range(5):
        domain.register_agent(session, agent_input(rng))
    seen: list[str] = []
    after = None
    while True:
        agents, after = domain.search_agents(session, {}, OPERATOR, 2, after)
        seen.extend(a.id for a in agents)
        if after is None:
            break
    assert len(seen) == 5 == len(set(seen))


def test_every_search_is_audited_without_personal_data(session, rng) -> None:
    domain.register_agent(session, agent_input(rng, first_name_th="สมชาย"))
    _search(session, q="สมชาย")
    (entry,) = session.scalars(select(AuditLogEntry)).all()
    assert entry.action == "list_agents"
    assert entry.actor == "operator-somsri"
    assert "สมชาย" not in (entry.detail or "")


# --- coverage ----------------------------------------------------------------


def test_coverage_goes_from_the_subdistrict_up_to_the_province(session, rng) -> None:
    volunteer = domain.register_agent(session, agent_input(rng))
    district_graduate = domain.register_agent(
        session,
        agent_input(rng, kind="labour_graduate", areas=[area("TH-52", "5201")]),
    )
    province_graduate = domain.register_agent(
        session, agent_input(rng, kind="labour_graduate", areas=[area("TH-52")])
    )
    # elsewhere in Lampang, and in another province: not responsible here
    domain.register_agent(session, agent_input(rng, areas=[area("TH-52", "5202")]))
    domain.register_agent(session, agent_input(rng, areas=[area("TH-50")]))
    entries = domain.coverage(
        session, OPERATOR, province="TH-52", district="5201", subdistrict="520101"
    )
    assert [(e.level, e.agent.id) for e in entries] == [
        ("subdistrict", volunteer),
        ("district", district_graduate),
        ("province", province_graduate),
    ]


def test_coverage_leaves_out_inactive_agents(session, rng) -> None:
    gone = domain.register_agent(session, agent_input(rng))
    domain.deactivate_agent(session, gone, "term ended")
    assert (
        domain.coverage(session, OPERATOR, province="TH-52", subdistrict="520101") == []
    )


def test_coverage_prefers_the_citizens_language(session, rng) -> None:
    thai_only = domain.register_agent(session, agent_input(rng))
    speaks_khmer = domain.register_agent(
        session, agent_input(rng, languages=["th", "km"])
    )
    entries = domain.coverage(
        session, OPERATOR, province="TH-52", subdistrict="520101", language="km"
    )
    assert [e.agent.id for e in entries] == [speaks_khmer, thai_only]


def test_coverage_abroad_is_by_country(session, rng) -> None:
    taiwan = domain.register_agent(
        session, agent_input(rng, areas=[], abroad_country="TW", abroad_city="Taipei")
    )
    domain.register_agent(session, agent_input(rng, areas=[], abroad_country="IL"))
    entries = domain.coverage(session, OPERATOR, country="TW")
    assert [(e.level, e.agent.id) for e in entries] == [("country", taiwan)]


def test_coverage_refuses_a_subdistrict_outside_the_province(session) -> None:
    with pytest.raises(domain.AgentInvalid) as raised:
        domain.coverage(session, OPERATOR, province="TH-50", subdistrict="520101")
    assert raised.value.errors[0].field == "subdistrict"


# --- changes -----------------------------------------------------------------


def test_an_agent_changes_only_their_contact_and_languages(session, rng) -> None:
    agent_id = domain.register_agent(session, agent_input(rng))
    me = Principal(scope="agent", subject=agent_id, agent_id=agent_id)
    with pytest.raises(domain.AgentInvalid) as raised:
        domain.update_agent(session, agent_id, {"kind": "labour_graduate"}, me)
    assert [(e.field, e.code) for e in raised.value.errors] == [("kind", "read_only")]
    domain.update_agent(session, agent_id, {"phone": "+66899999999"}, me)
    _registered, updated = events(session)
    assert updated.event_type == "agent_updated"
    assert updated.payload["changed"] == ["phone"]
    assert updated.payload["revision"] == 2
    assert updated.payload["contact"]["phone"] == "+66899999999"


def test_an_agent_cannot_change_another(session, rng) -> None:
    mine = domain.register_agent(session, agent_input(rng))
    theirs = domain.register_agent(session, agent_input(rng))
    me = Principal(scope="agent", subject=mine, agent_id=mine)
    with pytest.raises(domain.AgentNotFound):
        domain.update_agent(session, theirs, {"phone": "+66899999999"}, me)


def test_a_change_to_the_same_value_emits_nothing(session, rng) -> None:
    agent = agent_input(rng)
    agent_id = domain.register_agent(session, agent)
    domain.update_agent(session, agent_id, {"phone": agent["phone"]}, OPERATOR)
    assert [e.event_type for e in events(session)] == ["agent_registered"]


def test_deactivation_is_announced_once(session, rng) -> None:
    agent_id = domain.register_agent(session, agent_input(rng))
    domain.deactivate_agent(
        session, agent_id, "moved away", clock=lambda: datetime(2026, 1, 5, tzinfo=UTC)
    )
    with pytest.raises(domain.AgentNotActive):
        domain.deactivate_agent(session, agent_id, "again")
    last = events(session)[-1]
    assert last.event_type == "agent_deactivated"
    assert last.payload["reason"] == "moved away"
    assert last.payload["revision"] == 2


# --- import ------------------------------------------------------------------


def test_reimporting_the_same_roster_changes_nothing(session, rng) -> None:
    roster = [agent_input(rng) for _ in range(20)]
    first = domain.import_agents(session, roster)
    assert (first.registered, first.updated, first.unchanged) == (20, 0, 0)
    again = domain.import_agents(session, roster)
    assert (again.registered, again.updated, again.unchanged) == (0, 0, 20)
    assert [e.event_type for e in events(session)] == ["agent_registered"] * 20


def test_a_changed_row_emits_one_agent_updated(session, rng) -> None:
    roster = [agent_input(rng) for _ in range(3)]
    domain.import_agents(session, roster)
    moved = {**roster[1], "areas": [area("TH-52", "5202", "520201")]}
    outcome = domain.import_agents(session, [roster[0], moved, roster[2]])
    assert (outcome.registered, outcome.updated, outcome.unchanged) == (0, 1, 2)
    updated = [e for e in events(session) if e.event_type == "agent_updated"]
    assert len(updated) == 1
    assert updated[0].payload["changed"] == ["areas"]
    assert updated[0].payload["areas"] == [area("TH-52", "5202", "520201")]
    assert updated[0].payload["revision"] == 2


def test_an_import_stopped_between_chunks_is_completed_by_a_reimport(
    session, rng
) -> None:
    roster = [agent_input(rng) for _ in range(5)]
    commits = []

    def commit_then_fail() -> None:
        session.commit()
        commits.append(len(commits) + 1)
        if len(commits) == 2:
            raise ConnectionError("lost the database")

    with pytest.raises(ConnectionError):
        domain.import_agents(session, roster, chunk=2, after_chunk=commit_then_fail)
    session.rollback()
    # the two committed chunks stay, each agent with its event
    assert len(_search(session)) == 4
    assert [e.event_type for e in events(session)] == ["agent_registered"] * 4
    again = domain.import_agents(session, roster, chunk=2, after_chunk=session.commit)
    assert (again.registered, again.updated, again.unchanged) == (1, 0, 4)
    registered = [e.payload["agent_id"] for e in events(session)]
    assert len(registered) == len(set(registered)) == 5


def test_a_dry_run_writes_nothing(session, rng) -> None:
    outcome = domain.import_agents(session, [agent_input(rng)], dry_run=True)
    assert outcome.registered == 1
    assert events(session) == []
    assert _search(session) == []


def test_an_import_does_not_reactivate_an_agent(session, rng) -> None:
    agent = agent_input(rng)
    domain.import_agents(session, [agent])
    (agent_id,) = [a.id for a in domain.search_agents(session, {}, OPERATOR, 5)[0]]
    domain.deactivate_agent(session, agent_id, "suspended by the province")
    domain.import_agents(session, [{**agent, "phone": "+66811111111"}])
    (found,) = domain.search_agents(session, {}, OPERATOR, 5)[0]
    assert found.status == "inactive"
    assert events(session)[-1].payload["status"] == "inactive"


# --- stats -------------------------------------------------------------------


def test_stats_count_by_kind_region_province_status_and_find_gaps(session, rng) -> None:
    domain.register_agent(session, agent_input(rng))
    domain.register_agent(
        session, agent_input(rng, kind="labour_graduate", areas=[area("TH-52")])
    )
    gone = domain.register_agent(
        session, agent_input(rng, areas=[area("TH-52", "5202")])
    )
    domain.deactivate_agent(session, gone, None)
    stats = domain.network_stats(session)
    assert stats["totals"] == {
        "labour_volunteer": {"active": 1, "inactive": 1},
        "labour_graduate": {"active": 1},
    }
    north = [c for c in stats["counts"] if c["region"] == "north"]
    assert sum(c["agents"] for c in north) == 3
    gap_codes = {gap["district_code"] for gap in stats["coverage_gaps"]}
    # 5201 has an active volunteer; 5202's only agent is inactive; the
    # province-wide graduate does not fill a district
    assert "5201" not in gap_codes
    assert "5202" in gap_codes
    assert stats["districts"] == 928
    assert stats["districts_covered"] == 1
