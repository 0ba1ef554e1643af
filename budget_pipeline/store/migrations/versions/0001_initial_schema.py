"""Initial schema: catalog, raw spend, quarantine, aggregates and the status log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of store.types: money is NUMERIC on PostgreSQL and integer micro-units on
# SQLite; instants are timestamptz on PostgreSQL and naive UTC text on SQLite.
MONEY = sa.Numeric(20, 6).with_variant(sa.BigInteger(), "sqlite")
INSTANT = sa.DateTime(timezone=True).with_variant(sa.DateTime(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "brands",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("daily_budget", MONEY, nullable=False),
        sa.Column("monthly_budget", MONEY, nullable=False),
        sa.Column("last_daily_reset", sa.Date(), nullable=True),
        sa.Column("last_monthly_reset", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
        sa.UniqueConstraint("name", name=op.f("uq_brands_name")),
    )
    op.create_table(
        "campaign_status_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("active_before", sa.Boolean(), nullable=False),
        sa.Column("active_after", sa.Boolean(), nullable=False),
        sa.Column("reasons_before", sa.String(length=200), nullable=False),
        sa.Column("reasons_after", sa.String(length=200), nullable=False),
        sa.Column("changed_reason", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_status_log")),
    )
    with op.batch_alter_table("campaign_status_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_status_log_campaign_id"), ["campaign_id"], unique=False)

    op.create_table(
        "daily_spend",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("spend", MONEY, nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "campaign_id", name=op.f("pk_daily_spend")),
    )
    with op.batch_alter_table("daily_spend", schema=None) as batch_op:
        batch_op.create_index("ix_daily_spend_day_brand", ["day", "brand_id"], unique=False)

    op.create_table(
        "dirty_spend_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_dirty_spend_days")),
    )
    op.create_table(
        "monthly_spend",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("spend", MONEY, nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "campaign_id", name=op.f("pk_monthly_spend")),
    )
    with op.batch_alter_table("monthly_spend", schema=None) as batch_op:
        batch_op.create_index("ix_monthly_spend_month_brand", ["month", "brand_id"], unique=False)

    op.create_table(
        "quarantined_rows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_key", sa.String(length=600), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantined_rows")),
        sa.UniqueConstraint("file_key", "line_no", name="uq_quarantined_rows_file_line"),
    )
    op.create_table(
        "raw_spend_records",
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("occurred_at", INSTANT, nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_raw_spend_records")),
    )
    with op.batch_alter_table("raw_spend_records", schema=None) as batch_op:
        batch_op.create_index("ix_raw_spend_records_campaign_id", ["campaign_id"], unique=False)
        batch_op.create_index("ix_raw_spend_records_file_id", ["file_id"], unique=False)
        batch_op.create_index("ix_raw_spend_records_local_date_campaign", ["local_date", "campaign_id"], unique=False)

    op.create_table(
        "spend_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("file_key", sa.String(length=600), nullable=False),
        sa.Column("started_at", INSTANT, nullable=False),
        sa.Column("finished_at", INSTANT, nullable=True),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("duplicate", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_files")),
    )
    with op.batch_alter_table("spend_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spend_files_file_key"), ["file_key"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("daily_cap", MONEY, nullable=True),
        sa.Column("monthly_cap", MONEY, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("pause_reasons", sa.String(length=200), nullable=False),
        sa.Column("status_changed_at", INSTANT, nullable=True),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_campaigns_brand_id_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "dayparting_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("weekdays", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_dayparting_windows_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dayparting_windows")),
    )
    with op.batch_alter_table("dayparting_windows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dayparting_windows_campaign_id"), ["campaign_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dayparting_windows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dayparting_windows_campaign_id"))

    op.drop_table("dayparting_windows")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_brand_id"))

    op.drop_table("campaigns")
    with op.batch_alter_table("spend_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spend_files_file_key"))

    op.drop_table("spend_files")
    with op.batch_alter_table("raw_spend_records", schema=None) as batch_op:
        batch_op.drop_index("ix_raw_spend_records_local_date_campaign")
        batch_op.drop_index("ix_raw_spend_records_file_id")
        batch_op.drop_index("ix_raw_spend_records_campaign_id")

    op.drop_table("raw_spend_records")
    op.drop_table("quarantined_rows")
    with op.batch_alter_table("monthly_spend", schema=None) as batch_op:
        batch_op.drop_index("ix_monthly_spend_month_brand")

    op.drop_table("monthly_spend")
    op.drop_table("dirty_spend_days")
    with op.batch_alter_table("daily_spend", schema=None) as batch_op:
        batch_op.drop_index("ix_daily_spend_day_brand")

    op.drop_table("daily_spend")
    with op.batch_alter_table("campaign_status_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_status_log_campaign_id"))

    op.drop_table("campaign_status_log")
    op.drop_table("brands")
