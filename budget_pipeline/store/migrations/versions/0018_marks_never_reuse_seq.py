"""brands_to_enforce.seq is never used twice on SQLite either (AUTOINCREMENT): a catalog change's
mark is named by its seq in the run key `enforce_on_spend_sensor` asks with, and SQLite gave a
new mark the number of one deleted before it (each enforcement deletes the marks it read), so a
later change asked with the key of an earlier one, and Dagster ran nothing. PostgreSQL's
sequence never gives a number twice: nothing to do there.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _recreate(*, autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "brands_to_enforce", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def upgrade() -> None:
    _recreate(autoincrement=True)


def downgrade() -> None:
    _recreate(autoincrement=False)
