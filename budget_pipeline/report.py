"""What `budget-pipeline status` reports: brands, budgets, spend and each campaign's state."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from budget_pipeline.rules.calendar import local_date
from budget_pipeline.store.schema import Brand, Campaign
from budget_pipeline.store.spend import brand_spend_as_of

CENTS = Decimal("0.01")


def money(amount: Decimal) -> str:
    """A decimal string with at least two decimals and no trailing noise: 82.08, 0.123456."""
    normalized = amount.normalize()
    return str(normalized.quantize(CENTS) if -normalized.as_tuple().exponent <= 2 else normalized)  # type: ignore[operator]


def status_report(engine: Engine, as_of: dt.datetime) -> dict[str, Any]:
    with Session(engine) as session:
        spend = brand_spend_as_of(session.connection(), as_of)
        brands = session.scalars(select(Brand).order_by(Brand.name)).all()
        campaigns = session.scalars(select(Campaign).order_by(Campaign.id)).all()
    by_brand: dict[int, list[Campaign]] = {}
    for campaign in campaigns:
        by_brand.setdefault(campaign.brand_id, []).append(campaign)
    return {
        "as_of": as_of.astimezone(dt.UTC).isoformat(),
        "brands": [
            {
                "name": brand.name,
                "timezone": brand.timezone,
                "local_date": local_date(as_of, brand.timezone).isoformat(),
                "currency": brand.currency,
                "daily_budget": money(brand.daily_budget),
                "daily_spend": money(spend[brand.id].daily),
                "monthly_budget": money(brand.monthly_budget),
                "monthly_spend": money(spend[brand.id].monthly),
                "campaigns": [
                    {
                        "id": c.id,
                        "name": c.name,
                        "enabled": c.enabled,
                        "active": c.active,
                        "pause_reasons": [r for r in c.pause_reasons.split(",") if r],
                    }
                    for c in by_brand.get(brand.id, [])
                ],
            }
            for brand in brands
        ],
    }


def money_text(amount: str, currency: str) -> str:
    """An amount for people: two decimals (half up), thousands grouped, then the currency."""
    return f"{Decimal(amount).quantize(CENTS, ROUND_HALF_UP):,.2f} {currency}"


def status_text(report: dict[str, Any]) -> str:
    lines = [f"as of {report['as_of']}"]
    for brand in report["brands"]:
        currency = brand["currency"]
        lines.append(
            f"{brand['name']} ({brand['timezone']}, {brand['local_date']}): "
            f"day {money_text(brand['daily_spend'], currency)} / {money_text(brand['daily_budget'], currency)}, "
            f"month {money_text(brand['monthly_spend'], currency)} / {money_text(brand['monthly_budget'], currency)}"
        )
        for c in brand["campaigns"]:
            state = "active" if c["active"] else "paused: " + ", ".join(c["pause_reasons"])
            lines.append(f"  {c['id']:<24} {state}")
    return "\n".join(lines)
