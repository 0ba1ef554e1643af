"""Budget alerts in the store: each (brand, period, period start, percent) recorded once, with
its notification, in the enforcement's transaction; and the alerts as people read them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, insert, select

from budget_pipeline.rules.alerts import Alert
from budget_pipeline.store.notifications import write_alert_notifications
from budget_pipeline.store.reads import IN_LIST_LIMIT, BrandRow
from budget_pipeline.store.schema import alerts_table, brands_table

a, b = alerts_table, brands_table


def _recorded(conn: Connection, alerts: Sequence[Alert]) -> set[tuple[int, str, dt.date, int]]:
    """The keys among `alerts`' that are recorded already (read by period start, the index's lead)."""
    starts = sorted({alert.period_start for alert in alerts})
    brand_ids = {alert.brand_id for alert in alerts}
    query = select(a.c.brand_id, a.c.period, a.c.period_start, a.c.percent).where(a.c.period_start.in_(starts))
    if len(brand_ids) <= IN_LIST_LIMIT:  # an incremental enforcement's few brands: not every brand's alerts
        query = query.where(a.c.brand_id.in_(sorted(brand_ids)))
    return {
        (brand_id, period, start, percent)
        for brand_id, period, start, percent in conn.execute(query).tuples()
        if brand_id in brand_ids
    }


def record_alerts(
    conn: Connection, alerts: Sequence[Alert], brand_rows: dict[int, BrandRow], as_of: dt.datetime, run_id: str
) -> list[Alert]:
    """Record those of `alerts` not recorded before, each with its notification, in the caller's
    transaction (under the status lock, so no other writer records alerts meanwhile); the new ones."""
    if not alerts:
        return []
    recorded = _recorded(conn, alerts)
    new = sorted(
        {alert.key: alert for alert in alerts if alert.key not in recorded}.values(),
        key=lambda alert: (alert.brand_id, alert.period_start, alert.period, alert.percent),
    )
    if not new:
        return []
    conn.execute(
        insert(a),
        [
            {
                "brand_id": alert.brand_id,
                "period": alert.period,
                "period_start": alert.period_start,
                "percent": alert.percent,
                "spend": alert.spend,
                "budget": alert.budget,
                "at": as_of,
                "run_id": run_id,
            }
            for alert in new
        ],
    )
    write_alert_notifications(conn, new, brand_rows, as_of, run_id)
    return new


@dataclass(frozen=True)
class AlertEntry:
    brand: str
    period: str
    period_start: dt.date
    percent: int
    spend: Decimal
    budget: Decimal
    currency: str
    at: dt.datetime
    run_id: str


def alerts(
    conn: Connection, brand_name: str | None = None, limit: int | None = None, run_id: str | None = None
) -> list[AlertEntry]:
    """The alerts recorded, newest first (of one brand with `brand_name`, by one run with `run_id`)."""
    query = (
        select(
            b.c.name, a.c.period, a.c.period_start, a.c.percent, a.c.spend, a.c.budget, b.c.currency, a.c.at, a.c.run_id
        )
        .select_from(a.join(b, b.c.id == a.c.brand_id))
        .order_by(a.c.id.desc())
    )
    if brand_name is not None:
        query = query.where(b.c.name == brand_name)
    if run_id is not None:
        query = query.where(a.c.run_id == run_id)
    if limit is not None:
        query = query.limit(limit)
    return [AlertEntry(*row) for row in conn.execute(query).all()]
