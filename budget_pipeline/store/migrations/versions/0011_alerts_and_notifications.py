"""Alerts and the notification outbox: `alerts` (once per brand, period, period start and
percent), `notifications` (every status change and alert, written in its transaction, and what
became of its delivery), and `brands_to_enforce.first_day` (how far back a brand's new spend
reaches, so late spend has its alerts).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Frozen copies of store.types.Money and UTCDateTime, as in 0001.
MONEY = sa.Numeric(20, 6).with_variant(sa.BigInteger(), "sqlite")
INSTANT = sa.DateTime(timezone=True).with_variant(sa.DateTime(), "sqlite")


def upgrade() -> None:
    op.add_column("brands_to_enforce", sa.Column("first_day", sa.Date(), nullable=True))
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("spend", MONEY, nullable=False),
        sa.Column("budget", MONEY, nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint(
            "period_start", "period", "brand_id", "percent", name=op.f("uq_alerts_period_brand_percent")
        ),
    )
    op.create_table(
        "notifications",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("occurred_at", INSTANT, nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("brand", sa.String(200), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("first_attempt_at", INSTANT, nullable=True),
        sa.Column("next_attempt_at", INSTANT, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_notifications")),
        sa.UniqueConstraint("id", name=op.f("uq_notifications_id")),
    )
    op.create_index("ix_notifications_status_seq", "notifications", ["status", "seq"])


def downgrade() -> None:
    op.drop_index("ix_notifications_status_seq", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("alerts")
    with op.batch_alter_table("brands_to_enforce") as batch:
        batch.drop_column("first_day")
