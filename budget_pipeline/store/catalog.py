"""Making the database match a catalog file: brands, campaigns and their dayparting windows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from budget_pipeline.ingest.catalog import BrandSpec, Catalog
from budget_pipeline.rules.dayparting import weekday_mask
from budget_pipeline.store.db import writing
from budget_pipeline.store.schema import brands_table, campaigns_table, windows_table
from budget_pipeline.store.spend import mark_campaign_days_dirty, relocalize_campaigns

brands_t = brands_table
campaigns_t = campaigns_table
windows_t = windows_table


def alerts_text(percents: tuple[int, ...]) -> str:
    """The stored form of a brand's alert percents: sorted, comma-separated ("" for none)."""
    return ",".join(str(percent) for percent in sorted(percents))


def parse_alerts(text: str) -> tuple[int, ...]:
    return tuple(int(percent) for percent in text.split(",") if percent)


@dataclass(frozen=True)
class ApplySummary:
    brands_created: int
    brands_updated: int
    campaigns_created: int
    campaigns_updated: int
    records_relocalized: int

    def __str__(self) -> str:
        return (
            f"brands: {self.brands_created} created, {self.brands_updated} updated; "
            f"campaigns: {self.campaigns_created} created, {self.campaigns_updated} updated"
        )


def apply_catalog(engine: Engine, catalog: Catalog) -> ApplySummary:
    """Create or update every brand and campaign in `catalog` in one transaction; campaigns
    missing from the file are left alone. Spend of a campaign whose time zone changed (its
    brand's zone changed, or it moved brand) is re-dated to its new local days."""
    with writing(engine) as conn:
        return _apply(conn, catalog)


BRAND_FIELDS = ("timezone", "currency", "daily_budget", "monthly_budget", "alerts", "pause_ahead_minutes")


def _brand_fields(brand: BrandSpec) -> dict[str, object]:
    return {
        "timezone": brand.timezone,
        "currency": brand.currency,
        "daily_budget": brand.daily_budget,
        "monthly_budget": brand.monthly_budget,
        "alerts": alerts_text(brand.alerts),
        "pause_ahead_minutes": brand.pause_ahead,
    }


def _apply(conn: Connection, catalog: Catalog) -> ApplySummary:
    existing_brands = {row.name: row for row in conn.execute(select(brands_t))}
    before = {
        row.id: (row.brand_id, row.timezone)
        for row in conn.execute(
            select(campaigns_t.c.id, campaigns_t.c.brand_id, brands_t.c.timezone).join(
                brands_t, campaigns_t.c.brand_id == brands_t.c.id
            )
        )
    }

    new_brands = [b for b in catalog.brands if b.name not in existing_brands]
    if new_brands:
        conn.execute(
            insert(brands_t),
            [{"name": b.name, **_brand_fields(b)} for b in new_brands],
        )
    changed_brands = [
        b
        for b in catalog.brands
        if b.name in existing_brands
        and any(getattr(existing_brands[b.name], key) != value for key, value in _brand_fields(b).items())
    ]
    if changed_brands:
        conn.execute(
            update(brands_t)
            .where(brands_t.c.name == bindparam("brand_name"))
            .values({field: bindparam(f"new_{field}") for field in BRAND_FIELDS}),
            [
                {"brand_name": b.name, **{f"new_{field}": value for field, value in _brand_fields(b).items()}}
                for b in changed_brands
            ],
        )
    brand_ids = {row.name: row.id for row in conn.execute(select(brands_t.c.id, brands_t.c.name))}

    rows = [
        {
            "id": c.id,
            "brand_id": brand_ids[b.name],
            "name": c.name,
            "enabled": c.enabled,
            "daily_cap": c.daily_budget,
            "monthly_cap": c.monthly_budget,
        }
        for b in catalog.brands
        for c in b.campaigns
    ]
    new_rows = [r for r in rows if r["id"] not in before]
    old_rows = [r for r in rows if r["id"] in before]
    if new_rows:
        conn.execute(insert(campaigns_t), [{**r, "active": True, "pause_reasons": ""} for r in new_rows])
    # All campaigns in one read: an IN list of every id in a large file would pass SQLite's
    # limit on bound variables.
    current = {row.id: row for row in conn.execute(select(campaigns_t))} if old_rows else {}
    updated = [r for r in old_rows if any(getattr(current[r["id"]], key) != value for key, value in r.items())]
    if updated:
        fields = ("brand_id", "name", "enabled", "daily_cap", "monthly_cap")
        conn.execute(
            update(campaigns_t)
            .where(campaigns_t.c.id == bindparam("campaign_id"))
            .values({field: bindparam(f"new_{field}") for field in fields}),
            [{"campaign_id": r["id"], **{f"new_{field}": r[field] for field in fields}} for r in updated],
        )

    ids = [r["id"] for r in rows]
    for chunk in _chunks(ids, 500):
        conn.execute(delete(windows_t).where(windows_t.c.campaign_id.in_(chunk)))
    window_rows = [
        {
            "campaign_id": c.id,
            "position": position,
            "weekdays": weekday_mask(window.weekdays),
            "start_minute": window.start,
            "end_minute": window.end,
        }
        for b in catalog.brands
        for c in b.campaigns
        for position, window in enumerate(spec.window() for spec in c.dayparting)
    ]
    if window_rows:
        conn.execute(insert(windows_t), window_rows)

    zone_of = {c.id: b.timezone for b in catalog.brands for c in b.campaigns}
    rezoned = [cid for cid, (_, zone) in before.items() if cid in zone_of and zone_of[cid] != zone]
    relocalized = relocalize_campaigns(conn, rezoned) if rezoned else 0
    # The aggregates carry each campaign's brand: a campaign that moved brand dirties its days.
    rebranded = [r["id"] for r in old_rows if r["brand_id"] != before[r["id"]][0]]
    if rebranded:
        mark_campaign_days_dirty(conn, rebranded)
    return ApplySummary(len(new_brands), len(changed_brands), len(new_rows), len(updated), relocalized)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
