"""A notification is written with its id, times, campaign and source row only: its type, brand
and human line are rendered when read (from its alert, its status-log row and the names of
now), and a catalog apply that renames or moves a campaign first writes the names of then into
that campaign's unsent notifications, so what they say does not change. Ids are unique by how
they are made (a status-log or alert row's own id in each), so the unique index of the ids,
most of an outbox row's cost, goes. Notifications written before keep what they hold.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint("uq_notifications_id", type_="unique")
        batch.alter_column("type", existing_type=sa.String(32), nullable=True)
        batch.alter_column("brand", existing_type=sa.String(200), nullable=True)


def downgrade() -> None:
    # Write into each newer row the type, brand and line it was rendered with (a frozen copy of
    # store.notifications' rendering as of this revision), then require them and unique ids.
    conn = op.get_bind()
    conn.execute(
        sa.text(
            "UPDATE notifications SET brand = (SELECT b.name FROM alerts a JOIN brands b ON b.id = a.brand_id"
            " WHERE a.id = notifications.alert_id) WHERE brand IS NULL AND alert_id IS NOT NULL"
        )
    )
    changes = conn.execute(
        sa.text(
            "SELECT n.seq, n.brand, n.text, b.name, c.name, n.campaign_id, l.reasons_before, l.reasons_after"
            " FROM notifications n JOIN campaign_status_log l ON l.id = n.log_id"
            " JOIN campaigns c ON c.id = n.campaign_id JOIN brands b ON b.id = c.brand_id"
            " WHERE n.type IS NULL OR n.brand IS NULL OR n.text IS NULL"
        )
    ).all()
    if changes:
        conn.execute(
            sa.text("UPDATE notifications SET type = :type, brand = :brand, text = :text WHERE seq = :seq"),
            [_change(*row) for row in changes],
        )
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column("brand", existing_type=sa.String(200), nullable=False)
        batch.alter_column("type", existing_type=sa.String(32), nullable=False)
        batch.create_unique_constraint("uq_notifications_id", ["id"])


_ORDER = ("manual", "daily_budget", "monthly_budget", "campaign_daily_budget", "campaign_monthly_budget", "dayparting")


def _change(seq, kept_brand, kept_text, brand, campaign, campaign_id, before, after):  # type: ignore[no-untyped-def]
    brand = kept_brand or brand
    reasons = ", ".join(r for r in _ORDER if r in after.split(","))
    if not before and after:
        kind, summary = "campaign.paused", f"paused ({reasons})"
    elif before and not after:
        kind, summary = "campaign.resumed", "resumed"
    else:
        kind, summary = "campaign.reasons_changed", f"still paused, now for {reasons}"
    text = kept_text or f"{brand}: campaign {campaign} ({campaign_id}) {summary}"
    return {"seq": seq, "type": kind, "brand": brand, "text": text}
