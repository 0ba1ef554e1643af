"""Raw spend indexes for speed: drop the ones on file_id and campaign_id (no hot query reads
them; maintaining them cost a third of the ingestion time) and make the (local_date,
campaign_id) index cover amount, so a partition rebuild reads the index alone.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("raw_spend_records") as batch_op:
        batch_op.drop_index("ix_raw_spend_records_file_id")
        batch_op.drop_index("ix_raw_spend_records_campaign_id")
        batch_op.drop_index("ix_raw_spend_records_local_date_campaign")
        batch_op.create_index("ix_raw_spend_records_day_campaign_amount", ["local_date", "campaign_id", "amount"])


def downgrade() -> None:
    with op.batch_alter_table("raw_spend_records") as batch_op:
        batch_op.drop_index("ix_raw_spend_records_day_campaign_amount")
        batch_op.create_index("ix_raw_spend_records_local_date_campaign", ["local_date", "campaign_id"])
        batch_op.create_index("ix_raw_spend_records_file_id", ["file_id"])
        batch_op.create_index("ix_raw_spend_records_campaign_id", ["campaign_id"])
