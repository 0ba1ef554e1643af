"""Each campaign carries its dayparting windows as one text, `campaigns.window_key`
("mask:start-end" per window in position order, joined by ";"; "" for none), so the dayparting
rule decides once per time zone and set of windows. Filled from `dayparting_windows`.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("window_key", sa.Text(), nullable=False, server_default=""))
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "UPDATE campaigns SET window_key = k.key FROM ("
            "  SELECT campaign_id, string_agg(weekdays || ':' || start_minute || '-' || end_minute, ';'"
            "    ORDER BY position) AS key"
            "  FROM dayparting_windows GROUP BY campaign_id"
            ") AS k WHERE campaigns.id = k.campaign_id"
        )
        return
    keys: dict[str, list[str]] = {}
    rows = conn.exec_driver_sql(
        "SELECT campaign_id, weekdays, start_minute, end_minute FROM dayparting_windows ORDER BY campaign_id, position"
    )
    for campaign_id, mask, start, end in rows:
        keys.setdefault(campaign_id, []).append(f"{mask}:{start}-{end}")
    if keys:
        conn.execute(
            sa.text("UPDATE campaigns SET window_key = :key WHERE id = :id"),
            [{"id": cid, "key": ";".join(parts)} for cid, parts in keys.items()],
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("window_key")
