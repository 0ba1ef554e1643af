"""brands_pause_ahead: a partial index of the brands with a pause_ahead, which every incremental
enforcement looks at (their recent rate moves with the clock): found by index, not by reading
every brand (~5 ms at 100k brands).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

WITH_PAUSE_AHEAD = sa.text("pause_ahead_minutes IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_brands_pause_ahead",
        "brands",
        ["id"],
        postgresql_where=WITH_PAUSE_AHEAD,
        sqlite_where=WITH_PAUSE_AHEAD,
    )


def downgrade() -> None:
    op.drop_index("ix_brands_pause_ahead", table_name="brands")
