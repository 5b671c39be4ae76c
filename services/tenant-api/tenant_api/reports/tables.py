"""The reports as plain-text tables, for ``saas-copilot report heavy-users|margin|bursts``.

Each function takes the JSON body of the matching ``GET /v1/reports/...`` route, so the CLI
only fetches and prints: ``print(format_report("margin", response.json()))``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

ReportKind = Literal["heavy-users", "margin", "bursts"]


def usd_from_micros(micros: int) -> str:
    sign = "-" if micros < 0 else ""
    cents = abs(micros) // 10_000
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"


def usd_from_cents(cents: int) -> str:
    return usd_from_micros(cents * 10_000)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned text columns; numbers (starting with $, - or a digit) right-aligned."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for cell, width in zip(cells, widths, strict=True):
            numeric = cell[:1] in "$-0123456789" and cell != ""
            out.append(cell.rjust(width) if numeric else cell.ljust(width))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def heavy_users_table(body: Mapping[str, Any]) -> str:
    rows = [
        [
            h["external_id"],
            h["plan"],
            str(h["days_at_cap"]),
            usd_from_micros(h["spent_usd_micros"]),
            usd_from_cents(h["revenue_usd_cents"]),
            usd_from_micros(h["margin_usd_micros"]),
            h["recommendation"],
        ]
        for h in body["data"]
    ]
    title = f"Heavy users {body['month']} (at cap on >= {body['min_days_at_cap']} days)"
    if not rows:
        return f"{title}\nnone"
    headers = ["customer", "plan", "days at cap", "AI cost", "revenue", "margin", "advice"]
    return f"{title}\n{table(headers, rows)}"


def margin_table(body: Mapping[str, Any]) -> str:
    def row(name: str, f: Mapping[str, Any]) -> list[str]:
        return [
            name,
            str(f["customers"]),
            str(f["seats"]),
            usd_from_cents(f["revenue_usd_cents"]),
            usd_from_micros(f["ai_cost_usd_micros"]),
            usd_from_micros(f["margin_usd_micros"]),
            usd_from_micros(f["worst_case_ai_cost_usd_micros"]),
            usd_from_micros(f["worst_case_margin_usd_micros"]),
        ]

    rows = [row(p["plan"], p) for p in body["plans"]] + [row("TOTAL", body["total"])]
    headers = [
        "plan", "customers", "seats", "revenue", "AI cost", "margin",
        "worst-case AI cost", "worst-case margin",
    ]  # fmt: skip
    return f"Margin {body['month']} ({body['days_in_month']} days)\n{table(headers, rows)}"


def bursts_table(body: Mapping[str, Any]) -> str:
    rows = [
        [
            b["external_id"],
            b["plan"],
            f"{b['burst_days_used']}/{b['burst_days_per_month']}",
            ", ".join(b["days"]),
        ]
        for b in body["data"]
    ]
    title = f"Burst days {body['month']}"
    if not rows:
        return f"{title}\nnone"
    return f"{title}\n{table(['customer', 'plan', 'used', 'days'], rows)}"


def format_report(kind: ReportKind, body: Mapping[str, Any]) -> str:
    formatters = {
        "heavy-users": heavy_users_table,
        "margin": margin_table,
        "bursts": bursts_table,
    }
    return formatters[kind](body)
