"""Reading the catalog back out as it stands, in the catalog file's shape (brands by name,
their campaigns by id), so that applying it changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, select

from budget_pipeline.rules.dayparting import ALL_DAYS, WEEKDAYS, weekdays_from_mask
from budget_pipeline.rules.money import money_text
from budget_pipeline.store.catalog import parse_alerts
from budget_pipeline.store.schema import brands_table, campaigns_table, windows_table

brands_t = brands_table
campaigns_t = campaigns_table
windows_t = windows_table


def _clock_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _duration_text(minutes: int) -> str:
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def read_catalog(conn: Connection) -> dict[str, Any]:
    """The catalog as it stands, in the catalog file's shape: brands by name, their campaigns by
    id. Every brand field and a campaign's `enabled` are written out, defaults included; caps,
    windows and a pause_ahead only where set, and a window's days unless it runs every day."""
    b, c, w = brands_t.c, campaigns_t.c, windows_t.c
    windows: dict[str, list[dict[str, Any]]] = {}
    window_query = select(w.campaign_id, w.weekdays, w.start_minute, w.end_minute).order_by(w.campaign_id, w.position)
    for window_campaign, weekdays, start_minute, end_minute in conn.execute(window_query):
        window: dict[str, Any] = {}
        days = weekdays_from_mask(weekdays)
        if days != ALL_DAYS:
            window["days"] = [WEEKDAYS[day] for day in sorted(days)]
        window["start"] = _clock_text(start_minute)
        window["end"] = _clock_text(end_minute)
        windows.setdefault(window_campaign, []).append(window)
    campaigns: dict[int, list[dict[str, Any]]] = {}
    query = select(c.id, c.brand_id, c.name, c.enabled, c.daily_cap, c.monthly_cap).order_by(c.id)
    for campaign_id, brand_id, name, enabled, daily_cap, monthly_cap in conn.execute(query):
        campaign: dict[str, Any] = {"id": campaign_id, "name": name, "enabled": enabled}
        if daily_cap is not None:
            campaign["daily_budget"] = money_text(daily_cap)
        if monthly_cap is not None:
            campaign["monthly_budget"] = money_text(monthly_cap)
        if campaign_id in windows:
            campaign["dayparting"] = windows[campaign_id]
        campaigns.setdefault(brand_id, []).append(campaign)
    brands = []
    for row in conn.execute(select(brands_t).order_by(b.name)):
        brand: dict[str, Any] = {
            "name": row.name,
            "timezone": row.timezone,
            "currency": row.currency,
            "daily_budget": money_text(row.daily_budget),
            "monthly_budget": money_text(row.monthly_budget),
            "alerts": list(parse_alerts(row.alerts)),
        }
        if row.pause_ahead_minutes is not None:
            brand["pause_ahead"] = _duration_text(row.pause_ahead_minutes)
        brand["campaigns"] = campaigns.get(row.id, [])
        brands.append(brand)
    return {"brands": brands}


def export_catalog(engine: Engine) -> dict[str, Any]:
    """The catalog as it stands (`ingest.catalog.catalog_yaml` writes it as a file)."""
    with engine.connect() as conn:
        return read_catalog(conn)
