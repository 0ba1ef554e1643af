"""A notification names what it tells of, an alert (`notifications.alert_id`) or a status-log
row (`notifications.log_id`), and holds no `data` of its own (nor, for an alert, `text`): they
are rendered from that row when read, so that an enforcement writes its notifications with one
INSERT … SELECT of a few narrow columns. An alert keeps the brand's currency of its time
(`alerts.currency`), so that its payload reads the same whenever it is sent. Notifications
written before keep their payloads.

Revision ID: 0012
Revises: 0011
"""

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("currency", sa.String(3), nullable=False, server_default="USD"))
    op.execute("UPDATE alerts SET currency = (SELECT b.currency FROM brands b WHERE b.id = alerts.brand_id)")
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("alert_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("log_id", sa.Integer(), nullable=True))
        batch.alter_column("data", existing_type=sa.Text(), nullable=True)
        batch.alter_column("text", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    # Write into each newer row the payload it was rendered with (a frozen copy of
    # store.notifications' rendering as of this revision), then drop the columns.
    conn = op.get_bind()
    alerts = conn.execute(
        sa.text(
            "SELECT n.seq, n.brand, a.period, a.period_start, a.percent, a.spend, a.budget, a.currency, a.at, a.run_id"
            " FROM notifications n JOIN alerts a ON a.id = n.alert_id WHERE n.data IS NULL"
        )
    ).all()
    changes = conn.execute(
        sa.text(
            "SELECT n.seq, n.text, l.active_before, l.active_after, l.reasons_before, l.reasons_after,"
            " l.changed_reason, l.predicted, l.at, l.run_id"
            " FROM notifications n JOIN campaign_status_log l ON l.id = n.log_id WHERE n.data IS NULL"
        )
    ).all()
    dialect = conn.dialect.name
    payloads = [_alert(dialect, *row) for row in alerts] + [_change(*row) for row in changes]
    if payloads:
        conn.execute(sa.text("UPDATE notifications SET data = :data, text = :text WHERE seq = :seq"), payloads)
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column("text", existing_type=sa.Text(), nullable=False)
        batch.alter_column("data", existing_type=sa.Text(), nullable=False)
        batch.drop_column("log_id")
        batch.drop_column("alert_id")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("currency")


def _instant(value: Any) -> str:
    at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return (at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)).isoformat()


def _money(value: Any, dialect: str) -> str:
    amount = Decimal(int(value)) / 10**6 if dialect == "sqlite" else Decimal(str(value))
    normalized = amount.normalize()
    exponent = normalized.as_tuple().exponent
    if isinstance(exponent, int) and -exponent <= 2:
        return str(normalized.quantize(Decimal("0.01")))
    return format(normalized, "f")


def _alert(dialect: str, seq, brand, period, start, percent, spend, budget, currency, at, run_id):  # type: ignore[no-untyped-def]
    start = dt.date.fromisoformat(str(start))
    spend, budget = _money(spend, dialect), _money(budget, dialect)
    data = {
        "period": period,
        "period_start": start.isoformat(),
        "percent": percent,
        "spend": spend,
        "budget": budget,
        "currency": currency,
        "as_of": _instant(at),
        "run_id": run_id,
    }
    what = "day" if period == "daily" else "month"
    text = (
        f"{brand} reached {percent}% of its {period} budget for the {what} of {start.isoformat()}: "
        f"{spend} of {budget} {currency}"
    )
    return {"seq": seq, "data": json.dumps(data), "text": text}


def _change(seq, text, active_before, active_after, before, after, changed, predicted, at, run_id):  # type: ignore[no-untyped-def]
    reasons_before = [r for r in before.split(",") if r]
    reasons_after = [r for r in after.split(",") if r]
    data = {
        "active_before": bool(active_before),
        "active_after": bool(active_after),
        "reasons_before": reasons_before,
        "reasons_after": reasons_after,
        "changed_reason": changed,
        "predicted": bool(predicted),
        "as_of": _instant(at),
        "run_id": run_id,
    }
    return {"seq": seq, "data": json.dumps(data), "text": text}
