"""Every endpoint of the four services × every kind of caller: a caller gets
only what its scope allows; elsewhere 404 (not 403: nothing leaks), and 401
without a token where an endpoint needs one (DESIGN, HTTP conventions).

The platform runs whole (intake, routing, registry, notify on one vhost, the
SMS gateway a local fake), with one real case: submitted by a field agent,
screened and referred to three Lampang offices, told to the citizen by SMS.

How to read :data:`MATRIX`: one row per endpoint; ``allowed`` lists the
callers that get through (any answer but 401/403/404 and never a 5xx: a 409
for a second withdrawal still shows the door was open); every other caller
gets 404, except ``none`` and ``code`` (no token), which get ``anonymous``
(401 by default). For
list endpoints, ``sees`` lists who finds the case's resource in the answer;
the other allowed callers get a list without it. Rows that change state run
after the rows that read it, in table order.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from labornet_registry.seed import write_network_csv
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import case_payload, load_service_config, wait_until
from labornet_testkit.providers import FakeThaiBulkSms, WebhookReceiver
from labornet_testkit.registry import agent_payload

THREE_PROBLEMS = "ถูกเลิกจ้างไม่ได้ค่าชดเชย อยากขอเงินว่างงานและหางานใหม่"

#: the callers, in the order each row tries them (denied ones first)
CALLERS = (
    "none",  # no credential at all
    "code",  # the citizen: the case's tracking code, no token
    "agent",  # the field agent who submitted the case
    "other_agent",  # another field agent
    "agency",  # an office the case is referred to: sso, Lampang (TH-52)
    "other_agency",  # an agency the case is not referred to: tosh, Lampang
    "other_province",  # the right agency, another province: sso, Chiang Mai
    "open311",  # an Open311 api_key, as a bearer token
    "operator",
)

ALL = CALLERS
ANY_TOKEN = tuple(c for c in CALLERS if c not in ("none", "code"))
AGENCIES = ("agency", "other_agency", "other_province")


@dataclass(frozen=True)
class Row:
    service: str
    method: str
    path: str  # {reference} {agent} {other_agent} {referral} {rule} ...
    allowed: tuple[str, ...]
    anonymous: int = 401  # what ``none`` gets when not allowed
    body: Any = None  # JSON, or bytes with ``content_type``
    content_type: str | None = None
    sees: tuple[str, ...] | None = None  # list endpoints: who finds it
    marker: str = "{reference}"  # what "finding it" means
    credential: str = "bearer"  # or "api_key" (Open311's query parameter)
    same_for_all: bool = False  # a link-token page: bearer tokens add nothing


def row(service: str, method: str, path: str, *allowed: str, **more: Any) -> Row:
    return Row(service, method, path, tuple(allowed), **more)


MATRIX = [
    # --- intake -----------------------------------------------------------------
    row("intake", "POST", "/v1/cases", *ALL, body="{case_body}"),
    row("intake", "GET", "/v1/cases/{reference}", "code", "agent", "operator",
        anonymous=404),
    row("intake", "GET", "/v1/cases", "agent", "other_agent", "operator",
        sees=("agent", "operator")),
    row("intake", "GET", "/v1/cases/{reference}/contact", "agency", "operator"),
    row("intake", "GET", "/t/{reference}", *ALL),  # the follow page's form
    row("intake", "GET", "/f/{reference}", same_for_all=True),  # link token
    row("intake", "GET", "/a/{reference}", same_for_all=True),  # link token
    row("intake", "POST", "/v1/cases/{reference}/feedback", same_for_all=True,
        body={"token": "x" * 40, "rating": 5, "solved": True}),
    row("intake", "GET", "/open311/v2/requests.json", *ALL),  # public fields
    row("intake", "POST", "/open311/v2/requests.json", "open311",
        credential="api_key", anonymous=403, body="{open311_filing}",
        content_type="application/x-www-form-urlencoded"),
    # --- registry ---------------------------------------------------------------
    row("registry", "POST", "/v1/agents", "operator", body="{agent_body}"),
    row("registry", "GET", "/v1/agents", "operator"),
    row("registry", "GET", "/v1/agents/export.csv", "operator"),
    row("registry", "POST", "/v1/agents/import", "operator", body="{roster}",
        content_type="text/csv"),
    row("registry", "GET", "/v1/agents/imports/{import}/rejected.csv", "operator"),
    row("registry", "GET", "/v1/agents/{agent}", "agent", "operator"),
    # an agent's work contact: any agency's office of a province the agent
    # covers (registry does not know referrals), not another province's
    row("registry", "GET", "/v1/agents/{agent}/contact", "agency", "other_agency",
        "operator"),
    row("registry", "PATCH", "/v1/agents/{agent}", "agent", "operator",
        body={"languages": ["th", "my"]}),
    row("registry", "GET", "/v1/coverage?province=TH-52&subdistrict=520101",
        "operator"),
    row("registry", "GET", "/v1/stats", "operator"),
    # --- routing ----------------------------------------------------------------
    row("routing", "GET", "/v1/referrals", *AGENCIES, "operator",
        sees=("agency", "operator"), marker="{referral}"),
    row("routing", "GET", "/v1/referrals/{referral}", "agency", "operator"),
    row("routing", "GET", "/v1/holidays", *AGENCIES, "operator"),
    row("routing", "GET", "/v1/rules", "operator"),
    row("routing", "GET", "/v1/sla", "operator"),
    row("routing", "POST", "/v1/referrals/{referral}/accept", "agency", "operator"),
    row("routing", "POST", "/v1/referrals/{referral}/progress", "agency",
        "operator", body={"note": "นัดไกล่เกลี่ย 3 ธ.ค."}),
    row("routing", "POST", "/v1/referrals/{referral}/resolve", "agency",
        "operator", body={"outcome": "resolved"}),
    row("routing", "POST", "/v1/referrals/{referral}/reject", "agency", "operator",
        body={"reason": "not_our_mandate"}),
    row("routing", "POST", "/v1/rules", "operator",
        body={"kind": "override", "category": "skill_training", "agency": "doe"}),
    row("routing", "DELETE", "/v1/rules/{rule}", "operator"),
    row("routing", "PUT", "/v1/sla", "operator",
        body={"agency": "sso", "category": "work_injury", "accept_days": 1,
              "resolve_days": 10}),
    row("routing", "POST", "/v1/holidays", "operator",
        body={"day": "2027-04-13", "name": "วันสงกรานต์"}),
    # --- notify -----------------------------------------------------------------
    row("notify", "GET", "/v1/deliveries", "operator"),
    # the console channel's page (off here: a browser on loopback gets 401)
    row("notify", "GET", "/console", "operator"),
    row("notify", "POST", "/v1/deliveries/{delivery}/retry", "operator"),
    row("notify", "GET", "/v1/subscriptions", "operator"),
    row("notify", "POST", "/v1/subscriptions", "operator",
        body={"url": "{hook_url}", "agency": "sso"}),
    row("notify", "POST", "/v1/subscriptions/{subscription}/ping", "operator"),
    row("notify", "POST", "/v1/subscriptions/{subscription}/rotate-secret",
        "operator"),
    row("notify", "POST", "/v1/subscriptions/{subscription}/pause", "operator"),
    row("notify", "POST", "/v1/subscriptions/{subscription}/resume", "operator"),
    row("notify", "GET", "/v1/announcements", "operator"),
    row("notify", "GET", "/v1/announcements/{announcement}", "operator"),
    row("notify", "POST", "/v1/announcements", "operator",
        body={"text_th": "ประชุมอาสาสมัครแรงงาน วันจันทร์", "target": {"all": True}}),
    # --- last: what takes the case or the agent away ----------------------------
    row("registry", "POST", "/v1/agents/{other_agent}/deactivate", "operator"),
    row("intake", "POST", "/v1/cases/{reference}/withdraw", "code", "agent",
        "operator", anonymous=404),
    row("intake", "DELETE", "/v1/cases/{reference}/personal-data", "operator"),
]  # fmt: skip


def test_every_endpoint_answers_each_caller_as_its_scope_allows(
    start_intake, start_routing, start_registry, start_notify, subtests
) -> None:
    with FakeThaiBulkSms(api_key="k", api_secret="s") as gateway:
        apis = {
            "registry": start_registry(),
            "routing": start_routing(),
            "intake": start_intake(),
        }
        apis["notify"] = start_notify(
            SMS_API_KEY="k",
            SMS_API_SECRET="s",
            SMS_BASE_URL=gateway.url,
            SMS_QUIET_HOURS="",
            DELIVERY_POLL_SECONDS=0.1,
        )
        with WebhookReceiver([]) as receiver:
            world = _the_world(apis, receiver.url)
            # every endpoint the services serve has a row
            served = {
                (service, method.upper(), path)
                for service, api in apis.items()
                for path, operations in api.get("/openapi.json").json()["paths"].items()
                for method in operations
            }
            tried = {(r.service, r.method, _template(r.path)) for r in MATRIX}
            assert served - tried - _NOT_SCOPED == set()
            for entry in MATRIX:
                with subtests.test(f"{entry.method} {entry.service} {entry.path}"):
                    _check(apis[entry.service], entry, world)
        for api in apis.values():
            api.close()


# the probes and the spec are the same for everyone; Open311's other reads
# and the follow page's form post are public reads and code-driven (their
# own tests); the spec itself
_NOT_SCOPED = {
    (service, "GET", path)
    for service in ("intake", "routing", "registry", "notify")
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/asyncapi.json")
} | {
    ("intake", "GET", "/open311/v2/discovery.{fmt}"),
    ("intake", "GET", "/open311/v2/services.{fmt}"),
    ("intake", "GET", "/open311/v2/services/{service_code}.{fmt}"),
    ("intake", "GET", "/open311/v2/requests/{service_request_id}.{fmt}"),
    ("intake", "GET", "/open311/v2/tokens/{token}.{fmt}"),
    ("intake", "POST", "/t/{reference}"),
}

_PATH_NAMES = {
    "{reference}": "{reference}",
    "{agent}": "{agent_id}",
    "{other_agent}": "{agent_id}",
    "{referral}": "{referral_id}",
    "{rule}": "{rule_id}",
    "{import}": "{import_id}",
    "{delivery}": "{delivery_id}",
    "{subscription}": "{subscription_id}",
    "{announcement}": "{announcement_id}",
}


def _template(path: str) -> str:
    """The OpenAPI path a row's path is an instance of."""
    path = path.partition("?")[0]
    for ours, theirs in _PATH_NAMES.items():
        path = path.replace(ours, theirs)
    if path.startswith("/open311/"):
        path = path.replace(".json", ".{fmt}")
    return path


def _the_world(apis: dict[str, Any], hook_url: str) -> dict[str, Any]:
    """The resources and the callers' credentials."""
    secret = load_service_config("intake")["TOKEN_SECRET"]

    def bearer(scope: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(secret, scope, **claims)}"}

    operator = bearer("operator", name="operator-somsri")
    registry, routing, intake, notify = (
        apis["registry"],
        apis["routing"],
        apis["intake"],
        apis["notify"],
    )
    agents = []
    for seed in (7, 8):
        made = registry.post(
            "/v1/agents", json=agent_payload(random.Random(seed)), headers=operator
        )
        assert made.status_code == 201, made.text
        agents.append(made.json()["id"])
    agent, other_agent = agents
    agent_token = bearer("agent", agent_id=agent)

    body = case_payload(
        random.Random(1),
        description=THREE_PROBLEMS,
        location={"province_code": "TH-52", "subdistrict_code": "520101"},
    )
    body["consent"]["agencies_may_contact"] = True
    body["citizen"]["contact_channel"] = "sms"
    created = intake.post("/v1/cases", json=body, headers=agent_token)
    assert created.status_code == 201, created.text
    reference = created.json()["reference"]
    code = created.json()["tracking_code"]

    sso = bearer("agency", agency="sso", province="TH-52")

    def referred() -> list[dict[str, Any]]:
        found = routing.get("/v1/referrals", headers=sso).json()["referrals"]
        return [r for r in found if r.get("reference") == reference]

    (referral,) = wait_until(referred, timeout=20)

    def routed() -> bool:
        case = intake.get(f"/v1/cases/{reference}", headers=operator).json()
        return bool(case["status"] == "routed")

    wait_until(routed, timeout=20)

    def delivered() -> list[dict[str, Any]]:
        return list(
            notify.get(
                "/v1/deliveries", params={"reference": reference}, headers=operator
            ).json()["deliveries"]
        )

    delivery = wait_until(delivered, timeout=20)[0]

    rule = routing.post(
        "/v1/rules",
        json={"kind": "override", "category": "skill_training", "agency": "doe"},
        headers=operator,
    )
    assert rule.status_code == 201, rule.text
    subscription = notify.post(
        "/v1/subscriptions",
        json={"url": f"{hook_url}/hooks", "agency": "sso"},
        headers=operator,
    )
    assert subscription.status_code == 201, subscription.text
    announcement = notify.post(
        "/v1/announcements",
        json={"text_th": "ประชุมอาสาสมัครแรงงาน", "target": {"provinces": ["TH-52"]}},
        headers=operator,
    )
    assert announcement.status_code == 201, announcement.text

    roster = _roster_with_a_bad_row()
    imported = registry.post(
        "/v1/agents/import",
        data=roster,
        headers={**operator, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["rejected_csv"], imported.text

    open311_key = issue_token(secret, "open311", name="civic-app")
    filing = urlencode(
        {
            "jurisdiction_id": "mol.go.th",
            "service_code": "unpaid_wages",
            "lat": "18.2888",
            "long": "99.4908",
            "description": "นายจ้างค้างจ่ายค่าจ้างสองเดือน",
            "attribute[employer_name]": "ร้านอาหารตัวอย่าง",
            "attribute[amount_owed]": "24000",
        }
    )
    return {
        "values": {
            "{reference}": reference,
            "{agent}": agent,
            "{other_agent}": other_agent,
            "{referral}": referral["id"],
            "{rule}": str(rule.json()["id"]),
            "{import}": str(imported.json()["rejected_csv"].split("/")[-2]),
            "{delivery}": delivery["id"],
            "{subscription}": subscription.json()["id"],
            "{announcement}": str(announcement.json()["id"]),
            "{hook_url}": f"{hook_url}/hooks",
        },
        "bodies": {
            "{case_body}": lambda: case_payload(random.Random()),
            "{agent_body}": lambda: agent_payload(random.Random()),
            "{roster}": lambda: roster,
            "{open311_filing}": lambda: filing,
        },
        "callers": {
            "none": {},
            "code": {"X-Tracking-Code": code},
            "agent": agent_token,
            "other_agent": bearer("agent", agent_id=other_agent),
            "agency": sso,
            "other_agency": bearer("agency", agency="tosh", province="TH-52"),
            "other_province": bearer("agency", agency="sso", province="TH-50"),
            "open311": {"Authorization": f"Bearer {open311_key}"},
            "operator": operator,
        },
    }


def _roster_with_a_bad_row() -> bytes:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "roster.csv"
        write_network_csv(path, 11, graduates=1, volunteers=2, abroad=0)
        text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    rows[-1]["national_id"] = "1234"  # not a national ID: rejected
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace(name, value)
    return text


def _request(api: Any, entry: Row, caller: str, world: dict[str, Any]) -> Any:
    values: dict[str, str] = world["values"]
    path = _fill(entry.path, values)
    credentials: dict[str, str] = dict(world["callers"][caller])
    headers = {}
    body: Any = entry.body
    if isinstance(body, str) and body in world["bodies"]:
        body = world["bodies"][body]()
    elif isinstance(body, dict):
        body = {
            k: _fill(v, values) if isinstance(v, str) else v for k, v in body.items()
        }
    if entry.credential == "api_key":
        token = credentials.pop("Authorization", "").removeprefix("Bearer ")
        if token:
            body = f"{body}&api_key={token}"
    headers.update(credentials)
    kwargs: dict[str, Any] = {"headers": headers}
    if entry.content_type is not None:
        headers["Content-Type"] = entry.content_type
        kwargs["data"] = body.encode() if isinstance(body, str) else body
    elif body is not None:
        kwargs["json"] = body
    return api.request(entry.method, path, **kwargs)


def _check(api: Any, entry: Row, world: dict[str, Any]) -> None:
    """Try the row's endpoint as every caller, the denied ones first."""
    order = sorted(CALLERS, key=lambda caller: caller in entry.allowed)
    answers: dict[str, int] = {}
    wrong: list[str] = []
    for caller in order:
        answer = _request(api, entry, caller, world)
        answers[caller] = answer.status_code
        if answer.status_code >= 500:
            wrong.append(f"{caller}: {answer.status_code} {answer.text[:200]}")
            continue
        if entry.same_for_all:
            continue
        if caller in entry.allowed:
            if answer.status_code in (401, 403, 404):
                wrong.append(f"{caller} refused: {answer.status_code}")
            elif entry.sees is not None:
                marker = _fill(entry.marker, world["values"])
                if (marker in answer.text) != (caller in entry.sees):
                    wrong.append(f"{caller} sees {marker}: {marker in answer.text}")
            continue
        # a tracking code is no token: where one is needed, it is "none"
        expected = entry.anonymous if caller in ("none", "code") else 404
        if entry.credential == "api_key":
            expected = 403  # Open311's answer to a missing or wrong api_key
        if answer.status_code != expected:
            wrong.append(f"{caller}: {answer.status_code}, not {expected}")
    if entry.same_for_all and len(set(answers.values())) != 1:
        wrong.append(f"answers differ by caller: {answers}")
    assert not wrong, f"{entry.method} {entry.path}: {wrong} (all: {answers})"
