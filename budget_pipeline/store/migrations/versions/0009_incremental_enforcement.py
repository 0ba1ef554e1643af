"""Incremental enforcement: `brands_to_enforce` (brands whose spend or catalog changed since
enforcement last saw them) and `enforced_zones` (each zone's local date at the last
enforcement). Both start empty, so the first enforcement after the upgrade is a full pass.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "brands_to_enforce",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_brands_to_enforce")),
    )
    op.create_table(
        "enforced_zones",
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("timezone", name=op.f("pk_enforced_zones")),
    )


def downgrade() -> None:
    op.drop_table("enforced_zones")
    op.drop_table("brands_to_enforce")
