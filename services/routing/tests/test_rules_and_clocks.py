"""Which office gets which problem, and when its clocks run out: the rules
and the working-day calendar, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime

from labornet_routing.rules import (
    MAX_HOPS,
    Rule,
    next_office,
    plan_referrals,
)
from labornet_routing.working_days import (
    BANGKOK,
    add_working_days,
    packaged_holidays,
    working_days_between,
)

ABROAD = Rule(kind="abroad", agency="doe")
INJURY_WITH_WAGES = Rule(
    kind="extra", category="work_injury", with_category="unpaid_wages", agency="dlpw"
)


def offices(plans) -> dict[str, tuple[str, ...]]:
    return {plan.office: plan.categories for plan in plans}


def test_each_problem_goes_to_its_default_agency_in_the_province() -> None:
    plans = plan_referrals(
        ["termination_severance", "social_security_benefit", "job_seeking"],
        "TH-52",
        None,
        [],
    )
    assert offices(plans) == {
        "dlpw.TH-52": ("termination_severance",),
        "sso.TH-52": ("social_security_benefit",),
        "doe.TH-52": ("job_seeking",),
    }


def test_one_office_gets_one_referral_for_all_its_problems() -> None:
    plans = plan_referrals(["unpaid_wages", "working_conditions"], "TH-10", None, [])
    assert offices(plans) == {"dlpw.TH-10": ("unpaid_wages", "working_conditions")}


def test_a_province_override_beats_a_national_one() -> None:
    rules = [
        Rule(kind="override", category="skill_training", agency="doe"),
        Rule(
            kind="override",
            category="skill_training",
            province_code="TH-95",
            agency="ops",
        ),
    ]
    assert offices(plan_referrals(["skill_training"], "TH-95", None, rules)) == {
        "ops.TH-95": ("skill_training",)
    }
    assert offices(plan_referrals(["skill_training"], "TH-52", None, rules)) == {
        "doe.TH-52": ("skill_training",)
    }


def test_an_extra_rule_adds_an_office_only_when_its_condition_holds() -> None:
    rules = [INJURY_WITH_WAGES]
    alone = plan_referrals(["work_injury"], "TH-52", None, rules)
    assert offices(alone) == {"sso.TH-52": ("work_injury",)}
    with_wages = plan_referrals(["work_injury", "unpaid_wages"], "TH-52", None, rules)
    assert offices(with_wages) == {
        "sso.TH-52": ("work_injury",),
        "dlpw.TH-52": ("work_injury", "unpaid_wages"),
    }


def test_workers_abroad_go_to_the_overseas_office() -> None:
    plans = plan_referrals(["unpaid_wages", "job_seeking"], "TH-40", "TW", [ABROAD])
    assert offices(plans) == {"doe.overseas": ("unpaid_wages", "job_seeking")}
    # the same problems at home go to the province's offices
    assert "doe.overseas" not in offices(
        plan_referrals(["unpaid_wages"], "TH-40", None, [ABROAD])
    )


def test_a_rejection_goes_onwards_never_back() -> None:
    rules = [Rule(kind="override", category="skill_training", agency="doe")]
    agency, office, flagged = next_office(
        "skill_training", "TH-52", None, rules, {"doe.TH-52"}, hop=1
    )
    assert (agency, office, flagged) == ("dsd", "dsd.TH-52", False)
    agency, office, flagged = next_office(
        "skill_training", "TH-52", None, rules, {"doe.TH-52", "dsd.TH-52"}, hop=2
    )
    assert (agency, office, flagged) == ("ops", "ops.TH-52", True)


def test_after_three_hops_the_coordinator_takes_it_flagged() -> None:
    assert next_office("unpaid_wages", "TH-52", None, [], set(), hop=MAX_HOPS) == (
        "ops",
        "ops.TH-52",
        True,
    )


# --- working days ------------------------------------------------------------


def bangkok(*args: int) -> datetime:
    return datetime(*args, tzinfo=BANGKOK)  # type: ignore[misc]


def test_weekends_do_not_count() -> None:
    friday = bangkok(2026, 11, 20, 16, 0)
    assert add_working_days(friday, 2, set()) == bangkok(2026, 11, 24, 16, 0)
    thursday = bangkok(2026, 11, 19, 16, 0)
    assert add_working_days(thursday, 2, set()) == bangkok(2026, 11, 23, 16, 0)


def test_a_referral_made_on_a_day_off_counts_from_the_next_working_day() -> None:
    saturday = bangkok(2026, 11, 21, 10, 0)
    assert add_working_days(saturday, 1, set()) == bangkok(2026, 11, 23, 10, 0)


def test_thai_public_holidays_do_not_count() -> None:
    days_off = {day for day, _name in packaged_holidays()}
    # Songkran 2026: Mon 13 – Wed 15 April
    before = bangkok(2026, 4, 10, 9, 0)  # a Friday
    assert add_working_days(before, 1, days_off) == bangkok(2026, 4, 16, 9, 0)
    assert working_days_between(before, bangkok(2026, 4, 20, 9, 0), days_off) == 3


def test_the_clock_is_in_bangkok_time() -> None:
    # 18:00 UTC on Friday is already Saturday 01:00 in Bangkok
    late_friday_utc = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    due = add_working_days(late_friday_utc, 1, set())
    assert due.astimezone(BANGKOK).date() == date(2026, 11, 23)


def test_the_holiday_table_has_every_year_it_serves() -> None:
    years = {day.year for day, _name in packaged_holidays()}
    assert {2025, 2026, 2027} <= years
    assert (date(2026, 5, 1), "วันแรงงานแห่งชาติ National Labour Day") in (
        packaged_holidays()
    )
