"""Brands gain the catalog's `currency` (ISO 4217, default USD), `alerts` (the percents of a
budget at which an alert fires, sorted and comma-separated, default "80,100") and
`pause_ahead_minutes` (predictive pause, none by default). Quarantined rows gain `at`, when
they were quarantined (the database's clock at insert); rows already there take the start of
the ingestion that quarantined them, or the time of this upgrade if that is gone.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# A frozen copy of store.types.UTCDateTime, as in 0001.
INSTANT = sa.DateTime(timezone=True).with_variant(sa.DateTime(), "sqlite")
NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    with op.batch_alter_table("brands") as batch:
        batch.add_column(sa.Column("currency", sa.String(3), nullable=False, server_default="USD"))
        batch.add_column(sa.Column("alerts", sa.String(4000), nullable=False, server_default="80,100"))
        batch.add_column(sa.Column("pause_ahead_minutes", sa.Integer(), nullable=True))
    op.add_column("quarantined_rows", sa.Column("at", INSTANT, nullable=True))
    op.execute(
        "UPDATE quarantined_rows SET at = "
        "(SELECT started_at FROM spend_files WHERE spend_files.id = quarantined_rows.file_id)"
    )
    op.execute("UPDATE quarantined_rows SET at = CURRENT_TIMESTAMP WHERE at IS NULL")
    with op.batch_alter_table("quarantined_rows") as batch:
        batch.alter_column("at", existing_type=INSTANT, nullable=False, server_default=NOW)


def downgrade() -> None:
    with op.batch_alter_table("quarantined_rows") as batch:
        batch.drop_column("at")
    with op.batch_alter_table("brands") as batch:
        batch.drop_column("pause_ahead_minutes")
        batch.drop_column("alerts")
        batch.drop_column("currency")
