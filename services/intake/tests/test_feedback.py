"""``POST /v1/cases/{reference}/feedback``: the citizen rates a closed case
through the single-use link notify sent — as JSON or from a web form on a
cheap phone — once; forged, expired, misplaced and early answers are refused,
and erasure takes the comment with the rest of the citizen's words."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import eventlet
import pytest

from labornet_shared.tokens import issue_feedback_token, issue_token
from labornet_testkit.harness import case_payload, wait_until
from labornet_testkit.intake import closing_events, followed_status

COMMENT = "เจ้าหน้าที่ช่วยเหลือดีมาก ได้เงินค่าจ้างคืนครบแล้ว"
FORM = "application/x-www-form-urlencoded"


def submit(api: Any) -> dict[str, Any]:
    """Take a case in; its reference and tracking code."""
    response = api.post("/v1/cases", json=case_payload(random.Random()))
    assert response.status_code == 201, response.text
    return dict(response.json())


def answer(api: Any, reference: str, **body: Any) -> Any:
    """Post an answer as JSON."""
    return api.post(f"/v1/cases/{reference}/feedback", json=body)


def feedback_rows(sql: Any) -> list[tuple[Any, ...]]:
    """Every stored answer: case id, rating, solved, comment, token id."""
    return [
        (row[0], row[1], bool(row[2]), row[3], row[4])
        for row in sql(
            "SELECT case_id, rating, solved, comment, token_id FROM case_feedback "
            "ORDER BY case_id"
        )
    ]


def case_id(reference: str) -> int:
    return int(reference.rsplit("-", 1)[1])


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The answer is a problem+json of ``status`` and ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = dict(response.json())
    assert body["code"] == code, body
    return body


# --- the answer ------------------------------------------------------------------


def test_the_citizen_rates_a_closed_case_once(
    intake_api, closed_case, feedback_link, intake_sql, intake_config
):
    reference = closed_case()["reference"]
    token = feedback_link(reference)

    given = answer(intake_api, reference, token=token, rating=4, solved=True)

    assert given.status_code == 201, given.text
    body = given.json()
    assert {k: body[k] for k in ("reference", "rating", "solved")} == {
        "reference": reference,
        "rating": 4,
        "solved": True,
    }
    assert body["answered_at"]
    [(stored_case, rating, solved, comment, token_id)] = feedback_rows(intake_sql)
    assert (stored_case, rating, solved, comment) == (
        case_id(reference),
        4,
        True,
        None,
    )
    assert len(token_id) == 16

    # the link is single-use: a second answer changes nothing
    again = answer(intake_api, reference, token=token, rating=1, solved=False)
    problem(again, 409, "feedback_already_given")
    assert feedback_rows(intake_sql) == [(case_id(reference), 4, True, None, token_id)]


def test_a_web_form_answers_too(intake_api, closed_case, feedback_link, intake_sql):
    reference = closed_case()["reference"]
    given = intake_api.post(
        f"/v1/cases/{reference}/feedback",
        data={
            "token": feedback_link(reference),
            "rating": "2",
            "solved": "no",
            "comment": COMMENT,
        },
    )
    assert given.status_code == 201, given.text
    assert given.json()["solved"] is False
    [(_, rating, solved, comment, _)] = feedback_rows(intake_sql)
    assert (rating, solved, comment) == (2, False, COMMENT)


def test_an_empty_comment_box_is_no_comment(
    intake_api, closed_case, feedback_link, intake_sql
):
    reference = closed_case()["reference"]
    form = f"token={feedback_link(reference)}&rating=5&solved=yes&comment=+++"
    given = intake_api.post(
        f"/v1/cases/{reference}/feedback",
        data=form,
        headers={"Content-Type": FORM},
    )
    assert given.status_code == 201, given.text
    [(_, rating, solved, comment, _)] = feedback_rows(intake_sql)
    assert (rating, solved, comment) == (5, True, None)


def test_one_answer_per_case_whichever_link(
    intake_api, closed_case, feedback_link, intake_sql
):
    """notify may reach the citizen on two channels, each with its link."""
    reference = closed_case()["reference"]
    by_sms, by_email = feedback_link(reference), feedback_link(reference)
    assert by_sms != by_email
    first = answer(intake_api, reference, token=by_email, rating=3, solved=True)
    assert first.status_code == 201, first.text
    second = answer(intake_api, reference, token=by_sms, rating=5, solved=True)
    problem(second, 409, "feedback_already_given")
    assert [row[1] for row in feedback_rows(intake_sql)] == [3]


def test_two_answers_at_once_store_one(
    intake_api, closed_case, feedback_link, intake_sql
):
    """A citizen tapping "send" twice on a slow network."""
    reference = closed_case()["reference"]
    token = feedback_link(reference)
    pool = eventlet.GreenPool()
    threads = [
        pool.spawn(answer, intake_api, reference, token=token, rating=r, solved=True)
        for r in (1, 2, 3, 4)
    ]
    statuses = sorted(thread.wait().status_code for thread in threads)
    assert statuses == [201, 409, 409, 409]
    assert len(feedback_rows(intake_sql)) == 1


# --- refused ---------------------------------------------------------------------


def test_a_case_not_closed_is_409_and_the_link_still_works_later(
    intake_api, publish_routing, feedback_link, intake_sql
):
    created = submit(intake_api)
    reference = created["reference"]
    token = feedback_link(reference)
    early = answer(intake_api, reference, token=token, rating=5, solved=True)
    problem(early, 409, "case_not_closed")
    assert feedback_rows(intake_sql) == []

    publish_routing(*closing_events(reference))
    wait_until(lambda: followed_status(intake_api, created) == "closed")
    given = answer(intake_api, reference, token=token, rating=5, solved=True)
    assert given.status_code == 201, given.text


def test_a_withdrawn_case_is_not_rated(intake_api, feedback_link):
    created = submit(intake_api)
    reference = created["reference"]
    withdrawn = intake_api.post(
        f"/v1/cases/{reference}/withdraw",
        headers={"X-Tracking-Code": created["tracking_code"]},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    token = feedback_link(reference)
    given = answer(intake_api, reference, token=token, rating=1, solved=False)
    problem(given, 409, "case_not_closed")


def test_another_cases_link_is_404(intake_api, closed_case, feedback_link, intake_sql):
    mine, other = closed_case()["reference"], closed_case()["reference"]
    token = feedback_link(other)
    misplaced = answer(intake_api, mine, token=token, rating=1, solved=False)
    problem(misplaced, 404, "not_found")
    assert feedback_rows(intake_sql) == []
    # the link was not used up on the wrong case
    given = answer(intake_api, other, token=token, rating=4, solved=True)
    assert given.status_code == 201, given.text


def test_a_link_to_a_case_that_does_not_exist_is_404(
    intake_api, feedback_link, intake_sql
):
    reference = "LN-2569-99999999"
    token = feedback_link(reference)
    refused = problem(
        answer(intake_api, reference, token=token, rating=3, solved=True),
        404,
        "not_found",
    )
    assert refused["status"] == 404
    assert feedback_rows(intake_sql) == []


def test_an_expired_link_is_401(intake_api, closed_case, feedback_link, intake_sql):
    reference = closed_case()["reference"]
    token = feedback_link(reference, ttl=timedelta(minutes=-1))
    late = answer(intake_api, reference, token=token, rating=2, solved=False)
    problem(late, 401, "token_expired")
    assert late.headers["WWW-Authenticate"]
    assert feedback_rows(intake_sql) == []


def test_a_forged_link_is_401(intake_api, closed_case, feedback_link, intake_config):
    reference = closed_case()["reference"]
    genuine = feedback_link(reference)
    flipped = genuine[:-5] + ("A" if genuine[-5] != "A" else "B") + genuine[-4:]
    forged = {
        "another secret": issue_feedback_token(
            "not-the-ministry-secret-0123456789ab", reference
        ),
        "tampered": flipped,
        "garbage": "x" * 44,
        "too short": genuine[:-1],
        "an operator's bearer token": issue_token(
            intake_config["TOKEN_SECRET"], "operator"
        ),
    }
    for label, token in forged.items():
        response = answer(intake_api, reference, token=token, rating=5, solved=True)
        problem(response, 401, "invalid_token")
        assert response.headers["WWW-Authenticate"], label
    # none of them used the genuine link up
    given = answer(intake_api, reference, token=genuine, rating=5, solved=True)
    assert given.status_code == 201, given.text


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"rating": 0}, "rating", "out_of_range"),
        ({"rating": 6}, "rating", "out_of_range"),
        ({"rating": "4"}, "rating", "invalid_type"),
        ({"rating": 4.5}, "rating", "invalid_type"),
        ({"rating": None}, "rating", "null"),
        ({"solved": "yes"}, "solved", "invalid_type"),
        ({"comment": "ก" * 1001}, "comment", "length"),
        ({"comment": "nul\x00"}, "comment", "invalid"),
        ({"token": None}, "token", "null"),
        ({"mood": "happy"}, "mood", "unknown_field"),
    ],
    ids=[
        "rating-0",
        "rating-6",
        "rating-text",
        "rating-fraction",
        "rating-null",
        "solved-text",
        "comment-too-long",
        "comment-nul",
        "token-null",
        "unknown-field",
    ],
)
def test_a_bad_answer_is_400_naming_the_field(
    intake_api, closed_case, feedback_link, intake_sql, body, field, code
):
    reference = closed_case()["reference"]
    full = {"token": feedback_link(reference), "rating": 4, "solved": True, **body}
    response = answer(intake_api, reference, **full)
    errors = problem(response, 400, "validation_failed")["errors"]
    assert {(e["field"], e["code"]) for e in errors} == {(field, code)}
    assert feedback_rows(intake_sql) == []


@pytest.mark.parametrize(
    ("form", "field", "code"),
    [
        ("rating=4&solved=maybe", "solved", "invalid_type"),
        ("rating=๔&solved=yes", "rating", "invalid_type"),
        ("rating=4&rating=5&solved=yes", "rating", "repeated"),
        ("solved=yes", "rating", "required"),
    ],
    ids=["solved-maybe", "thai-digit", "repeated", "no-rating"],
)
def test_a_bad_form_is_400_naming_the_field(
    intake_api, closed_case, feedback_link, form, field, code
):
    reference = closed_case()["reference"]
    response = intake_api.post(
        f"/v1/cases/{reference}/feedback",
        data=f"token={feedback_link(reference)}&{form}".encode(),
        headers={"Content-Type": FORM},
    )
    errors = problem(response, 400, "validation_failed")["errors"]
    assert {(e["field"], e["code"]) for e in errors} == {(field, code)}


def test_other_media_types_are_415(intake_api, closed_case, feedback_link, intake_sql):
    reference = closed_case()["reference"]
    response = intake_api.post(
        f"/v1/cases/{reference}/feedback",
        data=f"token={feedback_link(reference)}&rating=4&solved=yes",
        headers={"Content-Type": "text/plain"},
    )
    assert problem(response, 415, "unsupported_media_type")["status"] == 415
    assert feedback_rows(intake_sql) == []  # the link is not used up


# --- privacy ---------------------------------------------------------------------


def test_erasure_wipes_the_comment_and_keeps_the_rating(
    intake_api, closed_case, feedback_link, intake_sql, intake_bearer
):
    reference = closed_case()["reference"]
    given = answer(
        intake_api,
        reference,
        token=feedback_link(reference),
        rating=2,
        solved=False,
        comment=COMMENT,
    )
    assert given.status_code == 201, given.text
    erased = intake_api.delete(
        f"/v1/cases/{reference}/personal-data", headers=intake_bearer("operator")
    )
    assert erased.status_code == 204
    [(_, rating, solved, comment, _)] = feedback_rows(intake_sql)
    assert (rating, solved, comment) == (2, False, None)


def test_after_erasure_only_the_numbers_are_kept(
    intake_api, closed_case, feedback_link, intake_sql, intake_bearer
):
    reference = closed_case()["reference"]
    erased = intake_api.delete(
        f"/v1/cases/{reference}/personal-data", headers=intake_bearer("operator")
    )
    assert erased.status_code == 204
    given = answer(
        intake_api,
        reference,
        token=feedback_link(reference),
        rating=5,
        solved=True,
        comment=COMMENT,
    )
    assert given.status_code == 201, given.text
    [(_, rating, solved, comment, _)] = feedback_rows(intake_sql)
    assert (rating, solved, comment) == (5, True, None)


def test_the_api_description_offers_json_and_the_form(intake_api):
    spec = intake_api.get("/openapi.json").json()
    operation = spec["paths"]["/v1/cases/{reference}/feedback"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", FORM}
    assert {"201", "400", "401", "404", "409"} <= set(operation["responses"])
