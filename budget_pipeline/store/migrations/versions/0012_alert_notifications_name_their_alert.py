"""An alert's notification names its alert (`notifications.alert_id`) and holds no payload of
its own (`data` and `text` may be empty): its payload is rendered from the alert when read, so
an enforcement that records many alerts writes their notifications with one INSERT … SELECT.
Notifications written before keep their payloads.

Revision ID: 0012
Revises: 0011
"""

import datetime as dt
import json
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("alert_id", sa.Integer(), nullable=True))
        batch.alter_column("data", existing_type=sa.Text(), nullable=True)
        batch.alter_column("text", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    # Write the payload each such notification was rendered with into the row (a frozen copy
    # of store.notifications' rendering as of this revision), then drop the column.
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT n.seq, b.name, a.period, a.period_start, a.percent, a.spend, a.budget, b.currency, a.at, a.run_id"
            " FROM notifications n JOIN alerts a ON a.id = n.alert_id JOIN brands b ON b.id = a.brand_id"
            " WHERE n.data IS NULL"
        )
    ).all()
    payloads = [_payload(conn.dialect.name, *row) for row in rows]
    if payloads:
        conn.execute(sa.text("UPDATE notifications SET data = :data, text = :text WHERE seq = :seq"), payloads)
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column("text", existing_type=sa.Text(), nullable=False)
        batch.alter_column("data", existing_type=sa.Text(), nullable=False)
        batch.drop_column("alert_id")


def _money(value: object, dialect: str) -> str:
    amount = Decimal(int(str(value))) / 10**6 if dialect == "sqlite" else Decimal(str(value))
    normalized = amount.normalize()
    exponent = normalized.as_tuple().exponent
    if isinstance(exponent, int) and -exponent <= 2:
        return str(normalized.quantize(Decimal("0.01")))
    return format(normalized, "f")


def _payload(dialect: str, seq, brand, period, start, percent, spend, budget, currency, at, run_id):  # type: ignore[no-untyped-def]
    start = dt.date.fromisoformat(str(start))
    at = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(str(at))
    at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)
    spend, budget = _money(spend, dialect), _money(budget, dialect)
    data = {
        "period": period,
        "period_start": start.isoformat(),
        "percent": percent,
        "spend": spend,
        "budget": budget,
        "currency": currency,
        "as_of": at.isoformat(),
        "run_id": run_id,
    }
    what = "day" if period == "daily" else "month"
    text = (
        f"{brand} reached {percent}% of its {period} budget for the {what} of {start.isoformat()}: "
        f"{spend} of {budget} {currency}"
    )
    return {"seq": seq, "data": json.dumps(data), "text": text}
