"""The status log says whether a budget pause was predicted (`pause_ahead`) rather than reached:
`campaign_status_log.predicted`, false for every row already there.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_status_log") as batch:
        batch.add_column(sa.Column("predicted", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("campaign_status_log") as batch:
        batch.drop_column("predicted")
