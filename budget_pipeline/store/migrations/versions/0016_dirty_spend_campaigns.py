"""A dirty day may name the campaigns whose records changed: `dirty_spend_campaigns` holds them,
and `dirty_spend_days.campaigns_only` says the day's other campaigns are as built, so a refresh
sums the named campaigns' records only. Marks already there stay whole-day marks.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dirty_spend_days") as batch:
        batch.add_column(sa.Column("campaigns_only", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "dirty_spend_campaigns",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("day", "campaign_id", name=op.f("pk_dirty_spend_campaigns")),
    )


def downgrade() -> None:
    op.drop_table("dirty_spend_campaigns")
    with op.batch_alter_table("dirty_spend_days") as batch:
        batch.drop_column("campaigns_only")
