"""An index of daily_brand_spend by brand and day (with the spend on PostgreSQL): a few brands'
days are read by brand, not by scanning every brand's rows of those days.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_daily_brand_spend_brand_day", "daily_brand_spend", ["brand_id", "day"], postgresql_include=["spend"]
    )


def downgrade() -> None:
    op.drop_index("ix_daily_brand_spend_brand_day", table_name="daily_brand_spend")
