"""The (day, brand_id) and (month, brand_id) indexes of the spend aggregates carry campaign_id
and spend on PostgreSQL (INCLUDE), so enforcement reads each brand's spend, and each capped
campaign's own, from the index alone instead of visiting a table of millions of rows.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_INDEXES = (
    ("daily_spend", "ix_daily_spend_day_brand", "day"),
    ("monthly_spend", "ix_monthly_spend_month_brand", "month"),
)


def upgrade() -> None:
    for table, name, key in _INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [key, "brand_id"], postgresql_include=["campaign_id", "spend"])


def downgrade() -> None:
    for table, name, key in _INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [key, "brand_id"])
