"""months_checked: the months whose monthly_spend is known to equal its days summed (summed from
them, or checked against them whole), so that a refresh checks only the brands its carry touched.
Empty after the upgrade: each month is checked whole once, as an older version may have built
its days without it.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "months_checked",
        sa.Column("month", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_months_checked")),
    )


def downgrade() -> None:
    op.drop_table("months_checked")
