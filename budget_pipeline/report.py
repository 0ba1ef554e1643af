"""What `budget-pipeline status` reports: brands, budgets, spend and each campaign's state."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from budget_pipeline.store.schema import Brand, Campaign
from budget_pipeline.store.spend import dirty_days
from budget_pipeline.store.status import brand_spend

CENTS = Decimal("0.01")


def money(amount: Decimal) -> str:
    """A decimal string with at least two decimals and no trailing noise: 82.08, 0.123456."""
    normalized = amount.normalize()
    return str(normalized.quantize(CENTS) if -normalized.as_tuple().exponent <= 2 else normalized)  # type: ignore[operator]


def status_report(engine: Engine, as_of: dt.datetime) -> dict[str, Any]:
    with Session(engine) as session:
        spend = brand_spend(session.connection(), as_of)
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
                "local_date": spend[brand.id].local_date.isoformat(),
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


def unrefreshed_note(engine: Engine) -> str | None:
    """A line for `status` when some days' new records are not yet in the spend totals."""
    with engine.connect() as conn:
        days = dirty_days(conn)
    if not days:
        return None
    return (
        f"note: spend recorded for {len(days)} day(s) ({days[0]}{' ..' if len(days) > 1 else ''}) is not in "
        "these totals yet; the next refresh (a tick, or the spend sensor's run) adds it"
    )


def status_text(report: dict[str, Any]) -> str:
    lines = [f"as of {report['as_of']}"]
    for brand in report["brands"]:
        lines.append(
            f"{brand['name']} ({brand['timezone']}, {brand['local_date']}): "
            f"day {brand['daily_spend']} / {brand['daily_budget']}, "
            f"month {brand['monthly_spend']} / {brand['monthly_budget']}"
        )
        for c in brand["campaigns"]:
            state = "active" if c["active"] else "paused: " + ", ".join(c["pause_reasons"])
            lines.append(f"  {c['id']:<24} {state}")
    return "\n".join(lines)
