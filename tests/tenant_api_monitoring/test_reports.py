"""The reports over a synthetic month of usage (dates injected)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tenant_api.reports.tables import format_report
from tests.tenant_api_monitoring.conftest import Api

MARCH = date(2025, 3, 1)


def march(day: int) -> date:
    return MARCH + timedelta(days=day - 1)


async def _synthetic_march(api: Api) -> dict[str, str]:
    """whale (free, $1/day): at cap by spend on 16 days, refused on 2 more.
    big (enterprise, $100/day, the top plan): at cap 20 days. calm (pro): never at cap."""
    ids = {
        "whale": await api.customer("whale", "free", seats=2),
        "big": await api.customer("big", "enterprise", seats=10),
        "calm": await api.customer("calm", "pro", seats=3),
    }
    for day in range(1, 17):
        await api.add_events(ids["whale"], march(day), 600_000, 400_000)
    for day in (17, 18):
        await api.add_events(ids["whale"], march(day), 200_000)
        await api.add_events(ids["whale"], march(day), 0, outcome="daily_limit")
    await api.add_events(ids["whale"], march(19), 999_999)  # just below the cap
    await api.add_events(ids["whale"], march(20), 0, outcome="per_call_limit")  # not daily
    for day in range(1, 21):
        await api.add_events(ids["big"], march(day), 100_000_000)
    for day in range(1, 32):
        await api.add_events(ids["calm"], march(day), 1_000_000)
    # Outside the month: never counted.
    await api.add_events(ids["whale"], date(2025, 2, 28), 5_000_000, hour=23)
    await api.add_events(ids["whale"], date(2025, 4, 1), 5_000_000, hour=0)
    return ids


async def test_heavy_users_lists_days_at_cap_most_first_with_advice(api: Api) -> None:
    ids = await _synthetic_march(api)

    response = await api.http.get(
        "/v1/reports/heavy-users", params={"month": "2025-03"}, headers=api.admin
    )

    assert response.status_code == 200
    body = response.json()
    assert body["month"] == "2025-03"
    assert body["min_days_at_cap"] == 15
    assert body["data"] == [
        {
            "customer_id": ids["big"],
            "external_id": "big",
            "plan": "enterprise",
            "days_at_cap": 20,
            "spent_usd_micros": 20 * 100_000_000,
            "revenue_usd_cents": 10 * 5000,
            "margin_usd_micros": 10 * 5000 * 10_000 - 20 * 100_000_000,
            "recommendation": "cost_risk",
        },
        {
            "customer_id": ids["whale"],
            "external_id": "whale",
            "plan": "free",
            "days_at_cap": 18,
            "spent_usd_micros": 16 * 1_000_000 + 2 * 200_000 + 999_999,
            "revenue_usd_cents": 2 * 5000,
            "margin_usd_micros": 2 * 5000 * 10_000 - (16 * 1_000_000 + 2 * 200_000 + 999_999),
            "recommendation": "upsell",
        },
    ]


async def test_heavy_users_threshold_is_a_parameter(api: Api) -> None:
    await _synthetic_march(api)

    strict = await api.http.get(
        "/v1/reports/heavy-users",
        params={"month": "2025-03", "min_days_at_cap": 19},
        headers=api.admin,
    )
    other_month = await api.http.get(
        "/v1/reports/heavy-users",
        params={"month": "2025-02", "min_days_at_cap": 1},
        headers=api.admin,
    )

    assert [h["external_id"] for h in strict.json()["data"]] == ["big"]
    # One day in February at cap (the event at 23:00 on the 28th).
    assert [(h["external_id"], h["days_at_cap"]) for h in other_month.json()["data"]] == [
        ("whale", 1)
    ]


async def test_margin_report_totals_and_per_plan(api: Api) -> None:
    ids = await _synthetic_march(api)
    # A customer signed up after March, without usage in it, does not count for March.
    late = await api.customer("late", "pro")
    await api.db.execute(
        "UPDATE customers SET created_at = '2025-04-02T00:00:00Z' WHERE id = $1", late
    )

    response = await api.http.get(
        "/v1/reports/margin", params={"month": "2025-03"}, headers=api.admin
    )

    assert response.status_code == 200
    body = response.json()
    assert body["month"] == "2025-03"
    assert body["days_in_month"] == 31
    plans = {p["plan"]: p for p in body["plans"]}
    assert plans["free"] == {
        "plan": "free",
        "customers": 1,
        "seats": 2,
        "revenue_usd_cents": 10_000,
        "ai_cost_usd_micros": 17_399_999,
        "worst_case_ai_cost_usd_micros": 31 * 100 * 10_000,
        "margin_usd_micros": 100_000_000 - 17_399_999,
        "worst_case_margin_usd_micros": 100_000_000 - 31_000_000,
    }
    assert plans["pro"]["customers"] == 1
    assert plans["pro"]["ai_cost_usd_micros"] == 31_000_000
    assert plans["enterprise"]["worst_case_ai_cost_usd_micros"] == 31 * 10_000 * 10_000
    assert plans["enterprise"]["worst_case_margin_usd_micros"] < 0
    total = body["total"]
    assert total["customers"] == 3
    assert total["seats"] == 15
    assert total["revenue_usd_cents"] == 15 * 5000
    assert total["ai_cost_usd_micros"] == 17_399_999 + 2_000_000_000 + 31_000_000
    assert total["worst_case_ai_cost_usd_micros"] == 31 * (100 + 1000 + 10_000) * 10_000
    assert total["margin_usd_micros"] == 15 * 5000 * 10_000 - total["ai_cost_usd_micros"]
    assert ids["whale"]


async def test_bursts_report_is_empty_without_bursts(api: Api) -> None:
    await _synthetic_march(api)

    response = await api.http.get(
        "/v1/reports/bursts", params={"month": "2025-03"}, headers=api.admin
    )

    assert response.status_code == 200
    assert response.json() == {"month": "2025-03", "data": []}


async def test_reports_default_to_the_current_month(api: Api) -> None:
    response = await api.http.get("/v1/reports/margin", headers=api.admin)

    assert response.status_code == 200
    today = await api.db.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
    assert response.json()["month"] == today.strftime("%Y-%m")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/reports/heavy-users", {"month": "2025-13"}, "query.month"),
        ("/v1/reports/heavy-users", {"month": "2025-3"}, "query.month"),
        ("/v1/reports/margin", {"month": "march"}, "query.month"),
        ("/v1/reports/bursts", {"month": "2025-03-01"}, "query.month"),
        (
            "/v1/reports/heavy-users",
            {"month": "2025-03", "min_days_at_cap": 0},
            "query.min_days_at_cap",
        ),
        ("/v1/reports/heavy-users", {"min_days_at_cap": 32}, "query.min_days_at_cap"),
        ("/v1/reports/heavy-users", {"min_days_at_cap": "many"}, "query.min_days_at_cap"),
    ],
)
async def test_bad_report_input_is_422(
    api: Api, path: str, params: dict[str, str | int], field: str
) -> None:
    response = await api.http.get(path, params=params, headers=api.admin)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert field in [f["field"] for f in error["fields"]]


async def test_reports_need_the_admin_token(api: Api) -> None:
    for path in ("/v1/reports/heavy-users", "/v1/reports/margin", "/v1/reports/bursts"):
        assert (await api.http.get(path)).status_code == 401
        assert (await api.http.get(path, headers=api.service)).status_code == 403


async def test_reports_render_as_tables_for_the_cli(api: Api) -> None:
    await _synthetic_march(api)
    params = {"month": "2025-03"}
    heavy = await api.http.get("/v1/reports/heavy-users", params=params, headers=api.admin)
    margin = await api.http.get("/v1/reports/margin", params=params, headers=api.admin)
    bursts = await api.http.get("/v1/reports/bursts", params=params, headers=api.admin)

    heavy_text = format_report("heavy-users", heavy.json())
    margin_text = format_report("margin", margin.json())

    assert heavy_text.splitlines()[0] == "Heavy users 2025-03 (at cap on >= 15 days)"
    whale_line = next(line for line in heavy_text.splitlines() if line.startswith("whale"))
    assert whale_line.split() == ["whale", "free", "18", "$17.39", "$100.00", "$82.60", "upsell"]
    total_line = margin_text.splitlines()[-1].split()
    assert total_line[:4] == ["TOTAL", "3", "15", "$750.00"]
    assert format_report("bursts", bursts.json()) == "Burst days 2025-03\nnone"
