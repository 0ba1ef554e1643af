"""Raw spend: index local_date alone. The covering (local_date, campaign_id, amount) index of
0002 made every ingested record a random insert into a wide B-tree, more than half of the
ingestion time; a partition rebuild reads its days through the narrow index just as well.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("raw_spend_records") as batch_op:
        batch_op.drop_index("ix_raw_spend_records_day_campaign_amount")
        batch_op.create_index("ix_raw_spend_records_local_date", ["local_date"])


def downgrade() -> None:
    with op.batch_alter_table("raw_spend_records") as batch_op:
        batch_op.drop_index("ix_raw_spend_records_local_date")
        batch_op.create_index("ix_raw_spend_records_day_campaign_amount", ["local_date", "campaign_id", "amount"])
